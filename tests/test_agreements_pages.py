"""The agreements pages through the browser: lists, details, create and edit forms in the capacities
that may use them (404 for the others and for another tenant's ids), the MSA page with its scope,
fees, FMV, clauses, standards, amendments, documents and invoices, signed-PDF upload and download,
the generated MSA PDF, payments refused past the open amount, and the CSV import of collections."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from management.models import (
    AgreementDocument,
    FeePayment,
    ManagementFeeInvoice,
    ManagementServicesAgreement,
    MsaAmendment,
    PcCollection,
)
from tenants.security.policy import requires_two_factor
from tests import factories as f
from tests.api_matrix import reaches
from tests.matrix.agreements import TINY_PDF, make_document
from tests.sessions import sign_in
from tests.worlds import World

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


def as_(world: World, capacity: str) -> Client:
    return sign_in(Client(), world.user(capacity), verified=requires_two_factor(capacity))


def url(world: World, name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs={"tenant_slug": world.tenant.slug, **kwargs})


def text(response: Any) -> str:
    return response.content.decode()


def msa_of(world: World, index: int) -> ManagementServicesAgreement:
    return next(m for m in world.objs[ManagementServicesAgreement] if m.pc_id == world.pcs[index].pk)


def msa_form(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "title": "MSA from the form",
        "mso_entity": str(world.entity.pk),
        "pc": str(world.pcs[0].pk),
        "effective_date": (TODAY - dt.timedelta(days=10)).isoformat(),
        "end_date": (TODAY + dt.timedelta(days=900)).isoformat(),
        "services": ["payroll", "scheduling"],
        "fee_basis": "per_unit",
        "fee_amount": "150.00",
        "fee_unit": "treatment",
        "currency": "USD",
        "non_clinical_role_clause": "on",
        "governing_state": "CA",
        **extra,
    }


def test_msa_pages_answer_by_capacity_and_scope(domain_a: World, domain_b: World) -> None:
    first, second = msa_of(domain_a, 0), msa_of(domain_a, 1)
    foreign = domain_b.objs[ManagementServicesAgreement][0]
    for capacity in ("mso_admin", "mso_staff", "mso_compliance", "pc_physician", "clinician", "auditor"):
        client = as_(domain_a, capacity)
        listing = client.get(url(domain_a, "msa-list"))
        assert listing.status_code == 200, capacity
        assert first.title in text(listing)
        sees_second = reaches(domain_a, capacity, first.access.side, second.pc, "view")
        assert (second.title in text(listing)) == sees_second, capacity
        assert client.get(url(domain_a, "msa-detail", pk=second.pk)).status_code == (
            200 if sees_second else 404
        )
        assert client.get(url(domain_a, "msa-detail", pk=foreign.pk)).status_code == 404
        assert client.get(url(domain_a, "msa-pdf", pk=foreign.pk)).status_code == 404
        # Only business capacities that write may open the forms.
        writes = capacity in ("mso_admin", "mso_staff", "mso_compliance")
        assert client.get(url(domain_a, "msa-create")).status_code == (200 if writes else 404), capacity
        assert client.get(url(domain_a, "msa-edit", pk=first.pk)).status_code == (200 if writes else 404)
        assert client.get(url(domain_a, "collection-import")).status_code == (200 if writes else 404)
    # Staff may not edit the second PC's agreement (it is not theirs to see).
    assert as_(domain_a, "mso_staff").get(url(domain_a, "msa-edit", pk=second.pk)).status_code == 404


def test_msa_detail_shows_scope_fees_fmv_clauses_and_its_records(domain_a: World) -> None:
    msa = msa_of(domain_a, 0)
    document = make_document(msa, "Signed MSA.pdf")
    invoice = next(i for i in domain_a.objs[ManagementFeeInvoice] if i.msa_id == msa.pk)
    FeePayment.objects.filter(invoice=invoice).update(amount=Decimal("40000.00"))
    page = as_(domain_a, "mso_admin").get(url(domain_a, "msa-detail", pk=msa.pk))
    assert page.status_code == 200
    html = text(page)
    standard = next(s for s in msa.standards.all())
    amendment = msa.amendments.get()
    for expected in (
        "Payroll",
        "Billing and collections",
        "A fixed management fee of 42,000.00 USD per month.",
        "Pacific Valuation Advisors",
        "Non-clinical role of the MSO",
        "90 days' notice",
        standard.metric,
        amendment.summary,
        document.filename,
        url(domain_a, "msa-document-download", pk=document.pk),
        invoice.number,
        "40,000.00",  # paid
        "2,000.00",  # open
        url(domain_a, "msa-pdf", pk=msa.pk),
    ):
        assert expected in html, expected


def test_create_and_edit_an_msa_through_the_form(domain_a: World) -> None:
    client = as_(domain_a, "mso_admin")
    before = ManagementServicesAgreement.objects.filter(tenant=domain_a.tenant).count()
    bad = client.post(url(domain_a, "msa-create"), msa_form(domain_a, fee_unit=""))
    assert bad.status_code == 400
    assert "A per-unit fee needs its unit of service" in text(bad)
    assert ManagementServicesAgreement.objects.filter(tenant=domain_a.tenant).count() == before
    created = client.post(url(domain_a, "msa-create"), msa_form(domain_a))
    assert created.status_code == 302
    msa = ManagementServicesAgreement.objects.get(tenant=domain_a.tenant, title="MSA from the form")
    assert created["Location"] == url(domain_a, "msa-detail", pk=msa.pk)
    assert (msa.services, msa.fee_unit, msa.non_clinical_role_clause) == (
        ["payroll", "scheduling"],
        "treatment",
        True,
    )
    edited = client.post(
        url(domain_a, "msa-edit", pk=msa.pk),
        msa_form(domain_a, title="MSA, restated", fee_basis="fixed_monthly", fee_amount="41000.00"),
    )
    assert edited.status_code == 302
    msa.refresh_from_db()
    assert (msa.title, msa.fee_basis, msa.fee_unit) == ("MSA, restated", "fixed_monthly", "")
    # A PC of another tenant is not one of the choices.
    foreign = f.ProfessionalCorporationFactory.create(tenant=f.TenantFactory.create())
    refused = client.post(
        url(domain_a, "msa-create"), msa_form(domain_a, pc=str(foreign.pk), title="Foreign")
    )
    assert refused.status_code == 400
    assert not ManagementServicesAgreement.objects.filter(title="Foreign").exists()


def test_amendment_form_preselects_the_agreement_and_numbers_it(domain_a: World) -> None:
    msa = msa_of(domain_a, 0)
    client = as_(domain_a, "mso_staff")
    form = client.get(url(domain_a, "msa-amendment-create") + f"?msa={msa.pk}")
    assert form.status_code == 200
    assert f'<option value="{msa.pk}" selected>' in text(form)
    # Staff see the first PC's agreement only: the second is not offered.
    assert str(msa_of(domain_a, 1).pk) not in text(form)
    response = client.post(
        url(domain_a, "msa-amendment-create"),
        {"msa": str(msa.pk), "effective_date": TODAY.isoformat(), "summary": "Adds compliance support."},
    )
    assert response.status_code == 302
    assert MsaAmendment.objects.get(msa=msa, summary="Adds compliance support.").number == 2


def test_signed_pdf_upload_and_download_pages(domain_a: World, domain_b: World) -> None:
    msa = msa_of(domain_a, 0)
    client = as_(domain_a, "mso_admin")
    form_url = url(domain_a, "msa-document-create")
    page = client.get(form_url + f"?msa={msa.pk}")
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in text(page)
    held = set(AgreementDocument.objects.filter(msa=msa).values_list("pk", flat=True))  # the world's own
    fake = SimpleUploadedFile("contract.pdf", b"just text", content_type="application/pdf")
    refused = client.post(form_url, {"msa": str(msa.pk), "file": fake})
    assert refused.status_code == 400
    assert "This is not a PDF file" in text(refused)
    assert set(AgreementDocument.objects.filter(msa=msa).values_list("pk", flat=True)) == held
    upload = SimpleUploadedFile("MSA signed 2025.pdf", TINY_PDF, content_type="application/pdf")
    response = client.post(form_url, {"msa": str(msa.pk), "file": upload})
    assert response.status_code == 302
    document = AgreementDocument.objects.exclude(pk__in=held).get(msa=msa)
    assert (document.filename, bytes(document.content)) == ("MSA signed 2025.pdf", TINY_PDF)
    download = client.get(url(domain_a, "msa-document-download", pk=document.pk))
    assert (download.status_code, download["Content-Type"], download.content) == (
        200,
        "application/pdf",
        TINY_PDF,
    )
    detail = client.get(url(domain_a, "msa-document-detail", pk=document.pk))
    assert document.sha256 in text(detail)
    # Another tenant's session, and staff for a PC they do not hold, get 404.
    foreign = as_(domain_b, "mso_admin")
    assert foreign.get(url(domain_a, "msa-document-download", pk=document.pk)).status_code == 404
    assert foreign.get(url(domain_b, "msa-document-download", pk=document.pk)).status_code == 404
    hidden = make_document(msa_of(domain_a, 1))
    staff = as_(domain_a, "mso_staff")
    assert staff.get(url(domain_a, "msa-document-download", pk=hidden.pk)).status_code == 404
    assert as_(domain_a, "auditor").get(url(domain_a, "msa-document-create")).status_code == 404


def test_msa_pdf_page(domain_a: World) -> None:
    msa = msa_of(domain_a, 0)
    response = as_(domain_a, "auditor").get(url(domain_a, "msa-pdf", pk=msa.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert "no-store" in response["Cache-Control"]
    assert (
        as_(domain_a, "mso_staff").get(url(domain_a, "msa-pdf", pk=msa_of(domain_a, 1).pk)).status_code == 404
    )


def test_payment_form_refuses_more_than_the_open_amount(domain_a: World) -> None:
    msa = msa_of(domain_a, 0)
    invoice = f.ManagementFeeInvoiceFactory.create(
        tenant=domain_a.tenant, msa=msa, number="INV-PAGE-1", amount=Decimal("1000.00")
    )
    client = as_(domain_a, "mso_admin")
    detail = client.get(url(domain_a, "invoice-detail", pk=invoice.pk))
    assert f"{url(domain_a, 'fee-payment-create')}?invoice={invoice.pk}" in text(detail)
    body = {
        "invoice": str(invoice.pk),
        "paid_on": TODAY.isoformat(),
        "amount": "1000.01",
        "reference": "WIRE-7",
    }
    refused = client.post(url(domain_a, "fee-payment-create"), body)
    assert refused.status_code == 400
    assert "The payment exceeds the invoice&#x27;s open amount (1,000.00 USD)." in text(refused)
    assert not FeePayment.objects.filter(invoice=invoice).exists()
    assert client.post(url(domain_a, "fee-payment-create"), {**body, "amount": "1000.00"}).status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    paid_page = text(client.get(url(domain_a, "invoice-detail", pk=invoice.pk)))
    assert "WIRE-7" in paid_page and "Open: 0.00 USD" in paid_page


def collection_csv(*lines: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(
        "collections.csv", ("\r\n".join(lines) + "\r\n").encode(), content_type="text/csv"
    )


def test_collection_import_page(domain_a: World, domain_b: World) -> None:
    client = as_(domain_a, "mso_admin")
    page_url = url(domain_a, "collection-import")
    page = client.get(page_url)
    assert page.status_code == 200
    assert url(domain_a, "collection-import-template") in text(page)
    template = client.get(url(domain_a, "collection-import-template"))
    assert template["Content-Type"].startswith("text/csv")
    assert template.content.startswith(b"\xef\xbb\xbfpc,month,amount,currency")
    before = PcCollection.objects.filter(tenant=domain_a.tenant).count()
    a0, b0 = domain_a.pcs[0].legal_name, domain_b.pcs[0].legal_name

    bad = client.post(
        page_url, {"file": collection_csv("pc,month,amount", f"{a0},1999-01,10", f"{a0},1999-02,ten")}
    )
    assert bad.status_code == 400
    assert "Nothing was imported." in text(bad)
    assert "<td>3</td>" in text(bad) and "Write the amount as a number" in text(bad)
    foreign = client.post(page_url, {"file": collection_csv("pc,month,amount", f"{b0},1999-01,10")})
    assert foreign.status_code == 400
    assert "Unknown PC" in text(foreign)
    assert PcCollection.objects.filter(tenant=domain_a.tenant).count() == before
    assert not PcCollection.objects.filter(month__year=1999).exists()  # nor in the other tenant

    good = client.post(
        page_url, {"file": collection_csv("pc,month,amount", f"{a0},1999-01,10", f"{a0},1999-02,20")}
    )
    assert good.status_code == 200
    assert "Imported 2 rows of 2." in text(good)
    imported = PcCollection.objects.filter(tenant=domain_a.tenant, month__year=1999)
    assert sorted((c.month, c.amount, c.source) for c in imported) == [
        (dt.date(1999, 1, 1), Decimal("10.00"), "imported"),
        (dt.date(1999, 2, 1), Decimal("20.00"), "imported"),
    ]
    assert client.post(page_url, {}).status_code == 400
    assert (
        as_(domain_a, "auditor").post(page_url, {"file": collection_csv("pc,month,amount")}).status_code
        == 404
    )


def test_collection_form_takes_a_month(domain_a: World) -> None:
    client = as_(domain_a, "mso_admin")
    body = {"pc": str(domain_a.pcs[0].pk), "month": "1998-07", "amount": "123.45", "currency": "USD"}
    assert client.post(url(domain_a, "collection-create"), body).status_code == 302
    row = PcCollection.objects.get(tenant=domain_a.tenant, month=dt.date(1998, 7, 1))
    assert (row.amount, row.source) == (Decimal("123.45"), "entered")
    dup = client.post(url(domain_a, "collection-create"), {**body, "month": "1998-07-09"})
    assert dup.status_code == 400 and "already has collections for July 1998" in text(dup)
    edit = client.get(url(domain_a, "collection-edit", pk=row.pk))
    assert 'value="1998-07"' in text(edit)
