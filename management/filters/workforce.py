"""Query filters of the workforce area (django-filter), applied after the permission layer.

References are plain UUID filters: a ModelChoiceFilter would run its own unscoped lookup.
"""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from management.models import BusinessAssociateAgreement, Provider, StaffMember, TrainingRecord, Vendor
from management.procedures import LicenseStatus, LicenseType
from management.selectors.workforce import expiring_before
from tenants.filters import StrictBooleanFilter, choice_filter


class VendorFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains")
    service = django_filters.CharFilter(lookup_expr="icontains")
    handles_phi = StrictBooleanFilter()
    fee_basis = choice_filter(Vendor.FeeBasis.choices)

    class Meta:
        model = Vendor
        fields = ["name", "service", "handles_phi", "fee_basis"]


class BusinessAssociateAgreementFilter(django_filters.FilterSet):
    vendor = django_filters.UUIDFilter(field_name="vendor")
    expires_before = django_filters.DateFilter(field_name="expires_on", lookup_expr="lt")

    class Meta:
        model = BusinessAssociateAgreement
        fields = ["vendor", "expires_before"]


class StaffMemberFilter(django_filters.FilterSet):
    employer = django_filters.UUIDFilter(field_name="employer")
    location = django_filters.UUIDFilter(field_name="location")
    full_name = django_filters.CharFilter(lookup_expr="icontains")
    job_title = django_filters.CharFilter(lookup_expr="icontains")
    current = StrictBooleanFilter(
        field_name="left_on", lookup_expr="isnull", label="Still employed (no leaving date)"
    )
    exposure_risk = StrictBooleanFilter()

    class Meta:
        model = StaffMember
        fields = ["employer", "location", "full_name", "job_title", "current", "exposure_risk"]


class TrainingRecordFilter(django_filters.FilterSet):
    staff_member = django_filters.UUIDFilter(field_name="staff_member")
    kind = choice_filter(TrainingRecord.Kind.choices)
    expires_before = django_filters.DateFilter(field_name="expires_on", lookup_expr="lt")

    class Meta:
        model = TrainingRecord
        fields = ["staff_member", "kind", "expires_before"]


class ProviderFilter(django_filters.FilterSet):
    pc = django_filters.UUIDFilter(field_name="pc")
    full_name = django_filters.CharFilter(lookup_expr="icontains")
    license_state = django_filters.CharFilter(lookup_expr="iexact")
    license_number = django_filters.CharFilter(lookup_expr="iexact")
    license_type = choice_filter(LicenseType.choices)
    license_status = choice_filter(LicenseStatus.choices)
    active = StrictBooleanFilter()
    expiring_before = django_filters.DateFilter(
        method="filter_expiring_before", label="Any credential expires before this date"
    )

    class Meta:
        model = Provider
        fields = [
            "pc",
            "full_name",
            "license_type",
            "license_state",
            "license_number",
            "license_status",
            "active",
            "expiring_before",
        ]

    def filter_expiring_before(self, qs: QuerySet[Provider], name: str, value: dt.date) -> QuerySet[Provider]:
        return expiring_before(qs, value)


# --- filters of the list pages (plain text, choices and dates: what a person types or picks) ------

EXPIRING_WITHIN = [("30", "30 days"), ("60", "60 days"), ("90", "90 days")]


class VendorPageFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")

    class Meta:
        model = Vendor
        fields = ["name", "handles_phi", "fee_basis"]


class BusinessAssociateAgreementPageFilter(django_filters.FilterSet):
    vendor = django_filters.UUIDFilter(field_name="vendor", widget=forms.HiddenInput)
    expires_before = django_filters.DateFilter(
        field_name="expires_on", lookup_expr="lt", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = BusinessAssociateAgreement
        fields = ["vendor", "expires_before"]


class StaffMemberPageFilter(django_filters.FilterSet):
    full_name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")
    current = django_filters.BooleanFilter(field_name="left_on", lookup_expr="isnull", label="Still employed")

    class Meta:
        model = StaffMember
        fields = ["full_name", "current", "exposure_risk"]


class TrainingRecordPageFilter(django_filters.FilterSet):
    staff_member = django_filters.UUIDFilter(field_name="staff_member", widget=forms.HiddenInput)
    expires_before = django_filters.DateFilter(
        field_name="expires_on", lookup_expr="lt", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = TrainingRecord
        fields = ["staff_member", "kind", "expires_before"]


class ProviderPageFilter(django_filters.FilterSet):
    full_name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")
    pc = django_filters.UUIDFilter(field_name="pc", widget=forms.HiddenInput)
    expiring_within = choice_filter(
        EXPIRING_WITHIN, method="filter_expiring_within", label="A credential expires within"
    )

    class Meta:
        model = Provider
        fields = ["full_name", "pc", "license_type", "license_status", "active", "expiring_within"]

    def filter_expiring_within(self, qs: QuerySet[Provider], name: str, value: str) -> QuerySet[Provider]:
        return expiring_before(qs, timezone.localdate() + dt.timedelta(days=int(value) + 1))
