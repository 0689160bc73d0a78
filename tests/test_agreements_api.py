"""The agreements API beyond the generic matrix: writes through the services with their messages,
filters and pagination, paid/open amounts of invoices, signed PDFs uploaded as multipart (or base64
JSON) and downloaded as application/pdf through the permission layer, the MSA document as PDF, and
collection months normalised to the 1st."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from management.models import AgreementDocument, FeePayment, ManagementServicesAgreement, PcCollection
from tests import factories as f
from tests.api_matrix import client_for, issue_keys
from tests.matrix.agreements import TINY_PDF, make_document
from tests.worlds import World

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
API = "/api/v1/"


def keys(world: World) -> dict[str, APIClient]:
    return {capacity: client_for(raw) for capacity, raw in issue_keys(world).items()}


def msa_body(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "mso_entity": str(world.entity.pk),
        "pc": str(world.pcs[0].pk),
        "effective_date": (TODAY - dt.timedelta(days=30)).isoformat(),
        "end_date": (TODAY + dt.timedelta(days=1000)).isoformat(),
        "fee_basis": "fixed_monthly",
        "fee_amount": "42000.00",
        "services": ["payroll", "it"],
        **extra,
    }


def make_msa(world: World, index: int = 0, **extra: Any) -> ManagementServicesAgreement:
    return f.MsaFactory.create(tenant=world.tenant, mso_entity=world.entity, pc=world.pcs[index], **extra)


def test_msa_create_and_update_go_through_the_service(world_a: World) -> None:
    admin = keys(world_a)["mso_admin"]
    response = admin.post(f"{API}msas/", msa_body(world_a, fee_rate_percent="5.00"), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["services"] == ["payroll", "it"]
    assert data["fee_rate_percent"] is None  # a fixed fee keeps no rate
    patch = admin.patch(
        f"{API}msas/{data['id']}/",
        {"fee_basis": "percent_of_collections", "fee_rate_percent": "10.00"},
        format="json",
    )
    assert patch.status_code == 200, patch.content
    assert (patch.json()["fee_amount"], patch.json()["fee_rate_percent"]) == (None, "10.00")


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"fee_basis": "per_unit", "fee_unit": ""}, "fee_unit", "A per-unit fee needs its unit of service"),
        ({"fee_basis": "cost_plus"}, "fee_rate_percent", "A cost-plus fee needs its markup rate"),
        ({"fmv_low": "50000.00", "fmv_high": "40000.00"}, "fmv_high", "low end cannot exceed its high end"),
        ({"services": ["payroll", "diagnosis"]}, "services", "is not a valid choice"),
    ],
)
def test_msa_refusals_are_400_with_the_message_and_write_nothing(
    world_a: World, extra: dict[str, Any], field: str, message: str
) -> None:
    before = ManagementServicesAgreement.objects.count()
    response = keys(world_a)["mso_admin"].post(f"{API}msas/", msa_body(world_a, **extra), format="json")
    assert response.status_code == 400
    assert message in str(response.json()[field])
    assert ManagementServicesAgreement.objects.count() == before


def test_msa_filters_apply_after_scoping(world_a: World, world_b: World) -> None:
    fixed = make_msa(world_a, 0)
    percent = make_msa(world_a, 1, fee_basis="percent_of_collections", fee_amount=None, fee_rate_percent=10)
    expired = make_msa(
        world_a, 0, effective_date=TODAY - dt.timedelta(days=900), end_date=TODAY - dt.timedelta(days=1)
    )
    make_msa(world_b, 0)
    client = keys(world_a)["mso_admin"]

    def ids(**params: Any) -> set[str]:
        response = client.get(f"{API}msas/", params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {str(fixed.pk), str(percent.pk), str(expired.pk)}
    assert ids(fee_basis="percent_of_collections") == {str(percent.pk)}
    assert ids(pc=str(world_a.pcs[1].pk)) == {str(percent.pk)}
    assert ids(in_force_on=TODAY.isoformat()) == {str(fixed.pk), str(percent.pk)}
    assert ids(service="it") == {str(fixed.pk), str(percent.pk), str(expired.pk)}
    assert ids(service="compliance") == set()
    refused = client.get(f"{API}msas/", {"fee_basis": "barter"})
    assert refused.status_code == 400 and "Not one of the choices" in str(refused.json())
    # Staff hold the first PC only; the filter cannot widen that.
    staff = keys(world_a)["mso_staff"].get(f"{API}msas/", {"pc": str(world_a.pcs[1].pk)})
    assert staff.json()["count"] == 0
    page = client.get(f"{API}msas/", {"page_size": 2}).json()
    assert (page["count"], len(page["results"])) == (3, 2) and "page=2" in page["next"]


def test_invoices_show_paid_and_open_amounts(world_a: World) -> None:
    msa = make_msa(world_a)
    invoice = f.ManagementFeeInvoiceFactory.create(tenant=world_a.tenant, msa=msa, amount=Decimal("1000.00"))
    client = keys(world_a)["mso_admin"]
    for amount in ("300.00", "200.00"):
        paid = client.post(
            f"{API}fee-payments/",
            {"invoice": str(invoice.pk), "paid_on": TODAY.isoformat(), "amount": amount},
            format="json",
        )
        assert paid.status_code == 201, paid.content
    row = client.get(f"{API}fee-invoices/{invoice.pk}/").json()
    assert (row["paid_amount"], row["open_amount"], row["status"]) == ("500.00", "500.00", "issued")
    listed = client.get(f"{API}fee-invoices/", {"status": "issued"}).json()["results"]
    assert [(r["id"], r["open_amount"]) for r in listed] == [(str(invoice.pk), "500.00")]
    over = client.post(
        f"{API}fee-payments/",
        {"invoice": str(invoice.pk), "paid_on": TODAY.isoformat(), "amount": "500.01"},
        format="json",
    )
    assert over.status_code == 400
    assert over.json() == {"amount": ["The payment exceeds the invoice's open amount (500.00 USD)."]}
    assert FeePayment.objects.filter(invoice=invoice).count() == 2
    settled = client.post(
        f"{API}fee-payments/",
        {"invoice": str(invoice.pk), "paid_on": TODAY.isoformat(), "amount": "500.00"},
        format="json",
    )
    assert settled.status_code == 201
    row = client.get(f"{API}fee-invoices/{invoice.pk}/").json()
    assert (row["open_amount"], row["status"]) == ("0.00", "paid")


def test_invoice_created_by_the_api_reports_its_amounts(world_a: World) -> None:
    msa = make_msa(world_a)
    start = TODAY.replace(day=1)
    response = keys(world_a)["mso_admin"].post(
        f"{API}fee-invoices/",
        {
            "msa": str(msa.pk),
            "number": "INV-API-1",
            "period_start": start.isoformat(),
            "period_end": (start + dt.timedelta(days=27)).isoformat(),
            "amount": "42000.00",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert (response.json()["paid_amount"], response.json()["open_amount"]) == ("0.00", "42000.00")
    outside = keys(world_a)["mso_admin"].post(
        f"{API}fee-invoices/",
        {
            "msa": str(msa.pk),
            "number": "INV-API-2",
            "period_start": (msa.end_date + dt.timedelta(days=1)).isoformat(),
            "period_end": (msa.end_date + dt.timedelta(days=30)).isoformat(),
            "amount": "42000.00",
        },
        format="json",
    )
    assert outside.status_code == 400
    assert "inside the agreement's term" in outside.json()["period_start"][0]


def test_amendments_are_numbered_by_the_api(world_a: World) -> None:
    msa = make_msa(world_a)
    client = keys(world_a)["mso_admin"]
    body = {"msa": str(msa.pk), "effective_date": TODAY.isoformat(), "summary": "Adds IT."}
    assert [client.post(f"{API}msa-amendments/", body, format="json").json()["number"] for _ in range(2)] == [
        1,
        2,
    ]
    wrong = client.post(f"{API}msa-amendments/", {**body, "number": 7}, format="json")
    assert wrong.status_code == 400
    assert wrong.json() == {
        "number": ["Amendments of an agreement are numbered in order: the next one is 3."]
    }


def test_signed_pdf_upload_as_multipart_and_download_as_pdf(world_a: World, world_b: World) -> None:
    msa = make_msa(world_a)
    clients = keys(world_a)
    upload = SimpleUploadedFile("Signed MSA 2025.pdf", TINY_PDF, content_type="application/pdf")
    response = clients["mso_admin"].post(
        f"{API}agreement-documents/", {"msa": str(msa.pk), "file": upload}, format="multipart"
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert "file" not in data and "content" not in data  # the bytes never come back as JSON
    assert (data["filename"], data["size"], data["sha256"]) == (
        "Signed MSA 2025.pdf",
        len(TINY_PDF),
        hashlib.sha256(TINY_PDF).hexdigest(),
    )
    download = clients["auditor"].get(f"{API}agreement-documents/{data['id']}/download/")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert download.content == TINY_PDF
    assert download["X-Content-SHA256"] == data["sha256"]
    assert download["Content-Disposition"] == 'attachment; filename="Signed-MSA-2025.pdf"'
    assert "no-store" in download["Cache-Control"]
    # Another tenant's key, and a key of a capacity outside the PC, get 404 like an absent id.
    other = client_for(issue_keys(world_b)["mso_admin"]).get(
        f"{API}agreement-documents/{data['id']}/download/"
    )
    assert other.status_code == 404 and other.json() == {"detail": "No such object."}
    hidden = make_document(make_msa(world_a, 1))
    for capacity in ("mso_staff", "clinician", "pc_physician"):
        assert clients[capacity].get(f"{API}agreement-documents/{hidden.pk}/download/").status_code == 404


def test_upload_as_base64_json_and_refusals(world_a: World) -> None:
    msa = make_msa(world_a)
    client = keys(world_a)["mso_admin"]
    encoded = base64.b64encode(TINY_PDF).decode()
    ok = client.post(
        f"{API}agreement-documents/",
        {"msa": str(msa.pk), "file": encoded, "filename": "a.pdf"},
        format="json",
    )
    assert ok.status_code == 201, ok.content
    before = AgreementDocument.objects.count()
    fake = SimpleUploadedFile("contract.pdf", b"PK\x03\x04 not a pdf", content_type="application/pdf")
    refused = client.post(
        f"{API}agreement-documents/", {"msa": str(msa.pk), "file": fake}, format="multipart"
    )
    assert refused.status_code == 400
    assert refused.json() == {"file": ["This is not a PDF file (it does not begin with “%PDF-”)."]}
    garbled = client.post(f"{API}agreement-documents/", {"msa": str(msa.pk), "file": "%%%"}, format="json")
    assert garbled.status_code == 400 and "base64" in garbled.json()["file"][0]
    missing = client.post(f"{API}agreement-documents/", {"msa": str(msa.pk)}, format="json")
    assert missing.status_code == 400 and missing.json()["file"]
    assert AgreementDocument.objects.count() == before
    # Documents are added, never changed.
    assert (
        client.patch(
            f"{API}agreement-documents/{ok.json()['id']}/", {"filename": "b.pdf"}, format="json"
        ).status_code
        == 405
    )


def test_msa_document_pdf_from_the_api(world_a: World, world_b: World) -> None:
    msa = make_msa(world_a)
    clients = keys(world_a)
    response = clients["pc_physician"].get(f"{API}msas/{msa.pk}/pdf/")  # the PC's own physician may read it
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    assert response["Content-Disposition"].startswith('attachment; filename="')
    other = make_msa(world_a, 1)
    assert clients["mso_staff"].get(f"{API}msas/{other.pk}/pdf/").status_code == 404
    foreign = client_for(issue_keys(world_b)["mso_admin"]).get(f"{API}msas/{msa.pk}/pdf/")
    assert foreign.status_code == 404


def test_collection_months_are_normalised_to_the_first(world_a: World) -> None:
    client = keys(world_a)["mso_admin"]
    body = {"pc": str(world_a.pcs[0].pk), "amount": "180000.00"}
    assert (
        client.post(f"{API}pc-collections/", {**body, "month": "2025-03"}, format="json").json()["month"]
        == "2025-03-01"
    )
    created = client.post(f"{API}pc-collections/", {**body, "month": "2025-04-17"}, format="json")
    assert (created.status_code, created.json()["month"], created.json()["source"]) == (
        201,
        "2025-04-01",
        "entered",
    )
    dup = client.post(f"{API}pc-collections/", {**body, "month": "2025-03-20"}, format="json")
    assert dup.status_code == 400
    assert dup.json() == {"month": ["This PC already has collections for March 2025."]}
    bad = client.post(f"{API}pc-collections/", {**body, "month": "March"}, format="json")
    assert bad.status_code == 400 and bad.json()["month"]
    assert PcCollection.objects.filter(tenant=world_a.tenant).count() == 2
    listed = client.get(f"{API}pc-collections/", {"month_from": "2025-04-01"}).json()
    assert [r["month"] for r in listed["results"]] == ["2025-04-01"]
