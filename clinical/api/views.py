"""API endpoints for clinical records: clinical keys only, every patient record returned is audit-logged.

Each area's viewsets live in clinical/api/<area>.py; re-exported here for importers (bench/views.py).
"""

from __future__ import annotations

from clinical.api.charts import (
    AdverseEventViewSet,
    ChartReviewViewSet,
    GoodFaithExamViewSet,
    PatientChartViewSet,
    PhotoAuthorizationViewSet,
    SignedConsentViewSet,
    TreatmentPhotoViewSet,
    TreatmentProductViewSet,
    TreatmentViewSet,
)
from clinical.api.protocols import ProcedureScopeRuleViewSet, ProtocolSuperviseeViewSet, ProtocolViewSet

__all__ = [
    "AdverseEventViewSet",
    "ChartReviewViewSet",
    "GoodFaithExamViewSet",
    "PatientChartViewSet",
    "PhotoAuthorizationViewSet",
    "ProcedureScopeRuleViewSet",
    "ProtocolSuperviseeViewSet",
    "ProtocolViewSet",
    "SignedConsentViewSet",
    "TreatmentPhotoViewSet",
    "TreatmentProductViewSet",
    "TreatmentViewSet",
]
