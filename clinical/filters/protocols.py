"""Query filters of protocols and the procedure scope table (django-filter), after the permission layer."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from clinical.models import ProcedureScopeRule, Protocol, ProtocolSupervisee
from management.procedures import LicenseType, Procedure
from tenants.filters import StrictBooleanFilter, choice_filter


class ProtocolFilter(django_filters.FilterSet):
    pc = django_filters.UUIDFilter(field_name="pc")
    supervisor = django_filters.UUIDFilter(field_name="supervisor")
    # "covers a procedure": procedures is an array column.
    procedure = choice_filter(Procedure.choices, method="filter_procedure")
    kind = choice_filter(Protocol.Kind.choices)
    title = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Protocol
        fields = ["pc", "supervisor", "kind", "procedure", "title"]

    def filter_procedure(self, queryset: QuerySet[Protocol], name: str, value: str) -> QuerySet[Protocol]:
        return queryset.filter(procedures__contains=[value])


class ProtocolSuperviseeFilter(django_filters.FilterSet):
    protocol = django_filters.UUIDFilter(field_name="protocol")
    provider = django_filters.UUIDFilter(field_name="provider")
    signed = StrictBooleanFilter(field_name="signed_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = ProtocolSupervisee
        fields = ["protocol", "provider"]


class ProcedureScopeRuleFilter(django_filters.FilterSet):
    state = django_filters.CharFilter(lookup_expr="iexact")
    procedure = choice_filter(Procedure.choices)
    license_type = choice_filter(LicenseType.choices)
    supervision = choice_filter(ProcedureScopeRule.Supervision.choices)
    allowed = StrictBooleanFilter()

    class Meta:
        model = ProcedureScopeRule
        fields = ["state", "procedure", "license_type", "allowed", "supervision"]
