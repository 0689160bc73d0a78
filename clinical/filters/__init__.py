"""Query filters for clinical records (django-filter); applied after the permission layer."""

from __future__ import annotations

from clinical.filters.charts import (
    AdverseEventFilter,
    ChartReviewFilter,
    GoodFaithExamFilter,
    PatientChartFilter,
    PhotoAuthorizationFilter,
    SignedConsentFilter,
    TreatmentFilter,
    TreatmentPhotoFilter,
    TreatmentProductFilter,
)
from clinical.filters.protocols import ProcedureScopeRuleFilter, ProtocolFilter, ProtocolSuperviseeFilter

__all__ = [
    "AdverseEventFilter",
    "ChartReviewFilter",
    "GoodFaithExamFilter",
    "PatientChartFilter",
    "PhotoAuthorizationFilter",
    "ProcedureScopeRuleFilter",
    "ProtocolFilter",
    "ProtocolSuperviseeFilter",
    "SignedConsentFilter",
    "TreatmentFilter",
    "TreatmentPhotoFilter",
    "TreatmentProductFilter",
]
