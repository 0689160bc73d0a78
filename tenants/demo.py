"""The demo tenant `./run start` seeds: a believable MSO to sign in to and click through.

Golden Coast Aesthetics MSO: two MSO entities (Golden Coast Management LLC and, for the Orange County
spa opened this year, Golden Coast OC Management LLC), two PCs, four med spas (La Jolla and Del Mar
served by PC 1, Laguna Beach and Newport Beach by PC 2), a person in every capacity plus an RN who
also co-owns the MSO (two capacities), and a year of business: MSAs with standards and amendments,
twelve months of fee invoices, payments and PC collections, providers and their credentials, staff
and training, vendors and BAAs, clients, about twelve weeks of appointments (eight back, four
ahead) and patient payments, marketing assets and consent forms in every review state, and on the
clinical side charts with good-faith exams, treatments (products, lots, photos), signed consents on
approved consent-form versions, protocols, chart reviews, an adverse event and California's scope
table. Dates are relative to the day of seeding. Idempotent by slug: when the tenant exists nothing
is written and the logins are read back. Passwords are for the demo only.

Deliberate compliance problems for the audit engine (``DELIBERATE_PROBLEMS`` lists them as data,
tests/test_seed.py checks each one is really in the rows; everything else is meant to pass):

- CPOM-001  a lay shareholder (no license) holds 30% of Okafor Medical Corporation;
- MSA-003/MSA-004  the OC MSA (Golden Coast OC Management ↔ Okafor) charges 8% of PC collections
  with no FMV opinion and no counsel review;
- MSA-002/CPOM-003  the Laguna MSA (Golden Coast Management ↔ Okafor) lacks the non-clinical-role
  clause;
- FEE-002  that Laguna MSA says a fixed $30,000 a month, but its 12 invoices are 17% of the PC's
  collections each month (a de facto percentage; each invoice also differs from the MSA, FEE-001);
- FEE-003  the Vasquez MSA's fee went from $38,000 to $41,500 four months ago with no amendment
  (its only amendment, seven months ago, changed the scope, not the fee);
- FEE-001  one Vasquez invoice (nine months ago) is $43,800 where the MSA gives $38,000;
- BAA-001  SnapBook Scheduling handles PHI and has no BAA;
- FEE-004  LeadSpark Media, a marketing vendor, is paid per lead;
- LIC-002  Kelsey Tran, RN (PC 1) has a license expiring in 20 days;
- LIC-001/LIC-003  Jamie Ortiz, NP (PC 2) has a license that lapsed 12 days ago and an appointment
  at Newport Beach in 5 days;
- EQP-001  the Del Mar laser (Cutera excel V) was last serviced 250 days ago on a 180-day interval;
- WST-001  Newport Beach generates sharps and has no medical-waste registration;
- HIP-002  Tyler Nguyen (front desk, Laguna Beach) has no HIPAA training record;
- SEP-002  one medical-service payment at Laguna Beach was deposited to the MSO's operating account
  (two retail-product sales deposited there are legitimate, on purpose);
- ADV-001  "Summer glow IPL special" was approved, then edited by the MSO (back in the queue, its
  approval no longer matches the content; the edit also adds claims ADV-002 flags);
- GFE-001  Nina Brooks, RN treated Camila Ferreira with neurotoxin with no good-faith exam on file;
- DEL-002  Rosa Delgado, RN did laser hair removal at Laguna Beach under a laser protocol that
  neither the supervisor nor she has signed;
- CHT-001  a filler treatment by Sofia Alvarez, NP six days ago has not been charted (no notes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pydyf
from django.db import connection, transaction
from django.utils import timezone

from clinical.models import (
    ConsentFormVersion,
    GoodFaithExam,
    PatientChart,
    PhysicianDecision,
    Protocol,
    Treatment,
)
from management.models import (
    AgreementDocument,
    Appointment,
    BankAccount,
    Client,
    ConsentFormDraft,
    Decision,
    Equipment,
    FeeBasis,
    Location,
    ManagementFeeInvoice,
    ManagementServicesAgreement,
    MarketingAsset,
    MarketingImage,
    MsaAmendment,
    PatientPayment,
    PhysicianReviewed,
    ProfessionalCorporation,
    Provider,
    ReviewState,
    TrainingRecord,
    Vendor,
)
from management.procedures import LicenseStatus, LicenseType, Procedure
from tenants.capacities import CAPACITIES
from tenants.models import Membership, Tenant, User
from tenants.services import membership_create, object_access_grant, tenant_create, user_create
from tests import factories

DEMO_SLUG = "demo"
DEMO_NAME = "Golden Coast Aesthetics MSO"
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - printed on purpose: demo data only
AUDITOR_DAYS = 90

PC_ALL = [
    "view_professionalcorporation",
    "change_professionalcorporation",
    "approve_marketing",
    "sign_protocol",
]
PC_VIEW = ["view_professionalcorporation"]
PC_EDIT = ["view_professionalcorporation", "change_professionalcorporation"]
LOC_VIEW = ["view_location"]
LOC_EDIT = ["view_location", "change_location"]


@dataclass(frozen=True)
class DemoPerson:
    email: str
    full_name: str
    # (capacity, license type); object grants as (perms, "pc"/"location", index)
    capacities: tuple[tuple[str, str], ...]
    grants: dict[str, tuple[tuple[list[str], str, int], ...]] = field(default_factory=dict)


PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("admin@goldencoast.example", "Dana Whitfield", (("mso_admin", ""),)),
    DemoPerson(
        "staff@goldencoast.example",
        "Marco Reyes",
        (("mso_staff", ""),),
        # Runs La Jolla and drafts PC 1's marketing and consent forms (PC-scoped business records).
        {"mso_staff": ((LOC_EDIT, "location", 0), (PC_EDIT, "pc", 0))},
    ),
    DemoPerson("compliance@goldencoast.example", "Priya Shah", (("mso_compliance", ""),)),
    DemoPerson(
        "dr.vasquez@goldencoast.example",
        "Dr. Elena Vasquez",
        (("pc_physician", "MD"),),
        {"pc_physician": ((PC_ALL, "pc", 0), (LOC_VIEW, "location", 0), (LOC_VIEW, "location", 1))},
    ),
    DemoPerson(
        "dr.okafor@goldencoast.example",
        "Dr. James Okafor",
        (("pc_physician", "MD"),),
        {"pc_physician": ((PC_ALL, "pc", 1), (LOC_VIEW, "location", 2), (LOC_VIEW, "location", 3))},
    ),
    DemoPerson(
        "nurse@goldencoast.example",
        "Nina Brooks",
        (("clinician", "RN"),),
        {"clinician": ((PC_VIEW, "pc", 0), (LOC_VIEW, "location", 0))},
    ),
    DemoPerson("auditor@goldencoast.example", "Sam Carter", (("auditor", ""),)),
    # An RN who co-owns the MSO: two memberships, one capacity chosen per session.
    DemoPerson(
        "rosa.delgado@goldencoast.example",
        "Rosa Delgado",
        (("mso_admin", ""), ("clinician", "RN")),
        {"clinician": ((PC_VIEW, "pc", 1), (LOC_VIEW, "location", 2))},
    ),
)

# (name, address, city, PC index, MSO entity index, days since opening)
LOCATIONS = (
    ("Golden Coast Med Spa La Jolla", "7825 Fay Ave", "La Jolla", 0, 0, 1400),
    ("Golden Coast Med Spa Del Mar", "1555 Camino Del Mar", "Del Mar", 0, 0, 900),
    ("Golden Coast Med Spa Laguna Beach", "1100 S Coast Hwy", "Laguna Beach", 1, 0, 700),
    ("Golden Coast Med Spa Newport Beach", "401 Newport Center Dr", "Newport Beach", 1, 1, 100),
)
TRADE_NAME = "Golden Coast Aesthetics"

# (MRN, patient, date of birth, allergies, home location index)
CHARTS = (
    ("GC-000101", "Avery Lindqvist", dt.date(1987, 3, 14), "", 0),
    ("GC-000102", "Jordan Matsuda", dt.date(1979, 11, 2), "Lidocaine", 0),
    ("GC-000103", "Camila Ferreira", dt.date(1992, 6, 27), "", 1),
    ("GC-000104", "Harper Quinn", dt.date(1990, 9, 5), "", 0),
    ("GC-000105", "Mateo Rossi", dt.date(1983, 2, 18), "Penicillin", 1),
    ("GC-000106", "Grace Whitman", dt.date(1975, 12, 30), "", 1),
    ("GC-000201", "Noah Whitaker", dt.date(1984, 8, 9), "Latex", 2),
    ("GC-000202", "Leila Haddad", dt.date(1995, 1, 21), "", 2),
    ("GC-000203", "Sienna Marsh", dt.date(1993, 4, 3), "", 2),
    ("GC-000204", "Owen Castillo", dt.date(1988, 7, 16), "", 3),
    ("GC-000205", "Maya Fischer", dt.date(1997, 10, 11), "", 3),
)

# More front-desk clients per location (leads and patients without a chart yet).
CLIENT_NAMES = (
    (
        "Olivia Park",
        "Ethan Brooks",
        "Sophia Nakamura",
        "Liam Gallagher",
        "Isabella Cruz",
        "Lucas Meyer",
        "Chloe Dubois",
        "Aiden Patel",
        "Zoe Harrington",
    ),
    (
        "Emma Sullivan",
        "Benjamin Ortiz",
        "Mia Kowalski",
        "Henry Adeyemi",
        "Ava Lindgren",
        "Jack Moreau",
        "Ella Fitzgerald",
        "Samuel Reyes",
    ),
    (
        "Charlotte Vance",
        "Daniel Kim",
        "Amelia Novak",
        "Logan Price",
        "Harper Delacroix",
        "Wyatt Chen",
        "Nora Castellanos",
        "Julian Brandt",
        "Stella Moretti",
    ),
    ("Hazel Thornton", "Leo Fujita", "Aurora Blake", "Miles Ferrante", "Ivy Sandoval", "Ezra Holm"),
)
LEAD_SOURCES = [s.value for s in Client.LeadSource]


@dataclass(frozen=True)
class DeliberateProblem:
    """A compliance problem seeded on purpose, for the audit engine (issue 4) to find."""

    rule: str  # RULES.md id(s)
    what: str


DELIBERATE_PROBLEMS: tuple[DeliberateProblem, ...] = (
    DeliberateProblem(
        "CPOM-001", "Lay shareholder Marcus Bell (no license) holds 300 of 1,000 Okafor PC shares"
    ),
    DeliberateProblem("MSA-003", "OC MSA: 8% of PC collections, no FMV opinion, no counsel review"),
    DeliberateProblem("MSA-004", "OC MSA: no FMV opinion at all"),
    DeliberateProblem(
        "MSA-002", "Laguna MSA (Golden Coast Management ↔ Okafor) has no non-clinical-role clause"
    ),
    DeliberateProblem(
        "CPOM-003", "The same Laguna MSA: without that clause nothing keeps the MSO out of clinical decisions"
    ),
    DeliberateProblem(
        "FEE-002", "Laguna MSA is fixed $30,000/month but its 12 invoices are 17% of collections"
    ),
    DeliberateProblem(
        "FEE-003", "Vasquez MSA fee rose from $38,000 to $41,500 four months ago, no amendment"
    ),
    DeliberateProblem("FEE-001", "Vasquez invoice of nine months ago is $43,800 (MSA: $38,000)"),
    DeliberateProblem("BAA-001", "Vendor SnapBook Scheduling handles PHI without a BAA"),
    DeliberateProblem("FEE-004", "Marketing vendor LeadSpark Media is paid per lead"),
    DeliberateProblem("LIC-002", "Kelsey Tran, RN: license expires in 20 days"),
    DeliberateProblem(
        "LIC-003", "Jamie Ortiz, NP: license lapsed 12 days ago, appointment at Newport Beach in 5 days"
    ),
    DeliberateProblem("LIC-001", "Jamie Ortiz, NP: scheduled in 5 days without an active license"),
    DeliberateProblem(
        "EQP-001", "Del Mar Cutera excel V laser: last service 250 days ago, interval 180 days"
    ),
    DeliberateProblem("WST-001", "Newport Beach generates sharps and has no medical-waste registration"),
    DeliberateProblem("HIP-002", "Tyler Nguyen (front desk, Laguna Beach) has no HIPAA training"),
    DeliberateProblem(
        "SEP-002", "A medical-service payment at Laguna Beach was deposited to the MSO's account"
    ),
    DeliberateProblem("ADV-001", "'Summer glow IPL special' was edited after its approval"),
    DeliberateProblem("ADV-002", "The edit of 'Summer glow IPL special' claims it is painless"),
    DeliberateProblem(
        "GFE-001", "Nina Brooks, RN treated Camila Ferreira (neurotoxin) with no good-faith exam"
    ),
    DeliberateProblem("DEL-002", "Rosa Delgado, RN did laser hair removal under an unsigned laser protocol"),
    DeliberateProblem("CHT-001", "A filler treatment by Sofia Alvarez, NP six days ago is not charted"),
)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    full_name: str
    capacities: list[str]  # labels, with license type and expiry where they apply


@dataclass(frozen=True)
class DemoResult:
    tenant: Tenant
    created: bool
    password: str
    logins: list[DemoLogin]


def _set_tenant(tenant_id: str) -> str:
    """Point RLS at `tenant_id` for the rest of the transaction; returns the previous value."""
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('app.tenant_id', true)")
        previous = cur.fetchone()[0] or ""
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [tenant_id])
    return str(previous)


def month_start(day: dt.date, back: int = 0) -> dt.date:
    """First day of the month `back` months before the day's (negative: after)."""
    year, index = divmod(day.year * 12 + day.month - 1 - back, 12)
    return dt.date(year, index + 1, 1)


def month_end(first: dt.date) -> dt.date:
    return month_start(first, -1) - dt.timedelta(days=1)


def signed_copy_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with the given lines (Helvetica, ASCII), standing in for a scanned signed copy."""
    document = pydyf.PDF()
    font = pydyf.Dictionary({"Type": "/Font", "Subtype": "/Type1", "BaseFont": "/Helvetica"})
    document.add_object(font)
    stream = pydyf.Stream()
    stream.begin_text()
    stream.set_font_size("F1", 11)
    for row, line in enumerate(lines):
        stream.set_text_matrix(1, 0, 0, 1, 72, 740 - 16 * row)
        stream.show_text_string(line)
    stream.end_text()
    document.add_object(stream)
    resources = pydyf.Dictionary({"Font": pydyf.Dictionary({"F1": font.reference})})
    page = pydyf.Dictionary(
        {
            "Type": "/Page",
            "Parent": document.pages.reference,
            "MediaBox": pydyf.Array([0, 0, 612, 792]),
            "Contents": stream.reference,
            "Resources": resources,
        }
    )
    document.add_page(page)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


# Seasonality of a med spa's collections by calendar month (summer and December are busy).
SEASON = (0.92, 0.94, 1.0, 1.03, 1.07, 1.12, 1.1, 1.04, 0.97, 0.98, 1.02, 1.16)
PRICES = {
    Procedure.NEUROTOXIN: (420, 680),
    Procedure.DERMAL_FILLER: (700, 950),
    Procedure.LASER_HAIR_REMOVAL: (250, 420),
    Procedure.IPL_PHOTOFACIAL: (350, 480),
    Procedure.MICRONEEDLING: (300, 420),
    Procedure.CONSULTATION: (0, 0),
}


class _Seeder:
    """Writes the demo tenant's rows in dependency order; dates are relative to today."""

    def __init__(self, tenant: Tenant) -> None:
        self.t = tenant
        self.today = timezone.localdate()
        self.now = timezone.now()
        self.rng = random.Random(2026)  # noqa: S311 - demo data, not secrets: same shapes on every seeding
        self.members: dict[tuple[str, str], Membership] = {}

    # --- small helpers ----------------------------------------------------------------------------

    def day(self, offset: int) -> dt.date:
        return self.today + dt.timedelta(days=offset)

    def at(self, day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))

    def ago(self, days: int, hour: int = 10) -> dt.datetime:
        return self.at(self.day(-days), hour)

    def user(self, email: str) -> User:
        return User.objects.get(email=email)

    # --- the run ------------------------------------------------------------------------------------

    def build(self) -> None:
        self.parties()
        self.people()
        self.sites()
        self.agreements()
        self.workforce()
        self.front_desk()
        self.reviewed_content()
        self.clinical()

    # --- parties ----------------------------------------------------------------------------------

    def parties(self) -> None:
        t, f = self.t, factories
        self.entities = [
            f.MsoEntityFactory.create(tenant=t, legal_name="Golden Coast Management LLC"),
            f.MsoEntityFactory.create(tenant=t, legal_name="Golden Coast OC Management LLC"),
        ]
        self.pcs = [
            f.ProfessionalCorporationFactory.create(
                tenant=t, legal_name="Elena Vasquez, M.D., Inc.", physician_name="Elena Vasquez"
            ),
            f.ProfessionalCorporationFactory.create(
                tenant=t, legal_name="Okafor Medical Corporation", physician_name="James Okafor"
            ),
        ]
        shareholders = (
            (0, "Dr. Elena Vasquez", LicenseType.MD, "A112233", 1000),
            (1, "Dr. James Okafor", LicenseType.MD, "G087412", 700),
            # CPOM-001 (deliberate): a lay investor on the cap table of a medical corporation.
            (1, "Marcus Bell", LicenseType.NONE, "", 300),
        )
        for pc, name, license_type, number, shares in shareholders:
            f.ShareholderFactory.create(
                tenant=t,
                pc=self.pcs[pc],
                name=name,
                license_type=license_type,
                license_number=number,
                license_state="CA" if number else "",
                shares=shares,
            )
        self.permits = [
            f.FictitiousNamePermitFactory.create(
                tenant=t,
                pc=pc,
                fictitious_name=TRADE_NAME,
                permit_number=number,
                issued_on=self.day(-issued),
                expires_on=self.day(-issued + 730),
            )
            for pc, number, issued in ((self.pcs[0], "FNP-61204", 300), (self.pcs[1], "FNP-64517", 400))
        ]
        self.locations: list[Location] = [
            f.LocationFactory.create(
                tenant=t,
                name=name,
                address=address,
                city=city,
                managing_entity=self.entities[entity],
                pc=self.pcs[pc],
                trade_name=TRADE_NAME,
                name_permit=self.permits[pc],
            )
            for name, address, city, pc, entity, _ in LOCATIONS
        ]
        accounts = (  # (owner, bank, last4, purpose)
            (self.entities[0], "First Coastal Bank", "4410", BankAccount.Purpose.OPERATING),
            (self.entities[0], "First Coastal Bank", "4428", BankAccount.Purpose.PAYROLL),
            (self.entities[0], "First Coastal Bank", "4436", BankAccount.Purpose.MANAGEMENT_FEES),
            (self.entities[1], "First Coastal Bank", "5107", BankAccount.Purpose.OPERATING),
            (self.pcs[0], "Pacific Western Bank", "7712", BankAccount.Purpose.OPERATING),
            (self.pcs[0], "Pacific Western Bank", "7720", BankAccount.Purpose.PATIENT_DEPOSITS),
            (self.pcs[1], "Torrey Pines Bank", "8841", BankAccount.Purpose.OPERATING),
            (self.pcs[1], "Torrey Pines Bank", "8859", BankAccount.Purpose.PATIENT_DEPOSITS),
        )
        self.accounts: dict[tuple[Any, str], BankAccount] = {}
        for owner, bank, last4, purpose in accounts:
            is_pc = isinstance(owner, ProfessionalCorporation)
            self.accounts[(owner.pk, purpose)] = f.BankAccountFactory.create(
                tenant=t,
                pc=owner if is_pc else None,
                mso_entity=None if is_pc else owner,
                bank_name=bank,
                account_last4=last4,
                routing_number="122000661",
                purpose=purpose,
            )

    # --- people -----------------------------------------------------------------------------------

    def people(self) -> None:
        objects: dict[str, list[ProfessionalCorporation] | list[Location]] = {
            "pc": self.pcs,
            "location": self.locations,
        }
        for person in PEOPLE:
            # A person may already exist (say, from a demo tenant deleted by hand): reuse, don't duplicate.
            user = User.objects.filter(email=person.email).first() or user_create(
                email=person.email, full_name=person.full_name, password=DEMO_PASSWORD
            )
            for capacity, license_type in person.capacities:
                membership = membership_create(
                    tenant=self.t,
                    user=user,
                    capacity=capacity,
                    license_type=license_type,
                    expires_at=timezone.now() + dt.timedelta(days=AUDITOR_DAYS)
                    if capacity == "auditor"
                    else None,
                )
                self.members[(person.email, capacity)] = membership
                for perms, kind, index in person.grants.get(capacity, ()):
                    object_access_grant(membership=membership, obj=objects[kind][index], perms=perms)
        self.admin = self.user("admin@goldencoast.example")
        self.staff = self.user("staff@goldencoast.example")
        self.vasquez = self.user("dr.vasquez@goldencoast.example")
        self.okafor = self.user("dr.okafor@goldencoast.example")
        self.nina = self.user("nurse@goldencoast.example")
        self.rosa = self.user("rosa.delgado@goldencoast.example")

    # --- sites ------------------------------------------------------------------------------------

    def sites(self) -> None:
        t, f = self.t, factories
        leases = (
            ("La Jolla Village Partners LP", "14500.00"),
            ("Del Mar Plaza Holdings LLC", "12800.00"),
            ("Coast Highway Retail LLC", "16200.00"),
            ("Newport Center Retail LLC", "18900.00"),
        )
        for location, (landlord, rent), spec in zip(self.locations, leases, LOCATIONS, strict=True):
            opened = spec[5]
            f.LeaseFactory.create(
                tenant=t,
                location=location,
                landlord=landlord,
                term_start=self.day(-opened - 30),
                term_end=self.day(-opened - 30 + 365 * 7),
                monthly_rent=Decimal(rent),
            )
        # (location, kind, maker, model, serial, interval days, days since last service)
        devices = (
            (0, Equipment.Kind.LASER, "Candela", "GentleMax Pro", "GMX-71402", 180, 64),
            (0, Equipment.Kind.IPL, "Lumenis", "M22", "M22-33871", 365, 210),
            (1, Equipment.Kind.LASER, "Cutera", "excel V", "XLV-20931", 180, 250),  # EQP-001 (deliberate)
            (1, Equipment.Kind.MICRONEEDLING, "Crown Aesthetics", "SkinPen Precision", "SP-88213", 365, 120),
            (2, Equipment.Kind.IPL, "Sciton", "BBL HERO", "BBL-51177", 365, 95),
            (2, Equipment.Kind.LASER, "Candela", "GentleMax Pro Plus", "GMX-80266", 180, 41),
            (3, Equipment.Kind.LASER, "Candela", "GentleMax Pro Plus", "GMX-80512", 180, 20),
        )
        for index, kind, maker, model_name, serial, interval, last in devices:
            device = f.EquipmentFactory.create(
                tenant=t,
                location=self.locations[index],
                kind=kind,
                manufacturer=maker,
                model_name=model_name,
                serial_number=serial,
                service_interval_days=interval,
            )
            for visit in (last + interval, last):  # the previous visit, then the latest
                f.EquipmentServiceFactory.create(
                    tenant=t,
                    equipment=device,
                    serviced_on=self.day(-visit),
                    vendor="Laser Service West",
                    notes="Calibration, handpiece inspection, filter change.",
                )
        # WST-001 (deliberate): Newport Beach (index 3) generates sharps but has no registration.
        for index, number in ((0, "MW-37-0412"), (1, "MW-37-0977"), (2, "MW-30-1563")):
            f.MedicalWasteRegistrationFactory.create(
                tenant=t,
                location=self.locations[index],
                registration_number=number,
                hauler="Stericycle",
                issued_on=self.day(-140 - 60 * index),
                expires_on=self.day(225 - 60 * index),
            )

    # --- agreements and money ------------------------------------------------------------------

    def collections(self, pc_index: int, back: int) -> Decimal:
        first = month_start(self.today, back)
        base = (188_000, 164_000)[pc_index]
        wobble = ((first.month * 7919 + pc_index * 104729) % 1000) / 1000 * 0.06 - 0.03
        return Decimal(round(base * (SEASON[first.month - 1] + wobble), -2)).quantize(Decimal("0.01"))

    def agreements(self) -> None:
        t, f = self.t, factories
        all_services = ["payroll", "hr", "leases", "equipment", "marketing", "scheduling", "billing", "it"]
        vasquez = f.MsaFactory.create(
            tenant=t,
            mso_entity=self.entities[0],
            pc=self.pcs[0],
            title="Management Services Agreement: La Jolla and Del Mar",
            effective_date=self.day(-700),
            end_date=self.day(-700 + 365 * 5),
            signed_on=self.day(-712),
            services=[s for s in all_services if s != "it"],
            fee_basis=FeeBasis.FIXED_MONTHLY,
            fee_amount=Decimal("38000.00"),
            fmv_opinion_date=self.day(-395),
            fmv_appraiser="Pacific Valuation Advisors",
            fmv_low=Decimal("34000.00"),
            fmv_high=Decimal("42000.00"),
        )
        laguna = f.MsaFactory.create(
            tenant=t,
            mso_entity=self.entities[0],
            pc=self.pcs[1],
            title="Management Services Agreement: Laguna Beach",
            effective_date=self.day(-680),
            end_date=self.day(-680 + 365 * 4),
            signed_on=self.day(-690),
            services=all_services,
            fee_basis=FeeBasis.FIXED_MONTHLY,
            fee_amount=Decimal("30000.00"),
            fmv_opinion_date=self.day(-600),
            fmv_appraiser="Harbor Health Valuation LLC",
            fmv_low=Decimal("26000.00"),
            fmv_high=Decimal("34000.00"),
            non_clinical_role_clause=False,  # MSA-002 (deliberate)
        )
        oc = f.MsaFactory.create(
            tenant=t,
            mso_entity=self.entities[1],
            pc=self.pcs[1],
            title="Management Services Agreement: Newport Beach",
            effective_date=self.day(-LOCATIONS[3][5] - 10),
            end_date=self.day(-LOCATIONS[3][5] - 10 + 365 * 5),
            signed_on=self.day(-LOCATIONS[3][5] - 25),
            services=all_services,
            # MSA-003/MSA-004 (deliberate): a share of collections with no FMV opinion or counsel review.
            fee_basis=FeeBasis.PERCENT_OF_COLLECTIONS,
            fee_amount=None,
            fee_rate_percent=Decimal("8.00"),
            fmv_opinion_date=None,
            fmv_appraiser="",
            fmv_low=None,
            fmv_high=None,
        )
        standards = (
            ("Payroll for PC staff run on schedule", "100% of pay dates"),
            ("Claims and patient statements sent within 3 business days", "95%"),
            ("Front-desk calls answered within 30 seconds", "90%"),
        )
        for msa in (vasquez, laguna, oc):
            for metric, target in standards:
                f.PerformanceStandardFactory.create(tenant=t, msa=msa, metric=metric, target=target)
        # The Vasquez MSA's one amendment changes the scope, not the fee (so FEE-003 stays open).
        vasquez_amendment = f.MsaAmendmentFactory.create(
            tenant=t,
            msa=vasquez,
            number=1,
            effective_date=month_start(self.today, 7),
            signed_on=month_start(self.today, 7) - dt.timedelta(days=12),
            summary="Adds IT services (help desk, EHR administration) to the scope; the fee is unchanged.",
        )
        f.MsaAmendmentFactory.create(
            tenant=t,
            msa=laguna,
            number=1,
            effective_date=self.day(-300),
            signed_on=self.day(-310),
            summary="Extends the termination notice to 120 days.",
        )
        for back in range(12, 0, -1):
            first = month_start(self.today, back)
            # FEE-003 (deliberate): $41,500 for the last four months, no amendment; FEE-001: one odd invoice.
            amount = Decimal("41500.00") if back <= 4 else Decimal("38000.00")
            if back == 9:
                amount = Decimal("43800.00")
            self.invoice(vasquez, "GCM-V", first, amount, paid=back > 1)
            # FEE-002 (deliberate): "fixed" $30,000, invoiced as 17% of the PC's collections.
            share = (self.collections(1, back) * Decimal("0.17")).quantize(Decimal("0.01"))
            self.invoice(laguna, "GCM-L", first, share, paid=back > 1)
            if first >= oc.effective_date.replace(day=1):
                eight = (self.collections(1, back) * Decimal("0.08")).quantize(Decimal("0.01"))
                self.invoice(oc, "GCOC", first, eight, paid=back > 1)
        self.invoice(vasquez, "GCM-V", month_start(self.today), Decimal("41500.00"), paid=False, draft=True)
        for index in range(2):
            for back in range(1, 13):  # closed months: a month's collections are booked after it ends
                f.PcCollectionFactory.create(
                    tenant=t,
                    pc=self.pcs[index],
                    month=month_start(self.today, back),
                    amount=self.collections(index, back),
                    source="entered" if back == 1 else "imported",
                )

        for msa in (vasquez, laguna, oc):
            self.document(msa, None)
        self.document(vasquez, vasquez_amendment)

    def document(self, msa: ManagementServicesAgreement, amendment: MsaAmendment | None) -> None:
        """The signed copy of an MSA (or of one of its amendments), as the MSO would upload it."""
        what = f"Amendment {amendment.number} to the {msa.title}" if amendment else msa.title
        signed = amendment.signed_on if amendment else msa.signed_on
        content = signed_copy_pdf(
            [
                what,
                f"Between {msa.mso_entity.legal_name} (manager) and {msa.pc.legal_name} (the PC).",
                f"Signed by both parties on {signed:%B %d, %Y}.",
                "Signed copy kept by the MSO (demo data).",
            ]
        )
        stem = f"{msa.title.split(': ')[-1]} MSA".lower().replace(" ", "-")
        AgreementDocument.objects.create(
            tenant=self.t,
            msa=msa,
            amendment=amendment,
            filename=f"{stem}{f'-amendment-{amendment.number}' if amendment else ''}-signed.pdf",
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
        )

    def invoice(
        self,
        msa: ManagementServicesAgreement,
        prefix: str,
        first: dt.date,
        amount: Decimal,
        *,
        paid: bool,
        draft: bool = False,
    ) -> ManagementFeeInvoice:
        status = ManagementFeeInvoice.Status
        invoice = factories.ManagementFeeInvoiceFactory.create(
            tenant=self.t,
            msa=msa,
            number=f"{prefix}-{first:%Y%m}",
            period_start=first,
            period_end=month_end(first),
            amount=amount,
            issued_on=None if draft else month_end(first) + dt.timedelta(days=1),
            due_on=None if draft else month_end(first) + dt.timedelta(days=31),
            status=status.DRAFT if draft else status.PAID if paid else status.ISSUED,
        )
        if paid:
            factories.FeePaymentFactory.create(
                tenant=self.t,
                invoice=invoice,
                paid_on=month_end(first) + dt.timedelta(days=18),
                amount=amount,
                reference=f"ACH {prefix}-{first:%Y%m}",
            )
        return invoice

    # --- vendors, staff, providers --------------------------------------------------------------

    def workforce(self) -> None:
        t, f = self.t, factories
        fee = Vendor.FeeBasis
        vendors = (  # (name, service, handles PHI, fee basis, amount, BAA signed days ago or None)
            ("CloudChart EHR Inc.", "Electronic health records", True, fee.FLAT, "1850.00", 620),
            ("PayRight Medical Billing", "Patient billing and collections", True, fee.FLAT, "2400.00", 540),
            ("Coastal IT Services", "IT support and backups", True, fee.HOURLY, "125.00", 410),
            (
                "SnapBook Scheduling Inc.",
                "Online booking and reminders",
                True,
                fee.FLAT,
                "399.00",
                None,
            ),  # BAA-001
            ("LeadSpark Media", "Paid social advertising", False, fee.PER_LEAD, "45.00", None),  # FEE-004
            ("Stericycle", "Medical waste hauling", False, fee.FLAT, "310.00", None),
            ("Laser Service West", "Laser and IPL maintenance", False, fee.FLAT, "950.00", None),
        )
        for name, service, phi, basis, amount, baa in vendors:
            vendor = f.VendorFactory.create(
                tenant=t,
                name=name,
                service=service,
                handles_phi=phi,
                fee_basis=basis,
                fee_amount=Decimal(amount),
            )
            if baa is not None:
                f.BusinessAssociateAgreementFactory.create(
                    tenant=t,
                    vendor=vendor,
                    signed_on=self.day(-baa),
                    document_reference=f"BAA-{name[:4].upper()}",
                )
        staff = (  # (name, title, location index or None, employer, hired days ago, exposure risk)
            ("Lauren Mitchell", "Spa manager", 0, 0, 1200, False),
            ("Diego Hernandez", "Front desk coordinator", 0, 0, 420, False),
            ("Hannah Cole", "Front desk coordinator", 1, 0, 610, False),
            ("Rachel Kim", "Spa manager", 2, 0, 650, False),
            ("Tyler Nguyen", "Front desk coordinator", 2, 0, 150, False),  # HIP-002 (deliberate)
            ("Brianna Lopez", "Spa manager", 3, 1, 95, False),
            ("Connor Walsh", "Treatment-room attendant", 1, 0, 380, True),
            ("Jasmine Wright", "Marketing coordinator", None, 0, 800, False),
        )
        kind = TrainingRecord.Kind
        for name, title, location, employer, hired, exposure in staff:
            member = f.StaffMemberFactory.create(
                tenant=t,
                employer=self.entities[employer],
                location=self.locations[location] if location is not None else None,
                full_name=name,
                job_title=title,
                hired_on=self.day(-hired),
                exposure_risk=exposure,
            )
            kinds = [kind.BLOODBORNE_PATHOGENS] if exposure else []
            # HIP-002 (deliberate): Tyler Nguyen has injury-prevention training but no HIPAA training.
            kinds += [kind.IIPP] if name == "Tyler Nguyen" else [kind.HIPAA]
            for training in kinds:
                # At hire, then yearly.
                done = self.day(-hired + 2)
                while done <= self.today:
                    f.TrainingRecordFactory.create(
                        tenant=t, staff_member=member, kind=training, completed_on=done
                    )
                    done += dt.timedelta(days=360)
        members = self.members
        lt = LicenseType
        # (key, pc, name, license, number, expires in days, extra fields, membership)
        providers: tuple[tuple[str, int, str, str, str, int, dict[str, Any], Membership | None], ...] = (
            (
                "vasquez",
                0,
                "Dr. Elena Vasquez",
                lt.MD,
                "A112233",
                520,
                {"cures_expires_on": self.day(240)},
                members[("dr.vasquez@goldencoast.example", "pc_physician")],
            ),
            (
                "nina",
                0,
                "Nina Brooks",
                lt.RN,
                "95512877",
                300,
                {},
                members[("nurse@goldencoast.example", "clinician")],
            ),
            ("kelsey", 0, "Kelsey Tran", lt.RN, "95620341", 20, {}, None),  # LIC-002 (deliberate)
            (
                "sofia",
                0,
                "Sofia Alvarez",
                lt.NP,
                "95023118",
                610,
                {"np_furnishing_number": "95012", "np_furnishing_expires_on": self.day(430)},
                None,
            ),
            (
                "okafor",
                1,
                "Dr. James Okafor",
                lt.MD,
                "G087412",
                660,
                {"cures_expires_on": self.day(310)},
                members[("dr.okafor@goldencoast.example", "pc_physician")],
            ),
            (
                "rosa",
                1,
                "Rosa Delgado",
                lt.RN,
                "95377902",
                380,
                {},
                members[("rosa.delgado@goldencoast.example", "clinician")],
            ),
            # LIC-001/LIC-003 (deliberate): lapsed 12 days ago, still on the schedule.
            (
                "jamie",
                1,
                "Jamie Ortiz",
                lt.NP,
                "95199423",
                -12,
                {
                    "license_status": LicenseStatus.EXPIRED,
                    "np_furnishing_number": "95044",
                    "np_furnishing_expires_on": self.day(200),
                },
                None,
            ),
            (
                "ethan",
                1,
                "Ethan Park",
                lt.PA,
                "PA61234",
                480,
                {
                    "pa_practice_agreement_signed_on": self.day(-330),
                    "pa_practice_agreement_expires_on": self.day(400),
                },
                None,
            ),
        )
        self.providers: dict[str, Provider] = {}
        for key, pc, name, license_type, number, expires, extra, membership in providers:
            self.providers[key] = f.ProviderFactory.create(
                tenant=t,
                pc=self.pcs[pc],
                membership=membership,
                full_name=name,
                email=f"{key}@goldencoast.example",
                license_type=license_type,
                license_number=number,
                license_expires_on=self.day(expires),
                **extra,
            )

    # --- front desk -------------------------------------------------------------------------------

    def front_desk(self) -> None:
        t = self.t
        clients: list[Client] = []
        by_location: dict[int, list[Client]] = {i: [] for i in range(len(self.locations))}
        people: list[tuple[str, dt.date | None, int]] = [
            (name, born, home) for _, name, born, _, home in CHARTS
        ]
        people += [(name, None, home) for home, names in enumerate(CLIENT_NAMES) for name in names]
        for index, (name, born, home) in enumerate(people):
            first, last = name.split(" ", 1)
            client = Client(
                tenant=t,
                home_location=self.locations[home],
                full_name=name,
                email=f"{first}.{last}".lower().replace(" ", "") + "@mail.example",
                phone=f"+1 {('858', '858', '949', '949')[home]} 555 {1000 + index:04d}",
                date_of_birth=born,
                lead_source=LEAD_SOURCES[index % len(LEAD_SOURCES)],
                marketing_opt_in=index % 3 != 0,
            )
            clients.append(client)
            by_location[home].append(client)
        Client.objects.bulk_create(clients)
        self.clients = {c.full_name: c for c in clients}

        p = self.providers
        # Who works where, and what they book (within their scope of practice).
        staffing = {
            0: [
                (p["vasquez"], [Procedure.DERMAL_FILLER, Procedure.NEUROTOXIN, Procedure.CONSULTATION]),
                (p["nina"], [Procedure.NEUROTOXIN, Procedure.LASER_HAIR_REMOVAL, Procedure.IPL_PHOTOFACIAL]),
                (p["sofia"], [Procedure.DERMAL_FILLER, Procedure.NEUROTOXIN]),
            ],
            1: [
                (p["kelsey"], [Procedure.NEUROTOXIN, Procedure.LASER_HAIR_REMOVAL, Procedure.MICRONEEDLING]),
                (p["sofia"], [Procedure.DERMAL_FILLER, Procedure.CONSULTATION]),
            ],
            2: [
                (p["okafor"], [Procedure.DERMAL_FILLER, Procedure.NEUROTOXIN, Procedure.IPL_PHOTOFACIAL]),
                (p["rosa"], [Procedure.NEUROTOXIN, Procedure.CONSULTATION]),
                (p["ethan"], [Procedure.NEUROTOXIN, Procedure.DERMAL_FILLER]),
            ],
            3: [
                (p["jamie"], [Procedure.NEUROTOXIN, Procedure.DERMAL_FILLER]),
                (p["okafor"], [Procedure.CONSULTATION, Procedure.NEUROTOXIN]),
            ],
        }
        this_week = self.today - dt.timedelta(days=self.today.weekday())
        taken: set[tuple[Any, dt.date, int]] = set()
        appointments: list[Appointment] = []
        for index, location in enumerate(self.locations):
            for week in range(-7, 5):
                monday = this_week + dt.timedelta(weeks=week)
                busy = 10 + index % 2 * 2 if week <= 0 else max(3, 10 - 2 * week)
                for _ in range(self.rng.randint(busy - 2, busy + 2)):
                    provider, services = self.rng.choice(staffing[index])
                    day = monday + dt.timedelta(days=self.rng.randint(0, 5))
                    hour = self.rng.randint(9, 17)
                    # Nobody is booked on a day their license has lapsed (but for the deliberate one below).
                    if (provider.pk, day, hour) in taken or day >= provider.license_expires_on:
                        continue
                    taken.add((provider.pk, day, hour))
                    starts = self.at(day, hour)
                    appointments.append(
                        Appointment(
                            tenant=t,
                            client=self.rng.choice(by_location[index]),
                            location=location,
                            service=self.rng.choice(services),
                            provider=provider,
                            starts_at=starts,
                            ends_at=starts + dt.timedelta(minutes=45),
                            status=self.status_for(starts),
                        )
                    )
        # LIC-003 (deliberate): Jamie Ortiz's license lapsed; still booked at Newport Beach in 5 days.
        lapsed_visit = self.at(self.day(5), 11)
        appointments.append(
            Appointment(
                tenant=t,
                client=by_location[3][0],
                location=self.locations[3],
                service=Procedure.NEUROTOXIN,
                provider=p["jamie"],
                starts_at=lapsed_visit,
                ends_at=lapsed_visit + dt.timedelta(minutes=45),
                status=Appointment.Status.CONFIRMED,
            )
        )
        Appointment.objects.bulk_create(appointments)

        payments: list[PatientPayment] = []
        deposits = {
            i: self.accounts[(loc.pc_id, BankAccount.Purpose.PATIENT_DEPOSITS)]
            for i, loc in enumerate(self.locations)
        }
        index_of = {loc.pk: i for i, loc in enumerate(self.locations)}
        for appointment in appointments:
            low, high = PRICES.get(Procedure(appointment.service), (0, 0))
            if appointment.status != Appointment.Status.COMPLETED or not high:
                continue
            payments.append(
                PatientPayment(
                    tenant=t,
                    location=appointment.location,
                    client=appointment.client,
                    appointment=appointment,
                    received_on=timezone.localdate(appointment.starts_at),
                    amount=Decimal(self.rng.randrange(low, high, 10)),
                    kind=PatientPayment.Kind.MEDICAL_SERVICE,
                    method=self.rng.choice(
                        [PatientPayment.Method.CARD] * 5 + [PatientPayment.Method.FINANCING]
                    ),
                    deposited_to=deposits[index_of[appointment.location_id]],
                )
            )
        mso_operating = self.accounts[(self.entities[0].pk, BankAccount.Purpose.OPERATING)]
        for days, amount, spa in ((9, "86.00", 0), (16, "124.00", 1)):
            # Retail skincare sold by the MSO: legitimately its revenue (SEP-002 concerns medical services).
            payments.append(
                PatientPayment(
                    tenant=t,
                    location=self.locations[spa],
                    client=by_location[spa][1],
                    received_on=self.day(-days),
                    amount=Decimal(amount),
                    kind=PatientPayment.Kind.RETAIL_PRODUCT,
                    deposited_to=mso_operating,
                )
            )
        # SEP-002 (deliberate): a neurotoxin visit at Laguna Beach paid into the MSO's operating account.
        payments.append(
            PatientPayment(
                tenant=t,
                location=self.locations[2],
                client=by_location[2][2],
                received_on=self.day(-11),
                amount=Decimal("560.00"),
                kind=PatientPayment.Kind.MEDICAL_SERVICE,
                deposited_to=mso_operating,
            )
        )
        PatientPayment.objects.bulk_create(payments)

    def status_for(self, starts: dt.datetime) -> str:
        s = Appointment.Status
        if starts > self.now:
            return (
                s.CONFIRMED
                if starts - self.now < dt.timedelta(days=7) and self.rng.random() < 0.6
                else s.BOOKED
            )
        roll = self.rng.random()
        return s.COMPLETED if roll < 0.84 else s.CANCELLED if roll < 0.93 else s.NO_SHOW

    # --- marketing and consent forms (drafted by the MSO, decided by a PC physician) -------------

    def decide(
        self, item: PhysicianReviewed, decision: str, physician: User, when: dt.datetime, note: str = ""
    ) -> PhysicianDecision:
        """A physician's decision as the decision service records it (run as the owner, like
        tests.domain_world.approve_as_owner): the clinical record with its snapshot, and the mirror."""
        from clinical.selectors.decisions import content_snapshot

        item.refresh_from_db()
        record = PhysicianDecision.objects.create(
            tenant=self.t,
            pc_id=item.pc_id,
            marketing_asset=item if isinstance(item, MarketingAsset) else None,
            consent_form_draft=item if isinstance(item, ConsentFormDraft) else None,
            decision=decision,
            content_hash=item.content_hash,
            revision=item.revision,
            snapshot=content_snapshot(item),
            note=note,
            decided_by=physician,
            decided_at=when,
        )
        type(item).objects.filter(pk=item.pk).update(
            decision=decision,
            decision_hash=item.content_hash,
            decision_note=note,
            decided_at=when,
            decided_by=physician,
        )
        item.refresh_from_db()
        return record

    def submit(self, item: PhysicianReviewed, by: User, when: dt.datetime) -> None:
        type(item).objects.filter(pk=item.pk).update(
            state=ReviewState.SUBMITTED, submitted_by=by, submitted_at=when
        )
        item.refresh_from_db()

    def edit(self, item: PhysicianReviewed, by: User, when: dt.datetime, **content: Any) -> None:
        """An MSO edit of submitted content: a new revision, back in the physician's queue."""
        type(item).objects.filter(pk=item.pk).update(
            **content,
            revision=item.revision + 1,
            state=ReviewState.SUBMITTED,
            submitted_by=by,
            submitted_at=when,
        )
        item.refresh_from_db()

    def reviewed_content(self) -> None:
        from management.services.marketing import images_digest

        t, f = self.t, factories
        stock = MarketingImage.Kind.STOCK
        # (pc, title, channel, location, body, images, story); story says what happened to it.
        assets: tuple[tuple[int, str, str, int | None, str, list[tuple[str, str, str]], str], ...] = (
            (
                0,
                "Spring neurotoxin refresh",
                MarketingAsset.Channel.INSTAGRAM,
                0,
                "Soften forehead and frown lines with neurotoxin, given by our nurse injectors under the "
                "supervision of Dr. Elena Vasquez. Results vary; a consultation is required.",
                [("Treatment room at La Jolla", stock, "")],
                "published",
            ),
            (
                0,
                "Real results: lip filler",
                MarketingAsset.Channel.WEBSITE,
                0,
                '"I finally feel like myself again." Avery, 36. Individual results vary; Avery paid the '
                "regular price for her treatment.",
                [
                    (
                        "Before and after: lips, two weeks apart",
                        MarketingImage.Kind.BEFORE_AFTER_PATIENT,
                        "Dermal filler (lips), 1 syringe",
                    )
                ],
                "published_testimonial",
            ),
            (
                0,
                "Summer glow IPL special",
                MarketingAsset.Channel.EMAIL,
                1,
                "Even out sun spots and redness with an IPL photofacial series at Del Mar. Three sessions, "
                "four weeks apart; results vary. Book a consultation.",
                [("IPL handpiece close-up", stock, "")],
                "edited_after_approval",
            ),
            (
                0,
                "Laser hair removal package",
                MarketingAsset.Channel.FACEBOOK,
                0,
                "Six laser hair removal sessions for the price of five, performed under physician "
                "supervision. Consultation and patch test required; results vary by skin and hair type.",
                [],
                "submitted",
            ),
            (
                0,
                "Microneedling launch email",
                MarketingAsset.Channel.EMAIL,
                1,
                "Introducing microneedling at Del Mar: collagen induction for texture and fine lines.",
                [],
                "draft",
            ),
            (
                0,
                "Best injector in San Diego",
                MarketingAsset.Channel.GOOGLE_ADS,
                None,
                "The best Botox in San Diego, guaranteed results with zero downtime.",
                [],
                "rejected",
            ),
            (
                0,
                "Holiday gift cards",
                MarketingAsset.Channel.PRINT,
                None,
                "Give the gift of glow: $100 off any treatment package.",
                [("Gift card mock-up", stock, "")],
                "changes_requested",
            ),
            (
                0,
                "Winter skin event",
                MarketingAsset.Channel.INSTAGRAM,
                0,
                "Join us for an evening of skincare talks and demos at La Jolla.",
                [],
                "withdrawn",
            ),
            (
                1,
                "Laguna Beach reopening",
                MarketingAsset.Channel.INSTAGRAM,
                2,
                "Our Laguna Beach spa has reopened after its remodel. Neurotoxin, fillers and IPL by our "
                "licensed team under the supervision of Dr. James Okafor. Results vary.",
                [("Remodeled lobby", stock, "")],
                "approved",
            ),
            (
                1,
                "Newport Beach opening week",
                MarketingAsset.Channel.WEBSITE,
                3,
                "Now open at Newport Center: consultations with our nurse practitioners and physician.",
                [("Newport Beach storefront", stock, "")],
                "submitted",
            ),
        )
        physicians = (self.vasquez, self.okafor)
        avery = self.clients["Avery Lindqvist"]
        for number, (pc, title, channel, location, body, images, story) in enumerate(assets):
            author = self.staff if pc == 0 else self.admin
            created = self.ago(60 - 4 * number)
            asset = f.MarketingAssetFactory.create(
                tenant=t,
                pc=self.pcs[pc],
                title=title,
                body=body,
                channel=channel,
                location=self.locations[location] if location is not None else None,
                brand_name=TRADE_NAME,
                is_testimonial=story == "published_testimonial",
                testimonial_disclosure="Real patient; paid the regular price; results vary."
                if story == "published_testimonial"
                else "",
                created_by=author,
            )
            rows = [
                f.MarketingImageFactory.create(
                    tenant=t,
                    asset=asset,
                    description=description,
                    kind=kind,
                    procedures_shown=shown,
                    client=avery if kind == MarketingImage.Kind.BEFORE_AFTER_PATIENT else None,
                )
                for description, kind, shown in images
            ]
            if rows:
                MarketingAsset.objects.filter(pk=asset.pk).update(images_digest=images_digest(rows))
            physician = physicians[pc]
            if story == "draft":
                continue
            self.submit(asset, author, created + dt.timedelta(hours=3))
            decided = created + dt.timedelta(days=2)
            if story in ("published", "published_testimonial", "approved", "edited_after_approval"):
                self.decide(asset, Decision.APPROVED, physician, decided)
            elif story == "rejected":
                self.decide(
                    asset,
                    Decision.REJECTED,
                    physician,
                    decided,
                    "Superlatives and guaranteed results are not allowed (B&P 651).",
                )
            elif story == "changes_requested":
                self.decide(
                    asset,
                    Decision.CHANGES_REQUESTED,
                    physician,
                    decided,
                    "State the terms of the $100 offer (which packages, until when).",
                )
            elif story == "withdrawn":
                MarketingAsset.objects.filter(pk=asset.pk).update(state=ReviewState.WITHDRAWN)
            if story.startswith("published"):
                MarketingAsset.objects.filter(pk=asset.pk).update(
                    state=ReviewState.PUBLISHED,
                    published_at=decided + dt.timedelta(hours=5),
                    published_by=self.admin,
                )
            if story == "edited_after_approval":
                # ADV-001 (deliberate): the MSO changed the approved text; the approval no longer applies.
                self.edit(
                    asset,
                    self.staff,
                    decided + dt.timedelta(days=3),
                    body="Erase sun spots for good with our painless IPL photofacial, no downtime! Three "
                    "sessions at Del Mar. Book now.",
                )

        # Consent forms: an approved, numbered version per PC and procedure used (neurotoxin twice).
        texts = {
            Procedure.NEUROTOXIN: "I consent to treatment with botulinum toxin type A. Risks include "
            "bruising, headache, asymmetry and eyelid drooping. Results last about three to four months.",
            Procedure.DERMAL_FILLER: "I consent to hyaluronic-acid filler injection. Risks include "
            "swelling, bruising, lumps, infection and, rarely, blocked vessels that harm skin or vision.",
            Procedure.LASER_HAIR_REMOVAL: "I consent to laser hair removal. Risks include redness, "
            "blistering, pigment change and burns; several sessions are needed and results vary.",
            Procedure.IPL_PHOTOFACIAL: "I consent to intense pulsed light treatment. Risks include redness, "
            "swelling, darkening of spots before they fade, blistering and pigment change.",
        }
        titles = {
            Procedure.NEUROTOXIN: "Consent to neurotoxin injection",
            Procedure.DERMAL_FILLER: "Consent to dermal filler injection",
            Procedure.LASER_HAIR_REMOVAL: "Consent to laser hair removal",
            Procedure.IPL_PHOTOFACIAL: "Consent to IPL photofacial",
            Procedure.MICRONEEDLING: "Consent to microneedling",
            Procedure.MEDICAL_PEEL: "Consent to a medical-grade chemical peel",
        }
        self.versions: dict[tuple[int, str], ConsentFormVersion] = {}
        plan = (
            (0, Procedure.NEUROTOXIN, 330),
            (0, Procedure.DERMAL_FILLER, 320),
            (0, Procedure.LASER_HAIR_REMOVAL, 310),
            (0, Procedure.IPL_PHOTOFACIAL, 305),
            (1, Procedure.NEUROTOXIN, 300),
            (1, Procedure.DERMAL_FILLER, 295),
            (1, Procedure.LASER_HAIR_REMOVAL, 290),
        )
        for pc, procedure, days in plan:
            draft = f.ConsentFormDraftFactory.create(
                tenant=t,
                pc=self.pcs[pc],
                title=titles[procedure],
                body=texts[procedure],
                procedure=procedure,
                created_by=self.staff if pc == 0 else self.admin,
            )
            self.submit(draft, draft.created_by, self.ago(days))
            self.approve_consent(pc, draft, physicians[pc], self.ago(days - 2))
            if (pc, procedure) == (0, Procedure.NEUROTOXIN):
                # Revised after counsel's review: version 2 supersedes version 1 before anyone signed.
                self.edit(
                    draft,
                    self.staff,
                    self.ago(days - 60),
                    body=texts[procedure] + " I have told my provider about any neuromuscular condition, "
                    "pregnancy or breastfeeding.",
                )
                self.approve_consent(pc, draft, physicians[pc], self.ago(days - 62))
        pending = (  # consent drafts still in the workflow
            (1, Procedure.IPL_PHOTOFACIAL, "submitted", ""),
            (0, Procedure.MICRONEEDLING, "draft", ""),
            (0, Procedure.MEDICAL_PEEL, "changes_requested", "Add the risk of scarring and of cold sores."),
        )
        for pc, procedure, story, note in pending:
            draft = f.ConsentFormDraftFactory.create(
                tenant=t,
                pc=self.pcs[pc],
                title=titles[procedure],
                body=f"I consent to {Procedure(procedure).label.lower()}. Risks include redness, "
                "swelling and pigment change; results vary.",
                procedure=procedure,
                created_by=self.staff if pc == 0 else self.admin,
            )
            if story == "draft":
                continue
            self.submit(draft, draft.created_by, self.ago(6))
            if story == "changes_requested":
                self.decide(draft, Decision.CHANGES_REQUESTED, physicians[pc], self.ago(4), note)

    def approve_consent(self, pc: int, draft: ConsentFormDraft, physician: User, when: dt.datetime) -> None:
        record = self.decide(draft, Decision.APPROVED, physician, when)
        key = (pc, draft.procedure)
        previous = self.versions.get(key)
        if previous is not None:
            ConsentFormVersion.objects.filter(pk=previous.pk).update(superseded_at=when)
        self.versions[key] = factories.ConsentFormVersionFactory.create(
            tenant=self.t,
            pc=self.pcs[pc],
            draft=draft,
            decision=record,
            procedure=draft.procedure,
            number=previous.number + 1 if previous else 1,
            title=draft.title,
            body=draft.body,
            content_hash=draft.content_hash,
            approved_by=physician,
            approved_at=when,
        )

    # --- clinical -------------------------------------------------------------------------------

    def clinical(self) -> None:
        from clinical.services.scope import scope_rules_seed

        t, f, p = self.t, factories, self.providers
        scope_rules_seed(tenant=t, state="CA")
        charts: dict[str, PatientChart] = {}
        for mrn, patient, born, allergies, home in CHARTS:
            location = self.locations[home]
            charts[patient] = f.PatientChartFactory.create(
                tenant=t,
                pc=location.pc,
                home_location=location,
                client=self.clients[patient],
                medical_record_number=mrn,
                patient_name=patient,
                date_of_birth=born,
                allergies=allergies,
            )
        # Protocols: RN/NP standardized procedures and laser protocols, signed by supervisor and staff ...
        self.protocol(
            0,
            Protocol.Kind.STANDARDIZED_PROCEDURE,
            "Standardized procedure: injectables and microneedling (RN)",
            p["vasquez"],
            [Procedure.NEUROTOXIN, Procedure.DERMAL_FILLER, Procedure.MICRONEEDLING],
            [p["nina"], p["kelsey"]],
            signed=True,
        )
        self.protocol(
            0,
            Protocol.Kind.LASER_PROTOCOL,
            "Laser and IPL protocol: La Jolla and Del Mar",
            p["vasquez"],
            [Procedure.LASER_HAIR_REMOVAL, Procedure.IPL_PHOTOFACIAL],
            [p["nina"], p["kelsey"]],
            signed=True,
        )
        self.protocol(
            0,
            Protocol.Kind.STANDARDIZED_PROCEDURE,
            "Standardized procedure: NP furnishing and injectables",
            p["vasquez"],
            [Procedure.NEUROTOXIN, Procedure.DERMAL_FILLER],
            [p["sofia"]],
            signed=True,
        )
        self.protocol(
            1,
            Protocol.Kind.STANDARDIZED_PROCEDURE,
            "Standardized procedure: neurotoxin (RN), Laguna Beach",
            p["okafor"],
            [Procedure.NEUROTOXIN],
            [p["rosa"]],
            signed=True,
        )
        self.protocol(
            1,
            Protocol.Kind.STANDARDIZED_PROCEDURE,
            "Standardized procedure: NP injectables, Newport Beach",
            p["okafor"],
            [Procedure.NEUROTOXIN, Procedure.DERMAL_FILLER],
            [p["jamie"]],
            signed=True,
        )
        self.protocol(
            1,
            Protocol.Kind.PRACTICE_AGREEMENT,
            "Practice agreement: Ethan Park, PA",
            p["okafor"],
            [Procedure.NEUROTOXIN, Procedure.DERMAL_FILLER],
            [p["ethan"]],
            signed=True,
        )
        # ... and one nobody has signed yet (DEL-002, deliberate: Rosa worked under it anyway).
        self.protocol(
            1,
            Protocol.Kind.LASER_PROTOCOL,
            "Laser hair removal protocol: Laguna Beach (draft)",
            p["okafor"],
            [Procedure.LASER_HAIR_REMOVAL],
            [p["rosa"]],
            signed=False,
        )

        # Good-faith exams by a physician or NP of the chart's PC (none for Camila: GFE-001).
        examiner = {0: p["vasquez"], 1: p["okafor"]}
        exams: dict[str, GoodFaithExam] = {}
        for _, patient, _, _, home in CHARTS:
            if patient == "Camila Ferreira":
                continue
            pc = LOCATIONS[home][3]
            by = p["sofia"] if patient in ("Mateo Rossi", "Grace Whitman") else examiner[pc]
            days = 150 if home < 3 else 60
            exams[patient] = f.GoodFaithExamFactory.create(
                tenant=t,
                chart=charts[patient],
                examiner=by,
                examined_on=self.day(-days),
                medical_indication="Dynamic facial lines and sun damage; no contraindications; "
                "medications and allergies reviewed.",
                approved_procedures=[
                    Procedure.NEUROTOXIN,
                    Procedure.DERMAL_FILLER,
                    Procedure.LASER_HAIR_REMOVAL,
                    Procedure.IPL_PHOTOFACIAL,
                ],
                valid_until=self.day(-days + 365),
            )

        # (patient, procedure, performer, supervisor, days ago, chart's location index)
        treatments = (
            ("Avery Lindqvist", Procedure.DERMAL_FILLER, "vasquez", None, 120),
            ("Avery Lindqvist", Procedure.NEUROTOXIN, "nina", "vasquez", 30),
            ("Jordan Matsuda", Procedure.NEUROTOXIN, "nina", "vasquez", 75),
            ("Jordan Matsuda", Procedure.LASER_HAIR_REMOVAL, "nina", "vasquez", 18),
            ("Camila Ferreira", Procedure.NEUROTOXIN, "nina", "vasquez", 22),  # GFE-001 (deliberate)
            ("Harper Quinn", Procedure.IPL_PHOTOFACIAL, "kelsey", "vasquez", 44),
            ("Mateo Rossi", Procedure.NEUROTOXIN, "kelsey", "vasquez", 60),
            ("Grace Whitman", Procedure.DERMAL_FILLER, "sofia", "vasquez", 6),  # CHT-001 (deliberate)
            ("Noah Whitaker", Procedure.NEUROTOXIN, "rosa", "okafor", 50),
            ("Leila Haddad", Procedure.DERMAL_FILLER, "ethan", "okafor", 35),
            ("Sienna Marsh", Procedure.LASER_HAIR_REMOVAL, "rosa", "okafor", 14),  # DEL-002 (deliberate)
            ("Owen Castillo", Procedure.NEUROTOXIN, "jamie", "okafor", 40),
            ("Maya Fischer", Procedure.DERMAL_FILLER, "okafor", None, 25),
        )
        products = {
            Procedure.NEUROTOXIN: ("Botox Cosmetic 100U", Decimal("24"), "units"),
            Procedure.DERMAL_FILLER: ("Juvederm Volbella XC 0.55 mL", Decimal("1"), "syringe"),
        }
        witness = {0: self.nina, 1: self.rosa}
        first_treatment: Treatment | None = None
        for index, (patient, procedure, performer, supervisor, days) in enumerate(treatments):
            chart = charts[patient]
            pc = 0 if chart.pc_id == self.pcs[0].pk else 1
            performed = self.ago(days, hour=10 + index % 6)
            consent = f.SignedConsentFactory.create(
                tenant=t,
                chart=chart,
                form_version=self.versions[(pc, procedure)],
                signed_at=performed - dt.timedelta(minutes=20),
                signer_name=patient,
                witnessed_by=witness[pc],
            )
            uncharted = patient == "Grace Whitman"
            treatment = f.TreatmentFactory.create(
                tenant=t,
                chart=chart,
                location=chart.home_location,
                procedure=procedure,
                performer=p[performer],
                supervisor=p[supervisor] if supervisor else None,
                performed_at=performed,
                good_faith_exam=exams.get(patient),
                consent=consent,
                notes="" if uncharted else self.note_for(procedure),
                charted_at=None if uncharted else performed + dt.timedelta(hours=2 + index % 5),
            )
            first_treatment = first_treatment or treatment
            if procedure in products:
                name, quantity, unit = products[procedure]
                f.TreatmentProductFactory.create(
                    tenant=t,
                    treatment=treatment,
                    product_name=name,
                    lot_number=f"{'C' if procedure == Procedure.NEUROTOXIN else 'V'}{7300 + 17 * index}A",
                    expires_on=self.day(400 - index * 7),
                    quantity=quantity,
                    unit=unit,
                )
        assert first_treatment is not None
        # Avery's lip filler photos are used on the website: her written authorization is on file.
        authorization = f.PhotoAuthorizationFactory.create(
            tenant=t,
            chart=charts["Avery Lindqvist"],
            signed_on=self.day(-118),
            purpose="Before/after photos of lip filler on the practice website and social media",
            expires_on=self.day(-118 + 730),
        )
        for kind, offset, description in (
            ("before", 0, "Lips at rest, frontal, before filler"),
            ("after", 14, "Lips at rest, frontal, two weeks after filler"),
        ):
            f.TreatmentPhotoFactory.create(
                tenant=t,
                treatment=first_treatment,
                kind=kind,
                taken_at=first_treatment.performed_at + dt.timedelta(days=offset),
                description=description,
                used_outside_chart=True,
                authorization=authorization,
            )
        # The medical directors review charts every month (CHT-002 asks for at least 10% of the charts
        # treated that month): the first chart each PC treated in a month is reviewed in that month.
        directors = {self.pcs[0].pk: p["vasquez"], self.pcs[1].pk: p["okafor"]}
        first_of_month: dict[tuple[Any, dt.date], Treatment] = {}
        for treatment in Treatment.objects.filter(tenant=t).select_related("chart").order_by("performed_at"):
            month = month_start(timezone.localdate(treatment.performed_at))
            first_of_month.setdefault((treatment.chart.pc_id, month), treatment)
        for (pc_id, month), treatment in sorted(first_of_month.items(), key=lambda item: item[0][1]):
            f.ChartReviewFactory.create(
                tenant=t,
                chart=treatment.chart,
                reviewer=directors[pc_id],
                reviewed_on=min(
                    max(timezone.localdate(treatment.performed_at), month) + dt.timedelta(days=2),
                    month_end(month),
                    self.day(-1),
                ),
                findings="Documentation complete; dosing within protocol; consent on file.",
            )
        f.AdverseEventFactory.create(
            tenant=t,
            chart=charts["Noah Whitaker"],
            treatment=Treatment.objects.get(chart=charts["Noah Whitaker"]),
            occurred_at=self.ago(49, hour=9),
            severity="mild",
            description="Bruising at two glabellar injection sites.",
            actions_taken="Cold compress and arnica; resolved within a week.",
            physician_notified_at=self.ago(49, hour=11),
        )

    def protocol(
        self,
        pc: int,
        kind: str,
        title: str,
        supervisor: Provider,
        procedures: list[str],
        supervisees: list[Provider],
        *,
        signed: bool,
    ) -> Protocol:
        effective = self.day(-200 if signed else -20)
        protocol = factories.ProtocolFactory.create(
            tenant=self.t,
            pc=self.pcs[pc],
            kind=kind,
            title=title,
            supervisor=supervisor,
            procedures=procedures,
            body=(
                "Scope and setting; patient selection and contraindications; education and informed consent; "
                "topical anesthetics; dosing and technique; complications and emergency management "
                "(including vascular occlusion); supervision level, training and competency checks; "
                "documentation within 72 hours; yearly review."
            ),
            effective_on=effective,
            expires_on=effective + dt.timedelta(days=730),
            reviewed_on=effective if signed else None,
            covers_patient_selection=True,
            covers_education_and_consent=True,
            covers_topical_agents=True,
            covers_complications=True,
            covers_supervision_and_training=True,
            supervisor_signed_at=self.at(effective, 9) if signed else None,
            supervisor_signed_by=supervisor.membership.user if signed and supervisor.membership else None,
        )
        for provider in supervisees:
            factories.ProtocolSuperviseeFactory.create(
                tenant=self.t,
                protocol=protocol,
                provider=provider,
                signed_at=self.at(effective, 15) if signed else None,
            )
        return protocol

    @staticmethod
    def note_for(procedure: str) -> str:
        return {
            Procedure.NEUROTOXIN: "Glabella 20 U, forehead 4 U; 7 points. Tolerated well; aftercare given.",
            Procedure.DERMAL_FILLER: "Lips 1 syringe via cannula, aspiration before each pass; no blanching.",
            Procedure.LASER_HAIR_REMOVAL: "Underarms, 755 nm, 18 J/cm2, 15 ms; test spot fine; cooled.",
            Procedure.IPL_PHOTOFACIAL: "Full face, 560 nm filter, two passes; darkening of spots explained.",
        }.get(Procedure(procedure), "Treatment done per protocol.")


def _label(membership: Membership) -> str:
    label = CAPACITIES[membership.capacity].label
    if membership.license_type:
        label += f", {membership.license_type}"
    if membership.expires_at:
        label += f", until {timezone.localdate(membership.expires_at):%Y-%m-%d}"
    return label


def demo_logins(tenant: Tenant) -> list[DemoLogin]:
    """Everyone with a membership in the demo tenant, in the order of PEOPLE (needs app.tenant_id set)."""
    by_user: dict[str, DemoLogin] = {}
    for m in Membership.objects.filter(tenant=tenant).select_related("user").order_by("created_at", "pk"):
        login = by_user.setdefault(m.user.email, DemoLogin(m.user.email, m.user.full_name, []))
        login.capacities.append(_label(m))
    order = {p.email: i for i, p in enumerate(PEOPLE)}
    return sorted(by_user.values(), key=lambda login: (order.get(login.email, len(order)), login.email))


def seed_demo() -> DemoResult:
    """Create the demo tenant unless it exists; either way return its logins."""
    with transaction.atomic():
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        created = tenant is None
        if tenant is None:
            tenant = tenant_create(slug=DEMO_SLUG, name=DEMO_NAME)
        # The tenant row is in public without RLS; everything else is RLS'd (FORCEd for the owner
        # too, in production where the owner is not a superuser), so scope the transaction to it.
        previous = _set_tenant(str(tenant.pk))
        if created:
            _Seeder(tenant).build()
        logins = demo_logins(tenant)
        # Inside a caller's transaction (tests) leave no tenant behind; a failure rolls it back anyway.
        _set_tenant(previous)
    return DemoResult(tenant=tenant, created=created, password=DEMO_PASSWORD, logins=logins)
