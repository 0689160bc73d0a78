"""MSO pages of physician-reviewed content: marketing assets (with their images) and consent-form drafts,
plus the marketing approval certificate (PDF).

Lists, create and edit pages come from the generic toolkit (tenants.pages). The detail pages are
custom because they carry the workflow: a POST with ``action`` = submit / publish / withdraw (or
remove, for an image) runs the service on the object fetched for *change*, so a capacity that may
only view gets 404 and a refusal on the merits (publishing unapproved content) is a 400 with the
reason on the page. Reads go through management.selectors.marketing, writes through
management.services.marketing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, cast

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_http_methods

from management.filters.marketing import ConsentFormDraftPageFilter, MarketingAssetPageFilter
from management.models import ConsentFormDraft, MarketingAsset, MarketingImage, PhysicianReviewed, ReviewState
from management.selectors import marketing as selectors
from management.services import marketing as services
from mso_platform.pdf import pdf_response, render_pdf
from tenants.access import AccessContext, may, restrict
from tenants.capacities import CHANGE
from tenants.middleware import error_page
from tenants.pages import Column, ObjectPages, ServiceForm, html5_widgets
from tenants.views import page_of, tenant_page

TEMPLATES = "management/marketing"
NO_CERTIFICATE = (
    "No certificate: this asset has no current physician approval. A certificate exists only while "
    "the approval applies to the content exactly as it stands."
)


class FixedOnEditForm(ServiceForm):
    """The PC (or the asset of an image) defines the record: shown, not editable, once it exists."""

    fixed_on_edit: ClassVar[Sequence[str]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # UUID primary keys are set at construction: only _state tells a saved row from a new one.
        if not self.instance._state.adding:
            for name in self.fixed_on_edit:
                self.fields[name].disabled = True


def form_for(model: type[models.Model], fields: Sequence[str], fixed: Sequence[str]) -> type[ServiceForm]:
    base = type(f"{model.__name__}FormBase", (FixedOnEditForm,), {"fixed_on_edit": tuple(fixed)})
    form = forms.modelform_factory(model, form=base, fields=list(fields), formfield_callback=html5_widgets)
    return cast(type[ServiceForm], form)


def may_change(ctx: AccessContext, obj: models.Model) -> bool:
    if not may(ctx, type(obj), CHANGE):
        return False
    return restrict(type(obj)._default_manager.filter(pk=obj.pk), ctx, CHANGE).exists()


def status_class(item: PhysicianReviewed) -> str:
    """The badge colour of an item's review status."""
    if item.state == ReviewState.PUBLISHED or item.is_approved:
        return "badge-ok"
    if item.decision_is_current:
        return "badge-danger" if item.decision == "rejected" else "badge-warn"
    return "badge-info" if item.state == ReviewState.SUBMITTED else "badge-muted"


def review_url(ctx: AccessContext, item: PhysicianReviewed) -> str | None:
    """The physician's review page, for the clinical capacities (who read decisions there)."""
    if ctx.capacity.side != "clinical":
        return None
    name = "marketing-asset-review" if isinstance(item, MarketingAsset) else "consent-form-draft-review"
    return reverse(name, kwargs={"tenant_slug": ctx.tenant.slug, "pk": item.pk})


def run_step(
    request: HttpRequest, ctx: AccessContext, steps: dict[str, Callable[[], Any]], done: dict[str, str]
) -> str | None:
    """Run the POSTed workflow step; None when it ran, else why it was refused."""
    step = request.POST.get("action", "")
    if step not in steps:
        return f"Unknown action {step[:40]!r}: choose one of {', '.join(steps)}."
    try:
        steps[step]()
    except ValidationError as exc:
        return " ".join(exc.messages)
    messages.success(request, done[step])
    return None


# --- Marketing assets ------------------------------------------------------------------------------------

ASSET_FIELDS = [
    "pc",
    "location",
    "title",
    "body",
    "channel",
    "brand_name",
    "is_testimonial",
    "testimonial_disclosure",
]

ASSET_PAGES = ObjectPages(
    model=MarketingAsset,
    name="marketing-asset",
    path="marketing-assets",
    title="Marketing assets",
    help_text=(
        "Ads the MSO drafts for a PC. A physician of the PC approves the exact content before it is "
        "published; any later edit, images included, sends it back for review."
    ),
    list_selector=selectors.marketing_asset_list,
    get_selector=selectors.marketing_asset_get,
    columns=[
        Column("Title", "title", link=True),
        Column("Channel", "channel"),
        Column("PC", "pc.legal_name"),
        Column("Status", "review_status"),
        Column("Revision", "revision"),
        Column("Updated", "updated_at"),
    ],
    fields=ASSET_FIELDS,
    form_class=form_for(MarketingAsset, ASSET_FIELDS, fixed=["pc"]),
    create_service=services.marketing_asset_create,
    update_service=services.marketing_asset_update,
    update_kwarg="asset",
    filterset_class=MarketingAssetPageFilter,
    list_template=f"{TEMPLATES}/asset_list.html",
)

ASSET_DONE = {
    "submit": "Submitted: the PC's physicians will review it.",
    "publish": "Published.",
    "withdraw": "Withdrawn.",
}


@tenant_page
@page_of(MarketingAsset)
@require_http_methods(["GET", "POST"])
def marketing_asset_detail(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
    """An asset with its images, status and the workflow steps the capacity may take."""
    refused = None
    if request.method == "POST":
        target = selectors.marketing_asset_get(ctx, pk, CHANGE)  # view-only capacities: 404
        steps: dict[str, Callable[[], Any]] = {
            "submit": lambda: services.marketing_asset_submit(ctx=ctx, asset=target),
            "publish": lambda: services.marketing_asset_publish(ctx=ctx, asset=target),
            "withdraw": lambda: services.marketing_asset_withdraw(ctx=ctx, asset=target),
        }
        refused = run_step(request, ctx, steps, ASSET_DONE)
        if refused is None:
            return redirect("marketing-asset-detail", tenant_slug=ctx.tenant.slug, pk=target.pk)
    asset = selectors.marketing_asset_with_images(ctx, pk)
    editable = may_change(ctx, asset)
    slug = ctx.tenant.slug
    context = {
        "object": asset,
        "images": list(asset.images.all()),
        "status_class": status_class(asset),
        "editable": editable,
        "can_submit": editable and asset.state in (ReviewState.DRAFT, ReviewState.WITHDRAWN),
        "can_publish": editable and asset.is_approved and asset.state != ReviewState.PUBLISHED,
        "can_withdraw": editable and asset.state in (ReviewState.SUBMITTED, ReviewState.PUBLISHED),
        "edit_url": ASSET_PAGES.url(ctx, "edit", asset) if editable else None,
        "add_image_url": (
            f"{IMAGE_PAGES.url(ctx, 'create')}?asset={asset.pk}"
            if editable and IMAGE_PAGES.can_create(ctx)
            else None
        ),
        "certificate_url": (
            reverse("marketing-certificate", kwargs={"tenant_slug": slug, "pk": asset.pk})
            if asset.is_approved
            else None
        ),
        "review_url": review_url(ctx, asset),
        "list_url": ASSET_PAGES.url(ctx, "list"),
        "refused": refused,
    }
    return render(request, f"{TEMPLATES}/asset_detail.html", context, status=400 if refused else 200)


@tenant_page
@page_of(MarketingAsset)
def marketing_certificate(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
    """The approval certificate (PDF) of an asset, only while the approval applies to its content."""
    asset = selectors.marketing_asset_with_images(ctx, pk)
    if not asset.is_approved:
        return error_page(request, 404, NO_CERTIFICATE)
    pdf = render_pdf(
        "pdf/approval_certificate.html",
        {"asset": asset, "images": list(asset.images.all()), "tenant": ctx.tenant},
        title="Marketing approval certificate",
    )
    return pdf_response(pdf, f"approval-certificate-{asset.title}.pdf")


# --- Marketing images ------------------------------------------------------------------------------------

IMAGE_FIELDS = ["asset", "description", "kind", "altered", "labelled_as_model", "procedures_shown", "client"]

IMAGE_PAGES = ObjectPages(
    model=MarketingImage,
    name="marketing-image",
    path="marketing-images",
    title="Marketing images",
    help_text=(
        "Images an asset uses, with the flags the advertising rules read. Each change is an edit of "
        "the asset."
    ),
    list_selector=selectors.marketing_image_list,
    get_selector=selectors.marketing_image_get,
    columns=[
        Column("Description", "description", link=True),
        Column("Asset", "asset.title"),
        Column("Kind", "kind"),
        Column("Altered", "altered"),
        Column("Labelled as model", "labelled_as_model"),
        Column("Procedures shown", "procedures_shown"),
    ],
    fields=IMAGE_FIELDS,
    form_class=form_for(MarketingImage, IMAGE_FIELDS, fixed=["asset"]),
    create_service=services.marketing_image_add,
    update_service=services.marketing_image_update,
    update_kwarg="image",
)


@tenant_page
@page_of(MarketingImage)
@require_http_methods(["GET", "POST"])
def marketing_image_detail(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponseBase:
    """An image; POST action=remove takes it off its asset (which then needs a new approval)."""
    if request.method == "POST":
        image = selectors.marketing_image_get(ctx, pk, CHANGE)
        if request.POST.get("action") != "remove":
            return error_page(request, 400, "Unknown action: the only one here is remove.")
        asset = services.marketing_image_remove(ctx=ctx, image=image)
        messages.success(request, "Image removed: the asset needs a new approval before it is published.")
        return redirect("marketing-asset-detail", tenant_slug=ctx.tenant.slug, pk=asset.pk)
    image = selectors.marketing_image_detail(ctx, pk)
    editable = may_change(ctx, image)
    context = {
        "object": image,
        "fields": IMAGE_PAGES.cells(image, IMAGE_PAGES.columns, labels=True),
        "editable": editable,
        "edit_url": IMAGE_PAGES.url(ctx, "edit", image) if editable else None,
        "asset_url": reverse(
            "marketing-asset-detail", kwargs={"tenant_slug": ctx.tenant.slug, "pk": image.asset_id}
        ),
        "list_url": IMAGE_PAGES.url(ctx, "list"),
        "title": IMAGE_PAGES.title,
    }
    return render(request, f"{TEMPLATES}/image_detail.html", context)


# --- Consent-form drafts -----------------------------------------------------------------------------------

CONSENT_FIELDS = ["pc", "procedure", "title", "body"]

CONSENT_PAGES = ObjectPages(
    model=ConsentFormDraft,
    name="consent-form-draft",
    path="consent-form-drafts",
    title="Consent-form drafts",
    help_text=(
        "Consent-form texts the MSO drafts for a PC and procedure. A physician's approval makes the "
        "draft the next numbered version patients sign."
    ),
    list_selector=selectors.consent_form_draft_list,
    get_selector=selectors.consent_form_draft_get,
    columns=[
        Column("Title", "title", link=True),
        Column("Procedure", "procedure"),
        Column("PC", "pc.legal_name"),
        Column("Status", "review_status"),
        Column("Revision", "revision"),
        Column("Updated", "updated_at"),
    ],
    fields=CONSENT_FIELDS,
    form_class=form_for(ConsentFormDraft, CONSENT_FIELDS, fixed=["pc"]),
    create_service=services.consent_form_draft_create,
    update_service=services.consent_form_draft_update,
    update_kwarg="draft",
    filterset_class=ConsentFormDraftPageFilter,
    list_template=f"{TEMPLATES}/consent_list.html",
)

CONSENT_DONE = {
    "submit": "Submitted: the PC's physicians will review it.",
    "withdraw": "Withdrawn.",
}


@tenant_page
@page_of(ConsentFormDraft)
@require_http_methods(["GET", "POST"])
def consent_form_draft_detail(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
    """A consent-form draft with its status and the submit / withdraw steps."""
    refused = None
    if request.method == "POST":
        target = selectors.consent_form_draft_get(ctx, pk, CHANGE)
        steps: dict[str, Callable[[], Any]] = {
            "submit": lambda: services.consent_form_draft_submit(ctx=ctx, draft=target),
            "withdraw": lambda: services.consent_form_draft_withdraw(ctx=ctx, draft=target),
        }
        refused = run_step(request, ctx, steps, CONSENT_DONE)
        if refused is None:
            return redirect("consent-form-draft-detail", tenant_slug=ctx.tenant.slug, pk=target.pk)
    draft = selectors.consent_form_draft_detail(ctx, pk)
    editable = may_change(ctx, draft)
    context = {
        "object": draft,
        "status_class": status_class(draft),
        "editable": editable,
        "can_submit": editable and draft.state in (ReviewState.DRAFT, ReviewState.WITHDRAWN),
        "can_withdraw": editable and draft.state in (ReviewState.SUBMITTED, ReviewState.PUBLISHED),
        "edit_url": CONSENT_PAGES.url(ctx, "edit", draft) if editable else None,
        "review_url": review_url(ctx, draft),
        "list_url": CONSENT_PAGES.url(ctx, "list"),
        "refused": refused,
    }
    return render(request, f"{TEMPLATES}/consent_detail.html", context, status=400 if refused else 200)


def _pages(pages: ObjectPages, detail: Callable[..., HttpResponseBase]) -> list[URLPattern]:
    """The toolkit's list / create / edit pages with this module's own detail page."""
    return [
        path(f"{pages.path}/", pages.list_view(), name=f"{pages.name}-list"),
        path(f"{pages.path}/new/", pages.create_view(), name=f"{pages.name}-create"),
        path(f"{pages.path}/<str:pk>/", detail, name=f"{pages.name}-detail"),
        path(f"{pages.path}/<str:pk>/edit/", pages.edit_view(), name=f"{pages.name}-edit"),
    ]


urlpatterns: list[URLPattern] = [
    *_pages(ASSET_PAGES, marketing_asset_detail),
    path("marketing-assets/<str:pk>/certificate/", marketing_certificate, name="marketing-certificate"),
    *_pages(IMAGE_PAGES, marketing_image_detail),
    *_pages(CONSENT_PAGES, consent_form_draft_detail),
]
