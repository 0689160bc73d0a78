"""Reads of charts and what is in them, through the permission layer; every record shown is logged.

List selectors return unevaluated querysets with their relations joined or prefetched (a fixed
number of queries whatever the rows); the caller logs the rows it shows with ``log_reads`` (one
entry per record type, written when the request commits). Single-object selectors log the read
themselves when the action is a view.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import models
from django.db.models import Prefetch, QuerySet
from django.http import Http404

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
from mso_platform.pdf import render_pdf
from tenants.access import AccessContext, parse_id, restrict
from tenants.audit import record_clinical_reads
from tenants.capacities import VIEW

M = TypeVar("M", bound=models.Model)


def log_reads(ctx: AccessContext, records: Iterable[Any]) -> None:
    """Log every clinical record shown (nothing when nothing is shown); see tenants.audit."""
    record_clinical_reads(ctx, records)


def get_in(qs: QuerySet[M], ctx: AccessContext, pk: Any, action: str = VIEW) -> M:
    """One object of `qs` that ctx may act on, else 404 (absent, other tenant's, forbidden, malformed)."""
    try:
        return restrict(qs, ctx, action).get(pk=parse_id(pk))
    except qs.model.DoesNotExist:  # type: ignore[attr-defined]
        raise Http404("No such object.") from None


def _get_logged(qs: QuerySet[M], ctx: AccessContext, pk: Any, action: str) -> M:
    # Fetched to be shown (a view) or to be edited (a form filled with it): either way it is read.
    obj = get_in(qs, ctx, pk, action)
    log_reads(ctx, shown_with(obj))
    return obj


class _ReadLogging:
    """Queryset mixin: the rows a fetch returns are logged as read by ``_read_ctx``, one insert per fetch.

    For pages built by the generic toolkit (tenants/pages.py), which evaluates a list selector's
    queryset once per page: whatever part of the list is shown is exactly what is logged.
    """

    _read_ctx: AccessContext | None = None
    _result_cache: list[Any] | None

    def _clone(self) -> Any:
        clone = super()._clone()  # type: ignore[misc]
        clone._read_ctx = self._read_ctx
        return clone

    def _fetch_all(self) -> None:
        fresh = self._result_cache is None
        super()._fetch_all()  # type: ignore[misc]
        if fresh and self._read_ctx is not None and self._result_cache:
            rows = [r for row in self._result_cache if isinstance(row, models.Model) for r in shown_with(row)]
            log_reads(self._read_ctx, rows)


_LOGGING_CLASSES: dict[type[Any], type[Any]] = {}


def logging_reads(qs: QuerySet[M], ctx: AccessContext) -> QuerySet[M]:
    """`qs`, whose fetched rows are logged as read by ctx when it is evaluated (see _ReadLogging)."""
    base = type(qs)
    if base not in _LOGGING_CLASSES:
        _LOGGING_CLASSES[base] = type(f"ReadLogging{base.__name__}", (_ReadLogging, base), {})
    clone: Any = qs.all()
    clone.__class__ = _LOGGING_CLASSES[base]
    clone._read_ctx = ctx
    return clone


def shown_with(obj: Any) -> list[Any]:
    """The clinical records a representation of `obj` shows: a treatment shows its products and photos."""
    if isinstance(obj, Treatment):
        return [obj, *obj.products.all(), *obj.photos.all()]
    return [obj]


# --- querysets with what their pages show (the API renders relations as ids) -------------------------


def charts() -> QuerySet[PatientChart]:
    return PatientChart.objects.select_related("pc", "home_location", "client")


def exams() -> QuerySet[GoodFaithExam]:
    return GoodFaithExam.objects.select_related("chart", "examiner")


def treatments_shown() -> QuerySet[Treatment]:
    """Treatments with what a treatment shows (shown_with): its products and photos."""
    return Treatment.objects.prefetch_related(
        Prefetch("products", queryset=TreatmentProduct.objects.order_by("product_name", "lot_number")),
        Prefetch("photos", queryset=TreatmentPhoto.objects.select_related("authorization")),
    )


def treatments() -> QuerySet[Treatment]:
    return treatments_shown().select_related(
        "chart", "location", "performer", "supervisor", "good_faith_exam", "consent"
    )


def products() -> QuerySet[TreatmentProduct]:
    return TreatmentProduct.objects.select_related("treatment__chart")


def photos() -> QuerySet[TreatmentPhoto]:
    return TreatmentPhoto.objects.select_related("treatment__chart", "authorization")


def authorizations() -> QuerySet[PhotoAuthorization]:
    return PhotoAuthorization.objects.select_related("chart")


def consents() -> QuerySet[SignedConsent]:
    return SignedConsent.objects.select_related("chart__pc", "form_version", "witnessed_by")


def reviews() -> QuerySet[ChartReview]:
    return ChartReview.objects.select_related("chart", "reviewer")


def adverse_events() -> QuerySet[AdverseEvent]:
    return AdverseEvent.objects.select_related("chart", "treatment")


# --- lists (unevaluated; the caller logs what it shows) and single records (logged) --------------


def patient_chart_list(ctx: AccessContext) -> QuerySet[PatientChart]:
    return restrict(charts(), ctx)


def patient_chart_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> PatientChart:
    return _get_logged(charts(), ctx, pk, action)


def good_faith_exam_list(ctx: AccessContext) -> QuerySet[GoodFaithExam]:
    return restrict(exams(), ctx)


def good_faith_exam_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> GoodFaithExam:
    return _get_logged(exams(), ctx, pk, action)


def treatment_list(ctx: AccessContext) -> QuerySet[Treatment]:
    return restrict(treatments(), ctx)


def treatment_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> Treatment:
    return _get_logged(treatments(), ctx, pk, action)


def treatment_product_list(ctx: AccessContext) -> QuerySet[TreatmentProduct]:
    return restrict(products(), ctx)


def treatment_product_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> TreatmentProduct:
    return _get_logged(products(), ctx, pk, action)


def treatment_photo_list(ctx: AccessContext) -> QuerySet[TreatmentPhoto]:
    return restrict(photos(), ctx)


def treatment_photo_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> TreatmentPhoto:
    return _get_logged(photos(), ctx, pk, action)


def photo_authorization_list(ctx: AccessContext) -> QuerySet[PhotoAuthorization]:
    return restrict(authorizations(), ctx)


def photo_authorization_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> PhotoAuthorization:
    return _get_logged(authorizations(), ctx, pk, action)


def signed_consent_list(ctx: AccessContext) -> QuerySet[SignedConsent]:
    return restrict(consents(), ctx)


def signed_consent_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> SignedConsent:
    return _get_logged(consents(), ctx, pk, action)


def chart_review_list(ctx: AccessContext) -> QuerySet[ChartReview]:
    return restrict(reviews(), ctx)


def chart_review_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> ChartReview:
    return _get_logged(reviews(), ctx, pk, action)


def adverse_event_list(ctx: AccessContext) -> QuerySet[AdverseEvent]:
    return restrict(adverse_events(), ctx)


def adverse_event_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> AdverseEvent:
    return _get_logged(adverse_events(), ctx, pk, action)


# --- the whole chart, for its page ---------------------------------------------------------------


@dataclass
class ChartRecord:
    """A chart and everything in it, each list in one query."""

    chart: PatientChart
    exams: list[GoodFaithExam] = field(default_factory=list)
    treatments: list[Treatment] = field(default_factory=list)
    consents: list[SignedConsent] = field(default_factory=list)
    authorizations: list[PhotoAuthorization] = field(default_factory=list)
    reviews: list[ChartReview] = field(default_factory=list)
    adverse_events: list[AdverseEvent] = field(default_factory=list)

    def records(self) -> list[Any]:
        shown: list[Any] = [self.chart, *self.exams, *self.consents, *self.authorizations]
        for treatment in self.treatments:
            shown += shown_with(treatment)
        return [*shown, *self.reviews, *self.adverse_events]


def chart_contents(ctx: AccessContext, chart: PatientChart) -> ChartRecord:
    """What a chart holds, each list in one query; logged in one insert (the chart itself is not:
    whoever fetched it has logged it)."""

    def of(qs: QuerySet[M]) -> list[M]:
        return list(restrict(qs.filter(chart=chart), ctx))

    record = ChartRecord(
        chart=chart,
        exams=of(exams()),
        treatments=of(treatments()),
        consents=of(consents()),
        authorizations=of(authorizations()),
        reviews=of(reviews()),
        adverse_events=of(adverse_events()),
    )
    log_reads(ctx, record.records()[1:])
    return record


def chart_record(ctx: AccessContext, pk: Any) -> ChartRecord:
    """The chart and everything in it; every record logged."""
    return chart_contents(ctx, patient_chart_get(ctx, pk))


# --- documents -----------------------------------------------------------------------------------


SIGNED_CONSENT_TEMPLATE = "pdf/signed_consent.html"


def signed_consent_document(ctx: AccessContext, consent: SignedConsent) -> tuple[dict[str, Any], str]:
    """The PDF's context and title (mso_platform.pdf renders them; tests lay them out to read the text)."""
    version = consent.form_version
    context = {"tenant": ctx.tenant, "consent": consent, "chart": consent.chart, "version": version}
    return context, f"Signed consent: {version.title} (version {version.number})"


def signed_consent_pdf(ctx: AccessContext, consent: SignedConsent) -> tuple[bytes, str]:
    """The signed consent as a PDF and its file name; the read of the consent and chart is logged.

    `consent` comes from ``signed_consent_get(ctx, pk, action)`` or the API's scoped queryset.
    """
    context, title = signed_consent_document(ctx, consent)
    pdf = render_pdf(SIGNED_CONSENT_TEMPLATE, context, title=title)
    log_reads(ctx, [consent, consent.chart])
    chart = consent.chart
    return (
        pdf,
        f"consent-{chart.medical_record_number}-v{consent.form_version.number}-{consent.signed_at:%Y%m%d}.pdf",
    )
