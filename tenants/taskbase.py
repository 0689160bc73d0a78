"""TenantTask: Celery tasks held by the same boundary as requests (role, tenant RLS, grants).

Tasks are sent ids, never model instances, and name who they act as:

- ``tenant_id`` (required) and either
- ``membership_id``: act as that person in their capacity (``AccessContext.for_membership``), or
- ``side``: a system run with no person, under the business or the clinical database role.

The base class resolves those ids and runs the task body in ONE transaction under
``tenants.access.activate()``, so the body gets an ``AccessContext`` as its first argument and
PostgreSQL refuses it everything the capacity may not reach::

    @shared_task(base=TenantTask, idempotent=True, default_side=Side.BUSINESS)
    def expire_tenant_memberships(ctx: AccessContext) -> int: ...

    enqueue_on_commit(expire_tenant_memberships, tenant_id=str(tenant.pk))

Only idempotent tasks (``idempotent=True``) are acknowledged late and requeued when their worker
dies, and only they are retried after a database connection error: running them twice is safe.
An unknown tenant or membership fails the task at once with ``TaskContextError`` (never retried).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar

from celery.contrib.django.task import DjangoTask
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from mso_platform.db import boundary
from tenants.access import AccessContext, activate, enter_gateway, reset_identity
from tenants.capacities import Capacity, Side
from tenants.models import Membership, Tenant

# System runs (beat jobs, fan-outs) act for the tenant with no person behind them. They are kept
# out of tenants.capacities.CAPACITIES on purpose: no membership can ever hold them.
SYSTEM_BUSINESS = Capacity(
    "system_business", "System task (business side)", boundary.BUSINESS_ROLE, Side.BUSINESS, True
)
SYSTEM_CLINICAL = Capacity(
    "system_clinical", "System task (clinical side)", boundary.CLINICAL_ROLE, Side.CLINICAL, True
)
SYSTEM_CAPACITIES: dict[Side, Capacity] = {Side.BUSINESS: SYSTEM_BUSINESS, Side.CLINICAL: SYSTEM_CLINICAL}

IDENTITY_KWARGS = ("tenant_id", "membership_id", "side")

# Errors after which the transaction certainly did not commit, so an idempotent task may rerun.
RETRYABLE_ERRORS = (OperationalError, InterfaceError)


class TaskContextError(Exception):
    """The ids a task was sent with do not name a tenant/person it may act for (not retried)."""


def _uuid(raw: Any, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except (ValueError, TypeError, AttributeError):
        raise TaskContextError(f"{name} {raw!r} is not a valid id.") from None


def check_identity(kwargs: Mapping[str, Any], *, default_side: Side | None = None) -> None:
    """Refuse a call that does not say which tenant and which person or side the task acts for."""
    if kwargs.get("tenant_id") in (None, ""):
        raise TaskContextError("A tenant task needs tenant_id.")
    _uuid(kwargs["tenant_id"], "tenant_id")
    membership_id, side = kwargs.get("membership_id"), kwargs.get("side")
    if membership_id is not None and side is not None:
        raise TaskContextError("Give membership_id or side, not both.")
    if membership_id is not None:
        _uuid(membership_id, "membership_id")
    elif side is not None:
        if side not in {s.value for s in Side}:
            raise TaskContextError(f"side must be 'business' or 'clinical', not {side!r}.")
    elif default_side is None:
        raise TaskContextError("Give membership_id (act as a person) or side (a system run).")


def resolve_context(
    *, tenant_id: Any, membership_id: Any = None, side: Any = None, default_side: Side | None = None
) -> AccessContext:
    """Turn task ids into an AccessContext. Runs as the gateway role: no tenant data is reachable."""
    check_identity(
        {"tenant_id": tenant_id, "membership_id": membership_id, "side": side}, default_side=default_side
    )
    enter_gateway()
    tenant = Tenant.objects.filter(pk=_uuid(tenant_id, "tenant_id")).first()
    if tenant is None:
        raise TaskContextError(f"Tenant {tenant_id} does not exist.")
    if membership_id is None:
        return AccessContext(tenant, None, SYSTEM_CAPACITIES[Side(str(side or default_side))], via="task")
    # RLS lets the gateway see memberships only of the tenant set here, for this lookup alone:
    # activate() below replaces every setting.
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)])
    membership = (
        Membership.objects.select_related("tenant", "user")
        .filter(pk=_uuid(membership_id, "membership_id"), tenant=tenant)
        .first()
    )
    if membership is None:
        raise TaskContextError(f"Membership {membership_id} does not exist in tenant {tenant_id}.")
    if not membership.is_current() or not membership.user.is_active:
        raise TaskContextError(f"Membership {membership_id} is inactive or expired.")
    return AccessContext.for_membership(membership, via="task")


@contextmanager
def task_transaction() -> Iterator[None]:
    """One transaction for a task. Inside a caller's transaction (tests, eager runs) the role and
    settings SET LOCAL would outlive the task, so they are reset to the login role afterwards."""
    nested = connection.in_atomic_block
    try:
        with transaction.atomic():
            yield
    finally:
        if nested:
            reset_identity()


def _visibility_timeout(task: DjangoTask) -> float:
    return float(task.app.conf.broker_transport_options.get("visibility_timeout", 3600))


class TenantTask(DjangoTask):
    """Base class of every task that touches tenant data (see the module docstring)."""

    #: Safe to run twice: acks_late + reject_on_worker_lost, retried on DB connection errors.
    idempotent: ClassVar[bool] = False
    #: Side of a system run when the caller gives neither membership_id nor side.
    default_side: ClassVar[Side | None] = None
    #: False: the body gets its context outside any transaction and opens its own, one per step
    #: (``task_transaction()`` + ``activate()``), so a long task commits as it goes (progress others
    #: can read; a retry resumes after the last committed step).
    one_transaction: ClassVar[bool] = True
    # The body's signature (ctx, ...) is not the wire signature (tenant_id=..., ...);
    # check_identity() validates the identity arguments instead.
    typing = False
    max_retries = 5

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # One switch: a task that is not idempotent must never be redelivered after it started.
        cls.acks_late = cls.reject_on_worker_lost = bool(cls.idempotent)

    def check_identity(self, kwargs: Mapping[str, Any]) -> None:
        check_identity(kwargs, default_side=self.default_side)

    def apply_async(self, args: Any = None, kwargs: Mapping[str, Any] | None = None, **options: Any) -> Any:
        self.check_identity(kwargs or {})
        delay = options.get("countdown")
        eta = options.get("eta")
        if isinstance(eta, dt.datetime):
            aware = eta if timezone.is_aware(eta) else timezone.make_aware(eta)
            delay = (aware - timezone.now()).total_seconds()
        # Redis redelivers any message unacked for visibility_timeout: a later one would run twice.
        if delay is not None and float(delay) >= _visibility_timeout(self):
            raise ValueError(
                f"{self.name}: countdown/eta {delay:.0f}s is beyond the broker visibility timeout; "
                "schedule it with beat instead."
            )
        return super().apply_async(args, kwargs, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        identity = {k: kwargs.pop(k, None) for k in IDENTITY_KWARGS}
        try:
            if not self.one_transaction:
                with task_transaction():
                    ctx = resolve_context(**identity, default_side=self.default_side)
                return self.run(ctx, *args, **kwargs)
            with task_transaction():
                ctx = resolve_context(**identity, default_side=self.default_side)
                activate(ctx)
                return self.run(ctx, *args, **kwargs)
        except RETRYABLE_ERRORS as exc:
            if self.idempotent and not self.request.called_directly:
                countdown = min(300, 5 * 2 ** int(self.request.retries or 0))
                raise self.retry(exc=exc, countdown=countdown) from exc
            raise


def enqueue_on_commit(task: TenantTask, /, *, queue: str | None = None, **kwargs: Any) -> None:
    """Queue `task` (to `queue`, else its routed queue) when the current transaction commits;
    a rollback queues nothing.

    The identity arguments are checked now, so a bad call fails where it is made, not after commit.
    """
    task.check_identity(kwargs)
    if queue is None:
        task.delay_on_commit(**kwargs)
    else:
        task.apply_async_on_commit(kwargs=kwargs, queue=queue)


__all__ = [
    "SYSTEM_BUSINESS",
    "SYSTEM_CAPACITIES",
    "SYSTEM_CLINICAL",
    "TaskContextError",
    "TenantTask",
    "check_identity",
    "enqueue_on_commit",
    "resolve_context",
    "task_transaction",
]
