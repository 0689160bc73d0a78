"""Query filters of charts and their records (django-filter), applied after the permission layer.

References are plain UUID filters: a ModelChoiceFilter would run its own unscoped lookup.
"""

from __future__ import annotations

import django_filters

from clinical.models import (
    AdverseEvent,
    ChartReview,
    GoodFaithExam,
    PatientChart,
    PhotoAuthorization,
    SignedConsent,
    Treatment,
    TreatmentPhoto,
    TreatmentProduct,
)
from management.procedures import Procedure
from tenants.filters import InstantFilter, StrictBooleanFilter, choice_filter


class PatientChartFilter(django_filters.FilterSet):
    pc = django_filters.UUIDFilter(field_name="pc")
    home_location = django_filters.UUIDFilter(field_name="home_location")
    client = django_filters.UUIDFilter(field_name="client")
    medical_record_number = django_filters.CharFilter(lookup_expr="iexact")
    patient_name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = PatientChart
        fields = ["pc", "home_location", "client", "medical_record_number", "patient_name"]


class GoodFaithExamFilter(django_filters.FilterSet):
    chart = django_filters.UUIDFilter(field_name="chart")
    examiner = django_filters.UUIDFilter(field_name="examiner")
    examined_after = django_filters.DateFilter(field_name="examined_on", lookup_expr="gte")
    examined_before = django_filters.DateFilter(field_name="examined_on", lookup_expr="lte")
    valid_on = django_filters.DateFilter(field_name="valid_until", lookup_expr="gte")
    via_telehealth = StrictBooleanFilter()

    class Meta:
        model = GoodFaithExam
        fields = ["chart", "examiner"]


class TreatmentFilter(django_filters.FilterSet):
    chart = django_filters.UUIDFilter(field_name="chart")
    location = django_filters.UUIDFilter(field_name="location")
    performer = django_filters.UUIDFilter(field_name="performer")
    supervisor = django_filters.UUIDFilter(field_name="supervisor")
    procedure = choice_filter(Procedure.choices)
    performed_after = InstantFilter(field_name="performed_at", lookup_expr="gte")
    performed_before = InstantFilter(field_name="performed_at", lookup_expr="lte")
    uncharted = StrictBooleanFilter(field_name="charted_at", lookup_expr="isnull")

    class Meta:
        model = Treatment
        fields = ["chart", "location", "performer", "supervisor", "procedure"]


class TreatmentProductFilter(django_filters.FilterSet):
    treatment = django_filters.UUIDFilter(field_name="treatment")
    chart = django_filters.UUIDFilter(field_name="treatment__chart")
    lot_number = django_filters.CharFilter(lookup_expr="iexact")
    product_name = django_filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = TreatmentProduct
        fields = ["treatment", "chart", "lot_number", "product_name"]


class TreatmentPhotoFilter(django_filters.FilterSet):
    treatment = django_filters.UUIDFilter(field_name="treatment")
    chart = django_filters.UUIDFilter(field_name="treatment__chart")
    authorization = django_filters.UUIDFilter(field_name="authorization")
    used_outside_chart = StrictBooleanFilter()
    kind = choice_filter(TreatmentPhoto.Kind.choices)

    class Meta:
        model = TreatmentPhoto
        fields = ["treatment", "chart", "kind", "used_outside_chart", "authorization"]


class PhotoAuthorizationFilter(django_filters.FilterSet):
    chart = django_filters.UUIDFilter(field_name="chart")
    revoked = StrictBooleanFilter(field_name="revoked_on", lookup_expr="isnull", exclude=True)

    class Meta:
        model = PhotoAuthorization
        fields = ["chart"]


class SignedConsentFilter(django_filters.FilterSet):
    chart = django_filters.UUIDFilter(field_name="chart")
    form_version = django_filters.UUIDFilter(field_name="form_version")
    procedure = choice_filter(Procedure.choices, field_name="form_version__procedure")

    class Meta:
        model = SignedConsent
        fields = ["chart", "form_version", "procedure"]


class ChartReviewFilter(django_filters.FilterSet):
    chart = django_filters.UUIDFilter(field_name="chart")
    reviewer = django_filters.UUIDFilter(field_name="reviewer")
    reviewed_after = django_filters.DateFilter(field_name="reviewed_on", lookup_expr="gte")
    reviewed_before = django_filters.DateFilter(field_name="reviewed_on", lookup_expr="lte")
    follow_up_needed = StrictBooleanFilter()

    class Meta:
        model = ChartReview
        fields = ["chart", "reviewer", "follow_up_needed"]


class AdverseEventFilter(django_filters.FilterSet):
    chart = django_filters.UUIDFilter(field_name="chart")
    treatment = django_filters.UUIDFilter(field_name="treatment")
    severity = choice_filter(AdverseEvent.Severity.choices)

    class Meta:
        model = AdverseEvent
        fields = ["chart", "treatment", "severity"]
