"""The MSA document generated from its record (templates/pdf/msa.html through mso_platform.pdf): real
WeasyPrint renders, text read back from the laid-out pages as tests/test_pdf.py does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal

import pytest
import weasyprint
from weasyprint.formatting_structure import boxes

from management.models import FeeBasis, ManagementServicesAgreement
from management.selectors import agreements as selectors
from mso_platform.pdf import render_document
from tenants.access import AccessContext
from tests import factories as f
from tests.worlds import World

pytestmark = pytest.mark.django_db

Act = Callable[[AccessContext], AbstractContextManager[None]]


def text_of(document: weasyprint.Document) -> str:
    """Every page's laid-out text in one string, whitespace collapsed (lines wrap anywhere)."""
    words = [
        box.text
        for page in document.pages
        for box in page._page_box.descendants()
        if isinstance(box, boxes.TextBox)
    ]
    return " ".join(" ".join(words).split())


def render(
    world: World, act: Act, msa: ManagementServicesAgreement, capacity: str = "mso_admin"
) -> tuple[bytes, str]:
    ctx = world.ctx(capacity)
    with act(ctx):
        pdf = selectors.msa_pdf(ctx, msa)
        document = render_document("pdf/msa.html", selectors.msa_pdf_context(ctx, msa), title=msa.title)
    return pdf, text_of(document)


def test_the_msa_pdf_states_the_record(world_a: World, as_ctx: Act) -> None:
    pc = world_a.pcs[0]
    pc.legal_name, pc.physician_name = "Rivera Medical Corporation", "Dr. Ana Rivera"
    pc.save(update_fields=["legal_name", "physician_name"])
    world_a.entity.legal_name = "Glow Management LLC"
    world_a.entity.save(update_fields=["legal_name"])
    msa = f.MsaFactory.create(
        tenant=world_a.tenant,
        mso_entity=world_a.entity,
        pc=pc,
        title="Management Services Agreement — La Jolla",
        effective_date=dt.date(2024, 1, 1),
        end_date=dt.date(2027, 1, 1),
        services=["payroll", "billing"],
        fee_amount=Decimal("42000.00"),
        fmv_appraiser="Pacific Valuation Advisors",
        termination_notice_days=90,
    )
    f.PerformanceStandardFactory.create(
        tenant=world_a.tenant, msa=msa, metric="Claims billed within 3 days", target="95%"
    )
    f.MsaAmendmentFactory.create(
        tenant=world_a.tenant, msa=msa, number=1, summary="Adds IT services to the scope."
    )

    pdf, text = render(world_a, as_ctx, msa)

    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    for expected in (
        "Glow Management LLC",
        "Rivera Medical Corporation",
        "a California LLC",  # the parties' states, spelled out
        "January 1, 2024",
        "January 1, 2027",
        "Payroll",
        "Billing and collections",
        "A fixed management fee of 42,000.00 USD per month.",
        "Pacific Valuation Advisors",
        "sole authority over all clinical matters",  # the non-clinical-role clause, flagged
        "binding arbitration in California",
        "on 90 days' written notice",
        "governed by the laws of the State of California",
        "Claims billed within 3 days",
        "Adds IT services to the scope.",
        "By Dr. Ana Rivera (signature)",
    ):
        assert expected in text, expected
    assert "Alpha MSO" in text  # the tenant in the running header


def test_missing_clauses_are_reported_not_invented(world_a: World, as_ctx: Act) -> None:
    msa = f.MsaFactory.create(
        tenant=world_a.tenant,
        mso_entity=world_a.entity,
        pc=world_a.pcs[0],
        fee_basis=FeeBasis.PERCENT_OF_COLLECTIONS,
        fee_amount=None,
        fee_rate_percent=Decimal("12.50"),
        fmv_low=None,
        fmv_high=None,
        fmv_appraiser="",
        fmv_opinion_date=None,
        non_clinical_role_clause=False,
        dispute_resolution_clause=False,
        termination_clause=False,
        governing_state="",
        clinician_noncompete_clause=True,
    )
    _, text = render(world_a, as_ctx, msa)
    assert "12.5% of the Practice's monthly collections" in text
    for expected in (
        "No fair-market-value opinion is recorded",
        "The record contains no non-clinical-role clause.",
        "The record contains no dispute-resolution clause.",
        "The record contains no termination clause.",
        "The record names no governing state.",
        "A term bars clinicians from competing after they leave.",
        "No performance standards are recorded.",
    ):
        assert expected in text, expected
    assert "sole authority over all clinical matters" not in text


def test_user_text_is_printed_literally(world_a: World, as_ctx: Act) -> None:
    msa = f.MsaFactory.create(
        tenant=world_a.tenant, mso_entity=world_a.entity, pc=world_a.pcs[0], title="<b>MSA</b> {{ 7|add:7 }}"
    )
    f.PerformanceStandardFactory.create(tenant=world_a.tenant, msa=msa, metric="<script>alert(1)</script>")
    pdf, text = render(world_a, as_ctx, msa)
    assert pdf.startswith(b"%PDF-")
    assert "<b>MSA</b> {{ 7|add:7 }}" in text and "<script>alert(1)</script>" in text
