"""MSO business pages, mounted under /t/<slug>/ by tenants.urls. Ids are strings so a malformed id
reaches the permission layer and gets its 404, not a resolver quirk."""

from django.urls import path

from management import views

urlpatterns = [
    path("locations/", views.location_list, name="location-list"),
    path("locations/<str:pk>/", views.location_detail, name="location-detail"),
    path("pcs/", views.pc_list, name="pc-list"),
    path("pcs/<str:pk>/", views.pc_detail, name="pc-detail"),
]
