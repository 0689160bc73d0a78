"""Representations of clinical records (kept for importers; each area's live in clinical/api/<area>.py).

The tenant is never a field: it comes from the API key.
"""

from __future__ import annotations

from clinical.api.charts import (
    ALLERGIES_MAX_LENGTH,
    AdverseEventSerializer,
    ChartReviewSerializer,
    GoodFaithExamSerializer,
    PatientChartSerializer,
    PhotoAuthorizationSerializer,
    SignedConsentSerializer,
    TreatmentPhotoSerializer,
    TreatmentProductSerializer,
    TreatmentSerializer,
)
from clinical.api.protocols import (
    ProcedureScopeRuleSerializer,
    ProtocolSerializer,
    ProtocolSuperviseeSerializer,
)

__all__ = [
    "ALLERGIES_MAX_LENGTH",
    "AdverseEventSerializer",
    "ChartReviewSerializer",
    "GoodFaithExamSerializer",
    "PatientChartSerializer",
    "PhotoAuthorizationSerializer",
    "ProcedureScopeRuleSerializer",
    "ProtocolSerializer",
    "ProtocolSuperviseeSerializer",
    "SignedConsentSerializer",
    "TreatmentPhotoSerializer",
    "TreatmentProductSerializer",
    "TreatmentSerializer",
]
