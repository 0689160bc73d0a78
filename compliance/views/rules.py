"""The rule catalogue: every rule with its id, title, severity, side, states, citation, statement and
thresholds (the declared default and bounds next to this tenant's value), business rules first.

Every capacity reads it. Whoever may tune a rule (``services.may_tune``: business rules by the MSO's
tenant-wide writers, clinical rules by a PC physician) gets a form on it: switch it off (not a
critical rule: those stay on) and set its thresholds within their bounds, a blank field meaning the
default. The form posts to this page; ``services.rule_setting_update`` validates and writes, and a
refusal is the page again, 400, with the messages on that rule and nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_http_methods

from compliance import services
from compliance.models import RuleSetting
from compliance.registry import Rule
from compliance.views import _support as support
from tenants.access import AccessContext
from tenants.capacities import Side
from tenants.views import page_of, tenant_page

TEMPLATES = "compliance/rules"
NOT_FOUND = "No such page in your current capacity."
SWITCH = {"on": True, "off": False}


@dataclass
class RuleRow:
    rule: Rule
    setting: RuleSetting | None
    thresholds: list[support.ThresholdRow]
    enabled: bool
    tunable: bool
    errors: list[str] = field(default_factory=list)
    submitted: dict[str, str] = field(default_factory=dict)  # a refused form's values, shown again

    @property
    def severity_badge(self) -> str:
        return support.SEVERITY_BADGES.get(self.rule.severity.value, "")

    @property
    def inputs(self) -> list[tuple[support.ThresholdRow, str]]:
        """Each threshold with what its field holds: a refused form's value, else the tenant's own
        (blank when it keeps the default, which the field shows as its placeholder)."""
        if self.submitted:
            return [(t, self.submitted.get(t.name, "")) for t in self.thresholds]
        return [(t, t.tenant_value or "") for t in self.thresholds]


@dataclass
class Submission:
    rule: Rule
    enabled: bool | None
    thresholds: dict[str, str | None]
    raw: dict[str, str]


def read_submission(request: HttpRequest) -> Submission:
    """The posted form of one rule; what is not a rule or a switch position is a 400 here."""
    rule = support.rule_of(request.POST.get("rule_id", "").strip().upper())
    if rule is None:
        raise ValidationError({"rule_id": "Unknown rule: choose one of the catalogue."})
    switch = request.POST.get("enabled")
    if switch is not None and switch not in SWITCH:
        raise ValidationError({"enabled": "Choose on or off."})
    raw = {t.name: request.POST.get(f"threshold-{t.name}", "").strip() for t in rule.thresholds}
    # Only thresholds the form sent are changed; a blank one goes back to its default (None).
    sent = {t.name: raw[t.name] or None for t in rule.thresholds if f"threshold-{t.name}" in request.POST}
    return Submission(rule, SWITCH.get(switch) if switch is not None else None, sent, raw)


def rows_for(ctx: AccessContext, settings: dict[str, RuleSetting]) -> list[RuleRow]:
    rows = []
    for rule in sorted(support.all_rules(), key=lambda r: (r.side != Side.BUSINESS, r.id)):
        setting = settings.get(rule.id)
        rows.append(
            RuleRow(
                rule=rule,
                setting=setting,
                thresholds=support.threshold_rows(rule, setting),
                enabled=support.is_enabled(rule, setting),
                tunable=support.tunable(ctx, rule),
            )
        )
    return rows


@tenant_page
@page_of(RuleSetting)
@require_http_methods(["GET", "HEAD", "POST"])
def rule_list(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
    refused: tuple[str, list[str], dict[str, str]] | None = None
    top_error = ""
    if request.method == "POST":
        if not support.may_tune_any(ctx):
            raise Http404(NOT_FOUND)
        try:
            submission = read_submission(request)
        except ValidationError as exc:
            top_error = " ".join(exc.messages)
        else:
            try:
                services.rule_setting_update(
                    ctx=ctx,
                    rule_id=submission.rule.id,
                    enabled=submission.enabled,
                    thresholds=submission.thresholds or None,
                )
            except PermissionDenied:
                raise Http404(NOT_FOUND) from None
            except ValidationError as exc:
                refused = (submission.rule.id, exc.messages, submission.raw)
            else:
                messages.success(request, f"{submission.rule.id} saved.")
                url = reverse("rule-list", kwargs={"tenant_slug": ctx.tenant.slug})
                return redirect(f"{url}#rule-{submission.rule.id}")
    settings = support.settings_by_rule(ctx)
    rows = rows_for(ctx, settings)
    # Settings a tenant keeps for rules withdrawn since (they no longer change any audit).
    withdrawn = [s for rule_id, s in sorted(settings.items()) if support.rule_of(rule_id) is None]
    if refused is not None:
        for row in rows:
            if row.rule.id == refused[0]:
                row.errors, row.submitted = refused[1], refused[2]
    groups = [
        (label, [row for row in rows if row.rule.side == side])
        for side, label in ((Side.BUSINESS, "Business rules"), (Side.CLINICAL, "Clinical rules"))
    ]
    return render(
        request,
        f"{TEMPLATES}/list.html",
        {
            "title": "Rule catalogue",
            "groups": groups,
            "withdrawn": withdrawn,
            "error": top_error,
            "rule_count": len(rows),
        },
        status=400 if refused is not None or top_error else 200,
    )


urlpatterns: list[URLPattern] = [path("compliance/rules/", rule_list, name="rule-list")]
