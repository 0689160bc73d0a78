"""Compliance pages of the reports side: the dashboard, the PDF audit report, the readiness checklist.

Charts are SVG drawn on the server with presentation attributes only (the strict CSP allows no
script and no style attribute; nothing comes from a CDN), like the location dashboard's
(management.views.dashboard, whose bar chart this module reuses). Every figure comes from
compliance.reports / compliance.readiness, which aggregate in SQL through the one permission path.

``urlpatterns`` is included by compliance/urls.py (mounted under /t/<slug>/).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from compliance import readiness as readiness_reads
from compliance import reports as reads
from compliance.attestations import ATTESTERS, NOTE_MAX, QUESTION_CHOICES, Attestation, attestation_record
from compliance.models import AuditRun, BusinessFinding
from management.models import ProfessionalCorporation
from management.views.dashboard import BarChart, Series, stacked_bars
from mso_platform.pdf import pdf_response, render_pdf
from tenants.access import AccessContext, get_for_action
from tenants.audit import record
from tenants.views import NOT_FOUND, page_of, tenant_page

# Geometry of the score chart's viewBox (the SVG scales to its container).
WIDTH, HEIGHT = 520, 260
LEFT, RIGHT, TOP, BOTTOM = 40, 10, 12, 40
SCORE_STEPS = (0, 25, 50, 75, 100)
PALETTE = ("#2b5c8a", "#2f7d5b", "#b54708", "#7a5af8", "#c11574", "#0e9384", "#6b9ac4", "#d92d20")
TENANT_COLOUR = "#1f2933"
MAX_LINES = 8  # PCs drawn in a score chart (the lowest current scores); the tables list every one
SIDE_COLOURS = {"Business": "#2b5c8a", "Clinical": "#2f7d5b"}
REPORT_TEMPLATE = "pdf/audit_report.html"
# Printed after a bold "This is not legal advice." on every report.
NOTICE = (
    "The report lists what the platform's rules found in the records on "
    "the dates shown; the citations are kept as data for counsel to verify. Have healthcare counsel "
    "review any conclusion before you act on it."
)


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    value: str
    title: str


@dataclass(frozen=True)
class Line:
    name: str
    stroke: str
    segments: list[str]  # polylines' "x,y x,y …": a missing point (no audit of that side) breaks the line
    dots: list[Dot]
    dashed: bool
    values: list[int | None]


@dataclass(frozen=True)
class Tick:
    x: float
    label: str
    sub: str


@dataclass(frozen=True)
class GridLine:
    y: float
    label: str


@dataclass(frozen=True)
class LineChart:
    caption: str
    categories: list[str]
    lines: list[Line]
    ticks: list[Tick]
    gridlines: list[GridLine]
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def left(self) -> int:
        return LEFT

    @property
    def right(self) -> int:
        return WIDTH - RIGHT

    @property
    def baseline(self) -> int:
        return HEIGHT - BOTTOM

    @property
    def is_empty(self) -> bool:
        return not self.categories

    @property
    def table(self) -> list[tuple[str, list[str]]]:
        """(audit, score per line) rows for the data table."""
        return [
            (category, ["—" if line.values[i] is None else str(line.values[i]) for line in self.lines])
            for i, category in enumerate(self.categories)
        ]


def score_chart(
    caption: str, runs: list[AuditRun], series: list[tuple[str, list[int | None], bool]]
) -> LineChart:
    """One line per (name, score per audit, dashed); y is the score 0-100, x the audits in order."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = HEIGHT - BOTTOM
    slot = plot_width / max(len(runs), 1)
    xs = [round(LEFT + i * slot + slot / 2, 2) for i in range(len(runs))]
    categories, ticks = [], []
    for x, run in zip(xs, runs, strict=True):
        moment = timezone.localtime(run.finished_at) if run.finished_at else None
        label = f"{moment:%b} {moment.day}" if moment else str(run.as_of)
        sub = f"{moment:%H:%M}" if moment else ""
        categories.append(f"{label} {sub}".strip())
        ticks.append(Tick(x, label, sub))
    lines: list[Line] = []
    colours = iter(PALETTE)
    for name, values, dashed in series:
        stroke = TENANT_COLOUR if dashed else next(colours, PALETTE[-1])
        dots: list[Dot] = []
        segments: list[str] = []
        current: list[str] = []
        for x, value, category in zip(xs, values, categories, strict=True):
            if value is None:
                if current:
                    segments.append(" ".join(current))
                current = []
                continue
            y = round(baseline - value / 100 * plot_height, 2)
            current.append(f"{x},{y}")
            dots.append(Dot(x, y, str(value), f"{name}, {category}: {value}"))
        if current:
            segments.append(" ".join(current))
        lines.append(Line(name, stroke, segments, dots, dashed, list(values)))
    gridlines = [GridLine(round(baseline - step / 100 * plot_height, 2), str(step)) for step in SCORE_STEPS]
    return LineChart(caption, categories, lines, ticks, gridlines)


def _pc_lines(subjects: list[reads.Subject], clinical: bool) -> list[tuple[str, list[int | None], bool]]:
    def current(s: reads.Subject) -> int:
        tally = s.clinical if clinical else s.business
        return tally.score if tally is not None else 100

    chosen = sorted(subjects, key=lambda s: (current(s), s.name))[:MAX_LINES]
    out: list[tuple[str, list[int | None], bool]] = []
    for s in sorted(chosen, key=lambda s: s.name):
        history = s.clinical_history if clinical else s.business_history
        if history is not None:
            out.append((s.name, history, False))
    return out


def severity_chart(board: reads.Dashboard) -> BarChart:
    """Unresolved findings by severity, business and clinical stacked (management's bar chart)."""
    clinical = board.clinical_total if board.clinical_visible else board.clinical_recorded
    series = [
        Series(
            "Business",
            SIDE_COLOURS["Business"],
            [board.business_total.by_severity[s] for s in reads.SEVERITIES],
        )
    ]
    if clinical is not None:
        series.append(
            Series("Clinical", SIDE_COLOURS["Clinical"], [clinical.by_severity[s] for s in reads.SEVERITIES])
        )
    return stacked_bars(
        "Unresolved findings by severity", [s.title() for s in reads.SEVERITIES], series, money=False
    )


# --- the dashboard -------------------------------------------------------------------------------


@tenant_page
@page_of(BusinessFinding)
def compliance_dashboard(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
    """Every capacity sees the scores and counts of what it may see; business capacities get the
    clinical side only as the counts the latest full audit recorded."""
    board = reads.dashboard(ctx)
    business_lines = _pc_lines(board.pcs, clinical=False)
    clinical_lines = _pc_lines(board.pcs, clinical=True) if board.clinical_visible else []
    if board.tenant is not None:
        business_lines.insert(0, (f"{board.tenant.name} (tenant)", board.tenant.business_history, True))
        if board.tenant.clinical_history is not None:
            clinical_lines.insert(0, (f"{board.tenant.name} (tenant)", board.tenant.clinical_history, True))
    context: dict[str, Any] = {
        "board": board,
        "weights": reads.WEIGHTS,
        "history_runs": reads.HISTORY_RUNS,
        "severities": reads.SEVERITIES,
        "business_chart": score_chart("Business score at each full audit", board.runs, business_lines),
        "clinical_chart": score_chart("Clinical score at each full audit", board.runs, clinical_lines)
        if clinical_lines
        else None,
        "severity_chart": severity_chart(board),
        "max_lines": MAX_LINES,
    }
    return render(request, "compliance/dashboard/index.html", context)


# --- the PDF audit report ------------------------------------------------------------------------


def report_context(ctx: AccessContext, pc: ProfessionalCorporation | None) -> tuple[dict[str, Any], str]:
    """The audit report's template context and title (the tests render the same document)."""
    report = reads.report(ctx, pc)
    subject = pc.legal_name if pc is not None else ctx.tenant.name
    context = {
        "tenant": ctx.tenant,
        "report": report,
        # The readiness checklist belongs to the tenant: it goes in the tenant's binder, not a PC's.
        "checklist": readiness_reads.readiness(ctx) if pc is None else None,
        "notice": NOTICE,
        "capacity": ctx.capacity,
        "weights": reads.WEIGHTS,
        "severities": reads.SEVERITIES,
    }
    return context, f"Compliance audit report: {subject}"


def _report_response(ctx: AccessContext, pc: ProfessionalCorporation | None) -> HttpResponse:
    context, title = report_context(ctx, pc)
    now = timezone.now()
    pdf = render_pdf(REPORT_TEMPLATE, context, title=title, generated_at=now)
    # An export of compliance data (clinical details included for a clinical capacity) is on record.
    record(
        ctx,
        "export",
        object_type="compliance.audit_report",
        object_id=str(pc.pk) if pc is not None else "",
        detail={"clinical_details": context["report"].clinical is not None},
    )
    subject = pc.legal_name if pc is not None else ctx.tenant.slug
    return pdf_response(pdf, f"compliance-report-{subject}-{timezone.localdate(now):%Y-%m-%d}")


@tenant_page
@page_of(BusinessFinding)
def tenant_report(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
    """The report of everything ctx may see in the tenant (the whole tenant for tenant-wide
    capacities, their PCs for the others)."""
    return _report_response(ctx, None)


@tenant_page
@page_of(ProfessionalCorporation)
def pc_report(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
    """The report of one PC ctx may view (404 for any other id)."""
    return _report_response(ctx, get_for_action(ProfessionalCorporation, ctx, pk))


# --- the readiness checklist ---------------------------------------------------------------------


class AttestationForm(forms.Form):
    question = forms.ChoiceField(choices=QUESTION_CHOICES)
    answer = forms.ChoiceField(choices=[("yes", "Yes"), ("no", "No")], widget=forms.RadioSelect)
    note = forms.CharField(
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the answer rests on: a document, a meeting, a person.",
    )


def may_attest(ctx: AccessContext) -> bool:
    return ctx.capacity.code in ATTESTERS


@tenant_page
@page_of(Attestation)
@require_http_methods(["GET", "POST"])
def readiness_page(request: HttpRequest, ctx: AccessContext) -> HttpResponseBase:
    """The checklist; an MSO administrator or compliance officer records an attestation here (POST).
    Anyone else posting gets a 404, like any action their capacity may not take."""
    form = None
    status = 200
    if request.method == "POST":
        if not may_attest(ctx):
            raise Http404(NOT_FOUND)
        form = AttestationForm(request.POST)
        if form.is_valid():
            try:
                attestation = attestation_record(ctx=ctx, **form.cleaned_data)
            except PermissionDenied:
                raise Http404(NOT_FOUND) from None
            except ValidationError as exc:
                for name, errors in exc.message_dict.items():
                    form.add_error(name if name in form.fields else None, errors)
            else:
                messages.success(request, f"Recorded: {attestation.get_question_display()}")
                return redirect("compliance-readiness", tenant_slug=ctx.tenant.slug)
        status = 400  # the request transaction rolls back whatever was begun
    elif may_attest(ctx):
        form = AttestationForm(initial={"question": request.GET.get("question", "")})
    checklist = readiness_reads.readiness(ctx)
    context = {"checklist": checklist, "form": form, "may_attest": may_attest(ctx)}
    return render(request, "compliance/readiness/index.html", context, status=status)


urlpatterns: list[URLPattern] = [
    path("compliance/dashboard/", compliance_dashboard, name="compliance-dashboard"),
    path("compliance/report.pdf", tenant_report, name="compliance-report"),
    path("compliance/pcs/<str:pk>/report.pdf", pc_report, name="compliance-pc-report"),
    path("compliance/readiness/", readiness_page, name="compliance-readiness"),
]
