"""Reads for physician decisions: the approval queue, decisions, consent-form versions, and the
side-by-side diff of what changed since the last decision on an item.

A physician's queue holds the submitted items of the PCs on which their membership holds
``management.approve_marketing`` (django-guardian, ``accept_global_perms=False`` as in
tenants.access) whose current content has no decision yet. No patient data here, so no read log.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, Q, QuerySet
from guardian.shortcuts import get_objects_for_group

from clinical.models import ConsentFormVersion, PhysicianDecision
from management.models import (
    ConsentFormDraft,
    MarketingAsset,
    MarketingImage,
    PhysicianReviewed,
    ProfessionalCorporation,
    ReviewState,
)
from management.procedures import Procedure
from management.services.marketing import image_content
from tenants.access import AccessContext, get_for_action, restrict

APPROVE_PERM = "management.approve_marketing"
DECIDING_CAPACITY = "pc_physician"


# --- who may decide -------------------------------------------------------------------------------------


def approvable_pcs(ctx: AccessContext) -> QuerySet[ProfessionalCorporation]:
    """The PCs on which ctx may decide: a PC physician whose membership holds approve_marketing there."""
    if ctx.membership is None or ctx.capacity.code != DECIDING_CAPACITY:
        return ProfessionalCorporation.objects.none()
    base = ProfessionalCorporation.objects.filter(tenant=ctx.tenant)
    # accept_global_perms=False: a model-level permission must never widen to every PC or tenant.
    granted: QuerySet[ProfessionalCorporation] = get_objects_for_group(
        ctx.membership.group, APPROVE_PERM, base, accept_global_perms=False
    )
    return granted


def may_decide_on(ctx: AccessContext, item: PhysicianReviewed) -> bool:
    return approvable_pcs(ctx).filter(pk=item.pc_id).exists()


def is_own_submission(ctx: AccessContext, item: PhysicianReviewed) -> bool:
    """Whether ctx's person drafted or submitted the item (nobody decides on their own submission)."""
    user = ctx.user
    return user is not None and user.pk in (item.created_by_id, item.submitted_by_id)


# --- the queue ----------------------------------------------------------------------------------------------

AWAITING = Q(state=ReviewState.SUBMITTED) & ~Q(decision_hash=F("content_hash"))


def queue_assets(ctx: AccessContext) -> QuerySet[MarketingAsset]:
    qs = MarketingAsset.objects.select_related("pc", "location", "created_by", "submitted_by")
    return (
        restrict(qs, ctx).filter(AWAITING, pc__in=approvable_pcs(ctx).values("pk")).order_by("submitted_at")
    )


def queue_consent_drafts(ctx: AccessContext) -> QuerySet[ConsentFormDraft]:
    qs = ConsentFormDraft.objects.select_related("pc", "created_by", "submitted_by")
    return (
        restrict(qs, ctx).filter(AWAITING, pc__in=approvable_pcs(ctx).values("pk")).order_by("submitted_at")
    )


# --- decisions and versions -------------------------------------------------------------------------------


def physician_decision_list(ctx: AccessContext) -> QuerySet[PhysicianDecision]:
    qs = PhysicianDecision.objects.select_related("pc", "decided_by", "marketing_asset", "consent_form_draft")
    return restrict(qs, ctx)


def physician_decision_get(ctx: AccessContext, pk: Any, action: str = "view") -> PhysicianDecision:
    return get_for_action(PhysicianDecision, ctx, pk, action)


def decisions_on(ctx: AccessContext, item: PhysicianReviewed) -> QuerySet[PhysicianDecision]:
    """The decisions ctx may see on one item, latest first."""
    subject = "marketing_asset" if isinstance(item, MarketingAsset) else "consent_form_draft"
    return physician_decision_list(ctx).filter(**{subject: item}).order_by("-decided_at")


def consent_form_version_list(ctx: AccessContext) -> QuerySet[ConsentFormVersion]:
    qs = ConsentFormVersion.objects.select_related("pc", "approved_by", "draft", "decision")
    return restrict(qs, ctx)


def consent_form_version_get(ctx: AccessContext, pk: Any, action: str = "view") -> ConsentFormVersion:
    return get_for_action(ConsentFormVersion, ctx, pk, action)


# --- content snapshots and their diff -------------------------------------------------------------


def content_snapshot(item: PhysicianReviewed) -> dict[str, Any]:
    """The content a decision is taken on, as stored with the decision (and compared in later reviews)."""
    if isinstance(item, MarketingAsset):
        images = MarketingImage.objects.filter(asset_id=item.pk)
        return {
            "title": item.title,
            "body": item.body,
            "channel": item.channel,
            "brand_name": item.brand_name,
            "location": str(item.location_id) if item.location_id else None,
            "location_name": item.location.name if item.location_id and item.location else "",
            "is_testimonial": item.is_testimonial,
            "testimonial_disclosure": item.testimonial_disclosure,
            "images": sorted((image_content(i) for i in images), key=lambda d: json.dumps(d, sort_keys=True)),
        }
    assert isinstance(item, ConsentFormDraft), type(item)
    return {"title": item.title, "body": item.body, "procedure": item.procedure}


def _yes_no(value: Any) -> str:
    return "yes" if value else "no"


def _image_line(image: dict[str, Any]) -> str:
    kind = dict(MarketingImage.Kind.choices).get(image.get("kind", ""), image.get("kind", ""))
    parts = [
        f"{image.get('description', '')} — {kind}",
        f"altered: {_yes_no(image.get('altered'))}",
        f"labelled as model: {_yes_no(image.get('labelled_as_model'))}",
    ]
    if image.get("procedures_shown"):
        parts.append(f"procedures shown: {image['procedures_shown']}")
    if image.get("client"):
        parts.append("a client's photo")
    return "; ".join(parts)


def snapshot_fields(snapshot: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(label, lines) of a snapshot, in reading order: what the review page shows and compares."""
    if "procedure" in snapshot:
        procedure = snapshot.get("procedure", "")
        return [
            ("Title", [snapshot.get("title", "")]),
            ("Procedure", [dict(Procedure.choices).get(procedure, procedure)]),
            ("Text", str(snapshot.get("body", "")).splitlines() or [""]),
        ]
    channel = snapshot.get("channel", "")
    return [
        ("Title", [snapshot.get("title", "")]),
        ("Channel", [dict(MarketingAsset.Channel.choices).get(channel, channel)]),
        ("Brand name", [snapshot.get("brand_name", "")]),
        ("Location", [snapshot.get("location_name") or "— (all locations)"]),
        ("Text", str(snapshot.get("body", "")).splitlines() or [""]),
        ("Testimonial", [_yes_no(snapshot.get("is_testimonial"))]),
        ("Testimonial disclosure", [snapshot.get("testimonial_disclosure") or "—"]),
        ("Images", [_image_line(i) for i in snapshot.get("images", [])] or ["— (none)"]),
    ]


@dataclass(frozen=True)
class DiffRow:
    tag: str  # equal, replace, delete, insert
    old: str | None
    new: str | None


@dataclass(frozen=True)
class FieldDiff:
    label: str
    changed: bool
    rows: list[DiffRow] = field(default_factory=list)


def content_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> list[FieldDiff]:
    """Side-by-side rows per field, line by line (difflib); before=None is a first review (all new)."""
    new_fields = snapshot_fields(after)
    if before is None:
        return [
            FieldDiff(label, True, [DiffRow("insert", None, line) for line in lines])
            for label, lines in new_fields
        ]
    old_fields = dict(snapshot_fields(before))
    diffs = []
    for label, new_lines in new_fields:
        old_lines = old_fields.get(label, [])
        rows: list[DiffRow] = []
        matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            old_part, new_part = old_lines[i1:i2], new_lines[j1:j2]
            for k in range(max(len(old_part), len(new_part))):
                rows.append(
                    DiffRow(
                        tag,
                        old_part[k] if k < len(old_part) else None,
                        new_part[k] if k < len(new_part) else None,
                    )
                )
        diffs.append(FieldDiff(label, any(r.tag != "equal" for r in rows), rows))
    return diffs


# --- the queue as one object (page and navigation count) ------------------------------------------


@dataclass(frozen=True)
class ApprovalQueue:
    """What awaits ctx's decision: marketing assets and consent-form drafts, oldest submission first."""

    assets: list[MarketingAsset]
    consent_drafts: list[ConsentFormDraft]

    def count(self) -> int:  # the navigation card's number (tenants.views.Section.count)
        return len(self.assets) + len(self.consent_drafts)


def approval_queue(ctx: AccessContext) -> ApprovalQueue:
    return ApprovalQueue(list(queue_assets(ctx)), list(queue_consent_drafts(ctx)))
