"""Navigation sections of the clinical side (composed by tenants.views via settings.TENANT_SECTIONS)."""

from tenants.views import Section

SECTIONS = [
    Section(
        "Patient charts",
        "chart-list",
        "clinical.PatientChart",
        "clinical.selectors.patient_chart_list",
        "Clinical",
    ),
]
