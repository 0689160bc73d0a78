"""Workforce pages (list / detail / create / edit each, tenants.pages): vendors and BAAs, staff and their
training, providers and their credentials; and the provider CSV import.

Reads go through management.selectors.workforce, writes through management.services.workforce. The
provider list shows each provider's soonest credential expiry with a badge for 30/60/90 days
(LIC-002); the provider page lists every credential on file with its own badge.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from management.filters.workforce import (
    BusinessAssociateAgreementPageFilter,
    ProviderPageFilter,
    StaffMemberPageFilter,
    TrainingRecordPageFilter,
    VendorPageFilter,
)
from management.importers.providers import ProviderImporter
from management.models import BusinessAssociateAgreement, Provider, StaffMember, TrainingRecord, Vendor
from management.selectors import frontdesk as frontdesk_selectors
from management.selectors import workforce as selectors
from management.services import workforce as services
from tenants.access import AccessContext, may
from tenants.capacities import ADD
from tenants.imports import Importer, run_import
from tenants.models import Membership
from tenants.pages import Column, ObjectPages, ServiceForm, html5_widgets
from tenants.views import page_of, tenant_page

TEMPLATES = "management/workforce"
NOT_FOUND = "No such page in your current capacity."


def form_for(
    model: type[models.Model], fields: list[str], base: type[ServiceForm] = ServiceForm
) -> type[ServiceForm]:
    form = forms.modelform_factory(model, form=base, fields=fields, formfield_callback=html5_widgets)
    return cast(type[ServiceForm], form)


def add_link(pages: ObjectPages, ctx: AccessContext, **initial: Any) -> str | None:
    """The create page of `pages`, prefilled with `initial`, when the capacity may create there."""
    if not pages.can_create(ctx):
        return None
    query = "&".join(f"{k}={v}" for k, v in initial.items())
    return f"{pages.url(ctx, 'create')}{'?' + query if query else ''}"


# --- Vendors and BAAs ----------------------------------------------------------------------------


def vendor_context(ctx: AccessContext, vendor: Vendor) -> dict[str, Any]:
    return {
        "baas": selectors.baa_list(ctx).filter(vendor=vendor),
        "has_current_baa": selectors.vendor_has_current_baa(vendor),
        "add_baa_url": add_link(BAA_PAGES, ctx, vendor=vendor.pk),
    }


VENDOR_FIELDS = ["name", "service", "handles_phi", "fee_basis", "fee_amount"]
VENDOR_PAGES = ObjectPages(
    model=Vendor,
    name="vendor",
    path="vendors",
    title="Vendors",
    help_text="Vendors of the MSO. Those that handle PHI need a business associate agreement in force.",
    list_selector=selectors.vendor_list,
    get_selector=selectors.vendor_get,
    columns=[
        Column("Name", "name", link=True),
        Column("Service", "service"),
        Column("Handles PHI", "handles_phi"),
        Column("BAA in force", "has_current_baa"),
        Column("Fee basis", "fee_basis"),
        Column("Fee", "fee_amount"),
    ],
    detail_fields=[
        Column("Name", "name"),
        Column("Service", "service"),
        Column("Handles PHI", "handles_phi"),
        Column("Fee basis", "fee_basis"),
        Column("Fee amount (or % of revenue)", "fee_amount"),
    ],
    fields=VENDOR_FIELDS,
    create_service=services.vendor_create,
    update_service=services.vendor_update,
    update_kwarg="vendor",
    filterset_class=VendorPageFilter,
    detail_template=f"{TEMPLATES}/vendor_detail.html",
    detail_context=vendor_context,
)

BAA_FIELDS = ["vendor", "signed_on", "expires_on", "document_reference"]
BAA_PAGES = ObjectPages(
    model=BusinessAssociateAgreement,
    name="business-associate-agreement",
    path="business-associate-agreements",
    title="Business associate agreements",
    help_text="HIPAA business associate agreements signed with vendors that handle PHI.",
    list_selector=selectors.baa_list,
    get_selector=selectors.baa_get,
    columns=[
        Column("Signed", "signed_on", link=True),
        Column("Vendor", "vendor.name"),
        Column("Expires", "expires_on"),
        Column("Document", "document_reference"),
    ],
    detail_fields=[
        Column("Vendor", "vendor.name"),
        Column("Signed", "signed_on"),
        Column("Expires", "expires_on"),
        Column("Document reference", "document_reference"),
    ],
    fields=BAA_FIELDS,
    form_class=form_for(BusinessAssociateAgreement, BAA_FIELDS),
    create_service=services.baa_create,
    update_service=services.baa_update,
    update_kwarg="baa",
    filterset_class=BusinessAssociateAgreementPageFilter,
)


# --- Staff and training ----------------------------------------------------------------------------


def staff_context(ctx: AccessContext, staff: StaffMember) -> dict[str, Any]:
    return {
        "trainings": selectors.training_record_list(ctx).filter(staff_member=staff),
        "add_training_url": add_link(TRAINING_PAGES, ctx, staff_member=staff.pk),
    }


STAFF_FIELDS = [
    "employer",
    "location",
    "full_name",
    "job_title",
    "hired_on",
    "left_on",
    "exposure_risk",
    "contract_has_noncompete",
]
STAFF_PAGES = ObjectPages(
    model=StaffMember,
    name="staff-member",
    path="staff",
    title="Staff",
    help_text="The MSO's non-clinical workforce (front desk, managers, marketing) and their training.",
    list_selector=selectors.staff_member_list,
    get_selector=selectors.staff_member_get,
    columns=[
        Column("Name", "full_name", link=True),
        Column("Job title", "job_title"),
        Column("Employer", "employer.legal_name"),
        Column("Location", "location.name"),
        Column("Hired", "hired_on"),
        Column("Left", "left_on"),
        Column("Last HIPAA training", "last_hipaa_training"),
        Column("Last bloodborne-pathogen training", "last_bbp_training"),
    ],
    detail_fields=[
        Column("Full name", "full_name"),
        Column("Job title", "job_title"),
        Column("Employer", "employer.legal_name"),
        Column("Location", "location.name"),
        Column("Hired", "hired_on"),
        Column("Left", "left_on"),
        Column("Bloodborne-pathogen exposure risk", "exposure_risk"),
        Column("Contract has a non-compete", "contract_has_noncompete"),
    ],
    fields=STAFF_FIELDS,
    form_class=form_for(StaffMember, STAFF_FIELDS),
    create_service=services.staff_member_create,
    update_service=services.staff_member_update,
    update_kwarg="staff_member",
    filterset_class=StaffMemberPageFilter,
    detail_template=f"{TEMPLATES}/staff_member_detail.html",
    detail_context=staff_context,
)

TRAINING_FIELDS = ["staff_member", "kind", "completed_on", "expires_on"]
TRAINING_PAGES = ObjectPages(
    model=TrainingRecord,
    name="training-record",
    path="training-records",
    title="Training records",
    help_text="HIPAA, bloodborne-pathogen and injury-and-illness-prevention trainings of the staff.",
    list_selector=selectors.training_record_list,
    get_selector=selectors.training_record_get,
    columns=[
        Column("Training", "kind", link=True),
        Column("Staff member", "staff_member.full_name"),
        Column("Completed", "completed_on"),
        Column("Expires", "expires_on"),
    ],
    detail_fields=[
        Column("Staff member", "staff_member.full_name"),
        Column("Training", "kind"),
        Column("Completed", "completed_on"),
        Column("Expires", "expires_on"),
    ],
    fields=TRAINING_FIELDS,
    form_class=form_for(TrainingRecord, TRAINING_FIELDS),
    create_service=services.training_record_create,
    update_service=services.training_record_update,
    update_kwarg="record",
    filterset_class=TrainingRecordPageFilter,
)


# --- Providers -------------------------------------------------------------------------------------


class ClinicalSignInChoice(forms.ModelChoiceField):  # type: ignore[type-arg,unused-ignore]
    def label_from_instance(self, obj: Any) -> str:
        member = cast(Membership, obj)
        return f"{member.user.full_name or member.user.email} ({member.capacity_spec.label})"


class ProviderForm(ServiceForm):
    """The sign-in choices are the tenant's PC physician and clinician memberships (a membership has no
    access policy of its own, so the generic restriction does not apply to it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["membership"] = ClinicalSignInChoice(
            queryset=Membership.objects.filter(
                tenant=self.ctx.tenant, capacity__in=services.CLINICAL_CAPACITIES
            ).select_related("user"),
            required=False,
            label="Sign-in (optional)",
            help_text="Link the provider's own PC physician or clinician sign-in, if they have one.",
        )


def provider_context(ctx: AccessContext, provider: Provider) -> dict[str, Any]:
    upcoming = frontdesk_selectors.appointment_list(ctx).filter(
        provider=provider, starts_at__gte=timezone.now()
    )
    return {
        "credentials": selectors.provider_credentials(provider),
        "appointments": upcoming.order_by("starts_at")[:20],
    }


PROVIDER_FIELDS = list(services.PROVIDER_FIELDS)
PROVIDER_PAGES = ObjectPages(
    model=Provider,
    name="provider",
    path="providers",
    title="Providers",
    help_text="Licensed providers of the PCs and the credentials the MSO keeps for them as a service. "
    "Badges mark a credential expiring within 30, 60 or 90 days.",
    list_selector=selectors.provider_list,
    get_selector=selectors.provider_get,
    columns=[
        Column("Name", "full_name", link=True),
        Column("PC", "pc.legal_name"),
        Column("License", "license_type"),
        Column("Number", "license_number"),
        Column("State", "license_state"),
        Column("Status", "license_status"),
        Column("Next expiry", "next_expiry"),
    ],
    detail_fields=[
        Column("PC", "pc.legal_name"),
        Column("Full name", "full_name"),
        Column("Email", "email"),
        Column("License type", "license_type"),
        Column("License number", "license_number"),
        Column("License state", "license_state"),
        Column("License status", "license_status"),
        Column("DEA number", "dea_number"),
        Column("NP furnishing number", "np_furnishing_number"),
        Column("Independent NP (B&P 2837.103/104)", "np_independent_103_104"),
        Column("PA practice agreement signed", "pa_practice_agreement_signed_on"),
        Column("Sign-in", "membership.user.email"),
        Column("Contract has a non-compete", "contract_has_noncompete"),
        Column("Active", "active"),
    ],
    fields=PROVIDER_FIELDS,
    form_class=form_for(Provider, PROVIDER_FIELDS, base=ProviderForm),
    create_service=services.provider_create,
    update_service=services.provider_update,
    update_kwarg="provider",
    filterset_class=ProviderPageFilter,
    list_template=f"{TEMPLATES}/provider_list.html",
    detail_template=f"{TEMPLATES}/provider_detail.html",
    detail_context=provider_context,
)


# --- CSV import ------------------------------------------------------------------------------------


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, comma separated, header in the first row.")


def import_page(
    request: HttpRequest, ctx: AccessContext, *, importer: Importer, model: type[models.Model], slug: str
) -> HttpResponseBase:
    """Template download (GET ?download=template), upload form, and the row-by-row report.

    Only a capacity that may create `model` gets the page; the import itself runs under its role and
    scope, row by row through the model's create service, all rows or none.
    """
    if not may(ctx, model, ADD):
        raise Http404(NOT_FOUND)
    if request.method == "GET" and request.GET.get("download") == "template":
        response = HttpResponse(
            importer.template_csv().encode("utf-8-sig"), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{slug}-template.csv"'
        return response
    form = ImportForm(request.POST, request.FILES) if request.method == "POST" else ImportForm()
    result = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            result = run_import(importer, ctx, form.cleaned_data["file"])
        # A refused file is a 400: nothing was written (and the request transaction rolls back).
        status = 200 if result is not None and result.ok else 400
    list_name = f"{model._meta.model_name}-list"
    return render(
        request,
        f"{TEMPLATES}/import.html",
        {
            "importer": importer,
            "form": form,
            "result": result,
            "title": importer.name,
            "list_url": reverse(list_name, kwargs={"tenant_slug": ctx.tenant.slug}),
            "template_url": f"{request.path}?download=template",
        },
        status=status,
    )


@tenant_page
@page_of(Provider)
@require_http_methods(["GET", "POST"])
def provider_import(request: HttpRequest, ctx: AccessContext) -> HttpResponseBase:
    return import_page(request, ctx, importer=ProviderImporter(), model=Provider, slug="providers")


ALL_PAGES = [VENDOR_PAGES, BAA_PAGES, STAFF_PAGES, TRAINING_PAGES, PROVIDER_PAGES]

urlpatterns: list[URLPattern] = [
    # Before the provider pages: "providers/import/" would otherwise be read as a provider's id.
    path("providers/import/", provider_import, name="provider-import"),
    *(pattern for pages in ALL_PAGES for pattern in pages.urls()),
]
