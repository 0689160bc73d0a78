"""Reads of the compliance app, always through the permission layer (``tenants.access.restrict``).

Findings are read by side. Clinical findings are restricted to clinical capacities by ``restrict``
and, below it, by PostgreSQL (their table is in schema ``clinical``); each clinical finding shown is
logged as read, like any clinical record. A business capacity learns the clinical side's counts by
severity from the audit runs, which the clinical side of each run writes.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import Http404

from clinical.selectors.charts import log_reads, logging_reads
from compliance.engine import OPEN_STATUSES
from compliance.models import FINDING_MODELS, AuditRun, Finding, FindingStatus
from compliance.registry import Severity
from tenants.access import AccessContext, get_for_action, may, parse_id, restrict
from tenants.capacities import VIEW, Side


def finding_model(side: Any) -> type[Finding]:
    try:
        return FINDING_MODELS[Side(str(side))]
    except ValueError:
        raise ValidationError({"side": "Findings are either business or clinical."}) from None


def _choice(value: Any, allowed: set[str], field: str) -> str:
    text = str(value).strip().lower()
    if text not in allowed:
        raise ValidationError({field: f"One of: {', '.join(sorted(allowed))}."})
    return text


def _uuid(value: Any, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise ValidationError({field: "Not a valid id."}) from None


def finding_list(
    ctx: AccessContext,
    side: Any,
    *,
    status: Any = None,
    severity: Any = None,
    rule_id: Any = None,
    pc: Any = None,
    location: Any = None,
) -> QuerySet[Finding]:
    """The findings of `side` ctx may see, filtered (bad filter values are a 400, not an empty list).

    Clinical findings come back in a queryset that logs every row it fetches as read by ctx.
    """
    model = finding_model(side)
    qs: QuerySet[Any] = restrict(model.objects.select_related("pc", "location"), ctx)
    if status not in (None, ""):
        qs = qs.filter(status=_choice(status, {s.value for s in FindingStatus}, "status"))
    if severity not in (None, ""):
        qs = qs.filter(severity=_choice(severity, {s.value for s in Severity}, "severity"))
    if rule_id not in (None, ""):
        qs = qs.filter(rule_id=str(rule_id).strip().upper())
    if pc not in (None, ""):
        qs = qs.filter(pc_id=_uuid(getattr(pc, "pk", pc), "pc"))
    if location not in (None, ""):
        qs = qs.filter(location_id=_uuid(getattr(location, "pk", location), "location"))
    if model.side == Side.CLINICAL:
        qs = logging_reads(qs, ctx)
    return qs


def finding_get(ctx: AccessContext, side: Any, pk: Any, action: str = VIEW) -> Finding:
    """One finding ctx may act on, else 404 (absent, other tenant's, other side's, out of scope)."""
    model = finding_model(side)
    try:
        finding: Finding = restrict(model.objects.select_related("pc", "location"), ctx, action).get(
            pk=parse_id(pk)
        )
    except model.DoesNotExist:
        raise Http404("No such object.") from None
    if model.side == Side.CLINICAL:
        log_reads(ctx, [finding])
    return finding


def run_list(ctx: AccessContext) -> QuerySet[AuditRun]:
    return restrict(AuditRun.objects.all(), ctx)


def run_get(ctx: AccessContext, pk: Any) -> AuditRun:
    return get_for_action(AuditRun, ctx, pk, VIEW)


def run_progress(ctx: AccessContext, pk: Any) -> dict[str, Any]:
    """What a progress bar polls: committed after every rule of the run, so it moves while it runs."""
    run = run_get(ctx, pk)
    return {
        "id": str(run.pk),
        "trigger": run.trigger,
        "status": run.status,
        "rules_total": run.rules_total,
        "rules_done": run.rules_done,
        "percent": run.percent,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "counts": run.counts,
        "error": run.error,
    }


def _empty_counts() -> dict[str, dict[str, int]]:
    return {status.value: {} for status in OPEN_STATUSES}


def _live_counts(ctx: AccessContext, side: Side) -> dict[str, dict[str, int]]:
    out = _empty_counts()
    rows = (
        restrict(FINDING_MODELS[side].objects.all(), ctx)
        .exclude(status=FindingStatus.RESOLVED)
        .order_by()
        .values("status", "severity")
        .annotate(n=Count("id"))
    )
    for row in rows:
        out[row["status"]][row["severity"]] = row["n"]
    return out


def severity_counts(ctx: AccessContext) -> dict[str, Any]:
    """Unresolved findings by status and severity, per side.

    Each side ctx may read is counted live (within ctx's scope). The clinical side, for a business
    capacity, is the tenant's count as the clinical side of the latest run wrote it on the run
    (``clinical_as_of`` says when); no clinical row is read for it.
    """
    out: dict[str, Any] = {"business": _empty_counts(), "clinical": _empty_counts(), "clinical_as_of": None}
    if may(ctx, FINDING_MODELS[Side.BUSINESS], VIEW):
        out["business"] = _live_counts(ctx, Side.BUSINESS)
    if may(ctx, FINDING_MODELS[Side.CLINICAL], VIEW):
        out["clinical"] = _live_counts(ctx, Side.CLINICAL)
        return out
    latest = run_list(ctx).filter(counts__has_key=Side.CLINICAL.value).order_by("-created_at").first()
    if latest is not None:
        recorded = latest.counts[Side.CLINICAL.value]
        out["clinical"] = {s.value: dict(recorded.get(s.value, {})) for s in OPEN_STATUSES}
        out["clinical_as_of"] = recorded.get("at")
    return out
