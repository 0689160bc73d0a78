"""factory_boy factories for test data; the demo seed reuses them."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from clinical.models import (
    AdverseEvent,
    ChartReview,
    ConsentFormVersion,
    GoodFaithExam,
    PatientChart,
    PhotoAuthorization,
    PhysicianDecision,
    ProcedureScopeRule,
    Protocol,
    ProtocolSupervisee,
    SignedConsent,
    Treatment,
    TreatmentPhoto,
    TreatmentProduct,
)
from management.models import (
    AgreementDocument,
    Appointment,
    BankAccount,
    BusinessAssociateAgreement,
    Client,
    ConsentFormDraft,
    Decision,
    Equipment,
    EquipmentService,
    FeeBasis,
    FeePayment,
    FictitiousNamePermit,
    Lease,
    Location,
    ManagementFeeInvoice,
    ManagementServicesAgreement,
    MarketingAsset,
    MarketingImage,
    MedicalWasteRegistration,
    MsaAmendment,
    MsoEntity,
    PatientPayment,
    PcCollection,
    PerformanceStandard,
    ProfessionalCorporation,
    Provider,
    Shareholder,
    StaffMember,
    TrainingRecord,
    Vendor,
)
from management.procedures import LicenseStatus, LicenseType, Procedure
from tenants.models import Tenant, User


class TenantFactory(DjangoModelFactory[Tenant]):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.Sequence(lambda n: f"Glow MSO {n}")


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            obj.save()


class MsoEntityFactory(DjangoModelFactory[MsoEntity]):
    class Meta:
        model = MsoEntity

    tenant = factory.SubFactory(TenantFactory)
    legal_name = factory.Sequence(lambda n: f"Glow Management {n} LLC")


class ProfessionalCorporationFactory(DjangoModelFactory[ProfessionalCorporation]):
    class Meta:
        model = ProfessionalCorporation

    tenant = factory.SubFactory(TenantFactory)
    legal_name = factory.Sequence(lambda n: f"Dr. Rivera Medical Corporation {n}")


class LocationFactory(DjangoModelFactory[Location]):
    class Meta:
        model = Location

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Glow Med Spa #{n}")
    address = factory.Faker("street_address")
    city = "San Diego"
    managing_entity = factory.SubFactory(MsoEntityFactory, tenant=factory.SelfAttribute("..tenant"))
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=factory.SelfAttribute("..tenant"))


class PatientChartFactory(DjangoModelFactory[PatientChart]):
    class Meta:
        model = PatientChart

    tenant = factory.SubFactory(TenantFactory)
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=factory.SelfAttribute("..tenant"))
    home_location = factory.SubFactory(
        LocationFactory, tenant=factory.SelfAttribute("..tenant"), pc=factory.SelfAttribute("..pc")
    )
    medical_record_number = factory.Sequence(lambda n: f"MRN{n:06d}")
    patient_name = factory.Faker("name")
    date_of_birth = dt.date(1988, 4, 12)


# --- Business domain ----------------------------------------------------------------------------
# Every factory takes the tenant explicitly from its related objects (SelfAttribute), so one call with
# tenant=... builds a consistent graph inside one tenant.

_TENANT = factory.SelfAttribute("..tenant")


def _today() -> dt.date:
    return timezone.localdate()


def _month_start(day: dt.date, back: int = 0) -> dt.date:
    year, month = day.year, day.month - back
    while month < 1:
        year, month = year - 1, month + 12
    return dt.date(year, month, 1)


def _month_end(first: dt.date) -> dt.date:
    return _month_start(first + dt.timedelta(days=32)) - dt.timedelta(days=1)


class ShareholderFactory(DjangoModelFactory[Shareholder]):
    class Meta:
        model = Shareholder

    tenant = factory.SubFactory(TenantFactory)
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=_TENANT)
    name = factory.Faker("name")
    license_type = LicenseType.MD
    license_number = factory.Sequence(lambda n: f"A{100000 + n}")
    license_state = "CA"
    license_status = LicenseStatus.ACTIVE
    shares = 1000


class FictitiousNamePermitFactory(DjangoModelFactory[FictitiousNamePermit]):
    class Meta:
        model = FictitiousNamePermit

    tenant = factory.SubFactory(TenantFactory)
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=_TENANT)
    fictitious_name = factory.Sequence(lambda n: f"Glow Aesthetics {n}")
    permit_number = factory.Sequence(lambda n: f"FNP-{50000 + n}")
    issued_on = factory.LazyFunction(lambda: _today() - dt.timedelta(days=200))
    expires_on = factory.LazyFunction(lambda: _today() + dt.timedelta(days=530))


class BankAccountFactory(DjangoModelFactory[BankAccount]):
    class Meta:
        model = BankAccount

    tenant = factory.SubFactory(TenantFactory)
    pc = None
    mso_entity = None
    bank_name = "First Coastal Bank"
    account_last4 = factory.Sequence(lambda n: f"{n % 10000:04d}")
    purpose = BankAccount.Purpose.OPERATING


class LeaseFactory(DjangoModelFactory[Lease]):
    class Meta:
        model = Lease

    tenant = factory.SubFactory(TenantFactory)
    location = factory.SubFactory(LocationFactory, tenant=_TENANT)
    landlord = factory.Sequence(lambda n: f"Harbor Retail Properties {n} LP")
    term_start = factory.LazyFunction(lambda: _today() - dt.timedelta(days=365))
    term_end = factory.LazyFunction(lambda: _today() + dt.timedelta(days=365 * 4))
    monthly_rent = Decimal("8500.00")


class EquipmentFactory(DjangoModelFactory[Equipment]):
    class Meta:
        model = Equipment

    tenant = factory.SubFactory(TenantFactory)
    location = factory.SubFactory(LocationFactory, tenant=_TENANT)
    kind = Equipment.Kind.LASER
    manufacturer = "Candela"
    model_name = "GentleMax Pro"
    serial_number = factory.Sequence(lambda n: f"GMX-{70000 + n}")
    service_interval_days = 180


class EquipmentServiceFactory(DjangoModelFactory[EquipmentService]):
    class Meta:
        model = EquipmentService

    tenant = factory.SubFactory(TenantFactory)
    equipment = factory.SubFactory(EquipmentFactory, tenant=_TENANT)
    serviced_on = factory.LazyFunction(lambda: _today() - dt.timedelta(days=60))
    vendor = "Laser Service West"


class MedicalWasteRegistrationFactory(DjangoModelFactory[MedicalWasteRegistration]):
    class Meta:
        model = MedicalWasteRegistration

    tenant = factory.SubFactory(TenantFactory)
    location = factory.SubFactory(LocationFactory, tenant=_TENANT)
    registration_number = factory.Sequence(lambda n: f"MW-{30000 + n}")
    hauler = "Stericycle"
    issued_on = factory.LazyFunction(lambda: _today() - dt.timedelta(days=100))
    expires_on = factory.LazyFunction(lambda: _today() + dt.timedelta(days=265))


class MsaFactory(DjangoModelFactory[ManagementServicesAgreement]):
    """A compliant fixed-fee MSA: every clause MSA-002 reads, a current FMV opinion covering the fee."""

    class Meta:
        model = ManagementServicesAgreement

    tenant = factory.SubFactory(TenantFactory)
    mso_entity = factory.SubFactory(MsoEntityFactory, tenant=_TENANT)
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=_TENANT)
    title = factory.Sequence(lambda n: f"Management Services Agreement #{n}")
    effective_date = factory.LazyFunction(lambda: _today() - dt.timedelta(days=300))
    end_date = factory.LazyFunction(lambda: _today() + dt.timedelta(days=365 * 3))
    signed_on = factory.LazyFunction(lambda: _today() - dt.timedelta(days=310))
    services = factory.LazyFunction(
        lambda: ["payroll", "hr", "leases", "equipment", "marketing", "scheduling", "billing", "it"]
    )
    fee_basis = FeeBasis.FIXED_MONTHLY
    fee_amount = Decimal("42000.00")
    fmv_opinion_date = factory.LazyFunction(lambda: _today() - dt.timedelta(days=320))
    fmv_appraiser = "Pacific Valuation Advisors"
    fmv_low = Decimal("38000.00")
    fmv_high = Decimal("47000.00")
    non_clinical_role_clause = True
    dispute_resolution_clause = True
    termination_clause = True
    termination_notice_days = 90
    governing_state = "CA"


# The smallest file that is a PDF by its magic bytes (agreement documents check them).
TINY_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class AgreementDocumentFactory(DjangoModelFactory[AgreementDocument]):
    class Meta:
        model = AgreementDocument

    tenant = factory.SubFactory(TenantFactory)
    msa = factory.SubFactory(MsaFactory, tenant=_TENANT)
    filename = factory.Sequence(lambda n: f"signed-msa-{n}.pdf")
    content = TINY_PDF
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(o.content).hexdigest())
    size = factory.LazyAttribute(lambda o: len(o.content))


class PerformanceStandardFactory(DjangoModelFactory[PerformanceStandard]):
    class Meta:
        model = PerformanceStandard

    tenant = factory.SubFactory(TenantFactory)
    msa = factory.SubFactory(MsaFactory, tenant=_TENANT)
    metric = factory.Sequence(lambda n: f"Claims submitted within 3 business days ({n})")
    target = "95%"


class MsaAmendmentFactory(DjangoModelFactory[MsaAmendment]):
    class Meta:
        model = MsaAmendment

    tenant = factory.SubFactory(TenantFactory)
    msa = factory.SubFactory(MsaFactory, tenant=_TENANT)
    number = factory.Sequence(lambda n: n + 1)
    effective_date = factory.LazyFunction(lambda: _today() - dt.timedelta(days=30))
    signed_on = factory.LazyFunction(lambda: _today() - dt.timedelta(days=40))
    summary = "Adds IT services to the scope; no fee change."


class ManagementFeeInvoiceFactory(DjangoModelFactory[ManagementFeeInvoice]):
    class Meta:
        model = ManagementFeeInvoice

    tenant = factory.SubFactory(TenantFactory)
    msa = factory.SubFactory(MsaFactory, tenant=_TENANT)
    number = factory.Sequence(lambda n: f"INV-{n:05d}")
    period_start = factory.LazyFunction(lambda: _today().replace(day=1) - dt.timedelta(days=31))
    period_end = factory.LazyAttribute(lambda o: _month_end(o.period_start))
    amount = Decimal("42000.00")
    issued_on = factory.LazyAttribute(lambda o: o.period_end)
    due_on = factory.LazyAttribute(lambda o: o.period_end + dt.timedelta(days=30))
    status = ManagementFeeInvoice.Status.ISSUED


class FeePaymentFactory(DjangoModelFactory[FeePayment]):
    class Meta:
        model = FeePayment

    tenant = factory.SubFactory(TenantFactory)
    invoice = factory.SubFactory(ManagementFeeInvoiceFactory, tenant=_TENANT)
    paid_on = factory.LazyFunction(_today)
    amount = Decimal("42000.00")
    reference = factory.Sequence(lambda n: f"ACH-{n:06d}")


class PcCollectionFactory(DjangoModelFactory[PcCollection]):
    class Meta:
        model = PcCollection

    tenant = factory.SubFactory(TenantFactory)
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=_TENANT)
    month = factory.Sequence(lambda n: _month_start(_today(), back=n + 1))
    amount = Decimal("180000.00")


class VendorFactory(DjangoModelFactory[Vendor]):
    class Meta:
        model = Vendor

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"CloudChart EHR {n} Inc.")
    service = "Electronic health records"
    handles_phi = True
    fee_basis = Vendor.FeeBasis.FLAT
    fee_amount = Decimal("1200.00")


class BusinessAssociateAgreementFactory(DjangoModelFactory[BusinessAssociateAgreement]):
    class Meta:
        model = BusinessAssociateAgreement

    tenant = factory.SubFactory(TenantFactory)
    vendor = factory.SubFactory(VendorFactory, tenant=_TENANT)
    signed_on = factory.LazyFunction(lambda: _today() - dt.timedelta(days=400))


class StaffMemberFactory(DjangoModelFactory[StaffMember]):
    class Meta:
        model = StaffMember

    tenant = factory.SubFactory(TenantFactory)
    employer = factory.SubFactory(MsoEntityFactory, tenant=_TENANT)
    full_name = factory.Faker("name")
    job_title = "Front desk coordinator"
    hired_on = factory.LazyFunction(lambda: _today() - dt.timedelta(days=500))


class TrainingRecordFactory(DjangoModelFactory[TrainingRecord]):
    class Meta:
        model = TrainingRecord

    tenant = factory.SubFactory(TenantFactory)
    staff_member = factory.SubFactory(StaffMemberFactory, tenant=_TENANT)
    kind = TrainingRecord.Kind.HIPAA
    completed_on = factory.LazyFunction(lambda: _today() - dt.timedelta(days=90))
    expires_on = factory.LazyAttribute(lambda o: o.completed_on + dt.timedelta(days=365))


class ProviderFactory(DjangoModelFactory[Provider]):
    class Meta:
        model = Provider

    tenant = factory.SubFactory(TenantFactory)
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=_TENANT)
    full_name = factory.Faker("name")
    license_type = LicenseType.RN
    license_number = factory.Sequence(lambda n: f"{900000 + n}")
    license_state = "CA"
    license_status = LicenseStatus.ACTIVE
    license_expires_on = factory.LazyFunction(lambda: _today() + dt.timedelta(days=400))


class ClientFactory(DjangoModelFactory[Client]):
    class Meta:
        model = Client

    tenant = factory.SubFactory(TenantFactory)
    home_location = factory.SubFactory(LocationFactory, tenant=_TENANT)
    full_name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"client{n}@example.test")
    phone = factory.Sequence(lambda n: f"+1 619 555 {n % 10000:04d}")
    lead_source = Client.LeadSource.INSTAGRAM


class AppointmentFactory(DjangoModelFactory[Appointment]):
    class Meta:
        model = Appointment

    tenant = factory.SubFactory(TenantFactory)
    location = factory.SubFactory(LocationFactory, tenant=_TENANT)
    client = factory.SubFactory(
        ClientFactory, tenant=_TENANT, home_location=factory.SelfAttribute("..location")
    )
    provider = factory.SubFactory(ProviderFactory, tenant=_TENANT, pc=factory.SelfAttribute("..location.pc"))
    service = Procedure.NEUROTOXIN
    starts_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=3))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + dt.timedelta(minutes=45))


class PatientPaymentFactory(DjangoModelFactory[PatientPayment]):
    class Meta:
        model = PatientPayment

    tenant = factory.SubFactory(TenantFactory)
    location = factory.SubFactory(LocationFactory, tenant=_TENANT)
    client = factory.SubFactory(
        ClientFactory, tenant=_TENANT, home_location=factory.SelfAttribute("..location")
    )
    received_on = factory.LazyFunction(_today)
    amount = Decimal("650.00")
    deposited_to = factory.SubFactory(
        BankAccountFactory,
        tenant=_TENANT,
        pc=factory.SelfAttribute("..location.pc"),
        purpose=BankAccount.Purpose.PATIENT_DEPOSITS,
    )


class MarketingAssetFactory(DjangoModelFactory[MarketingAsset]):
    class Meta:
        model = MarketingAsset

    tenant = factory.SubFactory(TenantFactory)
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=_TENANT)
    title = factory.Sequence(lambda n: f"Spring neurotoxin special {n}")
    body = (
        "Smooth forehead lines with neurotoxin by our licensed nurses. Results vary; consultation required."
    )
    channel = MarketingAsset.Channel.INSTAGRAM
    brand_name = factory.LazyAttribute(lambda o: o.pc.legal_name)
    created_by = factory.SubFactory(UserFactory)


class MarketingImageFactory(DjangoModelFactory[MarketingImage]):
    class Meta:
        model = MarketingImage

    tenant = factory.SubFactory(TenantFactory)
    asset = factory.SubFactory(MarketingAssetFactory, tenant=_TENANT)
    description = factory.Sequence(lambda n: f"Brand photo of the treatment room {n}")
    kind = MarketingImage.Kind.STOCK


class ConsentFormDraftFactory(DjangoModelFactory[ConsentFormDraft]):
    class Meta:
        model = ConsentFormDraft

    tenant = factory.SubFactory(TenantFactory)
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=_TENANT)
    title = factory.Sequence(lambda n: f"Consent to neurotoxin treatment {n}")
    body = (
        "I consent to treatment with botulinum toxin type A. Risks include bruising, headache and "
        "eyelid drooping. I may withdraw this consent at any time."
    )
    procedure = Procedure.NEUROTOXIN
    created_by = factory.SubFactory(UserFactory)


# --- Clinical domain ----------------------------------------------------------------------------


class GoodFaithExamFactory(DjangoModelFactory[GoodFaithExam]):
    class Meta:
        model = GoodFaithExam

    tenant = factory.SubFactory(TenantFactory)
    chart = factory.SubFactory(PatientChartFactory, tenant=_TENANT)
    examiner = factory.SubFactory(
        ProviderFactory, tenant=_TENANT, pc=factory.SelfAttribute("..chart.pc"), license_type=LicenseType.MD
    )
    examined_on = factory.LazyFunction(lambda: _today() - dt.timedelta(days=20))
    medical_indication = "Dynamic glabellar lines; no contraindications found."
    approved_procedures = factory.LazyFunction(lambda: [Procedure.NEUROTOXIN, Procedure.DERMAL_FILLER])
    valid_until = factory.LazyAttribute(lambda o: o.examined_on + dt.timedelta(days=365))


class PhotoAuthorizationFactory(DjangoModelFactory[PhotoAuthorization]):
    class Meta:
        model = PhotoAuthorization

    tenant = factory.SubFactory(TenantFactory)
    chart = factory.SubFactory(PatientChartFactory, tenant=_TENANT)
    signed_on = factory.LazyFunction(lambda: _today() - dt.timedelta(days=20))
    purpose = "Before/after photos on the practice's website and social media"


class PhysicianDecisionFactory(DjangoModelFactory[PhysicianDecision]):
    class Meta:
        model = PhysicianDecision

    tenant = factory.SubFactory(TenantFactory)
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=_TENANT)
    decision = Decision.APPROVED
    content_hash = "0" * 64
    revision = 1
    snapshot = factory.LazyFunction(dict)
    decided_by = factory.SubFactory(UserFactory)
    decided_at = factory.LazyFunction(timezone.now)


class ConsentFormVersionFactory(DjangoModelFactory[ConsentFormVersion]):
    class Meta:
        model = ConsentFormVersion

    tenant = factory.SubFactory(TenantFactory)
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=_TENANT)
    draft = factory.SubFactory(ConsentFormDraftFactory, tenant=_TENANT, pc=factory.SelfAttribute("..pc"))
    decision = factory.SubFactory(
        PhysicianDecisionFactory,
        tenant=_TENANT,
        pc=factory.SelfAttribute("..pc"),
        consent_form_draft=factory.SelfAttribute("..draft"),
    )
    procedure = factory.LazyAttribute(lambda o: o.draft.procedure)
    number = 1
    title = factory.LazyAttribute(lambda o: o.draft.title)
    body = factory.LazyAttribute(lambda o: o.draft.body)
    content_hash = factory.LazyAttribute(lambda o: o.draft.content_hash)
    approved_by = factory.LazyAttribute(lambda o: o.decision.decided_by)
    approved_at = factory.LazyAttribute(lambda o: o.decision.decided_at)


class SignedConsentFactory(DjangoModelFactory[SignedConsent]):
    class Meta:
        model = SignedConsent

    tenant = factory.SubFactory(TenantFactory)
    chart = factory.SubFactory(PatientChartFactory, tenant=_TENANT)
    form_version = factory.SubFactory(
        ConsentFormVersionFactory, tenant=_TENANT, pc=factory.SelfAttribute("..chart.pc")
    )
    signed_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=10))
    signer_name = factory.LazyAttribute(lambda o: o.chart.patient_name)
    witnessed_by = factory.SubFactory(UserFactory)


class TreatmentFactory(DjangoModelFactory[Treatment]):
    class Meta:
        model = Treatment

    tenant = factory.SubFactory(TenantFactory)
    chart = factory.SubFactory(PatientChartFactory, tenant=_TENANT)
    location = factory.LazyAttribute(lambda o: o.chart.home_location)
    procedure = Procedure.NEUROTOXIN
    performer = factory.SubFactory(ProviderFactory, tenant=_TENANT, pc=factory.SelfAttribute("..chart.pc"))
    performed_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=10))
    notes = "20 units to the glabella, 5 injection points. Tolerated well."
    charted_at = factory.LazyAttribute(lambda o: o.performed_at + dt.timedelta(hours=2))


class TreatmentProductFactory(DjangoModelFactory[TreatmentProduct]):
    class Meta:
        model = TreatmentProduct

    tenant = factory.SubFactory(TenantFactory)
    treatment = factory.SubFactory(TreatmentFactory, tenant=_TENANT)
    product_name = "Botox Cosmetic 100U"
    lot_number = factory.Sequence(lambda n: f"C{6000 + n}C3")
    quantity = Decimal("20")


class TreatmentPhotoFactory(DjangoModelFactory[TreatmentPhoto]):
    class Meta:
        model = TreatmentPhoto

    tenant = factory.SubFactory(TenantFactory)
    treatment = factory.SubFactory(TreatmentFactory, tenant=_TENANT)
    kind = TreatmentPhoto.Kind.BEFORE
    taken_at = factory.LazyAttribute(lambda o: o.treatment.performed_at)
    description = "Frontal view at rest"


class ProtocolFactory(DjangoModelFactory[Protocol]):
    class Meta:
        model = Protocol

    tenant = factory.SubFactory(TenantFactory)
    pc = factory.SubFactory(ProfessionalCorporationFactory, tenant=_TENANT)
    kind = Protocol.Kind.STANDARDIZED_PROCEDURE
    title = factory.Sequence(lambda n: f"Standardized procedure: neurotoxin and filler injections ({n})")
    supervisor = factory.SubFactory(
        ProviderFactory, tenant=_TENANT, pc=factory.SelfAttribute("..pc"), license_type=LicenseType.MD
    )
    procedures = factory.LazyFunction(lambda: [Procedure.NEUROTOXIN, Procedure.DERMAL_FILLER])
    body = "Scope, patient selection, dosing ranges, complications and emergency management, supervision."
    effective_on = factory.LazyFunction(lambda: _today() - dt.timedelta(days=100))
    expires_on = factory.LazyAttribute(lambda o: o.effective_on + dt.timedelta(days=365))
    reviewed_on = factory.LazyAttribute(lambda o: o.effective_on)


class ProtocolSuperviseeFactory(DjangoModelFactory[ProtocolSupervisee]):
    class Meta:
        model = ProtocolSupervisee

    tenant = factory.SubFactory(TenantFactory)
    protocol = factory.SubFactory(ProtocolFactory, tenant=_TENANT)
    provider = factory.SubFactory(ProviderFactory, tenant=_TENANT, pc=factory.SelfAttribute("..protocol.pc"))


class ProcedureScopeRuleFactory(DjangoModelFactory[ProcedureScopeRule]):
    class Meta:
        model = ProcedureScopeRule

    tenant = factory.SubFactory(TenantFactory)
    state = "CA"
    procedure = Procedure.NEUROTOXIN
    license_type = LicenseType.RN
    allowed = True
    supervision = ProcedureScopeRule.Supervision.ORDER
    citation = "B&P 2725; Medical Board of California, Cosmetic Treatments FAQ"


class ChartReviewFactory(DjangoModelFactory[ChartReview]):
    class Meta:
        model = ChartReview

    tenant = factory.SubFactory(TenantFactory)
    chart = factory.SubFactory(PatientChartFactory, tenant=_TENANT)
    reviewer = factory.SubFactory(
        ProviderFactory, tenant=_TENANT, pc=factory.SelfAttribute("..chart.pc"), license_type=LicenseType.MD
    )
    reviewed_on = factory.LazyFunction(lambda: _today() - dt.timedelta(days=5))
    findings = "Documentation complete; dosing within protocol."


class AdverseEventFactory(DjangoModelFactory[AdverseEvent]):
    class Meta:
        model = AdverseEvent

    tenant = factory.SubFactory(TenantFactory)
    chart = factory.SubFactory(PatientChartFactory, tenant=_TENANT)
    occurred_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=8))
    severity = AdverseEvent.Severity.MILD
    description = "Bruising at two injection sites."
    actions_taken = "Cold compress; resolved within a week."
