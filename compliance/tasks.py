"""Audit runs in the background: nightly for every tenant, on demand, and after a change.

Every task is idempotent (``acks_late``: a killed worker's message is delivered again) and keyed:

- the nightly run of a tenant is the run named ``nightly:<date>``: the fan-out sent twice, or a
  message delivered twice, finds the same run;
- a change run is named after the task's message id, which a redelivery or a retry keeps;
- an on-demand run is created by ``services.audit_request`` before its task is queued.

Executing a run (``engine.execute_run``) commits after every rule and skips the rules the run has
already recorded, so a second delivery resumes where the first one stopped and a delivery of a
finished run does nothing. Findings upsert on their fingerprint: nothing is ever duplicated.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_process_init
from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone

from compliance import engine
from compliance.models import AuditRun
from compliance.notifications import notify_after_run
from compliance.registry import REGISTRY, warm_reads
from compliance.services import planned_rules, run_create
from management.models import ProfessionalCorporation
from tenants.access import AccessContext, activate, enter_gateway
from tenants.capacities import Side
from tenants.models import Tenant
from tenants.taskbase import TenantTask, enqueue_on_commit, resolve_context, task_transaction

log = logging.getLogger(__name__)


class AuditTask(TenantTask):
    """A TenantTask that opens a transaction per rule (``one_transaction = False``) and marks its run
    failed when it gives up, instead of leaving it "running" for ever."""

    idempotent = True
    default_side = Side.BUSINESS
    one_transaction = False

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        try:
            with task_transaction():
                ctx = resolve_context(tenant_id=kwargs.get("tenant_id"), side=Side.BUSINESS)
                activate(ctx)
                runs = AuditRun.objects.filter(tenant=ctx.tenant)
                if kwargs.get("run_id"):
                    runs = runs.filter(pk=kwargs["run_id"])
                else:
                    runs = runs.filter(idempotency_key=kwargs.get("key") or f"task:{task_id}")
                found = runs.values_list("pk", flat=True).first()
            if found is not None:
                engine.mark_failed(ctx.tenant, found, f"{type(exc).__name__}: {exc}")
        except Exception:  # the failure itself is already logged by Celery
            log.exception("could not mark the audit run of task %s failed", task_id)


def _task_key(task: Task) -> str:
    # The message id survives a redelivery and a retry; a direct call (no message) gets a fresh key.
    return f"task:{task.request.id or uuid.uuid4()}"


def _summary(run: AuditRun) -> dict[str, Any]:
    return {"run_id": str(run.pk), "status": run.status, "rules_done": run.rules_done}


def _finished(run: AuditRun) -> dict[str, Any]:
    """After a run: mail its new critical findings (once: a retried task sends nothing twice)."""
    notify_after_run(run)
    return _summary(run)


def _create(ctx: AccessContext, **kwargs: Any) -> AuditRun:
    with task_transaction():
        activate(engine.system_context(ctx.tenant, Side.BUSINESS))
        run, _ = run_create(tenant=ctx.tenant, **kwargs)
        return run


@shared_task(base=AuditTask, bind=True)
def audit_tenant(
    self: Task, ctx: AccessContext, *, key: str | None = None, as_of: str | None = None
) -> dict[str, Any]:
    """Audit the whole tenant with every rule it has switched on: the nightly run (``key``
    "nightly:<date>" from the fan-out) or any full run named by `key`."""
    day = dt.date.fromisoformat(as_of) if as_of else timezone.localdate()
    with task_transaction():
        activate(engine.system_context(ctx.tenant, Side.BUSINESS))
        rule_ids = planned_rules(ctx.tenant, REGISTRY.all())
    run = _create(
        ctx,
        trigger=AuditRun.Trigger.NIGHTLY,
        key=key or _task_key(self),
        rule_ids=rule_ids,
        as_of=day,
    )
    return _finished(engine.execute_run(ctx.tenant, run.pk))


@shared_task(base=AuditTask)
def audit_on_demand(ctx: AccessContext, *, run_id: str) -> dict[str, Any]:
    """Execute a run queued by ``services.audit_request`` (its own task, so that operators can route
    interactive audits to a queue of their own)."""
    return _finished(engine.execute_run(ctx.tenant, run_id))


@shared_task(base=AuditTask, bind=True)
def audit_after_change(
    self: Task,
    ctx: AccessContext,
    *,
    model_label: str,
    pc_id: str | None = None,
    pc_ids: list[str] | None = None,
    object_ids: list[str] | None = None,
    updated: dict[str, list[str]] | None = None,
) -> dict[str, Any] | None:
    """Re-run the rules whose triggers name the model just written (an MSA or an invoice saved: the
    MSA and fee rules of its PC), once for a batch of written rows of one model.

    The written rows: `object_ids`, rows created (or changed in ways not told), and `updated`, rows
    updated: id -> the names of the fields the update changed (with any column a database trigger
    derives from them, e.g. a reviewed item's content hash). A rule is re-run only for rows whose
    write may change its hits: a row created, or updated in a column the rule reads
    (``Rule.reads``). A rule that narrows by that model (``Rule.narrows``) re-checks the findings of
    those rows' objects alone; the others re-check the PCs `pc_ids` (or `pc_id`; the written rows'
    PCs), or every PC of the tenant when none is given. Neither `object_ids` nor `updated`: every
    triggered rule re-checks the PCs. No rule to run: no run is created."""
    pcs = [*(pc_ids or []), *([pc_id] if pc_id else [])]
    changed = written_rows(model_label, object_ids, updated)
    with task_transaction():
        activate(engine.system_context(ctx.tenant, Side.BUSINESS))
        triggered = REGISTRY.triggered_by(model_label)
        if changed is not None:
            triggered = [r for r in triggered if changed.affecting(r, model_label)]
        rule_ids = planned_rules(ctx.tenant, triggered)
        if not pcs:  # a change run names its PCs (a run without is a full one to the reports)
            pcs = [
                str(pk)
                for pk in ProfessionalCorporation.objects.filter(tenant=ctx.tenant).values_list(
                    "pk", flat=True
                )
            ]
    if not rule_ids:
        return None
    run = _create(
        ctx,
        trigger=AuditRun.Trigger.CHANGE,
        key=_task_key(self),
        rule_ids=rule_ids,
        pc_ids=[uuid.UUID(str(pk)) for pk in dict.fromkeys(pcs)],
        change_label=model_label,
    )
    return _finished(engine.execute_run(ctx.tenant, run.pk, changed=changed))


def written_rows(
    model_label: str, created: list[str] | None, updated: dict[str, list[str]] | None
) -> engine.Written | None:
    """The written rows of a change run, fields named as the model names them (checked: a name the
    model does not have is an error, not "every column"); None when neither is given."""
    if created is None and updated is None:
        return None
    model = apps.get_model(model_label)

    @functools.cache
    def columns_of(names: tuple[str, ...]) -> frozenset[str]:
        # Once per distinct list of fields: a day's batch updates thousands of rows the same way.
        columns = []
        for name in names:
            try:
                field = model._meta.get_field(name)
            except FieldDoesNotExist:
                raise ValueError(f"{model_label} has no field {name!r}") from None
            if not field.concrete:
                raise ValueError(f"{model_label}.{name} is not a column")
            columns.append(field.column)
        return frozenset(columns)

    columns = {str(uuid.UUID(str(pk))): columns_of(tuple(names)) for pk, names in (updated or {}).items()}
    return engine.Written.of(created=(str(uuid.UUID(str(pk))) for pk in created or ()), updated=columns)


@worker_process_init.connect
def learn_what_rules_read(**_: Any) -> None:
    """A pool process compiles what each rule reads (``registry.warm_reads``) before its first task,
    so that no change run pays for it. A failure here only leaves it to the first change run."""
    try:
        warm_reads()
    except Exception:
        log.exception("could not compile what the compliance rules read; change runs will")


@shared_task(acks_late=True, reject_on_worker_lost=True)
def audit_all_tenants() -> int:
    """Nightly (beat): queue one ``audit_tenant`` per tenant once this listing commits, each named
    ``nightly:<date>`` so that a second fan-out the same night queues nothing new to do."""
    day = timezone.localdate().isoformat()
    with task_transaction():
        enter_gateway()
        tenant_ids = [str(pk) for pk in Tenant.objects.order_by("pk").values_list("pk", flat=True)]
        for tenant_id in tenant_ids:
            enqueue_on_commit(audit_tenant, tenant_id=tenant_id, key=f"nightly:{day}", as_of=day)
    return len(tenant_ids)
