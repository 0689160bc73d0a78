#!/usr/bin/env python3
"""Audit benchmark: the compliance engine over one large tenant, against the floor of its bare scans.

    .venv/bin/python bench/audit.py [--scale 1.0] [--keep] [--fresh] [--rule-timeout 120] [--db bench_audit]
                                    [--day realistic|uniform|both]

1. Creates its own database ``bench_audit`` on the embedded PostgreSQL (or on the server of
   DATABASE_URL), migrates it, and generates one tenant with set-based SQL as the table owner
   (``INSERT … SELECT … FROM generate_series``; at --scale 1: 50 locations, 500 providers, 100,000
   clients and charts, 1,000,000 treatments over 24 months, 24 months of MSA fees, invoices and PC
   collections, and every other table the rules read) with a sprinkle of planted violations.
2. Times each rule's query alone under --rule-timeout; a rule that cannot finish is switched off for
   the tenant (the product's RuleSetting) so that the engine runs can, and is reported as such.
   Times full audits of that tenant through the real engine: the body of the nightly Celery task
   ``compliance.tasks.audit_tenant`` (every rule, one transaction per rule, under the business and
   clinical roles with row-level security). The first run creates the findings, the second sees
   them again (the steady nightly state).
3. Times the floor: for every table a rule's SQL reads, ``SELECT count(*)`` of the tenant's rows
   (median of 5, warm), summed per rule; prints audit / floor.
4. Applies a day's changes (per changed table, 1% of its rows written: half new, today's visits with
   their appointments and payments, and invoices; half updates, of the last 14 days' records with
   --day realistic, the default, or of any row with --day uniform; --day both applies one after
   the other) and times the change-triggered runs the engine supports
   (``compliance.tasks.audit_after_change``: one run per changed model for the day's written rows,
   narrowed to them by the rules that can), as a share of the full run.
5. Prints per-rule times (``AuditRun.stats``), sorted, and the row counts of the generated tables.

The data set is kept between runs of the same --scale only with --keep (the database is dropped at
the end otherwise); --fresh rebuilds it. Exit status: 0; 2 when set-up failed; 130 when
interrupted. Not part of the test suite: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from bench.load import SetupError, admin_connection, say, server_url, with_database  # noqa: E402

SETTINGS = "mso_platform.settings.base"  # the product's settings (DEBUG off), no bench URLs needed
SLUG = "bench-audit"
MARKER = "bench/audit.py data set"
# Targets of issue 4 ("Performance").
TARGET_FLOOR_RATIO = 3.0
TARGET_SECONDS = 60.0
TARGET_INCREMENTAL_SHARE = 0.05
FLOOR_REPEAT = 5
CHANGE_SHARE = 100  # a day's changes write 1 row in CHANGE_SHARE of each table they change
RECENT_DAYS = 14  # the realistic day updates records of the last RECENT_DAYS days
DAY_PROFILES = ("realistic", "uniform")  # which rows a day's updates pick (DayChanges)

# Procedures a chart is treated with (weights in %, consultations come on top): a med spa's mix.
PROCEDURE_WEIGHTS = (
    ("neurotoxin", 32),
    ("dermal_filler", 16),
    ("laser_hair_removal", 12),
    ("ipl_photofacial", 6),
    ("laser_resurfacing", 4),
    ("medical_peel", 5),
    ("microneedling", 8),
    ("superficial_peel", 6),
    ("facial", 11),
)
CONSENT_PROCEDURES = tuple(p for p, _ in PROCEDURE_WEIGHTS)  # every procedure but consultation
# Share of a PC's providers per license type (at least one each, at least two physicians).
ROLE_SHARES = (
    ("MD", 0.10),
    ("DO", 0.02),
    ("NP", 0.18),
    ("PA", 0.10),
    ("RN", 0.40),
    ("LVN", 0.04),
    ("esthetician", 0.16),
)
DELEGATED = ("NP", "PA", "RN", "LVN")


@dataclass(frozen=True)
class Spec:
    """Table sizes at a scale (1.0 = the issue's large tenant)."""

    scale: float

    @property
    def locations(self) -> int:
        return max(5, round(50 * self.scale))

    @property
    def pcs(self) -> int:
        return max(2, math.ceil(self.locations / 5))

    @property
    def providers_per_pc(self) -> int:
        return max(20, round(500 * self.scale / self.pcs))

    @property
    def providers(self) -> int:
        return self.providers_per_pc * self.pcs

    @property
    def patients(self) -> int:
        return max(1000, round(100_000 * self.scale))

    @property
    def treatments(self) -> int:
        return max(10_000, round(1_000_000 * self.scale))

    @property
    def vendors(self) -> int:
        return max(20, round(200 * self.scale))

    months = 24
    entities = 3
    staff_per_location = 20
    equipment_per_location = 5
    assets_per_location = 40

    def plant(self, index: int) -> int:
        """The PC (1-based) that carries planted problem number `index` (distinct while PCs last)."""
        return 1 + (index - 1) % self.pcs


# --- Database ---------------------------------------------------------------------------------------


@dataclass
class Database:
    name: str
    url: str
    reused: bool
    tenant_id: str | None


def marker_of(scale: float, tenant_id: str, built: dt.date) -> str:
    return f"{MARKER}: scale={scale:g} tenant={tenant_id} built={built.isoformat()}"


def prepare_database(name: str, scale: float, *, fresh: bool) -> Database:
    """Create (or reuse a complete data set of the same scale in) the bench database; migrate it."""
    url = server_url()
    tenant_id: str | None = None
    with admin_connection(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        row = cur.fetchone()
        if row is not None:
            kept = kept_data_set(cur, name)
            if not fresh and kept is not None and kept[0] == scale:
                tenant_id = kept[1]
            else:
                why = "--fresh" if fresh else "no complete data set of this scale"
                say(f"Dropping database {name} ({why})")
                cur.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                row = None
        if row is None:
            say(f"Creating database {name}")
            cur.execute(f'CREATE DATABASE "{name}"')
    bench_url = with_database(url, name)
    say(f"Migrating {name}")
    env = {**os.environ, "DATABASE_URL": bench_url, "DJANGO_SETTINGS_MODULE": SETTINGS}
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise SetupError(f"manage.py migrate failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return Database(name, bench_url, tenant_id is not None, tenant_id)


def kept_data_set(cur: Any, name: str) -> tuple[float, str] | None:
    """(scale, tenant id) of the complete data set in database `name`, None when it has none (its
    marker comment is written only once the data set is complete)."""
    cur.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [name])
    row = cur.fetchone()
    found = re.fullmatch(rf"{re.escape(MARKER)}: scale=(\S+) tenant=(\S+) built=\S+", (row or [""])[0] or "")
    return (float(found.group(1)), found.group(2)) if found else None


def mark_complete(name: str, scale: float, tenant_id: str, built: dt.date) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(f"COMMENT ON DATABASE \"{name}\" IS '{marker_of(scale, tenant_id, built)}'")


def drop_database(name: str) -> None:
    from django.db import connections

    connections.close_all()
    with admin_connection(server_url()) as conn, conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    # The runs mail new critical findings (part of the task): kept in memory, not printed.
    os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
    import django

    django.setup()


@contextmanager
def bulk_session() -> Iterator[Any]:
    """A cursor for set-based loads as the table owner: triggers off (no per-row audit entry, no
    foreign-key trigger; the generator writes consistent keys), asynchronous commit. Both are reset
    afterwards, so that everything measured runs with every trigger."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        cur.execute("SET synchronous_commit = off")
        try:
            yield cur
        finally:
            cur.execute("RESET session_replication_role")
            cur.execute("RESET synchronous_commit")


def require_triggers_on() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SHOW session_replication_role")
        role = cur.fetchone()
    if role is None or role[0] != "origin":
        raise SetupError(f"session_replication_role is {role}, not origin: measurements would skip triggers")


# --- SQL helpers ------------------------------------------------------------------------------------


def bid(kind: str, expr: str) -> str:
    """A deterministic uuid for row `expr` of `kind`, so that rows can name each other in SQL."""
    return f"md5('{kind}:' || ({expr}))::uuid"


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal | float):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    raise TypeError(f"no SQL literal for {value!r}")


def text_array(values: Sequence[str]) -> str:
    return "ARRAY[" + ", ".join(literal(v) for v in values) + "]::varchar[]"


def default_sql(model: Any, field_: Any) -> str:
    """The SQL of a column the generator leaves out: Django's default (Python-side, so it must be
    spelled out), NULL when nullable, '' for a blank text; anything else is a generator bug."""
    from django.utils import timezone

    if getattr(field_, "auto_now", False) or getattr(field_, "auto_now_add", False):
        return "now()"
    if field_.has_default():
        default = field_.default
        if default is timezone.now:
            return "now()"
        if default is uuid.uuid4:
            return "gen_random_uuid()"
        if default is list:
            return "'{}'"
        if default is dict:
            return "'{}'::jsonb"
        return literal(default() if callable(default) else default)
    if field_.null:
        return "NULL"
    if field_.blank and field_.empty_strings_allowed:
        return "''"
    raise SetupError(f"the generator gives no value for {model.__name__}.{field_.name}")


# --- Data set ---------------------------------------------------------------------------------------


def provider_roles(per_pc: int) -> list[tuple[str, int | None, bool]]:
    """Each slot of a PC's provider list: (license, supervising MD slot or None, independent NP)."""
    counts = {lt: max(1, round(share * per_pc)) for lt, share in ROLE_SHARES}
    counts["MD"] = max(2, counts["MD"])
    counts["RN"] += per_pc - sum(counts.values())
    if counts["RN"] < 1:
        raise SetupError(f"{per_pc} providers per PC are too few for every license type")
    slots: list[tuple[str, int | None, bool]] = []
    md_slots = list(range(counts["MD"]))
    for license_type, _ in ROLE_SHARES:
        for i in range(counts[license_type]):
            independent = license_type == "NP" and i % 5 == 4  # a 103/104 NP practises alone
            supervisor = (
                md_slots[i % len(md_slots)] if license_type in DELEGATED and not independent else None
            )
            slots.append((license_type, supervisor, independent))
    return slots


@dataclass
class Built:
    tenant_id: str
    seconds: float
    steps: list[tuple[str, int, float]] = field(default_factory=list)


class Loader:
    """Set-based writes through one cursor: INSERT … SELECT per table, each step timed."""

    def __init__(self, tenant_id: str, today: dt.date) -> None:
        from django.conf import settings

        self.tenant_id = tenant_id
        self.today = today
        self.tz = settings.TIME_ZONE
        self.D = f"DATE '{today.isoformat()}'"
        self.steps: list[tuple[str, int, float]] = []
        self.cur: Any = None

    def at(self, day: str, minutes: str = "540") -> str:
        """The local time `minutes` after midnight of the date expression `day`, as timestamptz."""
        return f"((({day}) + ({minutes}) * interval '1 minute')::timestamp AT TIME ZONE '{self.tz}')"

    def ago(self, days: str) -> str:
        return f"({self.D} - ({days}))"

    def run(self, label: str, sql: str) -> int:
        began = time.perf_counter()
        self.cur.execute(sql)
        rows = max(self.cur.rowcount, 0)
        spent = time.perf_counter() - began
        self.steps.append((label, rows, spent))
        if spent > 2:
            say(f"  {label}: {rows:,} rows in {spent:.1f} s")
        return rows

    def insert(self, model: Any, columns: dict[str, str], source: str, label: str = "") -> int:
        """INSERT INTO the model's table SELECT `columns` (SQL per column name) FROM `source`; the id,
        the tenant and every column not given get their defaults (default_sql)."""
        given = dict(columns)
        names, exprs = [], []
        for f in model._meta.concrete_fields:
            if f.column in given:
                expr = given.pop(f.column)
            elif f.column == "id":
                expr = "gen_random_uuid()"
            elif f.column == "tenant_id":
                expr = f"'{self.tenant_id}'::uuid"
            else:
                expr = default_sql(model, f)
            names.append(f'"{f.column}"')
            exprs.append(expr)
        if given:
            raise SetupError(f"{model.__name__} has no column {', '.join(given)}")
        sql = (
            f"INSERT INTO {model._meta.db_table} ({', '.join(names)})\n"
            f"SELECT {', '.join(exprs)}\nFROM {source}"
        )
        return self.run(label or model.__name__, sql)


class Builder(Loader):
    """Writes the data set with one INSERT … SELECT per table (and a few ORM rows for people)."""

    def __init__(self, spec: Spec, today: dt.date) -> None:
        from management.procedures import LASER_PROCEDURES, MEDICAL_PROCEDURES

        super().__init__("", today)
        self.spec = spec
        self.medical = text_array(sorted(str(p) for p in MEDICAL_PROCEDURES))
        self.lasers = text_array(sorted(str(p) for p in LASER_PROCEDURES))
        self.users: dict[str, str] = {}
        self.memberships: dict[str, Any] = {}
        self.roles: list[tuple[str, int | None, bool]] = []

    def build(self) -> Built:
        began = time.perf_counter()
        self.people()
        with bulk_session() as cur:
            self.cur = cur
            self.scratch_tables()
            self.parties()
            self.agreements()
            self.workforce()
            self.providers()
            self.charts()
            self.consent_forms()
            self.protocols()
            self.treatments()
            self.treatment_records()
            self.front_desk()
            self.marketing()
        self.grants()
        self.vacuum()
        return Built(self.tenant_id, time.perf_counter() - began, self.steps)

    # people (ORM: a handful of rows through the product's services)
    def people(self) -> None:
        from clinical.services.scope import scope_rules_seed
        from tenants.services import membership_create, tenant_create, user_create

        tenant = tenant_create(slug=SLUG, name="Bench Audit Aesthetics MSO")
        self.tenant_id = str(tenant.pk)
        cast = {
            "mso": ("mso_admin", "", "Morgan Admin"),
            "staff": ("mso_staff", "", "Riley Marketing"),
            "physician": ("pc_physician", "MD", "Dr. Alex Medical"),
            "clinician": ("clinician", "RN", "Sam Nurse"),
        }
        for key, (capacity, license_type, name) in cast.items():
            user = user_create(email=f"{key}@{SLUG}.test", full_name=name, password=None)
            self.users[key] = str(user.pk)
            self.memberships[key] = membership_create(
                tenant=tenant, user=user, capacity=capacity, license_type=license_type
            )
        scope_rules_seed(tenant=tenant)

    def grants(self) -> None:
        from management.models import ProfessionalCorporation
        from tenants.services import object_access_grant

        pcs = list(ProfessionalCorporation.objects.filter(tenant_id=self.tenant_id).order_by("legal_name"))
        for pc in pcs:
            object_access_grant(
                membership=self.memberships["physician"],
                obj=pc,
                perms=["view_professionalcorporation", "approve_marketing", "sign_protocol"],
            )
        # CPOM-003: a business member holding a clinical permission on one PC.
        object_access_grant(membership=self.memberships["staff"], obj=pcs[0], perms=["approve_marketing"])

    def scratch_tables(self) -> None:
        """Session-local lookup tables the inserts join: locations, providers, charts, pools."""
        s = self.spec
        P, L = s.pcs, s.locations
        self.run("scratch", "DROP TABLE IF EXISTS b_weight, b_role, b_prov, b_pool, b_chart, b_loc")
        weights = ", ".join(
            f"({slot}, {literal(name)})"
            for slot, name in enumerate(name for name, w in PROCEDURE_WEIGHTS for _ in range(w))
        )
        self.run("scratch", "CREATE TEMP TABLE b_weight (slot int PRIMARY KEY, procedure text)")
        self.run("scratch", f"INSERT INTO b_weight VALUES {weights}")
        roles = provider_roles(s.providers_per_pc)
        self.roles = roles
        values = ", ".join(
            f"({slot}, {literal(lt)}, {literal(sup)}, {literal(ind)})"
            for slot, (lt, sup, ind) in enumerate(roles)
        )
        self.run(
            "scratch",
            "CREATE TEMP TABLE b_role (slot int PRIMARY KEY, license text, sup_slot int, indep bool)",
        )
        self.run("scratch", f"INSERT INTO b_role VALUES {values}")
        per = s.providers_per_pc
        self.run(
            "scratch",
            f"""CREATE TEMP TABLE b_prov AS
            SELECT (p - 1) * {per} + r.slot + 1 AS n, p AS pc, r.slot, r.license, r.indep,
                   {bid("provider", f"(p - 1) * {per} + r.slot + 1")} AS id,
                   (p - 1) * {per} + r.sup_slot + 1 AS sup_n,
                   CASE WHEN r.sup_slot IS NOT NULL
                        THEN {bid("provider", f"(p - 1) * {per} + r.sup_slot + 1")} END AS sup_id,
                   row_number() OVER (PARTITION BY p, r.license ORDER BY r.slot) AS rank
            FROM generate_series(1, {P}) p CROSS JOIN b_role r""",
        )
        self.run("scratch", "CREATE UNIQUE INDEX ON b_prov (id)")
        self.run(
            "scratch",
            """CREATE TEMP TABLE b_pool AS
            SELECT pc, klass, array_agg(id ORDER BY n) AS ids, count(*)::int AS size FROM (
              SELECT pc, n, id, CASE WHEN license IN ('MD', 'DO', 'NP', 'PA', 'RN') THEN 'med'
                                     WHEN license = 'esthetician' THEN 'esth' END AS klass FROM b_prov
              UNION ALL SELECT pc, n, id, 'exam' FROM b_prov WHERE license IN ('MD', 'DO', 'NP', 'PA')
              UNION ALL SELECT pc, n, id, 'md' FROM b_prov WHERE license = 'MD'
              UNION ALL SELECT pc, n, id, 'lvn' FROM b_prov WHERE license = 'LVN'
            ) x WHERE klass IS NOT NULL GROUP BY pc, klass""",
        )
        self.run(
            "scratch",
            f"""CREATE TEMP TABLE b_loc AS
            SELECT l, {bid("loc", "l")} AS id, 1 + (l - 1) % {P} AS pc,
                   1 + (l - 1) % {P} % {s.entities} AS entity
            FROM generate_series(1, {L}) l""",
        )
        self.run(
            "scratch",
            f"""CREATE TEMP TABLE b_chart AS
            SELECT n, {bid("chart", "n")} AS id, {bid("client", "n")} AS client_id, l.loc,
                   1 + (l.loc - 1) % {P} AS pc, w1.procedure AS p1, w2.procedure AS p2
            FROM generate_series(1, {s.patients}) n
            CROSS JOIN LATERAL (SELECT 1 + (n::bigint * 7919) % {L} AS loc) l
            JOIN b_weight w1 ON w1.slot = (n::bigint * 2654435761) % 100
            JOIN b_weight w2 ON w2.slot = (n::bigint * 40503 + 17) % 100""",
        )
        self.run("scratch", "CREATE UNIQUE INDEX ON b_chart (n)")
        self.run("scratch", "CREATE UNIQUE INDEX ON b_chart (id)")
        self.run("scratch", "ANALYZE b_weight, b_role, b_prov, b_pool, b_loc, b_chart")

    def entity_of(self, pc: str) -> str:
        return f"(1 + (({pc}) - 1) % {self.spec.entities})"

    def parties(self) -> None:
        from management.models import (
            BankAccount,
            FictitiousNamePermit,
            Location,
            MedicalWasteRegistration,
            MsoEntity,
            ProfessionalCorporation,
            Shareholder,
        )

        s, D = self.spec, self.D
        names = "ARRAY['Bench Management LLC', 'Bench West Management LLC', 'Bench Capital MSO LLC']"
        self.insert(
            MsoEntity,
            {
                "id": bid("mso", "e"),
                "legal_name": f"({names})[e]",
                "investor_type": "CASE WHEN e = 3 THEN 'private_equity' ELSE 'none' END",
            },
            f"generate_series(1, {s.entities}) e",
        )
        self.insert(
            ProfessionalCorporation,
            {
                "id": bid("pc", "p"),
                "legal_name": "'Bench Medical Corporation ' || p",
                "physician_name": "'Dr. Founder ' || p",
            },
            f"generate_series(1, {s.pcs}) p",
        )
        lay, inactive = s.plant(1), s.plant(2)
        self.insert(
            Shareholder,
            {
                "pc_id": bid("pc", "p"),
                "name": "(ARRAY['Dr. Founder ', 'Dr. Partner ', 'Nurse Partner '])[k] || p",
                "license_type": "CASE WHEN k = 3 THEN 'NP' ELSE 'MD' END",
                "license_number": "'A' || (p * 10 + k)",
                "license_state": "'CA'",
                "license_status": f"CASE WHEN p = {inactive} AND k = 2 THEN 'inactive' ELSE 'active' END",
                "shares": "(ARRAY[600, 300, 100])[k]",
            },
            f"generate_series(1, {s.pcs}) p CROSS JOIN generate_series(1, 3) k",
        )
        self.insert(  # CPOM-001: a lay shareholder
            Shareholder,
            {
                "pc_id": bid("pc", str(lay)),
                "name": "'Pat Investor'",
                "license_type": "'none'",
                "license_status": "'active'",
                "shares": "300",
            },
            "generate_series(1, 1) x",
        )
        self.insert(
            FictitiousNamePermit,
            {
                "id": bid("permit", "p"),
                "pc_id": bid("pc", "p"),
                "fictitious_name": "'Glow Aesthetics ' || p",
                "permit_number": "'FNP-' || (7000 + p)",
                "issued_on": self.ago("300"),
                "expires_on": f"{D} + 430",
            },
            f"generate_series(1, {s.pcs}) p",
        )
        # Accounts: a PC's operating and patient-deposit accounts, an entity's operating, payroll and
        # fee accounts. SEP-001: entity 2's payroll account is also recorded as PC 1's operating one.
        self.insert(
            BankAccount,
            {
                "id": bid("acct_pc", "p * 10 + k"),
                "pc_id": bid("pc", "p"),
                "bank_name": "'First Coastal Bank'",
                "account_last4": "lpad((p * 10 + k)::text, 4, '0')",
                "routing_number": "'121000358'",
                "purpose": "(ARRAY['operating', 'patient_deposits'])[k]",
            },
            f"generate_series(1, {s.pcs}) p CROSS JOIN generate_series(1, 2) k",
        )
        self.insert(
            BankAccount,
            {
                "id": bid("acct_mso", "e * 10 + k"),
                "mso_entity_id": bid("mso", "e"),
                "bank_name": "'First Coastal Bank'",
                "account_last4": (
                    "CASE WHEN e = 2 AND k = 2 THEN '0011' ELSE lpad((5000 + e * 10 + k)::text, 4, '0') END"
                ),
                "routing_number": "'121000358'",
                "purpose": "(ARRAY['operating', 'payroll', 'management_fees'])[k]",
            },
            f"generate_series(1, {s.entities}) e CROSS JOIN generate_series(1, 3) k",
        )
        cities = "ARRAY['San Diego', 'La Jolla', 'Irvine', 'Pasadena', 'Santa Monica', 'Walnut Creek']"
        self.insert(  # CPOM-004: location 1 trades under a name with no permit; LAB-001: location 5
            Location,
            {
                "id": "b.id",
                "name": "'Bench Med Spa ' || b.l",
                "address": "b.l || ' Ocean Avenue'",
                "city": f"({cities})[1 + b.l % 6]",
                "state": "'CA'",
                "managing_entity_id": bid("mso", self.entity_of("b.pc")),
                "pc_id": bid("pc", "b.pc"),
                "trade_name": (
                    "CASE WHEN b.l = 1 THEN 'Radiance Aesthetics' ELSE 'Glow Aesthetics ' || b.pc END"
                ),
                "name_permit_id": f"CASE WHEN b.l = 1 THEN NULL ELSE {bid('permit', 'b.pc')} END",
                "generates_sharps": "true",
                "runs_waived_lab_tests": "b.l % 5 = 0",
                "clia_waiver_number": (
                    "CASE WHEN b.l % 5 = 0 THEN '05D' || lpad(b.l::text, 7, '0') ELSE '' END"
                ),
                "lab_director": "CASE WHEN b.l % 5 = 0 AND b.l <> 5 THEN 'Dr. Lab ' || b.l ELSE '' END",
            },
            "b_loc b",
        )
        self.insert(  # WST-001: location 2's registration lapsed
            MedicalWasteRegistration,
            {
                "location_id": "b.id",
                "registration_number": "'MW-' || b.l",
                "hauler": "'Sharps Haulers Inc.'",
                "issued_on": f"CASE WHEN b.l = 2 THEN {D} - 600 ELSE {D} - 200 END",
                "expires_on": f"CASE WHEN b.l = 2 THEN {D} - 235 ELSE {D} + 165 END",
            },
            "b_loc b",
        )

    def agreements(self) -> None:
        from management.models import (
            FeePayment,
            ManagementFeeInvoice,
            ManagementServicesAgreement,
            MsaAmendment,
            PcCollection,
            PerformanceStandard,
        )

        s, D = self.spec, self.D
        self.fee_off, self.defacto, self.percent = s.plant(1), s.plant(2), s.plant(4)
        self.no_dispute, self.per_unit, self.fee_jump, self.amended = (
            s.plant(5),
            s.plant(7),
            s.plant(8),
            s.plant(9),
        )
        noncompete = 3 if s.pcs >= 3 else 1  # an MSA of the private-equity entity (entity 3)
        fee = "(30000 + 1000 * p)"
        basis = (
            f"CASE WHEN p = {self.percent} THEN 'percent_of_collections' "
            f"WHEN p = {self.per_unit} THEN 'per_unit' ELSE 'fixed_monthly' END"
        )
        common = {
            "mso_entity_id": bid("mso", self.entity_of("p")),
            "pc_id": bid("pc", "p"),
            "services": "ARRAY['payroll', 'billing', 'scheduling', 'marketing', 'it']::varchar[]",
            "non_clinical_role_clause": "true",
            "termination_clause": "true",
            "termination_notice_days": "90",
            "governing_state": "'CA'",
        }
        self.insert(
            ManagementServicesAgreement,
            {
                **common,
                "id": bid("msa", "p"),
                "title": "'Management Services Agreement, PC ' || p",
                "effective_date": self.ago("1100"),
                "end_date": f"{D} + 700",
                "signed_on": self.ago("1110"),
                "fee_basis": basis,
                "fee_amount": (
                    f"CASE WHEN p = {self.percent} THEN NULL WHEN p = {self.per_unit} THEN 45 ELSE {fee} END"
                ),
                "fee_rate_percent": f"CASE WHEN p = {self.percent} THEN 8 END",
                "fee_unit": f"CASE WHEN p = {self.per_unit} THEN 'per new patient' ELSE '' END",
                "fmv_opinion_date": f"CASE WHEN p <> {self.percent} THEN {D} - 300 END",
                "fmv_appraiser": "'Valuation Partners LLP'",
                "fmv_low": (
                    f"CASE WHEN p = {self.per_unit} THEN 24000 WHEN p <> {self.percent} THEN {fee} * 0.8 END"
                ),
                "fmv_high": (
                    f"CASE WHEN p = {self.per_unit} THEN 36000 WHEN p <> {self.percent} THEN {fee} * 1.3 END"
                ),
                "counsel_reviewed_on": f"CASE WHEN p <> {self.percent} THEN {D} - 290 END",
                "dispute_resolution_clause": f"p <> {self.no_dispute}",
                "clinician_noncompete_clause": f"p = {noncompete}",
            },
            f"generate_series(1, {s.pcs}) p",
        )
        self.insert(  # the agreements the current ones replaced
            ManagementServicesAgreement,
            {
                **common,
                "id": bid("msa_old", "p"),
                "title": "'Management Services Agreement (2019), PC ' || p",
                "effective_date": self.ago("2200"),
                "end_date": self.ago("1101"),
                "signed_on": self.ago("2210"),
                "fee_basis": "'fixed_monthly'",
                "fee_amount": "25000",
                "dispute_resolution_clause": "true",
            },
            f"generate_series(1, {s.pcs}) p",
        )
        self.insert(
            PerformanceStandard,
            {
                "msa_id": bid("msa", "p"),
                "metric": "(ARRAY['Payroll run on time', 'Claims submitted within 5 days'])[k]",
                "target": "'99%'",
            },
            f"generate_series(1, {s.pcs}) p CROSS JOIN generate_series(1, 2) k",
        )
        amended_from = f"(date_trunc('month', {D}) - interval '6 months')::date"
        self.insert(
            MsaAmendment,
            {
                "msa_id": bid("msa", "p"),
                "number": "1",
                "effective_date": self.ago("400"),
                "signed_on": self.ago("405"),
                "summary": "'IT services added to the scope.'",
            },
            f"generate_series(1, {s.pcs}) p",
        )
        self.insert(  # a fee change with its amendment (no FEE-003 finding)
            MsaAmendment,
            {
                "msa_id": bid("msa", str(self.amended)),
                "number": "2",
                "effective_date": amended_from,
                "signed_on": self.ago("200"),
                "summary": "'Fee raised by $2,000 a month.'",
                "new_fee_amount": str(30000 + 1000 * self.amended + 2000),
            },
            "generate_series(1, 1) x",
        )
        month = f"(date_trunc('month', {D}) - m * interval '1 month')::date"
        collected = "(180000 + (p * 7919 + m * 104729) % 40000)"
        self.insert(
            PcCollection,
            {"pc_id": bid("pc", "p"), "month": month, "amount": collected},
            f"generate_series(1, {s.pcs}) p CROSS JOIN generate_series(1, {s.months}) m",
        )
        amount = (
            f"CASE WHEN p = {self.percent} THEN round({collected} * 0.08, 2) "
            f"WHEN p = {self.defacto} THEN round({collected} * 0.17, 2) "
            f"WHEN p = {self.per_unit} THEN 30000 + (m * 13 % 7) * 100 "
            f"WHEN p = {self.fee_off} AND m = 9 THEN {fee} * 1.15 "
            f"WHEN p = {self.fee_jump} AND m <= 4 THEN {fee} + 3500 "
            f"WHEN p = {self.amended} AND {month} >= {amended_from} THEN {fee} + 2000 "
            f"ELSE {fee} END"
        )
        self.insert(
            ManagementFeeInvoice,
            {
                "id": bid("inv", "p * 1000 + m"),
                "msa_id": bid("msa", "p"),
                "number": f"'INV-' || p || '-' || to_char({month}, 'YYYYMM')",
                "period_start": month,
                "period_end": f"({month} + interval '1 month' - interval '1 day')::date",
                "amount": amount,
                "issued_on": f"({month} + interval '1 month')::date",
                "due_on": f"({month} + interval '1 month' + interval '14 days')::date",
                "status": "CASE WHEN m = 1 THEN 'issued' ELSE 'paid' END",
            },
            f"generate_series(1, {s.pcs}) p CROSS JOIN generate_series(1, {s.months}) m",
        )
        self.insert(
            FeePayment,
            {
                "invoice_id": "i.id",
                "paid_on": "i.due_on - 3",
                "amount": "i.amount",
                "reference": "'ACH ' || i.number",
            },
            f"{ManagementFeeInvoice._meta.db_table} i WHERE i.status = 'paid'",
        )

    def workforce(self) -> None:
        from management.models import BusinessAssociateAgreement, StaffMember, TrainingRecord, Vendor

        s, D = self.spec, self.D
        services = "ARRAY['Scheduling software', 'Marketing agency', 'Payroll', 'IT support', 'Cleaning']"
        self.insert(  # BAA-001: v % 50 = 6 has none, v % 50 = 11 an expired one; FEE-004: vendor 3
            Vendor,
            {
                "id": bid("vendor", "v"),
                "name": "'Vendor ' || v",
                "service": f"({services})[1 + v % 5]",
                "handles_phi": "v % 5 < 2",
                "fee_basis": "CASE WHEN v = 3 THEN 'per_lead' WHEN v % 3 = 0 THEN 'hourly' ELSE 'flat' END",
                "fee_amount": "500 + v",
            },
            f"generate_series(1, {s.vendors}) v",
        )
        self.insert(
            BusinessAssociateAgreement,
            {
                "vendor_id": bid("vendor", "v"),
                "signed_on": self.ago("500"),
                "expires_on": f"CASE WHEN v % 50 = 11 THEN {D} - 30 END",
                "document_reference": "'BAA-' || v",
            },
            f"generate_series(1, {s.vendors}) v WHERE v % 5 < 2 AND v % 50 <> 6",
        )
        staff = s.locations * s.staff_per_location
        titles = "ARRAY['Front desk', 'Spa manager', 'Patient coordinator', 'Medical assistant']"
        self.insert(  # CPOM-007: staff 7 and 8 signed non-competes
            StaffMember,
            {
                "id": bid("staff", "n"),
                "employer_id": bid("mso", self.entity_of(f"1 + ((n - 1) % {s.locations}) % {s.pcs}")),
                "location_id": bid("loc", f"1 + (n - 1) % {s.locations}"),
                "full_name": "'Staff Member ' || n",
                "job_title": f"({titles})[1 + n % 4]",
                "hired_on": f"{D} - (45 + n * 37 % 2500)",
                "left_on": f"CASE WHEN n % 20 = 0 THEN {D} - 5 END",
                "exposure_risk": "n % 5 < 2",
                "contract_has_noncompete": "n IN (7, 8)",
            },
            f"generate_series(1, {staff}) n",
        )
        # A yearly course each: HIP-002 staff n % 40 = 3 and OSH-001 n % 40 = 21 only have an old one.
        self.insert(
            TrainingRecord,
            {
                "staff_member_id": bid("staff", "n"),
                "kind": "kind",
                "completed_on": (
                    f"CASE WHEN k = 1 AND (kind = 'hipaa' AND n % 40 = 3 OR kind = 'bloodborne_pathogens' "
                    f"AND n % 40 = 21) THEN {D} - 500 ELSE {D} - (n * 13 % 300) - (k - 1) * 365 END"
                ),
            },
            f"generate_series(1, {staff}) n CROSS JOIN generate_series(1, 2) k "
            "CROSS JOIN unnest(ARRAY['hipaa', 'bloodborne_pathogens']) kind "
            "WHERE kind = 'hipaa' OR n % 5 < 2",
        )

    def providers(self) -> None:
        from management.models import Provider

        D = self.D
        first_rns = [n for n in self.provider_numbers("RN", pc=1)[:2]]
        self.lapsed = first_rns  # LIC-001/LIC-003: licences lapsed 15 days ago, still on the schedule
        self.insert(
            Provider,
            {
                "id": "b.id",
                "pc_id": bid("pc", "b.pc"),
                "full_name": "'Provider ' || b.n || ', ' || b.license",
                "license_type": "b.license",
                "license_number": "upper(left(b.license, 2)) || lpad(b.n::text, 6, '0')",
                "license_state": "'CA'",
                "license_status": "'active'",
                "license_expires_on": (
                    f"CASE WHEN b.n IN ({', '.join(map(str, first_rns))}) THEN {D} - 15 "
                    f"ELSE {D} + 20 + (b.n * 53 % 700) END"
                ),
                "dea_number": (
                    "CASE WHEN b.license IN ('MD', 'DO', 'NP', 'PA') THEN 'B' || lpad(b.n::text, 7, '0') "
                    "ELSE '' END"
                ),
                "dea_expires_on": (
                    f"CASE WHEN b.license IN ('MD', 'DO', 'NP', 'PA') THEN {D} + 30 + (b.n * 71 % 900) END"
                ),
                "cures_expires_on": (
                    f"CASE WHEN b.license IN ('MD', 'DO', 'NP', 'PA') THEN {D} + 40 + (b.n * 29 % 800) END"
                ),
                "np_furnishing_number": (
                    "CASE WHEN b.license = 'NP' THEN '95' || lpad(b.n::text, 5, '0') ELSE '' END"
                ),
                "np_furnishing_expires_on": (
                    f"CASE WHEN b.license = 'NP' THEN {D} + 60 + (b.n * 17 % 700) END"
                ),
                "np_independent_103_104": "b.indep",
                "pa_practice_agreement_signed_on": f"CASE WHEN b.license = 'PA' THEN {D} - 1100 END",
                "pa_practice_agreement_expires_on": (
                    f"CASE WHEN b.license = 'PA' THEN {D} + 365 + b.n % 300 END"
                ),
                "contract_has_noncompete": "b.n = 11",
                "active": "true",
            },
            "b_prov b",
        )

    def provider_numbers(self, license_type: str, *, pc: int) -> list[int]:
        per = self.spec.providers_per_pc
        return [(pc - 1) * per + slot + 1 for slot, (lt, _, _) in enumerate(self.roles) if lt == license_type]

    def charts(self) -> None:
        from clinical.models import GoodFaithExam, PatientChart, PhotoAuthorization
        from management.models import Client

        D = self.D
        sources = "ARRAY['instagram', 'google', 'referral', 'walk_in', 'website']"
        self.insert(
            Client,
            {
                "id": "c.client_id",
                "home_location_id": bid("loc", "c.loc"),
                "full_name": "'Patient ' || c.n",
                "email": "'patient' || c.n || '@example.test'",
                "phone": "'+1619555' || lpad((c.n % 10000)::text, 4, '0')",
                "date_of_birth": f"{D} - (6600 + c.n * 37 % 18000)",
                "lead_source": f"({sources})[1 + c.n % 5]",
                "marketing_opt_in": "c.n % 3 = 0",
            },
            "b_chart c",
        )
        self.insert(  # REC-001: charts n % 5000 = 1 were destroyed 10 days ago (too early)
            PatientChart,
            {
                "id": "c.id",
                "pc_id": bid("pc", "c.pc"),
                "home_location_id": bid("loc", "c.loc"),
                "client_id": "c.client_id",
                "medical_record_number": "'BA-' || lpad(c.n::text, 7, '0')",
                "patient_name": "'Patient ' || c.n",
                "date_of_birth": f"{D} - (6600 + c.n * 37 % 18000)",
                "allergies": "CASE WHEN c.n % 9 = 0 THEN 'Lidocaine' ELSE '' END",
                "destroyed_on": f"CASE WHEN c.n % 5000 = 1 THEN {D} - 10 END",
            },
            "b_chart c",
        )
        # Three yearly exams cover every day of the two years; GFE-001: charts n % 700 = 3 miss the
        # middle one, and n % 1000 = 5 had the latest by telehealth without the patient's consent.
        self.insert(
            GoodFaithExam,
            {
                "id": bid("gfe", "c.n * 3 + k"),
                "chart_id": "c.id",
                "examiner_id": "pool.ids[1 + abs(hashtext('exam' || (c.n * 3 + k))) % pool.size]",
                "examined_on": f"{D} - (740 - 355 * k)",
                "via_telehealth": "c.n % 10 = 0",
                "telehealth_consent": "NOT (c.n % 1000 = 5 AND k = 2)",
                "medical_indication": (
                    "'Dynamic rhytids and volume loss; good candidate for aesthetic treatment.'"
                ),
                "approved_procedures": self.medical,
                "valid_until": f"{D} - (740 - 355 * k) + 360",
            },
            "b_chart c CROSS JOIN generate_series(0, 2) k "
            "JOIN b_pool pool ON pool.pc = c.pc AND pool.klass = 'exam' "
            "WHERE NOT (c.n % 700 = 3 AND k = 1)",
        )
        self.insert(
            PhotoAuthorization,
            {
                "id": bid("photoauth", "c.n"),
                "chart_id": "c.id",
                "signed_on": self.ago("740"),
                "purpose": "'Before/after gallery on the website and social media'",
            },
            "b_chart c WHERE c.n % 4 = 0",
        )

    def consent_forms(self) -> None:
        from clinical.models import ConsentFormVersion, PhysicianDecision
        from management.models import ConsentFormDraft

        s = self.spec
        procs = text_array(CONSENT_PROCEDURES)
        key = "p * 100 + i"
        approved = {1: self.at(self.ago("800"), "600"), 2: self.at(self.ago("100"), "600")}
        self.insert(
            ConsentFormDraft,
            {
                "id": bid("cfd", key),
                "pc_id": bid("pc", "p"),
                "title": f"'Consent: ' || ({procs})[i]",
                "body": f"'I consent to ' || ({procs})[i] || ' and understand its risks.'",
                "state": "'published'",
                "content_hash": f"md5('cfd:' || {key})",
                "revision": "2",
                "created_by_id": f"'{self.users['mso']}'::uuid",
                "submitted_by_id": f"'{self.users['mso']}'::uuid",
                "submitted_at": approved[2],
                "decision": "'approved'",
                "decision_hash": f"md5('cfd:' || {key})",
                "decided_at": approved[2],
                "decided_by_id": f"'{self.users['physician']}'::uuid",
                "procedure": f"({procs})[i]",
            },
            f"generate_series(1, {s.pcs}) p CROSS JOIN generate_series(1, {len(CONSENT_PROCEDURES)}) i",
        )
        for version in (1, 2):
            self.insert(
                PhysicianDecision,
                {
                    "id": bid(f"pd{version}", key),
                    "pc_id": bid("pc", "p"),
                    "consent_form_draft_id": bid("cfd", key),
                    "decision": "'approved'",
                    "content_hash": f"md5('cfv{version}:' || {key})",
                    "revision": str(version),
                    "snapshot": "'{}'::jsonb",
                    "decided_by_id": f"'{self.users['physician']}'::uuid",
                    "decided_at": approved[version],
                },
                f"generate_series(1, {s.pcs}) p CROSS JOIN generate_series(1, {len(CONSENT_PROCEDURES)}) i",
            )
            self.insert(
                ConsentFormVersion,
                {
                    "id": bid(f"cfv{version}", key),
                    "pc_id": bid("pc", "p"),
                    "draft_id": bid("cfd", key),
                    "decision_id": bid(f"pd{version}", key),
                    "procedure": f"({procs})[i]",
                    "number": str(version),
                    "title": f"'Consent: ' || ({procs})[i] || ' v{version}'",
                    "body": f"'I consent to ' || ({procs})[i] || ' and understand its risks.'",
                    "content_hash": f"md5('cfv{version}:' || {key})",
                    "approved_by_id": f"'{self.users['physician']}'::uuid",
                    "approved_at": approved[version],
                    "superseded_at": approved[2] if version == 1 else "NULL",
                },
                f"generate_series(1, {s.pcs}) p CROSS JOIN generate_series(1, {len(CONSENT_PROCEDURES)}) i",
            )
        from clinical.models import SignedConsent

        # Signed on version 1, before any treatment; CON-001: charts n % 500 = 11 signed their
        # second procedure's consent only 200 days ago.
        proc = "CASE w WHEN 0 THEN c.p1 ELSE c.p2 END"
        self.insert(
            SignedConsent,
            {
                "id": bid("consent", "c.n * 2 + w"),
                "chart_id": "c.id",
                "form_version_id": bid("cfv1", f"c.pc * 100 + array_position({procs}, ({proc})::varchar)"),
                "signed_at": f"CASE WHEN c.n % 500 = 11 AND w = 1 THEN {self.at(self.ago('200'))} "
                f"ELSE {self.at(self.ago('745'))} END",
                "signer_name": "'Patient ' || c.n",
                "witnessed_by_id": f"'{self.users['clinician']}'::uuid",
            },
            "b_chart c CROSS JOIN generate_series(0, 1) w",
        )

    def protocols(self) -> None:
        from clinical.models import Protocol, ProtocolSupervisee

        s, D = self.spec, self.D
        signed = self.at(self.ago("1100"), "600")
        common = {
            "pc_id": bid("pc", "b.pc"),
            "supervisor_id": "b.id",
            "body": "'Scope, patient selection, consent, topical agents, complications, supervision.'",
            "effective_on": self.ago("1100"),
            "expires_on": f"{D} + 365",
            "reviewed_on": self.ago("100"),
            "covers_patient_selection": "true",
            "covers_education_and_consent": "true",
            "covers_topical_agents": "true",
            "covers_complications": "true",
            "covers_supervision_and_training": "true",
            "supervisor_signed_at": signed,
            "supervisor_signed_by_id": f"'{self.users['physician']}'::uuid",
        }
        # Each physician: a standardized procedure for the RNs and NPs they supervise and a practice
        # agreement for their PAs, both covering every medical procedure.
        for kind, prefix in (("standardized_procedure", "prot_sp"), ("practice_agreement", "prot_pa")):
            self.insert(
                Protocol,
                {
                    **common,
                    "id": bid(prefix, "b.n"),
                    "kind": f"'{kind}'",
                    "title": f"'{kind.replace('_', ' ').capitalize()} of Dr. ' || b.n",
                    "procedures": self.medical,
                },
                "b_prov b WHERE b.license = 'MD'",
            )
        prt_gap, prt_stale = s.plant(3), s.plant(6)
        self.insert(  # PRT-001: one laser protocol lacks topical agents, one was not reviewed for 500 days
            Protocol,
            {
                **common,
                "id": bid("prot_laser", "b.pc"),
                "kind": "'laser_protocol'",
                "title": "'Laser and IPL protocol, PC ' || b.pc",
                "procedures": self.lasers,
                "covers_topical_agents": f"b.pc <> {prt_gap}",
                "reviewed_on": f"CASE WHEN b.pc = {prt_stale} THEN {D} - 500 ELSE {D} - 100 END",
            },
            "b_prov b WHERE b.license = 'MD' AND b.rank = 1",
        )
        # DEL-002: the third RN of PC 1 signed only 700 days ago (earlier treatments uncovered);
        # DEL-004: the first PA of PC 1 is on a standardized procedure, with no practice agreement.
        late_rn = self.provider_numbers("RN", pc=1)[2]
        self.no_agreement = self.provider_numbers("PA", pc=1)[0]
        self.insert(
            ProtocolSupervisee,
            {
                "protocol_id": (
                    f"CASE WHEN b.license = 'PA' AND b.n <> {self.no_agreement} "
                    f"THEN {bid('prot_pa', 'b.sup_n')} ELSE {bid('prot_sp', 'b.sup_n')} END"
                ),
                "provider_id": "b.id",
                "signed_at": f"CASE WHEN b.n = {late_rn} THEN {self.at(self.ago('700'))} "
                f"ELSE {self.at(self.ago('1095'))} END",
            },
            "b_prov b WHERE b.license IN ('NP', 'PA', 'RN') AND b.sup_id IS NOT NULL",
        )
        self.insert(  # laser protocols name every RN of the PC as well
            ProtocolSupervisee,
            {
                "protocol_id": bid("prot_laser", "b.pc"),
                "provider_id": "b.id",
                "signed_at": self.at(self.ago("1095")),
            },
            "b_prov b WHERE b.license = 'RN'",
        )

    def treatments(self) -> None:
        from clinical.models import Treatment

        s = self.spec
        med = self.medical
        # Each chart gets treatments/patients visits (g -> chart is a permutation), on days spread
        # over 729 days back; 5% are consultations. Planted: LVNs inject (DEL-001, g % 2000 = 13),
        # delegated work with no supervisor named (DEL-003, g % 5000 = 17), charts late (g % 250 = 9)
        # or without notes (g % 1000 = 5) (CHT-001).
        at = self.at(f"{self.D} - h.da", "540 + (g % 9) * 60 + (g % 4) * 15")
        source = f"""(
              SELECT g, c.n, c.id AS chart_id, c.loc, c.pc, pr.proc, h.da, {at} AS at
              FROM generate_series(1, {s.treatments}) g
              CROSS JOIN LATERAL (SELECT 1 + (g::bigint * 2654435761) % {s.patients} AS c,
                                         (1 + (g::bigint * 40507) % 729)::int AS da) h
              JOIN b_chart c ON c.n = h.c
              CROSS JOIN LATERAL (SELECT CASE WHEN g % 20 = 0 THEN 'consultation'
                                              WHEN g % 3 = 0 THEN c.p2 ELSE c.p1 END AS proc) pr
            ) t
            JOIN b_pool pool ON pool.pc = t.pc AND pool.klass = CASE
                 WHEN t.g % 2000 = 13 AND t.proc = ANY({med}) THEN 'lvn'
                 WHEN t.proc IN ('superficial_peel', 'facial') THEN 'esth'
                 WHEN t.proc = 'consultation' THEN 'exam' ELSE 'med' END
            JOIN b_prov pv ON pv.id = pool.ids[1 + abs(hashtext('performer' || t.g)) % pool.size]"""
        self.insert(
            Treatment,
            {
                "id": bid("trt", "t.g"),
                "chart_id": "t.chart_id",
                "location_id": bid("loc", "t.loc"),
                "procedure": "t.proc",
                "performer_id": "pv.id",
                "supervisor_id": (
                    f"CASE WHEN t.proc = ANY({med}) AND pv.license IN ('NP', 'PA', 'RN', 'LVN') "
                    "AND t.g % 5000 <> 17 THEN pv.sup_id END"
                ),
                "performed_at": "t.at",
                "consent_id": (
                    "CASE WHEN t.proc <> 'consultation' THEN "
                    f"{bid('consent', 't.n * 2 + CASE WHEN t.g % 3 = 0 THEN 1 ELSE 0 END')} END"
                ),
                "notes": (
                    "CASE WHEN t.g % 1000 = 5 THEN '' ELSE 'Treated per plan; tolerated well, no immediate "
                    "reaction.' END"
                ),
                "charted_at": (
                    "CASE WHEN t.g % 1000 = 5 THEN NULL WHEN t.g % 250 = 9 THEN t.at + interval '5 days' "
                    "ELSE t.at + interval '3 hours' END"
                ),
            },
            source,
        )
        self.run("ANALYZE treatment", f"ANALYZE {Treatment._meta.db_table}")

    def treatment_records(self) -> None:
        from clinical.models import ChartReview, Treatment, TreatmentPhoto, TreatmentProduct

        trt = Treatment._meta.db_table
        h = "abs(hashtext(t.id::text))"
        products = "ARRAY['Botox Cosmetic', 'Juvederm Voluma', 'VI Peel']"
        self.insert(  # CHT-001: a product without its lot, 1 in 1000
            TreatmentProduct,
            {
                "treatment_id": "t.id",
                "product_name": (
                    f"({products})[CASE t.procedure WHEN 'neurotoxin' THEN 1 WHEN 'dermal_filler' THEN 2 "
                    f"ELSE 3 END]"
                ),
                "lot_number": f"CASE WHEN {h} % 1000 = 7 THEN '' ELSE 'LOT' || ({h} % 100000) END",
                "expires_on": f"{self.D} + 200",
                "quantity": "20",
                "unit": "'units'",
            },
            f"{trt} t WHERE t.procedure IN ('neurotoxin', 'dermal_filler', 'medical_peel')",
        )
        # 5% of treatments have before/after photos; some are used outside the chart, mostly with
        # the patient's authorization (charts n % 4 = 0), CON-002 a few without (n % 4 = 1).
        self.insert(
            TreatmentPhoto,
            {
                "treatment_id": "t.id",
                "kind": "kind",
                "taken_at": (
                    "t.performed_at + CASE kind WHEN 'after' THEN interval '30 minutes' ELSE interval '0' END"
                ),
                "description": "initcap(kind) || ' photo'",
                "used_outside_chart": (
                    f"kind = 'after' AND (c.n % 4 = 0 AND {h} % 7 = 0 OR c.n % 4 = 1 AND {h} % 97 = 0)"
                ),
                "authorization_id": (
                    f"CASE WHEN kind = 'after' AND c.n % 4 = 0 AND {h} % 7 = 0 "
                    f"THEN {bid('photoauth', 'c.n')} END"
                ),
            },
            f"{trt} t JOIN b_chart c ON c.id = t.chart_id CROSS JOIN unnest(ARRAY['before', 'after']) kind "
            f"WHERE {h} % 20 = 0",
        )
        # A physician reviews 1 treated chart in 8 the month it is treated; CHT-002: one PC's
        # reviews fell to 1 in 40 two and three months ago.
        thin = self.spec.plant(2)
        day = f"(t.performed_at AT TIME ZONE '{self.tz}')::date"
        this_month = f"date_trunc('month', {self.D})"
        self.insert(
            ChartReview,
            {
                "chart_id": "t.chart_id",
                "reviewer_id": "pool.ids[1 + abs(hashtext('reviewer' || t.id::text)) % pool.size]",
                "reviewed_on": day,
                "findings": "'Documentation complete.'",
            },
            f"{trt} t JOIN b_chart c ON c.id = t.chart_id "
            "JOIN b_pool pool ON pool.pc = c.pc AND pool.klass = 'md' "
            f"WHERE {h} % 8 = 0 AND NOT (c.pc = {thin} AND date_trunc('month', {day}) IN ("
            f"{this_month} - interval '2 months', {this_month} - interval '3 months') AND {h} % 40 <> 0)",
        )

    def front_desk(self) -> None:
        from clinical.models import Treatment
        from management.models import Appointment, PatientPayment

        s = self.spec
        trt = Treatment._meta.db_table
        h = "abs(hashtext(t.id::text))"
        appointment = {
            "client_id": "c.client_id",
            "location_id": "t.location_id",
            "service": "t.procedure",
            "provider_id": "t.performer_id",
        }
        self.insert(  # every treatment was an appointment
            Appointment,
            {
                **appointment,
                "starts_at": "t.performed_at",
                "ends_at": "t.performed_at + interval '45 minutes'",
                "status": "'completed'",
            },
            f"{trt} t JOIN b_chart c ON c.id = t.chart_id",
        )
        self.insert(  # and 1 in 20 had a cancelled or missed appointment before it
            Appointment,
            {
                **appointment,
                "starts_at": "t.performed_at - interval '3 days'",
                "ends_at": "t.performed_at - interval '3 days' + interval '45 minutes'",
                "status": f"CASE WHEN {h} % 40 = 1 THEN 'no_show' ELSE 'cancelled' END",
            },
            f"{trt} t JOIN b_chart c ON c.id = t.chart_id WHERE {h} % 20 = 1",
        )
        ahead = max(100, s.treatments // 50)
        at = self.at(f"{self.D} + 1 + f % 60", "540 + (f % 9) * 60")
        self.insert(  # the next 60 days' bookings (2% of the treatments' volume)
            Appointment,
            {
                "client_id": "c.client_id",
                "location_id": bid("loc", "c.loc"),
                "service": "c.p1",
                "provider_id": "pool.ids[1 + abs(hashtext('booking' || f)) % pool.size]",
                "starts_at": at,
                "ends_at": f"{at} + interval '45 minutes'",
                "status": "CASE WHEN f % 3 = 0 THEN 'confirmed' ELSE 'booked' END",
            },
            f"generate_series(1, {ahead}) f JOIN b_chart c ON c.n = 1 + (f::bigint * 7907) % {s.patients} "
            "JOIN b_pool pool ON pool.pc = c.pc AND pool.klass = CASE WHEN c.p1 IN "
            "('superficial_peel', 'facial') THEN 'esth' ELSE 'med' END",
        )
        appt = Appointment._meta.db_table
        ha = "abs(hashtext(a.id::text))"
        pc_account = bid("acct_pc", "b.pc * 10 + 2")
        mso_account = bid("acct_mso", f"{self.entity_of('b.pc')} * 10 + 1")
        self.insert(  # half the visits paid at the desk; SEP-002: 1 in 5000 into the MSO's account
            PatientPayment,
            {
                "location_id": "a.location_id",
                "client_id": "a.client_id",
                "appointment_id": "a.id",
                "received_on": f"(a.starts_at AT TIME ZONE '{self.tz}')::date",
                "amount": f"250 + {ha} % 500",
                "kind": f"CASE WHEN {ha} % 7 = 0 THEN 'retail_product' ELSE 'medical_service' END",
                "method": "'card'",
                "deposited_to_id": (
                    f"CASE WHEN {ha} % 7 = 0 OR {ha} % 5000 = 3 THEN {mso_account} ELSE {pc_account} END"
                ),
            },
            f"{appt} a JOIN b_loc b ON b.id = a.location_id WHERE a.status = 'completed' "
            "AND abs(hashtext('paid' || a.id::text)) % 2 = 0",
        )

    def marketing(self) -> None:
        from management.models import (
            Equipment,
            EquipmentService,
            MarketingAsset,
            MarketingImage,
            ReviewState,
        )

        s, D = self.spec, self.D
        kinds = "ARRAY['laser', 'ipl', 'radiofrequency', 'microneedling', 'laser']"
        makers = "ARRAY['Cutera', 'Lumenis', 'InMode', 'SkinPen', 'Candela']"
        self.insert(
            Equipment,
            {
                "id": bid("device", "b.l * 10 + k"),
                "location_id": "b.id",
                "kind": f"({kinds})[k]",
                "manufacturer": f"({makers})[k]",
                "model_name": "'Model ' || k",
                "serial_number": "'SN' || b.l || '-' || k",
                "service_interval_days": "CASE WHEN k IN (1, 2, 5) THEN 180 ELSE 365 END",
            },
            f"b_loc b CROSS JOIN generate_series(1, {s.equipment_per_location}) k",
        )
        self.insert(  # serviced every 90 days; EQP-001: devices (l * 5 + k) % 20 = 3 not for 250+ days
            EquipmentService,
            {
                "equipment_id": bid("device", "b.l * 10 + k"),
                "serviced_on": f"{D} - (20 + 90 * j + (b.l * k) % 30)",
                "vendor": "'Device Care Inc.'",
            },
            f"b_loc b CROSS JOIN generate_series(1, {s.equipment_per_location}) k "
            "CROSS JOIN generate_series(0, 7) j WHERE NOT ((b.l * 5 + k) % 20 = 3 AND j < 3)",
        )
        # The trigger's content hash (mso_reviewed_content), computed here since triggers are off.
        from mso_platform.db.boundary import REVIEWED_CONTENT

        content = ", ".join(f"'{c}', x.{c}" for c in REVIEWED_CONTENT["marketing_asset"])
        digest = f"encode(sha256(convert_to(jsonb_build_object({content})::text, 'UTF8')), 'hex')"
        channels = "ARRAY['instagram', 'facebook', 'website', 'email', 'google_ads', 'print']"
        states = text_array(["published"] * 6 + ["submitted", "draft", "draft", "withdrawn"])
        body = (
            "CASE WHEN a = 23 AND b.l % 5 = 0 THEN 'Guaranteed results: painless, with no downtime!' "
            "WHEN a % 4 = 0 THEN 'Neurotoxin from $12 per unit. Offer expires at the end of the month; "
            "terms apply.' ELSE 'Refresh your look with our licensed medical team. Book a consultation.' END"
        )
        brand = (
            "CASE WHEN a = 37 AND b.l % 10 = 1 THEN 'Radiance Aesthetics' "
            "WHEN a = 38 AND b.l = 1 THEN 'Bench Management LLC' ELSE 'Glow Aesthetics ' || b.pc END"
        )
        mso, physician = f"'{self.users['mso']}'::uuid", f"'{self.users['physician']}'::uuid"
        x = f"""(
              SELECT {bid("asset", "b.l * 100 + a")} AS id, b.l, a, b.pc, b.id AS location_id,
                     'Offer ' || a || ' at spa ' || b.l AS title, {body} AS body,
                     ({channels})[1 + a % 6] AS channel, {brand} AS brand_name,
                     a % 8 = 3 AS is_testimonial,
                     CASE WHEN a % 8 = 3 AND NOT (a = 19 AND b.l % 10 = 2)
                          THEN 'Individual results vary; the patient was not paid.' ELSE '' END
                       AS testimonial_disclosure,
                     '' AS images_digest, ({states})[1 + a % 10] AS state
              FROM b_loc b CROSS JOIN generate_series(1, {s.assets_per_location}) a
            ) x"""
        decided = "x.state IN ('published', 'withdrawn')"
        self.insert(  # ADV-001: asset 29 of spas l % 10 = 3 was edited after its approval
            MarketingAsset,
            {
                "id": "x.id",
                "pc_id": bid("pc", "x.pc"),
                "title": "x.title",
                "body": "x.body",
                "state": "x.state",
                "content_hash": digest,
                "revision": "1",
                "created_by_id": mso,
                "submitted_by_id": f"CASE WHEN x.state <> '{ReviewState.DRAFT}' THEN {mso} END",
                "submitted_at": f"CASE WHEN x.state <> 'draft' THEN {self.at(self.ago('60'))} END",
                "decision": f"CASE WHEN {decided} THEN 'approved' ELSE 'pending' END",
                "decision_hash": (
                    f"CASE WHEN x.a = 29 AND x.l % 10 = 3 THEN md5('stale') WHEN {decided} THEN {digest} "
                    f"ELSE '' END"
                ),
                "decided_at": f"CASE WHEN {decided} THEN {self.at(self.ago('55'))} END",
                "decided_by_id": f"CASE WHEN {decided} THEN {physician} END",
                "location_id": "x.location_id",
                "channel": "x.channel",
                "brand_name": "x.brand_name",
                "is_testimonial": "x.is_testimonial",
                "testimonial_disclosure": "x.testimonial_disclosure",
                "images_digest": "x.images_digest",
                "published_at": f"CASE WHEN x.state = 'published' THEN {self.at(self.ago('50'))} END",
                "published_by_id": f"CASE WHEN x.state = 'published' THEN {mso} END",
            },
            x,
        )
        # ADV-003: an altered photo (a = 31, l % 10 = 4), an unlabelled model (a = 21, l % 10 = 5).
        self.insert(
            MarketingImage,
            {
                "asset_id": bid("asset", "b.l * 100 + a"),
                "description": "'Image of offer ' || a",
                "kind": (
                    "CASE WHEN a % 5 = 0 THEN 'before_after_patient' WHEN a % 5 = 1 THEN "
                    "'before_after_model' "
                    "ELSE 'stock' END"
                ),
                "altered": "a = 31 AND b.l % 10 = 4",
                "labelled_as_model": "a % 5 = 1 AND NOT (a = 21 AND b.l % 10 = 5)",
                "procedures_shown": "CASE WHEN a % 5 = 0 THEN 'Neurotoxin, forehead lines' ELSE '' END",
                "client_id": (
                    f"CASE WHEN a % 5 = 0 THEN {bid('client', f'1 + (b.l * 100 + a) % {s.patients}')} END"
                ),
            },
            f"b_loc b CROSS JOIN generate_series(1, {s.assets_per_location}) a",
        )

    def vacuum(self) -> None:
        """VACUUM ANALYZE the generated tables: statistics and visibility maps as autovacuum would
        leave them on a live database (plans and index-only scans depend on both)."""
        from django.db import connection

        began = time.perf_counter()
        with connection.cursor() as cur:
            for table in generated_tables():
                cur.execute(f"VACUUM (ANALYZE) {table}")
        self.steps.append(("VACUUM ANALYZE", 0, time.perf_counter() - began))


def generated_tables() -> list[str]:
    """Every table of the domain apps (management, clinical), schema-qualified."""
    from django.apps import apps

    return [
        m._meta.db_table
        for app in ("management", "clinical")
        for m in apps.get_app_config(app).get_models()
        if not m._meta.proxy and m._meta.managed
    ]


# --- A day's changes --------------------------------------------------------------------------------


@dataclass
class Changed:
    """The rows of one model a day's changes wrote, and their PCs: `object_ids` the rows created,
    `updated` the rows updated, each with the fields its update set (what a service tells
    ``audit_after_change``)."""

    pc_ids: list[str] = field(default_factory=list)
    object_ids: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.object_ids) + len(self.updated)


class DayChanges(Loader):
    """A day's writes: per changed table, 1 row in CHANGE_SHARE of the table written (updated plus
    inserted), half of them new (today's visits: treatments with their appointments, the paid ones'
    payments; this month's invoices), half updates. Records the rows each changed model wrote and
    their PCs.

    The profile says which rows the updates pick: ``realistic`` the records of the last RECENT_DAYS
    days (charting and amendments of recent treatments, appointments confirmed or moved around today,
    payments corrected), ``uniform`` any row of the whole history, as likely as any other."""

    def __init__(self, tenant_id: str, today: dt.date, profile: str) -> None:
        super().__init__(tenant_id, today)
        if profile not in DAY_PROFILES:
            raise SetupError(f"unknown day profile {profile}")
        self.profile = profile

    def change(self, label: str, model_label: str, dml: str, pcs: str, fields: tuple[str, ...] = ()) -> None:
        """Run `dml` (ending in RETURNING) as CTE ``w``; `pcs` selects ``pc_id, object_id`` (a written
        row and its PC) from ``w``. `fields`: the fields an update sets (none: rows created)."""
        began = time.perf_counter()
        names = f"ARRAY[{', '.join(repr(f) for f in fields)}]::text[]" if fields else "NULL::text[]"
        self.cur.execute(
            f"WITH w AS ({dml}), x AS (INSERT INTO b_changed SELECT '{model_label}', pc_id, object_id, "
            f"{names} FROM ({pcs}) p(pc_id, object_id)) SELECT count(*) FROM w"
        )
        self.steps.append((label, int(self.cur.fetchone()[0]), time.perf_counter() - began))

    def budget(self, table: str) -> int:
        """Rows the day writes to `table`: 1 in CHANGE_SHARE of the tenant's rows (at least 2)."""
        self.cur.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = '{self.tenant_id}'")
        return max(2, math.ceil(self.cur.fetchone()[0] / CHANGE_SHARE))

    def picked(self, table: str, recent: str, count: int) -> str:
        """The ids of `count` rows of `table` (alias ``r``) the day updates: among those matching
        `recent` (realistic) or among all (uniform), at random."""
        where = f"r.tenant_id = '{self.tenant_id}'"
        if self.profile == "realistic":
            where += f" AND {recent}"
        return f"SELECT r.id FROM {table} r WHERE {where} ORDER BY random() LIMIT {count}"

    def apply(self) -> dict[str, Changed]:
        from clinical.models import PatientChart, Treatment
        from management.models import (
            Appointment,
            BankAccount,
            Location,
            ManagementFeeInvoice,
            ManagementServicesAgreement,
            PatientPayment,
        )

        def columns(model: Any) -> list[str]:
            return [f.column for f in model._meta.concrete_fields]

        def quoted(column: str) -> str:
            return f'"{column}"'

        def names(model: Any) -> str:
            return ", ".join(quoted(c) for c in columns(model))

        trt, chart = Treatment._meta.db_table, PatientChart._meta.db_table
        appt, loc = Appointment._meta.db_table, Location._meta.db_table
        inv, msa = ManagementFeeInvoice._meta.db_table, ManagementServicesAgreement._meta.db_table
        pay, account = PatientPayment._meta.db_table, BankAccount._meta.db_table
        since, until = (
            self.at(f"{self.D} - {RECENT_DAYS}", "0"),
            self.at(f"{self.D} + {RECENT_DAYS + 1}", "0"),
        )
        with bulk_session() as cur:
            self.cur = cur
            cur.execute("DROP TABLE IF EXISTS b_changed, b_new_visit")
            cur.execute("CREATE TEMP TABLE b_changed (label text, pc_id uuid, object_id uuid, fields text[])")
            treatments, appointments, payments = self.budget(trt), self.budget(appt), self.budget(pay)
            visits = treatments // 2
            # Today's visits: like treatments of the history (chart, procedure, performer), performed
            # today between 8:00 and 18:00, charted 2 h later; each booked, half paid at the desk.
            at = self.at(self.D, "480 + abs(hashtext(t.id::text)) % 600")
            cur.execute(
                f"CREATE TEMP TABLE b_new_visit AS SELECT gen_random_uuid() AS id, t.id AS source_id, "
                f"{at} AS at FROM {trt} t WHERE t.tenant_id = '{self.tenant_id}' "
                f"ORDER BY random() LIMIT {visits}"
            )
            self.change(
                "treatments updated",
                "clinical.Treatment",
                f"UPDATE {trt} t SET notes = t.notes || ' Follow-up call: doing well.' FROM {chart} c "
                f"WHERE c.id = t.chart_id AND t.id IN ("
                f"{self.picked(trt, f'r.performed_at >= {since}', treatments - visits)}) "
                "RETURNING t.id, c.pc_id",
                "SELECT pc_id, id FROM w",
                fields=("notes",),
            )
            values = {"id": "v.id", "performed_at": "v.at", "charted_at": "v.at + interval '2 hours'"}
            self.change(
                "treatments new",
                "clinical.Treatment",
                f"INSERT INTO {trt} ({names(Treatment)}) "
                f"SELECT {', '.join(values.get(c, 't.' + quoted(c)) for c in columns(Treatment))} "
                f"FROM b_new_visit v JOIN {trt} t ON t.id = v.source_id RETURNING id, chart_id",
                f"SELECT c.pc_id, w.id FROM w JOIN {chart} c ON c.id = w.chart_id",
            )
            recent_appointment = f"r.starts_at >= {since} AND r.starts_at < {until}"
            self.change(
                "appointments updated",
                "management.Appointment",
                f"UPDATE {appt} a SET ends_at = a.ends_at + interval '15 minutes', "
                f"status = CASE a.status WHEN 'booked' THEN 'confirmed' ELSE a.status END FROM {loc} l "
                f"WHERE l.id = a.location_id AND a.id IN ("
                f"{self.picked(appt, recent_appointment, max(1, appointments - visits))}) "
                "RETURNING a.id, l.pc_id",
                "SELECT pc_id, id FROM w",
                fields=("ends_at", "status"),
            )
            values = {
                "id": "v.id",
                "tenant_id": "t.tenant_id",
                "client_id": "c.client_id",
                "location_id": "t.location_id",
                "service": "t.procedure",
                "provider_id": "t.performer_id",
                "starts_at": "v.at",
                "ends_at": "v.at + interval '45 minutes'",
                "status": "'completed'",
            }
            self.change(
                "appointments new",
                "management.Appointment",
                f"INSERT INTO {appt} ({names(Appointment)}) "
                f"SELECT {', '.join(values[c] for c in columns(Appointment))} FROM b_new_visit v "
                f"JOIN {trt} t ON t.id = v.id JOIN {chart} c ON c.id = t.chart_id RETURNING id, location_id",
                f"SELECT l.pc_id, w.id FROM w JOIN {loc} l ON l.id = w.location_id",
            )
            paid_visit = "abs(hashtext(v.id::text)) % 2 = 0"
            cur.execute(f"SELECT count(*) FROM b_new_visit v WHERE {paid_visit}")
            paid = int(cur.fetchone()[0])
            self.change(
                "payments updated",
                "management.PatientPayment",
                f"UPDATE {pay} p SET amount = p.amount + 25 FROM {loc} l "
                f"WHERE l.id = p.location_id AND p.id IN ("
                f"{self.picked(pay, f'r.received_on >= {self.D} - {RECENT_DAYS}', max(1, payments - paid))}) "
                "RETURNING p.id, l.pc_id",
                "SELECT pc_id, id FROM w",
                fields=("amount",),
            )
            values = {
                "id": "gen_random_uuid()",
                "tenant_id": "a.tenant_id",
                "location_id": "a.location_id",
                "client_id": "a.client_id",
                "appointment_id": "a.id",
                "received_on": self.D,
                "amount": "350",
                "currency": "'USD'",
                "kind": "'medical_service'",
                "method": "'card'",
                "deposited_to_id": "acct.id",
            }
            self.change(
                "payments new",
                "management.PatientPayment",
                f"INSERT INTO {pay} ({names(PatientPayment)}) "
                f"SELECT {', '.join(values[c] for c in columns(PatientPayment))} FROM b_new_visit v "
                f"JOIN {appt} a ON a.id = v.id JOIN {loc} l ON l.id = a.location_id "
                f"JOIN LATERAL (SELECT b.id FROM {account} b WHERE b.pc_id = l.pc_id "
                "AND b.purpose = 'patient_deposits' LIMIT 1) acct ON true "
                f"WHERE {paid_visit} RETURNING id, location_id",
                f"SELECT l.pc_id, w.id FROM w JOIN {loc} l ON l.id = w.location_id",
            )
            invoices = self.budget(inv)
            # Invoices: the oldest issued ones paid (realistic: they are the ones due), new ones for
            # this month. Uniform: any issued one, at random.
            issued = f"SELECT id FROM {inv} WHERE tenant_id = '{self.tenant_id}' AND status = 'issued'"
            order = "ORDER BY issued_on, number" if self.profile == "realistic" else "ORDER BY random()"
            self.change(
                "invoices updated",
                "management.ManagementFeeInvoice",
                f"UPDATE {inv} i SET status = 'paid' FROM {msa} m WHERE m.id = i.msa_id AND i.id IN ("
                f"{issued} {order} LIMIT {invoices // 2}) RETURNING i.id, m.pc_id",
                "SELECT pc_id, id FROM w",
                fields=("status",),
            )
            month = f"date_trunc('month', {self.D})::date"
            values = {
                "id": "gen_random_uuid()",
                "tenant_id": "m.tenant_id",
                "msa_id": "m.id",
                "number": "'INV-' || left(gen_random_uuid()::text, 8)",
                "period_start": month,
                "period_end": f"({month} + interval '1 month' - interval '1 day')::date",
                "amount": "COALESCE(m.fee_amount, 30000)",
                "currency": "'USD'",
                "issued_on": self.D,
                "due_on": f"{self.D} + 14",
                "status": "'issued'",
            }
            self.change(
                "invoices new",
                "management.ManagementFeeInvoice",
                f"INSERT INTO {inv} ({names(ManagementFeeInvoice)}) "
                f"SELECT {', '.join(values[c] for c in columns(ManagementFeeInvoice))} "
                f"FROM (SELECT * FROM {msa} WHERE tenant_id = '{self.tenant_id}' AND end_date >= {self.D} "
                f"ORDER BY title LIMIT {invoices - invoices // 2}) m RETURNING id, msa_id",
                f"SELECT m.pc_id, w.id FROM w JOIN {msa} m ON m.id = w.msa_id",
            )
            cur.execute(
                "SELECT label, pc_id, object_id, fields FROM b_changed ORDER BY label, pc_id, object_id"
            )
            touched: dict[str, Changed] = {}
            for label, pc_id, object_id, fields in cur.fetchall():
                changed = touched.setdefault(label, Changed())
                changed.pc_ids = list(dict.fromkeys([*changed.pc_ids, str(pc_id)]))
                if fields is None:
                    changed.object_ids.append(str(object_id))
                else:
                    changed.updated[str(object_id)] = list(fields)
        return touched


# --- Measurements -----------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    seconds: float
    run_id: str
    status: str
    error: str
    rule_ids: list[str]
    stats: dict[str, Any]


def reset_findings() -> None:
    """Findings and runs of earlier benchmark runs go: the first full run starts from none."""
    from django.db import connection

    from compliance.models import AuditRun, BusinessFinding, ClinicalFinding

    tables = ", ".join(m._meta.db_table for m in (BusinessFinding, ClinicalFinding, AuditRun))
    with connection.cursor() as cur:
        cur.execute(f"TRUNCATE {tables}")


def read_run(run_id: str, label: str, seconds: float) -> Run:
    from compliance.models import AuditRun

    run = AuditRun.objects.get(pk=run_id)
    return Run(label, seconds, run_id, run.status, run.error, list(run.rule_ids), dict(run.stats))


def full_audit(tenant_id: str, label: str) -> Run:
    """The nightly task's body (``audit_tenant``): every rule the tenant has on, as the worker runs it."""
    from compliance.tasks import audit_tenant

    require_triggers_on()
    began = time.perf_counter()
    summary = audit_tenant(tenant_id=tenant_id, key=f"bench:{label}:{uuid.uuid4()}")
    seconds = time.perf_counter() - began
    return read_run(summary["run_id"], label, seconds)


def incremental(tenant_id: str, touched: dict[str, Changed]) -> list[tuple[str, int, Run | None]]:
    """One change-triggered run per changed model for the day's batch of its written rows (their ids
    and PCs), as ``audit_after_change`` runs it: (model, rows, run or None when no rule is triggered)."""
    from compliance.tasks import audit_after_change

    require_triggers_on()
    out: list[tuple[str, int, Run | None]] = []
    for label, changed in touched.items():
        began = time.perf_counter()
        summary = audit_after_change(
            tenant_id=tenant_id,
            model_label=label,
            pc_ids=changed.pc_ids,
            object_ids=changed.object_ids,
            updated=changed.updated,
        )
        seconds = time.perf_counter() - began
        run = read_run(summary["run_id"], label, seconds) if summary else None
        out.append((label, changed.rows, run))
    return out


TABLE_REF = re.compile(r'(?:FROM|JOIN)\s+((?:"\w+"\.)?"\w+")')


@dataclass
class Probe:
    """A rule's query alone (``SELECT count(*) FROM (rule SQL)``, as the owner): its time and hits."""

    tables: list[str]  # the tables its SQL reads
    seconds: float | None  # None: cancelled at the timeout
    rows: int | None


def probe_rules(tenant_id: str, today: dt.date, timeout: float) -> dict[str, Probe]:
    """Each rule's SQL as the engine compiles it for a full run, timed bare under a statement timeout
    (a rule that cannot finish would hold the full audit for ever)."""
    from django.db import OperationalError, connection, transaction

    from compliance.engine import hit_sql
    from compliance.registry import REGISTRY, RuleInput

    out = {}
    for rule in REGISTRY.all():
        qs = rule.query(RuleInput(tenant_id=tenant_id, today=today, params=rule.defaults()))
        sql, params = hit_sql(qs)
        seconds: float | None = None
        rows: int | None = None
        try:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
                began = time.perf_counter()
                cur.execute(f"SELECT count(*) FROM ({sql}) h", params)
                rows = int(cur.fetchone()[0])
                seconds = time.perf_counter() - began
        except OperationalError as exc:
            if "statement timeout" not in str(exc):
                raise
        out[rule.id] = Probe(sorted(set(TABLE_REF.findall(sql))), seconds, rows)
        shown = f"{seconds:.2f} s" if seconds is not None else f"cancelled after {timeout:g} s"
        if seconds is None or seconds > 1:
            say(f"  {rule.id}: {shown}")
    return out


def switch_off(tenant_id: str, rule_ids: Sequence[str]) -> None:
    """The tenant's rule settings: `rule_ids` switched off (the product's own switch), none else."""
    from compliance.models import RuleSetting
    from compliance.registry import REGISTRY

    critical = [r for r in rule_ids if not REGISTRY.get(r).may_be_disabled]
    if critical:
        raise SetupError(
            f"critical rule(s) {', '.join(critical)} did not finish within the rule timeout; a full audit "
            "cannot leave them out (raise --rule-timeout to measure them)"
        )
    RuleSetting.objects.filter(tenant_id=tenant_id).delete()
    for rule_id in rule_ids:
        RuleSetting.objects.create(tenant_id=tenant_id, rule_id=rule_id, critical=False, enabled=False)


def floor_scans(tenant_id: str, tables: set[str]) -> dict[str, tuple[float, int]]:
    """Seconds (median of FLOOR_REPEAT, after one warm-up) and rows of a bare ``count(*)`` of the
    tenant's rows of each table, as the table owner: the least any query reading it must do."""
    from django.apps import apps
    from django.db import connection

    tenant_tables = {
        m._meta.db_table
        for m in apps.get_models()
        if any(f.column == "tenant_id" for f in m._meta.concrete_fields)
    }
    out = {}
    with connection.cursor() as cur:
        for table in sorted(tables):
            where = f" WHERE tenant_id = '{tenant_id}'" if table in tenant_tables else ""
            out[table] = warm_median(cur, f"SELECT count(*) FROM {table}{where}")
    return out


def warm_median(cur: Any, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> tuple[float, int]:
    """Seconds (median of FLOOR_REPEAT, after one warm-up) of a ``SELECT count(*) …``, and the count."""
    times, rows = [], 0
    for i in range(FLOOR_REPEAT + 1):
        began = time.perf_counter()
        cur.execute(sql, params)
        rows = int(cur.fetchone()[0])
        if i:
            times.append(time.perf_counter() - began)
    return statistics.median(times), rows


def finding_counts() -> dict[str, tuple[int, int]]:
    """Per rule: (open findings, all findings), both sides, read as the owner."""
    from django.db import connection

    from compliance.models import BusinessFinding, ClinicalFinding

    out: dict[str, tuple[int, int]] = {}
    with connection.cursor() as cur:
        for model in (BusinessFinding, ClinicalFinding):
            cur.execute(
                f"SELECT rule_id, count(*) FILTER (WHERE status <> 'resolved'), count(*) "
                f"FROM {model._meta.db_table} GROUP BY rule_id"
            )
            for rule_id, open_, total in cur.fetchall():
                out[rule_id] = (int(open_), int(total))
    return out


# --- Report -----------------------------------------------------------------------------------------


def ms_of(run: Run, rule_id: str) -> float:
    stat = run.stats.get(rule_id) or {}
    return float(stat.get("ms", math.nan))


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


@dataclass
class Day:
    """One day's changes (profile, the rows each step wrote) and the change runs after it."""

    profile: str
    steps: list[tuple[str, int, float]]
    runs: list[tuple[str, int, Run | None]]


@dataclass
class Figures:
    spec: Spec
    load_before: tuple[float, float, float]
    built: Built | None
    reused_from: str
    timeout: float
    probes: dict[str, Probe]
    skipped: list[str]
    runs: list[Run]
    floor: dict[str, tuple[float, int]]
    days: list[Day]
    findings: dict[str, tuple[int, int]]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


def day_report(day: Day, steady: Run) -> tuple[float, float]:
    """Print a day's changes and its change runs; return their seconds and share of the full run 2."""
    print()
    print(
        f"a {day.profile} day's changes (1 row in {CHANGE_SHARE} of each changed table written, half new; "
        "not measured):"
    )
    print("  " + ", ".join(f"{label} {rows:,}" for label, rows, _ in day.steps))
    total = 0.0
    per_rule: dict[str, float] = {}
    for label, rows, run in day.runs:
        if run is None:
            print(f"  {label:<33}no rule triggered for {rows:,} rows")
            continue
        total += run.seconds
        rules = sorted(run.rule_ids, key=lambda r: -(0 if math.isnan(ms_of(run, r)) else ms_of(run, r)))
        print(
            f"  {label:<33}1 run for {rows:,} rows {run.seconds:>7.2f} s; "
            + ", ".join(f"{r} {ms_of(run, r) / 1000:.2f}" for r in rules)
        )
        for rule_id in run.rule_ids:
            per_rule[rule_id] = per_rule.get(rule_id, 0.0) + ms_of(run, rule_id)
    print(
        "  per rule, summed over the runs (full run 2 in brackets): "
        + ", ".join(
            f"{r} {ms / 1000:.2f} s ({ms_of(steady, r) / 1000:.2f})"
            for r, ms in sorted(per_rule.items(), key=lambda kv: -kv[1])
        )
    )
    share = total / steady.seconds if steady.seconds else math.nan
    return total, share


def report(f: Figures) -> None:
    from django.db import connection

    from compliance.registry import REGISTRY

    s = f.spec
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        version = cur.fetchone()[0]
    print()
    print(
        f"MSO Platform audit benchmark: tenant {SLUG} at --scale {s.scale:g} ({s.locations} locations, "
        f"{s.pcs} PCs, {s.providers} providers, {s.patients:,} charts, {s.treatments:,} treatments); "
        f"{os.cpu_count()} CPUs, PostgreSQL {version}"
    )
    print(
        f"load average before {' '.join(f'{x:.2f}' for x in f.load_before)}, "
        f"after {' '.join(f'{x:.2f}' for x in f.load_after)} (other work on the machine shows up as noise)"
    )
    if f.built is not None:
        print(
            f"data set generated in {f.built.seconds:.1f} s (set-based SQL, triggers off, then VACUUM "
            f"ANALYZE)"
        )
    else:
        print(f"data set reused ({f.reused_from}); --fresh rebuilds it")

    floor_rule = {
        rule: sum(f.floor[t][0] for t in probe.tables if t in f.floor) for rule, probe in f.probes.items()
    }
    evaluated = [r for r in f.probes if r not in f.skipped]
    floor_total = sum(floor_rule[r] for r in evaluated)
    floor_once = sum(
        f.floor[t][0] for t in {t for r in evaluated for t in f.probes[r].tables} if t in f.floor
    )
    cold, steady = f.runs[0], f.runs[-1]
    sides = {r.id: r.side.value for r in REGISTRY.all()}

    def key(rule: str) -> float:
        ms = ms_of(steady, rule)
        return -(math.inf if rule in f.skipped else 0 if math.isnan(ms) else ms)

    order = sorted(f.probes, key=key)
    print()
    print("rule      side      run 1 ms  run 2 ms  query ms  floor ms  run2/floor  hits  open  tables read")
    print("-" * 110)
    for rule in order:
        probe, fl, ms = f.probes[rule], floor_rule[rule] * 1000, ms_of(steady, rule)
        query = fmt(probe.seconds * 1000 if probe.seconds is not None else None)
        if rule in f.skipped:
            query = f">{f.timeout * 1000:.0f}"
        error = (steady.stats.get(rule) or {}).get("error")
        tables = ", ".join(t.replace('"', "").split(".")[-1] for t in probe.tables)
        print(
            f"{rule:<9} {sides.get(rule, '?'):<9} {fmt(ms_of(cold, rule)):>8} {fmt(ms):>9} {query:>9} "
            f"{fl:>9.1f} {fmt(ms / fl if fl else math.nan, 1):>11} {fmt(probe.rows):>5} "
            f"{f.findings.get(rule, (0, 0))[0]:>5}  {tables[:48]}"
            + (f"  ERROR {error}" if error else "")
            + ("  (switched off: query over the timeout)" if rule in f.skipped else "")
        )
    print()
    slowest = [r for r in order if r not in f.skipped][:10]
    print("slowest 10 rules (run 2): " + ", ".join(f"{r} {ms_of(steady, r) / 1000:.2f} s" for r in slowest))
    if f.skipped:
        print(
            f"switched off for the engine runs (query alone over {f.timeout:g} s): {', '.join(f.skipped)}; "
            "the full-audit figures below leave them out"
        )

    print()
    read = {t for p in f.probes.values() for t in p.tables}
    print(f"{'table (* read by no rule)':<44}{'rows':>12}{'count(*) ms':>13}")
    print("-" * 69)
    for table, (sec, rows) in sorted(f.floor.items(), key=lambda kv: -kv[1][1]):
        name = table.replace(chr(34), "") + ("" if table in read else " *")
        print(f"{name:<44}{rows:>12,}{sec * 1000:>13.1f}")

    shares = {day.profile: day_report(day, steady) for day in f.days}
    changes = [r for day in f.days for _, _, r in day.runs if r is not None]
    failed = [r for r in [*f.runs, *changes] if r.status != "done"]
    ratio = steady.seconds / floor_total if floor_total else math.nan
    print()
    print(f"full audit, run 1 (findings created):     {cold.seconds:9.2f} s  ({len(cold.rule_ids)} rules)")
    print(f"full audit, run 2 (findings seen again):  {steady.seconds:9.2f} s")
    print(f"floor, count(*) of each table a rule reads, summed over the rules: {floor_total:.3f} s")
    print(f"                                 (each table counted once: {floor_once:.3f} s)")
    print(
        f"audit / floor (run 2):                    {ratio:9.1f}x  "
        f"(run 1: {cold.seconds / floor_total:.1f}x; "
        f"against each table once: {steady.seconds / floor_once:.1f}x)"
    )
    for day in f.days:
        seconds, share = shares[day.profile]
        print(
            f"incremental after a {day.profile + ' day:':<22}{seconds:9.2f} s  = {share * 100:.1f}% of run 2 "
            f"({len([r for _, _, r in day.runs if r is not None])} change-triggered runs)"
        )
    print(
        f"open findings after run 2: {sum(o for o, _ in f.findings.values()):,} from {len(f.findings)} rules"
    )
    print()
    complete = "" if not f.skipped else f" (without {', '.join(f.skipped)})"
    print(
        f"target: full audit <= {TARGET_FLOOR_RATIO:g}x the floor:   {verdict(ratio <= TARGET_FLOOR_RATIO)}"
    )
    met = steady.seconds < TARGET_SECONDS and not f.skipped
    print(f"target: full audit < {TARGET_SECONDS:g} s:             {verdict(met)}{complete}")
    for profile, (_, share) in shares.items():
        print(
            f"target: incremental < {TARGET_INCREMENTAL_SHARE * 100:g}% of a full run ({profile} day): "
            f"{verdict(share < TARGET_INCREMENTAL_SHARE)}"
        )
    for run in failed:
        print(f"run {run.label} ended {run.status}: {run.error}")


# --- Main -------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="size of the tenant (1.0: 1M treatments)")
    parser.add_argument("--keep", action="store_true", help="keep the database and its data for the next run")
    parser.add_argument("--fresh", action="store_true", help="drop the data set and generate it again")
    parser.add_argument("--db", default="bench_audit", help="bench database name (default bench_audit)")
    parser.add_argument(
        "--rule-timeout",
        type=float,
        default=120.0,
        help="seconds a rule's query may take alone before it is left out of the engine runs (default 120)",
    )
    parser.add_argument(
        "--day",
        choices=(*DAY_PROFILES, "both"),
        default="realistic",
        help=(
            "which rows a day's updates pick: realistic (the last 14 days' records, default), uniform "
            "(any row of the history), or both, one day after the other"
        ),
    )
    args = parser.parse_args(argv)
    if not 0.001 <= args.scale <= 5:
        parser.error("--scale must be between 0.001 and 5")
    if not 1 <= args.rule_timeout <= 3600:
        parser.error("--rule-timeout must be between 1 and 3600 seconds")
    if not args.db.replace("_", "").isalnum() or args.db in {"postgres", "mso_platform", "bench_load"}:
        parser.error("--db must be a plain name of a database used only by this benchmark")
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def benchmark(args: argparse.Namespace, db: Database) -> None:
    from django.utils import timezone

    spec = Spec(args.scale)
    load_before = os.getloadavg()
    today = timezone.localdate()
    built: Built | None = None
    tenant_id = db.tenant_id
    if tenant_id is None:
        say(
            f"Generating the tenant: {spec.locations} locations, {spec.pcs} PCs, {spec.providers} providers, "
            f"{spec.patients:,} charts, {spec.treatments:,} treatments (set-based SQL)"
        )
        built = Builder(spec, today).build()
        tenant_id = built.tenant_id
        mark_complete(db.name, spec.scale, tenant_id, today)
        say(f"Generated in {built.seconds:.1f} s")
    else:
        say(f"Reusing the data set of tenant {tenant_id} (--fresh rebuilds it)")
    reset_findings()
    say(f"Each rule's query alone (timeout {args.rule_timeout:g} s)")
    probes = probe_rules(tenant_id, today, args.rule_timeout)
    skipped = [r for r, p in probes.items() if p.seconds is None]
    switch_off(tenant_id, skipped)
    runs = []
    for label in ("run 1", "run 2"):
        say(f"Full audit, {label}: compliance.tasks.audit_tenant (every rule switched on)")
        runs.append(full_audit(tenant_id, label))
        say(f"  {runs[-1].seconds:.2f} s, {runs[-1].status}")
    findings = finding_counts()
    say("Floor: count(*) of every table the rules read")
    floor = floor_scans(tenant_id, {t for p in probes.values() for t in p.tables} | set(generated_tables()))
    from compliance.registry import warm_reads

    say("What each rule reads of its triggers' tables (registry.warm_reads, as a worker process at start)")
    began = time.perf_counter()
    warm_reads()
    say(f"  {time.perf_counter() - began:.2f} s, once per worker process: not part of a change run")
    days = []
    for profile in DAY_PROFILES if args.day == "both" else (args.day,):
        say(f"Applying a {profile} day's changes (not measured)")
        changes = DayChanges(tenant_id, today, profile)
        touched = changes.apply()
        say("Change-triggered runs: compliance.tasks.audit_after_change per changed model (the day's rows)")
        days.append(Day(profile, changes.steps, incremental(tenant_id, touched)))
    report(
        Figures(
            spec=spec,
            load_before=load_before,
            built=built,
            reused_from=f"tenant {tenant_id}",
            timeout=args.rule_timeout,
            probes=probes,
            skipped=skipped,
            runs=runs,
            floor=floor,
            days=days,
            findings=findings,
            load_after=os.getloadavg(),
        )
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    db: Database | None = None
    try:
        db = prepare_database(args.db, args.scale, fresh=args.fresh)
        setup_django(db.url)
        benchmark(args, db)
        return 0
    except SetupError as exc:
        print(f"bench: set-up failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if db is not None and not args.keep:
            say(f"Dropping database {db.name} (--keep keeps it)")
            drop_database(db.name)


if __name__ == "__main__":
    sys.exit(main())
