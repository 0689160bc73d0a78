"""Writes of physician-reviewed content the MSO drafts: marketing assets (with images) and consent forms.

The approval binds to content (DESIGN.md "Approvals bind to content"). PostgreSQL recomputes each
row's ``content_hash`` on every write and refuses ``state = published`` unless the row's decision
approves that very hash; these services add the workflow around it and say why in a 400:

- a content edit bumps ``revision``; an item that was submitted or published goes back to the
  physician's queue (state submitted, the editor as submitter) and a published one is unpublished;
  the old decision stays on the row but no longer applies, because the hash changed;
- images are part of an asset's content through ``images_digest``, so adding, editing or removing
  an image is a content edit of the asset;
- ``submit``, ``publish`` and ``withdraw`` are idempotent: submitting a submitted item, publishing
  a published one or withdrawing a withdrawn one changes nothing and is not an error.

The decision columns are never written here: only the clinical role may (clinical.services.decisions).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar, cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from management.models import (
    ConsentFormDraft,
    Location,
    MarketingAsset,
    MarketingImage,
    PhysicianReviewed,
    ProfessionalCorporation,
    ReviewState,
)
from management.models.frontdesk import Client
from management.procedures import Procedure
from tenants.access import AccessContext, restrict
from tenants.capacities import ADD, CHANGE, DELETE
from tenants.models import User
from tenants.writes import apply_changes, require_in_scope, require_may, save_validated

R = TypeVar("R", bound=PhysicianReviewed)

# Sentinel for "leave as it is" where None is a meaningful value (an asset with no location).
UNSET: Any = object()

NOT_APPROVED = (
    "Only content a physician of the PC has approved exactly as it stands may be published: "
    "this item has no current approval (never approved, or changed since)."
)


def _author(ctx: AccessContext) -> User:
    user = ctx.user
    if user is None:  # system tasks draft nothing: every item has a person who wrote it
        raise PermissionDenied("No such object.")
    return user


def _text(value: str, field: str, *, required: bool = True) -> str:
    cleaned = value.strip()
    if required and not cleaned:
        raise ValidationError({field: "This field may not be blank."})
    return cleaned


def _changed_text(value: str | None, field: str, *, required: bool = True) -> str | None:
    """For updates: None leaves the field as it is."""
    return None if value is None else _text(value, field, required=required)


def _refresh_hash(item: PhysicianReviewed) -> None:
    """The database computed the hash of what was just written; read it back (one query)."""
    item.content_hash = type(item).objects.values_list("content_hash", flat=True).get(pk=item.pk)


def _content_edited(ctx: AccessContext, item: PhysicianReviewed, changed: list[str]) -> None:
    """Save a content edit: new revision; back to the physician's queue if it was under review or live.

    The previous decision stays on the row as history but no longer applies: the hash it names is
    not the row's hash any more (``decision_is_current`` turns false once the trigger recomputes it).
    """
    fields = [*changed, "revision", "updated_at"]
    item.revision += 1
    if item.state in (ReviewState.SUBMITTED, ReviewState.PUBLISHED):
        if item.state == ReviewState.PUBLISHED and isinstance(item, MarketingAsset):
            item.published_at = None
            item.published_by = None
            fields += ["published_at", "published_by"]
        # The editor resubmits: whoever changed the content may not be the one who approves it.
        item.state = ReviewState.SUBMITTED
        item.submitted_by = _author(ctx)
        item.submitted_at = timezone.now()
        fields += ["state", "submitted_by", "submitted_at"]
    save_validated(item, update_fields=sorted(set(fields)))
    _refresh_hash(item)


def _locked(item: R) -> R:
    """The row as the database has it now, locked until commit (no step runs on a stale state)."""
    return cast(R, type(item)._default_manager.select_for_update().get(pk=item.pk))


def _submit(ctx: AccessContext, item: R) -> R:
    item = _locked(item)
    if item.state == ReviewState.SUBMITTED:
        return item  # already in the queue (or decided on as it stands): nothing to do
    if item.state == ReviewState.PUBLISHED:
        raise ValidationError({"state": "This item is published; withdraw or edit it first."})
    item.state = ReviewState.SUBMITTED
    item.submitted_by = _author(ctx)
    item.submitted_at = timezone.now()
    save_validated(item, update_fields=["state", "submitted_by", "submitted_at", "updated_at"])
    return item


def _withdraw(ctx: AccessContext, item: R) -> R:
    item = _locked(item)
    if item.state == ReviewState.WITHDRAWN:
        return item
    fields = ["state", "updated_at"]
    if isinstance(item, MarketingAsset) and item.state == ReviewState.PUBLISHED:
        item.published_at = None
        item.published_by = None
        fields += ["published_at", "published_by"]
    item.state = ReviewState.WITHDRAWN
    save_validated(item, update_fields=fields)
    return item


def _check_location(ctx: AccessContext, pc_id: Any, location: Location | None) -> None:
    if location is None:
        return
    require_in_scope(ctx, location, "location")
    if location.pc_id != pc_id:
        raise ValidationError({"location": "This location's clinical services come from another PC."})


def _check_choice(value: str | None, choices: Any, field: str) -> None:
    if value is not None and value not in choices.values:
        raise ValidationError({field: f"{value!r} is not one of: {', '.join(choices.values)}."})


# --- Marketing assets ---------------------------------------------------------------------------------


@transaction.atomic
def marketing_asset_create(
    *,
    ctx: AccessContext,
    pc: ProfessionalCorporation,
    title: str,
    body: str,
    channel: str,
    brand_name: str,
    location: Location | None = None,
    is_testimonial: bool = False,
    testimonial_disclosure: str = "",
) -> MarketingAsset:
    """Draft an ad for `pc` (whose physicians will decide on it), optionally for one of its locations."""
    require_may(ctx, MarketingAsset, ADD)
    require_in_scope(ctx, pc, "pc")
    _check_location(ctx, pc.pk, location)
    _check_choice(channel, MarketingAsset.Channel, "channel")
    asset = MarketingAsset(
        tenant=ctx.tenant,
        pc=pc,
        location=location,
        title=_text(title, "title"),
        body=_text(body, "body"),
        channel=channel,
        brand_name=_text(brand_name, "brand_name"),
        is_testimonial=is_testimonial,
        testimonial_disclosure=_text(testimonial_disclosure, "testimonial_disclosure", required=False),
        created_by=_author(ctx),
    )
    save_validated(asset)  # content_hash comes back from the trigger (RETURNING)
    return asset


@transaction.atomic
def marketing_asset_update(
    *,
    ctx: AccessContext,
    asset: MarketingAsset,
    title: str | None = None,
    body: str | None = None,
    channel: str | None = None,
    brand_name: str | None = None,
    location: Location | None = UNSET,
    is_testimonial: bool | None = None,
    testimonial_disclosure: str | None = None,
    pc: ProfessionalCorporation | None = None,
) -> MarketingAsset:
    """Edit an asset's content (None leaves a field; location=None clears it).

    Any real change voids the physician's decision (the hash changes) and, if the asset was
    submitted or published, puts it back in the queue. The PC cannot change: the approval is the
    PC's, so an ad for another PC is a new ad.
    """
    require_may(ctx, MarketingAsset, CHANGE)
    asset = _locked(asset)
    if pc is not None and pc.pk != asset.pc_id:
        raise ValidationError({"pc": "An asset stays with its PC; draft a new asset for another PC."})
    _check_choice(channel, MarketingAsset.Channel, "channel")
    changes: dict[str, Any] = {
        "title": _changed_text(title, "title"),
        "body": _changed_text(body, "body"),
        "channel": channel,
        "brand_name": _changed_text(brand_name, "brand_name"),
        "is_testimonial": is_testimonial,
        "testimonial_disclosure": _changed_text(
            testimonial_disclosure, "testimonial_disclosure", required=False
        ),
    }
    changed = apply_changes(asset, changes)
    if location is not UNSET and (location.pk if location else None) != asset.location_id:
        _check_location(ctx, asset.pc_id, location)
        asset.location = location
        changed.append("location")
    if changed:
        _content_edited(ctx, asset, changed)
    return asset


@transaction.atomic
def marketing_asset_submit(*, ctx: AccessContext, asset: MarketingAsset) -> MarketingAsset:
    """Send the asset to the PC's physicians for a decision (no-op if it is already submitted)."""
    require_may(ctx, MarketingAsset, CHANGE)
    return _submit(ctx, asset)


@transaction.atomic
def marketing_asset_publish(*, ctx: AccessContext, asset: MarketingAsset) -> MarketingAsset:
    """Publish an asset whose current content a physician approved (no-op if already published).

    Refused with a 400 otherwise; PostgreSQL refuses it as well (the reviewed-content trigger), so
    no other path (bulk update, raw SQL) can publish unapproved or changed content either.
    """
    require_may(ctx, MarketingAsset, CHANGE)
    # Decide on the row as the database has it now, not on what the caller loaded earlier.
    current = _locked(asset)
    if current.state == ReviewState.PUBLISHED:
        return current
    if not current.is_approved:
        raise ValidationError({"state": NOT_APPROVED})
    current.state = ReviewState.PUBLISHED
    current.published_at = timezone.now()
    current.published_by = _author(ctx)
    save_validated(current, update_fields=["state", "published_at", "published_by", "updated_at"])
    return current


@transaction.atomic
def marketing_asset_withdraw(*, ctx: AccessContext, asset: MarketingAsset) -> MarketingAsset:
    """Take an asset out of review or out of publication, or set a draft aside (no-op if withdrawn)."""
    require_may(ctx, MarketingAsset, CHANGE)
    return _withdraw(ctx, asset)


# --- Marketing images (part of the asset's content) ---------------------------------------------------


def image_content(image: MarketingImage) -> dict[str, Any]:
    """What of an image an approval covers (also the image part of a decision's snapshot)."""
    return {
        "description": image.description,
        "kind": image.kind,
        "altered": image.altered,
        "labelled_as_model": image.labelled_as_model,
        "procedures_shown": image.procedures_shown,
        "client": str(image.client_id) if image.client_id else None,
    }


def images_digest(images: list[MarketingImage]) -> str:
    """sha256 of the images' descriptions and flags, in an order that does not depend on ids."""
    rows = sorted(json.dumps(image_content(i), sort_keys=True) for i in images)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest() if rows else ""


def _images_changed(ctx: AccessContext, asset_id: Any) -> MarketingAsset:
    """Recompute the asset's images digest; a different digest is a content edit of the asset."""
    asset = MarketingAsset.objects.select_for_update().get(pk=asset_id)
    digest = images_digest(list(MarketingImage.objects.filter(asset_id=asset_id)))
    if digest != asset.images_digest:
        asset.images_digest = digest
        _content_edited(ctx, asset, ["images_digest"])
    return asset


def _check_image(ctx: AccessContext, kind: str | None, client: Client | None) -> None:
    _check_choice(kind, MarketingImage.Kind, "kind")
    if client is not None:
        require_in_scope(ctx, client, "client")


def _require_change_asset(ctx: AccessContext, asset: MarketingAsset) -> None:
    # Adding an image edits the asset: the caller must be allowed to change that asset.
    if not restrict(MarketingAsset.objects.all(), ctx, CHANGE).filter(pk=asset.pk).exists():
        raise ValidationError({"asset": "Unknown marketing asset: not one you may change."})


@transaction.atomic
def marketing_image_add(
    *,
    ctx: AccessContext,
    asset: MarketingAsset,
    description: str,
    kind: str,
    altered: bool = False,
    labelled_as_model: bool = False,
    procedures_shown: str = "",
    client: Client | None = None,
) -> MarketingImage:
    """Describe an image the asset uses; the asset's approval, if any, no longer applies."""
    require_may(ctx, MarketingImage, ADD)
    require_in_scope(ctx, asset, "asset")
    _require_change_asset(ctx, asset)
    _check_image(ctx, kind, client)
    image = MarketingImage(
        tenant=ctx.tenant,
        asset=asset,
        description=_text(description, "description"),
        kind=kind,
        altered=altered,
        labelled_as_model=labelled_as_model,
        procedures_shown=_text(procedures_shown, "procedures_shown", required=False),
        client=client,
    )
    save_validated(image)
    _images_changed(ctx, asset.pk)
    return image


@transaction.atomic
def marketing_image_update(
    *,
    ctx: AccessContext,
    image: MarketingImage,
    description: str | None = None,
    kind: str | None = None,
    altered: bool | None = None,
    labelled_as_model: bool | None = None,
    procedures_shown: str | None = None,
    client: Client | None = UNSET,
    asset: MarketingAsset | None = None,
) -> MarketingImage:
    """Change an image's description or flags (client=None clears whose photo it is)."""
    require_may(ctx, MarketingImage, CHANGE)
    if asset is not None and asset.pk != image.asset_id:
        raise ValidationError({"asset": "An image stays with its asset; add it to the other asset instead."})
    _check_image(ctx, kind, None)
    changed = apply_changes(
        image,
        {
            "description": _changed_text(description, "description"),
            "kind": kind,
            "altered": altered,
            "labelled_as_model": labelled_as_model,
            "procedures_shown": _changed_text(procedures_shown, "procedures_shown", required=False),
        },
    )
    if client is not UNSET and (client.pk if client else None) != image.client_id:
        if client is not None:
            require_in_scope(ctx, client, "client")
        image.client = client
        changed.append("client")
    if changed:
        save_validated(image, update_fields=changed)
        _images_changed(ctx, image.asset_id)
    return image


@transaction.atomic
def marketing_image_remove(*, ctx: AccessContext, image: MarketingImage) -> MarketingAsset:
    """Remove an image from its asset; returns the asset (whose approval no longer applies)."""
    require_may(ctx, MarketingImage, DELETE)
    asset_id = image.asset_id
    image.delete()
    return _images_changed(ctx, asset_id)


# --- Consent-form drafts --------------------------------------------------------------------------------


@transaction.atomic
def consent_form_draft_create(
    *, ctx: AccessContext, pc: ProfessionalCorporation, title: str, body: str, procedure: str
) -> ConsentFormDraft:
    """Draft the text of `pc`'s consent form for one procedure; approved, it becomes a numbered version."""
    require_may(ctx, ConsentFormDraft, ADD)
    require_in_scope(ctx, pc, "pc")
    _check_choice(procedure, Procedure, "procedure")
    draft = ConsentFormDraft(
        tenant=ctx.tenant,
        pc=pc,
        title=_text(title, "title"),
        body=_text(body, "body"),
        procedure=procedure,
        created_by=_author(ctx),
    )
    save_validated(draft)
    return draft


@transaction.atomic
def consent_form_draft_update(
    *,
    ctx: AccessContext,
    draft: ConsentFormDraft,
    title: str | None = None,
    body: str | None = None,
    procedure: str | None = None,
    pc: ProfessionalCorporation | None = None,
) -> ConsentFormDraft:
    """Edit a consent-form draft; a change voids its decision and sends a submitted draft back to review.

    Versions already approved are clinical records and stay as they were signed.
    """
    require_may(ctx, ConsentFormDraft, CHANGE)
    draft = _locked(draft)
    if pc is not None and pc.pk != draft.pc_id:
        raise ValidationError({"pc": "A draft stays with its PC; draft a new one for another PC."})
    _check_choice(procedure, Procedure, "procedure")
    changed = apply_changes(
        draft,
        {"title": _changed_text(title, "title"), "body": _changed_text(body, "body"), "procedure": procedure},
    )
    if changed:
        _content_edited(ctx, draft, changed)
    return draft


@transaction.atomic
def consent_form_draft_submit(*, ctx: AccessContext, draft: ConsentFormDraft) -> ConsentFormDraft:
    """Send the draft to the PC's physicians for a decision (no-op if it is already submitted)."""
    require_may(ctx, ConsentFormDraft, CHANGE)
    return _submit(ctx, draft)


@transaction.atomic
def consent_form_draft_withdraw(*, ctx: AccessContext, draft: ConsentFormDraft) -> ConsentFormDraft:
    """Take the draft out of review (no-op if already withdrawn)."""
    require_may(ctx, ConsentFormDraft, CHANGE)
    return _withdraw(ctx, draft)
