"""The reports side of the compliance engine: the dashboard (scores by PC and location over the full
audits, unresolved findings by severity, SVG charts, a fixed query count), the PDF audit report
(findings with rule, citation and evidence, the not-legal-advice notice, no clinical detail for the
MSO), the readiness checklist (answers from data, else attestations) and the notification mail.

Findings and runs are planted as rows (the engine's own tests cover how runs write them), so every
figure the pages show can be checked against what was planted.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance import readiness as readiness_reads
from compliance import reports as reads
from compliance.attestations import NOTE_MAX, Attestation, attestation_record
from compliance.models import AuditRun, BusinessFinding, ClinicalFinding, Finding, FindingStatus
from compliance.notifications import (
    SentNotification,
    notify_after_run,
    notify_expiring_credentials,
    notify_tenant,
)
from compliance.views import reports as report_views
from management.models import ManagementServicesAgreement
from mso_platform.pdf import render_document
from tenants.access import AccessContext
from tenants.capacities import CAPACITIES
from tenants.middleware import SESSION_CAPACITY_KEY
from tenants.models import AuditLogEntry
from tenants.security.middleware import LAST_SEEN_KEY
from tenants.security.policy import requires_two_factor
from tests import factories as f
from tests.sessions import sign_in
from tests.test_agreements_pdf import text_of
from tests.worlds import World

pytestmark = pytest.mark.django_db

Act = Callable[[AccessContext], AbstractContextManager[None]]
NOW = timezone.now()
TODAY = timezone.localdate()


def url(world: World, name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs={"tenant_slug": world.tenant.slug, **kwargs})


def as_(client: Client, world: World, capacity: str) -> Client:
    return sign_in(client, world.user(capacity), verified=requires_two_factor(capacity))


def counts(**by_severity: int) -> dict[str, Any]:
    """An AuditRun.counts entry: these open findings by severity."""
    return {"at": NOW.isoformat(), "open": by_severity, "acknowledged": {}, "accepted_risk": {}}


def make_run(
    world: World,
    finished_at: dt.datetime,
    *,
    business: dict[str, Any] | None = None,
    clinical: dict[str, Any] | None = None,
    rule_ids: tuple[str, ...] = (),
    pc_ids: list[Any] | None = None,
) -> AuditRun:
    recorded = {}
    if business is not None:
        recorded["business"] = business
    if clinical is not None:
        recorded["clinical"] = clinical
    return AuditRun.objects.create(
        tenant=world.tenant,
        trigger=AuditRun.Trigger.NIGHTLY,
        status=AuditRun.Status.DONE,
        idempotency_key=f"test:{uuid.uuid4()}",
        as_of=timezone.localdate(finished_at),
        started_at=finished_at - dt.timedelta(minutes=1),
        finished_at=finished_at,
        rule_ids=list(rule_ids),
        done_rule_ids=list(rule_ids),
        rules_total=len(rule_ids),
        rules_done=len(rule_ids),
        pc_ids=pc_ids,
        counts=recorded,
    )


def plant(
    world: World,
    model: type[Finding],
    rule_id: str,
    severity: str,
    run: AuditRun,
    *,
    pc: Any = None,
    location: Any = None,
    first_seen_at: dt.datetime | None = None,
    status: str = FindingStatus.OPEN,
    resolved_at: dt.datetime | None = None,
    evidence: dict[str, Any] | None = None,
) -> Finding:
    seen = first_seen_at or run.finished_at or NOW
    extra: dict[str, Any] = {}
    if status == FindingStatus.ACKNOWLEDGED:
        extra = {"status_reason": "Counsel is redrafting."}
    elif status == FindingStatus.ACCEPTED_RISK:
        extra = {
            "status_reason": "Vendor leaves next month.",
            "accepted_until": TODAY + dt.timedelta(days=30),
        }
    elif status == FindingStatus.RESOLVED:
        extra = {"resolved_at": resolved_at, "resolved_by_run": run}
    return model.objects.create(
        tenant=world.tenant,
        fingerprint=uuid.uuid4().hex,
        rule_id=rule_id,
        severity=severity,
        object_type="management.ProfessionalCorporation",
        object_id=uuid.uuid4(),
        pc=pc,
        location=location,
        evidence=evidence or {"pc": getattr(pc, "legal_name", "")},
        status=status,
        first_seen_run=run,
        first_seen_at=seen,
        last_seen_run=run,
        last_seen_at=max(seen, run.finished_at or seen),
        **extra,
    )


@pytest.fixture
def planted(world_a: World) -> World:
    """Two full audits (T1, T2) and findings whose scores we know.

    PC 0 (location 0): critical open (since before T1), high acknowledged (after T1), medium open on
    location 0 (before T1), low accepted risk (before T1). PC 1: high open (after T1), critical
    resolved between T1 and T2. Clinical: critical on PC 0, high on PC 1. A run after a change (PC 0
    only) and a failed run are not points of the history.
    """
    w = world_a
    pc0, pc1 = w.pcs
    loc0 = w.locations[0]
    t1, t2 = NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=1)
    make_run(w, t1, business=counts(critical=2, medium=1, low=1), clinical=counts(critical=1))
    run2 = make_run(
        w, t2, business=counts(critical=1, high=2, medium=1, low=1), clinical=counts(critical=1, high=1)
    )
    make_run(w, NOW - dt.timedelta(hours=5), business=counts(critical=9), pc_ids=[pc0.pk])
    failed = make_run(w, NOW - dt.timedelta(hours=4), business=counts(critical=9))
    AuditRun.objects.filter(pk=failed.pk).update(status=AuditRun.Status.FAILED)
    before = t1 - dt.timedelta(hours=1)
    between = t1 + dt.timedelta(hours=1)
    plant(w, BusinessFinding, "CPOM-001", "critical", run2, pc=pc0, first_seen_at=before)
    plant(w, BusinessFinding, "MSA-002", "high", run2, pc=pc0, first_seen_at=between, status="acknowledged")
    plant(w, BusinessFinding, "WST-001", "medium", run2, pc=pc0, location=loc0, first_seen_at=before)
    plant(w, BusinessFinding, "BAA-001", "low", run2, pc=pc0, first_seen_at=before, status="accepted_risk")
    plant(w, BusinessFinding, "FEE-001", "high", run2, pc=pc1, first_seen_at=between)
    plant(
        w,
        BusinessFinding,
        "SEP-001",
        "critical",
        run2,
        pc=pc1,
        first_seen_at=before,
        status="resolved",
        resolved_at=between,
    )
    plant(
        w,
        ClinicalFinding,
        "DEL-001",
        "critical",
        run2,
        pc=pc0,
        first_seen_at=before,
        evidence={"patient": "Zelda Quux", "procedure": "neurotoxin"},
    )
    plant(w, ClinicalFinding, "GFE-001", "high", run2, pc=pc1, first_seen_at=between)
    return w


# --- the dashboard -------------------------------------------------------------------------------


def test_dashboard_figures_match_the_planted_findings(client: Client, planted: World) -> None:
    w = planted
    pc0, pc1 = w.pcs
    as_(client, w, "mso_admin")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url(w, "compliance-dashboard"))
    assert response.status_code == 200
    # A business capacity never reads a clinical row: not even a count of one.
    assert not [q["sql"] for q in queries.captured_queries if '"clinical".' in q["sql"]]
    board: reads.Dashboard = response.context["board"]

    assert len(board.runs) == 2  # the change run (one PC) and the failed run are no points
    pcs = {s.pk: s for s in board.pcs}
    p0, p1 = pcs[str(pc0.pk)], pcs[str(pc1.pk)]
    assert p0.business.by_severity == {"critical": 1, "high": 1, "medium": 1, "low": 1}
    assert p0.business.score == 100 - 25 - 10 - 4 - 1 == 60
    assert p0.business_history == [100 - 25 - 4 - 1, 60]  # the high one came after T1
    assert p1.business.by_severity == {"critical": 0, "high": 1, "medium": 0, "low": 0}
    assert p1.business.score == 90
    assert p1.business_history == [75, 90]  # the critical was unresolved at T1, resolved by T2
    assert p0.clinical is None and p0.clinical_history is None  # no clinical figures per PC

    locations = {s.pk: s for s in board.locations}
    assert locations[str(w.locations[0].pk)].business.by_severity["medium"] == 1
    assert locations[str(w.locations[0].pk)].business.score == 96
    assert locations[str(w.locations[1].pk)].business.score == 100

    total = {sev: (o, a, r, t) for sev, o, a, r, t in board.business_total.rows}
    assert total == {
        "critical": (1, 0, 0, 1),
        "high": (1, 1, 0, 2),
        "medium": (1, 0, 0, 1),
        "low": (0, 0, 1, 1),
    }
    # The tenant's line is what each audit recorded; the clinical side only as recorded counts.
    assert board.tenant is not None
    assert board.tenant.business_history == [100 - 50 - 4 - 1, 100 - 25 - 20 - 4 - 1]
    assert board.tenant.clinical_history == [75, 65]
    assert board.clinical_visible is False
    assert board.clinical_recorded is not None
    assert board.clinical_recorded.by_severity == {"critical": 1, "high": 1, "medium": 0, "low": 0}

    body = response.content.decode()
    assert "Score = 100 \N{MINUS SIGN} (25 \N{MULTIPLICATION SIGN} critical" in body
    assert 'data-score="60"' in body and 'data-score="90"' in body
    assert "DEL-001" not in body and "Zelda" not in body
    assert 'data-testid="recorded-clinical"' in body


def test_dashboard_charts_are_svg_with_attributes_only(client: Client, planted: World) -> None:
    as_(client, planted, "mso_admin")
    response = client.get(url(planted, "compliance-dashboard"))
    body = response.content.decode()
    for chart in ("business-score", "clinical-score", "severity"):
        assert f'data-testid="chart-{chart}"' in body
    assert "style=" not in body and "<style" not in body
    assert "<script>" not in body and "https://" not in body
    points = re.findall(
        r'<circle cx="[\d.]+" cy="([\d.]+)" r="3.5" fill="#[0-9a-f]{6}" data-value="(\d+)">', body
    )
    assert points
    # Higher scores sit higher (smaller y) on the same axis.
    ys = {value: float(y) for y, value in points}
    assert ys["90"] < ys["75"] < ys["60"]
    assert re.search(r'<polyline points="[\d., ]+" fill="none" stroke="#[0-9a-f]{6}" stroke-width="2"', body)


def test_clinical_capacity_sees_its_pcs_clinical_side(client: Client, planted: World) -> None:
    w = planted
    as_(client, w, "pc_physician")
    response = client.get(url(w, "compliance-dashboard"))
    assert response.status_code == 200
    board: reads.Dashboard = response.context["board"]
    assert board.clinical_visible is True and board.tenant is None
    assert [s.pk for s in board.pcs] == [str(w.pcs[0].pk)]  # granted PC 0 only
    p0 = board.pcs[0]
    assert p0.clinical is not None and p0.clinical.by_severity["critical"] == 1
    assert p0.clinical.score == 75 and p0.clinical_history == [75, 75]
    assert board.clinical_total is not None
    assert board.clinical_total.by_severity == {"critical": 1, "high": 0, "medium": 0, "low": 0}  # not PC 1's
    assert p0.business.score == 60
    assert str(w.pcs[1].legal_name) not in response.content.decode()


@pytest.mark.parametrize("capacity", ["mso_admin", "pc_physician"])
def test_dashboard_query_count_is_the_same_at_5_and_50_findings(
    client: Client, world_a: World, capacity: str
) -> None:
    w = world_a
    runs = [make_run(w, NOW - dt.timedelta(days=d), business=counts(high=1)) for d in (3, 2, 1)]
    page = url(w, "compliance-dashboard")
    as_(client, w, capacity)
    client.get(page)  # the session's first request fills per-process caches

    def plant_some(n: int) -> None:
        for i in range(n):
            model = BusinessFinding if i % 2 else ClinicalFinding
            severity = ("critical", "high", "medium", "low")[i % 4]
            plant(
                w,
                model,
                f"R-{i:03d}",
                severity,
                runs[i % 3],
                pc=w.pcs[i % 2],
                location=w.locations[i % 2] if i % 3 else None,
                first_seen_at=NOW - dt.timedelta(days=4, hours=i),
            )

    def measure() -> list[str]:
        session = client.session
        session[LAST_SEEN_KEY] = time.time()
        session.save()
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page).status_code == 200
        return [q["sql"] for q in queries.captured_queries]

    plant_some(5)
    small = measure()
    plant_some(45)
    large = measure()
    assert len(large) == len(small), "\n".join(large)
    assert len(small) > 3


# --- 404s ----------------------------------------------------------------------------------------


def test_other_tenant_and_malformed_ids_answer_404(client: Client, planted: World, world_b: World) -> None:
    as_(client, planted, "mso_admin")
    for name in ("compliance-dashboard", "compliance-report", "compliance-readiness"):
        assert client.get(url(world_b, name)).status_code == 404, name
    for pk in (world_b.pcs[0].pk, uuid.uuid4(), "not-a-uuid", "%27%20OR%201=1"):
        response = client.get(url(planted, "compliance-pc-report", pk=str(pk)))
        assert response.status_code == 404, pk
        assert world_b.pcs[0].legal_name not in response.content.decode()
    before = Attestation.objects.count()
    response = client.post(
        url(world_b, "compliance-readiness"), {"question": "counsel", "answer": "yes", "note": "x"}
    )
    assert response.status_code == 404
    assert Attestation.objects.count() == before


@pytest.mark.parametrize("capacity", ["mso_staff", "pc_physician", "clinician"])
def test_a_pc_outside_the_capacitys_scope_answers_404(client: Client, planted: World, capacity: str) -> None:
    as_(client, planted, capacity)
    assert client.get(url(planted, "compliance-pc-report", pk=str(planted.pcs[1].pk))).status_code == 404
    response = client.get(url(planted, "compliance-pc-report", pk=str(planted.pcs[0].pk)))
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")


@pytest.mark.parametrize("capacity", [c for c in CAPACITIES if c not in ("mso_admin", "mso_compliance")])
def test_only_admins_and_compliance_officers_attest(client: Client, world_a: World, capacity: str) -> None:
    as_(client, world_a, capacity)
    page = url(world_a, "compliance-readiness")
    response = client.get(page)
    assert response.status_code == 200
    assert 'data-testid="attest-form"' not in response.content.decode()
    response = client.post(page, {"question": "counsel", "answer": "yes", "note": "Engaged Smith LLP."})
    assert response.status_code == 404
    assert not Attestation.objects.filter(tenant=world_a.tenant).exists()
    with pytest.raises(PermissionDenied):
        attestation_record(ctx=world_a.ctx(capacity), question="counsel", answer="yes", note="Smith LLP.")


# --- the PDF audit report ------------------------------------------------------------------------


def report_text(world: World, act: Act, capacity: str, pc: Any = None) -> str:
    ctx = world.ctx(capacity)
    with act(ctx):
        context, title = report_views.report_context(ctx, pc)
        document = render_document(report_views.REPORT_TEMPLATE, context, title=title)
    return text_of(document)


def test_the_tenant_pdf_renders_findings_citations_evidence_and_the_notice(
    client: Client, planted: World, as_ctx: Act
) -> None:
    as_(client, planted, "mso_admin")
    response = client.get(url(planted, "compliance-report"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-") and response.content.rstrip().endswith(b"%%EOF")
    assert "no-store" in response["Cache-Control"]
    assert AuditLogEntry.objects.filter(
        tenant=planted.tenant, action="export", object_type="compliance.audit_report"
    ).exists()

    text = report_text(planted, as_ctx, "mso_admin")
    assert "This is not legal advice" in text
    for rule_id in ("CPOM-001", "MSA-002", "WST-001", "BAA-001", "FEE-001"):
        assert rule_id in text, rule_id
    assert "SEP-001" not in text  # resolved
    assert "Business score 50 / 100" in text  # the tenant: 100 - 25 - 2 x 10 - 4 - 1
    assert "B&P 2400" in text  # CPOM-001's citation, from the registry
    assert planted.pcs[0].legal_name in text  # the evidence
    assert "Acknowledged: Counsel is redrafting." in text
    assert (
        text.index("Critical (1)") < text.index("High (2)") < text.index("Medium (1)") < text.index("Low (1)")
    )
    assert "Readiness checklist" in text


def test_a_business_report_has_clinical_counts_and_no_clinical_details(planted: World, as_ctx: Act) -> None:
    with CaptureQueriesContext(connection) as queries:
        text = report_text(planted, as_ctx, "mso_admin")
        pc_text = report_text(planted, as_ctx, "mso_staff", planted.pcs[0])
    assert not [q["sql"] for q in queries.captured_queries if '"clinical".' in q["sql"]]
    for leaked in ("DEL-001", "GFE-001", "Zelda", "neurotoxin"):
        assert leaked not in text and leaked not in pc_text, leaked
    assert "Clinical (counts only)" in text and "Clinical (counts only)" in pc_text
    assert "Clinical findings" not in text.replace("Clinical finding details", "")


def test_a_clinical_report_includes_its_pcs_clinical_findings_and_logs_the_reads(
    planted: World, as_ctx: Act
) -> None:
    w = planted
    text = report_text(w, as_ctx, "pc_physician", w.pcs[0])
    assert "This is not legal advice" in text
    assert "DEL-001" in text and "Zelda Quux" in text and "neurotoxin" in text
    assert "GFE-001" not in text  # PC 1's
    assert "CPOM-001" in text  # its PC's business findings too
    finding = ClinicalFinding.objects.get(tenant=w.tenant, rule_id="DEL-001")
    assert AuditLogEntry.objects.filter(
        tenant=w.tenant, action="read", object_id=str(finding.pk), capacity="pc_physician"
    ).exists()


# --- the readiness checklist ---------------------------------------------------------------------

READINESS_RULES: tuple[str, ...] = ("CPOM-001", "CPOM-002", "MSA-001", "MSA-002", "MSA-003", "MSA-004")
READINESS_RULES += ("SEP-001", "SEP-002", "FEE-001", "FEE-002", "FEE-003", "FEE-004")


def answers(client: Client, world: World) -> dict[str, tuple[str, str]]:
    body = client.get(url(world, "compliance-readiness")).content.decode()
    found = re.findall(r'data-testid="question-([a-z_]+)" data-answer="([^"]+)" data-source="([a-z]+)"', body)
    return {key: (answer, source) for key, answer, source in found}


def test_readiness_answers_flip_with_the_data(client: Client, world_a: World) -> None:
    w = world_a
    as_(client, w, "mso_admin")
    before = answers(client, w)
    assert set(before) == {"pc_ownership", "mso_infrastructure", "compensation", "msa", "counsel"}
    assert before["pc_ownership"] == ("Not answered", "none")  # no full audit yet
    assert before["msa"] == ("No", "data")  # no MSA in force
    assert before["mso_infrastructure"] == ("No", "data")  # no staff recorded

    msas = [f.MsaFactory.create(tenant=w.tenant, mso_entity=w.entity, pc=pc) for pc in w.pcs]
    f.StaffMemberFactory.create(tenant=w.tenant, employer=w.entity)
    run = make_run(w, NOW - dt.timedelta(hours=1), rule_ids=READINESS_RULES)
    cpom = plant(w, BusinessFinding, "CPOM-001", "critical", run, pc=w.pcs[0])
    now = answers(client, w)
    assert now["pc_ownership"] == ("No", "data")
    assert now["msa"] == ("Yes", "data") and now["compensation"] == ("Yes", "data")
    assert now["mso_infrastructure"] == ("Not answered", "none")  # systems are not in the data
    assert now["counsel"] == ("Not answered", "none")

    BusinessFinding.objects.filter(pk=cpom.pk).update(
        status=FindingStatus.RESOLVED, resolved_at=timezone.now(), resolved_by_run=run
    )
    assert answers(client, w)["pc_ownership"] == ("Yes", "data")

    # A percentage fee reviewed by counsel is a low advisory: still compliant. Without review: not.
    plant(w, BusinessFinding, "MSA-003", "low", run, pc=w.pcs[0])
    assert answers(client, w)["compensation"] == ("Yes", "data")
    plant(w, BusinessFinding, "MSA-003", "high", run, pc=w.pcs[1])
    assert answers(client, w)["compensation"] == ("No", "data")

    # Counsel: an attestation answers until every MSA in force records its counsel review.
    response = client.post(
        url(w, "compliance-readiness"),
        {"question": "counsel", "answer": "yes", "note": "Engaged Smith Health Law LLP on 2026-01-05."},
    )
    assert response.status_code == 302
    assert answers(client, w)["counsel"] == ("Yes", "attestation")
    ManagementServicesAgreement.objects.filter(pk=msas[0].pk).update(counsel_reviewed_on=TODAY)
    assert answers(client, w)["counsel"] == ("Yes", "attestation")
    ManagementServicesAgreement.objects.filter(pk=msas[1].pk).update(counsel_reviewed_on=TODAY)
    assert answers(client, w)["counsel"] == ("Yes", "data")

    # A rule the latest full audit did not evaluate leaves "yes" undecided.
    make_run(w, NOW - dt.timedelta(minutes=5), rule_ids=("CPOM-001",))
    assert answers(client, w)["pc_ownership"] == ("Not answered", "none")
    assert answers(client, w)["msa"] == ("Not answered", "none")


def test_data_beats_an_attestation_it_contradicts(world_a: World, as_ctx: Act) -> None:
    ctx = world_a.ctx("mso_compliance")
    with as_ctx(ctx):
        attestation_record(ctx=ctx, question="msa", answer="yes", note="Our MSAs are fine.")
        item = next(i for i in readiness_reads.readiness(ctx).items if i.question.key == "msa")
    assert item.answer is False and item.source == "data" and item.attestation_overridden
    assert item.attestation is not None and item.attestation.answered_by == world_a.user("mso_compliance")


def test_attestation_validation(client: Client, world_a: World, as_ctx: Act) -> None:
    ctx = world_a.ctx("mso_admin")
    bad: list[tuple[dict[str, Any], str]] = [
        ({"question": "launch_date", "answer": "yes", "note": "x"}, "question"),
        ({"question": "", "answer": "yes", "note": "x"}, "question"),
        ({"question": "counsel", "answer": "maybe", "note": "x"}, "answer"),
        ({"question": "counsel", "answer": None, "note": "x"}, "answer"),
        ({"question": "counsel", "answer": "no", "note": "   "}, "note"),
        ({"question": "counsel", "answer": "no", "note": "n" * (NOTE_MAX + 1)}, "note"),
    ]
    with as_ctx(ctx):
        for kwargs, field in bad:
            with pytest.raises(ValidationError) as caught:
                attestation_record(ctx=ctx, **kwargs)
            assert field in caught.value.message_dict, kwargs
        made = attestation_record(ctx=ctx, question="counsel", answer="no", note="  Not yet engaged.  ")
        later = attestation_record(ctx=ctx, question="counsel", answer=True, note="Engaged today.")
        latest = readiness_reads.latest_attestations(ctx)
    assert (
        made.answer is False
        and made.note == "Not yet engaged."
        and made.answered_by == world_a.user("mso_admin")
    )
    assert latest["counsel"].pk == later.pk  # the newest answers; the older stays on record
    assert Attestation.objects.filter(tenant=world_a.tenant).count() == 2

    as_(client, world_a, "mso_admin")
    page = url(world_a, "compliance-readiness")
    response = client.post(page, {"question": "counsel", "answer": "perhaps", "note": ""})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Select a valid choice" in body and "This field is required" in body
    assert Attestation.objects.filter(tenant=world_a.tenant).count() == 2
    response = client.post(
        page, {"question": "mso_infrastructure", "answer": "yes", "note": "Payroll on Gusto."}
    )
    assert response.status_code == 302
    body = client.get(page).content.decode()
    assert "Payroll on Gusto." in body and 'data-testid="attestation-mso_infrastructure"' in body


# --- notifications -------------------------------------------------------------------------------


def recipients() -> list[str]:
    return sorted(to for message in mail.outbox for to in message.to)


def test_new_critical_findings_are_mailed_to_the_right_people_once(world_a: World) -> None:
    w = world_a
    run1 = make_run(w, NOW - dt.timedelta(hours=2))
    business = plant(w, BusinessFinding, "CPOM-001", "critical", run1, pc=w.pcs[0])
    plant(w, BusinessFinding, "MSA-002", "high", run1, pc=w.pcs[0])  # not critical: not mailed
    clinical = plant(
        w, ClinicalFinding, "DEL-001", "critical", run1, pc=w.pcs[0], evidence={"patient": "Zelda Quux"}
    )
    plant(w, ClinicalFinding, "GFE-001", "critical", run1, pc=w.pcs[1])  # PC 1 has no physician
    mail.outbox.clear()

    assert notify_after_run(run1) == 3
    admins = sorted([w.user("mso_admin").email, w.user("mso_compliance").email])
    physician = w.user("pc_physician").email
    assert recipients() == sorted([*admins, physician])
    business_mail = [m for m in mail.outbox if m.to[0] in admins]
    assert all("CPOM-001" in m.body and "MSA-002" not in m.body for m in business_mail)
    assert all("DEL-001" not in m.body for m in business_mail)
    assert all("This is not legal advice." in m.body for m in mail.outbox)
    (clinical_mail,) = [m for m in mail.outbox if m.to == [physician]]
    assert "DEL-001" in clinical_mail.body and "Zelda" not in clinical_mail.body
    assert "GFE-001" not in clinical_mail.body
    assert SentNotification.objects.filter(tenant=w.tenant, key=str(business.pk)).exists()
    assert SentNotification.objects.filter(tenant=w.tenant, key=str(clinical.pk)).exists()

    # The same run again (a retried task), then a second run that sees the same findings: nothing.
    mail.outbox.clear()
    assert notify_after_run(run1) == 0
    run2 = make_run(w, NOW - dt.timedelta(hours=1))
    BusinessFinding.objects.filter(tenant=w.tenant).update(last_seen_run=run2)
    ClinicalFinding.objects.filter(tenant=w.tenant).update(last_seen_run=run2)
    assert notify_after_run(run2) == 0
    assert mail.outbox == []

    # A finding new in the second run is mailed, alone.
    plant(w, BusinessFinding, "SEP-001", "critical", run2, pc=w.pcs[1])
    assert notify_after_run(run2) == 2
    assert recipients() == admins
    assert all("SEP-001" in m.body and "CPOM-001" not in m.body for m in mail.outbox)


def test_expiring_credentials_are_mailed_once_per_expiry(world_a: World) -> None:
    w = world_a
    pc = w.pcs[0]
    soon = f.ProviderFactory.create(
        tenant=w.tenant,
        pc=pc,
        full_name="Soon License RN",
        license_expires_on=TODAY + dt.timedelta(days=10),
        dea_number="MS1234563",
        dea_expires_on=TODAY + dt.timedelta(days=30),
    )
    f.ProviderFactory.create(
        tenant=w.tenant, pc=pc, full_name="Later RN", license_expires_on=TODAY + dt.timedelta(days=31)
    )
    f.ProviderFactory.create(
        tenant=w.tenant,
        pc=pc,
        full_name="Inactive RN",
        license_expires_on=TODAY + dt.timedelta(days=5),
        active=False,
    )
    mail.outbox.clear()

    assert notify_expiring_credentials(w.tenant, TODAY) == 2
    admins = sorted([w.user("mso_admin").email, w.user("mso_compliance").email])
    assert recipients() == admins
    body = mail.outbox[0].body
    assert "Soon License RN" in body and "License expires" in body and "DEA registration expires" in body
    assert "Later RN" not in body and "Inactive RN" not in body

    mail.outbox.clear()
    assert notify_expiring_credentials(w.tenant, TODAY) == 0  # the next night: told already
    soon.license_expires_on = TODAY + dt.timedelta(days=25)  # renewed short: a new expiry to tell
    soon.save(update_fields=["license_expires_on"])
    assert notify_tenant(tenant_id=str(w.tenant.pk), as_of=TODAY.isoformat()) == 2
    assert recipients() == admins
    assert "License expires" in mail.outbox[0].body and "DEA" not in mail.outbox[0].body


def test_inactive_and_expired_people_are_not_mailed(world_a: World) -> None:
    w = world_a
    member = w.members["mso_compliance"]
    member.is_active = False
    member.save(update_fields=["is_active"])
    run = make_run(w, NOW)
    plant(w, BusinessFinding, "CPOM-001", "critical", run, pc=w.pcs[0])
    mail.outbox.clear()
    assert notify_after_run(run) == 1
    assert recipients() == [w.user("mso_admin").email]


# --- the demo tenant after its nightly audit (real rules, real engine) ---------------------------


def test_the_demo_tenants_deliberate_problems_reach_the_dashboard_the_report_and_the_mail(
    client: Client, as_ctx: Act
) -> None:
    from compliance.tasks import audit_tenant
    from tenants.demo import DELIBERATE_PROBLEMS, seed_demo
    from tenants.models import Membership

    demo = seed_demo().tenant
    mail.outbox.clear()
    summary = audit_tenant(tenant_id=str(demo.pk), key=f"nightly:{TODAY.isoformat()}")
    run = AuditRun.objects.get(pk=summary["run_id"])
    assert run.status == AuditRun.Status.DONE
    assert mail.outbox, "the nightly task mails the new critical findings when its run is done"
    assert notify_after_run(run) == 0  # and a second call for the same run sends nothing again
    business_rules = set(BusinessFinding.objects.filter(tenant=demo).values_list("rule_id", flat=True))
    clinical_rules = set(ClinicalFinding.objects.filter(tenant=demo).values_list("rule_id", flat=True))
    deliberate = {p.rule for p in DELIBERATE_PROBLEMS}
    assert deliberate <= business_rules | clinical_rules

    admin = (
        Membership.objects.select_related("tenant", "user")
        .filter(tenant=demo, capacity="mso_admin")
        .order_by("user__email")
        .first()
    )
    assert admin is not None
    sign_in(client, admin.user, verified=requires_two_factor("mso_admin"))
    session = client.session  # a person with several capacities acts in the one chosen
    session[SESSION_CAPACITY_KEY.format(tenant_id=demo.pk)] = str(admin.pk)
    session.save()
    response = client.get(reverse("compliance-dashboard", kwargs={"tenant_slug": demo.slug}))
    board: reads.Dashboard = response.context["board"]
    open_business = BusinessFinding.objects.filter(tenant=demo).exclude(status=FindingStatus.RESOLVED)
    assert board.business_total.total == open_business.count() > 0
    assert board.clinical_recorded is not None
    assert board.clinical_recorded.total == ClinicalFinding.objects.filter(tenant=demo).count() > 0
    assert board.tenant is not None and board.tenant.business_history[-1] == board.tenant.business.score

    ctx = AccessContext.for_membership(admin, via="browser")
    with as_ctx(ctx):
        context, title = report_views.report_context(ctx, None)
        text = text_of(render_document(report_views.REPORT_TEMPLATE, context, title=title))
    assert "This is not legal advice" in text
    assert all(rule_id in text for rule_id in business_rules), business_rules
    assert not [rule_id for rule_id in clinical_rules if rule_id in text]

    physicians = Membership.objects.select_related("tenant", "user").filter(
        tenant=demo, capacity="pc_physician"
    )
    printed: set[str] = set()
    for physician in physicians:
        pctx = AccessContext.for_membership(physician, via="browser")
        with as_ctx(pctx):
            context, title = report_views.report_context(pctx, None)
            ptext = text_of(render_document(report_views.REPORT_TEMPLATE, context, title=title))
        printed |= {rule_id for rule_id in clinical_rules if rule_id in ptext}
    assert printed == clinical_rules  # each clinical problem reaches the physicians of its PC

    mailed = {to for message in mail.outbox for to in message.to}
    assert admin.user.email in mailed
    assert mailed <= {
        m.user.email
        for m in Membership.objects.filter(
            tenant=demo, capacity__in=["mso_admin", "mso_compliance", "pc_physician"]
        )
    }
