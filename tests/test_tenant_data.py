"""Data safety: per-tenant export, restore into an empty database, and tenant delete.

The round trip restores into a second database on the same server, created for the test and owned
by a non-superuser role (as in production), so forced row-level security binds the restore, the
re-export and the delete there.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from django.apps import apps
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from mso_platform.db import boundary
from tenants import audit
from tenants.access import reset_identity
from tenants.audit import chain_verify
from tenants.models import AuditLogEntry, Membership, Tenant, User
from tenants.portability import Kind, build_plan
from tenants.portability.archive import MANIFEST, file_name, migration_state
from tenants.services import api_key_create, membership_create
from tests.worlds import PASSWORD, World, build_world

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = {"django_content_type", "auth_permission"}


# --- helpers ------------------------------------------------------------------------------------------


def independent_tenant_tables() -> set[str]:
    """Tables with a tenant_id column, found the way tests/test_db_boundary.py finds them."""
    from mso_platform.db.schemas import split_table

    return {
        ".".join(split_table(m._meta.db_table))
        for m in apps.get_models(include_auto_created=True)
        if any(f.column == "tenant_id" for f in m._meta.local_fields)
    }


def fetch(cur: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    cur.execute(sql, params)
    return list(cur.fetchall())


def tenant_rows(cur: Any, tenant_id: Any) -> dict[str, list[str]]:
    """Every planned table's rows of a tenant, comparable across databases.

    Integer keys that a restore renumbers (auth groups, 2FA devices) are replaced by the content of
    the row they name, and content types and permissions by their natural keys.
    """
    plan = build_plan()
    tenant = str(tenant_id)
    # Transaction-local, like the app: nothing stays on a connection that later tests reuse.
    cur.execute("SET LOCAL TimeZone = 'UTC'")
    cur.execute("SELECT set_config('app.tenant_id', %s, true)", [tenant])
    members = "SELECT {} FROM tenants_membership WHERE tenant_id = %s"
    params = {
        "tenant": tenant,
        "users": [r[0] for r in fetch(cur, members.format("user_id"), [tenant])],
        "groups": [r[0] for r in fetch(cur, members.format("group_id"), [tenant])],
    }
    natural = {
        "django_content_type": dict(
            fetch(cur, "SELECT id, app_label || '.' || model FROM django_content_type")
        ),
        "auth_permission": dict(
            fetch(
                cur,
                "SELECT p.id, ct.app_label || '.' || ct.model || '.' || p.codename FROM auth_permission p "
                "JOIN django_content_type ct ON ct.id = p.content_type_id",
            )
        ),
    }
    renumbered: dict[str, dict[Any, str]] = {}
    out: dict[str, list[str]] = {}
    for table in plan.tables:
        sql = f"SELECT row_to_json(t)::text FROM {table.name} t WHERE {plan.where(table)}"
        rows = [json.loads(r[0]) for r in fetch(cur, sql, params)]
        canon: dict[Any, str] = {}
        for row in rows:
            for link in table.links:
                value = row.get(link.column)
                if value is not None and link.target in natural:
                    row[link.column] = natural[link.target][value]
                elif value is not None and link.target in renumbered:
                    row[link.column] = renumbered[link.target][value]
            if table.auto_pk:
                key = row.pop(table.auto_pk)
                canon[key] = json.dumps(row, sort_keys=True)
        if table.auto_pk:
            renumbered[table.name] = canon
        out[table.label] = sorted(json.dumps(r, sort_keys=True) for r in rows)
    cur.execute("SELECT set_config('app.tenant_id', '', true)")
    return out


def whole_database(cur: Any) -> dict[str, set[str]]:
    """Every row of every table of the database (for "deletes nothing else")."""
    cur.execute("SET LOCAL TimeZone = 'UTC'")
    tables = connection.introspection.table_names(cur)
    return {t: {r[0] for r in fetch(cur, f"SELECT row_to_json(x)::text FROM {t} x")} for t in tables}


def manifest_of(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read(MANIFEST))


def rewrite_archive(src: Path, dst: Path, edit: Callable[[str, bytes], bytes | None]) -> None:
    """Copy an archive, passing each member through ``edit`` (None drops it)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            data = edit(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)


def rows_everywhere(tenant_id: Any) -> int:
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id)])
        total = sum(
            fetch(cur, f"SELECT count(*) FROM {t.name} WHERE tenant_id = %s", [str(tenant_id)])[0][0]
            for t in build_plan().of_kind(Kind.TENANT_OWNED, Kind.AUDIT)
        )
        total += fetch(cur, "SELECT count(*) FROM tenants_tenant WHERE id = %s", [str(tenant_id)])[0][0]
    return int(total)


@dataclass
class Stage:
    a: World
    b: World
    shared: User  # A's administrator, also MSO staff in B


def stage() -> Stage:
    """Two tenants, a person in both, an API key, a clinical read, a 2FA device, a login event."""
    a, b = build_world("alpha", domain=True), build_world("bravo", domain=True)
    shared = a.user("mso_admin")
    membership_create(tenant=b.tenant, user=shared, capacity="mso_staff")
    api_key_create(ctx=a.ctx("mso_admin"), name="sync")
    api_key_create(ctx=b.ctx("mso_admin"), name="sync")
    with transaction.atomic():
        audit.record_clinical_reads(a.ctx("clinician"), [a.charts[0]])
    audit.record(None, "login", object_type="auth.user", object_id=str(a.user("clinician").pk))
    if apps.is_installed("django_otp.plugins.otp_totp"):
        device = apps.get_model("otp_totp", "TOTPDevice")
        device.objects.create(user=a.user("pc_physician"), name="phone", confirmed=True)
        device.objects.create(user=b.user("pc_physician"), name="phone", confirmed=True)
    return Stage(a, b, shared)


# --- a second database, owned by a non-superuser -----------------------------------------------------


@dataclass
class Scratch:
    url: str
    name: str
    admin: dict[str, Any]  # connection parameters of the test's own role (to inspect it)

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DATABASE_URL": self.url, "DJANGO_SETTINGS_MODULE": "mso_platform.settings.test"}
        result = subprocess.run(  # noqa: S603 - our own manage.py with fixed arguments
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        """A look into the database, in a transaction that is rolled back."""
        conn = psycopg2.connect(**{**self.admin, "dbname": self.name})
        try:
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.rollback()
            conn.close()


@pytest.fixture
def scratch_db() -> Iterator[Scratch]:
    params = connection.get_connection_params()
    admin = {k: v for k, v in params.items() if k in ("user", "password", "host", "port")}
    suffix = secrets.token_hex(4)
    name = f"{connection.settings_dict['NAME']}_restore_{suffix}"
    conn = psycopg2.connect(**admin, dbname="postgres")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    owner = None
    if cur.fetchone()[0]:
        # Like production: the owner that migrates and runs the commands is not a superuser.
        owner, password = f"mso_restore_{suffix}", secrets.token_hex(16)
        cur.execute(f"CREATE ROLE {owner} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD %s", [password])
        for role in boundary.RUNTIME_ROLES:
            cur.execute(f"GRANT {role} TO {owner} WITH ADMIN OPTION")
        cur.execute(f"CREATE DATABASE {name} OWNER {owner}")
        user = f"{owner}:{password}"
    else:
        cur.execute(f"CREATE DATABASE {name}")
        user = admin["user"] + (f":{admin['password']}" if admin.get("password") else "")
    host = str(admin.get("host") or "localhost")
    if host.startswith("/"):
        url = f"postgres://{user}@/{name}?host={host}"
    else:
        url = f"postgres://{user}@{host}:{admin.get('port') or 5432}/{name}"
    try:
        yield Scratch(url, name, admin)
    finally:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if owner:
            cur.execute(f"DROP ROLE IF EXISTS {owner}")
        conn.close()


# --- the plan ----------------------------------------------------------------------------------------


def test_plan_covers_every_tenant_owned_table_and_the_tenants_principals() -> None:
    plan = build_plan()
    labels = {t.label: t.kind for t in plan.tables}
    owned = {label for label, kind in labels.items() if kind in (Kind.TENANT_OWNED, Kind.AUDIT)}
    assert owned == independent_tenant_tables()
    assert {"management.location", "clinical.patient_chart", "public.tenants_membership"} <= owned
    assert labels["public.tenants_tenant"] is Kind.TENANT
    assert labels["public.tenants_user"] is Kind.USER
    assert labels["public.auth_group"] is Kind.GROUP
    for dependent in ("public.tenants_user_groups", "public.guardian_groupobjectpermission"):
        assert labels[dependent] is Kind.DEPENDENT
    assert not REFERENCE & {t.name for t in plan.tables}
    assert "public.django_session" not in labels
    order = [t.name for t in plan.tables]
    assert order[-1] == "tenants_auditlogentry"
    for table in plan.tables:  # referenced tables come first, so renumbered keys are known in time
        for link in table.links:
            if link.target in order and link.target != table.name:
                assert order.index(link.target) < order.index(table.name), (table.name, link.target)


# --- export and restore into another database -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_export_then_restore_into_an_empty_database_reproduces_the_tenant(
    tmp_path: Path, scratch_db: Scratch
) -> None:
    s = stage()
    with pytest.raises(CommandError, match="Unknown tenant 'nope'"):
        call_command("export_tenant", "nope", str(tmp_path / "nope.zip"))
    with transaction.atomic(), connection.cursor() as cur:
        source_before = tenant_rows(cur, s.a.tenant.pk)
    archive, b_archive = tmp_path / "alpha.zip", tmp_path / "bravo.zip"
    out = StringIO()
    call_command("export_tenant", "alpha", str(archive), stdout=out)
    assert f"Exported tenant 'alpha': {sum(len(v) for v in source_before.values())} rows" in out.getvalue()
    with transaction.atomic(), connection.cursor() as cur:
        b_before = tenant_rows(cur, s.b.tenant.pk)
    call_command("export_tenant", "bravo", str(b_archive), stdout=StringIO())

    # The manifest describes the archive, and the archive holds exactly the tenant's rows.
    manifest = manifest_of(archive)
    assert (manifest["format"], manifest["format_version"]) == ("mso-tenant-archive", 1)
    assert manifest["tenant"] == {"id": str(s.a.tenant.pk), "slug": "alpha", "name": s.a.tenant.name}
    assert manifest["app_version"] and manifest["created_at"]
    with transaction.atomic(), connection.cursor() as cur:
        assert manifest["database"]["migrations"] == migration_state(cur)
        applied = manifest["database"]["migrations"]["tenants"]
        assert applied[:3] == ["0001_initial", "0002_audit_hash_chain", "0003_audit_restore_and_purge"]
    entries = {e["table"]: e for e in manifest["tables"]}
    assert set(entries) == {t.label for t in build_plan().tables}
    with zipfile.ZipFile(archive) as zf:
        for label, entry in entries.items():
            data = zf.read(entry["file"])
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], label
            assert entry["rows"] == len(source_before[label]) == data.count(b"\n"), label
        blob = b"".join(zf.read(n) for n in zf.namelist() if n.startswith("tables/"))
    assert entries["clinical.patient_chart"]["rows"] == 2
    assert entries["public.tenants_membership"]["rows"] == 6  # six capacities, none of B's
    assert entries["public.tenants_user"]["rows"] == 6
    # Nothing of B: not its id, its people, its records, its groups.
    assert str(s.b.tenant.pk).encode() not in blob
    assert all(m.user.email.encode() not in blob for c, m in s.b.members.items())
    assert all(chart.patient_name.encode() not in blob for chart in s.b.charts)
    assert all(f"membership:{m.pk}".encode() not in blob for m in s.b.members.values())
    assert s.shared.email.encode() in blob
    a_audit = AuditLogEntry.objects.filter(tenant=s.a.tenant).order_by("seq")
    last = a_audit.last()
    assert last is not None and last.action == "tenant.exported"  # the export itself is on the record
    assert entries["public.tenants_auditlogentry"]["rows"] == a_audit.count() - 1

    # Restore into a fresh, migrated database owned by a non-superuser.
    scratch_db.manage("migrate", "--noinput", "-v0")
    restored = scratch_db.manage("import_tenant", str(archive))
    assert "Restored tenant 'alpha'" in restored.stdout
    n_audit = entries["public.tenants_auditlogentry"]["rows"]
    assert f"Audit chain of alpha: {n_audit + 1} entries, intact" in restored.stdout
    assert "alpha: " in scratch_db.manage("verify_audit_chain", "--tenant", "alpha").stdout

    with scratch_db.cursor() as cur:
        target = tenant_rows(cur, s.a.tenant.pk)
        actions = fetch(cur, "SELECT seq, action FROM tenants_auditlogentry ORDER BY seq")
        hashes = [r[0] for r in fetch(cur, "SELECT hash FROM tenants_auditlogentry ORDER BY seq")]
        passwords = dict(fetch(cur, "SELECT email, password FROM tenants_user"))
        counts = dict(fetch(cur, "SELECT slug, (SELECT count(*) FROM tenants_user) FROM tenants_tenant"))
    for label, rows in source_before.items():
        if label == "public.tenants_auditlogentry":
            continue
        assert target[label] == rows, label
    # The audit log: the archived entries with their own seq and hashes, then the restore's entry.
    source_audit = [json.loads(r) for r in source_before["public.tenants_auditlogentry"]]
    target_audit = [json.loads(r) for r in target["public.tenants_auditlogentry"]]
    assert sorted(target_audit, key=lambda e: e["seq"])[:-1] == sorted(source_audit, key=lambda e: e["seq"])
    assert actions[-1] == (n_audit + 1, "tenant.restored")
    assert hashes[:n_audit] == list(a_audit.values_list("hash", flat=True))[:n_audit]
    assert counts == {"alpha": 6}  # only A's people, the shared one among them

    # People sign in with their own passwords (hashes kept), through the configured backends.
    for member in s.a.members.values():
        assert check_password(PASSWORD, passwords[member.user.email])
    emails = [m.user.email for m in s.a.members.values()]
    probe = (
        "from django.contrib.auth import authenticate\n"
        "from django.test import RequestFactory\n"
        f"emails = {emails!r}\n"
        f"print(sum(authenticate(RequestFactory().post('/'), username=e, password={PASSWORD!r}) is not None "
        "for e in emails))"
    )
    signed = scratch_db.manage("shell", "-c", probe)
    assert signed.stdout.strip().splitlines()[-1] == str(len(emails))

    # B goes into the same database: the person in both tenants is already there and is kept as is.
    restored_b = scratch_db.manage("import_tenant", str(b_archive))
    assert f"note: kept existing user {s.shared.pk}" in restored_b.stdout
    assert "Audit chain of bravo: " in restored_b.stdout and "intact" in restored_b.stdout
    with scratch_db.cursor() as cur:
        b_target = tenant_rows(cur, s.b.tenant.pk)
    for label, rows in b_before.items():
        if label != "public.tenants_auditlogentry":
            assert b_target[label] == rows, label

    # The non-superuser owner exports the restored tenant again (forced RLS binds it): same rows.
    again = Path(tmp_path) / "again.zip"
    scratch_db.manage("export_tenant", "alpha", str(again))
    second = {e["table"]: e["rows"] for e in manifest_of(again)["tables"]}
    expected = {k: v["rows"] for k, v in entries.items()}
    assert second == {**expected, "public.tenants_auditlogentry": n_audit + 1}

    # ... and deletes A: nothing of A is left there, B is untouched, the shared person stays for B.
    gone = scratch_db.manage("delete_tenant", "alpha", "--confirm", "alpha")
    assert "5 users deleted, 1 kept" in gone.stdout
    with scratch_db.cursor() as cur:
        assert tenant_rows(cur, s.b.tenant.pk) == b_target  # B, row for row, its log included
        for t in build_plan().of_kind(Kind.TENANT_OWNED, Kind.AUDIT):
            left = fetch(cur, f"SELECT count(*) FROM {t.name} WHERE tenant_id = %s", [str(s.a.tenant.pk)])
            assert left == [(0,)], t.name
        users = {r[0] for r in fetch(cur, "SELECT email FROM tenants_user")}
        assert users == {m.user.email for m in s.b.members.values()} | {s.shared.email}
        assert fetch(cur, "SELECT tenant_id, action FROM tenants_auditlogentry WHERE tenant_id IS NULL") == [
            (None, "tenant.deleted")
        ]
    assert "chain intact" in scratch_db.manage("verify_audit_chain").stdout


# --- restore refusals, then a restore into the same database --------------------------------------


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_bad_archives_writes_nothing_then_restores_a_deleted_tenant(tmp_path: Path) -> None:
    s = stage()
    archive = tmp_path / "alpha.zip"
    call_command("export_tenant", "alpha", str(archive), stdout=StringIO())
    manifest = manifest_of(archive)
    n_audit = next(e["rows"] for e in manifest["tables"] if e["table"] == "public.tenants_auditlogentry")
    with transaction.atomic(), connection.cursor() as cur:
        before = tenant_rows(cur, s.a.tenant.pk)
    archived_seqs = {json.loads(r)["seq"] for r in before["public.tenants_auditlogentry"]}
    assert max(archived_seqs) == n_audit + 1  # the export's own entry came after the snapshot

    with pytest.raises(CommandError, match="already has the tenant 'alpha'"):
        call_command("import_tenant", str(archive), stdout=StringIO())

    call_command("delete_tenant", "alpha", "--confirm", "alpha", stdout=StringIO())
    assert rows_everywhere(s.a.tenant.pk) == 0

    def refused(edit: Callable[[str, bytes], bytes | None], message: str) -> None:
        bad = tmp_path / "bad.zip"
        rewrite_archive(archive, bad, edit)
        with pytest.raises(CommandError, match=message):
            call_command("import_tenant", str(bad), stdout=StringIO())
        assert rows_everywhere(s.a.tenant.pk) == 0
        assert not Group.objects.filter(name__in=[f"membership:{m.pk}" for m in s.a.members.values()])

    charts = file_name(next(t for t in build_plan().tables if t.label == "clinical.patient_chart"))
    audit_file = "tables/public.tenants_auditlogentry.jsonl"

    def flip_a_byte(name: str, data: bytes) -> bytes:
        return data.replace(b"allergies", b"allergieS", 1) if name == charts else data

    refused(flip_a_byte, "SHA-256 does not match")
    refused(lambda n, d: None if n == charts else d, "incomplete")
    refused(lambda n, d: d if n != MANIFEST else d + b"x", "not valid JSON")

    def with_manifest(change: Callable[[dict[str, Any]], None]) -> Callable[[str, bytes], bytes]:
        def edit(name: str, data: bytes) -> bytes:
            if name != MANIFEST:
                return data
            m = json.loads(data)
            change(m)
            return json.dumps(m).encode()

        return edit

    refused(
        with_manifest(lambda m: m["database"]["migrations"]["tenants"].append("0099_future")),
        r"migration state differs .*tenants.0099_future",
    )
    refused(with_manifest(lambda m: m.update(format_version=2)), "format version 2 is not supported")

    # An edited audit entry whose file hash was recomputed still fails: the trigger rehashes it.
    def forge(name: str, data: bytes) -> bytes:
        if name == audit_file:
            lines = data.splitlines(keepends=True)
            entry = json.loads(lines[3])
            entry["action"] = "read"
            lines[3] = json.dumps(entry).encode() + b"\n"
            return b"".join(lines)
        if name == MANIFEST:
            m = json.loads(data)
            with zipfile.ZipFile(archive) as zf:
                forged = forge(audit_file, zf.read(audit_file))
            for entry in m["tables"]:
                if entry["file"] == audit_file:
                    entry["sha256"] = hashlib.sha256(forged).hexdigest()
            return json.dumps(m).encode()
        return data

    refused(forge, "does not match its hash")
    refused(with_manifest(lambda m: m["tables"][0].pop("sha256")), "archive is malformed")

    # Someone else signed up with the email of one of A's people: refused, not merged.
    squatter = User.objects.create_user(email=s.a.user("clinician").email, full_name="Someone else")
    refused(lambda n, d: d, "exists in this database under another id")
    squatter.delete()

    # The genuine archive restores the tenant as it was, and the chain goes on from where it was.
    out = StringIO()
    call_command("import_tenant", str(archive), stdout=out)
    assert "intact" in out.getvalue()
    with transaction.atomic(), connection.cursor() as cur:
        after = tenant_rows(cur, s.a.tenant.pk)
    for label, rows in before.items():
        if label != "public.tenants_auditlogentry":
            assert after[label] == rows, label

    def by_seq(rows: list[str]) -> list[dict[str, Any]]:
        return sorted((json.loads(r) for r in rows), key=lambda e: int(e["seq"]))

    restored_audit = by_seq(after["public.tenants_auditlogentry"])
    original = by_seq(before["public.tenants_auditlogentry"])
    assert restored_audit[:n_audit] == original[:n_audit]
    assert restored_audit[-1]["action"] == "tenant.restored"
    tenant = Tenant.objects.get(slug="alpha")
    membership = Membership.objects.filter(tenant=tenant).first()
    assert membership is not None
    api_key_create(ctx=s.a.ctx("mso_admin"), name="after restore")  # new entries chain on
    assert chain_verify(tenant.pk)[1] is None
    assert chain_verify(None)[1] is None
    assert chain_verify(s.b.tenant.pk)[1] is None


# --- delete ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_delete_removes_everything_of_the_tenant_and_nothing_else() -> None:
    s = stage()
    a_only = [m.user for c, m in s.a.members.items() if m.user != s.shared]
    a_groups = [m.group_id for m in s.a.members.values()]
    b_groups = sorted(Group.objects.filter(membership__tenant=s.b.tenant).values_list("pk", flat=True))
    with transaction.atomic(), connection.cursor() as cur:
        everything = whole_database(cur)
        b_rows = tenant_rows(cur, s.b.tenant.pk)
        a_rows = tenant_rows(cur, s.a.tenant.pk)
    b_audit = chain_verify(s.b.tenant.pk)
    assert b_audit[1] is None and a_rows["clinical.patient_chart"]

    with pytest.raises(CommandError, match="--confirm must repeat"):
        call_command("delete_tenant", "alpha", "--confirm", "bravo", stdout=StringIO())
    with pytest.raises(CommandError, match="Unknown tenant"):
        call_command("delete_tenant", "nope", "--confirm", "nope", stdout=StringIO())
    out = StringIO()
    call_command("delete_tenant", "alpha", "--confirm", "alpha", stdout=out)
    assert "5 users deleted, 1 kept" in out.getvalue()

    assert rows_everywhere(s.a.tenant.pk) == 0
    assert not User.objects.filter(pk__in=[u.pk for u in a_only]).exists()
    assert User.objects.filter(pk=s.shared.pk).exists()  # still MSO staff in B
    assert not Group.objects.filter(pk__in=a_groups).exists()
    assert (
        sorted(Group.objects.filter(membership__tenant=s.b.tenant).values_list("pk", flat=True)) == b_groups
    )
    with transaction.atomic(), connection.cursor() as cur:
        assert tenant_rows(cur, s.b.tenant.pk) == b_rows  # B, row for row
        after = whole_database(cur)
    assert chain_verify(s.b.tenant.pk) == b_audit
    assert chain_verify(None)[1] is None
    record = AuditLogEntry.objects.get(action="tenant.deleted")
    assert (record.tenant_id, record.object_id) == (None, str(s.a.tenant.pk))
    assert record.detail["rows"]["clinical.patient_chart"] == 2
    assert record.detail["users_deleted"] == 5 and record.detail["users_kept"] == 1

    # Nothing else changed: every table of the database lost only A's rows (and the log gained one).
    for table, rows in everything.items():
        removed, added = rows - after[table], after[table] - rows
        if table == "tenants_auditlogentry":
            assert [json.loads(r)["action"] for r in added] == ["tenant.deleted"]
            assert all(json.loads(r)["tenant_id"] == str(s.a.tenant.pk) for r in removed)
            continue
        assert not added, table
        for row in map(json.loads, removed):
            belongs = (
                row.get("tenant_id") == str(s.a.tenant.pk)
                or row.get("id") in {str(s.a.tenant.pk), *(str(u.pk) for u in a_only), *a_groups}
                or row.get("group_id") in a_groups
                or row.get("user_id") in {str(u.pk) for u in a_only}
            )
            assert belongs, (table, row)
    kept = Membership.objects.filter(user=s.shared)
    assert [(m.tenant_id, m.capacity) for m in kept] == [(s.b.tenant.pk, "mso_staff")]


@pytest.mark.django_db
def test_purge_and_restore_settings_give_runtime_roles_nothing(world_a: World, world_b: World) -> None:
    a, b = str(world_a.tenant.pk), str(world_b.tenant.pk)

    def as_role(role: str | None, **settings: str) -> Any:
        cur = connection.cursor()
        if role:
            cur.execute(f"SET LOCAL ROLE {role}")
        for name, value in {"app.tenant_id": a, **settings}.items():
            cur.execute("SELECT set_config(%s, %s, true)", [name, value])
        return cur

    # A runtime role naming the tenant for purge still may not delete audit rows.
    for role in boundary.TENANT_ROLES:
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            as_role(role, **{"app.purge_tenant": a}).execute("DELETE FROM tenants_auditlogentry")
    # A role that was granted DELETE but is not the table owner is refused by the trigger.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        cur = connection.cursor()
        cur.execute("CREATE ROLE mso_test_intruder NOLOGIN")
        cur.execute("GRANT SELECT, DELETE ON tenants_auditlogentry TO mso_test_intruder")
        cur.execute("GRANT mso_test_intruder TO CURRENT_USER")
        as_role("mso_test_intruder", **{"app.purge_tenant": a}).execute("DELETE FROM tenants_auditlogentry")
    # The owner purging A cannot touch B's entries, nor update A's.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        cur = as_role(None, **{"app.purge_tenant": a, "app.tenant_id": b})
        cur.execute("DELETE FROM tenants_auditlogentry WHERE tenant_id = %s", [b])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        as_role(None, **{"app.purge_tenant": a}).execute("UPDATE tenants_auditlogentry SET action = 'x'")

    # A runtime role's writes are audited even when it names the tenant as purged or restoring.
    entries = AuditLogEntry.objects.filter(tenant=world_a.tenant)
    before = entries.count()
    with transaction.atomic():
        cur = as_role(boundary.BUSINESS_ROLE, **{"app.purge_tenant": a, "app.restoring": a})
        cur.execute('UPDATE "management"."location" SET city = city || \'!\'')
        cur.execute('DELETE FROM "management"."location_group_object_permission" WHERE tenant_id = %s', [a])
        deleted = cur.rowcount
        # ... and cannot forge the chain: the trigger numbers and hashes the entry itself.
        cur.execute(
            "INSERT INTO tenants_auditlogentry (id, tenant_id, at, capacity, action, object_type, "
            "object_id, detail, via, seq, prev_hash, hash) VALUES (gen_random_uuid(), %s, now(), 'x', "
            "'forged', 't', '', '{}', 'api', 1, %s, %s)",
            [a, "0" * 64, "f" * 64],
        )
    reset_identity()
    as_role(None, **{"app.purge_tenant": "", "app.restoring": ""})
    assert deleted > 0
    assert entries.count() == before + len(world_a.locations) + deleted + 1
    forged = entries.get(action="forged")
    assert forged.seq == before + len(world_a.locations) + deleted + 1 and forged.hash != "f" * 64
    assert chain_verify(world_a.tenant.pk)[1] is None


def test_export_refuses_inside_a_transaction_and_unknown_tenants(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="outside atomic"):
        call_command("export_tenant", "alpha", str(tmp_path / "x.zip"))
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_tenant", str(tmp_path / "junk.zip"))
    assert not list(tmp_path.glob(".*.part"))
