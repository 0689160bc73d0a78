"""Query filters of the compliance API and pages (django-filter), applied after the permission layer.

References are plain UUID filters in the API (a ModelChoiceFilter would run its own unscoped lookup);
the pages offer the PCs, locations and rules the capacity may see as choices, read through
``restrict``. A bad value is a 400 with a message in the API, a form error on a page.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet

from compliance.models import SEVERITY_CHOICES, AuditRun, Finding, FindingStatus
from management.models import Location, ProfessionalCorporation
from tenants.access import AccessContext, restrict
from tenants.capacities import Side
from tenants.filters import (
    InstantFilter,
    StrictBooleanFilter,
    choice_filter,
    multiple_choice_filter,
    not_a_choice,
)

RULE_ID_MAX = 20

# --- API ---------------------------------------------------------------------------------------------


class FindingFilter(django_filters.FilterSet):
    """Findings of one side: ``?status=open&status=acknowledged&severity=critical&rule=FEE-001&pc=…``."""

    status = multiple_choice_filter(FindingStatus)
    severity = multiple_choice_filter(SEVERITY_CHOICES)
    rule = django_filters.CharFilter(
        field_name="rule_id", lookup_expr="iexact", max_length=RULE_ID_MAX, label="Rule id, e.g. FEE-001"
    )
    pc = django_filters.UUIDFilter(field_name="pc")
    location = django_filters.UUIDFilter(field_name="location")
    unresolved = StrictBooleanFilter(
        method="filter_unresolved", label="Open, acknowledged or accepted as a risk (not resolved)"
    )
    last_seen_after = InstantFilter(field_name="last_seen_at", lookup_expr="gte")

    def filter_unresolved(self, qs: QuerySet[Finding], name: str, value: bool | None) -> QuerySet[Finding]:
        if value is None:
            return qs
        if value:
            return qs.exclude(status=FindingStatus.RESOLVED)
        return qs.filter(status=FindingStatus.RESOLVED)


class AuditRunFilter(django_filters.FilterSet):
    status = multiple_choice_filter(AuditRun.Status)
    trigger = multiple_choice_filter(AuditRun.Trigger)
    created_after = InstantFilter(field_name="created_at", lookup_expr="gte")


class RuleSettingFilter(django_filters.FilterSet):
    rule_id = django_filters.CharFilter(lookup_expr="iexact", max_length=RULE_ID_MAX)
    enabled = StrictBooleanFilter()


# --- pages -------------------------------------------------------------------------------------------

UNRESOLVED = "unresolved"
ALL = "all"
PAGE_STATUSES = [
    (UNRESOLVED, "Unresolved"),
    *FindingStatus.choices,
    (ALL, "All, resolved included"),
]


class FindingPageFilter(django_filters.FilterSet):
    """The filters of a findings page. Status defaults to the unresolved findings (the view binds it
    so); PCs, locations and rules are offered as the capacity may see them."""

    status = choice_filter(PAGE_STATUSES, method="filter_status", empty_label=None)
    severity = choice_filter(SEVERITY_CHOICES, empty_label="Any severity")
    rule = django_filters.ChoiceFilter(field_name="rule_id", label="Rule", empty_label="Any rule")
    pc = django_filters.ChoiceFilter(field_name="pc_id", label="PC", empty_label="Any PC")
    location = django_filters.ChoiceFilter(field_name="location_id", empty_label="Any location")

    def __init__(
        self,
        data: Any = None,
        queryset: QuerySet[Any] | None = None,
        *,
        ctx: AccessContext,
        side: Side,
        **kwargs: Any,
    ) -> None:
        from compliance.views._support import rules_of  # the views import this module

        super().__init__(data, queryset, **kwargs)
        pcs = restrict(ProfessionalCorporation.objects.order_by("legal_name"), ctx)
        locations = restrict(Location.objects.order_by("name"), ctx)
        choices = {
            "rule": [(r.id, f"{r.id} · {r.title}") for r in rules_of(side)],
            "pc": [(str(pk), name) for pk, name in pcs.values_list("pk", "legal_name")],
            "location": [(str(pk), name) for pk, name in locations.values_list("pk", "name")],
        }
        for name, pairs in choices.items():
            form_field = self.form.fields[name]
            assert isinstance(form_field, forms.ChoiceField)
            form_field.choices = pairs  # the filter's empty label is put first by django-filter
            form_field.error_messages["invalid_choice"] = not_a_choice(pairs)

    def filter_status(self, qs: QuerySet[Finding], name: str, value: str) -> QuerySet[Finding]:
        if value in ("", UNRESOLVED):
            return qs.exclude(status=FindingStatus.RESOLVED)
        if value == ALL:
            return qs
        return qs.filter(status=value)
