"""Pages of MSAs and the money under them (list / detail / create / edit each), built with the page
toolkit (tenants.pages): reads through management.selectors.agreements, writes through
management.services.agreements.

The MSA page shows its scope, fees, FMV opinion, clauses, standards, amendments, signed documents
and invoices with what is paid and open; it links the document generated from the record
(``msa-pdf``). Signed PDFs are uploaded on their own page and downloaded through the permission
layer. PC collections are entered one by one or imported from CSV (``collection-import``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, cast

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_GET, require_http_methods

from management.filters.agreements import (
    AgreementDocumentPageFilter,
    FeeInvoicePageFilter,
    FeePaymentPageFilter,
    MsaAmendmentPageFilter,
    MsaPageFilter,
    PcCollectionPageFilter,
    PerformanceStandardPageFilter,
)
from management.importers.collections import CollectionImporter
from management.models import (
    AgreementDocument,
    FeePayment,
    ManagementFeeInvoice,
    ManagementServicesAgreement,
    MsaAmendment,
    PcCollection,
    PerformanceStandard,
)
from management.procedures import ManagedService
from management.selectors import agreements as selectors
from management.services import agreements as services
from mso_platform.pdf import pdf_response
from tenants.access import AccessContext, check_still_visible
from tenants.capacities import ADD
from tenants.imports import run_import
from tenants.pages import Column, ObjectPages, ServiceForm, add_service_errors, html5_widgets
from tenants.views import page_of, tenant_page

TEMPLATES = "management/agreements"
NOT_FOUND = "No such page in your current capacity."


# --- forms ----------------------------------------------------------------------------------------


class AgreementForm(ServiceForm):
    """Choices of agreements and invoices named so a person can tell them apart (with their PC), and
    references that define a record shown but not editable on edit (the services refuse to move it)."""

    fixed_on_edit: ClassVar[Sequence[str]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ctx = self.ctx
        if "msa" in self.fields:
            msa_field: Any = self.fields["msa"]
            msa_field.queryset = selectors.msa_list(ctx)
            msa_field.label = "Agreement"
            msa_field.label_from_instance = lambda m: (
                f"{m.title} — {m.pc.legal_name} (from {m.effective_date})"
            )
        if "invoice" in self.fields:
            invoice_field: Any = self.fields["invoice"]
            invoice_field.queryset = selectors.fee_invoice_list(ctx)
            invoice_field.label_from_instance = lambda i: (
                f"{i.number} — {i.msa.pc.legal_name}, {i.period_start}: "
                f"{i.open_amount:,.2f} {i.currency} open"
            )
        if "pc" in self.fields:
            self.fields["pc"].label = "PC"
        # UUID primary keys are set on construction: "being added" is the state, not a missing pk.
        if not self.instance._state.adding:
            for name in self.fixed_on_edit:
                if name in self.fields:
                    self.fields[name].disabled = True


def form_for(
    model: type[models.Model],
    fields: Sequence[str],
    fixed: Sequence[str] = (),
    base: type[AgreementForm] = AgreementForm,
) -> type[ServiceForm]:
    parent = type(f"{model.__name__}FormBase", (base,), {"fixed_on_edit": tuple(fixed)})
    form = forms.modelform_factory(model, form=parent, fields=list(fields), formfield_callback=html5_widgets)
    return cast(type[ServiceForm], form)


class MsaForm(AgreementForm):
    services = forms.MultipleChoiceField(
        choices=ManagedService.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Services in scope",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        help_texts = {
            "fee_amount": "Fixed monthly: the monthly fee. Per unit: the fee per unit of service.",
            "fee_rate_percent": "Cost plus: the markup. Percentage of collections: the share.",
            "fee_unit": "Per unit only, e.g. “treatment”.",
            "fmv_low": "The independent appraiser's range for the monthly fee (MSA-004).",
            "counsel_reviewed_on": "Needed for a percentage-of-collections fee (MSA-003).",
            "governing_state": "Two letters; should match the PC's state (MSA-002).",
        }
        for name, text in help_texts.items():
            if name in self.fields:
                self.fields[name].help_text = text


class MonthInput(forms.DateInput):
    input_type = "month"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m")


class MonthFormField(forms.DateField):
    """A month picker (YYYY-MM); a full date is taken as its month (the service keeps the 1st)."""

    widget = MonthInput

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(input_formats=["%Y-%m", "%Y-%m-%d"], **kwargs)


class CollectionForm(AgreementForm):
    month = MonthFormField(label="Month", help_text="The month collected (YYYY-MM).")


class DocumentUploadForm(AgreementForm):
    file = forms.FileField(
        label="Signed PDF", help_text="The signed agreement or amendment as a PDF, at most 4 MB."
    )

    class Meta:
        model = AgreementDocument
        fields = ["msa", "amendment", "filename"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        amendment: Any = self.fields["amendment"]
        amendment.queryset = selectors.msa_amendment_list(self.ctx)
        amendment.required = False
        amendment.label_from_instance = lambda a: f"Amendment {a.number} of {a.msa.title}"
        self.fields["filename"].required = False
        self.fields["filename"].help_text = "Left blank: the uploaded file's name."
        self.fields["file"].widget.attrs["accept"] = "application/pdf,.pdf"


def document_upload(
    *, ctx: AccessContext, msa: ManagementServicesAgreement, file: Any, filename: str = "", **rest: Any
) -> AgreementDocument:
    """The upload form's data to the service: the file's bytes (its size was capped by the request
    limit) and its name when none is given."""
    content = file.read(services.MAX_DOCUMENT_BYTES + 1)
    name = filename or (file.name or "")[:200]
    return services.agreement_document_create(ctx=ctx, msa=msa, content=content, filename=name, **rest)


class UploadPages(ObjectPages):
    """ObjectPages whose create form takes a file (request.FILES)."""

    def create_view(self) -> Callable[..., HttpResponseBase]:
        @tenant_page
        @page_of(self.model)
        @require_http_methods(["GET", "POST"])
        def view(request: HttpRequest, ctx: AccessContext) -> HttpResponseBase:
            if not self.can_create(ctx):
                raise Http404(NOT_FOUND)
            data = request.POST if request.method == "POST" else None
            files = request.FILES if request.method == "POST" else None
            form = self.make_form(ctx, data, files=files, initial=request.GET.dict() or None)
            if request.method == "POST" and form.is_valid():
                assert self.create_service is not None
                try:
                    obj = self.create_service(ctx=ctx, **form.cleaned_data)
                except ValidationError as exc:
                    add_service_errors(form, exc)
                else:
                    check_still_visible(obj, ctx, ADD)
                    return redirect(self.url(ctx, "detail", obj))
            return self.render_form(request, ctx, form, obj=None)

        view.__name__ = view.__qualname__ = f"{self.name.replace('-', '_')}_create"
        return view


# --- Agreements -------------------------------------------------------------------------------------


def msa_context(ctx: AccessContext, msa: ManagementServicesAgreement) -> dict[str, Any]:
    document = selectors.msa_document(ctx, msa)
    invoices = document["invoices"]

    def add(pages: ObjectPages) -> str | None:
        return f"{pages.url(ctx, 'create')}?msa={msa.pk}" if pages.can_create(ctx) else None

    return {
        **document,
        "fee_terms": selectors.fee_terms_text(msa),
        "service_labels": selectors.service_labels(msa),
        "invoiced_total": sum((i.amount for i in invoices), services.ZERO),
        "paid_total": sum((i.paid_amount for i in invoices), services.ZERO),
        "open_total": sum((i.open_amount for i in invoices if i.status != "void"), services.ZERO),
        "add": {
            "standard": add(STANDARD_PAGES),
            "amendment": add(AMENDMENT_PAGES),
            "document": add(DOCUMENT_PAGES),
            "invoice": add(INVOICE_PAGES),
        },
    }


MSA_FIELDS = list(services.MSA_FIELDS)
MSA_PAGES = ObjectPages(
    model=ManagementServicesAgreement,
    name="msa",
    path="agreements",
    title="Management services agreements",
    help_text="Each MSA ties an MSO entity (the manager) to a PC (the clinical party): scope, fees, "
    "FMV opinion and the clauses the compliance rules read.",
    list_selector=selectors.msa_list,
    get_selector=selectors.msa_get,
    columns=[
        Column("Title", "title", link=True),
        Column("PC", "pc.legal_name"),
        Column("MSO entity", "mso_entity.legal_name"),
        Column("Fee basis", "fee_basis"),
        Column("Effective", "effective_date"),
        Column("Ends", "end_date"),
        Column("Signed", "signed_on"),
    ],
    fields=MSA_FIELDS,
    form_class=form_for(ManagementServicesAgreement, MSA_FIELDS, base=MsaForm),
    create_service=services.msa_create,
    update_service=services.msa_update,
    update_kwarg="msa",
    filterset_class=MsaPageFilter,
    detail_template=f"{TEMPLATES}/msa_detail.html",
    detail_context=msa_context,
)


@tenant_page
@page_of(ManagementServicesAgreement)
def msa_pdf(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
    """The MSA document generated from its record, as a PDF download."""
    msa = selectors.msa_get(ctx, pk)  # first: another tenant's id is a 404 whatever the method
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return pdf_response(selectors.msa_pdf(ctx, msa), f"{msa.title} {msa.effective_date}")


# --- Standards, amendments, documents -----------------------------------------------------------------

STANDARD_FIELDS = ["msa", "metric", "target"]
STANDARD_PAGES = ObjectPages(
    model=PerformanceStandard,
    name="msa-standard",
    path="agreement-standards",
    title="Performance standards",
    help_text="What the MSO is measured on under each agreement, and the target it must meet.",
    list_selector=selectors.performance_standard_list,
    get_selector=selectors.performance_standard_get,
    columns=[
        Column("Metric", "metric", link=True),
        Column("Target", "target"),
        Column("Agreement", "msa.title"),
        Column("PC", "msa.pc.legal_name"),
    ],
    fields=STANDARD_FIELDS,
    form_class=form_for(PerformanceStandard, STANDARD_FIELDS, fixed=["msa"]),
    create_service=services.performance_standard_create,
    update_service=services.performance_standard_update,
    update_kwarg="standard",
    filterset_class=PerformanceStandardPageFilter,
)

AMENDMENT_FIELDS = [
    "msa",
    "effective_date",
    "signed_on",
    "summary",
    "new_fee_basis",
    "new_fee_amount",
    "new_fee_rate_percent",
]
AMENDMENT_PAGES = ObjectPages(
    model=MsaAmendment,
    name="msa-amendment",
    path="agreement-amendments",
    title="Amendments",
    help_text="Signed changes to an agreement, numbered 1, 2, 3 … per agreement. A fee change without "
    "one is FEE-003.",
    list_selector=selectors.msa_amendment_list,
    get_selector=selectors.msa_amendment_get,
    columns=[
        Column("Amendment", "number", link=True),
        Column("Agreement", "msa.title"),
        Column("PC", "msa.pc.legal_name"),
        Column("Effective", "effective_date"),
        Column("Signed", "signed_on"),
        Column("New fee basis", "new_fee_basis"),
    ],
    detail_fields=[
        Column("Number", "number"),
        Column("Agreement", "msa.title"),
        Column("PC", "msa.pc.legal_name"),
        Column("Effective", "effective_date"),
        Column("Signed", "signed_on"),
        Column("Summary", "summary"),
        Column("New fee basis", "new_fee_basis"),
        Column("New fee amount", "new_fee_amount"),
        Column("New fee rate (%)", "new_fee_rate_percent"),
    ],
    fields=AMENDMENT_FIELDS,
    form_class=form_for(MsaAmendment, AMENDMENT_FIELDS, fixed=["msa"]),
    create_service=services.msa_amendment_create,
    update_service=services.msa_amendment_update,
    update_kwarg="amendment",
    filterset_class=MsaAmendmentPageFilter,
)

DOCUMENT_PAGES = UploadPages(
    model=AgreementDocument,
    name="msa-document",
    path="agreement-documents",
    title="Signed agreement documents",
    help_text="Signed PDFs of the agreements and their amendments, kept in the database.",
    list_selector=selectors.agreement_document_list,
    get_selector=selectors.agreement_document_meta_get,
    columns=[
        Column("File", "filename", link=True),
        Column("Agreement", "msa.title"),
        Column("PC", "msa.pc.legal_name"),
        Column("Amendment", "amendment.number"),
        Column("Size (bytes)", "size"),
        Column("Uploaded", "uploaded_at"),
    ],
    detail_fields=[
        Column("File", "filename"),
        Column("Agreement", "msa.title"),
        Column("PC", "msa.pc.legal_name"),
        Column("Amendment", "amendment.number"),
        Column("Size (bytes)", "size"),
        Column("SHA-256", "sha256"),
        Column("Uploaded", "uploaded_at"),
    ],
    fields=["msa", "amendment", "filename", "file"],
    form_class=DocumentUploadForm,
    create_service=document_upload,
    filterset_class=AgreementDocumentPageFilter,
    detail_template=f"{TEMPLATES}/document_detail.html",
    form_template=f"{TEMPLATES}/document_form.html",  # multipart: the form carries a file
)


@tenant_page
@page_of(AgreementDocument)
def document_download(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
    """The signed PDF as stored, fetched through the permission layer like any record."""
    document = selectors.agreement_document_get(ctx, pk)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    response = pdf_response(bytes(document.content), document.filename)
    response["X-Content-SHA256"] = document.sha256
    return response


# --- Invoices and payments ----------------------------------------------------------------------------


def invoice_context(ctx: AccessContext, invoice: ManagementFeeInvoice) -> dict[str, Any]:
    can_pay = FEE_PAYMENT_PAGES.can_create(ctx) and invoice.status in ("issued", "paid")
    return {
        "payments": selectors.invoice_with_payments(ctx, invoice),
        "add_payment": f"{FEE_PAYMENT_PAGES.url(ctx, 'create')}?invoice={invoice.pk}" if can_pay else None,
    }


INVOICE_FIELDS = [
    "msa",
    "number",
    "period_start",
    "period_end",
    "amount",
    "currency",
    "issued_on",
    "due_on",
    "status",
]
INVOICE_PAGES = ObjectPages(
    model=ManagementFeeInvoice,
    name="invoice",
    path="fee-invoices",
    title="Management-fee invoices",
    help_text="The MSO entity's invoices to each PC under its agreement, with what is paid and open.",
    list_selector=selectors.fee_invoice_list,
    get_selector=selectors.fee_invoice_get,
    columns=[
        Column("Number", "number", link=True),
        Column("PC", "msa.pc.legal_name"),
        Column("Period from", "period_start"),
        Column("Period to", "period_end"),
        Column("Amount", "amount"),
        Column("Paid", "paid_amount"),
        Column("Open", "open_amount"),
        Column("Status", "status"),
    ],
    detail_fields=[
        Column("Number", "number"),
        Column("Agreement", "msa.title"),
        Column("MSO entity", "msa.mso_entity.legal_name"),
        Column("PC", "msa.pc.legal_name"),
        Column("Period from", "period_start"),
        Column("Period to", "period_end"),
        Column("Amount", "amount"),
        Column("Currency", "currency"),
        Column("Paid", "paid_amount"),
        Column("Open", "open_amount"),
        Column("Issued", "issued_on"),
        Column("Due", "due_on"),
        Column("Status", "status"),
    ],
    fields=INVOICE_FIELDS,
    form_class=form_for(ManagementFeeInvoice, INVOICE_FIELDS, fixed=["msa"]),
    create_service=services.fee_invoice_create,
    update_service=services.fee_invoice_update,
    update_kwarg="invoice",
    filterset_class=FeeInvoicePageFilter,
    detail_template=f"{TEMPLATES}/invoice_detail.html",
    detail_context=invoice_context,
)

PAYMENT_FIELDS = ["invoice", "paid_on", "amount", "reference"]
FEE_PAYMENT_PAGES = ObjectPages(
    model=FeePayment,
    name="fee-payment",
    path="fee-payments",
    title="Management-fee payments",
    help_text="The PCs' payments of management-fee invoices; none may exceed an invoice's open amount.",
    list_selector=selectors.fee_payment_list,
    get_selector=selectors.fee_payment_get,
    columns=[
        Column("Paid on", "paid_on", link=True),
        Column("Invoice", "invoice.number"),
        Column("PC", "invoice.msa.pc.legal_name"),
        Column("Amount", "amount"),
        Column("Reference", "reference"),
    ],
    fields=PAYMENT_FIELDS,
    form_class=form_for(FeePayment, PAYMENT_FIELDS),
    create_service=services.fee_payment_create,
    update_service=services.fee_payment_update,
    update_kwarg="payment",
    filterset_class=FeePaymentPageFilter,
)


# --- PC collections -----------------------------------------------------------------------------------

COLLECTION_FIELDS = ["pc", "month", "amount", "currency"]
COLLECTION_PAGES = ObjectPages(
    model=PcCollection,
    name="collection",
    path="collections",
    title="PC collections",
    help_text="What each PC collected per month (one row per PC and month), entered here or imported "
    "from a CSV file. FEE-002 compares them with the fees invoiced.",
    list_selector=selectors.pc_collection_list,
    get_selector=selectors.pc_collection_get,
    columns=[
        Column("Month", "month", link=True),
        Column("PC", "pc.legal_name"),
        Column("Amount", "amount"),
        Column("Currency", "currency"),
        Column("Source", "source"),
    ],
    fields=COLLECTION_FIELDS,
    form_class=form_for(PcCollection, COLLECTION_FIELDS, base=CollectionForm),
    create_service=services.pc_collection_create,
    update_service=services.pc_collection_update,
    update_kwarg="collection",
    filterset_class=PcCollectionPageFilter,
    list_template=f"{TEMPLATES}/collection_list.html",
)


@tenant_page
@page_of(PcCollection)
@require_http_methods(["GET", "POST"])
def collection_import(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
    """Upload a CSV of monthly collections: every row is checked and reported, all are imported or
    none (tenants.imports). A capacity that may not record collections gets 404, like the create page."""
    if not COLLECTION_PAGES.can_create(ctx):
        raise Http404(NOT_FOUND)
    importer = CollectionImporter()
    context: dict[str, Any] = {
        "columns": importer.columns,
        "list_url": COLLECTION_PAGES.url(ctx, "list"),
        "result": None,
        "problem": "",
    }
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            context["problem"] = "Choose the CSV file to import."
            status = 400
        else:
            result = run_import(importer, ctx, upload)
            context["result"] = result
            status = 200 if result.ok else 400
    return render(request, f"{TEMPLATES}/collection_import.html", context, status=status)


@tenant_page
@page_of(PcCollection)
@require_GET
def collection_import_template(request: HttpRequest, ctx: AccessContext) -> HttpResponse:
    """The header row and an example row, as UTF-8 with a byte order mark so Excel reads it right."""
    response = HttpResponse(
        CollectionImporter.template_csv().encode("utf-8-sig"), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="pc-collections-template.csv"'
    return response


def _urls() -> list[URLPattern]:
    # Fixed paths before the toolkit's <pk> patterns of the same prefix.
    return [
        path("collections/import/", collection_import, name="collection-import"),
        path(
            "collections/import/template.csv", collection_import_template, name="collection-import-template"
        ),
        *MSA_PAGES.urls(),
        path("agreements/<str:pk>/pdf/", msa_pdf, name="msa-pdf"),
        *STANDARD_PAGES.urls(),
        *AMENDMENT_PAGES.urls(),
        *DOCUMENT_PAGES.urls(),
        path("agreement-documents/<str:pk>/download/", document_download, name="msa-document-download"),
        *INVOICE_PAGES.urls(),
        *FEE_PAYMENT_PAGES.urls(),
        *COLLECTION_PAGES.urls(),
    ]


urlpatterns = _urls()
