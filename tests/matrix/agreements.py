"""API matrix entries of the agreements area: MSAs, their standards, amendments and signed documents,
management-fee invoices and payments, PC collections.

Payloads name objects the world already holds (the domain worlds of the attack tests must not be
written to by building a payload); a bare world (no ``objs``) gets the few it lacks from factories.
Every row of this area is scoped by its PC: children of the first PC's MSA are what object-scoped
MSO staff may write; a new MSA goes to the second PC, which they cannot see (400).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from management.models import (
    AgreementDocument,
    FeePayment,
    ManagementFeeInvoice,
    ManagementServicesAgreement,
    MsaAmendment,
    PcCollection,
    PerformanceStandard,
)
from tenants.capacities import Side
from tests import factories as f
from tests.api_matrix import Endpoint
from tests.worlds import World

_serial = itertools.count(1)

# The smallest file the upload accepts: it begins with the PDF magic bytes and is a (trivial) PDF.
TINY_PDF = (
    b"%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n"
    b"2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n"
    b"trailer <</Root 1 0 R>>\n%%EOF\n"
)


def msa_of(w: World, index: int = 0) -> ManagementServicesAgreement:
    """The MSA of PC `index` (the first is the one object-scoped MSO staff hold)."""
    pc = w.pcs[index]
    found = [m for m in w.objs.get(ManagementServicesAgreement, []) if m.pc_id == pc.pk]
    return found[0] if found else f.MsaFactory.create(tenant=w.tenant, mso_entity=w.entity, pc=pc)


def open_invoice_of(w: World) -> ManagementFeeInvoice:
    """An issued invoice of the first PC's MSA with an open amount a small payment fits into."""
    for invoice in w.objs.get(ManagementFeeInvoice, []):
        paid = FeePayment.objects.filter(invoice=invoice).aggregate(t=Sum("amount"))["t"] or Decimal(0)
        if invoice.msa.pc_id == w.pcs[0].pk and invoice.amount - paid >= Decimal("100.00"):
            return invoice
    # A bare world, or a domain world whose invoices are all paid in full.
    return f.ManagementFeeInvoiceFactory.create(
        tenant=w.tenant, msa=msa_of(w), number=f"MX-OPEN-{next(_serial)}"
    )


def make_document(msa: ManagementServicesAgreement, name: str = "signed.pdf") -> AgreementDocument:
    return AgreementDocument.objects.create(
        tenant_id=msa.tenant_id,
        msa=msa,
        filename=name,
        content=TINY_PDF,
        sha256=hashlib.sha256(TINY_PDF).hexdigest(),
        size=len(TINY_PDF),
    )


def _msa_payload(w: World) -> dict[str, Any]:
    today = timezone.localdate()
    return {
        "title": f"Matrix Management Services Agreement {next(_serial)}",
        "mso_entity": str(w.entity.pk),
        "pc": str(w.pcs[1].pk),
        # A term around the domain world's invoices (last month): a PUT with this body keeps them inside.
        "effective_date": (today - dt.timedelta(days=365)).isoformat(),
        "end_date": (today + dt.timedelta(days=3 * 365)).isoformat(),
        "services": ["payroll", "billing", "it"],
        # Per unit: the basis that uses every text term (amount, unit), so none is cleared.
        "fee_basis": "per_unit",
        "fee_amount": "150.00",
        "fee_unit": "treatment",
        "currency": "USD",
        "fmv_appraiser": "Matrix Valuation LLP",
        "fmv_opinion_date": today.isoformat(),
        "fmv_low": "120.00",
        "fmv_high": "180.00",
        "non_clinical_role_clause": True,
        "dispute_resolution_clause": True,
        "termination_clause": True,
        "termination_notice_days": 90,
        "governing_state": "CA",
    }


def _standard_payload(w: World) -> dict[str, Any]:
    return {
        "msa": str(msa_of(w).pk),
        "metric": f"Claims billed within 2 days ({next(_serial)})",
        "target": "97%",
    }


def _amendment_payload(w: World) -> dict[str, Any]:
    return {
        "msa": str(msa_of(w).pk),
        "effective_date": timezone.localdate().isoformat(),
        "signed_on": timezone.localdate().isoformat(),
        "summary": f"Adds compliance support to the scope ({next(_serial)}).",
    }


def _document_payload(w: World) -> dict[str, Any]:
    return {
        "msa": str(msa_of(w).pk),
        "file": base64.b64encode(TINY_PDF).decode(),
        "filename": f"signed-msa-{next(_serial)}.pdf",
    }


def _invoice_payload(w: World) -> dict[str, Any]:
    first = timezone.localdate().replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return {
        "msa": str(msa_of(w).pk),
        "number": f"MX-{next(_serial):06d}",
        "period_start": first.isoformat(),
        "period_end": last.isoformat(),
        "amount": "42000.00",
        "currency": "USD",
        "status": "issued",
    }


def _payment_payload(w: World) -> dict[str, Any]:
    return {
        "invoice": str(open_invoice_of(w).pk),
        "paid_on": timezone.localdate().isoformat(),
        "amount": "1.00",
        "reference": f"ACH-MX-{next(_serial)}",
    }


def _collection_payload(w: World) -> dict[str, Any]:
    # Months of the 1990s: clear of the recent months the factories and the seed use.
    n = next(_serial)
    return {"pc": str(w.pcs[0].pk), "month": f"{1990 + n // 12}-{n % 12 + 1:02d}", "amount": "181000.00"}


# --- rows for the query-count tests (the MSO admin sees all of them) -------------------------------


def _msa_rows(w: World, n: int) -> list[Any]:
    return [f.MsaFactory.create(tenant=w.tenant, mso_entity=w.entity, pc=w.pcs[i % 2]) for i in range(n)]


def _standard_rows(w: World, n: int) -> list[Any]:
    return [f.PerformanceStandardFactory.create(tenant=w.tenant, msa=msa_of(w, i % 2)) for i in range(n)]


def _amendment_rows(w: World, n: int) -> list[Any]:
    # Each on its own MSA: numbers are per agreement.
    return [f.MsaAmendmentFactory.create(tenant=w.tenant, number=1, msa=_msa_rows(w, 1)[0]) for _ in range(n)]


def _document_rows(w: World, n: int) -> list[Any]:
    return [make_document(msa_of(w, i % 2), f"row-{i}.pdf") for i in range(n)]


def _invoice_rows(w: World, n: int) -> list[Any]:
    return [
        f.ManagementFeeInvoiceFactory.create(
            tenant=w.tenant, msa=msa_of(w, i % 2), number=f"MX-ROW-{next(_serial)}"
        )
        for i in range(n)
    ]


def _payment_rows(w: World, n: int) -> list[Any]:
    invoices = _invoice_rows(w, n)
    return [
        f.FeePaymentFactory.create(tenant=w.tenant, invoice=inv, amount=Decimal("100.00")) for inv in invoices
    ]


def _collection_rows(w: World, n: int) -> list[Any]:
    rows = []
    for i in range(n):
        k = next(_serial)
        # A month of its own: in the 1800s, clear of the payload's and of PcCollectionFactory's (which
        # counts back from today by its own sequence and reached the 1980s in a long run).
        month = dt.date(1800 + k // 12, k % 12 + 1, 1)
        rows.append(f.PcCollectionFactory.create(tenant=w.tenant, pc=w.pcs[i % 2], month=month))
    return rows


def _pc_of_msa_child(o: Any) -> Any:
    return o.msa.pc


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        name="msas",
        model=ManagementServicesAgreement,
        side=Side.BUSINESS,
        scope=lambda o: o.pc,
        own_objects=lambda w: list(w.objs.get(ManagementServicesAgreement, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_msa_payload,
        create_refs=lambda w: [w.entity, w.pcs[1]],
        create_scope=lambda w: w.pcs[1],
        update_payload={"title": "Amended and Restated Management Services Agreement"},
        make_rows=_msa_rows,
    ),
    Endpoint(
        name="performance-standards",
        model=PerformanceStandard,
        side=Side.BUSINESS,
        scope=_pc_of_msa_child,
        own_objects=lambda w: list(w.objs.get(PerformanceStandard, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_standard_payload,
        create_refs=lambda w: [w.pcs[0]],  # the MSA referenced is the first PC's
        create_scope=lambda w: w.pcs[0],
        update_payload={"target": "99%"},
        make_rows=_standard_rows,
    ),
    Endpoint(
        name="msa-amendments",
        model=MsaAmendment,
        side=Side.BUSINESS,
        scope=_pc_of_msa_child,
        own_objects=lambda w: list(w.objs.get(MsaAmendment, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_amendment_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"summary": "Restates the scope of services; no fee change."},
        make_rows=_amendment_rows,
    ),
    Endpoint(
        name="agreement-documents",
        model=AgreementDocument,
        side=Side.BUSINESS,
        scope=_pc_of_msa_child,
        own_objects=lambda w: list(w.objs.get(AgreementDocument, [])),
        writes=frozenset({"create"}),
        create_payload=_document_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"filename": "renamed.pdf"},
        make_rows=_document_rows,
    ),
    Endpoint(
        name="fee-invoices",
        model=ManagementFeeInvoice,
        side=Side.BUSINESS,
        scope=_pc_of_msa_child,
        own_objects=lambda w: list(w.objs.get(ManagementFeeInvoice, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_invoice_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"number": "MX-RENUMBERED-1"},
        make_rows=_invoice_rows,
    ),
    Endpoint(
        name="fee-payments",
        model=FeePayment,
        side=Side.BUSINESS,
        scope=lambda o: o.invoice.msa.pc,
        own_objects=lambda w: list(w.objs.get(FeePayment, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_payment_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"reference": "WIRE-CORRECTED-1"},
        make_rows=_payment_rows,
        # A payment that covers its invoice marks it paid (and a corrected one may reopen it).
        also_writes=frozenset({ManagementFeeInvoice}),
    ),
    Endpoint(
        name="pc-collections",
        model=PcCollection,
        side=Side.BUSINESS,
        scope=lambda o: o.pc,
        own_objects=lambda w: list(w.objs.get(PcCollection, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_collection_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"currency": "USD"},
        make_rows=_collection_rows,
    ),
]
