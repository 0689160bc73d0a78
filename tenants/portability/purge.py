"""Delete one tenant: every row the export would archive, except users who belong to other tenants.

Runs as the database owner in one transaction that sets ``app.tenant_id`` and ``app.purge_tenant``:
RLS admits the tenant's rows, the row-audit trigger does not log their deletion into the log that is
being deleted, and the append-only trigger lets the owner (never a runtime role) remove that
tenant's audit entries. One tenant-less entry "tenant.deleted" with the counts remains.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from tenants.models import AuditLogEntry
from tenants.portability.archive import ArchiveError, fetch_all, principals, set_local
from tenants.portability.plan import Kind, build_plan, q


@dataclass
class Deletion:
    tenant: str
    rows: dict[str, int]
    users_deleted: int
    users_kept: int
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def delete_tenant(slug: str, *, using: str = DEFAULT_DB_ALIAS) -> Deletion:
    started = time.monotonic()
    plan = build_plan()
    conn = connections[using]
    try:
        with transaction.atomic(using=using), conn.cursor() as cur:
            # Writers of this tenant check its row (foreign keys): they wait here and then fail.
            found = fetch_all(cur, "SELECT id, name FROM tenants_tenant WHERE slug = %s FOR UPDATE", [slug])
            if not found:
                raise ArchiveError(f"Unknown tenant {slug!r}.")
            tenant_id, name = str(found[0][0]), str(found[0][1])
            set_local(cur, "app.tenant_id", tenant_id)
            set_local(cur, "app.purge_tenant", tenant_id)
            users = principals(cur, plan, Kind.USER, tenant_id)
            kept = [u for u in users if _member_elsewhere(cur, u, tenant_id)]
            params: dict[str, Any] = {
                "tenant": tenant_id,
                "users": [u for u in users if u not in kept],
                "groups": principals(cur, plan, Kind.GROUP, tenant_id),
            }
            rows: dict[str, int] = {}
            for table in reversed(plan.tables):
                cur.execute(f"DELETE FROM {table.name} WHERE {plan.where(table, deleting=True)}", params)
                rows[table.label] = cur.rowcount
            for table in plan.of_kind(Kind.TENANT_OWNED, Kind.AUDIT):
                left = fetch_all(cur, f"SELECT count(*) FROM {table.name} WHERE tenant_id = %s", [tenant_id])
                if left[0][0]:
                    raise ArchiveError(f"{table.label} still holds {left[0][0]} rows of the tenant")
            set_local(cur, "app.purge_tenant", "")
            set_local(cur, "app.tenant_id", "")  # the record of the deletion is tenant-less
            AuditLogEntry.objects.using(using).create(
                tenant_id=None,
                capacity="system",
                action="tenant.deleted",
                object_type="tenants.tenant",
                object_id=tenant_id,
                detail={
                    "slug": slug,
                    "name": name,
                    "rows": {k: v for k, v in rows.items() if v},
                    "users_deleted": len(params["users"]),
                    "users_kept": len(kept),
                },
                via="system",
            )
    except DatabaseError as exc:
        raise ArchiveError(f"delete failed, nothing was deleted: {exc}".strip()) from exc
    return Deletion(slug, rows, len(params["users"]), len(kept), time.monotonic() - started)


def _member_elsewhere(cur: Any, user_id: Any, tenant_id: str) -> bool:
    # Memberships of other tenants are hidden by RLS except one's own: name the user to see theirs.
    set_local(cur, "app.user_id", user_id)
    other = fetch_all(
        cur,
        f"SELECT 1 FROM tenants_membership WHERE {q('user_id')} = %s AND tenant_id <> %s LIMIT 1",
        [str(user_id), tenant_id],
    )
    set_local(cur, "app.user_id", "")
    return bool(other)
