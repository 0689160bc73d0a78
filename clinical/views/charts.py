"""PC clinical pages of charts and what is in them (tenants/pages.py toolkit): clinical capacities only.

Every record a page shows is audit-logged: lists through ``logging_reads`` (the page's rows, one
insert), detail and edit pages through the selectors. The chart page shows everything in the chart.
Forms only collect input; the services validate and write. A record never moves to another chart,
so the chart (or treatment) field is on the create form only, preselected by ``?chart=<id>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

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
    GoodFaithExam,
    PatientChart,
    PhotoAuthorization,
    SignedConsent,
    Treatment,
    TreatmentPhoto,
    TreatmentProduct,
)
from clinical.services.charts import EXAMINER_LICENSES, PHYSICIAN_LICENSES
from management.procedures import Procedure
from mso_platform.pdf import pdf_response
from tenants.access import AccessContext, may
from tenants.capacities import ADD
from tenants.pages import Column, ObjectPages, ServiceForm, html5_widgets
from tenants.views import page_of, tenant_page

TEMPLATES = "clinical/charts"


def logged_list(
    selector: Callable[[AccessContext], QuerySet[Any]],
) -> Callable[[AccessContext], QuerySet[Any]]:
    """A list selector whose shown rows are logged as read (one insert per page)."""
    return lambda ctx: selectors.logging_reads(selector(ctx), ctx)


# --- forms ---------------------------------------------------------------------------------------


class ClinicalForm(ServiceForm):
    """A service form whose ``FIXED`` reference (the chart, the treatment) is asked on create only."""

    FIXED = ""

    @property
    def editing(self) -> bool:
        # Not instance.pk: a new row already has its UUID before it is saved.
        return not self.instance._state.adding

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.editing and self.FIXED:
            del self.fields[self.FIXED]

    def ref_id(self, name: str) -> str | None:
        """The id of the chart/treatment this form is about: the instance's, the posted or the preset."""
        if self.editing:
            return str(getattr(self.instance, f"{name}_id", "") or "") or None
        value = self.data.get(name) if self.is_bound else self.initial.get(name)
        return str(value) if value else None

    def narrow(self, field: str, **lookups: Any) -> None:
        if field in self.fields:
            choice = self.fields[field]
            choice.queryset = choice.queryset.filter(**lookups)  # type: ignore[attr-defined]


class ChartForm(ClinicalForm):
    FIXED = "pc"

    class Meta:
        model = PatientChart
        fields = [
            "pc",
            "home_location",
            "client",
            "medical_record_number",
            "patient_name",
            "date_of_birth",
            "allergies",
            "destroyed_on",
        ]
        formfield_callback = html5_widgets
        help_texts = {
            "destroyed_on": "Record a destruction (REC-001: not before 7 years after the last service)."
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.editing:
            del self.fields["destroyed_on"]


class ExamForm(ClinicalForm):
    FIXED = "chart"
    approved_procedures = forms.MultipleChoiceField(
        choices=Procedure.choices, widget=forms.CheckboxSelectMultiple, help_text="What the exam approves."
    )

    class Meta:
        model = GoodFaithExam
        fields = [
            "chart",
            "examiner",
            "examined_on",
            "via_telehealth",
            "telehealth_consent",
            "medical_indication",
            "approved_procedures",
            "valid_until",
        ]
        formfield_callback = html5_widgets
        help_texts = {
            "examiner": "A physician, NP or PA of the chart's PC (B&P 2242); never an RN.",
            "valid_until": "Leave empty for 12 months after the exam.",
            "telehealth_consent": "The patient's documented consent to telehealth (B&P 2290.5).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.narrow("examiner", license_type__in=EXAMINER_LICENSES, active=True)
        self.fields["valid_until"].required = bool(self.editing)


class TreatmentForm(ClinicalForm):
    FIXED = "chart"

    class Meta:
        model = Treatment
        fields = [
            "chart",
            "location",
            "procedure",
            "performer",
            "supervisor",
            "performed_at",
            "good_faith_exam",
            "consent",
            "notes",
        ]
        formfield_callback = html5_widgets
        help_texts = {"notes": "Notes are timed when first saved (CHT-001: within 72 hours)."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        chart = self.ref_id("chart")
        if chart:  # only this chart's exams and consents are offered
            self.narrow("good_faith_exam", chart_id=chart)
            self.narrow("consent", chart_id=chart)


class TreatmentProductForm(ClinicalForm):
    FIXED = "treatment"

    class Meta:
        model = TreatmentProduct
        fields = ["treatment", "product_name", "lot_number", "quantity", "unit", "expires_on"]
        formfield_callback = html5_widgets


class TreatmentPhotoForm(ClinicalForm):
    FIXED = "treatment"

    class Meta:
        model = TreatmentPhoto
        fields = ["treatment", "kind", "taken_at", "description", "used_outside_chart", "authorization"]
        formfield_callback = html5_widgets
        help_texts = {
            "used_outside_chart": "Web, social, ads: needs the patient's authorization (HIPAA 164.508).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        treatment = self.ref_id("treatment")
        if treatment:
            self.narrow("authorization", chart__treatments=treatment)


class PhotoAuthorizationForm(ClinicalForm):
    FIXED = "chart"

    class Meta:
        model = PhotoAuthorization
        fields = ["chart", "signed_on", "purpose", "expires_on", "revoked_on"]
        formfield_callback = html5_widgets
        help_texts = {"revoked_on": "The day the patient revoked it (a revocation cannot be undone)."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.editing:
            del self.fields["revoked_on"]


class SignedConsentForm(ClinicalForm):
    FIXED = "chart"
    signer_name = forms.CharField(
        max_length=200, required=False, help_text="Leave empty when the patient signs; else the guardian."
    )
    signed_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Leave empty for now.",
    )

    class Meta:
        model = SignedConsent
        fields = ["chart", "form_version", "signer_name", "signed_at"]
        help_texts = {"form_version": "A current, approved version of the chart's PC; you sign as witness."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.narrow("form_version", superseded_at__isnull=True)


class ChartReviewForm(ClinicalForm):
    FIXED = "chart"

    class Meta:
        model = ChartReview
        fields = ["chart", "reviewer", "reviewed_on", "findings", "follow_up_needed"]
        formfield_callback = html5_widgets

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.narrow("reviewer", license_type__in=PHYSICIAN_LICENSES)


class AdverseEventForm(ClinicalForm):
    FIXED = "chart"

    class Meta:
        model = AdverseEvent
        fields = [
            "chart",
            "treatment",
            "occurred_at",
            "severity",
            "description",
            "actions_taken",
            "physician_notified_at",
        ]
        formfield_callback = html5_widgets

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        chart = self.ref_id("chart")
        if chart:
            self.narrow("treatment", chart_id=chart)


# --- the pages -------------------------------------------------------------------------------------


def chart_context(ctx: AccessContext, chart: PatientChart) -> dict[str, Any]:
    """Everything in the chart (logged), and where to add to it."""
    record = selectors.chart_contents(ctx, chart)
    adding = chart.destroyed_on is None
    add = {
        key: f"{pages.url(ctx, 'create')}?chart={chart.pk}"
        for key, pages in (
            ("exam", EXAM_PAGES),
            ("treatment", TREATMENT_PAGES),
            ("consent", SIGNED_CONSENT_PAGES),
            ("authorization", PHOTO_AUTHORIZATION_PAGES),
            ("review", CHART_REVIEW_PAGES),
            ("adverse_event", ADVERSE_EVENT_PAGES),
        )
        if adding and pages.can_create(ctx)
    }
    floor, reason = services.retention_floor(chart)
    return {"record": record, "add": add, "retention_floor": floor, "retention_reason": reason}


def treatment_context(ctx: AccessContext, treatment: Treatment) -> dict[str, Any]:
    adding = treatment.chart.destroyed_on is None and may(ctx, TreatmentProduct, ADD)
    slug_urls = {
        "product": f"{TREATMENT_PRODUCT_PAGES.url(ctx, 'create')}?treatment={treatment.pk}",
        "photo": f"{TREATMENT_PHOTO_PAGES.url(ctx, 'create')}?treatment={treatment.pk}",
    }
    return {"add": slug_urls if adding else {}, "chart_url": CHART_PAGES.url(ctx, "detail", treatment.chart)}


def in_chart(ctx: AccessContext, obj: Any) -> dict[str, Any]:
    return {"chart_url": CHART_PAGES.url(ctx, "detail", obj.chart)}


CHART_PAGES = ObjectPages(
    model=PatientChart,
    name="chart",
    path="charts",
    title="Patient charts",
    help_text="Clinical records of the PC. Every chart shown here is recorded in the audit log.",
    list_selector=logged_list(selectors.patient_chart_list),
    get_selector=selectors.patient_chart_get,
    filterset_class=PatientChartFilter,
    columns=[
        Column("Patient", "patient_name", link=True),
        Column("MRN", "medical_record_number"),
        Column("Date of birth", "date_of_birth"),
        Column("PC", "pc.legal_name"),
        Column("Home location", "home_location.name"),
    ],
    detail_fields=[
        Column("Medical record number", "medical_record_number"),
        Column("Date of birth", "date_of_birth"),
        Column("Allergies", "allergies"),
        Column("Professional corporation", "pc.legal_name"),
        Column("Home location", "home_location.name"),
        Column("Front-desk client", "client.full_name"),
        Column("Destroyed on", "destroyed_on"),
    ],
    fields=ChartForm.Meta.fields,
    form_class=ChartForm,
    create_service=services.patient_chart_create,
    update_service=services.patient_chart_update,
    detail_template=f"{TEMPLATES}/chart_detail.html",
    detail_context=chart_context,
)

EXAM_PAGES = ObjectPages(
    model=GoodFaithExam,
    name="exam",
    path="exams",
    title="Good-faith exams",
    list_selector=logged_list(selectors.good_faith_exam_list),
    get_selector=selectors.good_faith_exam_get,
    filterset_class=GoodFaithExamFilter,
    columns=[
        Column("Examined on", "examined_on", link=True),
        Column("Patient", "chart.patient_name"),
        Column("Examiner", "examiner.full_name"),
        Column("Telehealth", "via_telehealth"),
        Column("Approved procedures", "approved_procedures"),
        Column("Valid until", "valid_until"),
    ],
    detail_fields=[
        Column("Patient", "chart.patient_name"),
        Column("Examiner", "examiner"),
        Column("Examined on", "examined_on"),
        Column("Telehealth", "via_telehealth"),
        Column("Telehealth consent", "telehealth_consent"),
        Column("Medical indication", "medical_indication"),
        Column("Approved procedures", "approved_procedures"),
        Column("Valid until", "valid_until"),
    ],
    fields=ExamForm.Meta.fields,
    form_class=ExamForm,
    create_service=services.good_faith_exam_create,
    update_service=services.good_faith_exam_update,
    detail_template=f"{TEMPLATES}/record_detail.html",
    detail_context=in_chart,
)

TREATMENT_PAGES = ObjectPages(
    model=Treatment,
    name="treatment",
    path="treatments",
    title="Treatments",
    list_selector=logged_list(selectors.treatment_list),
    get_selector=selectors.treatment_get,
    filterset_class=TreatmentFilter,
    columns=[
        Column("Performed at", "performed_at", link=True),
        Column("Procedure", "procedure"),
        Column("Patient", "chart.patient_name"),
        Column("Performer", "performer.full_name"),
        Column("Supervisor", "supervisor.full_name"),
        Column("Location", "location.name"),
        Column("Charted at", "charted_at"),
    ],
    detail_fields=[
        Column("Patient", "chart.patient_name"),
        Column("Procedure", "procedure"),
        Column("Performed at", "performed_at"),
        Column("Location", "location.name"),
        Column("Performer", "performer"),
        Column("Supervisor", "supervisor"),
        Column("Good-faith exam", "good_faith_exam"),
        Column("Consent", "consent.form_version"),
        Column("Notes", "notes"),
        Column("Charted at", "charted_at"),
    ],
    fields=TreatmentForm.Meta.fields,
    form_class=TreatmentForm,
    create_service=services.treatment_create,
    update_service=services.treatment_update,
    detail_template=f"{TEMPLATES}/treatment_detail.html",
    detail_context=treatment_context,
)

TREATMENT_PRODUCT_PAGES = ObjectPages(
    model=TreatmentProduct,
    name="treatment-product",
    path="treatment-products",
    title="Products and lots",
    list_selector=logged_list(selectors.treatment_product_list),
    get_selector=selectors.treatment_product_get,
    filterset_class=TreatmentProductFilter,
    columns=[
        Column("Product", "product_name", link=True),
        Column("Lot", "lot_number"),
        Column("Quantity", "quantity"),
        Column("Unit", "unit"),
        Column("Lot expires", "expires_on"),
        Column("Patient", "treatment.chart.patient_name"),
    ],
    fields=TreatmentProductForm.Meta.fields,
    form_class=TreatmentProductForm,
    create_service=services.treatment_product_create,
    update_service=services.treatment_product_update,
    update_kwarg="product",
)

TREATMENT_PHOTO_PAGES = ObjectPages(
    model=TreatmentPhoto,
    name="treatment-photo",
    path="treatment-photos",
    title="Treatment photos",
    list_selector=logged_list(selectors.treatment_photo_list),
    get_selector=selectors.treatment_photo_get,
    filterset_class=TreatmentPhotoFilter,
    columns=[
        Column("Description", "description", link=True),
        Column("Kind", "kind"),
        Column("Taken at", "taken_at"),
        Column("Patient", "treatment.chart.patient_name"),
        Column("Used outside the chart", "used_outside_chart"),
        Column("Authorization", "authorization"),
    ],
    fields=TreatmentPhotoForm.Meta.fields,
    form_class=TreatmentPhotoForm,
    create_service=services.treatment_photo_create,
    update_service=services.treatment_photo_update,
    update_kwarg="photo",
)

PHOTO_AUTHORIZATION_PAGES = ObjectPages(
    model=PhotoAuthorization,
    name="photo-authorization",
    path="photo-authorizations",
    title="Photo authorizations",
    list_selector=logged_list(selectors.photo_authorization_list),
    get_selector=selectors.photo_authorization_get,
    filterset_class=PhotoAuthorizationFilter,
    columns=[
        Column("Signed on", "signed_on", link=True),
        Column("Patient", "chart.patient_name"),
        Column("Purpose", "purpose"),
        Column("Expires on", "expires_on"),
        Column("Revoked on", "revoked_on"),
    ],
    fields=PhotoAuthorizationForm.Meta.fields,
    form_class=PhotoAuthorizationForm,
    create_service=services.photo_authorization_create,
    update_service=services.photo_authorization_update,
    update_kwarg="authorization",
    detail_template=f"{TEMPLATES}/record_detail.html",
    detail_context=in_chart,
)

SIGNED_CONSENT_PAGES = ObjectPages(
    model=SignedConsent,
    name="signed-consent",
    path="signed-consents",
    title="Signed consents",
    list_selector=logged_list(selectors.signed_consent_list),
    get_selector=selectors.signed_consent_get,
    filterset_class=SignedConsentFilter,
    columns=[
        Column("Signed at", "signed_at", link=True),
        Column("Patient", "chart.patient_name"),
        Column("Form", "form_version.title"),
        Column("Version", "form_version.number"),
        Column("Signed by", "signer_name"),
    ],
    detail_fields=[
        Column("Patient", "chart.patient_name"),
        Column("Form", "form_version.title"),
        Column("Version", "form_version.number"),
        Column("Procedure", "form_version.procedure"),
        Column("Signed by", "signer_name"),
        Column("Signed at", "signed_at"),
        Column("Witness", "witnessed_by"),
    ],
    fields=SignedConsentForm.Meta.fields,
    form_class=SignedConsentForm,
    create_service=services.signed_consent_create,
    detail_template=f"{TEMPLATES}/consent_detail.html",
    detail_context=in_chart,
)

CHART_REVIEW_PAGES = ObjectPages(
    model=ChartReview,
    name="chart-review",
    path="chart-reviews",
    title="Chart reviews",
    list_selector=logged_list(selectors.chart_review_list),
    get_selector=selectors.chart_review_get,
    filterset_class=ChartReviewFilter,
    columns=[
        Column("Reviewed on", "reviewed_on", link=True),
        Column("Patient", "chart.patient_name"),
        Column("Reviewer", "reviewer.full_name"),
        Column("Follow-up needed", "follow_up_needed"),
    ],
    detail_fields=[
        Column("Patient", "chart.patient_name"),
        Column("Reviewer", "reviewer"),
        Column("Reviewed on", "reviewed_on"),
        Column("Findings", "findings"),
        Column("Follow-up needed", "follow_up_needed"),
    ],
    fields=ChartReviewForm.Meta.fields,
    form_class=ChartReviewForm,
    create_service=services.chart_review_create,
    update_service=services.chart_review_update,
    update_kwarg="review",
    detail_template=f"{TEMPLATES}/record_detail.html",
    detail_context=in_chart,
)

ADVERSE_EVENT_PAGES = ObjectPages(
    model=AdverseEvent,
    name="adverse-event",
    path="adverse-events",
    title="Adverse events",
    list_selector=logged_list(selectors.adverse_event_list),
    get_selector=selectors.adverse_event_get,
    filterset_class=AdverseEventFilter,
    columns=[
        Column("Occurred at", "occurred_at", link=True),
        Column("Severity", "severity"),
        Column("Patient", "chart.patient_name"),
        Column("Description", "description"),
        Column("Physician notified at", "physician_notified_at"),
    ],
    detail_fields=[
        Column("Patient", "chart.patient_name"),
        Column("Treatment", "treatment"),
        Column("Occurred at", "occurred_at"),
        Column("Severity", "severity"),
        Column("Description", "description"),
        Column("Actions taken", "actions_taken"),
        Column("Physician notified at", "physician_notified_at"),
    ],
    fields=AdverseEventForm.Meta.fields,
    form_class=AdverseEventForm,
    create_service=services.adverse_event_create,
    update_service=services.adverse_event_update,
    update_kwarg="event",
    detail_template=f"{TEMPLATES}/record_detail.html",
    detail_context=in_chart,
)


@tenant_page
@page_of(SignedConsent)
def signed_consent_pdf(request: HttpRequest, ctx: AccessContext, pk: str) -> HttpResponse:
    """The signed consent as a PDF download (the read is logged)."""
    consent = selectors.get_in(selectors.charts.consents(), ctx, pk)
    pdf, filename = selectors.signed_consent_pdf(ctx, consent)
    return pdf_response(pdf, filename)


ALL_PAGES = [
    CHART_PAGES,
    EXAM_PAGES,
    TREATMENT_PAGES,
    TREATMENT_PRODUCT_PAGES,
    TREATMENT_PHOTO_PAGES,
    PHOTO_AUTHORIZATION_PAGES,
    SIGNED_CONSENT_PAGES,
    CHART_REVIEW_PAGES,
    ADVERSE_EVENT_PAGES,
]

urlpatterns: list[URLPattern] = [
    path("signed-consents/<str:pk>/pdf/", signed_consent_pdf, name="signed-consent-pdf"),
    *(pattern for pages in ALL_PAGES for pattern in pages.urls()),
]
