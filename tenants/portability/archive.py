"""Export one tenant to an archive, and restore an archive into a database without that tenant.

The format is documented in docs/tenant-archive.md. Both sides run as the database owner (the
connection's own role, never a runtime role) with ``app.tenant_id`` set, so forced row-level security
admits exactly the tenant's rows even where the owner is not a superuser.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from mso_platform.db import boundary
from tenants.models import AuditLogEntry, Tenant
from tenants.portability.plan import Kind, Plan, Table, build_plan, q

FORMAT = "mso-tenant-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
REFERENCE_FILES = {
    "django_content_type": "reference/django_content_type.jsonl",
    "auth_permission": "reference/auth_permission.jsonl",
}
REFERENCE_SQL = {
    "django_content_type": (
        "SELECT json_build_object('id', id, 'app_label', app_label, 'model', model)::text "
        "FROM django_content_type ORDER BY id"
    ),
    "auth_permission": (
        "SELECT json_build_object('id', p.id, 'app_label', ct.app_label, 'model', ct.model, "
        "'codename', p.codename)::text FROM auth_permission p "
        "JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY p.id"
    ),
}
BATCH_ROWS = 500
BATCH_BYTES = 4 << 20


class ArchiveError(Exception):
    """The export or restore was refused or failed; nothing was written."""


@dataclass
class Outcome:
    tenant: str
    archive: Path
    rows: dict[str, int]
    seconds: float
    size: int = 0
    sha256: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def app_version() -> str:
    try:
        return metadata.version("mso-platform")
    except metadata.PackageNotFoundError:
        return "unknown"


def file_name(table: Table) -> str:
    return f"tables/{table.label}.jsonl"


# --- shared catalog look-ups --------------------------------------------------------------------------


def fetch_all(cur: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    cur.execute(sql, params)
    return list(cur.fetchall())


def set_local(cur: Any, name: str, value: Any) -> None:
    cur.execute("SELECT set_config(%s, %s, true)", [name, str(value) if value else ""])


def columns_of(cur: Any, table: Table) -> list[tuple[str, str, bool]]:
    """(name, type, generated) of each live column, in table order."""
    return [
        (str(n), str(t), bool(g))
        for n, t, g in fetch_all(
            cur,
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated <> '' "
            "FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum",
            [table.name],
        )
    ]


def primary_key_of(cur: Any, table: Table) -> list[str]:
    return [
        str(r[0])
        for r in fetch_all(
            cur,
            "SELECT a.attname FROM pg_index i "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary ORDER BY k.ord",
            [table.name],
        )
    ]


def migration_state(cur: Any) -> dict[str, list[str]]:
    state: dict[str, list[str]] = {}
    for app, name in fetch_all(cur, "SELECT app, name FROM django_migrations ORDER BY app, name"):
        state.setdefault(str(app), []).append(str(name))
    return state


def principals(cur: Any, plan: Plan, kind: Kind, tenant: Any) -> list[Any]:
    """Users (or groups) the tenant's rows refer to: its members, their groups, ..."""
    sources = plan.principal_sources(kind)
    if not sources:
        return []
    union = " UNION ".join(
        f"SELECT {q(link.column)} FROM {t.name} WHERE tenant_id = %(tenant)s AND {q(link.column)} IS NOT NULL"
        for t, link in sources
    )
    return [r[0] for r in fetch_all(cur, f"SELECT * FROM ({union}) p ORDER BY 1", {"tenant": str(tenant)})]


# --- export ---------------------------------------------------------------------------------------------


def export_tenant(slug: str, path: Path, *, using: str = DEFAULT_DB_ALIAS) -> Outcome:
    """Write every row of tenant ``slug`` to a zip archive at ``path`` from one consistent snapshot."""
    conn = connections[using]
    if conn.in_atomic_block:
        raise ArchiveError(
            "export needs a transaction of its own (REPEATABLE READ); call it outside atomic()"
        )
    tenant = Tenant.objects.using(using).filter(slug=slug).first()
    if tenant is None:
        raise ArchiveError(f"Unknown tenant {slug!r}.")
    started = time.monotonic()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    plan = build_plan()
    rows: dict[str, int] = {}
    try:
        with (
            transaction.atomic(using=using),
            conn.cursor() as raw,
            zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf,
        ):
            raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            raw.execute("SHOW transaction_isolation")
            if raw.fetchone()[0] != "repeatable read":
                raise ArchiveError("could not open a REPEATABLE READ transaction for the export")
            # Values as PostgreSQL renders them, stable across servers: UTC, ISO 8601 intervals.
            raw.execute("SET LOCAL TimeZone = 'UTC'")
            raw.execute("SET LOCAL IntervalStyle = 'iso_8601'")
            set_local(raw, "app.tenant_id", tenant.pk)
            params = {
                "tenant": str(tenant.pk),
                "users": principals(raw, plan, Kind.USER, tenant.pk),
                "groups": principals(raw, plan, Kind.GROUP, tenant.pk),
            }
            entries = []
            for table in plan.tables:
                order = "seq" if table.kind is Kind.AUDIT else ", ".join(map(q, primary_key_of(raw, table)))
                sql = (
                    f"SELECT row_to_json(t)::text FROM {table.name} t "
                    f"WHERE {plan.where(table)} ORDER BY {order}"
                )
                count, digest, size = _write_member(zf, file_name(table), _stream(conn, sql, params))
                rows[table.label] = count
                entries.append(
                    {
                        "table": table.label,
                        "kind": table.kind.value,
                        "file": file_name(table),
                        "rows": count,
                        "bytes": size,
                        "sha256": digest,
                        "primary_key": primary_key_of(raw, table),
                        "columns": [[n, t] for n, t, _ in columns_of(raw, table)],
                    }
                )
            references = []
            for name, member in REFERENCE_FILES.items():
                count, digest, size = _write_member(zf, member, _stream(conn, REFERENCE_SQL[name], None))
                references.append(
                    {
                        "table": f"public.{name}",
                        "file": member,
                        "rows": count,
                        "bytes": size,
                        "sha256": digest,
                    }
                )
            raw.execute("SELECT current_setting('server_version')")
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "created_at": timezone.now().isoformat(),
                "app_version": app_version(),
                "tenant": {"id": str(tenant.pk), "slug": tenant.slug, "name": tenant.name},
                "database": {"server_version": raw.fetchone()[0], "migrations": migration_state(raw)},
                "isolation": "repeatable read",
                "tables": entries,
                "references": references,
            }
            zf.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        os.replace(partial, path)
    except DatabaseError as exc:
        raise ArchiveError(f"export failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    digest = _file_sha256(path)
    outcome = Outcome(
        tenant.slug, path, rows, time.monotonic() - started, size=path.stat().st_size, sha256=digest
    )
    # Exporting a tenant's records (PHI among them) is a disclosure: it goes into the tenant's chain.
    with transaction.atomic(using=using), conn.cursor() as raw:
        set_local(raw, "app.tenant_id", tenant.pk)
        AuditLogEntry.objects.using(using).create(
            tenant_id=tenant.pk,
            capacity="system",
            action="tenant.exported",
            object_type="tenants.tenant",
            object_id=str(tenant.pk),
            detail={"archive": path.name, "sha256": digest, "rows": outcome.total, "bytes": outcome.size},
            via="system",
        )
    return outcome


def _stream(conn: BaseDatabaseWrapper, sql: str, params: Any) -> Iterator[str]:
    # A server-side cursor, so a large table is never held in memory.
    with conn.chunked_cursor() as cur:
        cur.execute(sql, params)
        while batch := cur.fetchmany(2000):
            for (line,) in batch:
                yield line


def _write_member(zf: zipfile.ZipFile, name: str, lines: Iterator[str]) -> tuple[int, str, int]:
    digest, count, size = hashlib.sha256(), 0, 0
    with zf.open(name, "w", force_zip64=True) as out:
        for line in lines:
            data = line.encode() + b"\n"
            digest.update(data)
            out.write(data)
            count += 1
            size += len(data)
    return count, digest.hexdigest(), size


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- restore ----------------------------------------------------------------------------------------


def read_manifest(zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(zf.read(MANIFEST))
    except KeyError as exc:
        raise ArchiveError("not a tenant archive: manifest.json is missing") from exc
    except ValueError as exc:
        raise ArchiveError(f"manifest.json is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"not a tenant archive: manifest format is not {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(
            f"archive format version {manifest.get('format_version')!r} is not supported "
            f"(this version reads {FORMAT_VERSION})"
        )
    return manifest


def verify_files(zf: zipfile.ZipFile, manifest: dict[str, Any]) -> None:
    """Every file the manifest lists is there with its row count and SHA-256, and nothing else is."""
    listed = [*manifest.get("tables", []), *manifest.get("references", [])]
    expected = {MANIFEST} | {e["file"] for e in listed}
    present = set(zf.namelist())
    if missing := sorted(expected - present):
        raise ArchiveError(f"archive is incomplete: {', '.join(missing)} missing")
    if extra := sorted(present - expected):
        raise ArchiveError(f"archive holds files its manifest does not list: {', '.join(extra)}")
    for entry in listed:
        digest, count = hashlib.sha256(), 0
        with zf.open(entry["file"]) as fh:
            for line in fh:
                digest.update(line)
                count += 1
        if digest.hexdigest() != entry["sha256"]:
            raise ArchiveError(f"{entry['file']}: SHA-256 does not match the manifest (corrupt or altered)")
        if count != entry["rows"]:
            raise ArchiveError(f"{entry['file']}: {count} rows, the manifest says {entry['rows']}")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # jsonb_populate_record reads a numeric column from a string exactly
    raise TypeError(f"cannot encode {type(value).__name__}")


def _lines(zf: zipfile.ZipFile, member: str) -> Iterator[str]:
    with zf.open(member) as fh:
        for raw in io.TextIOWrapper(fh, encoding="utf-8"):
            if line := raw.rstrip("\n"):
                yield line


class _Restore:
    """One restore: the id maps that carry a row's references from the archive into this database."""

    def __init__(self, zf: zipfile.ZipFile, manifest: dict[str, Any], plan: Plan, cur: Any) -> None:
        self.zf, self.manifest, self.plan, self.cur = zf, manifest, plan, cur
        self.entries = {e["table"]: e for e in manifest["tables"]}
        self.references: dict[str, dict[int, int]] = {}
        self.renumbered: dict[str, dict[Any, Any]] = {t.name: {} for t in plan.tables if t.auto_pk}
        # Keys (archive values) of users and dependents written by this restore; a dependent row of
        # a user who already existed here (their 2FA device, say) is left as this database has it.
        self.written: dict[str, set[Any]] = {}
        self.reused_users: set[str] = set()
        self.inserted: dict[str, int] = {}
        self.skipped: dict[str, int] = {}

    def map_references(self) -> None:
        files = {e["table"]: e["file"] for e in self.manifest.get("references", [])}
        ct_here = {
            (a, m): i
            for i, a, m in fetch_all(self.cur, "SELECT id, app_label, model FROM django_content_type")
        }
        perm_here = {
            (a, m, c): i
            for i, a, m, c in fetch_all(
                self.cur,
                "SELECT p.id, ct.app_label, ct.model, p.codename FROM auth_permission p "
                "JOIN django_content_type ct ON ct.id = p.content_type_id",
            )
        }
        cts: dict[int, int] = {}
        for line in _lines(self.zf, files["public.django_content_type"]):
            r = json.loads(line)
            if (r["app_label"], r["model"]) in ct_here:
                cts[r["id"]] = ct_here[(r["app_label"], r["model"])]
        perms: dict[int, int] = {}
        for line in _lines(self.zf, files["public.auth_permission"]):
            r = json.loads(line)
            if (r["app_label"], r["model"], r["codename"]) in perm_here:
                perms[r["id"]] = perm_here[(r["app_label"], r["model"], r["codename"])]
        self.references = {"django_content_type": cts, "auth_permission": perms}

    def check_principals(self) -> None:
        """Users already here (same id and email) are kept as they are; any other clash refuses."""
        user_table = self.plan.user_table
        archived = {
            str(r["id"]): str(r.get("email", "")).lower()
            for r in map(json.loads, _lines(self.zf, file_name(user_table)))
        }
        here = fetch_all(
            self.cur,
            f"SELECT id::text, lower(email) FROM {user_table.name} WHERE id::text = ANY(%s) "
            "OR lower(email) = ANY(%s)",
            [list(archived), list(archived.values())],
        )
        for uid, email in here:
            if archived.get(uid) == email:
                self.reused_users.add(uid)
            else:
                raise ArchiveError(
                    f"user {email} exists in this database under another id (or the id {uid} under another "
                    "email); resolve the clash before restoring"
                )
        group_table = self.plan.group_table
        names = [r["name"] for r in map(json.loads, _lines(self.zf, file_name(group_table)))]
        if clash := fetch_all(self.cur, f"SELECT name FROM {group_table.name} WHERE name = ANY(%s)", [names]):
            raise ArchiveError(f"groups of this tenant already exist here: {clash[0][0]} ...")

    def insert(self, table: Table) -> None:
        cols = [n for n, _, generated in columns_of(self.cur, table) if not generated]
        column_list = ", ".join(map(q, cols))
        sql = (
            f"INSERT INTO {table.name} ({column_list}) "
            f"SELECT {column_list} FROM jsonb_populate_recordset(NULL::{table.name}, %s::jsonb)"
        )
        transform = self._needs_transform(table)
        batch: list[str] = []
        size = 0
        written = self.inserted.setdefault(table.label, 0)
        for line in _lines(self.zf, file_name(table)):
            if transform:
                row = self._transform(table, json.loads(line, parse_float=Decimal))
                if row is None:
                    self.skipped[table.label] = self.skipped.get(table.label, 0) + 1
                    continue
                line = json.dumps(row, default=_json_default, ensure_ascii=False, separators=(",", ":"))
            batch.append(line)
            size += len(line)
            if len(batch) >= BATCH_ROWS or size >= BATCH_BYTES:
                written += self._flush(table, sql, batch)
                batch, size = [], 0
        written += self._flush(table, sql, batch)
        self.inserted[table.label] = written

    def _flush(self, table: Table, sql: str, batch: list[str]) -> int:
        if not batch:
            return 0
        if table.auto_pk:
            self._renumber(table, batch)
        self.cur.execute(sql, ["[" + ",".join(batch) + "]"])
        return len(batch)

    def _renumber(self, table: Table, batch: list[str]) -> None:
        # New keys from this database's own sequence; the archive's numbers may be taken here.
        assert table.auto_pk is not None
        fresh = [
            r[0]
            for r in fetch_all(
                self.cur,
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table.name, table.auto_pk, len(batch)],
            )
        ]
        mapping = self.renumbered[table.name]
        for i, (line, new) in enumerate(zip(batch, fresh, strict=True)):
            row = json.loads(line, parse_float=Decimal)
            mapping[row[table.auto_pk]] = new
            row[table.auto_pk] = new
            batch[i] = json.dumps(row, default=_json_default, ensure_ascii=False, separators=(",", ":"))

    def _needs_transform(self, table: Table) -> bool:
        return (
            table.kind in (Kind.USER, Kind.DEPENDENT)
            or bool(table.auto_pk)
            or any(link.target in self.references or link.target in self.renumbered for link in table.links)
        )

    def _transform(self, table: Table, row: dict[str, Any]) -> dict[str, Any] | None:
        """The row with its references in this database's numbers; None to leave it out."""
        if table.kind is Kind.USER:
            if str(row[table.pk_column]) in self.reused_users:
                return None
            # Platform-wide privileges are never granted from an archive.
            for flag in ("is_superuser", "is_staff"):
                if flag in row:
                    row[flag] = False
        if table.kind is Kind.DEPENDENT:
            owners = [(link, row.get(link.column)) for link in self.plan.owner_links(table)]
            if not any(v is not None and self._is_written(link.target, v) for link, v in owners):
                return None
        for link in table.links:
            value = row.get(link.column)
            if value is None:
                continue
            mapping = self.references.get(link.target)
            if mapping is None:
                mapping = self.renumbered.get(link.target)
            if mapping is None:
                continue
            if value not in mapping:
                raise ArchiveError(
                    f"{table.label}.{link.column} = {value!r} refers to a {link.target} row this database "
                    "does not have (content type or permission missing here?)"
                )
            row[link.column] = mapping[value]
        if table.kind in (Kind.USER, Kind.DEPENDENT):
            self.written.setdefault(table.name, set()).add(row[table.pk_column])
        return row

    def _is_written(self, target: str, value: Any) -> bool:
        kind = self.plan.by_name()[target].kind
        if kind in (Kind.USER, Kind.DEPENDENT):
            if target in self.renumbered:
                return value in self.renumbered[target]
            return value in self.written.get(target, set())
        return True  # the tenant, its tenant-owned rows and its groups are all new here


def import_tenant(path: Path, *, using: str = DEFAULT_DB_ALIAS) -> Outcome:
    """Restore an archive into this (migrated) database, which must not hold the tenant yet."""
    started = time.monotonic()
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ArchiveError(f"cannot read {path}: {exc}") from exc
    with zf:
        manifest = read_manifest(zf)
        try:
            verify_files(zf, manifest)
            plan = build_plan()
            tenant = manifest["tenant"]
            _check_tables(manifest, plan)
        except (KeyError, TypeError, ValueError, zipfile.BadZipFile) as exc:
            raise ArchiveError(f"archive is malformed: {exc!r}") from exc
        conn = connections[using]
        try:
            with transaction.atomic(using=using), conn.cursor() as cur:
                _check_target(cur, manifest, plan)
                set_local(cur, "app.tenant_id", tenant["id"])
                # The trigger functions honour this for the table owner only (boundary.py).
                set_local(cur, "app.restoring", tenant["id"])
                restore = _Restore(zf, manifest, plan, cur)
                restore.map_references()
                restore.check_principals()
                for table in plan.tables:
                    restore.insert(table)
                _verify_restored(cur, manifest, plan, restore)
                set_local(cur, "app.restoring", "")
                notes = [f"kept existing user {u}" for u in sorted(restore.reused_users)]
                if any(restore.skipped.values()):
                    notes.append(f"left out rows of users that already existed here: {restore.skipped}")
                AuditLogEntry.objects.using(using).create(
                    tenant_id=tenant["id"],
                    capacity="system",
                    action="tenant.restored",
                    object_type="tenants.tenant",
                    object_id=tenant["id"],
                    detail={
                        "archive": path.name,
                        "sha256": _file_sha256(path),
                        "exported_at": manifest["created_at"],
                        "source_app_version": manifest["app_version"],
                        "rows": sum(restore.inserted.values()),
                    },
                    via="system",
                )
        except DatabaseError as exc:
            raise ArchiveError(f"restore failed, nothing was written: {exc}".strip()) from exc
        except (KeyError, TypeError, ValueError) as exc:  # a row that is not what its manifest says
            raise ArchiveError(f"restore failed, nothing was written: malformed row ({exc!r})") from exc
    return Outcome(
        tenant["slug"],
        path,
        restore.inserted,
        time.monotonic() - started,
        size=path.stat().st_size,
        notes=notes,
    )


def _check_tables(manifest: dict[str, Any], plan: Plan) -> None:
    archived = {e["table"]: e["kind"] for e in manifest["tables"]}
    here = {t.label: t.kind.value for t in plan.tables}
    if archived != here:
        only_archive = sorted(set(archived) - set(here))
        only_here = sorted(set(here) - set(archived))
        raise ArchiveError(
            "the archive's tables differ from this database's "
            f"(only in the archive: {only_archive or '-'}; only here: {only_here or '-'}; "
            "or a table is classified differently)"
        )


def _check_target(cur: Any, manifest: dict[str, Any], plan: Plan) -> None:
    tenant = manifest["tenant"]
    here = migration_state(cur)
    archived = manifest["database"]["migrations"]
    if here != archived:
        flat_here = {(a, n) for a, ns in here.items() for n in ns}
        flat_archive = {(a, n) for a, ns in archived.items() for n in ns}
        missing = sorted(f"{a}.{n}" for a, n in flat_archive - flat_here)
        extra = sorted(f"{a}.{n}" for a, n in flat_here - flat_archive)
        raise ArchiveError(
            "the database's migration state differs from the archive's "
            f"(not applied here: {missing or '-'}; applied here only: {extra or '-'}); "
            "restore into a database migrated to the archive's state, then migrate forward"
        )
    for entry in manifest["tables"]:
        table = next(t for t in plan.tables if t.label == entry["table"])
        columns = {n: t for n, t, _ in columns_of(cur, table)}
        if columns != dict(map(tuple, entry["columns"])):
            raise ArchiveError(f"columns of {entry['table']} differ between the archive and this database")
    if fetch_all(
        cur, "SELECT 1 FROM tenants_tenant WHERE id = %s OR slug = %s", [tenant["id"], tenant["slug"]]
    ):
        raise ArchiveError(
            f"this database already has the tenant {tenant['slug']!r} (or its id); "
            "restore into a database without it (delete_tenant removes one)"
        )
    set_local(cur, "app.tenant_id", tenant["id"])
    if fetch_all(cur, "SELECT 1 FROM tenants_auditlogentry WHERE tenant_id = %s LIMIT 1", [tenant["id"]]):
        raise ArchiveError("this database already holds audit entries of that tenant id")


def _verify_restored(cur: Any, manifest: dict[str, Any], plan: Plan, restore: _Restore) -> None:
    tenant = manifest["tenant"]["id"]
    for table in plan.tables:
        expected = restore.entries[table.label]["rows"]
        got = restore.inserted.get(table.label, 0) + restore.skipped.get(table.label, 0)
        if table.kind is Kind.USER:
            got = restore.inserted.get(table.label, 0) + len(restore.reused_users)
        if got != expected:
            raise ArchiveError(f"{table.label}: restored {got} rows, the archive has {expected}")
    for table in plan.of_kind(Kind.TENANT_OWNED, Kind.AUDIT):
        (count,) = fetch_all(cur, f"SELECT count(*) FROM {table.name} WHERE tenant_id = %s", [tenant])[0]
        expected = restore.entries[table.label]["rows"]
        if count != expected:
            raise ArchiveError(
                f"{table.label}: {count} rows of the tenant after restore, expected {expected}"
            )
    cur.execute(boundary.AUDIT_CHAIN_CHECK_SQL, {"tenant": tenant})
    if broken := cur.fetchone():
        raise ArchiveError(f"the restored audit chain is broken at seq {broken[0]}: {broken[2]}")
