"""MSO business records (schema ``management``). Never references or imports ``clinical``."""

from management.models.agreements import (
    AgreementDocument,
    FeeBasis,
    ManagementServicesAgreement,
    MsaAmendment,
    PerformanceStandard,
)
from management.models.finance import FeePayment, ManagementFeeInvoice, PcCollection
from management.models.frontdesk import Appointment, Client, PatientPayment
from management.models.marketing import (
    DECISION_FIELDS,
    ConsentFormDraft,
    Decision,
    MarketingAsset,
    MarketingImage,
    PhysicianReviewed,
    ReviewState,
)
from management.models.parties import (
    BankAccount,
    FictitiousNamePermit,
    InvestorType,
    Location,
    LocationGroupObjectPermission,
    MsoEntity,
    PcGroupObjectPermission,
    ProfessionalCorporation,
    Shareholder,
)
from management.models.sites import Equipment, EquipmentService, Lease, MedicalWasteRegistration
from management.models.workforce import (
    BusinessAssociateAgreement,
    Provider,
    StaffMember,
    TrainingRecord,
    Vendor,
)

__all__ = [
    "DECISION_FIELDS",
    "AgreementDocument",
    "Appointment",
    "BankAccount",
    "BusinessAssociateAgreement",
    "Client",
    "ConsentFormDraft",
    "Decision",
    "Equipment",
    "EquipmentService",
    "FeeBasis",
    "FeePayment",
    "FictitiousNamePermit",
    "InvestorType",
    "Lease",
    "Location",
    "LocationGroupObjectPermission",
    "ManagementFeeInvoice",
    "ManagementServicesAgreement",
    "MarketingAsset",
    "MarketingImage",
    "MedicalWasteRegistration",
    "MsaAmendment",
    "MsoEntity",
    "PatientPayment",
    "PcCollection",
    "PcGroupObjectPermission",
    "PerformanceStandard",
    "PhysicianReviewed",
    "ProfessionalCorporation",
    "Provider",
    "ReviewState",
    "Shareholder",
    "StaffMember",
    "TrainingRecord",
    "Vendor",
]
