"""Query filters of physician decisions and consent-form versions; applied after the permission layer.

References are plain UUID filters: a ModelChoiceFilter would run its own unscoped lookup.
"""

from __future__ import annotations

import django_filters

from clinical.models import ConsentFormVersion, PhysicianDecision
from management.models import Decision
from management.procedures import Procedure
from tenants.filters import InstantFilter, StrictBooleanFilter, choice_filter


class PhysicianDecisionFilter(django_filters.FilterSet):
    pc = django_filters.UUIDFilter(field_name="pc")
    marketing_asset = django_filters.UUIDFilter(field_name="marketing_asset")
    consent_form_draft = django_filters.UUIDFilter(field_name="consent_form_draft")
    decided_after = InstantFilter(field_name="decided_at", lookup_expr="gte")
    decided_before = InstantFilter(field_name="decided_at", lookup_expr="lte")
    decision = choice_filter(Decision.choices)

    class Meta:
        model = PhysicianDecision
        fields = [
            "pc",
            "marketing_asset",
            "consent_form_draft",
            "decision",
            "decided_after",
            "decided_before",
        ]


class ConsentFormVersionFilter(django_filters.FilterSet):
    pc = django_filters.UUIDFilter(field_name="pc")
    draft = django_filters.UUIDFilter(field_name="draft")
    procedure = choice_filter(Procedure.choices)
    current = StrictBooleanFilter(field_name="superseded_at", lookup_expr="isnull", label="Current")

    class Meta:
        model = ConsentFormVersion
        fields = ["pc", "draft", "procedure", "number", "current"]
