"""Query filters for MSO business records (django-filter); applied after the permission layer."""

from __future__ import annotations

import django_filters

from management.models import Location, MsoEntity, ProfessionalCorporation


class MsoEntityFilter(django_filters.FilterSet):
    legal_name = django_filters.CharFilter(lookup_expr="icontains")
    state = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = MsoEntity
        fields = ["legal_name", "state", "entity_type"]


class ProfessionalCorporationFilter(django_filters.FilterSet):
    legal_name = django_filters.CharFilter(lookup_expr="icontains")
    state = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = ProfessionalCorporation
        fields = ["legal_name", "state"]


class LocationFilter(django_filters.FilterSet):
    # Plain UUID filters: a ModelChoiceFilter would run its own unscoped lookup of the PC/entity.
    pc = django_filters.UUIDFilter(field_name="pc")
    managing_entity = django_filters.UUIDFilter(field_name="managing_entity")
    city = django_filters.CharFilter(lookup_expr="iexact")
    state = django_filters.CharFilter(lookup_expr="iexact")
    name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Location
        fields = ["pc", "managing_entity", "city", "state", "name"]
