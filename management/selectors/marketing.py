"""Reads of physician-reviewed content (marketing assets, their images, consent-form drafts).

Every list is one query (plus one per prefetched relation) whatever the row count: the people and
PC a row names come with it (select_related) and an asset's images with one prefetch.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Count, Model, Prefetch, QuerySet
from django.http import Http404

from management.models import ConsentFormDraft, MarketingAsset, MarketingImage
from tenants.access import AccessContext, get_for_action, parse_id, restrict

M = TypeVar("M", bound=Model)
_REVIEWED_PEOPLE = ("pc", "created_by", "submitted_by", "decided_by")


def marketing_asset_list(ctx: AccessContext) -> QuerySet[MarketingAsset]:
    qs = MarketingAsset.objects.select_related(*_REVIEWED_PEOPLE, "location", "published_by")
    # An aggregate drops Meta.ordering (GROUP BY queries): order explicitly, id last for stable pages.
    return restrict(qs.annotate(image_count=Count("images")).order_by("-updated_at", "id"), ctx)


def marketing_asset_get(ctx: AccessContext, pk: Any, action: str = "view") -> MarketingAsset:
    return get_for_action(MarketingAsset, ctx, pk, action)


def marketing_asset_with_images(ctx: AccessContext, pk: Any, action: str = "view") -> MarketingAsset:
    """One asset for a detail page: its PC, people and images in three queries."""
    images = Prefetch("images", queryset=MarketingImage.objects.select_related("client"))
    qs = MarketingAsset.objects.select_related(*_REVIEWED_PEOPLE, "location", "published_by")
    return get_for_action_qs(qs.prefetch_related(images), ctx, pk, action)


def get_for_action_qs(qs: QuerySet[M], ctx: AccessContext, pk: Any, action: str) -> M:
    """get_for_action over a prepared queryset (same 404 for absent, other tenant's and forbidden)."""
    found = restrict(qs, ctx, action).filter(pk=parse_id(pk)).first()
    if found is None:
        raise Http404("No such object.")
    return found


def marketing_image_list(ctx: AccessContext) -> QuerySet[MarketingImage]:
    return restrict(MarketingImage.objects.select_related("asset", "asset__pc", "client"), ctx)


def marketing_image_get(ctx: AccessContext, pk: Any, action: str = "view") -> MarketingImage:
    return get_for_action(MarketingImage, ctx, pk, action)


def marketing_image_detail(ctx: AccessContext, pk: Any, action: str = "view") -> MarketingImage:
    return get_for_action_qs(
        MarketingImage.objects.select_related("asset", "asset__pc", "client"), ctx, pk, action
    )


def consent_form_draft_list(ctx: AccessContext) -> QuerySet[ConsentFormDraft]:
    return restrict(ConsentFormDraft.objects.select_related(*_REVIEWED_PEOPLE), ctx)


def consent_form_draft_get(ctx: AccessContext, pk: Any, action: str = "view") -> ConsentFormDraft:
    return get_for_action(ConsentFormDraft, ctx, pk, action)


def consent_form_draft_detail(ctx: AccessContext, pk: Any, action: str = "view") -> ConsentFormDraft:
    return get_for_action_qs(ConsentFormDraft.objects.select_related(*_REVIEWED_PEOPLE), ctx, pk, action)
