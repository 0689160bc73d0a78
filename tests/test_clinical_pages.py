"""Clinical pages in a browser session: lists, details, create and edit forms, the chart page with
everything in it (all logged as read), protocol signing, the scope table and the consent PDF.
Business capacities and other tenants get 404; bad input is a 400 with the message, nothing written."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from clinical.models import (
    AdverseEvent,
    ChartReview,
    GoodFaithExam,
    PatientChart,
    PhotoAuthorization,
    ProcedureScopeRule,
    Protocol,
    ProtocolSupervisee,
    SignedConsent,
    Treatment,
    TreatmentPhoto,
    TreatmentProduct,
)
from clinical.services import scope_rules_seed
from management.models import Provider
from management.procedures import LicenseType
from tenants.capacities import CAPACITIES, Side
from tenants.models import AuditLogEntry
from tests.api_matrix import Endpoint
from tests.matrix import clinical as matrix
from tests.sessions import sign_in
from tests.worlds import World

pytestmark = pytest.mark.django_db

BUSINESS = [c for c, spec in CAPACITIES.items() if spec.side == Side.BUSINESS]
LISTS = [
    "chart-list",
    "exam-list",
    "treatment-list",
    "treatment-product-list",
    "treatment-photo-list",
    "photo-authorization-list",
    "signed-consent-list",
    "chart-review-list",
    "adverse-event-list",
    "protocol-list",
    "scope-rule-list",
]
DETAILS = {
    "chart-detail": PatientChart,
    "exam-detail": GoodFaithExam,
    "treatment-detail": Treatment,
    "treatment-product-detail": TreatmentProduct,
    "treatment-photo-detail": TreatmentPhoto,
    "photo-authorization-detail": PhotoAuthorization,
    "signed-consent-detail": SignedConsent,
    "signed-consent-pdf": SignedConsent,
    "chart-review-detail": ChartReview,
    "adverse-event-detail": AdverseEvent,
    "protocol-detail": Protocol,
    "protocol-sign": Protocol,
    "scope-rule-detail": ProcedureScopeRule,
}


def turl(world: World, name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs={"tenant_slug": world.tenant.slug, **kwargs})


def objects(world: World, model: type[Any]) -> list[Any]:
    return list(world.charts) if model is PatientChart else list(world.objs[model])


def session(world: World, capacity: str) -> Client:
    return sign_in(Client(), world.user(capacity))


def md(world: World) -> Provider:
    return next(
        p for p in world.objs[Provider] if p.pc_id == world.pcs[0].pk and p.license_type == LicenseType.MD
    )


def rn(world: World) -> Provider:
    return next(
        p for p in world.objs[Provider] if p.pc_id == world.pcs[0].pk and p.license_type == LicenseType.RN
    )


def test_every_clinical_page_answers_clinicians_and_404s_business(domain_a: World, domain_b: World) -> None:
    a, b = domain_a, domain_b
    clients = {c: session(a, c) for c in ("pc_physician", "clinician", *BUSINESS)}
    for name in LISTS:
        for capacity, client in clients.items():
            want = 404 if capacity in BUSINESS else 200
            assert client.get(turl(a, name)).status_code == want, (name, capacity)
    for name, model in DETAILS.items():
        own, hidden = objects(a, model)[0], objects(a, model)[-1]  # the first PC's, the second PC's
        foreign = objects(b, model)[0]
        for capacity, client in clients.items():
            want = 404 if capacity in BUSINESS else 200
            assert client.get(turl(a, name, pk=own.pk)).status_code == want, (name, capacity)
            assert client.get(turl(a, name, pk=foreign.pk)).status_code == 404, (name, capacity)
            if model is not ProcedureScopeRule:  # the scope table is tenant-wide
                assert client.get(turl(a, name, pk=hidden.pk)).status_code == 404, (name, capacity)
    # wrong capacity on create pages too
    for capacity in BUSINESS:
        assert clients[capacity].get(turl(a, "exam-create")).status_code == 404


def test_chart_page_shows_everything_in_the_chart_and_logs_it_in_one_insert(domain_a: World) -> None:
    w = domain_a
    client = session(w, "clinician")
    chart = w.charts[0]
    client.get(turl(w, "dashboard"))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(turl(w, "chart-detail", pk=chart.pk))
    assert response.status_code == 200
    html = response.content.decode()
    treatment = next(t for t in w.objs[Treatment] if t.chart_id == chart.pk)
    product = TreatmentProduct.objects.get(treatment=treatment)
    photo = TreatmentPhoto.objects.get(treatment=treatment)
    consent = SignedConsent.objects.get(chart=chart)
    for text in (
        chart.patient_name,
        md(w).full_name,  # examiner, supervisor, reviewer
        f"lot {product.lot_number}",
        photo.description,
        consent.form_version.title,
        turl(w, "signed-consent-pdf", pk=consent.pk),
        PhotoAuthorization.objects.get(chart=chart).purpose,
        ChartReview.objects.get(chart=chart).findings,
        AdverseEvent.objects.get(chart=chart).description,
        f"{turl(w, 'exam-create')}?chart={chart.pk}",
    ):
        assert escape(text) in html, text
    inserts = [
        q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "tenants_auditlogentry"')
    ]
    assert len(inserts) == 1  # the chart and everything in it, written as the request commits
    sql = [q["sql"] for q in queries.captured_queries]
    # after every read of the page (the chain lock the insert takes is held to COMMIT)
    assert sql.index(inserts[0]["sql"]) > max(i for i, q in enumerate(sql) if '"clinical".' in q)
    logged = {
        (object_type, record_id)
        for object_type, detail in AuditLogEntry.objects.filter(
            action="read", actor=w.user("clinician")
        ).values_list("object_type", "detail")
        for record_id in detail["ids"]
    }
    expected = {
        ("clinical.patient_chart", str(chart.pk)),
        ("clinical.treatment", str(treatment.pk)),
        ("clinical.treatment_product", str(product.pk)),
        ("clinical.treatment_photo", str(photo.pk)),
        ("clinical.signed_consent", str(consent.pk)),
    }
    assert expected <= logged
    assert not {oid for _, oid in logged} & {str(w.charts[1].pk)}


def test_create_exam_from_the_chart_and_a_refusal_writes_nothing(domain_a: World) -> None:
    w = domain_a
    client = session(w, "pc_physician")
    chart = w.charts[0]
    url = turl(w, "exam-create")
    form = client.get(url, {"chart": str(chart.pk)})
    assert form.status_code == 200
    assert f'value="{chart.pk}" selected' in form.content.decode()
    data = {
        "chart": str(chart.pk),
        "examiner": str(rn(w).pk),  # a nurse: refused (and not even offered)
        "examined_on": timezone.localdate().isoformat(),
        "medical_indication": "Glabellar lines",
        "approved_procedures": ["neurotoxin"],
    }
    before = GoodFaithExam.objects.count()
    refused = client.post(url, data)
    assert refused.status_code == 400 and GoodFaithExam.objects.count() == before
    data["examiner"] = str(md(w).pk)
    data["via_telehealth"] = "on"
    refused = client.post(url, data)
    assert refused.status_code == 400 and "B&amp;P 2290.5" in refused.content.decode()
    data["telehealth_consent"] = "on"
    created = client.post(url, data)
    assert created.status_code == 302
    exam = GoodFaithExam.objects.get(pk=created["Location"].rstrip("/").split("/")[-1])
    assert exam.valid_until == timezone.localdate() + dt.timedelta(days=365) and exam.via_telehealth


def test_chart_edit_keeps_the_pc_and_refuses_early_destruction(domain_a: World) -> None:
    w = domain_a
    client = session(w, "pc_physician")
    chart = w.charts[0]
    url = turl(w, "chart-edit", pk=chart.pk)
    page = client.get(url).content.decode()
    assert 'name="pc"' not in page and 'name="destroyed_on"' in page
    data = {
        "home_location": str(w.locations[0].pk),
        "client": str(chart.client_id),
        "medical_record_number": chart.medical_record_number,
        "patient_name": "Renamed Patient",
        "date_of_birth": chart.date_of_birth.isoformat(),
        "allergies": "latex",
        "destroyed_on": timezone.localdate().isoformat(),
        "pc": str(w.pcs[1].pk),  # ignored: not a field of the edit form
    }
    refused = client.post(url, data)
    assert refused.status_code == 400 and "REC-001" in refused.content.decode()
    chart.refresh_from_db()
    assert (chart.patient_name, chart.destroyed_on) == (w.charts[0].patient_name, None)
    data["destroyed_on"] = ""
    assert client.post(url, data).status_code == 302
    chart.refresh_from_db()
    assert (chart.patient_name, chart.allergies, chart.pc_id) == ("Renamed Patient", "latex", w.pcs[0].pk)


def test_treatment_page_adds_product_lots_and_photos(domain_a: World) -> None:
    w = domain_a
    client = session(w, "clinician")
    treatment = next(t for t in w.objs[Treatment] if t.chart_id == w.charts[0].pk)
    page = client.get(turl(w, "treatment-detail", pk=treatment.pk)).content.decode()
    add = f"{turl(w, 'treatment-product-create')}?treatment={treatment.pk}"
    assert add in page
    created = client.post(
        turl(w, "treatment-product-create"),
        {
            "treatment": str(treatment.pk),
            "product_name": "Dysport",
            "lot_number": "D-42",
            "quantity": "60",
            "unit": "units",
        },
    )
    assert created.status_code == 302
    assert TreatmentProduct.objects.filter(treatment=treatment, lot_number="D-42").exists()
    photo = {
        "treatment": str(treatment.pk),
        "kind": "after",
        "taken_at": (timezone.now() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "description": "Website photo",
        "used_outside_chart": "on",
    }
    refused = client.post(turl(w, "treatment-photo-create"), photo)
    assert refused.status_code == 400 and "HIPAA 164.508" in refused.content.decode()
    assert not TreatmentPhoto.objects.filter(description="Website photo").exists()


def test_protocol_page_shows_signatures_and_each_party_signs_for_themselves(domain_a: World) -> None:
    w = domain_a
    physician, clinician = session(w, "pc_physician"), session(w, "clinician")
    created = physician.post(
        turl(w, "protocol-create"),
        {
            "pc": str(w.pcs[0].pk),
            "kind": "standardized_procedure",
            "title": "Filler standardized procedure",
            "supervisor": str(md(w).pk),
            "procedures": ["dermal_filler"],
            "body": "Patient selection, vascular occlusion protocol, supervision.",
            "effective_on": timezone.localdate().isoformat(),
            "expires_on": (timezone.localdate() + dt.timedelta(days=365)).isoformat(),
            "supervisees": [str(rn(w).pk)],
        },
    )
    assert created.status_code == 302, created.content.decode()[:2000]
    protocol = Protocol.objects.get(title="Filler standardized procedure")
    detail = physician.get(turl(w, "protocol-detail", pk=protocol.pk)).content.decode()
    assert (
        "Not in force: awaiting signatures" in detail and turl(w, "protocol-sign", pk=protocol.pk) in detail
    )
    sheet = physician.get(turl(w, "protocol-sign", pk=protocol.pk)).content.decode()
    assert "Sign as supervisor" in sheet
    assert physician.post(turl(w, "protocol-sign", pk=protocol.pk)).status_code == 302
    again = physician.post(turl(w, "protocol-sign", pk=protocol.pk), follow=True)
    assert "You signed it on" in again.content.decode()  # a no-op: the first signature stays
    assert "Sign as supervisee" in clinician.get(turl(w, "protocol-sign", pk=protocol.pk)).content.decode()
    assert clinician.post(turl(w, "protocol-sign", pk=protocol.pk)).status_code == 302
    assert ProtocolSupervisee.objects.get(protocol=protocol).signed_at is not None
    assert "In force" in physician.get(turl(w, "protocol-detail", pk=protocol.pk)).content.decode()
    # an unchanged save keeps the signatures; a content change voids them
    edit = turl(w, "protocol-edit", pk=protocol.pk)
    form = physician.get(edit).context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data = {
        **{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()},
        "supervisor": str(md(w).pk),
        "supervisees": [str(rn(w).pk)],
    }
    for flag in [k for k, v in list(data.items()) if isinstance(v, bool)]:
        if data[flag]:
            data[flag] = "on"
        else:
            del data[flag]
    assert physician.post(edit, data).status_code == 302
    assert "In force" in physician.get(turl(w, "protocol-detail", pk=protocol.pk)).content.decode()
    assert physician.post(edit, {**data, "body": "Revised body."}).status_code == 302
    assert "awaiting signatures" in physician.get(turl(w, "protocol-detail", pk=protocol.pk)).content.decode()


def test_scope_table_is_read_by_clinicians_and_edited_by_physicians(domain_a: World) -> None:
    w = domain_a
    scope_rules_seed(tenant=w.tenant)
    lvn = ProcedureScopeRule.objects.get(
        tenant=w.tenant, state="CA", procedure="neurotoxin", license_type="LVN"
    )
    clinician, physician = session(w, "clinician"), session(w, "pc_physician")
    listed = clinician.get(turl(w, "scope-rule-list"), {"license_type": "LVN", "procedure": "neurotoxin"})
    assert listed.status_code == 200 and "B&amp;P 2860.5" in listed.content.decode()
    assert turl(w, "scope-rule-create") not in listed.content.decode()
    assert clinician.get(turl(w, "scope-rule-edit", pk=lvn.pk)).status_code == 404
    assert clinician.post(turl(w, "scope-rule-edit", pk=lvn.pk), {"allowed": "on"}).status_code == 404
    assert clinician.get(turl(w, "scope-rule-create")).status_code == 404
    edit = turl(w, "scope-rule-edit", pk=lvn.pk)
    assert physician.get(edit).status_code == 200
    saved = physician.post(
        edit,
        {
            "state": "CA",
            "procedure": "neurotoxin",
            "license_type": "LVN",
            "allowed": "on",
            "supervision": "order",
            "requires_good_faith_exam": "on",
            "citation": lvn.citation,
            "note": "Allowed by the medical director",
        },
    )
    assert saved.status_code == 302
    lvn.refresh_from_db()
    assert (lvn.allowed, lvn.supervision, lvn.state) == (True, "order", "CA")


def test_signed_consent_pdf_page(domain_a: World, domain_b: World) -> None:
    w = domain_a
    consent = next(c for c in w.objs[SignedConsent] if c.chart_id == w.charts[0].pk)
    client = session(w, "clinician")
    response = client.get(turl(w, "signed-consent-pdf", pk=consent.pk))
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    assert response["Content-Type"] == "application/pdf" and "attachment" in response["Content-Disposition"]
    assert AuditLogEntry.objects.filter(action="read", object_id=str(consent.pk), via="browser").exists()
    foreign = domain_b.objs[SignedConsent][0]
    assert client.get(turl(w, "signed-consent-pdf", pk=foreign.pk)).status_code == 404
    assert session(w, "mso_admin").get(turl(w, "signed-consent-pdf", pk=consent.pk)).status_code == 404


@pytest.mark.parametrize(
    ("page", "name"),
    [
        ("chart-list", None),
        ("exam-list", "good-faith-exams"),
        ("treatment-list", "treatments"),
        ("treatment-product-list", "treatment-products"),
        ("treatment-photo-list", "treatment-photos"),
        ("photo-authorization-list", "photo-authorizations"),
        ("signed-consent-list", "signed-consents"),
        ("chart-review-list", "chart-reviews"),
        ("adverse-event-list", "adverse-events"),
        ("protocol-list", "protocols"),
        ("scope-rule-list", "procedure-scope-rules"),
    ],
)
def test_list_pages_run_the_same_number_of_queries_at_5_and_50_rows(
    page: str, name: str | None, domain_a: World
) -> None:
    w = domain_a
    ep: Endpoint | None = next((e for e in matrix.ENDPOINTS if e.name == name), None)
    grow = ep.make_rows if ep is not None else matrix.patient_chart_rows
    assert grow is not None
    client = session(w, "pc_physician")
    url = turl(w, page)

    def measure() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return len(response.context["rows"]), len(queries.captured_queries)

    have, _ = measure()
    grow(w, 5 - have)
    small = measure()
    grow(w, 45)
    large = measure()
    assert (small[0], large[0]) == (5, 50)
    assert small[1] == large[1], f"{page}: {small[1]} queries at 5 rows, {large[1]} at 50"
