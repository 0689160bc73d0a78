"""API of charts and what is in them: clinical keys only; every record a response shows is audit-logged.

Lists log the page they return in one insert (query counts stay flat); a retrieve, a create and an
update log the record they return. A record never moves to another chart (or a chart to another PC):
such a change is a 400, the record is re-entered where it belongs instead.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from clinical import selectors, services
from clinical.filters import (
    AdverseEventFilter,
    ChartReviewFilter,
    GoodFaithExamFilter,
    PatientChartFilter,
    PhotoAuthorizationFilter,
    SignedConsentFilter,
    TreatmentFilter,
    TreatmentPhotoFilter,
    TreatmentProductFilter,
)
from clinical.models import (
    AdverseEvent,
    ChartReview,
    ConsentFormVersion,
    GoodFaithExam,
    PatientChart,
    PhotoAuthorization,
    SignedConsent,
    Treatment,
    TreatmentPhoto,
    TreatmentProduct,
)
from clinical.selectors import charts as q
from management.models import Client, Location, ProfessionalCorporation, Provider
from management.procedures import Procedure
from mso_platform.pdf import pdf_response
from tenants.api.fields import ScopedPrimaryKeyRelatedField
from tenants.api.viewsets import ReadCreateTenantViewSet, ReadWriteTenantViewSet

# The column is unbounded text; through the API a chart's allergies are a note, not a document.
ALLERGIES_MAX_LENGTH = 10_000


def keep(obj: models.Model, data: dict[str, Any], field: str, message: str) -> None:
    """A reference that cannot change on update: repeating it is fine, another value is a 400."""
    if field in data:
        value = data.pop(field)
        if getattr(value, "pk", value) != getattr(obj, f"{field}_id"):
            raise ValidationError({field: message})


def scoped(model: type[models.Model], **kwargs: Any) -> Any:
    return ScopedPrimaryKeyRelatedField(queryset=model._default_manager.all(), **kwargs)


def procedures_field(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=serializers.ChoiceField(choices=Procedure.choices), **kwargs)


# --- serializers ---------------------------------------------------------------------------------


class PatientChartSerializer(serializers.ModelSerializer[PatientChart]):
    pc = scoped(ProfessionalCorporation)
    home_location = scoped(Location)
    client = scoped(Client, required=False, allow_null=True)
    allergies = serializers.CharField(max_length=ALLERGIES_MAX_LENGTH, allow_blank=True, required=False)

    class Meta:
        model = PatientChart
        fields = [
            "id",
            "pc",
            "home_location",
            "client",
            "medical_record_number",
            "patient_name",
            "date_of_birth",
            "allergies",
            "destroyed_on",
        ]
        read_only_fields = ["id"]


class GoodFaithExamSerializer(serializers.ModelSerializer[GoodFaithExam]):
    chart = scoped(PatientChart)
    examiner = scoped(Provider)
    examiner_name = serializers.CharField(source="examiner.full_name", read_only=True)
    approved_procedures = procedures_field(allow_empty=False)
    valid_until = serializers.DateField(required=False)

    class Meta:
        model = GoodFaithExam
        fields = [
            "id",
            "chart",
            "examiner",
            "examiner_name",
            "examined_on",
            "via_telehealth",
            "telehealth_consent",
            "medical_indication",
            "approved_procedures",
            "valid_until",
        ]
        read_only_fields = ["id"]


class ProductLineSerializer(serializers.ModelSerializer[TreatmentProduct]):
    """A product line inside a treatment (written with the treatment it belongs to)."""

    class Meta:
        model = TreatmentProduct
        fields = ["id", "product_name", "lot_number", "expires_on", "quantity", "unit"]
        read_only_fields = ["id"]


class PhotoLineSerializer(serializers.ModelSerializer[TreatmentPhoto]):
    class Meta:
        model = TreatmentPhoto
        fields = ["id", "kind", "taken_at", "description", "used_outside_chart", "authorization"]
        read_only_fields = fields


class TreatmentSerializer(serializers.ModelSerializer[Treatment]):
    chart = scoped(PatientChart)
    location = scoped(Location)
    performer = scoped(Provider)
    supervisor = scoped(Provider, required=False, allow_null=True)
    good_faith_exam = scoped(GoodFaithExam, required=False, allow_null=True)
    consent = scoped(SignedConsent, required=False, allow_null=True)
    performer_name = serializers.CharField(source="performer.full_name", read_only=True)
    products = ProductLineSerializer(
        many=True, required=False, help_text="Written on create only; later at /api/v1/treatment-products/."
    )
    photos = PhotoLineSerializer(many=True, read_only=True)

    class Meta:
        model = Treatment
        fields = [
            "id",
            "chart",
            "location",
            "procedure",
            "performer",
            "performer_name",
            "supervisor",
            "performed_at",
            "good_faith_exam",
            "consent",
            "notes",
            "charted_at",
            "products",
            "photos",
        ]
        read_only_fields = ["id"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance is not None:  # product lines are corrected at their own endpoint
            self.fields["products"].read_only = True


class TreatmentProductSerializer(serializers.ModelSerializer[TreatmentProduct]):
    treatment = scoped(Treatment)

    class Meta:
        model = TreatmentProduct
        fields = ["id", "treatment", "product_name", "lot_number", "expires_on", "quantity", "unit"]
        read_only_fields = ["id"]


class TreatmentPhotoSerializer(serializers.ModelSerializer[TreatmentPhoto]):
    treatment = scoped(Treatment)
    authorization = scoped(PhotoAuthorization, required=False, allow_null=True)

    class Meta:
        model = TreatmentPhoto
        fields = ["id", "treatment", "kind", "taken_at", "description", "used_outside_chart", "authorization"]
        read_only_fields = ["id"]


class PhotoAuthorizationSerializer(serializers.ModelSerializer[PhotoAuthorization]):
    chart = scoped(PatientChart)

    class Meta:
        model = PhotoAuthorization
        fields = ["id", "chart", "signed_on", "purpose", "expires_on", "revoked_on"]
        read_only_fields = ["id"]


class SignedConsentSerializer(serializers.ModelSerializer[SignedConsent]):
    chart = scoped(PatientChart)
    form_version = scoped(ConsentFormVersion)
    form_title = serializers.CharField(source="form_version.title", read_only=True)
    form_version_number = serializers.IntegerField(source="form_version.number", read_only=True)
    signer_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    signed_at = serializers.DateTimeField(required=False)
    witnessed_by = serializers.UUIDField(source="witnessed_by_id", read_only=True)

    class Meta:
        model = SignedConsent
        fields = [
            "id",
            "chart",
            "form_version",
            "form_title",
            "form_version_number",
            "signed_at",
            "signer_name",
            "witnessed_by",
        ]
        read_only_fields = ["id"]


class ChartReviewSerializer(serializers.ModelSerializer[ChartReview]):
    chart = scoped(PatientChart)
    reviewer = scoped(Provider)

    class Meta:
        model = ChartReview
        fields = ["id", "chart", "reviewer", "reviewed_on", "findings", "follow_up_needed"]
        read_only_fields = ["id"]


class AdverseEventSerializer(serializers.ModelSerializer[AdverseEvent]):
    chart = scoped(PatientChart)
    treatment = scoped(Treatment, required=False, allow_null=True)

    class Meta:
        model = AdverseEvent
        fields = [
            "id",
            "chart",
            "treatment",
            "occurred_at",
            "severity",
            "description",
            "actions_taken",
            "physician_notified_at",
        ]
        read_only_fields = ["id"]


# --- viewsets ------------------------------------------------------------------------------------


# The API's serializers render related records as ids, so its querysets join only what a serializer
# names (an examiner's name, a form's title); the selectors' charts(), exams()... join what the
# pages show.


class LoggedReadsMixin:
    """Logs every clinical record a response shows (one entry per record type, at commit)."""

    access: Any

    def paginate_queryset(self, queryset: Any) -> list[Any] | None:
        page = super().paginate_queryset(queryset)  # type: ignore[misc]
        rows = list(page) if page is not None else list(queryset)
        selectors.log_reads(self.access, [r for row in rows for r in q.shown_with(row)])
        return page

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()  # type: ignore[attr-defined]
        selectors.log_reads(self.access, q.shown_with(obj))
        return Response(self.get_serializer(obj).data)  # type: ignore[attr-defined]

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        super().perform_create(serializer)  # type: ignore[misc]
        selectors.log_reads(self.access, q.shown_with(serializer.instance))

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        super().perform_update(serializer)  # type: ignore[misc]
        selectors.log_reads(self.access, q.shown_with(serializer.instance))


class PatientChartViewSet(ReadWriteTenantViewSet[PatientChart]):
    """Patient charts of the PCs the key's membership is granted. Business keys get 404."""

    queryset = PatientChart.objects.all()
    serializer_class = PatientChartSerializer
    filterset_class = PatientChartFilter
    ordering_fields = ["patient_name", "medical_record_number", "date_of_birth"]

    # The read log is written out here (not through LoggedReadsMixin): bench/views.py measures this
    # endpoint with and without it by skipping this very method.
    def paginate_queryset(self, queryset: Any) -> list[Any] | None:
        page = super().paginate_queryset(queryset)
        # Log exactly the charts this response shows (one entry; query count stays flat).
        selectors.log_reads(self.access, list(page) if page is not None else list(queryset))
        return page

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        chart = self.get_object()
        selectors.log_reads(self.access, [chart])
        return Response(self.get_serializer(chart).data)

    def create_object(self, data: dict[str, Any]) -> PatientChart:
        if data.pop("destroyed_on", None) is not None:
            raise ValidationError({"destroyed_on": "A new chart is not destroyed; record that on the chart."})
        return services.patient_chart_create(ctx=self.access, **data)

    def update_object(self, obj: PatientChart, data: dict[str, Any]) -> PatientChart:
        keep(obj, data, "pc", "A chart stays with its PC; open a chart at the other PC instead.")
        return services.patient_chart_update(ctx=self.access, chart=obj, **data)

    def perform_create(self, serializer: BaseSerializer[PatientChart]) -> None:
        super().perform_create(serializer)
        assert serializer.instance is not None
        selectors.log_reads(
            self.access, [serializer.instance]
        )  # the created chart is returned, so it is read

    def perform_update(self, serializer: BaseSerializer[PatientChart]) -> None:
        super().perform_update(serializer)
        assert serializer.instance is not None
        selectors.log_reads(self.access, [serializer.instance])


class GoodFaithExamViewSet(LoggedReadsMixin, ReadWriteTenantViewSet[GoodFaithExam]):
    """Good-faith exams (B&P 2242) in the charts of the key's PCs."""

    queryset = GoodFaithExam.objects.select_related("examiner")
    serializer_class = GoodFaithExamSerializer
    filterset_class = GoodFaithExamFilter
    ordering_fields = ["examined_on", "valid_until"]

    def create_object(self, data: dict[str, Any]) -> GoodFaithExam:
        return services.good_faith_exam_create(ctx=self.access, **data)

    def update_object(self, obj: GoodFaithExam, data: dict[str, Any]) -> GoodFaithExam:
        keep(obj, data, "chart", "An exam stays in its chart.")
        return services.good_faith_exam_update(ctx=self.access, exam=obj, **data)


class TreatmentViewSet(LoggedReadsMixin, ReadWriteTenantViewSet[Treatment]):
    """Treatments with their product lots and photos. Products may be given on create."""

    queryset = q.treatments_shown().select_related("performer")
    serializer_class = TreatmentSerializer
    filterset_class = TreatmentFilter
    ordering_fields = ["performed_at", "procedure"]

    def create_object(self, data: dict[str, Any]) -> Treatment:
        return services.treatment_create(ctx=self.access, **data)

    def update_object(self, obj: Treatment, data: dict[str, Any]) -> Treatment:
        keep(obj, data, "chart", "A treatment stays in its chart.")
        return services.treatment_update(ctx=self.access, treatment=obj, **data)


class TreatmentProductViewSet(LoggedReadsMixin, ReadWriteTenantViewSet[TreatmentProduct]):
    """Products and lot numbers used in treatments."""

    queryset = TreatmentProduct.objects.all()
    serializer_class = TreatmentProductSerializer
    filterset_class = TreatmentProductFilter
    ordering_fields = ["product_name", "lot_number", "expires_on"]

    def create_object(self, data: dict[str, Any]) -> TreatmentProduct:
        return services.treatment_product_create(ctx=self.access, **data)

    def update_object(self, obj: TreatmentProduct, data: dict[str, Any]) -> TreatmentProduct:
        keep(obj, data, "treatment", "A product line stays with its treatment.")
        return services.treatment_product_update(ctx=self.access, product=obj, **data)


class TreatmentPhotoViewSet(LoggedReadsMixin, ReadWriteTenantViewSet[TreatmentPhoto]):
    """Before/after photos of treatments; use outside the chart needs an authorization (CON-002)."""

    queryset = TreatmentPhoto.objects.all()
    serializer_class = TreatmentPhotoSerializer
    filterset_class = TreatmentPhotoFilter
    ordering_fields = ["taken_at"]

    def create_object(self, data: dict[str, Any]) -> TreatmentPhoto:
        return services.treatment_photo_create(ctx=self.access, **data)

    def update_object(self, obj: TreatmentPhoto, data: dict[str, Any]) -> TreatmentPhoto:
        keep(obj, data, "treatment", "A photo stays with its treatment.")
        return services.treatment_photo_update(ctx=self.access, photo=obj, **data)


class PhotoAuthorizationViewSet(LoggedReadsMixin, ReadWriteTenantViewSet[PhotoAuthorization]):
    """Patients' authorizations to use their photos outside the chart (HIPAA 164.508)."""

    queryset = PhotoAuthorization.objects.all()
    serializer_class = PhotoAuthorizationSerializer
    filterset_class = PhotoAuthorizationFilter
    ordering_fields = ["signed_on"]

    def create_object(self, data: dict[str, Any]) -> PhotoAuthorization:
        if data.pop("revoked_on", None) is not None:
            raise ValidationError(
                {"revoked_on": "Record a revocation on the authorization once it is recorded."}
            )
        return services.photo_authorization_create(ctx=self.access, **data)

    def update_object(self, obj: PhotoAuthorization, data: dict[str, Any]) -> PhotoAuthorization:
        keep(obj, data, "chart", "An authorization stays in its chart.")
        return services.photo_authorization_update(ctx=self.access, authorization=obj, **data)


class SignedConsentViewSet(LoggedReadsMixin, ReadCreateTenantViewSet[SignedConsent]):
    """Signatures on approved consent-form versions; never edited. ``…/pdf/`` is the signed document."""

    queryset = SignedConsent.objects.select_related("form_version")
    serializer_class = SignedConsentSerializer
    filterset_class = SignedConsentFilter
    ordering_fields = ["signed_at"]

    def create_object(self, data: dict[str, Any]) -> SignedConsent:
        return services.signed_consent_create(ctx=self.access, **data)

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF.")}
    )
    @action(detail=True, methods=["get"], url_path="pdf", url_name="pdf-file")
    def pdf(self, request: Request, pk: str | None = None) -> HttpResponse:
        """The signed consent as a PDF (PC, patient, form version and text, signer, time, witness)."""
        pdf, filename = selectors.signed_consent_pdf(self.access, self.get_object())
        return pdf_response(pdf, filename)


class ChartReviewViewSet(LoggedReadsMixin, ReadWriteTenantViewSet[ChartReview]):
    """The medical director's chart reviews (CHT-002)."""

    queryset = ChartReview.objects.all()
    serializer_class = ChartReviewSerializer
    filterset_class = ChartReviewFilter
    ordering_fields = ["reviewed_on"]

    def create_object(self, data: dict[str, Any]) -> ChartReview:
        return services.chart_review_create(ctx=self.access, **data)

    def update_object(self, obj: ChartReview, data: dict[str, Any]) -> ChartReview:
        keep(obj, data, "chart", "A review stays with its chart.")
        return services.chart_review_update(ctx=self.access, review=obj, **data)


class AdverseEventViewSet(LoggedReadsMixin, ReadWriteTenantViewSet[AdverseEvent]):
    """Adverse events of patients, with the treatment they followed."""

    queryset = AdverseEvent.objects.all()
    serializer_class = AdverseEventSerializer
    filterset_class = AdverseEventFilter
    ordering_fields = ["occurred_at", "severity"]

    def create_object(self, data: dict[str, Any]) -> AdverseEvent:
        return services.adverse_event_create(ctx=self.access, **data)

    def update_object(self, obj: AdverseEvent, data: dict[str, Any]) -> AdverseEvent:
        keep(obj, data, "chart", "An adverse event stays in its chart.")
        return services.adverse_event_update(ctx=self.access, event=obj, **data)
