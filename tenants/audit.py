"""The one audit-log call the app makes (row writes are logged by the database trigger)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction

from mso_platform.db import boundary
from tenants.access import AccessContext
from tenants.models import AuditLogEntry


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
    """Append one entry: reads of clinical records, logins, decisions that are not row writes."""
    if obj is not None:
        object_type = object_type or obj._meta.db_table.replace('"', "")
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


def record_clinical_reads(ctx: AccessContext, objects: list[models.Model]) -> None:
    """Log each clinical record shown (DESIGN: every read of clinical records is in the log)."""
    AuditLogEntry.objects.bulk_create(
        [
            AuditLogEntry(
                tenant=ctx.tenant,
                actor=ctx.user,
                capacity=ctx.capacity.code,
                action="read",
                object_type=o._meta.db_table.replace('"', ""),
                object_id=str(o.pk),
                client_ip=ctx.client_ip,
                via=ctx.via,
            )
            for o in objects
        ]
    )


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
