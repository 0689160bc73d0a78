"""Physician pages: the approval queue, the review of one item (side-by-side diff since the last
decision, and approve / request changes / reject with a note), decisions and consent-form versions.

The queue and the decision pages are clinical (``page_of(PhysicianDecision)``): business capacities get
404 before any query. The review pages show an MSO item, so every capacity that may view the item
gets the page, but only clinical capacities read the decision history (a clinical table), and only a
PC physician with ``approve_marketing`` on the item's PC sees the decision form; anyone else's POST
is a 404, and a refusal on the merits (own submission, already decided) a 400 with the reason.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_http_methods

from clinical.models import ConsentFormVersion, PhysicianDecision
from clinical.selectors import decisions as selectors
from clinical.services.decisions import DECISION_CHOICES, decide
from management.models import ConsentFormDraft, Decision, MarketingAsset, PhysicianReviewed
from management.selectors import marketing as business
from tenants.access import AccessContext
from tenants.capacities import Side
from tenants.pages import Column, ObjectPages
from tenants.views import page_of, tenant_page

TEMPLATES = "clinical/decisions"


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=DECISION_CHOICES)
    note = forms.CharField(
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Required when you request changes or reject: say what must change, or why.",
    )


@tenant_page
@page_of(PhysicianDecision)
def approval_queue(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
    """Submitted items of the PCs this physician may approve whose current content awaits a decision."""
    queue = selectors.approval_queue(ctx)
    slug = ctx.tenant.slug
    rows = [
        (
            item,
            kind,
            reverse(name, kwargs={"tenant_slug": slug, "pk": item.pk}),
            selectors.is_own_submission(ctx, item),
        )
        for items, kind, name in (
            (queue.assets, "Marketing asset", "marketing-asset-review"),
            (queue.consent_drafts, "Consent form", "consent-form-draft-review"),
        )
        for item in items
    ]
    rows.sort(key=lambda row: row[0].submitted_at or row[0].updated_at)
    return render(
        request,
        f"{TEMPLATES}/queue.html",
        {"rows": rows, "may_approve": selectors.approvable_pcs(ctx).exists()},
    )


def review(request: HttpRequest, ctx: AccessContext, item: PhysicianReviewed, back_url: str) -> HttpResponse:
    """The review page of one item; POST records the physician's decision on its current content."""
    may_decide = selectors.may_decide_on(ctx, item)
    own = selectors.is_own_submission(ctx, item)
    form = DecisionForm()
    status = 200
    if request.method == "POST":
        if not may_decide:
            raise Http404("No such page in your current capacity.")
        form = DecisionForm(request.POST)
        if form.is_valid():
            try:
                decide(
                    ctx=ctx, item=item, decision=form.cleaned_data["decision"], note=form.cleaned_data["note"]
                )
            except PermissionDenied:
                raise Http404("No such page in your current capacity.") from None
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                label = Decision(form.cleaned_data["decision"]).label
                messages.success(request, f"{label}: “{item}”, revision {item.revision}.")
                return redirect("approval-queue", tenant_slug=ctx.tenant.slug)
        status = 400
    clinical = ctx.capacity.side == Side.CLINICAL
    history = list(selectors.decisions_on(ctx, item).select_related("decided_by")[:20]) if clinical else []
    last = history[0] if history else None
    current = selectors.content_snapshot(item)
    context: dict[str, Any] = {
        "item": item,
        "kind": "marketing asset" if isinstance(item, MarketingAsset) else "consent form",
        "diff": selectors.content_diff(last.snapshot if last else None, current),
        "last": last,
        "history": history,
        "clinical": clinical,
        "form": form,
        "may_decide": may_decide,
        "own": own,
        "can_decide": may_decide and item.awaiting_decision and not own,
        "back_url": back_url,
    }
    return render(request, f"{TEMPLATES}/review.html", context, status=status)


@tenant_page
@page_of(MarketingAsset)
@require_http_methods(["GET", "POST"])
def marketing_asset_review(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
    asset = business.marketing_asset_with_images(ctx, pk)
    slug = ctx.tenant.slug
    back = (
        reverse("approval-queue", kwargs={"tenant_slug": slug})
        if ctx.capacity.side == Side.CLINICAL
        else reverse("marketing-asset-detail", kwargs={"tenant_slug": slug, "pk": asset.pk})
    )
    return review(request, ctx, asset, back)


@tenant_page
@page_of(ConsentFormDraft)
@require_http_methods(["GET", "POST"])
def consent_form_draft_review(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
    draft = business.consent_form_draft_detail(ctx, pk)
    slug = ctx.tenant.slug
    back = (
        reverse("approval-queue", kwargs={"tenant_slug": slug})
        if ctx.capacity.side == Side.CLINICAL
        else reverse("consent-form-draft-detail", kwargs={"tenant_slug": slug, "pk": draft.pk})
    )
    return review(request, ctx, draft, back)


# --- decisions and consent-form versions (toolkit list and detail pages) ------------------------------


def decision_context(ctx: AccessContext, decision: PhysicianDecision) -> dict[str, Any]:
    item: PhysicianReviewed | None = decision.marketing_asset or decision.consent_form_draft
    slug = ctx.tenant.slug
    certificate = None
    asset = decision.marketing_asset
    if asset is not None and asset.is_approved and asset.decision_hash == decision.content_hash:
        certificate = reverse("marketing-certificate", kwargs={"tenant_slug": slug, "pk": asset.pk})
    review_name = "marketing-asset-review" if decision.marketing_asset_id else "consent-form-draft-review"
    return {
        "snapshot_fields": selectors.snapshot_fields(decision.snapshot),
        "item": item,
        "item_url": reverse(review_name, kwargs={"tenant_slug": slug, "pk": item.pk}) if item else None,
        "still_current": item is not None and item.content_hash == decision.content_hash,
        "certificate_url": certificate,
    }


DECISION_PAGES = ObjectPages(
    model=PhysicianDecision,
    name="physician-decision",
    path="physician-decisions",
    title="Physician decisions",
    help_text="Every decision on MSO-drafted content, with the exact content it was taken on.",
    list_selector=selectors.physician_decision_list,
    get_selector=selectors.physician_decision_get,
    columns=[
        Column("Decided", "decided_at", link=True),
        Column("Decision", "decision"),
        Column("Marketing asset", "marketing_asset.title"),
        Column("Consent form", "consent_form_draft.title"),
        Column("Revision", "revision"),
        Column("PC", "pc.legal_name"),
        Column("Physician", "decided_by.full_name"),
    ],
    detail_fields=[
        Column("Decision", "decision"),
        Column("Decided at", "decided_at"),
        Column("Physician", "decided_by.full_name"),
        Column("PC", "pc.legal_name"),
        Column("Revision decided on", "revision"),
        Column("Content hash", "content_hash"),
        Column("Note", "note"),
    ],
    detail_template=f"{TEMPLATES}/decision_detail.html",
    detail_context=decision_context,
)


def version_context(ctx: AccessContext, version: ConsentFormVersion) -> dict[str, Any]:
    return {"decision_url": DECISION_PAGES.url(ctx, "detail", version.decision)}


VERSION_PAGES = ObjectPages(
    model=ConsentFormVersion,
    name="consent-form-version",
    path="consent-form-versions",
    title="Consent-form versions",
    help_text="Approved consent forms, numbered per PC and procedure. Patients sign the current version.",
    list_selector=selectors.consent_form_version_list,
    get_selector=selectors.consent_form_version_get,
    columns=[
        Column("Title", "title", link=True),
        Column("Procedure", "procedure"),
        Column("Version", "number"),
        Column("PC", "pc.legal_name"),
        Column("Approved", "approved_at"),
        Column("Approved by", "approved_by.full_name"),
        Column("Current", "is_current"),
    ],
    detail_fields=[
        Column("Procedure", "procedure"),
        Column("Version", "number"),
        Column("PC", "pc.legal_name"),
        Column("Approved at", "approved_at"),
        Column("Approved by", "approved_by.full_name"),
        Column("Superseded at", "superseded_at"),
        Column("Content hash", "content_hash"),
    ],
    detail_template=f"{TEMPLATES}/version_detail.html",
    detail_context=version_context,
)


urlpatterns: list[URLPattern] = [
    path("approvals/", approval_queue, name="approval-queue"),
    path("approvals/marketing-assets/<str:pk>/", marketing_asset_review, name="marketing-asset-review"),
    path(
        "approvals/consent-form-drafts/<str:pk>/", consent_form_draft_review, name="consent-form-draft-review"
    ),
    *DECISION_PAGES.urls(),
    *VERSION_PAGES.urls(),
]
