"""The benchmark's data set: two tenants of today's realistic size, built once per bench database.

Each tenant: two MSO entities, 10 PCs, 50 locations (5 per PC), 20,000 patient charts (2,000 per
PC), one person in every capacity, object grants like a real practice (a regional manager, a
medical director of one PC, a clinician working for two PCs). Written through tenants.services
where a service exists and with bulk_create for the bulk rows; the database's audit trigger logs
every inserted row (so a build also writes ~20k audit entries per tenant, hash-chained).

Needs Django set up (bench/load.py does that against the bench database).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connection, transaction
from django.utils import timezone

from clinical.models import PatientChart
from management.models import Location, MsoEntity, ProfessionalCorporation
from tenants.access import AccessContext
from tenants.capacities import CAPACITIES
from tenants.models import ApiKey, Membership, Tenant, User
from tenants.services import (
    api_key_create,
    api_key_revoke,
    membership_create,
    object_access_grant,
    tenant_create,
    user_create,
)

PASSWORD = "bench-load-password-2026"  # noqa: S105 - bench database only
SLUGS = ("bench-a", "bench-b")
LICENSES = {"pc_physician": "MD", "clinician": "NP"}
PC_ALL = [
    "view_professionalcorporation",
    "change_professionalcorporation",
    "approve_marketing",
    "sign_protocol",
]

FIRST = (
    "Avery",
    "Blake",
    "Camila",
    "Diego",
    "Elena",
    "Farah",
    "Gabriel",
    "Hana",
    "Isaac",
    "Jade",
    "Kai",
    "Leila",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Emi",
    "Finn",
    "Gia",
    "Hugo",
    "Iris",
)
LAST = (
    "Lindqvist",
    "Matsuda",
    "Ferreira",
    "Whitaker",
    "Haddad",
    "Okafor",
    "Vasquez",
    "Brooks",
    "Delgado",
    "Carter",
    "Nguyen",
    "Patel",
    "Kim",
    "Rossi",
    "Novak",
    "Ibrahim",
    "Schmidt",
    "Moreau",
    "Silva",
    "Tanaka",
    "Kowalski",
    "Mendez",
    "Reyes",
    "Chen",
    "Osei",
    "Larsen",
    "Fischer",
    "Duarte",
    "Park",
    "Walsh",
    "Hughes",
    "Ortiz",
    "Bianchi",
    "Sato",
    "Yilmaz",
    "Keller",
    "Dubois",
    "Costa",
    "Lopez",
    "Ahmed",
)
CHART_BATCH = 2000
ALLERGIES = ("", "", "", "Lidocaine", "Latex", "", "Hyaluronidase", "", "Penicillin", "")


@dataclass(frozen=True)
class Spec:
    pcs: int = 10
    locations_per_pc: int = 5
    charts: int = 20_000
    entities: int = 2


@dataclass
class TenantData:
    tenant: Tenant
    members: dict[str, Membership]
    pc_ids: list[str]
    clinician_pc_ids: list[str]  # the PCs the clinician (the benchmark's clinical key) works for
    locations: int
    charts: int
    clinician_charts: int


@dataclass
class Dataset:
    tenants: list[TenantData]
    built: bool
    seconds: float
    audit_entries: int
    keys: list[ApiKey] = field(default_factory=list)

    @property
    def main(self) -> TenantData:
        return self.tenants[0]


def email(slug: str, capacity: str) -> str:
    return f"{capacity}@{slug}.bench.test"


def _scope_to(tenant: Tenant) -> None:
    # Tenant-owned tables are RLS'd (FORCEd for the owner too where it is not a superuser).
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)])


def _build_tenant(slug: str, name: str, spec: Spec) -> None:
    tenant = tenant_create(slug=slug, name=name)
    _scope_to(tenant)
    entities = MsoEntity.objects.bulk_create(
        MsoEntity(tenant=tenant, legal_name=f"{name} Management {i + 1} LLC") for i in range(spec.entities)
    )
    pcs = ProfessionalCorporation.objects.bulk_create(
        ProfessionalCorporation(tenant=tenant, legal_name=f"{LAST[i]} Medical Corporation {slug}")
        for i in range(spec.pcs)
    )
    locations = Location.objects.bulk_create(
        Location(
            tenant=tenant,
            name=f"{name} Med Spa {p * spec.locations_per_pc + k + 1:03d}",
            address=f"{100 + k} Ocean Ave",
            city=("San Diego", "Irvine", "Pasadena", "Santa Monica", "Del Mar")[k % 5],
            managing_entity=entities[(p * spec.locations_per_pc + k) % len(entities)],
            pc=pc,
        )
        for p, pc in enumerate(pcs)
        for k in range(spec.locations_per_pc)
    )
    by_pc = [locations[p * spec.locations_per_pc : (p + 1) * spec.locations_per_pc] for p in range(len(pcs))]
    charts = [
        PatientChart(
            tenant=tenant,
            pc=pcs[i % len(pcs)],
            home_location=by_pc[i % len(pcs)][(i // len(pcs)) % spec.locations_per_pc],
            medical_record_number=f"{slug.upper()}-{i:06d}",
            patient_name=f"{FIRST[(i * 7) % len(FIRST)]} {LAST[(i * 13 // 5) % len(LAST)]}",
            date_of_birth=dt.date(1950, 1, 1) + dt.timedelta(days=(i * 37) % 20_000),
            allergies=ALLERGIES[i % len(ALLERGIES)],
        )
        for i in range(spec.charts)
    ]
    for first in range(0, len(charts), CHART_BATCH):
        PatientChart.objects.bulk_create(charts[first : first + CHART_BATCH])
        # Each chart row gets an audit entry whose chain trigger looks up the tenant's last entry;
        # with statistics from an empty log the planner scans the whole log for it (quadratic).
        with connection.cursor() as cur:
            cur.execute("ANALYZE public.tenants_auditlogentry")
    members: dict[str, Membership] = {}
    for code in CAPACITIES:
        user = user_create(email=email(slug, code), full_name=f"{code} of {name}", password=PASSWORD)
        members[code] = membership_create(
            tenant=tenant,
            user=user,
            capacity=code,
            license_type=LICENSES.get(code, ""),
            expires_at=timezone.now() + dt.timedelta(days=365) if code == "auditor" else None,
        )
    for location in by_pc[0] + by_pc[1]:  # a regional manager: the med spas of two PCs
        object_access_grant(
            membership=members["mso_staff"], obj=location, perms=["view_location", "change_location"]
        )
    object_access_grant(membership=members["pc_physician"], obj=pcs[0], perms=PC_ALL)
    for location in by_pc[0]:
        object_access_grant(membership=members["pc_physician"], obj=location, perms=["view_location"])
    for pc in pcs[:2]:  # a nurse practitioner working for two PCs
        object_access_grant(membership=members["clinician"], obj=pc, perms=["view_professionalcorporation"])
    for location in by_pc[0] + by_pc[1]:
        object_access_grant(membership=members["clinician"], obj=location, perms=["view_location"])


def _load_tenant(tenant: Tenant) -> TenantData:
    _scope_to(tenant)
    members = {
        m.capacity: m
        for m in Membership.objects.filter(tenant=tenant).select_related("tenant", "user", "group")
    }
    clinician = members["clinician"]
    clinician_pcs = sorted(
        pk
        for pk in ProfessionalCorporation.objects.filter(
            tenant=tenant, pcgroupobjectpermission__group=clinician.group
        ).values_list("pk", flat=True)
    )
    return TenantData(
        tenant=tenant,
        members=members,
        pc_ids=[
            str(pk)
            for pk in ProfessionalCorporation.objects.filter(tenant=tenant).values_list("pk", flat=True)
        ],
        clinician_pc_ids=[str(pk) for pk in clinician_pcs],
        locations=Location.objects.filter(tenant=tenant).count(),
        charts=PatientChart.objects.filter(tenant=tenant).count(),
        clinician_charts=PatientChart.objects.filter(tenant=tenant, pc_id__in=clinician_pcs).count(),
    )


def ensure_dataset(spec: Spec) -> Dataset:
    """Build the data set unless the bench database has it; one transaction, so never half-built."""
    started = time.monotonic()
    existing = {t.slug: t for t in Tenant.objects.filter(slug__in=SLUGS)}
    built = False
    if not existing:
        with transaction.atomic():
            for i, slug in enumerate(SLUGS):
                _build_tenant(slug, f"Bench MSO {chr(ord('A') + i)}", spec)
        existing = {t.slug: t for t in Tenant.objects.filter(slug__in=SLUGS)}
        built = True
    if set(existing) != set(SLUGS):
        raise RuntimeError(f"the bench database holds only {sorted(existing)}; rebuild it with --fresh")
    with transaction.atomic():
        tenants = [_load_tenant(existing[slug]) for slug in SLUGS]
        with connection.cursor() as cur:
            cur.execute("SELECT set_config('app.tenant_id', '', true)")
            cur.execute("SELECT count(*) FROM public.tenants_auditlogentry")  # as owner: every tenant's rows
            audit_entries = int(cur.fetchone()[0])
    with connection.cursor() as cur:
        # Fresh planner statistics every run: a server restart after a crash resets the counters
        # autovacuum goes by, and tables of a few dozen rows (PCs, grants) never reach its threshold;
        # with no statistics the chart list was planned as a nested loop over every location
        # (20 ms instead of 2 ms per page).
        cur.execute("ANALYZE")
    for data in tenants:
        want = (spec.pcs * spec.locations_per_pc, spec.charts, spec.pcs)
        have = (data.locations, data.charts, len(data.pc_ids))
        if have != want:
            raise RuntimeError(
                f"tenant {data.tenant.slug} has (locations, charts, PCs) {have}, expected {want}; "
                "rebuild it with --fresh"
            )
    return Dataset(tenants, built, time.monotonic() - started, audit_entries)


def api_keys_create(dataset: Dataset, membership: Membership, count: int, label: str) -> list[str]:
    """`count` keys acting as `membership`; the raw keys are returned (they exist only in this run)."""
    ctx = AccessContext.for_membership(membership, via="api")
    raws: list[str] = []
    with transaction.atomic():
        _scope_to(membership.tenant)
        for i in range(count):
            key, raw = api_key_create(ctx=ctx, name=f"bench {label} {i + 1}")
            dataset.keys.append(key)
            raws.append(raw)
    return raws


def api_keys_revoke(dataset: Dataset) -> int:
    """Revoke every key this run created (their secrets are gone with the process anyway)."""
    revoked = 0
    with transaction.atomic():
        for key in dataset.keys:
            _scope_to(key.tenant)
            api_key_revoke(key=key)
            revoked += 1
    dataset.keys.clear()
    return revoked


def authenticator(user: User) -> Any | None:
    """A confirmed TOTP device of `user`, set up through the product's services when missing.

    None when the product has no second factor installed. Checked on every run, so a bench
    database built before two-factor sign-in existed gets its devices too.
    """
    if not apps.is_installed("django_otp.plugins.otp_totp"):
        return None
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenants.security import services

    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()
    if device is None:
        with transaction.atomic():
            services.totp_device_confirm(user=user, device=services.totp_device_pending(user=user))
        device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()
    return device


def totp_code(device: Any) -> str:
    """The code the user's authenticator app shows now (one django-otp has not seen used yet)."""
    from django_otp.oath import TOTP

    device.refresh_from_db()  # last_t and the drift django-otp learnt at the last verification
    generator = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    generator.time = time.time()
    if generator.t() <= device.last_t:
        # This step's code was used already (a run within the last 30 s): replay protection would
        # refuse it, so wait for the next step (bounded by one step).
        time.sleep(min(device.step, device.step - (generator.time - device.t0) % device.step + 0.05))
        generator.time = time.time()
    return f"{generator.token():0{device.digits}d}"
