"""The compliance API: findings of each side (business keys never reach a clinical one), decisions as
a PATCH of the status (refusals are 400s with the service's message), audit runs requested with a POST
(idempotent by header, queued on commit), rule settings and the rule catalogue.

The worlds carry tests/compliance_world.py's records; the generic suites (attack matrix, permissions,
input, query counts) cover every route too, from tests/matrix/compliance.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from compliance.models import AuditRun, BusinessFinding, ClinicalFinding, FindingStatus, RuleSetting
from compliance.registry import REGISTRY
from tenants.models import AuditLogEntry
from tests import compliance_world
from tests.api_matrix import call, client_for, ids_of, issue_keys
from tests.compliance_world import BUSINESS_RULE, CLINICAL_RULE
from tests.worlds import World, build_world

pytestmark = pytest.mark.django_db

API = "/api/v1/"
TODAY = timezone.localdate()
BUSINESS_CAPACITIES = ("mso_admin", "mso_staff", "mso_compliance", "auditor")


@pytest.fixture
def world() -> World:
    return compliance_world.populate(build_world("alpha"))


@pytest.fixture
def other() -> World:
    return compliance_world.populate(build_world("bravo"))


class Keys:
    def __init__(self, world: World) -> None:
        self.raw = issue_keys(world)

    def __getitem__(self, capacity: str) -> APIClient:
        return client_for(self.raw[capacity])


@pytest.fixture
def keys(world: World) -> Keys:
    return Keys(world)


def rows(world: World, model: type[Any]) -> list[Any]:
    return list(world.objs[model])


# --- findings ------------------------------------------------------------------------------------------


def test_business_findings_by_capacity_with_rule_citation_and_scope(world: World, keys: Keys) -> None:
    first, second = rows(world, BusinessFinding)
    expected = {
        "mso_admin": {first, second},
        "mso_compliance": {first, second},
        "auditor": {first, second},
        "mso_staff": {first},  # granted the first PC only
        "pc_physician": {first},  # reads the business records of its own PC
        "clinician": {first},
    }
    for capacity, visible in expected.items():
        response = keys[capacity].get(f"{API}business-findings/")
        assert response.status_code == 200, capacity
        assert ids_of(response) == {str(f.pk) for f in visible}, capacity
    body = keys["mso_admin"].get(f"{API}business-findings/{first.pk}/").json()
    rule = REGISTRY.get(BUSINESS_RULE)
    assert body["rule_id"] == BUSINESS_RULE and body["rule_title"] == rule.title
    assert body["citation"] == rule.citation and body["severity"] == "high" and body["status"] == "open"
    assert body["pc"] == str(world.pcs[0].pk) and body["pc_name"] == world.pcs[0].legal_name
    assert body["evidence"] == first.evidence and body["first_seen_run"] == str(first.first_seen_run_id)
    assert "reason" not in body and "tenant" not in body
    assert keys["mso_staff"].get(f"{API}business-findings/{second.pk}/").status_code == 404


def test_finding_filters_and_their_refusals(world: World, keys: Keys) -> None:
    first, second = rows(world, BusinessFinding)
    client = keys["mso_admin"]
    url = f"{API}business-findings/"
    assert ids_of(client.get(url, {"pc": str(world.pcs[1].pk)})) == {str(second.pk)}
    assert ids_of(client.get(url, {"location": str(world.locations[0].pk)})) == {str(first.pk)}
    assert ids_of(client.get(url, {"rule": BUSINESS_RULE.lower(), "severity": "high"})) == {
        str(first.pk),
        str(second.pk),
    }
    assert ids_of(client.get(url, {"status": "resolved"})) == set()
    assert ids_of(client.get(url, {"unresolved": "true"})) == {str(first.pk), str(second.pk)}
    for query, field in (
        ({"status": "closed"}, "status"),
        ({"severity": "urgent"}, "severity"),
        ({"pc": "not-an-id"}, "pc"),
        ({"unresolved": "perhaps"}, "unresolved"),
    ):
        response = client.get(url, query)
        assert response.status_code == 400, query
        assert response.json()[field], query


def test_clinical_findings_are_404_to_business_keys_and_every_read_is_logged(
    world: World, keys: Keys
) -> None:
    mine, theirs = rows(world, ClinicalFinding)
    for capacity in BUSINESS_CAPACITIES:
        client = keys[capacity]
        assert client.get(f"{API}clinical-findings/").status_code == 404, capacity
        assert client.get(f"{API}clinical-findings/{mine.pk}/").status_code == 404, capacity
        patch = call(client, "PATCH", f"{API}clinical-findings/{mine.pk}/", {"status": "acknowledged"})
        assert patch.status_code == 404 and patch.json() == {"detail": "No such object."}, capacity
    physician = keys["pc_physician"]
    assert ids_of(physician.get(f"{API}clinical-findings/")) == {str(mine.pk)}
    body = physician.get(f"{API}clinical-findings/{mine.pk}/").json()
    assert body["rule_id"] == CLINICAL_RULE and body["citation"] == REGISTRY.get(CLINICAL_RULE).citation
    assert physician.get(f"{API}clinical-findings/{theirs.pk}/").status_code == 404
    reads = AuditLogEntry.objects.filter(tenant=world.tenant, action="read", object_id=str(mine.pk))
    assert reads.count() == 2 and {e.via for e in reads} == {"api"}
    mine.refresh_from_db()
    assert mine.status == FindingStatus.OPEN


def test_another_tenants_findings_runs_and_settings_are_404(world: World, other: World, keys: Keys) -> None:
    targets = [
        ("mso_admin", f"business-findings/{rows(other, BusinessFinding)[0].pk}/"),
        ("pc_physician", f"clinical-findings/{rows(other, ClinicalFinding)[0].pk}/"),
        ("mso_admin", f"audit-runs/{rows(other, AuditRun)[0].pk}/"),
        ("mso_admin", f"rule-settings/{rows(other, RuleSetting)[0].pk}/"),
    ]
    for capacity, path in targets:
        client = keys[capacity]
        assert client.get(f"{API}{path}").status_code == 404, path
        body = (
            {"status": "acknowledged", "reason": "cross-tenant"} if "findings" in path else {"enabled": False}
        )
        if "audit-runs" not in path:
            assert call(client, "PATCH", f"{API}{path}", body).status_code == 404, path
    assert rows(other, RuleSetting)[0].enabled
    assert BusinessFinding.objects.get(pk=rows(other, BusinessFinding)[0].pk).status == FindingStatus.OPEN
    # alpha's list never shows bravo's rows, and a filter on bravo's PC finds nothing
    response = keys["mso_admin"].get(f"{API}business-findings/", {"pc": str(other.pcs[0].pk)})
    assert response.status_code == 200 and response.json()["count"] == 0


def patch(client: APIClient, finding: Any, data: dict[str, Any]) -> Any:
    side = "clinical" if isinstance(finding, ClinicalFinding) else "business"
    return call(client, "PATCH", f"{API}{side}-findings/{finding.pk}/", data)


def test_acknowledge_accept_risk_and_reopen_validate_with_messages(world: World, keys: Keys) -> None:
    finding = rows(world, BusinessFinding)[0]
    client = keys["mso_compliance"]
    in_90 = (TODAY + dt.timedelta(days=90)).isoformat()
    refusals = [
        ({"reason": "no status"}, "status", "Say what to do"),
        ({"status": "resolved"}, "status", "resolved by the audit run"),
        ({"status": "acknowledged"}, "reason", "Give the reason."),
        ({"status": "acknowledged", "reason": " "}, "reason", "Give the reason."),
        (
            {"status": "acknowledged", "reason": "x", "accepted_until": in_90},
            "accepted_until",
            "accepted_risk",
        ),
        ({"status": "accepted_risk", "reason": "Renewal signed"}, "accepted_until", "Give the date"),
        (
            {"status": "accepted_risk", "reason": "x", "accepted_until": TODAY.isoformat()},
            "accepted_until",
            "after",
        ),
        (
            {"status": "accepted_risk", "reason": "x", "accepted_until": "2999-01-01"},
            "accepted_until",
            "a year",
        ),
        ({"status": "accepted_risk", "reason": "x", "accepted_until": "soon"}, "accepted_until", "Date has"),
        ({"status": "open"}, "status", "Only an acknowledged or accepted finding reopens"),
        ({"status": "approved", "reason": "x"}, "status", "One of: acknowledged, accepted_risk, open."),
        ({"status": "acknowledged", "reason": "x" * 2001}, "reason", "no more than 2000"),
    ]
    for data, field, message in refusals:
        response = patch(client, finding, data)
        assert response.status_code == 400, (data, response.content)
        assert message in str(response.json().get(field)), (data, response.json())
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN and finding.status_by is None

    acknowledged = patch(client, finding, {"status": "acknowledged", "reason": "Amendment with counsel."})
    assert acknowledged.status_code == 200
    body = acknowledged.json()
    assert body["status"] == "acknowledged" and body["status_reason"] == "Amendment with counsel."
    assert body["status_by"] == world.user("mso_compliance").email and body["status_at"]
    accepted = patch(
        client, finding, {"status": "accepted_risk", "reason": "Low exposure", "accepted_until": in_90}
    )
    assert accepted.status_code == 200 and accepted.json()["accepted_until"] == in_90
    reopened = patch(client, finding, {"status": "open"})
    assert reopened.status_code == 200 and reopened.json()["status"] == "open"
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN and finding.accepted_until is None


def test_who_may_decide_about_which_finding(world: World, keys: Keys) -> None:
    mine, theirs = rows(world, BusinessFinding)
    clinical = rows(world, ClinicalFinding)[0]
    in_30 = (TODAY + dt.timedelta(days=30)).isoformat()
    acknowledge = {"status": "acknowledged", "reason": "On it"}
    accept = {"status": "accepted_risk", "reason": "Fine for now", "accepted_until": in_30}
    assert patch(keys["auditor"], mine, acknowledge).status_code == 404  # read-only
    assert patch(keys["pc_physician"], mine, acknowledge).status_code == 404  # the MSO's business
    assert patch(keys["mso_staff"], theirs, acknowledge).status_code == 404  # not its PC
    assert patch(keys["mso_staff"], mine, accept).status_code == 404  # not a risk owner
    assert patch(keys["clinician"], clinical, accept).status_code == 404  # not a risk owner
    for row in (mine, theirs, clinical):
        row.refresh_from_db()
        assert row.status == FindingStatus.OPEN
    assert patch(keys["mso_staff"], mine, acknowledge).status_code == 200
    assert patch(keys["clinician"], clinical, acknowledge).status_code == 200
    assert patch(keys["pc_physician"], clinical, accept).status_code == 200
    BusinessFinding.objects.filter(pk=theirs.pk).update(severity="critical")
    critical = patch(keys["mso_admin"], theirs, accept)
    assert critical.status_code == 400 and "critical" in str(critical.json()["status"])


def test_findings_take_no_put_no_post_and_no_delete(world: World, keys: Keys) -> None:
    finding = rows(world, BusinessFinding)[0]
    client = keys["mso_admin"]
    detail = f"{API}business-findings/{finding.pk}/"
    assert call(client, "PUT", detail, {"status": "acknowledged", "reason": "x"}).status_code == 405
    assert client.delete(detail).status_code == 405
    assert call(client, "POST", f"{API}business-findings/", {"rule_id": "BAA-001"}).status_code == 405
    assert BusinessFinding.objects.filter(tenant=world.tenant).count() == 2


# --- audit runs ---------------------------------------------------------------------------------------


def test_every_key_reads_the_runs_with_progress_and_counts(world: World, keys: Keys) -> None:
    done, running = rows(world, AuditRun)
    for capacity in keys.raw:
        response = keys[capacity].get(f"{API}audit-runs/")
        assert response.status_code == 200 and ids_of(response) == {str(done.pk), str(running.pk)}, capacity
    body = keys["mso_staff"].get(f"{API}audit-runs/{running.pk}/").json()
    assert (body["status"], body["rules_done"], body["rules_total"], body["percent"]) == ("running", 1, 3, 33)
    assert body["pc_ids"] == [str(world.pcs[0].pk)] and body["requested_by"] == world.user("mso_admin").email
    assert body["counts"]["clinical"]["open"] == {"medium": 2}  # counts only, from the run
    assert "pcs" not in body
    assert ids_of(keys["auditor"].get(f"{API}audit-runs/", {"status": "done"})) == {str(done.pk)}
    refused = keys["auditor"].get(f"{API}audit-runs/", {"trigger": "hourly"})
    assert refused.status_code == 400 and refused.json()["trigger"]


def test_requesting_a_run_queues_it_on_commit_once_per_idempotency_key(
    world: World, keys: Keys, django_capture_on_commit_callbacks: Any
) -> None:
    client = keys["mso_admin"]
    client.credentials(
        HTTP_AUTHORIZATION=f"Api-Key {keys.raw['mso_admin']}", HTTP_IDEMPOTENCY_KEY="nightly-fix-1"
    )
    with django_capture_on_commit_callbacks() as queued:
        first = call(client, "POST", f"{API}audit-runs/", {})
        second = call(client, "POST", f"{API}audit-runs/", {})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert len(queued) == 1
    run = AuditRun.objects.get(pk=first.json()["id"])
    assert (run.status, run.trigger, run.pc_ids, run.idempotency_key) == (
        "queued",
        "on_demand",
        None,
        "on_demand:nightly-fix-1",
    )
    assert run.rules_total == len(REGISTRY.all()) and first.json()["rules_done"] == 0

    some = call(keys["mso_compliance"], "POST", f"{API}audit-runs/", {"rule_ids": ["fee-001", "FEE-002"]})
    assert some.status_code == 201 and some.json()["rule_ids"] == ["FEE-001", "FEE-002"]
    unknown = call(keys["mso_compliance"], "POST", f"{API}audit-runs/", {"rule_ids": ["NOPE-1"]})
    assert unknown.status_code == 400 and "NOPE-1" in str(unknown.json()["rule_ids"])


def test_scoped_staff_name_their_pcs_and_readers_request_nothing(world: World, keys: Keys) -> None:
    url = f"{API}audit-runs/"
    before = AuditRun.objects.filter(tenant=world.tenant).count()
    staff = keys["mso_staff"]
    everything = call(staff, "POST", url, {})
    assert everything.status_code == 400 and "Choose the PCs" in str(everything.json()["pcs"])
    foreign = call(staff, "POST", url, {"pcs": [str(world.pcs[1].pk)]})
    assert foreign.status_code == 400 and "not one this key may use" in str(foreign.json()["pcs"])
    empty = call(staff, "POST", url, {"pcs": []})
    assert empty.status_code == 400 and "at least one PC" in str(empty.json()["pcs"])
    for capacity in ("auditor", "pc_physician", "clinician"):
        assert call(keys[capacity], "POST", url, {"pcs": [str(world.pcs[0].pk)]}).status_code == 404
    assert AuditRun.objects.filter(tenant=world.tenant).count() == before
    mine = call(staff, "POST", url, {"pcs": [str(world.pcs[0].pk)]})
    assert mine.status_code == 201 and mine.json()["pc_ids"] == [str(world.pcs[0].pk)]


# --- rule settings and the catalogue ---------------------------------------------------------------------


def test_the_catalogue_lists_every_rule_with_thresholds_and_who_may_tune(world: World, keys: Keys) -> None:
    tuned = rows(world, RuleSetting)[0]
    for capacity in keys.raw:
        response = keys[capacity].get(f"{API}rule-settings/catalogue/")
        assert response.status_code == 200, capacity
        assert response.json()["count"] == len(REGISTRY.all())
        catalogue = {r["id"]: r for r in response.json()["results"]}
        assert set(catalogue) == {r.id for r in REGISTRY.all()}
        fee = catalogue["FEE-001"]
        assert fee["setting"] == str(tuned.pk) and fee["critical"] is False and fee["enabled"] is True
        assert fee["citation"] == REGISTRY.get("FEE-001").citation and fee["states"] == ["CA"]
        (tolerance,) = fee["thresholds"]
        assert (tolerance["name"], tolerance["default"], tolerance["tenant_value"], tolerance["value"]) == (
            "tolerance_percent",
            "1",
            "2",
            "2",
        )
        assert catalogue["CPOM-001"]["critical"] is True and catalogue["CPOM-001"]["setting"] is None
        tunable = {rule_id for rule_id, r in catalogue.items() if r["may_tune"]}
        # Something to change: a switch (not on a critical rule) or a threshold.
        changeable = {r.id: r.side for r in REGISTRY.all() if r.may_be_disabled or r.thresholds}
        if capacity in ("mso_admin", "mso_compliance"):
            assert tunable == {i for i, side in changeable.items() if side == "business"}, capacity
        elif capacity == "pc_physician":
            assert tunable == {i for i, side in changeable.items() if side == "clinical"}
        else:
            assert tunable == set(), capacity


def test_rule_settings_are_created_once_then_patched_within_bounds(world: World, keys: Keys) -> None:
    client = keys["mso_compliance"]
    url = f"{API}rule-settings/"
    created = call(client, "POST", url, {"rule_id": "FEE-002", "thresholds": {"min_correlation": 0.95}})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["thresholds"] == {"min_correlation": "0.95"} and body["enabled"] is True
    assert body["side"] == "business" and body["updated_by"] == world.user("mso_compliance").email
    correlation = next(v for v in body["values"] if v["name"] == "min_correlation")
    assert correlation["value"] == "0.95" and correlation["default"] == "0.9"
    again = call(client, "POST", url, {"rule_id": "FEE-002", "enabled": False})
    assert again.status_code == 400 and "already has a setting" in str(again.json()["rule_id"])

    detail = f"{url}{body['id']}/"
    refusals: list[tuple[dict[str, Any], str, str]] = [
        ({"thresholds": {"min_correlation": "1.5"}}, "thresholds", "between 0.5 and 0.99"),
        ({"thresholds": {"min_correlation": "lots"}}, "thresholds", "give a number"),
        ({"thresholds": {"no_such": "1"}}, "thresholds", "has no threshold"),
        ({"rule_id": "FEE-001"}, "rule_id", "stays with its rule"),
        ({"rule_id": "NOPE-001"}, "rule_id", "Not a rule of the catalogue"),
    ]
    for data, field, message in refusals:
        response = call(client, "PATCH", detail, data)
        assert response.status_code == 400, data
        assert message in str(response.json()[field]), (data, response.json())
    off = call(client, "PATCH", detail, {"enabled": False, "thresholds": {"min_correlation": None}})
    assert off.status_code == 200 and off.json()["enabled"] is False and off.json()["thresholds"] == {}
    critical = call(client, "POST", url, {"rule_id": "CPOM-001", "enabled": False})
    assert critical.status_code == 400 and "stays on" in str(critical.json()["enabled"])
    assert not RuleSetting.objects.filter(tenant=world.tenant, rule_id="CPOM-001").exists()
    assert call(client, "PUT", detail, {"rule_id": "FEE-002", "enabled": True}).status_code == 405


def test_who_may_write_which_rule_setting(world: World, keys: Keys) -> None:
    url = f"{API}rule-settings/"
    business = {"rule_id": "FEE-002", "enabled": False}
    clinical = {"rule_id": "CHT-001", "thresholds": {"charting_hours": 48}}
    tuned = rows(world, RuleSetting)[0]  # FEE-001, a business rule
    for capacity in ("mso_staff", "auditor", "clinician"):
        assert call(keys[capacity], "POST", url, business).status_code == 404, capacity
        assert call(keys[capacity], "POST", url, clinical).status_code == 404, capacity
        assert call(keys[capacity], "PATCH", f"{url}{tuned.pk}/", {"enabled": False}).status_code == 404
    physician = keys["pc_physician"]
    assert call(physician, "POST", url, business).status_code == 404
    assert call(physician, "PATCH", f"{url}{tuned.pk}/", {"enabled": False}).status_code == 404
    assert call(keys["mso_admin"], "POST", url, clinical).status_code == 404
    made = call(physician, "POST", url, clinical)
    assert made.status_code == 201 and made.json()["thresholds"] == {"charting_hours": "48"}
    tuned.refresh_from_db()
    assert tuned.enabled and not RuleSetting.objects.filter(tenant=world.tenant, rule_id="FEE-002").exists()
    # every key reads the settings
    for capacity in keys.raw:
        assert str(tuned.pk) in ids_of(keys[capacity].get(url)), capacity
