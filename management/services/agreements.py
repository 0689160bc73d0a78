"""Writes of Management Services Agreements and the money that flows under them.

MSAs (scope, fee terms, FMV opinion, clauses), their performance standards, numbered amendments and
signed PDFs; management-fee invoices and payments; PC collections per month.

Callers (API viewsets, pages, the CSV importer) fetch the object through the permission layer first;
these services refuse, again, a capacity that may not write the model at all, check every reference
is an object of the caller's tenant inside its scope (a 400 on that field otherwise), validate the
business rules with a message per field and save with full model validation. Row writes are
audit-logged by the database trigger.

Updates take ``**changes``: a key that is present is set, ``None`` included (it clears an optional
field); a key that is absent leaves the field as it is.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar, cast

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from compliance.tasks import audit_after_change
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
from tenants.access import AccessContext
from tenants.capacities import ADD, CHANGE
from tenants.taskbase import enqueue_on_commit
from tenants.writes import clean_state, require_in_scope, require_may, save_validated

F = TypeVar("F", bound=Callable[..., Any])

# Below the 5 MiB request limit (DATA_UPLOAD_MAX_MEMORY_SIZE), which leaves room for the form around it.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
PDF_MAGIC = b"%PDF-"
ZERO = Decimal("0.00")

# The fee terms each basis uses; the others are cleared so a record never carries stale terms.
FEE_TERMS: dict[str, tuple[str, ...]] = {
    FeeBasis.FIXED_MONTHLY: ("fee_amount",),
    FeeBasis.PER_UNIT: ("fee_amount", "fee_unit"),
    FeeBasis.COST_PLUS: ("fee_rate_percent",),
    FeeBasis.PERCENT_OF_COLLECTIONS: ("fee_rate_percent",),
}
MISSING_FEE_TERM: dict[tuple[str, str], str] = {
    (FeeBasis.FIXED_MONTHLY, "fee_amount"): "A fixed monthly fee needs its monthly amount.",
    (FeeBasis.PER_UNIT, "fee_amount"): "A per-unit fee needs the amount charged per unit of service.",
    (FeeBasis.PER_UNIT, "fee_unit"): "A per-unit fee needs its unit of service (e.g. “treatment”).",
    (FeeBasis.COST_PLUS, "fee_rate_percent"): "A cost-plus fee needs its markup rate in percent.",
    (
        FeeBasis.PERCENT_OF_COLLECTIONS,
        "fee_rate_percent",
    ): "A percentage-of-collections fee needs its rate in percent.",
}


# --- small helpers -------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _clean_currency(value: Any, field: str = "currency") -> str:
    code = _text(value).upper()
    if len(code) != 3 or not code.isalpha():
        raise ValidationError({field: "Use the three-letter currency code, e.g. USD."})
    return code


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _raise(errors: dict[str, str]) -> None:
    if errors:
        raise ValidationError(errors)


def _assign(obj: models.Model, changes: dict[str, Any], editable: Iterable[str]) -> list[str]:
    """Set each given field whose value differs; returns the changed names.

    Unknown names are a programming error (the API and forms only pass declared fields).
    """
    allowed = set(editable)
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"{type(obj).__name__}: cannot change {sorted(unknown)}")
    changed = []
    for name, value in changes.items():
        field = obj._meta.get_field(name)
        # Compare foreign keys by id: reading the current related object would cost a query.
        current = getattr(obj, getattr(field, "attname", name))
        if current != (value.pk if isinstance(value, models.Model) else value):
            setattr(obj, name, value)
            changed.append(name)
    return changed


def _reverts_on_refusal(kwarg: str) -> Callable[[F], F]:
    """An update service that refuses leaves the caller's object as it was (not half-assigned)."""

    def decorate(service: F) -> F:
        @functools.wraps(service)
        def wrapper(**kwargs: Any) -> Any:
            obj = kwargs[kwarg]
            saved = {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
            try:
                return service(**kwargs)
            except ValidationError:
                for name, value in saved.items():
                    setattr(obj, name, value)
                raise

        return cast(F, wrapper)

    return decorate


def _audit_after_commit(
    ctx: AccessContext, obj: models.Model, *pc_ids: Any, changed: list[str] | None = None
) -> None:
    """Once the write commits, re-run the compliance rules this model triggers for the PC(s): one run
    (an MSA moved to another PC re-checks both), narrowed to this object where a rule can be.
    `changed`: the fields an update changed (the rules that read none of them are not re-run);
    None: the object was created."""
    written: dict[str, Any] = (
        {"object_ids": [str(obj.pk)]} if changed is None else {"updated": {str(obj.pk): list(changed)}}
    )
    enqueue_on_commit(
        audit_after_change,
        tenant_id=str(ctx.tenant.pk),
        model_label=obj._meta.label,
        pc_ids=[str(pc_id) for pc_id in dict.fromkeys(pc_ids)],
        **written,
    )


def _require_new_ref(ctx: AccessContext, obj: models.Model, field: str, value: Any) -> None:
    # A reference the caller cannot see may stay as it is, but cannot be newly set.
    if isinstance(value, models.Model) and value.pk != getattr(obj, f"{field}_id"):
        require_in_scope(ctx, value, field)


def month_start(day: dt.date) -> dt.date:
    """The first day of `day`'s month: collections are kept per calendar month."""
    return day.replace(day=1)


# --- Management Services Agreements ----------------------------------------------------------------


def _clean_services(services: Iterable[str] | None) -> list[str]:
    codes: list[str] = []
    known = ", ".join(ManagedService.values)
    for raw in services or []:
        code = _text(raw).lower()
        if code not in ManagedService.values:
            raise ValidationError({"services": f"Unknown service “{raw}”. Choose from: {known}."})
        if code not in codes:
            codes.append(code)
    return codes


def check_fee_terms(
    basis: str, amount: Decimal | None, rate: Decimal | None, unit: str, *, prefix: str = ""
) -> dict[str, str]:
    """Messages for the fee terms `basis` needs but lacks (keys: fee_amount, fee_rate_percent, fee_unit,
    with `prefix` for an amendment's new_ terms). Shared with the MSA edit form's own checks."""
    if basis not in FEE_TERMS:
        choices = ", ".join(FeeBasis.values)
        return {f"{prefix}fee_basis": f"Unknown fee basis “{basis}”. Choose from: {choices}."}
    given = {"fee_amount": amount, "fee_rate_percent": rate, "fee_unit": unit or None}
    errors = {}
    for term in FEE_TERMS[basis]:
        if term == "fee_unit" and prefix:
            continue  # an amendment keeps the agreement's unit
        if given[term] is None:
            errors[f"{prefix}{term}"] = MISSING_FEE_TERM[(basis, term)]
    if amount is not None and amount < 0:
        errors[f"{prefix}fee_amount"] = "The fee cannot be negative."
    if rate is not None and not ZERO <= rate <= 100:
        errors[f"{prefix}fee_rate_percent"] = "The rate is a percentage between 0 and 100."
    return errors


def _validate_msa(msa: ManagementServicesAgreement) -> None:
    """Field-by-field checks with messages a person can act on (before the model's own constraints)."""
    errors = check_fee_terms(msa.fee_basis, msa.fee_amount, msa.fee_rate_percent, msa.fee_unit)
    if msa.fee_basis in FEE_TERMS:
        used = FEE_TERMS[msa.fee_basis]
        # The fee is described by the terms of its basis only.
        if "fee_amount" not in used:
            msa.fee_amount = None
        if "fee_rate_percent" not in used:
            msa.fee_rate_percent = None
        if "fee_unit" not in used:
            msa.fee_unit = ""
    if msa.effective_date and msa.end_date and msa.end_date <= msa.effective_date:
        errors["end_date"] = "The agreement must end after it takes effect."
    if (msa.fmv_low is None) != (msa.fmv_high is None):
        errors["fmv_high" if msa.fmv_high is None else "fmv_low"] = "Give both ends of the FMV range."
    elif msa.fmv_low is not None and msa.fmv_high is not None:
        if msa.fmv_low < 0:
            errors["fmv_low"] = "The FMV range cannot be negative."
        elif msa.fmv_low > msa.fmv_high:
            errors["fmv_high"] = "The FMV range's low end cannot exceed its high end."
    if not msa.title:
        errors["title"] = "Give the agreement a title."
    _raise(errors)


def _check_invoices_inside_term(msa: ManagementServicesAgreement) -> None:
    outside = (
        ManagementFeeInvoice.objects.filter(msa=msa)
        .filter(models.Q(period_start__lt=msa.effective_date) | models.Q(period_end__gt=msa.end_date))
        .order_by("period_start")
        .values_list("number", flat=True)[:3]
    )
    numbers = list(outside)
    if numbers:
        raise ValidationError(
            {
                "effective_date": "Invoices of this agreement fall outside that term: "
                f"{', '.join(numbers)}. Keep the term around every invoiced period."
            }
        )


MSA_FIELDS = (
    "title",
    "mso_entity",
    "pc",
    "effective_date",
    "end_date",
    "signed_on",
    "services",
    "fee_basis",
    "fee_amount",
    "fee_rate_percent",
    "fee_unit",
    "currency",
    "fmv_opinion_date",
    "fmv_appraiser",
    "fmv_low",
    "fmv_high",
    "counsel_reviewed_on",
    "non_clinical_role_clause",
    "dispute_resolution_clause",
    "termination_clause",
    "termination_notice_days",
    "governing_state",
    "investor_clinical_control_clause",
    "clinician_noncompete_clause",
    "clinician_gag_clause",
)
_MSA_TEXT = ("title", "fee_unit", "fmv_appraiser")


def _normalise_msa_input(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for name in _MSA_TEXT:
        if name in out:
            out[name] = _text(out[name])
    if "services" in out:
        out["services"] = _clean_services(out["services"])
    if "currency" in out:
        out["currency"] = _clean_currency(out["currency"])
    if "governing_state" in out:
        state = _text(out["governing_state"])
        out["governing_state"] = clean_state(state, "governing_state") if state else ""
    for flag in (n for n in MSA_FIELDS if n.endswith("_clause")):
        if flag in out:
            out[flag] = bool(out[flag])
    return out


@transaction.atomic
def msa_create(
    *,
    ctx: AccessContext,
    mso_entity: MsoEntity,
    pc: ProfessionalCorporation,
    effective_date: dt.date,
    end_date: dt.date,
    fee_basis: str,
    services: Iterable[str] = (),
    title: str = "Management Services Agreement",
    signed_on: dt.date | None = None,
    fee_amount: Decimal | None = None,
    fee_rate_percent: Decimal | None = None,
    fee_unit: str = "",
    currency: str = "USD",
    fmv_opinion_date: dt.date | None = None,
    fmv_appraiser: str = "",
    fmv_low: Decimal | None = None,
    fmv_high: Decimal | None = None,
    counsel_reviewed_on: dt.date | None = None,
    non_clinical_role_clause: bool = False,
    dispute_resolution_clause: bool = False,
    termination_clause: bool = False,
    termination_notice_days: int | None = None,
    governing_state: str = "",
    investor_clinical_control_clause: bool = False,
    clinician_noncompete_clause: bool = False,
    clinician_gag_clause: bool = False,
) -> ManagementServicesAgreement:
    """Record an MSA between an MSO entity (manager) and a PC (the clinical party).

    The fee terms must fit the basis: a fixed monthly or per-unit fee needs its amount (per unit also
    its unit), a cost-plus or percentage-of-collections fee its rate; terms the basis does not use
    are cleared. The FMV range is given whole, low end first. Both parties must be in ctx's scope.
    """
    require_may(ctx, ManagementServicesAgreement, ADD)
    require_in_scope(ctx, mso_entity, "mso_entity")
    require_in_scope(ctx, pc, "pc")
    values = _normalise_msa_input(
        {
            "title": title,
            "services": services,
            "fee_unit": fee_unit,
            "currency": currency,
            "fmv_appraiser": fmv_appraiser,
            "governing_state": governing_state,
        }
    )
    msa = ManagementServicesAgreement(
        tenant=ctx.tenant,
        mso_entity=mso_entity,
        pc=pc,
        effective_date=effective_date,
        end_date=end_date,
        signed_on=signed_on,
        fee_basis=fee_basis,
        fee_amount=fee_amount,
        fee_rate_percent=fee_rate_percent,
        fmv_opinion_date=fmv_opinion_date,
        fmv_low=fmv_low,
        fmv_high=fmv_high,
        counsel_reviewed_on=counsel_reviewed_on,
        non_clinical_role_clause=non_clinical_role_clause,
        dispute_resolution_clause=dispute_resolution_clause,
        termination_clause=termination_clause,
        termination_notice_days=termination_notice_days,
        investor_clinical_control_clause=investor_clinical_control_clause,
        clinician_noncompete_clause=clinician_noncompete_clause,
        clinician_gag_clause=clinician_gag_clause,
        **values,
    )
    _validate_msa(msa)
    save_validated(msa)
    _audit_after_commit(ctx, msa, msa.pc_id)
    return msa


@_reverts_on_refusal("msa")
@transaction.atomic
def msa_update(
    *, ctx: AccessContext, msa: ManagementServicesAgreement, **changes: Any
) -> ManagementServicesAgreement:
    """Change an MSA (fields as in msa_create). A new party must be in ctx's scope; the term must
    keep covering every invoiced period; the fee terms are checked against the resulting basis."""
    require_may(ctx, ManagementServicesAgreement, CHANGE)
    for field in ("mso_entity", "pc"):
        if field in changes:
            if changes[field] is None:
                raise ValidationError({field: "An agreement needs both parties."})
            _require_new_ref(ctx, msa, field, changes[field])
    for field in ("effective_date", "end_date", "fee_basis", "title"):
        if field in changes and changes[field] in (None, ""):
            raise ValidationError({field: "This field is required."})
    pc_before = msa.pc_id
    changed = _assign(msa, _normalise_msa_input(changes), MSA_FIELDS)
    before = {n: getattr(msa, n) for n in ("fee_amount", "fee_rate_percent", "fee_unit")}
    _validate_msa(msa)
    # _validate_msa may clear the terms the basis does not use: those are changes too.
    changed += [n for n, v in before.items() if getattr(msa, n) != v and n not in changed]
    if {"effective_date", "end_date"} & set(changed):
        _check_invoices_inside_term(msa)
    if changed:
        save_validated(msa, changed)
        _audit_after_commit(ctx, msa, msa.pc_id, pc_before, changed=changed)
    return msa


# --- Performance standards -----------------------------------------------------------------------


def _validate_standard(standard: PerformanceStandard) -> None:
    errors = {}
    if not standard.metric:
        errors["metric"] = "Name the metric the MSO is measured on."
    if not standard.target:
        errors["target"] = "Give the target the MSO must meet."
    _raise(errors)


@transaction.atomic
def performance_standard_create(
    *, ctx: AccessContext, msa: ManagementServicesAgreement, metric: str, target: str
) -> PerformanceStandard:
    """Add a performance standard (metric and target) the MSO is held to under `msa`."""
    require_may(ctx, PerformanceStandard, ADD)
    require_in_scope(ctx, msa, "msa")
    standard = PerformanceStandard(tenant=ctx.tenant, msa=msa, metric=_text(metric), target=_text(target))
    _validate_standard(standard)
    save_validated(standard)
    return standard


@_reverts_on_refusal("standard")
@transaction.atomic
def performance_standard_update(
    *, ctx: AccessContext, standard: PerformanceStandard, **changes: Any
) -> PerformanceStandard:
    """Change a standard's metric or target (it stays with its agreement)."""
    require_may(ctx, PerformanceStandard, CHANGE)
    if "msa" in changes:
        if getattr(changes["msa"], "pk", None) != standard.msa_id:
            raise ValidationError({"msa": "A standard stays with its agreement; add it to the other one."})
        del changes["msa"]
    cleaned = {k: _text(v) for k, v in changes.items()}
    changed = _assign(standard, cleaned, ("metric", "target"))
    _validate_standard(standard)
    if changed:
        save_validated(standard, changed)
    return standard


# --- Amendments ----------------------------------------------------------------------------------


def next_amendment_number(msa: ManagementServicesAgreement) -> int:
    return int(MsaAmendment.objects.filter(msa=msa).aggregate(n=Max("number"))["n"] or 0) + 1


def _validate_amendment(amendment: MsaAmendment, msa: ManagementServicesAgreement) -> None:
    errors: dict[str, str] = {}
    if not amendment.summary:
        errors["summary"] = "Say what the amendment changes."
    if amendment.effective_date and not msa.effective_date <= amendment.effective_date <= msa.end_date:
        errors["effective_date"] = (
            f"An amendment takes effect during the agreement's term "
            f"({msa.effective_date:%Y-%m-%d} to {msa.end_date:%Y-%m-%d})."
        )
    fee_change = (
        bool(amendment.new_fee_basis)
        or amendment.new_fee_amount is not None
        or amendment.new_fee_rate_percent is not None
    )
    if fee_change:
        # A fee change without a new basis keeps the agreement's basis.
        basis = amendment.new_fee_basis or msa.fee_basis
        terms = check_fee_terms(
            basis, amendment.new_fee_amount, amendment.new_fee_rate_percent, "", prefix="new_"
        )
        errors.update(terms)
        if basis in FEE_TERMS and not terms:
            if "fee_amount" not in FEE_TERMS[basis]:
                amendment.new_fee_amount = None
            if "fee_rate_percent" not in FEE_TERMS[basis]:
                amendment.new_fee_rate_percent = None
    _raise(errors)


@transaction.atomic
def msa_amendment_create(
    *,
    ctx: AccessContext,
    msa: ManagementServicesAgreement,
    effective_date: dt.date,
    summary: str,
    signed_on: dt.date | None = None,
    number: int | None = None,
    new_fee_basis: str = "",
    new_fee_amount: Decimal | None = None,
    new_fee_rate_percent: Decimal | None = None,
) -> MsaAmendment:
    """Record a signed amendment of `msa`, numbered next after its last one (1, 2, 3 …).

    A given number must be that next number. A fee change states the new amount or rate (and a
    new basis if the basis changes); it takes effect during the agreement's term.
    """
    require_may(ctx, MsaAmendment, ADD)
    require_in_scope(ctx, msa, "msa")
    # Lock the agreement: two amendments recorded at once must not both take the same number.
    ManagementServicesAgreement.objects.select_for_update().filter(pk=msa.pk).values_list("pk").first()
    expected = next_amendment_number(msa)
    if number is not None and number != expected:
        raise ValidationError(
            {"number": f"Amendments of an agreement are numbered in order: the next one is {expected}."}
        )
    amendment = MsaAmendment(
        tenant=ctx.tenant,
        msa=msa,
        number=expected,
        effective_date=effective_date,
        signed_on=signed_on,
        summary=_text(summary),
        new_fee_basis=_text(new_fee_basis),
        new_fee_amount=new_fee_amount,
        new_fee_rate_percent=new_fee_rate_percent,
    )
    _validate_amendment(amendment, msa)
    save_validated(amendment)
    return amendment


@_reverts_on_refusal("amendment")
@transaction.atomic
def msa_amendment_update(*, ctx: AccessContext, amendment: MsaAmendment, **changes: Any) -> MsaAmendment:
    """Change an amendment's dates, summary or fee change; its agreement and number stay."""
    require_may(ctx, MsaAmendment, CHANGE)
    if "msa" in changes:
        if getattr(changes["msa"], "pk", None) != amendment.msa_id:
            raise ValidationError({"msa": "An amendment stays with the agreement it amends."})
        del changes["msa"]
    if "number" in changes:
        if changes["number"] not in (None, amendment.number):
            raise ValidationError({"number": "An amendment keeps its number."})
        del changes["number"]
    if "effective_date" in changes and changes["effective_date"] is None:
        raise ValidationError({"effective_date": "This field is required."})
    for name in ("summary", "new_fee_basis"):
        if name in changes:
            changes[name] = _text(changes[name])
    editable = ("effective_date", "signed_on", "summary", "new_fee_basis", "new_fee_amount")
    changed = _assign(amendment, changes, (*editable, "new_fee_rate_percent"))
    before = (amendment.new_fee_amount, amendment.new_fee_rate_percent)
    _validate_amendment(amendment, amendment.msa)
    if before[0] != amendment.new_fee_amount and "new_fee_amount" not in changed:
        changed.append("new_fee_amount")
    if before[1] != amendment.new_fee_rate_percent and "new_fee_rate_percent" not in changed:
        changed.append("new_fee_rate_percent")
    if changed:
        save_validated(amendment, changed)
    return amendment


# --- Signed documents ----------------------------------------------------------------------------


def check_pdf(content: bytes, field: str = "file") -> None:
    """A signed document must be a real PDF of at most 4 MB (checked by content, not by name)."""
    if not content:
        raise ValidationError({field: "The file is empty."})
    if len(content) > MAX_DOCUMENT_BYTES:
        raise ValidationError(
            {field: f"The file is larger than {MAX_DOCUMENT_BYTES // 2**20} MB, the limit for a document."}
        )
    if not content.startswith(PDF_MAGIC):
        raise ValidationError({field: "This is not a PDF file (it does not begin with “%PDF-”)."})


@transaction.atomic
def agreement_document_create(
    *,
    ctx: AccessContext,
    msa: ManagementServicesAgreement,
    content: bytes,
    filename: str = "",
    amendment: MsaAmendment | None = None,
) -> AgreementDocument:
    """Keep the signed PDF of `msa` (or of one of its amendments) in the database.

    The content must really be a PDF (``%PDF-``) of at most 4 MB; its SHA-256 and size are stored
    so a download can be checked against what was signed.
    """
    require_may(ctx, AgreementDocument, ADD)
    require_in_scope(ctx, msa, "msa")
    if amendment is not None:
        require_in_scope(ctx, amendment, "amendment")
        if amendment.msa_id != msa.pk:
            raise ValidationError({"amendment": "That amendment belongs to another agreement."})
    check_pdf(content)
    name = _text(filename) or "signed-agreement.pdf"
    document = AgreementDocument(
        tenant=ctx.tenant,
        msa=msa,
        amendment=amendment,
        filename=name,
        content=content,
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
    )
    save_validated(document)
    return document


# --- Management-fee invoices ---------------------------------------------------------------------


def invoice_paid_total(invoice: ManagementFeeInvoice, *, excluding: FeePayment | None = None) -> Decimal:
    payments = FeePayment.objects.filter(invoice=invoice)
    if excluding is not None:
        payments = payments.exclude(pk=excluding.pk)
    return payments.aggregate(total=Sum("amount"))["total"] or ZERO


def _validate_invoice(invoice: ManagementFeeInvoice, msa: ManagementServicesAgreement) -> None:
    errors: dict[str, str] = {}
    if not invoice.number:
        errors["number"] = "Give the invoice its number."
    elif (
        ManagementFeeInvoice.objects.filter(tenant=invoice.tenant_id, number__iexact=invoice.number)
        .exclude(pk=invoice.pk)
        .exists()
    ):
        errors["number"] = "An invoice with this number already exists."
    start, end = invoice.period_start, invoice.period_end
    term = f"{msa.effective_date:%Y-%m-%d} to {msa.end_date:%Y-%m-%d}"
    if start and end and end < start:
        errors["period_end"] = "The period must end on or after its start."
    elif start and not msa.effective_date <= start <= msa.end_date:
        errors["period_start"] = f"The period must lie inside the agreement's term ({term})."
    elif end and end > msa.end_date:
        errors["period_end"] = f"The period must lie inside the agreement's term ({term})."
    if invoice.amount is not None and invoice.amount < 0:
        errors["amount"] = "An invoice amount cannot be negative."
    if invoice.currency != msa.currency:
        errors["currency"] = f"The agreement's fees are in {msa.currency}."
    if invoice.issued_on and invoice.due_on and invoice.due_on < invoice.issued_on:
        errors["due_on"] = "An invoice cannot fall due before it is issued."
    _raise(errors)


@transaction.atomic
def fee_invoice_create(
    *,
    ctx: AccessContext,
    msa: ManagementServicesAgreement,
    number: str,
    period_start: dt.date,
    period_end: dt.date,
    amount: Decimal,
    currency: str = "USD",
    issued_on: dt.date | None = None,
    due_on: dt.date | None = None,
    status: str = ManagementFeeInvoice.Status.DRAFT,
) -> ManagementFeeInvoice:
    """Invoice the PC of `msa` the management fee for one period inside the agreement's term.

    A new invoice is a draft or issued (paid follows from payments); its number is unique in the
    tenant and its currency is the agreement's.
    """
    require_may(ctx, ManagementFeeInvoice, ADD)
    require_in_scope(ctx, msa, "msa")
    if status not in (ManagementFeeInvoice.Status.DRAFT, ManagementFeeInvoice.Status.ISSUED):
        raise ValidationError({"status": "A new invoice is a draft or issued; it is paid by its payments."})
    invoice = ManagementFeeInvoice(
        tenant=ctx.tenant,
        msa=msa,
        number=_text(number),
        period_start=period_start,
        period_end=period_end,
        amount=amount,
        currency=_clean_currency(currency),
        issued_on=issued_on,
        due_on=due_on,
        status=status,
    )
    _validate_invoice(invoice, msa)
    save_validated(invoice)
    _audit_after_commit(ctx, invoice, msa.pc_id)
    return invoice


@_reverts_on_refusal("invoice")
@transaction.atomic
def fee_invoice_update(
    *, ctx: AccessContext, invoice: ManagementFeeInvoice, **changes: Any
) -> ManagementFeeInvoice:
    """Change an invoice. It stays with its agreement; its amount cannot drop below what was paid;
    it is marked paid only when nothing is open and voided only while no payment is recorded."""
    require_may(ctx, ManagementFeeInvoice, CHANGE)
    if "msa" in changes:
        if getattr(changes["msa"], "pk", None) != invoice.msa_id:
            raise ValidationError(
                {"msa": "An invoice stays with its agreement: void it and issue a new one."}
            )
        del changes["msa"]
    for name in ("number", "period_start", "period_end", "amount", "currency", "status"):
        if name in changes and changes[name] in (None, ""):
            raise ValidationError({name: "This field is required."})
    if "number" in changes:
        changes["number"] = _text(changes["number"])
    if "currency" in changes:
        changes["currency"] = _clean_currency(changes["currency"])
    editable = ("number", "period_start", "period_end", "amount", "currency", "issued_on", "due_on", "status")
    # Lock the invoice: a payment recorded meanwhile must be counted in the checks below.
    ManagementFeeInvoice.objects.select_for_update().filter(pk=invoice.pk).values_list("pk").first()
    changed = _assign(invoice, changes, editable)
    _validate_invoice(invoice, invoice.msa)
    paid = invoice_paid_total(invoice)
    Status = ManagementFeeInvoice.Status
    if invoice.amount < paid:
        raise ValidationError(
            {"amount": f"Payments of {_money(paid, invoice.currency)} are recorded against this invoice."}
        )
    if "status" in changed:
        if invoice.status == Status.PAID and paid < invoice.amount:
            open_amount = _money(invoice.amount - paid, invoice.currency)
            raise ValidationError({"status": f"{open_amount} is still open: record the payments first."})
        if invoice.status in (Status.VOID, Status.DRAFT) and paid > 0:
            raise ValidationError(
                {"status": f"Payments are recorded against this invoice: it cannot be {invoice.status}."}
            )
    elif "amount" in changed:
        changed += _sync_paid_status(invoice, paid, save=False)
    if changed:
        save_validated(invoice, changed)
        _audit_after_commit(ctx, invoice, invoice.msa.pc_id, changed=changed)
    return invoice


def _sync_paid_status(invoice: ManagementFeeInvoice, paid: Decimal, *, save: bool = True) -> list[str]:
    """An issued invoice whose payments cover it is paid; a paid one with an open amount is issued."""
    Status = ManagementFeeInvoice.Status
    status = invoice.status
    if status == Status.ISSUED and paid >= invoice.amount:
        status = Status.PAID
    elif status == Status.PAID and paid < invoice.amount:
        status = Status.ISSUED
    if status == invoice.status:
        return []
    invoice.status = status
    if save:
        invoice.save(update_fields=["status"])
    return ["status"]


# --- Fee payments --------------------------------------------------------------------------------


def _validate_payment(payment: FeePayment, invoice: ManagementFeeInvoice, open_amount: Decimal) -> None:
    errors: dict[str, str] = {}
    if payment.amount is None or payment.amount <= 0:
        errors["amount"] = "A payment is a positive amount."
    elif payment.amount > open_amount:
        errors["amount"] = (
            f"The payment exceeds the invoice's open amount ({_money(open_amount, invoice.currency)})."
        )
    if payment.paid_on and payment.paid_on > timezone.localdate():
        errors["paid_on"] = "A payment cannot be dated in the future."
    _raise(errors)


def _lock_invoice(invoice: ManagementFeeInvoice) -> ManagementFeeInvoice:
    # Two payments recorded at once must not both fit into the same open amount.
    locked = ManagementFeeInvoice.objects.select_for_update().filter(pk=invoice.pk).first()
    assert locked is not None  # the caller just read it through the permission layer
    return locked


def _require_payable(invoice: ManagementFeeInvoice) -> None:
    Status = ManagementFeeInvoice.Status
    if invoice.status == Status.DRAFT:
        raise ValidationError({"invoice": "Issue the invoice before recording a payment against it."})
    if invoice.status == Status.VOID:
        raise ValidationError({"invoice": "The invoice is void: it takes no payments."})


@transaction.atomic
def fee_payment_create(
    *,
    ctx: AccessContext,
    invoice: ManagementFeeInvoice,
    paid_on: dt.date,
    amount: Decimal,
    reference: str = "",
) -> FeePayment:
    """Record the PC's payment of an issued invoice; it cannot exceed the invoice's open amount.

    An invoice whose payments now cover it is marked paid.
    """
    require_may(ctx, FeePayment, ADD)
    require_in_scope(ctx, invoice, "invoice")
    invoice = _lock_invoice(invoice)
    _require_payable(invoice)
    paid = invoice_paid_total(invoice)
    payment = FeePayment(
        tenant=ctx.tenant, invoice=invoice, paid_on=paid_on, amount=amount, reference=_text(reference)
    )
    _validate_payment(payment, invoice, invoice.amount - paid)
    save_validated(payment)
    _sync_paid_status(invoice, paid + payment.amount)
    return payment


@_reverts_on_refusal("payment")
@transaction.atomic
def fee_payment_update(*, ctx: AccessContext, payment: FeePayment, **changes: Any) -> FeePayment:
    """Correct a payment's date, amount, reference or invoice (a misapplied payment moves to the
    right one). It must fit into its invoice's open amount, its own share counted as open; both
    invoices' paid status follows."""
    require_may(ctx, FeePayment, CHANGE)
    for name in ("invoice", "paid_on", "amount"):
        if name in changes and changes[name] is None:
            raise ValidationError({name: "This field is required."})
    if "invoice" in changes:
        _require_new_ref(ctx, payment, "invoice", changes["invoice"])
    if "reference" in changes:
        changes["reference"] = _text(changes["reference"])
    previous = payment.invoice
    changed = _assign(payment, changes, ("invoice", "paid_on", "amount", "reference"))
    # Both invoices locked, in id order, so two payments moved in opposite directions cannot deadlock.
    ids = sorted({previous.pk, payment.invoice_id})
    locked = {
        i.pk: i for i in ManagementFeeInvoice.objects.select_for_update().filter(pk__in=ids).order_by("pk")
    }
    previous, invoice = locked[previous.pk], locked[payment.invoice_id]
    if "invoice" in changed:
        _require_payable(invoice)
    others = invoice_paid_total(invoice, excluding=payment)
    _validate_payment(payment, invoice, invoice.amount - others)
    if changed:
        save_validated(payment, changed)
        if {"amount", "invoice"} & set(changed):
            _sync_paid_status(invoice, others + payment.amount)
        if "invoice" in changed:
            _sync_paid_status(previous, invoice_paid_total(previous))
    return payment


# --- PC collections ------------------------------------------------------------------------------


def _validate_collection(collection: PcCollection) -> None:
    errors: dict[str, str] = {}
    if collection.amount is not None and collection.amount < 0:
        errors["amount"] = "Collections cannot be negative."
    if (
        collection.month
        and PcCollection.objects.filter(pc_id=collection.pc_id, month=collection.month)
        .exclude(pk=collection.pk)
        .exists()
    ):
        errors["month"] = f"This PC already has collections for {collection.month:%B %Y}."
    _raise(errors)


@transaction.atomic
def pc_collection_create(
    *,
    ctx: AccessContext,
    pc: ProfessionalCorporation,
    month: dt.date,
    amount: Decimal,
    currency: str = "USD",
    source: str = PcCollection.Source.ENTERED,
) -> PcCollection:
    """Record what `pc` collected in one month (any day of it: kept as the 1st); one row per PC and month."""
    require_may(ctx, PcCollection, ADD)
    require_in_scope(ctx, pc, "pc")
    collection = PcCollection(
        tenant=ctx.tenant,
        pc=pc,
        month=month_start(month),
        amount=amount,
        currency=_clean_currency(currency),
        source=source,
    )
    _validate_collection(collection)
    save_validated(collection)
    return collection


@_reverts_on_refusal("collection")
@transaction.atomic
def pc_collection_update(*, ctx: AccessContext, collection: PcCollection, **changes: Any) -> PcCollection:
    """Correct a month's collections (PC, month, amount, currency); still one row per PC and month."""
    require_may(ctx, PcCollection, CHANGE)
    if "pc" in changes:
        if changes["pc"] is None:
            raise ValidationError({"pc": "This field is required."})
        _require_new_ref(ctx, collection, "pc", changes["pc"])
    for name in ("month", "amount", "currency"):
        if name in changes and changes[name] is None:
            raise ValidationError({name: "This field is required."})
    if "month" in changes:
        changes["month"] = month_start(changes["month"])
    if "currency" in changes:
        changes["currency"] = _clean_currency(changes["currency"])
    changed = _assign(collection, changes, ("pc", "month", "amount", "currency"))
    _validate_collection(collection)
    if changed:
        save_validated(collection, changed)
    return collection
