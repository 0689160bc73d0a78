"""Query filters for clinical records (django-filter); applied after the permission layer."""

from __future__ import annotations

import django_filters

from clinical.models import PatientChart


class PatientChartFilter(django_filters.FilterSet):
    # Plain UUID filters: a ModelChoiceFilter would run its own unscoped lookup of the PC/location.
    pc = django_filters.UUIDFilter(field_name="pc")
    home_location = django_filters.UUIDFilter(field_name="home_location")
    medical_record_number = django_filters.CharFilter(lookup_expr="iexact")
    patient_name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = PatientChart
        fields = ["pc", "home_location", "medical_record_number", "patient_name"]
