"""Findings pages: the list of one side's findings (filters by status, severity, rule, PC, location)
and one finding with the rule behind it, its evidence and history, and what people may decide about
it (acknowledge with a reason, accept the risk until a date, reopen).

Business findings are read by every capacity that may view business records of their PC; clinical
findings only in a clinical capacity (``page_of(ClinicalFinding)`` answers 404 to a business capacity
before any query). A business capacity sees the clinical side as counts by severity, which
``severity_counts`` reads off the audit runs, never off the clinical table.

Decisions are POSTed to the finding's page. The finding is fetched for "change", so a capacity that
may only read it (or not even that) gets 404; a refusal on the merits is the page again, 400, with
the service's message on the form, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods

from compliance import selectors, services
from compliance.filters import UNRESOLVED, FindingPageFilter
from compliance.models import FINDING_MODELS, Finding, FindingStatus
from compliance.registry import Rule
from compliance.views import _support as support
from tenants.access import AccessContext, may
from tenants.capacities import CHANGE, VIEW, Side
from tenants.pages import add_service_errors
from tenants.views import page_of, paginate, tenant_page

TEMPLATES = "compliance/findings"
NOT_FOUND = "No such page in your current capacity."


# --- forms: each collects input for one service, which validates and writes ------------------------


def reason_field(*, label: str, help_text: str) -> forms.CharField:
    # Never required on the form: the service refuses a missing reason with its own message.
    return forms.CharField(
        required=False,
        max_length=services.REASON_MAX,
        label=label,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AcknowledgeForm(forms.Form):
    reason = reason_field(label="Reason", help_text="What is known about it and what is being done.")


class AcceptRiskForm(forms.Form):
    reason = reason_field(label="Reason", help_text="Why the risk is acceptable until the date below.")
    until = forms.DateField(
        required=False,
        label="Accepted until",
        help_text="After today, within a year; the finding is open again after that date.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class ReopenForm(forms.Form):
    reason = reason_field(label="Why (optional)", help_text="")


ACTIONS: dict[str, type[forms.Form]] = {
    "acknowledge": AcknowledgeForm,
    "accept_risk": AcceptRiskForm,
    "reopen": ReopenForm,
}


def action_form(action: str, data: Any = None) -> forms.Form:
    # Ids of their own: the page holds several forms that each have a "reason".
    return ACTIONS[action](data, auto_id=f"id_{action}_%s")


DONE = {
    "acknowledge": "Finding acknowledged.",
    "accept_risk": "Risk accepted until {until}.",
    "reopen": "Finding reopened.",
}


def decide(ctx: AccessContext, finding: Finding, action: str, data: dict[str, Any]) -> Finding:
    """Hand the form's cleaned data to the service of `action` (each re-checks the capacity)."""
    if action == "acknowledge":
        return services.finding_acknowledge(ctx=ctx, finding=finding, reason=data["reason"])
    if action == "accept_risk":
        return services.finding_accept_risk(
            ctx=ctx, finding=finding, reason=data["reason"], until=data["until"]
        )
    return services.finding_reopen(ctx=ctx, finding=finding, reason=data["reason"])


def available_actions(ctx: AccessContext, finding: Finding) -> list[str]:
    """The decisions the page offers on this finding to this capacity (the services decide anyway)."""
    if finding.status == FindingStatus.RESOLVED or not support.may_change(ctx, finding):
        return []
    offered = []
    if finding.status != FindingStatus.ACKNOWLEDGED:
        offered.append("acknowledge")
    if finding.status != FindingStatus.ACCEPTED_RISK and support.may_accept_risk(ctx, finding):
        offered.append("accept_risk")
    if finding.status in (FindingStatus.ACKNOWLEDGED, FindingStatus.ACCEPTED_RISK):
        offered.append("reopen")
    return offered


# --- pages -------------------------------------------------------------------------------------------


def as_time(value: Any) -> Any:
    """A run's recorded time (ISO text in its JSON counts) as a datetime the template can format."""
    return parse_datetime(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class FindingRow:
    finding: Finding
    rule: Rule | None
    url: str

    @property
    def severity_badge(self) -> str:
        return support.SEVERITY_BADGES.get(self.finding.severity, "")

    @property
    def status_badge(self) -> str:
        return support.STATUS_BADGES.get(self.finding.status, "")


@dataclass(frozen=True)
class SidePages:
    """The list and detail pages of one side's findings."""

    side: Side
    name: str  # URL names <name>-list and <name>-detail
    path: str  # segment under /t/<slug>/compliance/
    title: str

    @property
    def model(self) -> type[Finding]:
        return FINDING_MODELS[self.side]

    def url(self, ctx: AccessContext, kind: str, pk: Any = None) -> str:
        kwargs: dict[str, Any] = {"tenant_slug": ctx.tenant.slug}
        if pk is not None:
            kwargs["pk"] = pk
        return reverse(f"{self.name}-{kind}", kwargs=kwargs)

    def urls(self) -> list[URLPattern]:
        return [
            path(f"compliance/{self.path}/", self.list_view(), name=f"{self.name}-list"),
            path(f"compliance/{self.path}/<str:pk>/", self.detail_view(), name=f"{self.name}-detail"),
        ]

    def list_view(self) -> Callable[..., HttpResponseBase]:
        @tenant_page
        @page_of(self.model)
        @require_http_methods(["GET", "HEAD"])
        def view(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
            return self.render_list(request, ctx)

        view.__name__ = view.__qualname__ = f"{self.name.replace('-', '_')}_list"
        return view

    def detail_view(self) -> Callable[..., HttpResponseBase]:
        @tenant_page
        @page_of(self.model)
        @require_http_methods(["GET", "HEAD", "POST"])
        def view(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponseBase:
            if request.method == "POST":
                return self.post_decision(request, ctx, pk)
            finding = selectors.finding_get(ctx, self.side, pk, VIEW)
            return self.render_detail(request, ctx, finding)

        view.__name__ = view.__qualname__ = f"{self.name.replace('-', '_')}_detail"
        return view

    # --- list ---------------------------------------------------------------------------------------

    def render_list(self, request: HttpRequest, ctx: AccessContext) -> HttpResponse:
        data = request.GET.copy()
        if not data.get("status"):
            data["status"] = UNRESOLVED  # what needs attention, unless asked otherwise
        qs = selectors.finding_list(ctx, self.side)
        filters = FindingPageFilter(data, queryset=qs, ctx=ctx, side=self.side)
        qs = filters.qs if filters.is_valid() else qs.none()
        page = paginate(request, qs)
        rows = [FindingRow(f, support.rule_of(f.rule_id), self.url(ctx, "detail", f.pk)) for f in page]
        query = urlencode([(k, v) for k, v in request.GET.items() if k != "page"])
        counts = selectors.severity_counts(ctx)
        clinical_readable = may(ctx, FINDING_MODELS[Side.CLINICAL], VIEW)
        return render(
            request,
            f"{TEMPLATES}/list.html",
            {
                "pages": self,
                "title": self.title,
                "side": self.side.value,
                "filters": filters,
                "page": page,
                "rows": rows,
                "query": query,
                "business_tally": support.tally_rows(counts["business"]),
                "clinical_tally": support.tally_rows(counts["clinical"]),
                "clinical_as_of": as_time(counts["clinical_as_of"]),
                "clinical_readable": clinical_readable,
                "clinical_url": (
                    reverse("clinical-finding-list", kwargs={"tenant_slug": ctx.tenant.slug})
                    if clinical_readable
                    else None
                ),
                "business_url": reverse("business-finding-list", kwargs={"tenant_slug": ctx.tenant.slug}),
                "severities": support.SEVERITIES,
                "runs_url": reverse("audit-run-list", kwargs={"tenant_slug": ctx.tenant.slug}),
            },
        )

    # --- detail -------------------------------------------------------------------------------------

    def post_decision(self, request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponseBase:
        finding = selectors.finding_get(ctx, self.side, pk, CHANGE)  # 404 unless ctx may change it
        action = request.POST.get("action", "")
        if action not in ACTIONS:
            return self.render_detail(
                request, ctx, finding, error="Choose what to do: acknowledge, accept the risk or reopen."
            )
        form = action_form(action, request.POST)
        if form.is_valid():
            try:
                decide(ctx, finding, action, form.cleaned_data)
            except PermissionDenied:
                raise Http404(NOT_FOUND) from None
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, DONE[action].format(**form.cleaned_data))
                return redirect(self.url(ctx, "detail", finding.pk))
        return self.render_detail(request, ctx, finding, bound=(action, form))

    def render_detail(
        self,
        request: HttpRequest,
        ctx: AccessContext,
        finding: Finding,
        *,
        bound: tuple[str, forms.Form] | None = None,
        error: str = "",
    ) -> HttpResponse:
        offered = available_actions(ctx, finding)
        action_forms = {action: action_form(action) for action in offered}
        if bound is not None:
            action_forms[bound[0]] = bound[1]
        slug = ctx.tenant.slug

        def run_url(run_id: Any) -> str | None:
            if run_id is None:
                return None
            return reverse("audit-run-detail", kwargs={"tenant_slug": slug, "pk": run_id})

        return render(
            request,
            f"{TEMPLATES}/detail.html",
            {
                "pages": self,
                "title": self.title,
                "finding": finding,
                "rule": support.rule_of(finding.rule_id),
                "severity_badge": support.SEVERITY_BADGES.get(finding.severity, ""),
                "status_badge": support.STATUS_BADGES.get(finding.status, ""),
                "object_label": support.object_label(finding.object_type),
                "object_url": support.object_url(ctx, finding.object_type, finding.object_id),
                "evidence": support.evidence_items(finding.evidence),
                "first_run_url": run_url(finding.first_seen_run_id),
                "last_run_url": run_url(finding.last_seen_run_id),
                "resolved_run_url": run_url(finding.resolved_by_run_id),
                "forms": action_forms,
                "error": error,
                "list_url": self.url(ctx, "list"),
            },
            status=400 if bound is not None or error else 200,
        )


BUSINESS = SidePages(Side.BUSINESS, "business-finding", "findings", "Findings")
CLINICAL = SidePages(Side.CLINICAL, "clinical-finding", "clinical-findings", "Clinical findings")

urlpatterns: list[URLPattern] = [*BUSINESS.urls(), *CLINICAL.urls()]
