"""Writes of the compliance app: audit requests, what people decide about findings, rule settings.

Like every service (``tenants/writes.py``): keyword-only, one transaction, the capacity refused
again here (PermissionDenied, answered 404), bad input refused with a message per field
(ValidationError, answered 400) before anything is written. Findings themselves are written only by
the engine; people change their status. Row writes are audit-logged by the database trigger.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.engine import rules_by_id
from compliance.models import AuditRun, Finding, FindingStatus, RuleSetting
from compliance.registry import REGISTRY, Rule, Severity
from management.models import ProfessionalCorporation
from tenants.access import AccessContext, check_still_visible
from tenants.capacities import CHANGE, Side
from tenants.models import Tenant, User
from tenants.taskbase import enqueue_on_commit
from tenants.writes import require_in_scope, require_may

F = TypeVar("F", bound=Finding)

REASON_MAX = 2000
# A risk is accepted for a while, not for good: at most a year, then the finding is open again.
MAX_RISK_ACCEPTANCE = dt.timedelta(days=366)
# Accepting a risk is a decision of the people who answer for it, not of every writer.
RISK_OWNERS = frozenset({"mso_admin", "mso_compliance", "pc_physician"})
KEY_MAX = 150


# --- audit runs ----------------------------------------------------------------------------------


def planned_rules(tenant: Tenant, rules: Iterable[Rule]) -> list[str]:
    """Ids of `rules` a run of the tenant evaluates: the tenant's switched-off rules are left out
    (a critical rule never is, whatever a setting says). Read in the caller's transaction."""
    off = set(RuleSetting.objects.filter(tenant=tenant, enabled=False).values_list("rule_id", flat=True))
    return [r.id for r in rules if r.id not in off or not r.may_be_disabled]


def run_create(
    *,
    tenant: Tenant,
    trigger: str,
    key: str,
    rule_ids: list[str],
    as_of: dt.date | None = None,
    pc_ids: list[Any] | None = None,
    change_label: str = "",
    requested_by: User | None = None,
) -> tuple[AuditRun, bool]:
    """The run named `key` in the tenant, created queued if there is none yet: (run, created).

    The caller's transaction runs under a tenant role (any role may write schema compliance).
    """
    return AuditRun.objects.get_or_create(
        tenant=tenant,
        idempotency_key=key,
        defaults={
            "trigger": trigger,
            "rule_ids": rule_ids,
            "rules_total": len(rule_ids),
            "as_of": as_of or timezone.localdate(),
            "pc_ids": [uuid.UUID(str(pk)) for pk in pc_ids] if pc_ids is not None else None,
            "change_label": change_label,
            "requested_by": requested_by,
        },
    )


def _clean_rule_ids(rule_ids: Iterable[str]) -> list[str]:
    ids = list(dict.fromkeys(str(r).strip().upper() for r in rule_ids))
    known = {r.id for r in rules_by_id(ids)}
    unknown = [r for r in ids if r not in known]
    if unknown:
        raise ValidationError({"rule_ids": f"Unknown rule(s): {', '.join(unknown)}."})
    if not ids:
        raise ValidationError({"rule_ids": "Name at least one rule, or leave the list out for all."})
    return ids


@transaction.atomic
def audit_request(
    *,
    ctx: AccessContext,
    pcs: Iterable[ProfessionalCorporation] | None = None,
    rule_ids: Iterable[str] | None = None,
    idempotency_key: str = "",
) -> AuditRun:
    """Queue an on-demand audit of the tenant (or of `pcs`), of every enabled rule or of `rule_ids`.

    The same `idempotency_key` returns the run it already queued (a double click, a retried API
    call). A capacity limited to some PCs audits those PCs only; a read-only capacity audits nothing.
    The task is queued when this transaction commits; the run's progress is readable at once.
    """
    if ctx.capacity.read_only:
        raise PermissionDenied("No such object.")
    key = str(idempotency_key or "").strip()
    if len(key) > KEY_MAX:
        raise ValidationError({"idempotency_key": f"At most {KEY_MAX} characters."})
    full_key = f"on_demand:{key or uuid.uuid4()}"
    existing = AuditRun.objects.filter(tenant=ctx.tenant, idempotency_key=full_key).first()
    if existing is not None:
        return existing
    pc_list = list(pcs) if pcs is not None else None
    if pc_list is not None:
        if not pc_list:
            raise ValidationError({"pcs": "Name at least one PC, or leave the list out for all of them."})
        for pc in pc_list:
            require_in_scope(ctx, pc, "pcs")
    elif not ctx.capacity.tenant_wide:
        raise ValidationError({"pcs": "Choose the PCs to audit: you act for some PCs, not the whole tenant."})
    rules = REGISTRY.all() if rule_ids is None else rules_by_id(_clean_rule_ids(rule_ids))
    planned = planned_rules(ctx.tenant, rules)
    if not planned:
        raise ValidationError({"rule_ids": "Every rule named is switched off for this tenant."})
    run, _ = run_create(
        tenant=ctx.tenant,
        trigger=AuditRun.Trigger.ON_DEMAND,
        key=full_key,
        rule_ids=planned,
        pc_ids=[pc.pk for pc in pc_list] if pc_list is not None else None,
        requested_by=ctx.user,
    )
    from compliance.tasks import audit_on_demand  # the tasks module imports this one

    enqueue_on_commit(audit_on_demand, tenant_id=str(ctx.tenant.pk), run_id=str(run.pk))
    return run


# --- findings: what people decide ----------------------------------------------------------------


def _clean_reason(reason: Any) -> str:
    text = str(reason or "").strip()
    if not text:
        raise ValidationError({"reason": "Give the reason."})
    if len(text) > REASON_MAX:
        raise ValidationError({"reason": f"At most {REASON_MAX} characters."})
    return text


def _locked(ctx: AccessContext, finding: F) -> F:
    """The finding, locked against the engine's upsert, if ctx may still change it (else 404)."""
    require_may(ctx, type(finding), CHANGE)
    check_still_visible(finding, ctx, CHANGE)
    return cast(F, type(finding).objects.select_for_update().get(pk=finding.pk, tenant=ctx.tenant))


def _set_status(ctx: AccessContext, finding: F, status: str, reason: str, until: dt.date | None) -> F:
    finding.status = status
    finding.status_reason = reason
    finding.status_by = ctx.user
    finding.status_at = timezone.now()
    finding.accepted_until = until
    finding.save(update_fields=["status", "status_reason", "status_by", "status_at", "accepted_until"])
    return finding


@transaction.atomic
def finding_acknowledge(*, ctx: AccessContext, finding: F, reason: str) -> F:
    """Acknowledge an open finding (or one whose risk was accepted) with the reason: it stays on
    the list as known and worked on, and is resolved by the first run that no longer sees it."""
    text = _clean_reason(reason)
    locked = _locked(ctx, finding)
    if locked.status == FindingStatus.RESOLVED:
        raise ValidationError({"status": "This finding is resolved: there is nothing to acknowledge."})
    return _set_status(ctx, locked, FindingStatus.ACKNOWLEDGED, text, None)


@transaction.atomic
def finding_accept_risk(*, ctx: AccessContext, finding: F, reason: str, until: dt.date) -> F:
    """Accept the risk of a finding until a date (after today, within a year): it counts apart from
    the open ones until then, and is open again the first run after that date. A critical finding
    (likely illegal now) cannot be accepted, only acknowledged and fixed."""
    if ctx.capacity.code not in RISK_OWNERS:
        raise PermissionDenied("No such object.")
    text = _clean_reason(reason)
    today = timezone.localdate()
    if not isinstance(until, dt.date) or isinstance(until, dt.datetime):
        raise ValidationError({"until": "Give the date the acceptance ends."})
    if until <= today:
        raise ValidationError({"until": "The acceptance must end after today."})
    if until > today + MAX_RISK_ACCEPTANCE:
        raise ValidationError({"until": "A risk is accepted for at most a year; review it again then."})
    locked = _locked(ctx, finding)
    if locked.status == FindingStatus.RESOLVED:
        raise ValidationError({"status": "This finding is resolved: there is no risk left to accept."})
    if locked.severity == Severity.CRITICAL:
        raise ValidationError({"status": "A critical finding cannot be accepted as a risk: fix it."})
    return _set_status(ctx, locked, FindingStatus.ACCEPTED_RISK, text, until)


@transaction.atomic
def finding_reopen(*, ctx: AccessContext, finding: F, reason: str = "") -> F:
    """Put an acknowledged or risk-accepted finding back among the open ones."""
    locked = _locked(ctx, finding)
    if locked.status not in (FindingStatus.ACKNOWLEDGED, FindingStatus.ACCEPTED_RISK):
        raise ValidationError(
            {"status": f"Only an acknowledged or accepted finding reopens; this one is {locked.status}."}
        )
    text = str(reason or "").strip()[:REASON_MAX]
    return _set_status(ctx, locked, FindingStatus.OPEN, text, None)


# --- rule settings -------------------------------------------------------------------------------


def may_tune(ctx: AccessContext, rule: Rule) -> bool:
    """Business rules are tuned by the MSO's tenant-wide writers; clinical rules (review rates,
    supervision) by a PC physician: the MSO does not set clinical policy (CPOM)."""
    capacity = ctx.capacity
    if capacity.read_only:
        return False
    if rule.side == Side.BUSINESS:
        return capacity.side == Side.BUSINESS and capacity.tenant_wide
    return capacity.code == "pc_physician"


def _clean_thresholds(rule: Rule, current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, str]:
    declared = {t.name: t for t in rule.thresholds}
    out = {k: v for k, v in current.items() if k in declared}
    errors: list[str] = []
    for name, raw in changes.items():
        threshold = declared.get(name)
        if threshold is None:
            errors.append(f"{rule.id} has no threshold “{name}”.")
            continue
        if raw is None:  # back to the default
            out.pop(name, None)
            continue
        try:
            if isinstance(raw, bool):
                raise InvalidOperation
            value = Decimal(str(raw).strip())
            if not value.is_finite():
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors.append(f"{name}: give a number.")
            continue
        if not threshold.minimum <= value <= threshold.maximum:
            errors.append(
                f"{name}: between {threshold.minimum} and {threshold.maximum} {threshold.unit}, not {value}."
            )
            continue
        out[name] = str(value)
    if errors:
        raise ValidationError({"thresholds": errors})
    return out


@transaction.atomic
def rule_setting_update(
    *,
    ctx: AccessContext,
    rule_id: str,
    enabled: bool | None = None,
    thresholds: Mapping[str, Any] | None = None,
) -> RuleSetting:
    """Switch a rule on or off for the tenant, or tune its thresholds within their declared bounds
    (a threshold given as None goes back to its default). A critical rule cannot be switched off."""
    found = rules_by_id([str(rule_id).strip().upper()])
    if not found:
        raise ValidationError({"rule_id": f"Unknown rule {rule_id!r}."})
    rule = found[0]
    if not may_tune(ctx, rule):
        raise PermissionDenied("No such object.")
    if enabled is False and not rule.may_be_disabled:
        raise ValidationError({"enabled": f"{rule.id} is critical: it stays on."})
    setting = RuleSetting.objects.select_for_update().filter(
        tenant=ctx.tenant, rule_id=rule.id
    ).first() or RuleSetting(tenant=ctx.tenant, rule_id=rule.id)
    if thresholds is not None:
        if not isinstance(thresholds, Mapping):
            raise ValidationError({"thresholds": "Give the thresholds by name."})
        setting.thresholds = _clean_thresholds(rule, setting.thresholds or {}, thresholds)
    if enabled is not None:
        setting.enabled = bool(enabled)
    setting.critical = not rule.may_be_disabled
    setting.updated_at = timezone.now()
    setting.updated_by = ctx.user
    setting.full_clean()
    setting.save()
    return setting
