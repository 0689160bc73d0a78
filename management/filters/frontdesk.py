"""Query filters of the front desk (django-filter), applied after the permission layer.

References are plain UUID filters: a ModelChoiceFilter would run its own unscoped lookup.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from management.models import Appointment, Client, PatientPayment
from management.procedures import Procedure
from tenants.filters import StrictBooleanFilter, choice_filter, multiple_choice_filter


class ClientFilter(django_filters.FilterSet):
    home_location = django_filters.UUIDFilter(field_name="home_location")
    lead_source = choice_filter(Client.LeadSource.choices)
    marketing_opt_in = StrictBooleanFilter()
    search = django_filters.CharFilter(method="filter_search", label="Name, email or phone contains")

    class Meta:
        model = Client
        fields = ["home_location", "lead_source", "marketing_opt_in", "search"]

    def filter_search(self, qs: QuerySet[Client], name: str, value: str) -> QuerySet[Client]:
        value = value.strip()
        if not value:
            return qs
        return qs.filter(
            Q(full_name__icontains=value) | Q(email__icontains=value) | Q(phone__icontains=value)
        )


class AppointmentFilter(django_filters.FilterSet):
    location = django_filters.UUIDFilter(field_name="location")
    provider = django_filters.UUIDFilter(field_name="provider")
    client = django_filters.UUIDFilter(field_name="client")
    status = multiple_choice_filter(Appointment.Status.choices)
    service = choice_filter(Procedure.choices)
    date_from = django_filters.DateFilter(
        field_name="starts_at", lookup_expr="date__gte", label="On or after"
    )
    date_to = django_filters.DateFilter(field_name="starts_at", lookup_expr="date__lte", label="On or before")

    class Meta:
        model = Appointment
        fields = ["location", "provider", "client", "status", "service", "date_from", "date_to"]


class PatientPaymentFilter(django_filters.FilterSet):
    location = django_filters.UUIDFilter(field_name="location")
    client = django_filters.UUIDFilter(field_name="client")
    deposited_to = django_filters.UUIDFilter(field_name="deposited_to")
    kind = choice_filter(PatientPayment.Kind.choices)
    method = choice_filter(PatientPayment.Method.choices)
    received_from = django_filters.DateFilter(field_name="received_on", lookup_expr="gte")
    received_to = django_filters.DateFilter(field_name="received_on", lookup_expr="lte")

    class Meta:
        model = PatientPayment
        fields = ["location", "client", "deposited_to", "kind", "method", "received_from", "received_to"]


# --- filters of the list pages --------------------------------------------------------------------

DATE_INPUT = forms.DateInput(attrs={"type": "date"})


class ClientPageFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", label="Name, email or phone")
    home_location = django_filters.UUIDFilter(field_name="home_location", widget=forms.HiddenInput)

    class Meta:
        model = Client
        fields = ["search", "lead_source", "home_location"]

    filter_search = ClientFilter.filter_search


class AppointmentPageFilter(django_filters.FilterSet):
    location = django_filters.UUIDFilter(field_name="location", widget=forms.HiddenInput)
    provider = django_filters.UUIDFilter(field_name="provider", widget=forms.HiddenInput)
    client = django_filters.UUIDFilter(field_name="client", widget=forms.HiddenInput)
    date_from = django_filters.DateFilter(
        field_name="starts_at", lookup_expr="date__gte", label="From", widget=DATE_INPUT
    )
    date_to = django_filters.DateFilter(
        field_name="starts_at", lookup_expr="date__lte", label="To", widget=DATE_INPUT
    )

    class Meta:
        model = Appointment
        fields = ["status", "service", "date_from", "date_to", "location", "provider", "client"]


class PatientPaymentPageFilter(django_filters.FilterSet):
    client = django_filters.UUIDFilter(field_name="client", widget=forms.HiddenInput)
    received_from = django_filters.DateFilter(
        field_name="received_on", lookup_expr="gte", label="From", widget=DATE_INPUT
    )
    received_to = django_filters.DateFilter(
        field_name="received_on", lookup_expr="lte", label="To", widget=DATE_INPUT
    )

    class Meta:
        model = PatientPayment
        fields = ["kind", "method", "received_from", "received_to", "client"]
