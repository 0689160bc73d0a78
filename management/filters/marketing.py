"""Query filters of physician-reviewed content (django-filter); applied after the permission layer.

References are plain UUID filters: a ModelChoiceFilter would run its own unscoped lookup of the
referenced PC, location or asset (and answer differently for another tenant's id than an absent one).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import F, Q, QuerySet

from management.models import ConsentFormDraft, Decision, MarketingAsset, MarketingImage, ReviewState
from management.procedures import Procedure
from tenants.filters import StrictBooleanFilter, choice_filter

AWAITING = Q(state=ReviewState.SUBMITTED) & ~Q(decision_hash=F("content_hash"))


def _awaiting(queryset: QuerySet[Any], name: str, value: bool | None) -> QuerySet[Any]:
    """Submitted items whose current content has no decision yet (or, False, every other item)."""
    if value is None:
        return queryset
    return queryset.filter(AWAITING) if value else queryset.exclude(AWAITING)


class MarketingAssetFilter(django_filters.FilterSet):
    pc = django_filters.UUIDFilter(field_name="pc")
    location = django_filters.UUIDFilter(field_name="location")
    title = django_filters.CharFilter(lookup_expr="icontains")
    brand_name = django_filters.CharFilter(lookup_expr="icontains")
    channel = choice_filter(MarketingAsset.Channel.choices)
    state = choice_filter(ReviewState.choices)
    decision = choice_filter(Decision.choices)
    is_testimonial = StrictBooleanFilter()
    awaiting_decision = StrictBooleanFilter(method=_awaiting)

    class Meta:
        model = MarketingAsset
        fields = ["pc", "location", "channel", "state", "decision", "is_testimonial", "title", "brand_name"]


class MarketingImageFilter(django_filters.FilterSet):
    asset = django_filters.UUIDFilter(field_name="asset")
    description = django_filters.CharFilter(lookup_expr="icontains")
    kind = choice_filter(MarketingImage.Kind.choices)
    altered = StrictBooleanFilter()
    labelled_as_model = StrictBooleanFilter()

    class Meta:
        model = MarketingImage
        fields = ["asset", "kind", "altered", "labelled_as_model", "description"]


class ConsentFormDraftFilter(django_filters.FilterSet):
    pc = django_filters.UUIDFilter(field_name="pc")
    title = django_filters.CharFilter(lookup_expr="icontains")
    procedure = choice_filter(Procedure.choices)
    state = choice_filter(ReviewState.choices)
    decision = choice_filter(Decision.choices)
    awaiting_decision = StrictBooleanFilter(method=_awaiting)

    class Meta:
        model = ConsentFormDraft
        fields = ["pc", "procedure", "state", "decision", "title"]


# --- browser list pages ------------------------------------------------------------------------------


class MarketingAssetPageFilter(django_filters.FilterSet):
    title = django_filters.CharFilter(lookup_expr="icontains", label="Title contains")
    channel = choice_filter(MarketingAsset.Channel.choices)
    state = choice_filter(ReviewState.choices)

    class Meta:
        model = MarketingAsset
        fields = ["title", "channel", "state"]


class ConsentFormDraftPageFilter(django_filters.FilterSet):
    title = django_filters.CharFilter(lookup_expr="icontains", label="Title contains")
    procedure = choice_filter(Procedure.choices)
    state = choice_filter(ReviewState.choices)

    class Meta:
        model = ConsentFormDraft
        fields = ["title", "procedure", "state"]
