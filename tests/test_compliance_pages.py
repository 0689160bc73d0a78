"""Compliance pages through the browser: findings of each side (and the wall between them), what
people decide about a finding, audit runs with "Run audit now" and the live progress fragment, and the
rule catalogue with its tuning forms.

Worlds carry the compliance records of tests/compliance_world.py: a done and a running audit run, a
business and a clinical finding on each PC, and FEE-001's tolerance tuned to 2%.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from compliance.models import AuditRun, BusinessFinding, ClinicalFinding, FindingStatus, RuleSetting
from compliance.registry import REGISTRY
from mso_platform import celery_app
from tenants.models import AuditLogEntry
from tenants.security.policy import requires_two_factor
from tests import compliance_world
from tests.compliance_world import BUSINESS_RULE, CLINICAL_RULE, make_finding, make_run
from tests.sessions import sign_in
from tests.worlds import World, build_world

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
BUSINESS_CAPACITIES = ("mso_admin", "mso_staff", "mso_compliance", "auditor")


@pytest.fixture
def world() -> World:
    return compliance_world.populate(build_world("alpha"))


@pytest.fixture
def other() -> World:
    return compliance_world.populate(build_world("bravo"))


class Browsers:
    """One signed-in client per capacity of a world, made on first use (a person signs in once)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.clients: dict[str, Client] = {}

    def __getitem__(self, capacity: str) -> Client:
        if capacity not in self.clients:
            user = self.world.user(capacity)
            self.clients[capacity] = sign_in(Client(), user, verified=requires_two_factor(capacity))
        return self.clients[capacity]


@pytest.fixture
def browsers(world: World) -> Browsers:
    return Browsers(world)


def turl(world: World, name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs={"tenant_slug": world.tenant.slug, **kwargs})


def text(response: Any) -> str:
    return str(response.content.decode())


def findings(world: World, model: type[Any]) -> list[Any]:
    return list(world.objs[model])


# --- findings: lists, details, the wall ----------------------------------------------------------------


def test_the_findings_list_shows_rule_severity_status_pc_and_dates_and_filters(
    world: World, browsers: Browsers
) -> None:
    first, second = findings(world, BusinessFinding)
    client = browsers["mso_admin"]
    page = text(client.get(turl(world, "business-finding-list")))
    rule = REGISTRY.get(BUSINESS_RULE)
    for finding in (first, second):
        assert f'data-finding="{finding.pk}"' in page
    assert escape(rule.title) in page and "High" in page and "Open" in page
    assert world.pcs[0].legal_name in page and world.pcs[1].legal_name in page
    assert first.first_seen_at.astimezone(timezone.get_current_timezone()).strftime("%Y-%m-%d %H:%M") in page

    list_url = turl(world, "business-finding-list")
    by_pc = text(client.get(list_url, {"pc": str(world.pcs[1].pk)}))
    assert f'data-finding="{second.pk}"' in by_pc and f'data-finding="{first.pk}"' not in by_pc
    by_location = text(client.get(list_url, {"location": str(world.locations[0].pk)}))
    assert f'data-finding="{first.pk}"' in by_location and f'data-finding="{second.pk}"' not in by_location
    # Resolved findings are listed only when asked for; the default is what needs attention.
    BusinessFinding.objects.filter(pk=first.pk).update(
        status=FindingStatus.RESOLVED, resolved_at=timezone.now(), resolved_by_run=first.last_seen_run
    )
    default = text(client.get(turl(world, "business-finding-list")))
    assert f'data-finding="{first.pk}"' not in default and f'data-finding="{second.pk}"' in default
    resolved = text(client.get(turl(world, "business-finding-list"), {"status": "resolved"}))
    assert f'data-finding="{first.pk}"' in resolved and f'data-finding="{second.pk}"' not in resolved
    everything = text(client.get(turl(world, "business-finding-list"), {"status": "all"}))
    assert f'data-finding="{first.pk}"' in everything and f'data-finding="{second.pk}"' in everything
    pk = str(world.pcs[0].pk)
    unknown_pc = pk[:-1] + ("1" if pk.endswith("0") else "0")  # an id of no PC (never the PC's own)
    for query in ({"severity": "urgent"}, {"rule": "NOPE-1"}, {"pc": unknown_pc}):
        refused = client.get(turl(world, "business-finding-list"), query)
        assert refused.status_code == 200
        assert "Not one of the choices" in text(refused) and "data-finding=" not in text(refused), query


def test_the_finding_page_shows_the_rule_citation_evidence_and_history(
    world: World, browsers: Browsers
) -> None:
    finding = findings(world, BusinessFinding)[0]
    rule = REGISTRY.get(BUSINESS_RULE)
    response = browsers["mso_compliance"].get(turl(world, "business-finding-detail", pk=finding.pk))
    assert response.status_code == 200
    page = text(response)
    assert escape(rule.title) in page and escape(rule.citation) in page and escape(rule.statement) in page
    assert "dispute resolution" in page  # the evidence
    assert turl(world, "audit-run-detail", pk=finding.first_seen_run_id) in page
    assert 'data-testid="form-acknowledge"' in page and 'data-testid="form-accept_risk"' in page
    # A reader gets the page, without a form to decide.
    auditor = text(browsers["auditor"].get(turl(world, "business-finding-detail", pk=finding.pk)))
    assert escape(rule.citation) in auditor and 'data-testid="form-' not in auditor


def test_object_scoped_staff_see_only_their_pcs_findings(world: World, browsers: Browsers) -> None:
    mine, theirs = findings(world, BusinessFinding)
    client = browsers["mso_staff"]
    page = text(client.get(turl(world, "business-finding-list")))
    assert f'data-finding="{mine.pk}"' in page and f'data-finding="{theirs.pk}"' not in page
    assert client.get(turl(world, "business-finding-detail", pk=mine.pk)).status_code == 200
    assert client.get(turl(world, "business-finding-detail", pk=theirs.pk)).status_code == 404


def test_clinical_findings_are_404_to_every_business_capacity_and_logged_when_read(
    world: World, browsers: Browsers
) -> None:
    mine, theirs = findings(world, ClinicalFinding)
    list_url = turl(world, "clinical-finding-list")
    for capacity in BUSINESS_CAPACITIES:
        client = browsers[capacity]
        assert client.get(list_url).status_code == 404, capacity
        response = client.get(turl(world, "clinical-finding-detail", pk=mine.pk))
        assert response.status_code == 404 and str(mine.pk) not in text(response), capacity
        posted = client.post(
            turl(world, "clinical-finding-detail", pk=mine.pk), {"action": "acknowledge", "reason": "x"}
        )
        assert posted.status_code == 404, capacity
    mine.refresh_from_db()
    assert mine.status == FindingStatus.OPEN

    physician = browsers["pc_physician"]
    page = text(physician.get(list_url))
    assert f'data-finding="{mine.pk}"' in page and f'data-finding="{theirs.pk}"' not in page
    assert physician.get(turl(world, "clinical-finding-detail", pk=theirs.pk)).status_code == 404
    detail = physician.get(turl(world, "clinical-finding-detail", pk=mine.pk))
    assert detail.status_code == 200 and escape(REGISTRY.get(CLINICAL_RULE).citation) in text(detail)
    reads = AuditLogEntry.objects.filter(tenant=world.tenant, action="read", object_id=str(mine.pk))
    assert reads.count() == 2  # the list row and the page
    assert not AuditLogEntry.objects.filter(action="read", object_id=str(theirs.pk)).exists()


def test_a_business_capacity_sees_clinical_counts_from_the_run_never_the_clinical_table(
    world: World, browsers: Browsers
) -> None:
    # The latest run recorded two medium clinical findings; the table is given a third, unrecorded one.
    run = AuditRun.objects.filter(tenant=world.tenant).order_by("-created_at").first()
    assert run is not None and run.counts["clinical"]["open"] == {"medium": 2}
    make_finding(
        world,
        ClinicalFinding,
        run=run,
        pc=world.pcs[0],
        rule_id="GFE-001",
        object_type="clinical.PatientChart",
        object_id=world.charts[0].pk,
        evidence={},
    )
    client = browsers["mso_admin"]
    with CaptureQueriesContext(connection) as queries:
        page = text(client.get(turl(world, "business-finding-list")))
    clinical_table = ClinicalFinding._meta.db_table
    assert not [q["sql"] for q in queries.captured_queries if clinical_table in q["sql"]]
    tally = page.split('data-testid="clinical-tally"', 1)[1].split("</table>", 1)[0]
    open_row = tally.split('data-status="open"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num" data-severity="medium">2</td>' in open_row
    assert '<td class="num" data-severity="critical">0</td>' in open_row
    assert 'data-testid="clinical-counts-note"' in page
    # A clinical capacity counts its own PCs' clinical findings live: its PC's medium and critical ones.
    physician = text(browsers["pc_physician"].get(turl(world, "clinical-finding-list")))
    live = physician.split('data-testid="clinical-tally"', 1)[1].split('data-status="open"', 1)[1]
    live_row = live.split("</tr>", 1)[0]
    assert '<td class="num" data-severity="medium">1</td>' in live_row
    assert '<td class="num" data-severity="critical">1</td>' in live_row


def test_another_tenants_findings_and_runs_are_404(world: World, other: World, browsers: Browsers) -> None:
    admin, physician = browsers["mso_admin"], browsers["pc_physician"]
    business = findings(other, BusinessFinding)[0]
    clinical = findings(other, ClinicalFinding)[0]
    run = other.objs[AuditRun][0]
    before = BusinessFinding.objects.get(pk=business.pk).status
    for client, name, pk in (
        (admin, "business-finding-detail", business.pk),
        (physician, "clinical-finding-detail", clinical.pk),
        (admin, "audit-run-detail", run.pk),
        (admin, "audit-run-progress", run.pk),
    ):
        url = turl(world, name, pk=pk)
        assert client.get(url).status_code == 404, name
        assert client.post(url, {"action": "acknowledge", "reason": "cross-tenant"}).status_code == 404, name
    # and the other tenant's slug
    assert admin.get(turl(other, "business-finding-list")).status_code == 404
    assert BusinessFinding.objects.get(pk=business.pk).status == before


# --- decisions about a finding ------------------------------------------------------------------------


def decide(client: Client, world: World, finding: Any, **data: Any) -> Any:
    name = "clinical-finding-detail" if isinstance(finding, ClinicalFinding) else "business-finding-detail"
    return client.post(turl(world, name, pk=finding.pk), data)


def test_acknowledge_needs_a_reason_then_records_who_and_why(world: World, browsers: Browsers) -> None:
    finding = findings(world, BusinessFinding)[0]
    client = browsers["mso_compliance"]
    refused = decide(client, world, finding, action="acknowledge", reason="   ")
    assert refused.status_code == 400
    assert "Give the reason." in text(refused)
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN and finding.status_by is None

    done = decide(client, world, finding, action="acknowledge", reason="Amendment with counsel.")
    assert done.status_code == 302
    finding.refresh_from_db()
    assert finding.status == FindingStatus.ACKNOWLEDGED
    assert finding.status_reason == "Amendment with counsel."
    assert finding.status_by == world.user("mso_compliance")
    page = text(client.get(done["Location"]))
    assert "Finding acknowledged." in page and "Amendment with counsel." in page
    assert 'data-testid="form-reopen"' in page and 'data-testid="form-acknowledge"' not in page


def test_accept_risk_needs_a_reason_and_a_date_within_a_year(world: World, browsers: Browsers) -> None:
    finding = findings(world, BusinessFinding)[0]
    client = browsers["mso_admin"]
    cases = [
        ({"reason": "", "until": (TODAY + dt.timedelta(days=30)).isoformat()}, "Give the reason."),
        ({"reason": "Renewal signed", "until": ""}, "Give the date the acceptance ends."),
        ({"reason": "Renewal signed", "until": "31/12/2099"}, "Enter a valid date."),
        ({"reason": "Renewal signed", "until": TODAY.isoformat()}, "The acceptance must end after today."),
        (
            {"reason": "Renewal signed", "until": (TODAY + dt.timedelta(days=400)).isoformat()},
            "at most a year",
        ),
    ]
    for data, message in cases:
        response = decide(client, world, finding, action="accept_risk", **data)
        assert response.status_code == 400, data
        assert message in text(response), (data, message)
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN

    until = TODAY + dt.timedelta(days=90)
    accepted = decide(client, world, finding, action="accept_risk", reason="Renewal signed", until=until)
    assert accepted.status_code == 302
    finding.refresh_from_db()
    assert (finding.status, finding.accepted_until) == (FindingStatus.ACCEPTED_RISK, until)

    reopened = decide(client, world, finding, action="reopen", reason="Renewal fell through")
    assert reopened.status_code == 302
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN and finding.accepted_until is None
    again = decide(client, world, finding, action="reopen")
    assert again.status_code == 400 and "Only an acknowledged or accepted finding reopens" in text(again)


def test_a_critical_finding_cannot_be_accepted_and_not_everyone_may_accept_a_risk(
    world: World, browsers: Browsers
) -> None:
    finding = findings(world, BusinessFinding)[0]
    BusinessFinding.objects.filter(pk=finding.pk).update(severity="critical")
    admin = browsers["mso_admin"]
    page = text(admin.get(turl(world, "business-finding-detail", pk=finding.pk)))
    assert 'data-testid="form-accept_risk"' not in page and 'data-testid="form-acknowledge"' in page
    until = (TODAY + dt.timedelta(days=30)).isoformat()
    refused = decide(admin, world, finding, action="accept_risk", reason="We disagree", until=until)
    assert refused.status_code == 400 and "A critical finding cannot be accepted as a risk" in text(refused)

    # Staff of the PC may acknowledge its findings, not accept their risk; a clinician neither for
    # business findings nor risks of clinical ones; the auditor nothing; an unknown action is a 400.
    staff = browsers["mso_staff"]
    assert decide(staff, world, finding, action="accept_risk", reason="x", until=until).status_code == 404
    clinical = findings(world, ClinicalFinding)[0]
    clinician = browsers["clinician"]
    assert (
        decide(clinician, world, clinical, action="accept_risk", reason="x", until=until).status_code == 404
    )
    assert decide(clinician, world, finding, action="acknowledge", reason="x").status_code == 404
    assert decide(browsers["auditor"], world, finding, action="acknowledge", reason="x").status_code == 404
    unknown = decide(admin, world, finding, action="resolve", reason="x")
    assert unknown.status_code == 400 and "Choose what to do" in text(unknown)
    acknowledged = decide(clinician, world, clinical, action="acknowledge", reason="Chart closed late")
    assert acknowledged.status_code == 302
    for row in (finding, clinical):
        row.refresh_from_db()
    assert finding.status == FindingStatus.OPEN and clinical.status == FindingStatus.ACKNOWLEDGED


# --- audit runs ---------------------------------------------------------------------------------------


@pytest.fixture
def eager() -> Iterator[None]:
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


def test_run_audit_now_queues_the_task_on_commit_and_the_run_page_follows_it(
    world: World, browsers: Browsers, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    client = browsers["mso_admin"]
    listing = text(client.get(turl(world, "audit-run-list")))
    assert 'data-testid="run-now"' in listing
    key = listing.split('name="request_key" value="', 1)[1].split('"', 1)[0]
    before = AuditRun.objects.filter(tenant=world.tenant).count()
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(turl(world, "audit-run-create"), {"request_key": key})
        again = client.post(turl(world, "audit-run-create"), {"request_key": key})  # a double click
    assert response.status_code == again.status_code == 302
    assert response["Location"] == again["Location"]
    run = AuditRun.objects.get(tenant=world.tenant, idempotency_key=f"on_demand:{key}")
    assert AuditRun.objects.filter(tenant=world.tenant).count() == before + 1
    assert (run.status, run.trigger, run.pc_ids) == ("queued", "on_demand", None)
    assert run.rules_total == len(REGISTRY.all()) and run.requested_by == world.user("mso_admin")
    assert len(queued) == 1  # the second click found the run the first one queued

    fragment = text(client.get(turl(world, "audit-run-progress", pk=run.pk)))
    assert 'hx-trigger="every 1s"' in fragment and f'max="{run.rules_total}" value="0"' in fragment
    queued[0]()  # the commit: the task runs (eagerly) to the end
    run.refresh_from_db()
    assert run.status == AuditRun.Status.DONE and run.rules_done == run.rules_total
    fragment = text(client.get(turl(world, "audit-run-progress", pk=run.pk)))
    assert "hx-trigger" not in fragment and 'data-status="done"' in fragment
    assert f'<span data-testid="rules-done">{run.rules_total}</span>' in fragment
    page = text(client.get(response["Location"]))
    assert 'id="run-progress"' in page and 'data-state="done"' in page and 'data-state="waiting"' not in page


def test_object_scoped_staff_audit_their_pcs_and_readers_cannot_run_audits(
    world: World, browsers: Browsers, django_capture_on_commit_callbacks: Any
) -> None:
    staff = browsers["mso_staff"]
    listing = text(staff.get(turl(world, "audit-run-list")))
    # The one-click button audits the PCs staff may audit: the first PC only.
    assert f'name="pcs" value="{world.pcs[0].pk}"' in listing and str(world.pcs[1].pk) not in listing
    with django_capture_on_commit_callbacks() as queued:
        refused = staff.post(turl(world, "audit-run-create"), {"request_key": "k1"})
        assert refused.status_code == 400 and "Choose the PCs to audit" in text(refused)
        foreign = staff.post(turl(world, "audit-run-create"), {"request_key": "k2", "pcs": world.pcs[1].pk})
        assert foreign.status_code == 400 and "Not one of the PCs you may audit." in text(foreign)
        assert not queued
        done = staff.post(turl(world, "audit-run-create"), {"request_key": "k3", "pcs": world.pcs[0].pk})
    assert done.status_code == 302 and len(queued) == 1
    run = AuditRun.objects.get(tenant=world.tenant, idempotency_key="on_demand:k3")
    assert run.pc_ids == [world.pcs[0].pk]
    for capacity in ("auditor", "pc_physician", "clinician"):
        client = browsers[capacity]
        assert client.get(turl(world, "audit-run-list")).status_code == 200, capacity
        assert 'data-testid="run-now"' not in text(client.get(turl(world, "audit-run-list"))), capacity
        assert client.get(turl(world, "audit-run-create")).status_code == 404, capacity
        assert client.post(turl(world, "audit-run-create"), {"request_key": capacity}).status_code == 404
    assert not AuditRun.objects.filter(
        idempotency_key__in=["on_demand:auditor", "on_demand:clinician"]
    ).exists()


def test_the_progress_fragment_reflects_the_runs_counters(world: World, browsers: Browsers) -> None:
    run = make_run(
        world,
        status=AuditRun.Status.RUNNING,
        rules_total=5,
        rules_done=2,
        rule_ids=["MSA-002", "CHT-001", "FEE-001", "BAA-001", "LIC-002"],
        done_rule_ids=["MSA-002", "CHT-001"],
        finished_at=None,
        counts=compliance_world.counts({"high": 3, "low": 1}, {"critical": 4}),
        stats={"MSA-002": {"ms": 5, "seen": 3, "new": 1, "resolved": 0}, "CHT-001": {"error": "ValueError"}},
    )
    url = turl(world, "audit-run-progress", pk=run.pk)
    for capacity in ("mso_admin", "pc_physician"):  # every capacity follows runs; clinical ones too
        response = browsers[capacity].get(url)
        assert response.status_code == 200 and response["Cache-Control"] == "no-store"
        fragment = text(response)
        assert "<html" not in fragment  # a fragment, not a page
        assert f'hx-get="{url}" hx-trigger="every 1s" hx-swap="outerHTML"' in fragment
        assert '<progress max="5" value="2"' in fragment and "40%" in fragment
        assert '<span data-testid="rules-done">2</span>' in fragment
        business = fragment.split('data-testid="run-business-tally"', 1)[1].split("</table>", 1)[0]
        assert '<td class="num" data-severity="high">3</td>' in business
        assert '<td class="num" data-severity="low">1</td>' in business
        clinical = fragment.split('data-testid="run-clinical-tally"', 1)[1].split("</table>", 1)[0]
        assert '<td class="num" data-severity="critical">4</td>' in clinical
    # The engine commits the next rule: the next poll shows it.
    AuditRun.objects.filter(pk=run.pk).update(rules_done=4)
    assert '<progress max="5" value="4"' in text(browsers["mso_admin"].get(url))
    page = text(browsers["mso_admin"].get(turl(world, "audit-run-detail", pk=run.pk)))
    assert 'data-rule="MSA-002" data-state="done"' in page
    assert 'data-rule="CHT-001" data-state="failed"' in page and "ValueError" in page
    assert 'data-rule="FEE-001" data-state="waiting"' in page
    # A finished run stops the polling.
    AuditRun.objects.filter(pk=run.pk).update(
        status=AuditRun.Status.DONE, rules_done=5, finished_at=timezone.now()
    )
    finished = text(browsers["mso_admin"].get(url))
    assert "hx-trigger" not in finished and '<progress max="5" value="5"' in finished
    # Only GET: the lookup answers first, then the method.
    assert browsers["mso_admin"].post(url).status_code == 405


# --- the rule catalogue ---------------------------------------------------------------------------------


def rule_section(page: str, rule_id: str) -> str:
    return page.split(f'data-rule="{rule_id}"', 1)[1].split("</section>", 1)[0]


def test_every_capacity_reads_the_catalogue_with_citations_and_thresholds(
    world: World, browsers: Browsers
) -> None:
    for capacity in ("clinician", "auditor", "mso_staff"):
        response = browsers[capacity].get(turl(world, "rule-list"))
        assert response.status_code == 200, capacity
        page = text(response)
        for rule in REGISTRY.all():
            assert f'data-rule="{rule.id}"' in page, rule.id
        fee = rule_section(page, "FEE-001")
        assert escape(REGISTRY.get("FEE-001").citation) in fee
        assert '<td class="num" data-testid="tenant-value">2</td>' in fee  # tuned from the default 1
        assert 'data-testid="tune-' not in page, capacity  # none of them tunes any rule
    admin = text(browsers["mso_admin"].get(turl(world, "rule-list")))
    assert 'data-testid="tune-FEE-002"' in admin and 'data-testid="tune-CHT-001"' not in admin
    physician = text(browsers["pc_physician"].get(turl(world, "rule-list")))
    assert 'data-testid="tune-CHT-001"' in physician and 'data-testid="tune-FEE-002"' not in physician


def test_tuning_a_rule_within_its_bounds_and_refusals_with_messages(world: World, browsers: Browsers) -> None:
    client = browsers["mso_compliance"]
    url = turl(world, "rule-list")
    saved = client.post(url, {"rule_id": "FEE-002", "enabled": "on", "threshold-min_correlation": "0.95"})
    assert saved.status_code == 302 and saved["Location"].endswith("#rule-FEE-002")
    setting = RuleSetting.objects.get(tenant=world.tenant, rule_id="FEE-002")
    assert setting.thresholds == {"min_correlation": "0.95"} and setting.enabled
    assert setting.updated_by == world.user("mso_compliance")

    refusals = [
        ({"rule_id": "FEE-002", "threshold-min_correlation": "1.5"}, "between 0.5 and 0.99"),
        ({"rule_id": "FEE-002", "threshold-min_correlation": "lots"}, "give a number"),
        ({"rule_id": "CPOM-001", "enabled": "off"}, "CPOM-001 is critical: it stays on."),
        ({"rule_id": "FEE-002", "enabled": "maybe"}, "Choose on or off."),
        ({"rule_id": "NOPE-001"}, "Unknown rule"),
    ]
    for data, message in refusals:
        response = client.post(url, data)
        assert response.status_code == 400, data
        assert message in text(response), (data, message)
    setting.refresh_from_db()
    assert setting.thresholds == {"min_correlation": "0.95"}
    assert not RuleSetting.objects.filter(tenant=world.tenant, rule_id="CPOM-001").exists()

    # A blank field goes back to the default; switching a non-critical rule off is kept.
    off = client.post(url, {"rule_id": "FEE-002", "enabled": "off", "threshold-min_correlation": ""})
    assert off.status_code == 302
    setting.refresh_from_db()
    assert setting.thresholds == {} and not setting.enabled
    assert 'data-testid="enabled">Switched off' in rule_section(text(client.get(url)), "FEE-002")


def test_who_may_tune_which_rule(world: World, browsers: Browsers) -> None:
    url = turl(world, "rule-list")
    business = {"rule_id": "FEE-002", "threshold-min_correlation": "0.8"}
    clinical = {"rule_id": "CHT-001", "threshold-charting_hours": "48"}
    for capacity in ("mso_staff", "auditor", "clinician"):
        assert browsers[capacity].post(url, business).status_code == 404, capacity
        assert browsers[capacity].post(url, clinical).status_code == 404, capacity
    physician = browsers["pc_physician"]
    assert physician.post(url, business).status_code == 404  # the MSO's rules are not the PC's to set
    assert physician.post(url, clinical).status_code == 302  # clinical policy is the physician's (CPOM)
    assert browsers["mso_admin"].post(url, clinical).status_code == 404
    assert RuleSetting.objects.get(tenant=world.tenant, rule_id="CHT-001").thresholds == {
        "charting_hours": "48"
    }
    assert not RuleSetting.objects.filter(tenant=world.tenant, rule_id="FEE-002").exists()


def test_the_navigation_has_the_compliance_group_and_the_clinical_section_only_for_clinical_capacities(
    world: World, browsers: Browsers
) -> None:
    clinical_url = turl(world, "clinical-finding-list")
    admin = text(browsers["mso_admin"].get(turl(world, "dashboard")))
    assert "Compliance" in admin and turl(world, "business-finding-list") in admin
    assert turl(world, "audit-run-list") in admin and turl(world, "rule-list") in admin
    assert clinical_url not in admin
    physician = text(browsers["pc_physician"].get(turl(world, "dashboard")))
    assert clinical_url in physician


def test_the_findings_list_links_to_the_dashboard_and_the_readiness_checklist(
    world: World, browsers: Browsers
) -> None:
    for capacity in ("mso_admin", "mso_compliance"):
        page = text(browsers[capacity].get(turl(world, "business-finding-list")))
        for name in ("compliance-dashboard", "compliance-readiness"):
            assert f'href="{turl(world, name)}"' in page, (capacity, name)
            assert browsers[capacity].get(turl(world, name)).status_code == 200, (capacity, name)
