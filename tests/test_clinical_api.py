"""Clinical API behaviour specific to these records: nested product lots, records that stay in their
chart, every record a response shows in the audit log (one insert per page), lists at a fixed query
count, and the signed consent as a PDF."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from weasyprint.formatting_structure import boxes

from clinical import selectors
from clinical.models import (
    ConsentFormVersion,
    GoodFaithExam,
    PatientChart,
    SignedConsent,
    Treatment,
    TreatmentPhoto,
    TreatmentProduct,
)
from management.models import Client, Provider
from management.procedures import LicenseType
from mso_platform.pdf import render_document
from tenants.models import AuditLogEntry
from tests.api_matrix import Endpoint, call, client_for, issue_keys
from tests.conftest import acting_as
from tests.matrix import clinical as matrix
from tests.worlds import World

pytestmark = pytest.mark.django_db


def first(world: World, model: type[Any], index: int = 0) -> Any:
    chart = world.charts[index]
    for obj in world.objs[model]:
        owner = getattr(obj, "treatment", obj)
        if getattr(owner, "chart_id", None) == chart.pk:
            return obj
    raise LookupError(model)


def reads(**match: Any) -> list[AuditLogEntry]:
    return list(AuditLogEntry.objects.filter(action="read", **match))


def treatment_body(world: World, **extra: Any) -> dict[str, Any]:
    return {**matrix._treatment_payload(world), **extra}


def test_treatment_is_created_with_its_lots_and_shown_with_products_and_photos(domain_a: World) -> None:
    w = domain_a
    client = client_for(issue_keys(w)["clinician"])
    body = treatment_body(
        w,
        products=[
            {"product_name": "Botox Cosmetic 100U", "lot_number": "C7001C3", "quantity": "20"},
            {"product_name": "Bacteriostatic saline", "lot_number": "S-55", "quantity": "2.5", "unit": "ml"},
        ],
    )
    created = call(client, "POST", "/api/v1/treatments/", body)
    assert created.status_code == 201, created.content
    data = created.json()
    assert {(p["lot_number"], p["quantity"], p["unit"]) for p in data["products"]} == {
        ("C7001C3", "20.00", "units"),
        ("S-55", "2.50", "ml"),
    }
    assert data["photos"] == [] and data["charted_at"] is not None
    treatment = Treatment.objects.get(pk=data["id"])
    assert TreatmentProduct.objects.filter(treatment=treatment).count() == 2
    # the product lines are corrected at their own endpoint: through the treatment they are ignored
    extra = [{"product_name": "Sneaked in", "lot_number": "X", "quantity": "1"}]
    ignored = call(client, "PATCH", f"/api/v1/treatments/{treatment.pk}/", {"products": extra, "notes": "ok"})
    assert ignored.status_code == 200 and len(ignored.json()["products"]) == 2
    assert TreatmentProduct.objects.filter(treatment=treatment).count() == 2


def test_bad_lot_writes_neither_treatment_nor_products(domain_a: World) -> None:
    w = domain_a
    client = client_for(issue_keys(w)["pc_physician"])
    before = (Treatment.objects.count(), TreatmentProduct.objects.count())
    body = treatment_body(w, products=[{"product_name": "Botox", "lot_number": "   ", "quantity": "20"}])
    response = call(client, "POST", "/api/v1/treatments/", body)
    assert response.status_code == 400 and response.json()
    assert (Treatment.objects.count(), TreatmentProduct.objects.count()) == before


def test_records_of_another_chart_are_refused_with_a_message(domain_a: World) -> None:
    w = domain_a
    client = client_for(issue_keys(w)["pc_physician"])
    other = PatientChart.objects.create(
        tenant=w.tenant,
        pc=w.pcs[0],
        home_location=w.locations[0],
        medical_record_number="OTHER-1",
        patient_name="Other Patient",
        date_of_birth=dt.date(1980, 1, 1),
    )
    exam = first(w, GoodFaithExam)
    response = call(
        client, "POST", "/api/v1/treatments/", treatment_body(w, chart=str(other.pk), products=[])
    )
    assert response.status_code == 400
    assert response.json()["good_faith_exam"] == ["This exam belongs to another chart."]
    moved = call(client, "PATCH", f"/api/v1/good-faith-exams/{exam.pk}/", {"chart": str(other.pk)})
    assert moved.status_code == 400 and "chart" in moved.json()
    assert GoodFaithExam.objects.get(pk=exam.pk).chart_id == w.charts[0].pk
    # a nurse is never the good-faith examiner (GFE-001)
    nurse = next(p for p in w.objs[Provider] if p.pc_id == w.pcs[0].pk and p.license_type == LicenseType.RN)
    exam_body = {**matrix._exam_payload(w), "examiner": str(nurse.pk)}
    response = call(client, "POST", "/api/v1/good-faith-exams/", exam_body)
    assert response.status_code == 400 and "Registered nurse" in response.json()["examiner"][0]


def test_chart_edit_links_the_client_keeps_the_pc_and_guards_destruction(domain_a: World) -> None:
    w = domain_a
    client = client_for(issue_keys(w)["pc_physician"])
    chart = w.charts[0]
    url = f"/api/v1/patient-charts/{chart.pk}/"
    assert call(client, "PATCH", url, {"client": None}).json()["client"] is None
    linked = call(client, "PATCH", url, {"client": str(first_client(w).pk), "allergies": "latex"})
    assert linked.status_code == 200 and linked.json()["client"] == str(first_client(w).pk)
    assert call(client, "PATCH", url, {"pc": str(w.pcs[1].pk)}).status_code == 400
    destroyed = call(client, "PATCH", url, {"destroyed_on": timezone.localdate().isoformat()})
    assert destroyed.status_code == 400 and "REC-001" in destroyed.json()["destroyed_on"][0]
    chart.refresh_from_db()
    assert (chart.pc_id, chart.allergies, chart.destroyed_on) == (w.pcs[0].pk, "latex", None)


def first_client(w: World) -> Client:
    return next(c for c in w.objs[Client] if c.home_location_id == w.locations[0].pk)


# --- every record a response shows is logged, in one insert ------------------------------------------


def test_lists_log_every_record_they_show_in_one_insert(domain_a: World) -> None:
    w = domain_a
    client = client_for(issue_keys(w)["pc_physician"])
    client.get("/api/v1/me/")  # the key's last-use stamp is written on its first use, not here
    treatment = first(w, Treatment)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/treatments/")
    assert response.status_code == 200 and [r["id"] for r in response.json()["results"]] == [
        str(treatment.pk)
    ]
    inserts = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('INSERT INTO "tenants_auditlogentry"')
    ]
    assert len(inserts) == 1
    # the treatment and what it shows: its product lines and photos
    logged = {(e.object_type, e.object_id) for e in reads(actor=w.user("pc_physician"))}
    assert ("clinical.treatment", str(treatment.pk)) in logged
    assert {("clinical.treatment_product", str(p.pk)) for p in treatment.products.all()} <= logged
    assert {("clinical.treatment_photo", str(p.pk)) for p in treatment.photos.all()} <= logged
    # the second PC's treatment is neither shown nor logged
    other = first(w, Treatment, 1)
    assert reads(object_id=str(other.pk)) == []


@pytest.mark.parametrize(
    "name",
    [
        "good-faith-exams",
        "treatments",
        "photo-authorizations",
        "signed-consents",
        "chart-reviews",
        "adverse-events",
    ],
)
def test_reads_and_writes_are_logged_refusals_are_not(name: str, domain_a: World, domain_b: World) -> None:
    w = domain_a
    ep = next(e for e in matrix.ENDPOINTS if e.name == name)
    keys = issue_keys(w)
    obj = ep.own_objects(w)[0]
    client = client_for(keys["clinician"])
    assert client.get(ep.detail(obj.pk)).status_code == 200
    entry = AuditLogEntry.objects.get(action="read", object_id=str(obj.pk), actor=w.user("clinician"))
    assert (entry.capacity, entry.via, entry.object_type) == (
        "clinician",
        "api",
        obj._meta.db_table.replace('"', ""),
    )
    created = call(client, "POST", ep.path, ep.create_payload(w) if ep.create_payload else {})
    assert created.status_code == 201, created.content
    assert reads(object_id=created.json()["id"], actor=w.user("clinician"))
    # a business key, another tenant's key, a chart outside the grant: 404, and no read logged
    unseen = ep.own_objects(w)[-1]  # the second PC's
    for raw, target in (
        (keys["mso_admin"], obj),
        (issue_keys(domain_b)["pc_physician"], obj),
        (keys["clinician"], unseen),
    ):
        before = AuditLogEntry.objects.filter(action="read", object_id=str(target.pk)).count()
        assert client_for(raw).get(ep.detail(target.pk)).status_code == 404
        assert AuditLogEntry.objects.filter(action="read", object_id=str(target.pk)).count() == before


def clinical_endpoints() -> list[Endpoint]:
    return [e for e in matrix.ENDPOINTS if e.make_rows is not None]


@pytest.mark.parametrize("ep", clinical_endpoints(), ids=lambda e: e.name)
def test_list_query_count_is_flat_from_5_to_50_rows(ep: Endpoint, domain_a: World) -> None:
    w = domain_a
    assert ep.make_rows is not None
    client = client_for(issue_keys(w)["pc_physician"])

    def listed() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(ep.path, {"page_size": 100})
        assert response.status_code == 200, response.content
        return response.json()["count"], len(queries.captured_queries)

    have, _ = listed()  # also writes the key's last-use stamp once
    ep.make_rows(w, 5 - have)
    small = listed()
    ep.make_rows(w, 45)
    large = listed()
    assert (small[0], large[0]) == (5, 50)
    assert small[1] == large[1], f"{ep.name}: {small[1]} queries at 5 rows, {large[1]} at 50"


# --- the signed consent as a PDF ------------------------------------------------------------------


def page_texts(document: Any) -> list[str]:
    return [
        " ".join(box.text for box in page._page_box.descendants() if isinstance(box, boxes.TextBox))
        for page in document.pages
    ]


def test_signed_consent_pdf_names_the_pc_patient_version_signer_and_witness(domain_a: World) -> None:
    w = domain_a
    consent: SignedConsent = first(w, SignedConsent)
    version: ConsentFormVersion = consent.form_version
    ConsentFormVersion.objects.filter(pk=version.pk).update(number=3)
    keys = issue_keys(w)
    response = client_for(keys["clinician"]).get(f"/api/v1/signed-consents/{consent.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf" and "no-store" in response["Cache-Control"]
    assert response.content.startswith(b"%PDF-")
    assert f"-v3-{consent.signed_at:%Y%m%d}.pdf" in response["Content-Disposition"]
    logged = {e.object_id for e in reads(actor=w.user("clinician"))}
    assert {str(consent.pk), str(consent.chart_id)} <= logged
    # the text laid out, from the same context the endpoint renders
    ctx = w.ctx("clinician")
    with acting_as(ctx):
        shown = selectors.signed_consent_get(ctx, consent.pk)
        context, title = selectors.signed_consent_document(ctx, shown)
    text = " ".join(page_texts(render_document(selectors.SIGNED_CONSENT_TEMPLATE, context, title=title)))
    chart = consent.chart
    for expected in (
        w.pcs[0].legal_name,
        chart.patient_name,
        chart.medical_record_number,
        version.title,
        "version 3",
        consent.signer_name,
        w.user("pc_physician").full_name,  # the witness
        "Page 1 of",
    ):
        assert expected in text, expected
    # business keys and the second PC's clinician grant: 404, no PDF
    assert client_for(keys["mso_admin"]).get(f"/api/v1/signed-consents/{consent.pk}/pdf/").status_code == 404
    other = first(w, SignedConsent, 1)
    assert client_for(keys["clinician"]).get(f"/api/v1/signed-consents/{other.pk}/pdf/").status_code == 404


def test_photo_outside_the_chart_needs_an_authorization_through_the_api(domain_a: World) -> None:
    w = domain_a
    client = client_for(issue_keys(w)["pc_physician"])
    body = {**matrix._photo_payload(w), "authorization": None}
    before = TreatmentPhoto.objects.count()
    response = call(client, "POST", "/api/v1/treatment-photos/", body)
    assert response.status_code == 400 and "HIPAA 164.508" in response.json()["authorization"][0]
    assert TreatmentPhoto.objects.count() == before
    assert call(client, "POST", "/api/v1/treatment-photos/", matrix._photo_payload(w)).status_code == 201
