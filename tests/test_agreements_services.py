"""Services of the agreements area: MSAs, standards, amendments, signed documents, fee invoices and
payments, PC collections. Valid writes, each validation with its message, references outside the
caller's tenant or scope refused (400 on the field), capacities that may not write refused, and
nothing written by a refused call."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

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
from management.services import agreements as svc
from tenants.access import AccessContext
from tests import factories as f
from tests.worlds import World

pytestmark = pytest.mark.django_db

Act = Callable[[AccessContext], AbstractContextManager[None]]
TODAY = timezone.localdate()
TINY_PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"


def msa_kwargs(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "mso_entity": world.entity,
        "pc": world.pcs[0],
        "effective_date": TODAY - dt.timedelta(days=30),
        "end_date": TODAY + dt.timedelta(days=3 * 365),
        "fee_basis": FeeBasis.FIXED_MONTHLY,
        "fee_amount": Decimal("40000.00"),
        "services": ["payroll", "billing"],
        **extra,
    }


def run(act: Act, world: World, fn: Callable[..., Any], capacity: str = "mso_admin", **kwargs: Any) -> Any:
    ctx = world.ctx(capacity)
    with act(ctx):
        return fn(ctx=ctx, **kwargs)


def refused(
    act: Act, world: World, fn: Callable[..., Any], capacity: str = "mso_admin", **kwargs: Any
) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        run(act, world, fn, capacity, **kwargs)
    return caught.value.message_dict


def msa_count(world: World) -> int:
    return ManagementServicesAgreement.objects.filter(tenant=world.tenant).count()


def make_msa(world: World, pc_index: int = 0, **extra: Any) -> ManagementServicesAgreement:
    return f.MsaFactory.create(tenant=world.tenant, mso_entity=world.entity, pc=world.pcs[pc_index], **extra)


# --- MSAs -------------------------------------------------------------------------------------------


def test_msa_create_stores_the_record_and_dedupes_services(world_a: World, as_ctx: Act) -> None:
    msa = run(
        as_ctx,
        world_a,
        svc.msa_create,
        **msa_kwargs(
            world_a, services=["payroll", "Billing", "payroll"], governing_state="ca", title="  MSA 1 "
        ),
    )
    msa.refresh_from_db()
    assert msa.tenant_id == world_a.tenant.pk
    assert msa.services == ["payroll", "billing"]
    assert (msa.title, msa.governing_state, msa.currency) == ("MSA 1", "CA", "USD")
    assert msa.fee_amount == Decimal("40000.00")


@pytest.mark.parametrize(
    ("basis", "given", "field", "message"),
    [
        ("fixed_monthly", {}, "fee_amount", "A fixed monthly fee needs its monthly amount."),
        ("per_unit", {"fee_unit": "treatment"}, "fee_amount", "A per-unit fee needs the amount charged"),
        ("per_unit", {"fee_amount": Decimal("150")}, "fee_unit", "A per-unit fee needs its unit of service"),
        ("cost_plus", {}, "fee_rate_percent", "A cost-plus fee needs its markup rate in percent."),
        ("percent_of_collections", {}, "fee_rate_percent", "A percentage-of-collections fee needs its rate"),
        (
            "percent_of_collections",
            {"fee_rate_percent": Decimal("120")},
            "fee_rate_percent",
            "between 0 and 100",
        ),
        ("fixed_monthly", {"fee_amount": Decimal("-1")}, "fee_amount", "The fee cannot be negative."),
    ],
)
def test_fee_terms_must_fit_the_basis(
    world_a: World, as_ctx: Act, basis: str, given: dict[str, Any], field: str, message: str
) -> None:
    before = msa_count(world_a)
    kwargs = {**msa_kwargs(world_a), "fee_basis": basis, "fee_amount": None, **given}
    errors = refused(as_ctx, world_a, svc.msa_create, **kwargs)
    assert message in errors[field][0]
    assert msa_count(world_a) == before


def test_terms_the_basis_does_not_use_are_cleared(world_a: World, as_ctx: Act) -> None:
    msa = run(
        as_ctx,
        world_a,
        svc.msa_create,
        **msa_kwargs(world_a, fee_rate_percent=Decimal("8"), fee_unit="visit"),
    )
    msa.refresh_from_db()
    assert (msa.fee_amount, msa.fee_rate_percent, msa.fee_unit) == (Decimal("40000.00"), None, "")
    # Switching to a percentage keeps the rate and drops the amount.
    run(
        as_ctx,
        world_a,
        svc.msa_update,
        msa=msa,
        fee_basis=FeeBasis.PERCENT_OF_COLLECTIONS,
        fee_rate_percent=Decimal("12.5"),
    )
    msa.refresh_from_db()
    assert (msa.fee_basis, msa.fee_amount, msa.fee_rate_percent) == (
        "percent_of_collections",
        None,
        Decimal("12.50"),
    )


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"fmv_low": Decimal("50000"), "fmv_high": Decimal("40000")}, "fmv_high", "low end cannot exceed"),
        ({"fmv_low": Decimal("40000")}, "fmv_high", "Give both ends of the FMV range."),
        ({"end_date": TODAY - dt.timedelta(days=60)}, "end_date", "must end after it takes effect"),
        ({"services": ["payroll", "surgery"]}, "services", "Unknown service “surgery”"),
        ({"governing_state": "California"}, "governing_state", "two-letter state code"),
        ({"currency": "dollars"}, "currency", "three-letter currency code"),
        ({"title": "  "}, "title", "Give the agreement a title."),
    ],
)
def test_msa_validation_messages(
    world_a: World, as_ctx: Act, given: dict[str, Any], field: str, message: str
) -> None:
    before = msa_count(world_a)
    errors = refused(as_ctx, world_a, svc.msa_create, **msa_kwargs(world_a, **given))
    assert message in errors[field][0]
    assert msa_count(world_a) == before


def test_msa_parties_must_be_in_the_callers_scope(world_a: World, world_b: World, as_ctx: Act) -> None:
    before = msa_count(world_a)
    assert "pc" in refused(as_ctx, world_a, svc.msa_create, **msa_kwargs(world_a, pc=world_b.pcs[0]))
    entity = refused(as_ctx, world_a, svc.msa_create, **msa_kwargs(world_a, mso_entity=world_b.entity))
    assert "mso_entity" in entity
    # Object-scoped MSO staff hold the first PC only: the second is unknown to them.
    staff = refused(as_ctx, world_a, svc.msa_create, "mso_staff", **msa_kwargs(world_a, pc=world_a.pcs[1]))
    assert staff["pc"] == ["Unknown professional corporation: not one you may use here."]
    assert msa_count(world_a) == before
    assert run(as_ctx, world_a, svc.msa_create, "mso_staff", **msa_kwargs(world_a)).pc == world_a.pcs[0]


@pytest.mark.parametrize("capacity", ["auditor", "pc_physician", "clinician"])
def test_capacities_that_may_not_write_business_records_are_refused(
    world_a: World, as_ctx: Act, capacity: str
) -> None:
    msa = make_msa(world_a)
    before = msa_count(world_a)
    with pytest.raises(PermissionDenied):
        run(as_ctx, world_a, svc.msa_create, capacity, **msa_kwargs(world_a))
    with pytest.raises(PermissionDenied):
        run(as_ctx, world_a, svc.msa_update, capacity, msa=msa, title="Changed")
    with pytest.raises(PermissionDenied):
        run(
            as_ctx,
            world_a,
            svc.pc_collection_create,
            capacity,
            pc=world_a.pcs[0],
            month=TODAY,
            amount=Decimal(1),
        )
    assert msa_count(world_a) == before
    msa.refresh_from_db()
    assert msa.title != "Changed"


def test_msa_term_must_keep_covering_its_invoices(world_a: World, as_ctx: Act) -> None:
    msa = make_msa(world_a)
    invoice = f.ManagementFeeInvoiceFactory.create(tenant=world_a.tenant, msa=msa, number="INV-TERM")
    errors = refused(
        as_ctx, world_a, svc.msa_update, msa=msa, effective_date=invoice.period_end + dt.timedelta(days=1)
    )
    assert "INV-TERM" in errors["effective_date"][0]
    msa.refresh_from_db()
    assert msa.effective_date < invoice.period_start


def test_msa_update_may_not_move_it_to_a_pc_out_of_scope(world_a: World, world_b: World, as_ctx: Act) -> None:
    msa = make_msa(world_a)
    assert "pc" in refused(as_ctx, world_a, svc.msa_update, msa=msa, pc=world_b.pcs[0])
    assert "pc" in refused(as_ctx, world_a, svc.msa_update, "mso_staff", msa=msa, pc=world_a.pcs[1])
    msa.refresh_from_db()
    assert msa.pc_id == world_a.pcs[0].pk


# --- Standards and amendments -------------------------------------------------------------------


def test_performance_standards(world_a: World, world_b: World, as_ctx: Act) -> None:
    msa = make_msa(world_a)
    standard = run(
        as_ctx, world_a, svc.performance_standard_create, msa=msa, metric=" Claims billed ", target="95%"
    )
    assert (standard.metric, standard.target, standard.msa_id) == ("Claims billed", "95%", msa.pk)
    assert refused(as_ctx, world_a, svc.performance_standard_create, msa=msa, metric="", target="1")["metric"]
    foreign = make_msa(world_b)
    assert "msa" in refused(
        as_ctx, world_a, svc.performance_standard_create, msa=foreign, metric="m", target="t"
    )
    run(as_ctx, world_a, svc.performance_standard_update, standard=standard, target="97%")
    standard.refresh_from_db()
    assert standard.target == "97%"
    other = make_msa(world_a, 1)
    assert "msa" in refused(as_ctx, world_a, svc.performance_standard_update, standard=standard, msa=other)
    assert PerformanceStandard.objects.filter(tenant=world_b.tenant).count() == 0


def test_amendments_are_numbered_in_order_per_agreement(world_a: World, as_ctx: Act) -> None:
    msa, other = make_msa(world_a), make_msa(world_a, 1)
    first = run(as_ctx, world_a, svc.msa_amendment_create, msa=msa, effective_date=TODAY, summary="Adds IT.")
    second = run(
        as_ctx, world_a, svc.msa_amendment_create, msa=msa, effective_date=TODAY, summary="Adds HR.", number=2
    )
    elsewhere = run(
        as_ctx, world_a, svc.msa_amendment_create, msa=other, effective_date=TODAY, summary="Scope."
    )
    assert (first.number, second.number, elsewhere.number) == (1, 2, 1)
    errors = refused(
        as_ctx, world_a, svc.msa_amendment_create, msa=msa, effective_date=TODAY, summary="x", number=5
    )
    assert errors["number"] == ["Amendments of an agreement are numbered in order: the next one is 3."]
    assert "number" in refused(as_ctx, world_a, svc.msa_amendment_update, amendment=first, number=4)
    assert MsaAmendment.objects.filter(msa=msa).count() == 2


def test_amendment_dates_and_fee_changes_are_checked(world_a: World, as_ctx: Act) -> None:
    msa = make_msa(world_a)
    late = msa.end_date + dt.timedelta(days=1)
    errors = refused(as_ctx, world_a, svc.msa_amendment_create, msa=msa, effective_date=late, summary="Late")
    assert "during the agreement's term" in errors["effective_date"][0]
    errors = refused(
        as_ctx,
        world_a,
        svc.msa_amendment_create,
        msa=msa,
        effective_date=TODAY,
        summary="Switches to a percentage",
        new_fee_basis=FeeBasis.PERCENT_OF_COLLECTIONS,
    )
    assert errors == {"new_fee_rate_percent": ["A percentage-of-collections fee needs its rate in percent."]}
    assert refused(as_ctx, world_a, svc.msa_amendment_create, msa=msa, effective_date=TODAY, summary=" ")[
        "summary"
    ]
    # A new amount alone keeps the agreement's (fixed) basis; a rate it does not use is dropped.
    raised = run(
        as_ctx,
        world_a,
        svc.msa_amendment_create,
        msa=msa,
        effective_date=TODAY,
        summary="Raises the fee",
        new_fee_amount=Decimal("45000"),
        new_fee_rate_percent=Decimal("3"),
    )
    raised.refresh_from_db()
    assert (raised.number, raised.new_fee_amount, raised.new_fee_rate_percent) == (
        1,
        Decimal("45000.00"),
        None,
    )


# --- Signed documents -----------------------------------------------------------------------------


def test_a_signed_pdf_is_stored_with_its_hash_and_size(world_a: World, as_ctx: Act) -> None:
    msa = make_msa(world_a)
    amendment = f.MsaAmendmentFactory.create(tenant=world_a.tenant, msa=msa, number=1)
    document = run(
        as_ctx, world_a, svc.agreement_document_create, msa=msa, content=TINY_PDF, amendment=amendment
    )
    document.refresh_from_db()
    assert bytes(document.content) == TINY_PDF
    assert (document.sha256, document.size) == (hashlib.sha256(TINY_PDF).hexdigest(), len(TINY_PDF))
    assert (document.filename, document.amendment_id) == ("signed-agreement.pdf", amendment.pk)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"PK\x03\x04 a word document", "This is not a PDF file"),
        (b"<html>%PDF-1.4</html>", "This is not a PDF file"),
        (b"%PDF-1.7\n" + b"0" * svc.MAX_DOCUMENT_BYTES, "larger than 4 MB"),
    ],
)
def test_only_real_pdfs_up_to_10_mb_are_kept(
    world_a: World, as_ctx: Act, content: bytes, message: str
) -> None:
    msa = make_msa(world_a)
    errors = refused(
        as_ctx, world_a, svc.agreement_document_create, msa=msa, content=content, filename="x.pdf"
    )
    assert message in errors["file"][0]
    assert not AgreementDocument.objects.filter(msa=msa).exists()


def test_a_document_of_another_agreements_amendment_is_refused(
    world_a: World, world_b: World, as_ctx: Act
) -> None:
    msa, other = make_msa(world_a), make_msa(world_a, 1)
    amendment = f.MsaAmendmentFactory.create(tenant=world_a.tenant, msa=other, number=1)
    errors = refused(
        as_ctx, world_a, svc.agreement_document_create, msa=msa, content=TINY_PDF, amendment=amendment
    )
    assert errors["amendment"] == ["That amendment belongs to another agreement."]
    foreign = make_msa(world_b)
    assert "msa" in refused(as_ctx, world_a, svc.agreement_document_create, msa=foreign, content=TINY_PDF)
    assert not AgreementDocument.objects.exists()


# --- Invoices and payments ------------------------------------------------------------------------


def invoice_kwargs(msa: ManagementServicesAgreement, **extra: Any) -> dict[str, Any]:
    start = TODAY.replace(day=1)
    return {
        "msa": msa,
        "number": "INV-1",
        "period_start": start,
        "period_end": (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1),
        "amount": Decimal("40000.00"),
        "status": ManagementFeeInvoice.Status.ISSUED,
        **extra,
    }


def test_invoice_period_must_lie_inside_the_term(world_a: World, as_ctx: Act) -> None:
    msa = make_msa(world_a)
    before_start = msa.effective_date - dt.timedelta(days=31)
    errors = refused(
        as_ctx, world_a, svc.fee_invoice_create, **invoice_kwargs(msa, period_start=before_start)
    )
    term = f"({msa.effective_date:%Y-%m-%d} to {msa.end_date:%Y-%m-%d})"
    assert errors["period_start"] == [f"The period must lie inside the agreement's term {term}."]
    after_end = msa.end_date + dt.timedelta(days=1)
    errors = refused(
        as_ctx,
        world_a,
        svc.fee_invoice_create,
        **invoice_kwargs(msa, period_start=msa.end_date, period_end=after_end),
    )
    assert "inside the agreement's term" in errors["period_end"][0]
    errors = refused(
        as_ctx,
        world_a,
        svc.fee_invoice_create,
        **invoice_kwargs(msa, period_end=TODAY.replace(day=1) - dt.timedelta(days=1)),
    )
    assert errors["period_end"] == ["The period must end on or after its start."]
    assert not ManagementFeeInvoice.objects.filter(msa=msa).exists()


def test_invoice_number_currency_and_status_checks(world_a: World, as_ctx: Act) -> None:
    msa = make_msa(world_a)
    run(as_ctx, world_a, svc.fee_invoice_create, **invoice_kwargs(msa))
    assert refused(as_ctx, world_a, svc.fee_invoice_create, **invoice_kwargs(msa, number="inv-1"))[
        "number"
    ] == ["An invoice with this number already exists."]
    assert (
        "USD"
        in refused(
            as_ctx, world_a, svc.fee_invoice_create, **invoice_kwargs(msa, number="I2", currency="EUR")
        )["currency"][0]
    )
    assert "status" in refused(
        as_ctx, world_a, svc.fee_invoice_create, **invoice_kwargs(msa, number="I3", status="paid")
    )
    due = refused(
        as_ctx,
        world_a,
        svc.fee_invoice_create,
        **invoice_kwargs(msa, number="I4", issued_on=TODAY, due_on=TODAY - dt.timedelta(days=1)),
    )
    assert due["due_on"] == ["An invoice cannot fall due before it is issued."]
    assert ManagementFeeInvoice.objects.filter(msa=msa).count() == 1


def test_payments_cannot_exceed_the_open_amount_and_settle_the_invoice(world_a: World, as_ctx: Act) -> None:
    msa = make_msa(world_a)
    invoice = run(as_ctx, world_a, svc.fee_invoice_create, **invoice_kwargs(msa))
    run(as_ctx, world_a, svc.fee_payment_create, invoice=invoice, paid_on=TODAY, amount=Decimal("30000"))
    errors = refused(
        as_ctx, world_a, svc.fee_payment_create, invoice=invoice, paid_on=TODAY, amount=Decimal("10000.01")
    )
    assert errors["amount"] == ["The payment exceeds the invoice's open amount (10,000.00 USD)."]
    invoice.refresh_from_db()
    assert invoice.status == "issued"
    last = run(
        as_ctx, world_a, svc.fee_payment_create, invoice=invoice, paid_on=TODAY, amount=Decimal("10000")
    )
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    # Correcting a payment down reopens the invoice; it cannot grow past the open amount either.
    run(as_ctx, world_a, svc.fee_payment_update, payment=last, amount=Decimal("9000"))
    invoice.refresh_from_db()
    assert invoice.status == "issued"
    assert "amount" in refused(as_ctx, world_a, svc.fee_payment_update, payment=last, amount=Decimal("10001"))
    assert FeePayment.objects.filter(invoice=invoice).count() == 2


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"amount": Decimal("0")}, "amount", "A payment is a positive amount."),
        ({"amount": Decimal("-5")}, "amount", "A payment is a positive amount."),
        ({"paid_on": TODAY + dt.timedelta(days=3)}, "paid_on", "cannot be dated in the future"),
    ],
)
def test_payment_validation(
    world_a: World, as_ctx: Act, given: dict[str, Any], field: str, message: str
) -> None:
    invoice = f.ManagementFeeInvoiceFactory.create(tenant=world_a.tenant, msa=make_msa(world_a))
    kwargs = {"invoice": invoice, "paid_on": TODAY, "amount": Decimal("100"), **given}
    assert message in refused(as_ctx, world_a, svc.fee_payment_create, **kwargs)[field][0]
    assert not FeePayment.objects.filter(invoice=invoice).exists()


def test_draft_and_void_invoices_take_no_payment(world_a: World, as_ctx: Act) -> None:
    msa = make_msa(world_a)
    for status, message in (("draft", "Issue the invoice"), ("void", "The invoice is void")):
        invoice = f.ManagementFeeInvoiceFactory.create(tenant=world_a.tenant, msa=msa, status=status)
        errors = refused(
            as_ctx, world_a, svc.fee_payment_create, invoice=invoice, paid_on=TODAY, amount=Decimal(1)
        )
        assert message in errors["invoice"][0]
    assert not FeePayment.objects.filter(invoice__msa=msa).exists()


def test_invoice_amount_and_status_follow_the_payments(world_a: World, as_ctx: Act) -> None:
    msa = make_msa(world_a)
    invoice = run(as_ctx, world_a, svc.fee_invoice_create, **invoice_kwargs(msa))
    run(as_ctx, world_a, svc.fee_payment_create, invoice=invoice, paid_on=TODAY, amount=Decimal("25000"))
    errors = refused(as_ctx, world_a, svc.fee_invoice_update, invoice=invoice, amount=Decimal("20000"))
    assert errors["amount"] == ["Payments of 25,000.00 USD are recorded against this invoice."]
    assert invoice.amount == Decimal("40000.00"), "a refused update leaves the object as it was"
    assert refused(as_ctx, world_a, svc.fee_invoice_update, invoice=invoice, status="paid")["status"] == [
        "15,000.00 USD is still open: record the payments first."
    ]
    assert (
        "cannot be void"
        in refused(as_ctx, world_a, svc.fee_invoice_update, invoice=invoice, status="void")["status"][0]
    )
    other = make_msa(world_a, 1)
    assert "msa" in refused(as_ctx, world_a, svc.fee_invoice_update, invoice=invoice, msa=other)
    # Lowering the amount to what was paid settles it.
    run(as_ctx, world_a, svc.fee_invoice_update, invoice=invoice, amount=Decimal("25000"))
    invoice.refresh_from_db()
    assert (invoice.amount, invoice.status) == (Decimal("25000.00"), "paid")


def test_a_misapplied_payment_moves_to_the_right_invoice(world_a: World, world_b: World, as_ctx: Act) -> None:
    msa = make_msa(world_a)
    wrong = run(as_ctx, world_a, svc.fee_invoice_create, **invoice_kwargs(msa, number="W"))
    right = run(
        as_ctx, world_a, svc.fee_invoice_create, **invoice_kwargs(msa, number="R", amount=Decimal("500"))
    )
    payment = run(
        as_ctx, world_a, svc.fee_payment_create, invoice=wrong, paid_on=TODAY, amount=Decimal("500")
    )
    run(as_ctx, world_a, svc.fee_payment_update, payment=payment, invoice=right)
    wrong.refresh_from_db()
    right.refresh_from_db()
    payment.refresh_from_db()
    assert (payment.invoice_id, right.status, wrong.status) == (right.pk, "paid", "issued")
    foreign = f.ManagementFeeInvoiceFactory.create(tenant=world_b.tenant, msa=make_msa(world_b))
    assert "invoice" in refused(as_ctx, world_a, svc.fee_payment_update, payment=payment, invoice=foreign)


# --- PC collections -------------------------------------------------------------------------------


def test_collection_month_is_normalised_and_unique_per_pc(
    world_a: World, world_b: World, as_ctx: Act
) -> None:
    day = dt.date(2025, 3, 17)
    row = run(
        as_ctx, world_a, svc.pc_collection_create, pc=world_a.pcs[0], month=day, amount=Decimal("180000")
    )
    row.refresh_from_db()
    assert (row.month, row.source) == (dt.date(2025, 3, 1), "entered")
    errors = refused(
        as_ctx,
        world_a,
        svc.pc_collection_create,
        pc=world_a.pcs[0],
        month=dt.date(2025, 3, 2),
        amount=Decimal(1),
    )
    assert errors["month"] == ["This PC already has collections for March 2025."]
    other = run(as_ctx, world_a, svc.pc_collection_create, pc=world_a.pcs[1], month=day, amount=Decimal("1"))
    assert other.month == dt.date(2025, 3, 1)
    assert "amount" in refused(
        as_ctx,
        world_a,
        svc.pc_collection_create,
        pc=world_a.pcs[0],
        month=dt.date(2025, 4, 1),
        amount=Decimal("-1"),
    )
    assert "pc" in refused(
        as_ctx,
        world_a,
        svc.pc_collection_create,
        pc=world_b.pcs[0],
        month=dt.date(2025, 5, 1),
        amount=Decimal(1),
    )
    # Moving a month onto one already recorded is refused too.
    assert "month" in refused(as_ctx, world_a, svc.pc_collection_update, collection=other, pc=world_a.pcs[0])
    run(
        as_ctx,
        world_a,
        svc.pc_collection_update,
        collection=other,
        month=dt.date(2025, 6, 30),
        amount=Decimal("2"),
    )
    other.refresh_from_db()
    assert (other.month, other.amount) == (dt.date(2025, 6, 1), Decimal("2.00"))
    assert PcCollection.objects.filter(tenant=world_a.tenant).count() == 2
    assert PcCollection.objects.filter(tenant=world_b.tenant).count() == 0
