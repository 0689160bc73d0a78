"""PC clinical pages, mounted under /t/<slug>/ by tenants.urls (clinical capacities only)."""

from clinical.views import charts, decisions, protocols

urlpatterns = [
    *charts.urlpatterns,
    *protocols.urlpatterns,
    *decisions.urlpatterns,
]
