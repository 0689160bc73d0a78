"""Audit-run pages: past runs, "Run audit now", and one run with a live progress bar.

A run is requested through ``services.audit_request``: the run row is created queued in the request's
transaction and its task is queued when that transaction commits (a refused request queues nothing).
Each request form carries a key of its own, so a double click finds the run the first click queued.

The run page shows a ``<progress>`` bar inside a fragment that htmx re-fetches every second
(``hx-get`` + ``hx-trigger="every 1s"``, no script of our own: the CSP allows none inline) while the
run is queued or running; the engine commits the counters after every rule, so the bar moves. A
finished run's fragment carries no trigger, so the polling stops with it.

Every capacity may read the runs (they hold counts, never a finding's content); the business writers
request them (``AuditRun`` is business data): an object-scoped capacity audits its own PCs only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_http_methods

from compliance import selectors, services
from compliance.models import AuditRun
from compliance.registry import Rule
from compliance.views import _support as support
from management.models import ProfessionalCorporation
from tenants.access import AccessContext, may, restrict
from tenants.capacities import ADD
from tenants.pages import add_service_errors
from tenants.views import page_of, paginate, tenant_page

TEMPLATES = "compliance/runs"
NOT_FOUND = "No such page in your current capacity."
LIVE = (AuditRun.Status.QUEUED, AuditRun.Status.RUNNING)
READS = ("GET", "HEAD")


class RunRequestForm(forms.Form):
    """Which PCs to audit (none ticked: every PC, for a tenant-wide capacity) and the request's key."""

    pcs = forms.MultipleChoiceField(
        required=False,
        label="PCs to audit",
        help_text="Leave all unticked to audit every PC of the organization (tenant-wide capacities).",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "Not one of the PCs you may audit."},
    )
    request_key = forms.CharField(required=False, max_length=100, widget=forms.HiddenInput)

    def __init__(self, *args: Any, ctx: AccessContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx = ctx
        pcs = restrict(ProfessionalCorporation.objects.order_by("legal_name"), ctx)
        field = self.fields["pcs"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(str(pk), name) for pk, name in pcs.values_list("pk", "legal_name")]
        if not self.is_bound:
            self.initial["request_key"] = uuid.uuid4().hex  # the same form sent twice: one run

    def chosen_pcs(self) -> list[ProfessionalCorporation] | None:
        ids = self.cleaned_data["pcs"]
        if not ids:
            return None
        return list(restrict(ProfessionalCorporation.objects.filter(pk__in=ids), self.ctx))


def may_request(ctx: AccessContext) -> bool:
    return may(ctx, AuditRun, ADD)


def run_url(ctx: AccessContext, run: AuditRun | Any, kind: str = "detail") -> str:
    pk = getattr(run, "pk", run)
    return reverse(f"audit-run-{kind}", kwargs={"tenant_slug": ctx.tenant.slug, "pk": pk})


# --- list and request ----------------------------------------------------------------------------------


@tenant_page
@page_of(AuditRun)
@require_http_methods(["GET", "HEAD"])
def audit_run_list(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
    page = paginate(request, selectors.run_list(ctx).select_related("requested_by"))
    rows = [(run, run_url(ctx, run), support.tally_rows(run.counts.get("business"))) for run in page]
    button = None
    if may_request(ctx):
        # One click audits what the capacity may audit: the tenant, or (object-scoped) its own PCs.
        form = RunRequestForm(ctx=ctx)
        pcs: list[str] = []
        if not ctx.capacity.tenant_wide:
            pcs = [value for value, _ in form.fields["pcs"].choices]  # type: ignore[attr-defined]
        button = {"key": form.initial["request_key"], "pcs": pcs}
    return render(
        request,
        f"{TEMPLATES}/list.html",
        {
            "title": "Audit runs",
            "page": page,
            "rows": rows,
            "button": button,
            "create_url": reverse("audit-run-create", kwargs={"tenant_slug": ctx.tenant.slug}),
        },
    )


@tenant_page
@page_of(AuditRun)
@require_http_methods(["GET", "HEAD", "POST"])
def audit_run_create(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
    """Choose the PCs and run; POST queues the run (on commit) and goes to its page."""
    if not may_request(ctx):
        raise Http404(NOT_FOUND)
    form = RunRequestForm(request.POST if request.method == "POST" else None, ctx=ctx)
    if request.method == "POST" and form.is_valid():
        try:
            run = services.audit_request(
                ctx=ctx, pcs=form.chosen_pcs(), idempotency_key=form.cleaned_data["request_key"]
            )
        except PermissionDenied:
            raise Http404(NOT_FOUND) from None
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Audit queued: {run.rules_total} rules. This page follows it.")
            return redirect(run_url(ctx, run))
    return render(
        request,
        f"{TEMPLATES}/create.html",
        {
            "title": "Run an audit",
            "form": form,
            "list_url": reverse("audit-run-list", kwargs={"tenant_slug": ctx.tenant.slug}),
        },
        status=400 if request.method == "POST" else 200,
    )


# --- one run and its progress --------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleProgress:
    """One rule of a run: waiting, done (with what it saw), skipped or failed."""

    rule_id: str
    rule: Rule | None
    done: bool
    stats: dict[str, Any]

    @property
    def state(self) -> str:
        if "error" in self.stats:
            return "failed"
        if "skipped" in self.stats:
            return "skipped"
        return "done" if self.done else "waiting"


def progress_context(ctx: AccessContext, run: AuditRun) -> dict[str, Any]:
    """What the progress fragment shows: committed after every rule of the run, so it moves."""
    counts = run.counts or {}
    return {
        "run": run,
        "live": run.status in LIVE,
        "percent": run.percent,
        "progress_url": run_url(ctx, run, "progress"),
        "business_tally": support.tally_rows(counts.get("business")),
        "clinical_tally": support.tally_rows(counts.get("clinical")),
        "has_counts": bool(counts),
        "severities": support.SEVERITIES,
    }


@tenant_page
@page_of(AuditRun)
def audit_run_detail(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponseBase:
    run = selectors.run_get(ctx, pk)  # first: another tenant's id is a 404 whatever the method
    if request.method not in READS:
        return HttpResponseNotAllowed(READS)
    done = set(run.done_rule_ids)
    rules = [
        RuleProgress(rule_id, support.rule_of(rule_id), rule_id in done, dict(run.stats.get(rule_id) or {}))
        for rule_id in run.rule_ids
    ]
    pcs = list(restrict(ProfessionalCorporation.objects.filter(pk__in=run.pc_ids or []), ctx))
    return render(
        request,
        f"{TEMPLATES}/detail.html",
        {
            **progress_context(ctx, run),
            "title": "Audit runs",
            "rules": rules,
            "pcs": pcs,
            "list_url": reverse("audit-run-list", kwargs={"tenant_slug": ctx.tenant.slug}),
            "findings_url": reverse("business-finding-list", kwargs={"tenant_slug": ctx.tenant.slug}),
        },
    )


@tenant_page
@page_of(AuditRun)
def audit_run_progress(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponseBase:
    """The fragment the run page polls (also a page of its own without the shell)."""
    run = selectors.run_get(ctx, pk)  # first: another tenant's id is a 404 whatever the method
    if request.method not in READS:
        return HttpResponseNotAllowed(READS)
    response = render(request, f"{TEMPLATES}/_progress.html", progress_context(ctx, run))
    response["Cache-Control"] = "no-store"  # polled: every answer must be fresh
    return response


urlpatterns: list[URLPattern] = [
    path("compliance/audit-runs/", audit_run_list, name="audit-run-list"),
    path("compliance/audit-runs/new/", audit_run_create, name="audit-run-create"),
    path("compliance/audit-runs/<str:pk>/", audit_run_detail, name="audit-run-detail"),
    path("compliance/audit-runs/<str:pk>/progress/", audit_run_progress, name="audit-run-progress"),
]
