"""Writes of a patient's chart and what happens in it: exams, treatments (product lots, photos),
photo authorizations, signed consents, chart reviews and adverse events.

A chart records what happened; whether it was compliant is the audit engine's question (DEL-*,
GFE-001, CON-001 …). These services refuse only what cannot be true or would corrupt the record:
a provider of another PC, an exam or consent of another chart, a nurse as good-faith examiner, an
outdated consent version, a photo used outside the chart without a valid authorization, a chart
destroyed before the retention floor (REC-001).

Update services take ``UNSET`` for "leave as it is", so None can clear an optional field.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, TypeVar, Union

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Max
from django.utils import timezone

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
from management.models import Client, Location, ProfessionalCorporation, Provider
from management.procedures import LicenseType, Procedure
from tenants.access import AccessContext
from tenants.capacities import ADD, CHANGE
from tenants.writes import require_in_scope, require_may, save_validated

T = TypeVar("T")


class _Unset(enum.Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET
# A keyword of an update service: a new value, or UNSET to leave the field as it is.
Maybe = Union[T, Literal[_Unset.UNSET]]  # noqa: UP007  # a generic alias needs Union on 3.11

# B&P 2242: a physician, NP or PA examines; never an RN (GFE-001).
EXAMINER_LICENSES = frozenset({LicenseType.MD, LicenseType.DO, LicenseType.NP, LicenseType.PA})
PHYSICIAN_LICENSES = frozenset({LicenseType.MD, LicenseType.DO})
# RULES.md GFE-001: the statute sets no window; 12 months is the practice default.
EXAM_VALIDITY_DAYS = 365
# REC-001: 7 years after the last service; minors until at least age 19 (H&S 123145 as best practice).
RETENTION_YEARS = 7
MINOR_RETENTION_AGE = 19
# Clocks of tablets and servers differ a little; a few minutes ahead of ours is not "the future".
CLOCK_SKEW = dt.timedelta(minutes=5)


# --- shared checks -------------------------------------------------------------------------------


def changes_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords an update service was given (UNSET ones left out)."""
    return {name: value for name, value in values.items() if value is not UNSET}


def set_fields(obj: models.Model, values: Mapping[str, Any]) -> list[str]:
    """Set the given fields whose value differs; returns the names changed (None is a value here)."""
    changed = []
    for name, value in values.items():
        current = getattr(obj, getattr(obj._meta.get_field(name), "attname", name))
        if current != (value.pk if isinstance(value, models.Model) else value):
            setattr(obj, name, value)
            changed.append(name)
    return changed


def text(value: str, field: str, *, required: bool = True) -> str:
    cleaned = value.strip()
    if required and not cleaned:
        raise ValidationError({field: "This field is required."})
    return cleaned


def not_future_date(day: dt.date, field: str) -> None:
    if day > timezone.localdate():
        raise ValidationError({field: "This date is in the future."})


def not_future_time(moment: dt.datetime, field: str) -> None:
    if moment > timezone.now() + CLOCK_SKEW:
        raise ValidationError({field: "This time is in the future."})


def require_open(chart: PatientChart, field: str = "chart") -> None:
    """A destroyed chart's date is kept as a record of the destruction; nothing is added to it."""
    if chart.destroyed_on is not None:
        raise ValidationError({field: f"This chart was destroyed on {chart.destroyed_on:%Y-%m-%d}."})


def require_chart(ctx: AccessContext, chart: PatientChart, field: str = "chart") -> None:
    require_in_scope(ctx, chart, field)
    require_open(chart, field)


def require_provider_of(
    ctx: AccessContext, provider: Provider, pc_id: Any, field: str, licenses: frozenset[str] | None = None
) -> None:
    """A provider the caller may see, working for the chart's (or protocol's) PC, of `licenses`."""
    require_in_scope(ctx, provider, field)
    if provider.pc_id != pc_id:
        raise ValidationError({field: "This provider works for another PC."})
    if licenses is not None and provider.license_type not in licenses:
        allowed = ", ".join(sorted(LicenseType(code).label for code in licenses))
        label = (
            LicenseType(provider.license_type).label if provider.license_type in LicenseType.values else "?"
        )
        raise ValidationError({field: f"Must be one of: {allowed}; this provider is a {label}."})


def require_same_chart(ctx: AccessContext, obj: Any, chart: PatientChart, field: str, what: str) -> None:
    require_in_scope(ctx, obj, field)
    if obj.chart_id != chart.pk:
        raise ValidationError({field: f"This {what} belongs to another chart."})


def clean_procedures(values: Iterable[str], field: str) -> list[str]:
    """Distinct procedure codes in the order given; at least one."""
    found: list[str] = []
    for value in values:
        if value not in Procedure.values:
            raise ValidationError({field: f"{str(value)[:40]!r} is not a known procedure."})
        if value not in found:
            found.append(value)
    if not found:
        raise ValidationError({field: "Name at least one procedure."})
    return found


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


# --- patient charts -------------------------------------------------------------------------------


def last_service_on(chart: PatientChart) -> dt.date | None:
    """The latest day the patient was seen: a treatment or a good-faith exam in this chart."""
    treated = Treatment.objects.filter(chart=chart).aggregate(last=Max("performed_at"))["last"]
    examined = GoodFaithExam.objects.filter(chart=chart).aggregate(last=Max("examined_on"))["last"]
    days = [d for d in (timezone.localdate(treated) if treated else None, examined) if d is not None]
    return max(days) if days else None


def retention_floor(chart: PatientChart) -> tuple[dt.date | None, str]:
    """REC-001: the first day the chart may be destroyed, and why (None: no service recorded)."""
    last = last_service_on(chart)
    if last is None:
        return None, "no service is recorded in this chart"
    floor, reason = add_years(last, RETENTION_YEARS), f"7 years after the last service on {last:%Y-%m-%d}"
    adult_on = add_years(chart.date_of_birth, MINOR_RETENTION_AGE)
    if adult_on > floor:
        floor, reason = (
            adult_on,
            f"the patient's 19th birthday (a minor at the last service on {last:%Y-%m-%d})",
        )
    return floor, reason


def _check_client(
    ctx: AccessContext, client: Client, pc: ProfessionalCorporation, chart: PatientChart | None
) -> None:
    require_in_scope(ctx, client, "client")
    if not Location.objects.filter(pk=client.home_location_id, pc_id=pc.pk).exists():
        raise ValidationError({"client": "This client is a client of a location served by another PC."})
    others = PatientChart.objects.filter(tenant=ctx.tenant, pc_id=pc.pk, client=client)
    if chart is not None:
        others = others.exclude(pk=chart.pk)
    if others.exists():
        raise ValidationError({"client": "This client already has a chart at this PC."})


def _check_mrn(ctx: AccessContext, mrn: str, chart: PatientChart | None) -> str:
    mrn = text(mrn, "medical_record_number")
    # Unique per tenant, whichever PC keeps the chart; RLS limits this to ctx's tenant.
    same = PatientChart.objects.filter(tenant=ctx.tenant, medical_record_number=mrn)
    if chart is not None:
        same = same.exclude(pk=chart.pk)
    if same.exists():
        raise ValidationError({"medical_record_number": "A chart with this record number already exists."})
    return mrn


@transaction.atomic
def patient_chart_create(
    *,
    ctx: AccessContext,
    pc: ProfessionalCorporation,
    home_location: Location,
    medical_record_number: str,
    patient_name: str,
    date_of_birth: dt.date,
    allergies: str = "",
    client: Client | None = None,
) -> PatientChart:
    """Open a patient's chart, kept by `pc`, for a patient seen at `home_location`.

    Clinical capacities only view business records (Capacity.may), so the PC, the location and the
    front desk's client must be inside what ctx may *view*; whether ctx may add charts to that PC is
    the caller's re-check through the permission layer.
    """
    require_may(ctx, PatientChart, ADD)
    require_in_scope(ctx, pc, "pc")
    require_in_scope(ctx, home_location, "home_location")
    if home_location.pc_id != pc.pk:
        raise ValidationError({"home_location": "This location's clinical services come from another PC."})
    not_future_date(date_of_birth, "date_of_birth")
    if client is not None:
        _check_client(ctx, client, pc, None)
    chart = PatientChart(
        tenant=ctx.tenant,
        pc=pc,
        home_location=home_location,
        client=client,
        medical_record_number=_check_mrn(ctx, medical_record_number, None),
        patient_name=text(patient_name, "patient_name"),
        date_of_birth=date_of_birth,
        allergies=allergies.strip(),
    )
    save_validated(chart)
    return chart


@transaction.atomic
def patient_chart_update(
    *,
    ctx: AccessContext,
    chart: PatientChart,
    home_location: Maybe[Location] = UNSET,
    client: Maybe[Client | None] = UNSET,
    medical_record_number: Maybe[str] = UNSET,
    patient_name: Maybe[str] = UNSET,
    date_of_birth: Maybe[dt.date] = UNSET,
    allergies: Maybe[str] = UNSET,
    destroyed_on: Maybe[dt.date | None] = UNSET,
) -> PatientChart:
    """Correct a chart's details, link it to the front desk's client, or record its destruction.

    A chart stays with its PC. Destruction is refused before the REC-001 floor (7 years after the
    last service; minors until 19), is recorded by a PC physician, and ends all changes.
    """
    require_may(ctx, PatientChart, CHANGE)
    require_open(chart, "destroyed_on")
    values = changes_of(
        {
            "home_location": home_location,
            "client": client,
            "medical_record_number": medical_record_number,
            "patient_name": patient_name,
            "date_of_birth": date_of_birth,
            "allergies": allergies,
            "destroyed_on": destroyed_on,
        }
    )
    pc = chart.pc
    if "home_location" in values:
        require_in_scope(ctx, values["home_location"], "home_location")
        if values["home_location"].pc_id != chart.pc_id:
            raise ValidationError(
                {"home_location": "This location's clinical services come from another PC."}
            )
    if values.get("client") is not None and values["client"].pk != chart.client_id:
        _check_client(ctx, values["client"], pc, chart)
    if "medical_record_number" in values:
        values["medical_record_number"] = _check_mrn(ctx, values["medical_record_number"], chart)
    if "patient_name" in values:
        values["patient_name"] = text(values["patient_name"], "patient_name")
    if "allergies" in values:
        values["allergies"] = values["allergies"].strip()
    if "date_of_birth" in values:
        not_future_date(values["date_of_birth"], "date_of_birth")
    if values.get("destroyed_on") is not None:
        day = values["destroyed_on"]
        if ctx.capacity.code != "pc_physician":
            raise ValidationError({"destroyed_on": "Only a PC physician records the destruction of a chart."})
        not_future_date(day, "destroyed_on")
        floor, reason = retention_floor(chart)
        if floor is not None and day < floor:
            raise ValidationError(
                {"destroyed_on": f"REC-001: keep this chart until {floor:%Y-%m-%d} ({reason})."}
            )
    changed = set_fields(chart, values)
    if changed:
        save_validated(chart, changed)
    return chart


# --- good-faith exams -----------------------------------------------------------------------------


def _check_exam(exam: GoodFaithExam) -> None:
    not_future_date(exam.examined_on, "examined_on")
    if exam.valid_until <= exam.examined_on:
        raise ValidationError({"valid_until": "The exam must stay valid for some time after it took place."})
    if exam.via_telehealth and not exam.telehealth_consent:
        raise ValidationError(
            {"telehealth_consent": "A telehealth exam needs the patient's documented consent (B&P 2290.5)."}
        )


@transaction.atomic
def good_faith_exam_create(
    *,
    ctx: AccessContext,
    chart: PatientChart,
    examiner: Provider,
    examined_on: dt.date,
    medical_indication: str,
    approved_procedures: Sequence[str],
    valid_until: dt.date | None = None,
    via_telehealth: bool = False,
    telehealth_consent: bool = False,
) -> GoodFaithExam:
    """Record a good-faith exam (B&P 2242) by a physician, NP or PA of the chart's PC.

    `valid_until` defaults to 12 months after the exam (RULES.md GFE-001's practice default).
    """
    require_may(ctx, GoodFaithExam, ADD)
    require_chart(ctx, chart)
    require_provider_of(ctx, examiner, chart.pc_id, "examiner", EXAMINER_LICENSES)
    exam = GoodFaithExam(
        tenant=ctx.tenant,
        chart=chart,
        examiner=examiner,
        examined_on=examined_on,
        via_telehealth=via_telehealth,
        telehealth_consent=telehealth_consent,
        medical_indication=text(medical_indication, "medical_indication"),
        approved_procedures=clean_procedures(approved_procedures, "approved_procedures"),
        valid_until=valid_until or examined_on + dt.timedelta(days=EXAM_VALIDITY_DAYS),
    )
    _check_exam(exam)
    save_validated(exam)
    return exam


@transaction.atomic
def good_faith_exam_update(
    *,
    ctx: AccessContext,
    exam: GoodFaithExam,
    examiner: Maybe[Provider] = UNSET,
    examined_on: Maybe[dt.date] = UNSET,
    medical_indication: Maybe[str] = UNSET,
    approved_procedures: Maybe[Sequence[str]] = UNSET,
    valid_until: Maybe[dt.date] = UNSET,
    via_telehealth: Maybe[bool] = UNSET,
    telehealth_consent: Maybe[bool] = UNSET,
) -> GoodFaithExam:
    """Correct an exam; the same rules as when it was recorded apply to the result."""
    require_may(ctx, GoodFaithExam, CHANGE)
    require_open(exam.chart)
    values = changes_of(
        {
            "examiner": examiner,
            "examined_on": examined_on,
            "medical_indication": medical_indication,
            "approved_procedures": approved_procedures,
            "valid_until": valid_until,
            "via_telehealth": via_telehealth,
            "telehealth_consent": telehealth_consent,
        }
    )
    if "examiner" in values:
        require_provider_of(ctx, values["examiner"], exam.chart.pc_id, "examiner", EXAMINER_LICENSES)
    if "medical_indication" in values:
        values["medical_indication"] = text(values["medical_indication"], "medical_indication")
    if "approved_procedures" in values:
        values["approved_procedures"] = clean_procedures(values["approved_procedures"], "approved_procedures")
    changed = set_fields(exam, values)
    _check_exam(exam)
    if changed:
        save_validated(exam, changed)
    return exam


# --- photo authorizations -------------------------------------------------------------------------


def _check_authorization(auth: PhotoAuthorization) -> None:
    not_future_date(auth.signed_on, "signed_on")
    if auth.expires_on is not None and auth.expires_on <= auth.signed_on:
        raise ValidationError({"expires_on": "The authorization must expire after it was signed."})
    if auth.revoked_on is not None:
        not_future_date(auth.revoked_on, "revoked_on")
        if auth.revoked_on < auth.signed_on:
            raise ValidationError({"revoked_on": "An authorization cannot be revoked before it was signed."})


@transaction.atomic
def photo_authorization_create(
    *,
    ctx: AccessContext,
    chart: PatientChart,
    signed_on: dt.date,
    purpose: str,
    expires_on: dt.date | None = None,
) -> PhotoAuthorization:
    """Record the patient's written authorization to use their photos outside the chart (HIPAA 164.508)."""
    require_may(ctx, PhotoAuthorization, ADD)
    require_chart(ctx, chart)
    auth = PhotoAuthorization(
        tenant=ctx.tenant,
        chart=chart,
        signed_on=signed_on,
        purpose=text(purpose, "purpose"),
        expires_on=expires_on,
    )
    _check_authorization(auth)
    save_validated(auth)
    return auth


@transaction.atomic
def photo_authorization_update(
    *,
    ctx: AccessContext,
    authorization: PhotoAuthorization,
    signed_on: Maybe[dt.date] = UNSET,
    purpose: Maybe[str] = UNSET,
    expires_on: Maybe[dt.date | None] = UNSET,
    revoked_on: Maybe[dt.date | None] = UNSET,
) -> PhotoAuthorization:
    """Correct an authorization or record its revocation (a revocation stays: it cannot be undone)."""
    require_may(ctx, PhotoAuthorization, CHANGE)
    require_open(authorization.chart)
    values = changes_of(
        {"signed_on": signed_on, "purpose": purpose, "expires_on": expires_on, "revoked_on": revoked_on}
    )
    if "purpose" in values:
        values["purpose"] = text(values["purpose"], "purpose")
    if authorization.revoked_on is not None and values.get("revoked_on", authorization.revoked_on) != (
        authorization.revoked_on
    ):
        raise ValidationError({"revoked_on": "The patient revoked this authorization; that stays on record."})
    changed = set_fields(authorization, values)
    _check_authorization(authorization)
    if changed:
        save_validated(authorization, changed)
    return authorization


def authorization_usable(auth: PhotoAuthorization, on: dt.date | None = None) -> str | None:
    """Why the authorization does not cover a use today, or None when it does."""
    day = on or timezone.localdate()
    if auth.revoked_on is not None and auth.revoked_on <= day:
        return f"The patient revoked this authorization on {auth.revoked_on:%Y-%m-%d}."
    if auth.expires_on is not None and auth.expires_on < day:
        return f"This authorization expired on {auth.expires_on:%Y-%m-%d}."
    return None


# --- signed consents ------------------------------------------------------------------------------


@transaction.atomic
def signed_consent_create(
    *,
    ctx: AccessContext,
    chart: PatientChart,
    form_version: ConsentFormVersion,
    signer_name: str = "",
    signed_at: dt.datetime | None = None,
) -> SignedConsent:
    """Record the patient's signature on one approved, current consent-form version of the chart's PC.

    The person recording the signature witnessed it (ctx's user). `signer_name` defaults to the
    patient's name (a guardian signs for a minor under their own name); `signed_at` to now. A
    signature is never edited: a new version means a new signature.
    """
    require_may(ctx, SignedConsent, ADD)
    require_chart(ctx, chart)
    require_in_scope(ctx, form_version, "form_version")
    if ctx.user is None:
        raise ValidationError({"detail": "A consent is witnessed by a person signed in to a capacity."})
    if form_version.pc_id != chart.pc_id:
        raise ValidationError({"form_version": "This consent form is another PC's."})
    if form_version.superseded_at is not None:
        superseded = f"Version {form_version.number} was superseded; have the current version signed."
        raise ValidationError({"form_version": superseded})
    moment = signed_at or timezone.now()
    not_future_time(moment, "signed_at")
    if moment < form_version.approved_at:
        raise ValidationError({"signed_at": "The form version was not approved yet at that time."})
    consent = SignedConsent(
        tenant=ctx.tenant,
        chart=chart,
        form_version=form_version,
        signed_at=moment,
        signer_name=text(signer_name, "signer_name", required=False) or chart.patient_name,
        witnessed_by=ctx.user,
    )
    save_validated(consent)
    return consent


# --- treatments, their product lots and photos ----------------------------------------------------


def _check_treatment(ctx: AccessContext, treatment: Treatment, values: Mapping[str, Any]) -> None:
    """Checks the references given in `values` and the treatment's own consistency."""
    chart = treatment.chart
    if "location" in values:
        require_in_scope(ctx, values["location"], "location")
        if values["location"].pc_id != chart.pc_id:
            raise ValidationError({"location": "This location's clinical services come from another PC."})
    if "performer" in values:
        require_provider_of(ctx, values["performer"], chart.pc_id, "performer")
    if values.get("supervisor") is not None:
        require_provider_of(ctx, values["supervisor"], chart.pc_id, "supervisor")
    if values.get("good_faith_exam") is not None:
        require_same_chart(ctx, values["good_faith_exam"], chart, "good_faith_exam", "exam")
    if values.get("consent") is not None:
        require_same_chart(ctx, values["consent"], chart, "consent", "consent")
    if treatment.supervisor_id is not None and treatment.supervisor_id == treatment.performer_id:
        raise ValidationError({"supervisor": "The performer cannot supervise their own treatment."})
    not_future_time(treatment.performed_at, "performed_at")
    if treatment.charted_at is not None:
        not_future_time(treatment.charted_at, "charted_at")
        if treatment.charted_at < treatment.performed_at:
            raise ValidationError({"charted_at": "The notes cannot be charted before the treatment."})


def _product(ctx: AccessContext, treatment: Treatment, data: Mapping[str, Any]) -> TreatmentProduct:
    try:
        quantity = Decimal(str(data.get("quantity", "")))
    except InvalidOperation:
        raise ValidationError({"quantity": "Give the quantity as a number."}) from None
    if not quantity.is_finite() or quantity <= 0:
        raise ValidationError({"quantity": "The quantity must be more than zero."})
    product = TreatmentProduct(
        tenant=ctx.tenant,
        treatment=treatment,
        product_name=text(str(data.get("product_name", "")), "product_name"),
        lot_number=text(str(data.get("lot_number", "")), "lot_number"),
        expires_on=data.get("expires_on"),
        quantity=quantity,
        unit=text(str(data.get("unit") or "units"), "unit"),
    )
    return product


@transaction.atomic
def treatment_create(
    *,
    ctx: AccessContext,
    chart: PatientChart,
    location: Location,
    procedure: str,
    performer: Provider,
    performed_at: dt.datetime,
    supervisor: Provider | None = None,
    good_faith_exam: GoodFaithExam | None = None,
    consent: SignedConsent | None = None,
    notes: str = "",
    charted_at: dt.datetime | None = None,
    products: Sequence[Mapping[str, Any]] = (),
) -> Treatment:
    """Chart a treatment: who performed it (and who supervised), where, when, on which exam and
    consent of this chart, with the products and lot numbers used.

    Notes given without `charted_at` are charted now (CHT-001 measures the delay). Each product is
    a mapping of product_name, lot_number, quantity, unit and expires_on.
    """
    require_may(ctx, Treatment, ADD)
    require_chart(ctx, chart)
    if procedure not in Procedure.values:
        raise ValidationError({"procedure": "Choose a known procedure."})
    notes = notes.strip()
    treatment = Treatment(
        tenant=ctx.tenant,
        chart=chart,
        location=location,
        procedure=procedure,
        performer=performer,
        supervisor=supervisor,
        performed_at=performed_at,
        good_faith_exam=good_faith_exam,
        consent=consent,
        notes=notes,
        charted_at=charted_at or (timezone.now() if notes else None),
    )
    refs = {"location": location, "performer": performer, "supervisor": supervisor}
    _check_treatment(ctx, treatment, {**refs, "good_faith_exam": good_faith_exam, "consent": consent})
    save_validated(treatment)
    for index, data in enumerate(products, start=1):
        try:
            save_validated(_product(ctx, treatment, data))
        except ValidationError as exc:
            raise ValidationError({"products": f"Product {index}: {'; '.join(exc.messages)}"}) from None
    return treatment


@transaction.atomic
def treatment_update(
    *,
    ctx: AccessContext,
    treatment: Treatment,
    location: Maybe[Location] = UNSET,
    procedure: Maybe[str] = UNSET,
    performer: Maybe[Provider] = UNSET,
    supervisor: Maybe[Provider | None] = UNSET,
    performed_at: Maybe[dt.datetime] = UNSET,
    good_faith_exam: Maybe[GoodFaithExam | None] = UNSET,
    consent: Maybe[SignedConsent | None] = UNSET,
    notes: Maybe[str] = UNSET,
    charted_at: Maybe[dt.datetime | None] = UNSET,
) -> Treatment:
    """Correct or complete a treatment's record (e.g. chart the notes); the treatment stays in its chart."""
    require_may(ctx, Treatment, CHANGE)
    require_open(treatment.chart)
    values = changes_of(
        {
            "location": location,
            "procedure": procedure,
            "performer": performer,
            "supervisor": supervisor,
            "performed_at": performed_at,
            "good_faith_exam": good_faith_exam,
            "consent": consent,
            "notes": notes,
            "charted_at": charted_at,
        }
    )
    if "procedure" in values and values["procedure"] not in Procedure.values:
        raise ValidationError({"procedure": "Choose a known procedure."})
    if "notes" in values:
        values["notes"] = values["notes"].strip()
        if values["notes"] and treatment.charted_at is None and "charted_at" not in values:
            values["charted_at"] = timezone.now()
    moved = values.get("performed_at")
    if (
        moved is not None
        and "charted_at" not in values
        and treatment.charted_at
        and treatment.charted_at < moved
    ):
        # The charting time was of a treatment time now corrected past it: the record is charted now.
        notes = values.get("notes", treatment.notes)
        values["charted_at"] = timezone.now() if notes else None
    changed = set_fields(treatment, values)
    _check_treatment(ctx, treatment, {k: v for k, v in values.items() if k in changed})
    if changed:
        save_validated(treatment, changed)
    return treatment


def _treatment_of(ctx: AccessContext, treatment: Treatment) -> None:
    require_in_scope(ctx, treatment, "treatment")
    require_open(treatment.chart, "treatment")


@transaction.atomic
def treatment_product_create(
    *,
    ctx: AccessContext,
    treatment: Treatment,
    product_name: str,
    lot_number: str,
    quantity: Decimal,
    unit: str = "units",
    expires_on: dt.date | None = None,
) -> TreatmentProduct:
    """Record a product used in a treatment, with its lot number (CHT-001, recalls)."""
    require_may(ctx, TreatmentProduct, ADD)
    _treatment_of(ctx, treatment)
    product = _product(
        ctx,
        treatment,
        {
            "product_name": product_name,
            "lot_number": lot_number,
            "quantity": quantity,
            "unit": unit,
            "expires_on": expires_on,
        },
    )
    save_validated(product)
    return product


@transaction.atomic
def treatment_product_update(
    *,
    ctx: AccessContext,
    product: TreatmentProduct,
    product_name: Maybe[str] = UNSET,
    lot_number: Maybe[str] = UNSET,
    quantity: Maybe[Decimal] = UNSET,
    unit: Maybe[str] = UNSET,
    expires_on: Maybe[dt.date | None] = UNSET,
) -> TreatmentProduct:
    """Correct a product line of a treatment."""
    require_may(ctx, TreatmentProduct, CHANGE)
    require_open(product.treatment.chart, "treatment")
    current = {
        "product_name": product.product_name,
        "lot_number": product.lot_number,
        "quantity": product.quantity,
        "unit": product.unit,
        "expires_on": product.expires_on,
    }
    given = changes_of(
        {
            "product_name": product_name,
            "lot_number": lot_number,
            "quantity": quantity,
            "unit": unit,
            "expires_on": expires_on,
        }
    )
    checked = _product(ctx, product.treatment, {**current, **given})
    changed = set_fields(product, {name: getattr(checked, name) for name in given})
    if changed:
        save_validated(product, changed)
    return product


def _check_photo(ctx: AccessContext, photo: TreatmentPhoto, new_authorization: bool) -> None:
    not_future_time(photo.taken_at, "taken_at")
    auth = photo.authorization
    if auth is not None:
        if new_authorization:
            require_in_scope(ctx, auth, "authorization")
        if auth.chart_id != photo.treatment.chart_id:
            raise ValidationError({"authorization": "This authorization belongs to another chart."})
    if photo.used_outside_chart:
        if auth is None:
            needed = "A photo used outside the chart needs the patient's authorization (HIPAA 164.508)."
            raise ValidationError({"authorization": needed})
        problem = authorization_usable(auth)
        if problem:
            raise ValidationError({"authorization": problem})


@transaction.atomic
def treatment_photo_create(
    *,
    ctx: AccessContext,
    treatment: Treatment,
    kind: str,
    taken_at: dt.datetime,
    description: str,
    used_outside_chart: bool = False,
    authorization: PhotoAuthorization | None = None,
) -> TreatmentPhoto:
    """Record a before/after photo of a treatment; using it outside the chart needs an unrevoked,
    unexpired authorization of the same chart (CON-002)."""
    require_may(ctx, TreatmentPhoto, ADD)
    _treatment_of(ctx, treatment)
    photo = TreatmentPhoto(
        tenant=ctx.tenant,
        treatment=treatment,
        kind=kind,
        taken_at=taken_at,
        description=text(description, "description"),
        used_outside_chart=used_outside_chart,
        authorization=authorization,
    )
    _check_photo(ctx, photo, new_authorization=True)
    save_validated(photo)
    return photo


@transaction.atomic
def treatment_photo_update(
    *,
    ctx: AccessContext,
    photo: TreatmentPhoto,
    kind: Maybe[str] = UNSET,
    taken_at: Maybe[dt.datetime] = UNSET,
    description: Maybe[str] = UNSET,
    used_outside_chart: Maybe[bool] = UNSET,
    authorization: Maybe[PhotoAuthorization | None] = UNSET,
) -> TreatmentPhoto:
    """Correct a photo's record, or mark it used outside the chart (then it needs an authorization)."""
    require_may(ctx, TreatmentPhoto, CHANGE)
    require_open(photo.treatment.chart, "treatment")
    values = changes_of(
        {
            "kind": kind,
            "taken_at": taken_at,
            "description": description,
            "used_outside_chart": used_outside_chart,
            "authorization": authorization,
        }
    )
    if "description" in values:
        values["description"] = text(values["description"], "description")
    changed = set_fields(photo, values)
    _check_photo(ctx, photo, new_authorization="authorization" in changed)
    if changed:
        save_validated(photo, changed)
    return photo


# --- chart reviews and adverse events -------------------------------------------------------------


@transaction.atomic
def chart_review_create(
    *,
    ctx: AccessContext,
    chart: PatientChart,
    reviewer: Provider,
    reviewed_on: dt.date,
    findings: str = "",
    follow_up_needed: bool = False,
) -> ChartReview:
    """Record the medical director's review of a chart (CHT-002): a physician of the chart's PC."""
    require_may(ctx, ChartReview, ADD)
    require_chart(ctx, chart)
    require_provider_of(ctx, reviewer, chart.pc_id, "reviewer", PHYSICIAN_LICENSES)
    not_future_date(reviewed_on, "reviewed_on")
    review = ChartReview(
        tenant=ctx.tenant,
        chart=chart,
        reviewer=reviewer,
        reviewed_on=reviewed_on,
        findings=findings.strip(),
        follow_up_needed=follow_up_needed,
    )
    save_validated(review)
    return review


@transaction.atomic
def chart_review_update(
    *,
    ctx: AccessContext,
    review: ChartReview,
    reviewer: Maybe[Provider] = UNSET,
    reviewed_on: Maybe[dt.date] = UNSET,
    findings: Maybe[str] = UNSET,
    follow_up_needed: Maybe[bool] = UNSET,
) -> ChartReview:
    """Correct a chart review or close its follow-up."""
    require_may(ctx, ChartReview, CHANGE)
    require_open(review.chart)
    values = changes_of(
        {
            "reviewer": reviewer,
            "reviewed_on": reviewed_on,
            "findings": findings,
            "follow_up_needed": follow_up_needed,
        }
    )
    if "reviewer" in values:
        require_provider_of(ctx, values["reviewer"], review.chart.pc_id, "reviewer", PHYSICIAN_LICENSES)
    if "reviewed_on" in values:
        not_future_date(values["reviewed_on"], "reviewed_on")
    if "findings" in values:
        values["findings"] = values["findings"].strip()
    changed = set_fields(review, values)
    if changed:
        save_validated(review, changed)
    return review


def _check_event(ctx: AccessContext, event: AdverseEvent, new_treatment: bool) -> None:
    not_future_time(event.occurred_at, "occurred_at")
    if event.treatment is not None:
        if new_treatment:
            require_same_chart(ctx, event.treatment, event.chart, "treatment", "treatment")
        if event.occurred_at < event.treatment.performed_at - CLOCK_SKEW:
            raise ValidationError({"occurred_at": "The event cannot come before the treatment it follows."})
    if event.physician_notified_at is not None:
        not_future_time(event.physician_notified_at, "physician_notified_at")
        if event.physician_notified_at < event.occurred_at:
            raise ValidationError(
                {"physician_notified_at": "The physician cannot be notified before the event."}
            )


@transaction.atomic
def adverse_event_create(
    *,
    ctx: AccessContext,
    chart: PatientChart,
    occurred_at: dt.datetime,
    severity: str,
    description: str,
    treatment: Treatment | None = None,
    actions_taken: str = "",
    physician_notified_at: dt.datetime | None = None,
) -> AdverseEvent:
    """Record an adverse event of a patient, with the treatment of this chart it followed, if any."""
    require_may(ctx, AdverseEvent, ADD)
    require_chart(ctx, chart)
    event = AdverseEvent(
        tenant=ctx.tenant,
        chart=chart,
        treatment=treatment,
        occurred_at=occurred_at,
        severity=severity,
        description=text(description, "description"),
        actions_taken=actions_taken.strip(),
        physician_notified_at=physician_notified_at,
    )
    _check_event(ctx, event, new_treatment=True)
    save_validated(event)
    return event


@transaction.atomic
def adverse_event_update(
    *,
    ctx: AccessContext,
    event: AdverseEvent,
    treatment: Maybe[Treatment | None] = UNSET,
    occurred_at: Maybe[dt.datetime] = UNSET,
    severity: Maybe[str] = UNSET,
    description: Maybe[str] = UNSET,
    actions_taken: Maybe[str] = UNSET,
    physician_notified_at: Maybe[dt.datetime | None] = UNSET,
) -> AdverseEvent:
    """Complete an adverse event's record: actions taken, when the physician was notified."""
    require_may(ctx, AdverseEvent, CHANGE)
    require_open(event.chart)
    values = changes_of(
        {
            "treatment": treatment,
            "occurred_at": occurred_at,
            "severity": severity,
            "description": description,
            "actions_taken": actions_taken,
            "physician_notified_at": physician_notified_at,
        }
    )
    if "description" in values:
        values["description"] = text(values["description"], "description")
    if "actions_taken" in values:
        values["actions_taken"] = values["actions_taken"].strip()
    changed = set_fields(event, values)
    _check_event(ctx, event, new_treatment="treatment" in changed)
    if changed:
        save_validated(event, changed)
    return event
