"""PC clinical pages, mounted under /t/<slug>/ by tenants.urls (clinical capacities only)."""

from django.urls import path

from clinical import views

urlpatterns = [
    path("charts/", views.chart_list, name="chart-list"),
    path("charts/<str:pk>/", views.chart_detail, name="chart-detail"),
]
