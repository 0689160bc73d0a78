"""API of MSAs and the money under them: serializers and viewsets.

Scoping and permissions are settled by the base viewset (tenants.api.viewsets); writes go through
management.services.agreements. Two read actions return PDFs instead of JSON: the MSA document
generated from its record (``GET /msas/<id>/pdf/``) and a signed document's bytes
(``GET /agreement-documents/<id>/download/``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request

from management.filters.agreements import (
    AgreementDocumentFilter,
    FeeInvoiceFilter,
    FeePaymentFilter,
    MsaAmendmentFilter,
    MsaFilter,
    PcCollectionFilter,
    PerformanceStandardFilter,
)
from management.models import (
    AgreementDocument,
    FeeBasis,
    FeePayment,
    ManagementFeeInvoice,
    ManagementServicesAgreement,
    MsaAmendment,
    MsoEntity,
    PcCollection,
    PerformanceStandard,
    ProfessionalCorporation,
)
from management.procedures import ManagedService
from management.selectors import agreements as selectors
from management.services import agreements as services
from mso_platform.pdf import pdf_response
from tenants.api.fields import ScopedPrimaryKeyRelatedField
from tenants.api.viewsets import ReadCreateTenantViewSet, ReadWriteTenantViewSet
from tenants.capacities import VIEW

PDF_RESPONSE = OpenApiResponse(
    response=OpenApiTypes.BINARY, description="The PDF itself (Content-Type: application/pdf)."
)


# --- fields --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    content: bytes
    name: str


@extend_schema_field(
    {
        "type": "string",
        "format": "binary",
        "description": "The signed PDF (at most 4 MB): a file part of a multipart/form-data upload, "
        "or the file's bytes as base64 text in a JSON body.",
    }
)
class PdfUploadField(serializers.Field):
    """A PDF uploaded as a multipart file part, or sent as base64 text in JSON.

    Not a CharField: its value is bytes, never text stored or shown. Whether the bytes are a PDF
    (and small enough) is the service's check, so every way in gives the same message.
    """

    default_error_messages = {
        "invalid": "Send the file as a multipart file part, or as base64 text in JSON.",
        "too_large": "The file is larger than 4 MB, the limit for a document.",
    }

    def to_internal_value(self, data: Any) -> Upload:
        limit = services.MAX_DOCUMENT_BYTES
        if isinstance(data, UploadedFile):
            if (data.size or 0) > limit:
                self.fail("too_large")
            return Upload(content=data.read(limit + 1), name=(data.name or "")[:200])
        if not isinstance(data, str):
            self.fail("invalid")
        if len(data) > limit * 4 // 3 + 8:
            self.fail("too_large")
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            self.fail("invalid")
        return Upload(content=content, name="")

    def to_representation(self, value: Any) -> None:
        return None  # write-only: the bytes come back through …/download/


class MonthField(serializers.DateField):
    """A month as ``YYYY-MM`` (or any date inside it, ``YYYY-MM-DD``); stored as the month's 1st."""

    def to_internal_value(self, value: Any) -> dt.date:
        if isinstance(value, str) and len(value.strip()) == 7:
            value = f"{value.strip()}-01"
        return services.month_start(super().to_internal_value(value))


def _scoped(model: type[models.Model], **kwargs: Any) -> ScopedPrimaryKeyRelatedField:
    return ScopedPrimaryKeyRelatedField(queryset=model._default_manager.all(), **kwargs)


# --- serializers ---------------------------------------------------------------------------------


class MsaSerializer(serializers.ModelSerializer[ManagementServicesAgreement]):
    mso_entity = _scoped(MsoEntity)
    pc = _scoped(ProfessionalCorporation)
    services = serializers.ListField(
        child=serializers.ChoiceField(choices=ManagedService.choices),
        required=False,
        max_length=50,
        help_text="Services in scope (codes of ManagedService).",
    )

    class Meta:
        model = ManagementServicesAgreement
        fields = ["id", *services.MSA_FIELDS]
        read_only_fields = ["id"]
        validators: list[Any] = []  # the service validates; no unscoped lookups from the serializer


class PerformanceStandardSerializer(serializers.ModelSerializer[PerformanceStandard]):
    msa = _scoped(ManagementServicesAgreement)

    class Meta:
        model = PerformanceStandard
        fields = ["id", "msa", "metric", "target"]
        read_only_fields = ["id"]
        validators: list[Any] = []


class MsaAmendmentSerializer(serializers.ModelSerializer[MsaAmendment]):
    msa = _scoped(ManagementServicesAgreement)
    number = serializers.IntegerField(
        required=False, min_value=1, help_text="Left out: the next number of the agreement."
    )
    new_fee_basis = serializers.ChoiceField(choices=FeeBasis.choices, required=False, allow_blank=True)

    class Meta:
        model = MsaAmendment
        fields = [
            "id",
            "msa",
            "number",
            "effective_date",
            "signed_on",
            "summary",
            "new_fee_basis",
            "new_fee_amount",
            "new_fee_rate_percent",
        ]
        read_only_fields = ["id"]
        validators: list[Any] = []


class AgreementDocumentSerializer(serializers.ModelSerializer[AgreementDocument]):
    msa = _scoped(ManagementServicesAgreement)
    amendment = _scoped(MsaAmendment, required=False, allow_null=True)
    file = PdfUploadField(write_only=True)
    filename = serializers.CharField(
        max_length=200, required=False, help_text="Left out: the uploaded file's name."
    )

    class Meta:
        model = AgreementDocument
        fields = ["id", "msa", "amendment", "file", "filename", "sha256", "size", "uploaded_at"]
        read_only_fields = ["id", "sha256", "size", "uploaded_at"]
        validators: list[Any] = []


class FeeInvoiceSerializer(serializers.ModelSerializer[ManagementFeeInvoice]):
    msa = _scoped(ManagementServicesAgreement)
    paid_amount = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)
    open_amount = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)

    class Meta:
        model = ManagementFeeInvoice
        fields = [
            "id",
            "msa",
            "number",
            "period_start",
            "period_end",
            "amount",
            "currency",
            "issued_on",
            "due_on",
            "status",
            "paid_amount",
            "open_amount",
        ]
        read_only_fields = ["id"]
        validators: list[Any] = []


class FeePaymentSerializer(serializers.ModelSerializer[FeePayment]):
    invoice = _scoped(ManagementFeeInvoice)

    class Meta:
        model = FeePayment
        fields = ["id", "invoice", "paid_on", "amount", "reference"]
        read_only_fields = ["id"]
        validators: list[Any] = []


class PcCollectionSerializer(serializers.ModelSerializer[PcCollection]):
    pc = _scoped(ProfessionalCorporation)
    month = MonthField(help_text="YYYY-MM (a full date is taken as its month).")

    class Meta:
        model = PcCollection
        fields = ["id", "pc", "month", "amount", "currency", "source"]
        read_only_fields = ["id", "source"]
        validators: list[Any] = []


# --- viewsets ------------------------------------------------------------------------------------


class MsaViewSet(ReadWriteTenantViewSet[ManagementServicesAgreement]):
    """Management Services Agreements between an MSO entity and a PC; ``…/pdf/`` renders the document."""

    queryset = ManagementServicesAgreement.objects.select_related("mso_entity", "pc")
    serializer_class = MsaSerializer
    filterset_class = MsaFilter
    ordering_fields = ["effective_date", "end_date", "title"]
    extra_actions = {"pdf": VIEW}

    def create_object(self, data: dict[str, Any]) -> ManagementServicesAgreement:
        return services.msa_create(ctx=self.access, **data)

    def update_object(
        self, obj: ManagementServicesAgreement, data: dict[str, Any]
    ) -> ManagementServicesAgreement:
        return services.msa_update(ctx=self.access, msa=obj, **data)

    @extend_schema(responses={(200, "application/pdf"): PDF_RESPONSE}, filters=False)
    @action(detail=True, methods=["get"], url_path="pdf", pagination_class=None, filterset_class=None)
    def pdf(self, request: Request, pk: str | None = None) -> Any:
        """The MSA document generated from the record (parties, term, scope, fees, clauses …)."""
        msa = self.get_object()
        return pdf_response(selectors.msa_pdf(self.access, msa), f"{msa.title} {msa.effective_date}")


class PerformanceStandardViewSet(ReadWriteTenantViewSet[PerformanceStandard]):
    """Performance standards (metric, target) the MSO is held to under an MSA."""

    queryset = PerformanceStandard.objects.select_related("msa")
    serializer_class = PerformanceStandardSerializer
    filterset_class = PerformanceStandardFilter
    ordering_fields = ["metric"]

    def create_object(self, data: dict[str, Any]) -> PerformanceStandard:
        return services.performance_standard_create(ctx=self.access, **data)

    def update_object(self, obj: PerformanceStandard, data: dict[str, Any]) -> PerformanceStandard:
        return services.performance_standard_update(ctx=self.access, standard=obj, **data)


class MsaAmendmentViewSet(ReadWriteTenantViewSet[MsaAmendment]):
    """Signed amendments of an MSA, numbered 1, 2, 3 … per agreement."""

    queryset = MsaAmendment.objects.select_related("msa")
    serializer_class = MsaAmendmentSerializer
    filterset_class = MsaAmendmentFilter
    ordering_fields = ["number", "effective_date"]

    def create_object(self, data: dict[str, Any]) -> MsaAmendment:
        return services.msa_amendment_create(ctx=self.access, **data)

    def update_object(self, obj: MsaAmendment, data: dict[str, Any]) -> MsaAmendment:
        return services.msa_amendment_update(ctx=self.access, amendment=obj, **data)


class AgreementDocumentViewSet(ReadCreateTenantViewSet[AgreementDocument]):
    """Signed PDFs of MSAs and amendments. Upload as multipart (``file``) or base64 JSON; the bytes
    come back from ``…/download/`` as application/pdf. Documents are never changed, only added."""

    queryset = AgreementDocument.objects.all()
    serializer_class = AgreementDocumentSerializer
    filterset_class = AgreementDocumentFilter
    ordering_fields = ["uploaded_at", "filename"]
    extra_actions = {"download": VIEW}

    def base_queryset(self) -> models.QuerySet[AgreementDocument]:
        base = super().base_queryset()
        # Only a download needs the bytes: lists and details never load them.
        return base if self.action == "download" else base.defer("content")

    def create_object(self, data: dict[str, Any]) -> AgreementDocument:
        upload: Upload = data.pop("file")
        filename = data.pop("filename", "") or upload.name
        return services.agreement_document_create(
            ctx=self.access, content=upload.content, filename=filename, **data
        )

    @extend_schema(responses={(200, "application/pdf"): PDF_RESPONSE}, filters=False)
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def download(self, request: Request, pk: str | None = None) -> Any:
        """The signed PDF as stored (its SHA-256 is in the record)."""
        document = self.get_object()
        response = pdf_response(bytes(document.content), document.filename)
        response["X-Content-SHA256"] = document.sha256
        return response


class FeeInvoiceViewSet(ReadWriteTenantViewSet[ManagementFeeInvoice]):
    """Management-fee invoices (MSO → PC) with what is paid and what is open."""

    queryset = selectors.with_paid_amounts(
        ManagementFeeInvoice.objects.select_related("msa", "msa__pc", "msa__mso_entity")
    )
    serializer_class = FeeInvoiceSerializer
    filterset_class = FeeInvoiceFilter
    ordering_fields = ["period_start", "number", "amount", "status"]

    def create_object(self, data: dict[str, Any]) -> ManagementFeeInvoice:
        invoice = services.fee_invoice_create(ctx=self.access, **data)
        return self._with_amounts(invoice)

    def update_object(self, obj: ManagementFeeInvoice, data: dict[str, Any]) -> ManagementFeeInvoice:
        invoice = services.fee_invoice_update(ctx=self.access, invoice=obj, **data)
        return self._with_amounts(invoice)

    def _with_amounts(self, invoice: ManagementFeeInvoice) -> ManagementFeeInvoice:
        # The response shows paid/open amounts: read them back like the list does.
        return self.base_queryset().get(pk=invoice.pk)


class FeePaymentViewSet(ReadWriteTenantViewSet[FeePayment]):
    """The PC's payments of management-fee invoices; none may exceed an invoice's open amount."""

    queryset = FeePayment.objects.select_related("invoice")
    serializer_class = FeePaymentSerializer
    filterset_class = FeePaymentFilter
    ordering_fields = ["paid_on", "amount"]

    def create_object(self, data: dict[str, Any]) -> FeePayment:
        return services.fee_payment_create(ctx=self.access, **data)

    def update_object(self, obj: FeePayment, data: dict[str, Any]) -> FeePayment:
        return services.fee_payment_update(ctx=self.access, payment=obj, **data)


class PcCollectionViewSet(ReadWriteTenantViewSet[PcCollection]):
    """What each PC collected per month (one row per PC and month; entered here or imported as CSV)."""

    queryset = PcCollection.objects.select_related("pc")
    serializer_class = PcCollectionSerializer
    filterset_class = PcCollectionFilter
    ordering_fields = ["month", "amount"]

    def create_object(self, data: dict[str, Any]) -> PcCollection:
        return services.pc_collection_create(ctx=self.access, **data)

    def update_object(self, obj: PcCollection, data: dict[str, Any]) -> PcCollection:
        return services.pc_collection_update(ctx=self.access, collection=obj, **data)
