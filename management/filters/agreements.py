"""Query filters of MSAs, invoices, payments and collections (django-filter), applied after the
permission layer. References filter by plain UUID: a ModelChoiceFilter would run its own unscoped
lookup of the referenced object."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet

from management.models import (
    AgreementDocument,
    FeeBasis,
    FeePayment,
    ManagementFeeInvoice,
    ManagementServicesAgreement,
    MsaAmendment,
    PcCollection,
    PerformanceStandard,
)
from management.procedures import ManagedService
from tenants.filters import choice_filter


class MsaFilter(django_filters.FilterSet):
    pc = django_filters.UUIDFilter(field_name="pc")
    mso_entity = django_filters.UUIDFilter(field_name="mso_entity")
    title = django_filters.CharFilter(lookup_expr="icontains")
    fee_basis = choice_filter(FeeBasis.choices)
    governing_state = django_filters.CharFilter(lookup_expr="iexact")
    service = choice_filter(ManagedService.choices, method="filter_service", label="Service in scope")
    in_force_on = django_filters.DateFilter(method="filter_in_force_on", label="In force on (YYYY-MM-DD)")

    class Meta:
        model = ManagementServicesAgreement
        fields = ["pc", "mso_entity", "title", "fee_basis", "governing_state"]

    def filter_service(self, qs: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return qs.filter(services__contains=[value])

    def filter_in_force_on(self, qs: QuerySet[Any], name: str, value: Any) -> QuerySet[Any]:
        return qs.filter(effective_date__lte=value, end_date__gte=value)


class PerformanceStandardFilter(django_filters.FilterSet):
    msa = django_filters.UUIDFilter(field_name="msa")
    metric = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = PerformanceStandard
        fields = ["msa", "metric"]


class MsaAmendmentFilter(django_filters.FilterSet):
    msa = django_filters.UUIDFilter(field_name="msa")
    effective_from = django_filters.DateFilter(field_name="effective_date", lookup_expr="gte")
    effective_to = django_filters.DateFilter(field_name="effective_date", lookup_expr="lte")

    class Meta:
        model = MsaAmendment
        fields = ["msa", "number"]


class AgreementDocumentFilter(django_filters.FilterSet):
    msa = django_filters.UUIDFilter(field_name="msa")
    amendment = django_filters.UUIDFilter(field_name="amendment")
    filename = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = AgreementDocument
        fields = ["msa", "amendment", "filename"]


class FeeInvoiceFilter(django_filters.FilterSet):
    msa = django_filters.UUIDFilter(field_name="msa")
    pc = django_filters.UUIDFilter(field_name="msa__pc")
    number = django_filters.CharFilter(lookup_expr="icontains")
    status = choice_filter(ManagementFeeInvoice.Status.choices)
    period_from = django_filters.DateFilter(field_name="period_start", lookup_expr="gte")
    period_to = django_filters.DateFilter(field_name="period_end", lookup_expr="lte")

    class Meta:
        model = ManagementFeeInvoice
        fields = ["msa", "pc", "number", "status"]


class FeePaymentFilter(django_filters.FilterSet):
    invoice = django_filters.UUIDFilter(field_name="invoice")
    msa = django_filters.UUIDFilter(field_name="invoice__msa")
    reference = django_filters.CharFilter(lookup_expr="icontains")
    paid_from = django_filters.DateFilter(field_name="paid_on", lookup_expr="gte")
    paid_to = django_filters.DateFilter(field_name="paid_on", lookup_expr="lte")

    class Meta:
        model = FeePayment
        fields = ["invoice", "msa", "reference"]


class PcCollectionFilter(django_filters.FilterSet):
    pc = django_filters.UUIDFilter(field_name="pc")
    source = choice_filter(PcCollection.Source.choices)
    month_from = django_filters.DateFilter(field_name="month", lookup_expr="gte")
    month_to = django_filters.DateFilter(field_name="month", lookup_expr="lte")

    class Meta:
        model = PcCollection
        fields = ["pc", "source"]


# --- filters of the browser lists (names and choices a person types or picks; no ids) ---------------


class MsaPageFilter(django_filters.FilterSet):
    title = django_filters.CharFilter(lookup_expr="icontains", label="Title contains")
    pc_name = django_filters.CharFilter(field_name="pc__legal_name", lookup_expr="icontains", label="PC")
    fee_basis = choice_filter(FeeBasis.choices, label="Fee basis")
    service = choice_filter(ManagedService.choices, method="filter_service", label="Service in scope")
    in_force_on = django_filters.DateFilter(method="filter_in_force_on", label="In force on")

    class Meta:
        model = ManagementServicesAgreement
        fields = ["title", "pc_name", "fee_basis"]

    def filter_service(self, qs: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return qs.filter(services__contains=[value])

    def filter_in_force_on(self, qs: QuerySet[Any], name: str, value: Any) -> QuerySet[Any]:
        return qs.filter(effective_date__lte=value, end_date__gte=value)


class PerformanceStandardPageFilter(django_filters.FilterSet):
    metric = django_filters.CharFilter(lookup_expr="icontains", label="Metric contains")

    class Meta:
        model = PerformanceStandard
        fields = ["metric"]


class MsaAmendmentPageFilter(django_filters.FilterSet):
    summary = django_filters.CharFilter(lookup_expr="icontains", label="Summary contains")
    effective_from = django_filters.DateFilter(field_name="effective_date", lookup_expr="gte")

    class Meta:
        model = MsaAmendment
        fields = ["summary", "effective_from"]


class AgreementDocumentPageFilter(django_filters.FilterSet):
    filename = django_filters.CharFilter(lookup_expr="icontains", label="File name contains")

    class Meta:
        model = AgreementDocument
        fields = ["filename"]


class FeeInvoicePageFilter(django_filters.FilterSet):
    number = django_filters.CharFilter(lookup_expr="icontains", label="Number contains")
    status = choice_filter(ManagementFeeInvoice.Status.choices)
    period_from = django_filters.DateFilter(field_name="period_start", lookup_expr="gte")
    period_to = django_filters.DateFilter(field_name="period_end", lookup_expr="lte")

    class Meta:
        model = ManagementFeeInvoice
        fields = ["number", "status"]


class FeePaymentPageFilter(django_filters.FilterSet):
    reference = django_filters.CharFilter(lookup_expr="icontains", label="Reference contains")
    paid_from = django_filters.DateFilter(field_name="paid_on", lookup_expr="gte")
    paid_to = django_filters.DateFilter(field_name="paid_on", lookup_expr="lte")

    class Meta:
        model = FeePayment
        fields = ["reference"]


class PcCollectionPageFilter(django_filters.FilterSet):
    pc_name = django_filters.CharFilter(field_name="pc__legal_name", lookup_expr="icontains", label="PC")
    source = choice_filter(PcCollection.Source.choices)
    month_from = django_filters.DateFilter(field_name="month", lookup_expr="gte")
    month_to = django_filters.DateFilter(field_name="month", lookup_expr="lte")

    class Meta:
        model = PcCollection
        fields = ["pc_name", "source"]
