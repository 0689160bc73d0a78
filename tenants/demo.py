"""The demo tenant `./run start` seeds: a small, complete MSO to sign in to and click through.

Golden Coast Aesthetics MSO: one MSO entity, two PCs, three med spas (two served by PC 1, one by
PC 2), a person in every capacity plus an RN who also co-owns the MSO (two capacities), object
grants as in tests/worlds.py, and a few patient charts. Idempotent by slug: when the tenant exists
nothing is written and the logins are read back. Passwords are for the demo only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from management.models import Location, ProfessionalCorporation
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
        {"mso_staff": ((LOC_EDIT, "location", 0),)},
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
        {"pc_physician": ((PC_ALL, "pc", 1), (LOC_VIEW, "location", 2))},
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

LOCATIONS = (  # (name, address, city, index of the PC providing clinical services)
    ("Golden Coast Med Spa La Jolla", "7825 Fay Ave", "La Jolla", 0),
    ("Golden Coast Med Spa Del Mar", "1555 Camino Del Mar", "Del Mar", 0),
    ("Golden Coast Med Spa Laguna Beach", "1100 S Coast Hwy", "Laguna Beach", 1),
)

CHARTS = (  # (MRN, patient, date of birth, allergies, home location index)
    ("GC-000101", "Avery Lindqvist", dt.date(1987, 3, 14), "", 0),
    ("GC-000102", "Jordan Matsuda", dt.date(1979, 11, 2), "Lidocaine", 0),
    ("GC-000103", "Camila Ferreira", dt.date(1992, 6, 27), "", 1),
    ("GC-000201", "Noah Whitaker", dt.date(1984, 8, 9), "Latex", 2),
    ("GC-000202", "Leila Haddad", dt.date(1995, 1, 21), "", 2),
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


def _build(tenant: Tenant) -> None:
    entity = factories.MsoEntityFactory.create(tenant=tenant, legal_name="Golden Coast Management LLC")
    pcs: list[ProfessionalCorporation] = [
        factories.ProfessionalCorporationFactory.create(
            tenant=tenant, legal_name="Elena Vasquez, M.D., Inc."
        ),
        factories.ProfessionalCorporationFactory.create(
            tenant=tenant, legal_name="Okafor Medical Corporation"
        ),
    ]
    locations: list[Location] = [
        factories.LocationFactory.create(
            tenant=tenant, name=name, address=address, city=city, managing_entity=entity, pc=pcs[pc]
        )
        for name, address, city, pc in LOCATIONS
    ]
    for mrn, patient, born, allergies, home in CHARTS:
        factories.PatientChartFactory.create(
            tenant=tenant,
            pc=locations[home].pc,
            home_location=locations[home],
            medical_record_number=mrn,
            patient_name=patient,
            date_of_birth=born,
            allergies=allergies,
        )
    objects: dict[str, list[ProfessionalCorporation] | list[Location]] = {"pc": pcs, "location": locations}
    for person in PEOPLE:
        # A person may already exist (say, from a demo tenant deleted by hand): reuse, don't duplicate.
        user = User.objects.filter(email=person.email).first() or user_create(
            email=person.email, full_name=person.full_name, password=DEMO_PASSWORD
        )
        for capacity, license_type in person.capacities:
            membership = membership_create(
                tenant=tenant,
                user=user,
                capacity=capacity,
                license_type=license_type,
                expires_at=timezone.now() + dt.timedelta(days=AUDITOR_DAYS)
                if capacity == "auditor"
                else None,
            )
            for perms, kind, index in person.grants.get(capacity, ()):
                object_access_grant(membership=membership, obj=objects[kind][index], perms=perms)


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
            _build(tenant)
        logins = demo_logins(tenant)
        # Inside a caller's transaction (tests) leave no tenant behind; a failure rolls it back anyway.
        _set_tenant(previous)
    return DemoResult(tenant=tenant, created=created, password=DEMO_PASSWORD, logins=logins)
