"""Reads of MSAs and the money under them, always through the permission layer.

Lists run a fixed number of queries whatever their length: related rows come by select_related or
prefetch_related, and paid/open amounts of invoices are computed in the same query as the invoices.
Signed PDFs are kept in the database; lists never load their bytes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import DecimalField, F, Model, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import Http404

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
from management.procedures import ManagedService
from mso_platform.pdf import render_pdf
from tenants.access import AccessContext, parse_id, restrict
from tenants.capacities import VIEW

M = TypeVar("M", bound=Model)
MONEY = DecimalField(max_digits=14, decimal_places=2)


def with_paid_amounts(qs: QuerySet[ManagementFeeInvoice]) -> QuerySet[ManagementFeeInvoice]:
    """Invoices with ``paid_amount`` and ``open_amount`` computed in the same query.

    A correlated subquery, not a join with GROUP BY: that would drop the model's ordering and
    multiply rows under any further join.
    """
    payments = (
        FeePayment.objects.filter(invoice=OuterRef("pk"))
        .order_by()
        .values("invoice")
        .annotate(t=Sum("amount"))
    )
    paid = Coalesce(
        Subquery(payments.values("t"), output_field=MONEY), Value(Decimal("0.00")), output_field=MONEY
    )
    return qs.annotate(paid_amount=paid).annotate(open_amount=F("amount") - F("paid_amount"))


# --- MSAs ---------------------------------------------------------------------------------------


def msa_list(ctx: AccessContext) -> QuerySet[ManagementServicesAgreement]:
    return restrict(ManagementServicesAgreement.objects.select_related("mso_entity", "pc"), ctx)


def msa_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> ManagementServicesAgreement:
    qs = ManagementServicesAgreement.objects.select_related("mso_entity", "pc")
    return get_for_action_in(qs, ctx, pk, action)


def get_for_action_in(qs: QuerySet[M], ctx: AccessContext, pk: Any, action: str) -> M:
    """tenants.access.get_for_action over a queryset with its related rows joined (one query):
    the same restrict() and the same 404 for absent, other tenant's, unpermitted and malformed ids."""
    try:
        return restrict(qs, ctx, action).get(pk=parse_id(pk))
    except ObjectDoesNotExist:
        raise Http404("No such object.") from None


def msa_document(ctx: AccessContext, msa: ManagementServicesAgreement) -> dict[str, Any]:
    """Everything the MSA page and PDF show, each part read through the permission layer."""
    return {
        "msa": msa,
        "standards": list(performance_standard_list(ctx).filter(msa=msa)),
        "amendments": list(msa_amendment_list(ctx).filter(msa=msa)),
        "documents": list(agreement_document_list(ctx).filter(msa=msa)),
        "invoices": list(fee_invoice_list(ctx).filter(msa=msa)),
    }


US_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "the District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana",
    "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri",
    "MT": "Montana", "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio",
    "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip


def state_name(code: str) -> str:
    return US_STATES.get(code.upper(), code) if code else ""


def fee_terms_text(msa: ManagementServicesAgreement) -> str:
    """The fee terms in one sentence, as the MSA page and the PDF state them."""
    amount = f"{msa.fee_amount:,.2f} {msa.currency}" if msa.fee_amount is not None else "(amount not set)"
    rate = f"{msa.fee_rate_percent.normalize():f}%" if msa.fee_rate_percent is not None else "(rate not set)"
    if msa.fee_basis == FeeBasis.FIXED_MONTHLY:
        return f"A fixed management fee of {amount} per month."
    if msa.fee_basis == FeeBasis.PER_UNIT:
        return f"A fee of {amount} per {msa.fee_unit or 'unit of service'}."
    if msa.fee_basis == FeeBasis.COST_PLUS:
        return f"The Manager's cost of providing the services plus a markup of {rate}."
    if msa.fee_basis == FeeBasis.PERCENT_OF_COLLECTIONS:
        return f"{rate} of the Practice's monthly collections for professional services."
    return "No fee terms are recorded."


def service_labels(msa: ManagementServicesAgreement) -> list[str]:
    labels = dict(ManagedService.choices)
    return [str(labels.get(code, code)) for code in msa.services]


def msa_pdf_context(ctx: AccessContext, msa: ManagementServicesAgreement) -> dict[str, Any]:
    """What templates/pdf/msa.html renders: the record and its parts, read through the permission layer."""
    return {
        **msa_document(ctx, msa),
        "tenant": ctx.tenant,
        "fee_terms": fee_terms_text(msa),
        "service_labels": service_labels(msa),
        "governing_state_name": state_name(msa.governing_state),
        "mso_state_name": state_name(msa.mso_entity.state),
        "pc_state_name": state_name(msa.pc.state),
    }


def msa_pdf(ctx: AccessContext, msa: ManagementServicesAgreement) -> bytes:
    """The MSA document generated from its record, as PDF bytes (mso_platform.pdf, the one renderer)."""
    return render_pdf("pdf/msa.html", msa_pdf_context(ctx, msa), title=msa.title)


# --- Standards, amendments, documents -----------------------------------------------------------


def performance_standard_list(ctx: AccessContext) -> QuerySet[PerformanceStandard]:
    return restrict(PerformanceStandard.objects.select_related("msa", "msa__pc"), ctx)


def performance_standard_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> PerformanceStandard:
    qs = PerformanceStandard.objects.select_related("msa", "msa__pc")
    return get_for_action_in(qs, ctx, pk, action)


def msa_amendment_list(ctx: AccessContext) -> QuerySet[MsaAmendment]:
    return restrict(MsaAmendment.objects.select_related("msa", "msa__pc"), ctx)


def msa_amendment_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> MsaAmendment:
    return get_for_action_in(MsaAmendment.objects.select_related("msa", "msa__pc"), ctx, pk, action)


def agreement_document_list(ctx: AccessContext) -> QuerySet[AgreementDocument]:
    """Documents without their bytes (``content`` is deferred): a list never loads the PDFs."""
    qs = AgreementDocument.objects.select_related("msa", "msa__pc", "amendment").defer("content")
    return restrict(qs, ctx)


def agreement_document_meta_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> AgreementDocument:
    """One document's record without its bytes (the detail page)."""
    qs = AgreementDocument.objects.select_related("msa", "msa__pc", "amendment").defer("content")
    return get_for_action_in(qs, ctx, pk, action)


def agreement_document_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> AgreementDocument:
    """One document with its bytes (for a download)."""
    return get_for_action_in(AgreementDocument.objects.select_related("msa", "msa__pc"), ctx, pk, action)


# --- Invoices and payments ----------------------------------------------------------------------


def fee_invoice_list(ctx: AccessContext) -> QuerySet[ManagementFeeInvoice]:
    """Invoices with their agreement and PC, and ``paid_amount``/``open_amount`` per row."""
    scoped = restrict(ManagementFeeInvoice.objects.select_related("msa", "msa__pc", "msa__mso_entity"), ctx)
    return with_paid_amounts(scoped)


def fee_invoice_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> ManagementFeeInvoice:
    """One invoice with ``paid_amount``/``open_amount``."""
    qs = ManagementFeeInvoice.objects.select_related("msa", "msa__pc", "msa__mso_entity")
    return get_for_action_in(with_paid_amounts(qs), ctx, pk, action)


def fee_payment_list(ctx: AccessContext) -> QuerySet[FeePayment]:
    return restrict(FeePayment.objects.select_related("invoice", "invoice__msa", "invoice__msa__pc"), ctx)


def fee_payment_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> FeePayment:
    qs = FeePayment.objects.select_related("invoice", "invoice__msa", "invoice__msa__pc")
    return get_for_action_in(qs, ctx, pk, action)


def invoice_with_payments(ctx: AccessContext, invoice: ManagementFeeInvoice) -> list[FeePayment]:
    return list(fee_payment_list(ctx).filter(invoice=invoice))


# --- PC collections -----------------------------------------------------------------------------


def pc_collection_list(ctx: AccessContext) -> QuerySet[PcCollection]:
    return restrict(PcCollection.objects.select_related("pc"), ctx)


def pc_collection_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> PcCollection:
    return get_for_action_in(PcCollection.objects.select_related("pc"), ctx, pk, action)
