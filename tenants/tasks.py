"""Background work of the tenants app. Thin: ids in, one transaction under the task's role (TenantTask)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import connection
from django.utils import timezone

from management.models import Location
from tenants.access import AccessContext, enter_gateway
from tenants.audit import record
from tenants.capacities import Side
from tenants.models import Membership, Tenant
from tenants.taskbase import TenantTask, enqueue_on_commit, task_transaction


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_memberships() -> int:
    """Nightly (beat): queue one expire_tenant_memberships per tenant once this listing commits.

    The tenant list is public and read as the gateway role; each tenant's memberships are then
    changed by its own task under that tenant's RLS setting. Safe to run twice.
    """
    with task_transaction():
        enter_gateway()
        tenant_ids = [str(pk) for pk in Tenant.objects.order_by("pk").values_list("pk", flat=True)]
        for tenant_id in tenant_ids:
            enqueue_on_commit(expire_tenant_memberships, tenant_id=tenant_id)
    return len(tenant_ids)


@shared_task(base=TenantTask, idempotent=True, default_side=Side.BUSINESS)
def expire_tenant_memberships(ctx: AccessContext) -> int:
    """Deactivate the tenant's memberships whose expires_at has passed (auditor access ends).

    Access already ends at expires_at (memberships are checked with is_current()); this makes the
    state explicit for lists and reports. The database trigger audits each deactivation.
    """
    return Membership.objects.filter(
        tenant=ctx.tenant, is_active=True, expires_at__lte=timezone.now()
    ).update(is_active=False)


@shared_task(base=TenantTask, default_side=Side.BUSINESS)
def tenant_heartbeat(ctx: AccessContext) -> dict[str, Any]:
    """Prove where a task runs: log the role and tenant PostgreSQL itself reports, and what RLS shows."""
    with connection.cursor() as cur:
        cur.execute("SELECT current_user, current_setting('app.tenant_id', true)")
        db_role, tenant_setting = cur.fetchone()
    detail = {
        "db_role": db_role,
        "tenant_setting": tenant_setting,
        # Unscoped on purpose: only RLS stands between this count and other tenants' rows.
        "locations_visible": Location.objects.count(),
    }
    record(ctx, "task.heartbeat", object_type="tenants.tenant", object_id=str(ctx.tenant.pk), detail=detail)
    return detail
