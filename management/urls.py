"""MSO business pages, mounted under /t/<slug>/ by tenants.urls. Ids are strings so a malformed id
reaches the permission layer and gets its 404, not a resolver quirk."""

from django.urls import path

from management.views import agreements, dashboard, frontdesk, marketing, parties, workforce

urlpatterns = [
    *parties.urlpatterns,
    *agreements.urlpatterns,
    *marketing.urlpatterns,
    *workforce.urlpatterns,
    *frontdesk.urlpatterns,
    path("locations/<str:pk>/dashboard/", dashboard.location_dashboard, name="location-dashboard"),
]
