"""What the compliance pages and the compliance API share: the rule behind a finding, a rule's
thresholds with the tenant's values, tallies by status and severity, links to the object a finding is
about, and the counts of the navigation sections.

Nothing here reads a clinical row for a business capacity: the clinical tallies such a capacity sees
come from ``compliance.selectors.severity_counts``, which reads them off the audit runs.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import QuerySet
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

from compliance.engine import OPEN_STATUSES, rule_params
from compliance.models import BusinessFinding, ClinicalFinding, Finding, FindingStatus, RuleSetting
from compliance.registry import REGISTRY, SEVERITY_ORDER, Rule, Severity, load_rules
from compliance.services import RISK_OWNERS, may_tune
from tenants.access import AccessContext, may, restrict
from tenants.capacities import CHANGE, VIEW, Side

SEVERITIES: tuple[Severity, ...] = tuple(sorted(Severity, key=lambda s: SEVERITY_ORDER[s]))
# CSS classes of static/css/app.css, by value (templates look them up with the row's own string).
SEVERITY_BADGES: dict[str, str] = {
    Severity.CRITICAL.value: "badge-danger",
    Severity.HIGH.value: "badge-warn",
    Severity.MEDIUM.value: "badge-info",
    Severity.LOW.value: "badge-muted",
}
STATUS_BADGES: dict[str, str] = {
    FindingStatus.OPEN.value: "badge-danger",
    FindingStatus.ACKNOWLEDGED.value: "badge-warn",
    FindingStatus.ACCEPTED_RISK.value: "badge-info",
    FindingStatus.RESOLVED.value: "badge-ok",
}


# --- rules ---------------------------------------------------------------------------------------


def all_rules() -> list[Rule]:
    return REGISTRY.all()


def rule_of(rule_id: str) -> Rule | None:
    """The registered rule of that id, or None (a finding outlives a rule that was withdrawn)."""
    load_rules()
    return REGISTRY.rules.get(rule_id)


def rules_of(side: Side) -> list[Rule]:
    return [r for r in all_rules() if r.side == side]


@dataclass(frozen=True)
class ThresholdRow:
    """One threshold of a rule as a tenant sees it: declared default and bounds, its own value."""

    name: str
    unit: str
    description: str
    default: str
    minimum: str
    maximum: str
    value: str  # the value a run uses: the tenant's if valid, else the default
    tenant_value: str | None  # what the tenant set, None when it kept the default


def threshold_rows(rule: Rule, setting: RuleSetting | None) -> list[ThresholdRow]:
    effective = rule_params(rule, setting)
    stored = setting.thresholds if setting is not None else {}
    return [
        ThresholdRow(
            name=t.name,
            unit=t.unit,
            description=t.description,
            default=str(t.default),
            minimum=str(t.minimum),
            maximum=str(t.maximum),
            value=str(effective[t.name]),
            tenant_value=str(stored[t.name]) if t.name in stored else None,
        )
        for t in rule.thresholds
    ]


def rule_settings(ctx: AccessContext) -> QuerySet[RuleSetting]:
    """The tenant's rule settings (every capacity reads them: the catalogue is open to all)."""
    return restrict(RuleSetting.objects.select_related("updated_by"), ctx, VIEW)


def settings_by_rule(ctx: AccessContext) -> dict[str, RuleSetting]:
    return {s.rule_id: s for s in rule_settings(ctx)}


def is_enabled(rule: Rule, setting: RuleSetting | None) -> bool:
    """A critical rule runs whatever a setting says (the engine and the database hold to that too)."""
    return not rule.may_be_disabled or setting is None or setting.enabled


def tunable(ctx: AccessContext, rule: Rule) -> bool:
    """Whether ctx may change something of this rule: switch it (not a critical one) or a threshold."""
    return (rule.may_be_disabled or bool(rule.thresholds)) and may_tune(ctx, rule)


def may_tune_any(ctx: AccessContext) -> bool:
    return any(may_tune(ctx, r) for r in all_rules())


# --- findings ------------------------------------------------------------------------------------


def may_change(ctx: AccessContext, finding: Finding) -> bool:
    """Whether ctx may change this finding's status (the permission layer, on this very row)."""
    model = type(finding)
    return may(ctx, model, CHANGE) and restrict(model.objects.filter(pk=finding.pk), ctx, CHANGE).exists()


def may_accept_risk(ctx: AccessContext, finding: Finding) -> bool:
    """Accepting a risk is for the people who answer for it, and never for a critical finding."""
    return ctx.capacity.code in RISK_OWNERS and finding.severity != Severity.CRITICAL


def evidence_items(evidence: Any) -> list[tuple[str, str]]:
    """The evidence object as (label, text) pairs in the rule's order: "fee_amount" → "Fee amount"."""
    if not isinstance(evidence, Mapping):
        return [("Evidence", display_value(evidence))] if evidence not in (None, "", {}) else []
    return [
        (str(key).replace("_", " ").capitalize(), display_value(value)) for key, value in evidence.items()
    ]


def display_value(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value) or "—"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


@functools.cache
def detail_page_names() -> dict[str, str]:
    """Model label → URL name of its detail page under /t/<slug>/ (pages marked with page_of)."""
    found: dict[str, str] = {}

    def walk(patterns: Iterable[Any]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and str(pattern.name or "").endswith("-detail"):
                model = getattr(pattern.callback, "page_model", None)
                if model is not None:
                    found.setdefault(model._meta.label, str(pattern.name))

    walk(get_resolver().url_patterns)
    return found


def object_url(ctx: AccessContext, object_type: str, object_id: Any) -> str | None:
    """The page of the object a finding is about, when ctx's capacity may view that kind of object
    (the page itself still answers 404 for an object outside ctx's scope)."""
    name = detail_page_names().get(object_type)
    if name is None:
        return None
    try:
        model = apps.get_model(object_type)
    except (LookupError, ValueError):
        return None
    if not may(ctx, model, VIEW):
        return None
    try:
        return reverse(name, kwargs={"tenant_slug": ctx.tenant.slug, "pk": object_id})
    except NoReverseMatch:
        return None


def object_label(object_type: str) -> str:
    try:
        return str(apps.get_model(object_type)._meta.verbose_name).capitalize()
    except (LookupError, ValueError):
        return object_type


# --- tallies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TallyRow:
    """Unresolved findings of one status, by severity (most severe first)."""

    status: str
    label: str
    cells: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.cells)


def tally_rows(counts: Mapping[str, Any] | None) -> list[TallyRow]:
    """Rows of a {status: {severity: n}} mapping (a run's counts, or severity_counts' per side)."""
    counts = counts or {}
    rows = []
    for status in OPEN_STATUSES:
        by_severity = counts.get(status.value) or {}
        cells = tuple((s.value, int(by_severity.get(s.value, 0) or 0)) for s in SEVERITIES)
        rows.append(TallyRow(status.value, str(status.label), cells))
    return rows


# --- navigation sections (settings.TENANT_SECTIONS → compliance.sections) -----------------------


def unresolved_business_findings(ctx: AccessContext) -> QuerySet[BusinessFinding]:
    return restrict(BusinessFinding.objects.all(), ctx).exclude(status=FindingStatus.RESOLVED)


def unresolved_clinical_findings(ctx: AccessContext) -> QuerySet[ClinicalFinding]:
    # A count, never a fetch: no clinical row is read (the section is shown to clinical capacities only).
    return restrict(ClinicalFinding.objects.all(), ctx).exclude(status=FindingStatus.RESOLVED)
