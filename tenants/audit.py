"""The one audit-log call the app makes (row writes are logged by the database trigger)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from mso_platform.db import boundary
from tenants.access import AccessContext, one_statement_as
from tenants.models import AuditLogEntry, time_ordered_uuid


def _object_type(obj: models.Model) -> str:
    """How the log names a record's table: "schema.table" (as the row-write trigger does)."""
    return obj._meta.db_table.replace('"', "")


def record(
    ctx: AccessContext | None,
    action: str,
    *,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    detail: dict[str, Any] | None = None,
    actor: Any = None,
    client_ip: str | None = None,
    via: str | None = None,
) -> None:
    """Append one entry: logins, decisions that are not row writes (reads: record_clinical_reads)."""
    if obj is not None:
        object_type = object_type or _object_type(obj)
        object_id = object_id or str(obj.pk)
    AuditLogEntry.objects.create(
        tenant=ctx.tenant if ctx else None,
        actor=actor if actor is not None else (ctx.user if ctx else None),
        capacity=ctx.capacity.code if ctx else "anonymous",
        action=action,
        object_type=object_type,
        object_id=object_id,
        detail=detail or {},
        client_ip=client_ip if client_ip is not None else (ctx.client_ip if ctx else None),
        via=via or (ctx.via if ctx else "browser"),
    )


def _read_rows(ctx: AccessContext, objects: Iterable[models.Model]) -> list[dict[str, Any]]:
    """One entry per record type naming every record of that type shown, in the order shown.

    ``object_id`` is the record when there is exactly one; ``detail["ids"]`` always lists them all
    (a list page of 50 charts is one entry, not 50: each entry is a link of the tenant's hash chain,
    appended one at a time under the tenant's lock, bench/README.md). The chain columns (seq,
    prev_hash, hash) are the database trigger's to fill, as for every entry.
    """
    by_type: dict[str, dict[str, None]] = {}
    for o in objects:
        by_type.setdefault(_object_type(o), {})[str(o.pk)] = None
    user, now = ctx.user, timezone.now()
    common = {
        "tenant": ctx.tenant.pk,
        "at": now,
        "actor": user.pk if user else None,
        "capacity": ctx.capacity.code,
        "action": "read",
        "client_ip": ctx.client_ip or None,  # as Django saves a blank address (a unix socket's)
        "via": ctx.via,
        "seq": 0,
        "prev_hash": "",
        "hash": "",
    }
    return [
        {
            **common,
            "id": time_ordered_uuid(),
            "object_type": object_type,
            "object_id": next(iter(ids)) if len(ids) == 1 else "",
            "detail": json.dumps({"ids": list(ids)}),
        }
        for object_type, ids in by_type.items()
    ]


@functools.cache
def _insert_sql(fields: tuple[str, ...], rows: int) -> str:
    column_of = {f.name: str(f.column) for f in AuditLogEntry._meta.concrete_fields}
    columns = ", ".join(connection.ops.quote_name(column_of[name]) for name in fields)
    values = "(" + ", ".join(["%s"] * len(fields)) + ")"
    table = connection.ops.quote_name(AuditLogEntry._meta.db_table)
    return f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([values] * rows)


def _insert_reads(rows: list[dict[str, Any]]) -> None:
    """Append read entries in one statement.

    Written as SQL because the ORM's bulk_create spent about as long building the insert as the
    database spent running it, on every request that shows clinical records (bench/README.md).
    """
    if not rows:
        return
    fields = tuple(rows[0])
    with connection.cursor() as cur:
        cur.execute(_insert_sql(fields, len(rows)), [row[name] for row in rows for name in fields])


class _PendingReads:
    """The reads of one request, written in one insert just before its transaction commits, or, for
    a request that writes nothing, in one statement of their own after it (``flush_alone``)."""

    def __init__(self) -> None:
        self.reads: list[tuple[AccessContext, list[models.Model]]] = []

    def _merged(self) -> list[tuple[AccessContext, list[models.Model]]]:
        merged: dict[int, tuple[AccessContext, list[models.Model]]] = {}
        for ctx, objects in self.reads:
            merged.setdefault(id(ctx), (ctx, []))[1].extend(objects)
        self.reads = []
        return list(merged.values())

    def flush(self) -> None:
        """Inside the request's transaction: the entries commit with it."""
        _insert_reads([row for ctx, objects in self._merged() for row in _read_rows(ctx, objects)])

    def flush_alone(self) -> None:
        """After the request's transaction: the entries of each capacity that read in one insert that
        is a transaction of its own, committed before this returns; an error propagates, and the
        response that would show the records is not sent (the request's own bookkeeping writes, such
        as a session's last activity, are committed by then).

        The tenant's chain lock, which the insert takes, is then held for the insert and its commit
        alone; inside the request's transaction it was held until the application's COMMIT arrived,
        and concurrent reads of the tenant queued behind that round trip (bench/README.md)."""
        for ctx, objects in self._merged():
            rows = _read_rows(ctx, objects)  # built first: only the insert may run inside
            with one_statement_as(ctx):
                _insert_reads(rows)


_pending: ContextVar[_PendingReads | None] = ContextVar("pending_clinical_reads", default=None)


@contextmanager
def reads_at_commit() -> Iterator[_PendingReads]:
    """Collect the clinical reads made inside; the caller calls ``flush()`` before committing, or
    ``flush_alone()`` after (a request that writes nothing).

    The request middleware uses it so that the read log's insert (and the tenant's chain lock it
    takes, held until the insert's transaction commits) comes at the very end of the request, not
    before serialization and rendering. Reads not flushed (a response that rolls back) are dropped.
    """
    pending = _PendingReads()
    token = _pending.set(pending)
    try:
        yield pending
    finally:
        _pending.reset(token)


def record_clinical_reads(ctx: AccessContext, objects: Iterable[models.Model]) -> None:
    """Log the clinical records shown (DESIGN: every read of clinical records is in the log).

    Inside a request the entries are written just before the request commits; elsewhere (tasks,
    commands, shell) at once.
    """
    objects = list(objects)
    if not objects:
        return
    pending = _pending.get()
    if pending is not None:
        pending.reads.append((ctx, objects))
    else:
        _insert_reads(_read_rows(ctx, objects))


def reads_naming(record_id: Any) -> QuerySet[AuditLogEntry]:
    """The read entries that name one record (alone, or among the records of a list)."""
    return AuditLogEntry.objects.filter(action="read", detail__ids__contains=[str(record_id)])


@dataclass(frozen=True)
class ChainBreak:
    tenant_id: str | None
    seq: int
    entry_id: str
    problem: str


def chain_verify(tenant_id: Any) -> tuple[int, ChainBreak | None]:
    """(entries checked, first broken link or None) for one tenant's chain (None: tenant-less chain).

    Reads as the connection's own role with app.tenant_id set, so RLS admits exactly that chain
    even where the owner is not a superuser (FORCE ROW LEVEL SECURITY applies to it).
    """
    tenant = str(tenant_id) if tenant_id else None
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [tenant or ""])
        cur.execute(boundary.AUDIT_CHAIN_CHECK_SQL, {"tenant": tenant})
        row = cur.fetchone()
        if row is None:
            cur.execute(
                "SELECT count(*) FROM public.tenants_auditlogentry "
                "WHERE (tenant_id = %(t)s OR (%(t)s IS NULL AND tenant_id IS NULL))",
                {"t": tenant},
            )
            return int(cur.fetchone()[0]), None
        seq, entry_id, problem, checked = row
        return int(checked), ChainBreak(tenant, int(seq), str(entry_id), str(problem))
