"""The product's URLs plus the bench-only endpoints (ROOT_URLCONF of bench.settings only)."""

from django.urls import include, path

from bench.views import BarePatientChartList, PatientChartNoReadLogViewSet

urlpatterns = [
    path("bench/bare/patient-charts/", BarePatientChartList.as_view(), name="bench-bare-patient-charts"),
    path(
        "bench/no-read-log/patient-charts/",
        PatientChartNoReadLogViewSet.as_view({"get": "list"}),
        name="bench-no-read-log-patient-charts",
    ),
    path("", include("mso_platform.urls")),
]
