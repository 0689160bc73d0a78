"""PC clinical records (schema ``clinical``): PostgreSQL refuses every table here to the business role."""

from clinical.models.charts import (
    AdverseEvent,
    ChartReview,
    GoodFaithExam,
    PatientChart,
    PhotoAuthorization,
    SignedConsent,
    Treatment,
    TreatmentPhoto,
    TreatmentProduct,
)
from clinical.models.decisions import ConsentFormVersion, PhysicianDecision
from clinical.models.protocols import ProcedureScopeRule, Protocol, ProtocolSupervisee

__all__ = [
    "AdverseEvent",
    "ChartReview",
    "ConsentFormVersion",
    "GoodFaithExam",
    "PatientChart",
    "PhotoAuthorization",
    "PhysicianDecision",
    "ProcedureScopeRule",
    "Protocol",
    "ProtocolSupervisee",
    "SignedConsent",
    "Treatment",
    "TreatmentPhoto",
    "TreatmentProduct",
]
