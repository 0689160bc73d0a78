"""The compliance engine against real rule queries: findings upsert on their fingerprint, resolve
and reopen with the run that saw it, what people decide about them, thresholds and switches from the
tenant's settings, PC-scoped runs, committed progress, resumed runs, and the clinical wall.

The rules are test-only (tests/compliance_rules.py) and the registry holds only them during a test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, OperationalError, connection, connections, transaction
from django.http import Http404
from django.utils import timezone

from compliance import registry as registry_module
from compliance import selectors, services
from compliance.engine import execute_run, longest_first, rule_params
from compliance.models import (
    FINDING_FILLFACTOR,
    AuditRun,
    BusinessFinding,
    ClinicalFinding,
    Finding,
    FindingStatus,
    RuleSetting,
)
from compliance.registry import REGISTRY, Rule, RuleInput, Severity
from compliance.tasks import audit_after_change, audit_all_tenants, audit_on_demand, audit_tenant
from management.models import BusinessAssociateAgreement, FeeBasis, ManagementServicesAgreement, Vendor
from management.services import agreements as agreement_services
from mso_platform import celery_app
from mso_platform.db import boundary
from tenants.access import AccessContext, reset_identity
from tenants.audit import chain_verify
from tenants.models import AuditLogEntry
from tests import factories
from tests.compliance_rules import (
    BROKEN_RULE,
    CHART_RULE,
    CRITICAL_RULE,
    MSA_LABEL,
    MSA_RULE,
    VENDOR_RULE,
    _rule,
    all_test_rules,
    vendors_without_baa,
)
from tests.worlds import World, build_world

pytestmark = pytest.mark.django_db

Act = Callable[[AccessContext], AbstractContextManager[None]]
TODAY = timezone.localdate()


@pytest.fixture
def rules(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Rule]]:
    """A registry of the test rules alone (the real rule modules are not imported)."""
    test_rules = {r.id: r for r in all_test_rules()}
    monkeypatch.setattr(REGISTRY, "rules", dict(test_rules))
    monkeypatch.setattr(registry_module, "RULE_MODULES", ())
    yield test_rules


@pytest.fixture
def eager() -> Iterator[None]:
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


def new_run(
    world: World, *rule_ids: str, pc_ids: list[Any] | None = None, as_of: dt.date = TODAY
) -> AuditRun:
    run, created = services.run_create(
        tenant=world.tenant,
        trigger=AuditRun.Trigger.ON_DEMAND,
        key=f"test:{uuid.uuid4()}",
        rule_ids=list(rule_ids),
        pc_ids=pc_ids,
        as_of=as_of,
    )
    assert created
    return run


def audit(world: World, *rule_ids: str, pc_ids: list[Any] | None = None, as_of: dt.date = TODAY) -> AuditRun:
    return execute_run(world.tenant, new_run(world, *rule_ids, pc_ids=pc_ids, as_of=as_of).pk)


def phi_vendor(world: World, **kw: Any) -> Vendor:
    return factories.VendorFactory.create(tenant=world.tenant, **kw)


def bad_msa(world: World, pc_index: int) -> ManagementServicesAgreement:
    return factories.MsaFactory.create(
        tenant=world.tenant, mso_entity=world.entity, pc=world.pcs[pc_index], dispute_resolution_clause=False
    )


def add_flaky_rule(rules: dict[str, Rule]) -> list[int]:
    """Register "ZZ-FLAKY": the vendor rule, whose first evaluation loses its connection. Returns
    the list its evaluations append to."""
    calls: list[int] = []

    def flaky(q: RuleInput) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return vendors_without_baa(q)

    REGISTRY.add(_rule("ZZ-FLAKY", flaky, scoped_by_pc=False, thresholds=rules[VENDOR_RULE].thresholds))
    return calls


def business(world: World, rule_id: str) -> dict[Any, BusinessFinding]:
    return {f.object_id: f for f in BusinessFinding.objects.filter(tenant=world.tenant, rule_id=rule_id)}


def as_role(role: str, tenant_id: Any) -> None:
    with connection.cursor() as cur:
        cur.execute(f"SET LOCAL ROLE {role}")
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id)])


# --- upsert, resolve, reopen ---------------------------------------------------------------------


def test_a_first_run_creates_findings_and_a_rerun_updates_them_without_duplicates(
    world_a: World, rules: dict[str, Rule]
) -> None:
    v1, v2 = phi_vendor(world_a), phi_vendor(world_a)
    covered = phi_vendor(world_a)
    factories.BusinessAssociateAgreementFactory.create(tenant=world_a.tenant, vendor=covered)
    phi_vendor(world_a, handles_phi=False)
    factories.VendorFactory.create(tenant=factories.TenantFactory.create())  # another tenant's

    first = audit(world_a, VENDOR_RULE)
    assert (first.status, first.rules_done, first.rules_total, first.error) == ("done", 1, 1, "")
    found = business(world_a, VENDOR_RULE)
    assert set(found) == {v1.pk, v2.pk}
    f1 = found[v1.pk]
    assert (f1.object_type, f1.discriminator, f1.status, f1.severity) == (
        "management.Vendor",
        "",
        "open",
        "high",
    )
    expected = hashlib.md5(f"{VENDOR_RULE}|management.Vendor|{v1.pk}|".encode()).hexdigest()  # noqa: S324
    assert f1.fingerprint == expected
    assert f1.evidence["name"] == v1.name and f1.evidence["service"] == v1.service
    assert f1.first_seen_run_id == f1.last_seen_run_id == first.pk and f1.resolved_at is None
    assert (f1.pc_id, f1.location_id) == (None, None)
    assert first.stats[VENDOR_RULE] | {"ms": 0} == {"ms": 0, "seen": 2, "new": 2, "resolved": 0, "expired": 0}
    assert first.counts["business"]["open"] == {"high": 2}

    v1.name = "Renamed EHR Inc."
    v1.save()
    second = audit(world_a, VENDOR_RULE)
    again = business(world_a, VENDOR_RULE)
    assert BusinessFinding.objects.filter(tenant=world_a.tenant).count() == 2
    assert {f.pk for f in again.values()} == {f.pk for f in found.values()}  # the same rows
    f1_now = again[v1.pk]
    assert f1_now.first_seen_run_id == first.pk and f1_now.last_seen_run_id == second.pk
    assert f1_now.last_seen_at > f1.last_seen_at and f1_now.first_seen_at == f1.first_seen_at
    assert f1_now.evidence["name"] == "Renamed EHR Inc."  # evidence follows the data
    assert second.stats[VENDOR_RULE]["new"] == 0 and second.stats[VENDOR_RULE]["seen"] == 2

    # Written under the business role as the system, and a re-run that only saw them again is not
    # an audited change; the evidence that changed is.
    logged = AuditLogEntry.objects.filter(tenant=world_a.tenant, object_type="compliance.business_finding")
    assert sorted(logged.values_list("action", "capacity")) == [
        ("insert", "system_business"),
        ("insert", "system_business"),
        ("update", "system_business"),
    ]
    assert logged.get(action="update").detail == {"changed": ["evidence", "last_seen_at", "last_seen_run_id"]}


def test_fixing_the_data_resolves_the_finding_with_that_run_and_breaking_it_again_reopens_it(
    world_a: World, rules: dict[str, Rule]
) -> None:
    vendor = phi_vendor(world_a)
    first = audit(world_a, VENDOR_RULE)
    finding = business(world_a, VENDOR_RULE)[vendor.pk]

    baa = factories.BusinessAssociateAgreementFactory.create(tenant=world_a.tenant, vendor=vendor)
    fixed = audit(world_a, VENDOR_RULE)
    finding.refresh_from_db()
    assert (finding.status, finding.resolved_by_run_id) == (FindingStatus.RESOLVED, fixed.pk)
    assert finding.resolved_at is not None and finding.last_seen_run_id == first.pk
    assert fixed.stats[VENDOR_RULE]["resolved"] == 1 and fixed.counts["business"]["open"] == {}

    audit(world_a, VENDOR_RULE)  # still fixed: stays resolved by the run that saw it gone
    finding.refresh_from_db()
    assert (finding.status, finding.resolved_by_run_id) == (FindingStatus.RESOLVED, fixed.pk)

    BusinessAssociateAgreement.objects.filter(pk=baa.pk).update(expires_on=TODAY - dt.timedelta(days=1))
    broken = audit(world_a, VENDOR_RULE)
    finding.refresh_from_db()
    assert (finding.status, finding.resolved_at, finding.resolved_by_run_id) == (
        FindingStatus.OPEN,
        None,
        None,
    )
    assert (finding.first_seen_run_id, finding.last_seen_run_id) == (first.pk, broken.pk)
    assert BusinessFinding.objects.filter(tenant=world_a.tenant).count() == 1


def updates_of(model: type[Finding], act: Callable[[], Any]) -> tuple[int, int]:
    """(updates, HOT updates) of `model`'s table while `act` runs, as PostgreSQL counts them in this
    transaction."""

    def counted() -> tuple[int, int]:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pg_stat_get_xact_tuples_updated(%s::regclass), "
                "pg_stat_get_xact_tuples_hot_updated(%s::regclass)",
                [model._meta.db_table] * 2,
            )
            updated, hot = cur.fetchone()
        return int(updated), int(hot)

    before = counted()
    act()
    after = counted()
    return after[0] - before[0], after[1] - before[1]


def test_a_finding_seen_again_is_rewritten_in_place_and_a_status_change_is_not(
    world_a: World, rules: dict[str, Rule]
) -> None:
    """A re-run writes only last_seen_at and last_seen_run_id on a finding it sees again. No index
    covers them and the findings tables keep half of each page free (migration 0003), so PostgreSQL
    updates the row in place (HOT: no new entry in any index); a resolve changes an indexed column."""
    for model in (BusinessFinding, ClinicalFinding):
        with connection.cursor() as cur:
            cur.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
            assert cur.fetchone()[0] == [f"fillfactor={FINDING_FILLFACTOR}"], model
    vendor = phi_vendor(world_a)
    audit(world_a, VENDOR_RULE)
    assert updates_of(BusinessFinding, lambda: audit(world_a, VENDOR_RULE)) == (1, 1)

    factories.BusinessAssociateAgreementFactory.create(tenant=world_a.tenant, vendor=vendor)
    assert updates_of(BusinessFinding, lambda: audit(world_a, VENDOR_RULE)) == (1, 0)
    assert business(world_a, VENDOR_RULE)[vendor.pk].status == FindingStatus.RESOLVED


def test_a_pc_scoped_run_touches_only_that_pcs_findings(world_a: World, rules: dict[str, Rule]) -> None:
    msa0, msa1 = bad_msa(world_a, 0), bad_msa(world_a, 1)
    full = audit(world_a, MSA_RULE)
    assert {f.pc_id for f in business(world_a, MSA_RULE).values()} == {world_a.pcs[0].pk, world_a.pcs[1].pk}

    ManagementServicesAgreement.objects.filter(pk__in=[msa0.pk, msa1.pk]).update(
        dispute_resolution_clause=True
    )
    late = bad_msa(world_a, 1)  # a new problem on the other PC
    scoped = audit(world_a, MSA_RULE, pc_ids=[world_a.pcs[0].pk])
    found = business(world_a, MSA_RULE)
    assert (found[msa0.pk].status, found[msa0.pk].resolved_by_run_id) == ("resolved", scoped.pk)
    # The other PC is not looked at: its fixed MSA stays open until a run covers it, the new one unseen.
    assert (found[msa1.pk].status, found[msa1.pk].last_seen_run_id) == ("open", full.pk)
    assert late.pk not in found
    assert scoped.pc_ids == [world_a.pcs[0].pk]

    audit(world_a, MSA_RULE)
    found = business(world_a, MSA_RULE)
    assert (found[msa1.pk].status, found[late.pk].status) == ("resolved", "open")


# --- what people decide --------------------------------------------------------------------------


def test_acknowledge_accept_risk_expiry_and_reopen(
    world_a: World, rules: dict[str, Rule], as_ctx: Act
) -> None:
    v1, v2 = phi_vendor(world_a), phi_vendor(world_a)
    audit(world_a, VENDOR_RULE)
    found = business(world_a, VENDOR_RULE)
    admin = world_a.ctx("mso_admin")

    with as_ctx(admin):
        with pytest.raises(ValidationError) as no_reason:
            services.finding_acknowledge(ctx=admin, finding=found[v1.pk], reason="   ")
        assert no_reason.value.message_dict == {"reason": ["Give the reason."]}
        ack = services.finding_acknowledge(ctx=admin, finding=found[v1.pk], reason="BAA out for signature")
    assert (ack.status, ack.status_reason, ack.status_by_id) == (
        "acknowledged",
        "BAA out for signature",
        world_a.user("mso_admin").pk,
    )

    until = TODAY + dt.timedelta(days=30)
    with as_ctx(admin):
        for reason, day, field in [
            ("", until, "reason"),
            ("low risk", TODAY, "until"),
            ("low risk", TODAY + dt.timedelta(days=400), "until"),
        ]:
            with pytest.raises(ValidationError) as refused:
                services.finding_accept_risk(ctx=admin, finding=found[v2.pk], reason=reason, until=day)
            assert set(refused.value.message_dict) == {field}
        accepted = services.finding_accept_risk(
            ctx=admin, finding=found[v2.pk], reason="low volume", until=until
        )
    assert (accepted.status, accepted.accepted_until) == ("accepted_risk", until)
    staff = world_a.ctx("mso_staff")
    with as_ctx(staff), pytest.raises(PermissionDenied):
        services.finding_accept_risk(ctx=staff, finding=found[v1.pk], reason="x", until=until)
    with pytest.raises(IntegrityError), transaction.atomic():  # PostgreSQL wants the reason too
        BusinessFinding.objects.filter(pk=found[v2.pk].pk).update(status_reason="")

    # Re-runs keep people's decisions; the run after the acceptance ends opens the finding again.
    during = audit(world_a, VENDOR_RULE, as_of=until)
    assert during.counts["business"] | {"at": ""} == {
        "at": "",
        "open": {},
        "acknowledged": {"high": 1},
        "accepted_risk": {"high": 1},
    }
    after = audit(world_a, VENDOR_RULE, as_of=until + dt.timedelta(days=1))
    found = business(world_a, VENDOR_RULE)
    assert found[v1.pk].status == "acknowledged"
    expired = found[v2.pk]
    assert (expired.status, expired.accepted_until, expired.status_by_id) == ("open", None, None)
    assert expired.status_reason == f"Risk acceptance expired after {until.isoformat()}"
    assert after.stats[VENDOR_RULE]["expired"] == 1

    with as_ctx(admin):
        reopened = services.finding_reopen(ctx=admin, finding=found[v1.pk])
        assert reopened.status == "open"
        with pytest.raises(ValidationError):
            services.finding_reopen(ctx=admin, finding=found[v1.pk])  # already open

    factories.BusinessAssociateAgreementFactory.create(tenant=world_a.tenant, vendor=v1)
    audit(world_a, VENDOR_RULE)
    with as_ctx(admin), pytest.raises(ValidationError, match="resolved"):
        services.finding_acknowledge(ctx=admin, finding=business(world_a, VENDOR_RULE)[v1.pk], reason="late")


def test_a_critical_finding_is_not_accepted_as_a_risk_and_other_tenants_findings_are_404(
    world_a: World, world_b: World, rules: dict[str, Rule], as_ctx: Act
) -> None:
    bad_msa(world_a, 0)
    bad_msa(world_b, 0)
    audit(world_a, CRITICAL_RULE)
    audit(world_b, CRITICAL_RULE)
    mine = BusinessFinding.objects.get(tenant=world_a.tenant)
    theirs = BusinessFinding.objects.get(tenant=world_b.tenant)
    assert mine.severity == Severity.CRITICAL
    admin = world_a.ctx("mso_admin")
    with as_ctx(admin):
        with pytest.raises(ValidationError, match="critical"):
            services.finding_accept_risk(
                ctx=admin, finding=mine, reason="x", until=TODAY + dt.timedelta(days=3)
            )
        with pytest.raises(Http404):
            services.finding_acknowledge(ctx=admin, finding=theirs, reason="not mine")
        with pytest.raises(Http404):
            selectors.finding_get(admin, "business", theirs.pk)
        assert selectors.finding_get(admin, "business", mine.pk) == mine
    theirs.refresh_from_db()
    assert theirs.status == "open"


# --- the tenant's settings -----------------------------------------------------------------------


def test_thresholds_come_from_the_tenants_setting_within_their_bounds(
    world_a: World, rules: dict[str, Rule], as_ctx: Act
) -> None:
    cheap, dear = (
        phi_vendor(world_a, fee_amount=Decimal("1200.00")),
        phi_vendor(world_a, fee_amount=Decimal("9000")),
    )
    audit(world_a, VENDOR_RULE)
    assert set(business(world_a, VENDOR_RULE)) == {cheap.pk, dear.pk}

    admin = world_a.ctx("mso_admin")
    with as_ctx(admin):
        setting = services.rule_setting_update(
            ctx=admin, rule_id=VENDOR_RULE, thresholds={"minimum_fee": "5000"}
        )
        for bad in (
            {"minimum_fee": "-1"},
            {"minimum_fee": "100001"},
            {"minimum_fee": "abc"},
            {"minimum_fee": True},
        ):
            with pytest.raises(ValidationError) as refused:
                services.rule_setting_update(ctx=admin, rule_id=VENDOR_RULE, thresholds=bad)
            assert set(refused.value.message_dict) == {"thresholds"}
        with pytest.raises(ValidationError, match="no threshold"):
            services.rule_setting_update(ctx=admin, rule_id=VENDOR_RULE, thresholds={"nope": 1})
        with pytest.raises(ValidationError, match="Unknown rule"):
            services.rule_setting_update(ctx=admin, rule_id="NOPE-001", enabled=True)
    setting.refresh_from_db()
    assert setting.thresholds == {"minimum_fee": "5000"}  # the refusals wrote nothing
    assert rule_params(rules[VENDOR_RULE], setting) == {"minimum_fee": Decimal("5000")}

    tuned = audit(world_a, VENDOR_RULE)
    found = business(world_a, VENDOR_RULE)
    assert (found[cheap.pk].status, found[cheap.pk].resolved_by_run_id) == ("resolved", tuned.pk)
    assert found[dear.pk].status == "open"

    with as_ctx(admin):
        services.rule_setting_update(ctx=admin, rule_id=VENDOR_RULE, thresholds={"minimum_fee": None})
    assert RuleSetting.objects.get(tenant=world_a.tenant, rule_id=VENDOR_RULE).thresholds == {}
    audit(world_a, VENDOR_RULE)
    assert business(world_a, VENDOR_RULE)[cheap.pk].status == "open"  # back to the default


def test_who_may_tune_which_rule(world_a: World, rules: dict[str, Rule], as_ctx: Act) -> None:
    for capacity, rule_id in [
        ("mso_staff", VENDOR_RULE),  # not tenant-wide
        ("auditor", VENDOR_RULE),  # read-only
        ("pc_physician", VENDOR_RULE),  # business policy is the MSO's
        ("mso_admin", CHART_RULE),  # clinical policy is the PC's (CPOM)
        ("clinician", CHART_RULE),
    ]:
        ctx = world_a.ctx(capacity)
        with as_ctx(ctx), pytest.raises(PermissionDenied):
            services.rule_setting_update(ctx=ctx, rule_id=rule_id, enabled=False)
    physician = world_a.ctx("pc_physician")
    with as_ctx(physician):
        services.rule_setting_update(ctx=physician, rule_id=CHART_RULE, enabled=False)
    compliance_officer = world_a.ctx("mso_compliance")
    with as_ctx(compliance_officer):
        services.rule_setting_update(ctx=compliance_officer, rule_id=MSA_RULE, enabled=False)
    assert set(
        RuleSetting.objects.filter(tenant=world_a.tenant, enabled=False).values_list("rule_id", flat=True)
    ) == {
        CHART_RULE,
        MSA_RULE,
    }


def test_a_critical_rule_cannot_be_switched_off_and_a_switched_off_rule_is_skipped(
    world_a: World, rules: dict[str, Rule], as_ctx: Act
) -> None:
    bad_msa(world_a, 0)
    admin = world_a.ctx("mso_admin")
    with as_ctx(admin):
        with pytest.raises(ValidationError) as refused:
            services.rule_setting_update(ctx=admin, rule_id=CRITICAL_RULE, enabled=False)
        assert refused.value.message_dict == {"enabled": [f"{CRITICAL_RULE} is critical: it stays on."]}
        services.rule_setting_update(ctx=admin, rule_id=MSA_RULE, enabled=False)
    # PostgreSQL refuses it too, whoever writes the row.
    with pytest.raises(IntegrityError, match="critical_rule_stays_on"), transaction.atomic():
        RuleSetting.objects.create(tenant=world_a.tenant, rule_id=CRITICAL_RULE, critical=True, enabled=False)

    assert services.planned_rules(world_a.tenant, [rules[MSA_RULE], rules[CRITICAL_RULE]]) == [CRITICAL_RULE]
    run = audit(world_a, MSA_RULE, CRITICAL_RULE)  # a run planned before the switch skips it
    assert run.stats[MSA_RULE] == {"skipped": "disabled"}
    assert (run.status, run.rules_done) == ("done", 2)
    assert set(BusinessFinding.objects.filter(tenant=world_a.tenant).values_list("rule_id", flat=True)) == {
        CRITICAL_RULE
    }


# --- runs: progress, resume, failures ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_progress_is_committed_after_each_rule_so_another_connection_sees_it_advance(
    rules: dict[str, Rule],
) -> None:
    world = build_world("alpha")
    phi_vendor(world)
    bad_msa(world, 0)
    run = new_run(world, VENDOR_RULE, MSA_RULE, CHART_RULE, CRITICAL_RULE)
    observer = connections.create_connection("default")  # what a polling page reads: committed rows
    seen: list[tuple[Any, ...]] = []

    def look(_run: AuditRun, rule: Rule) -> None:
        with observer.cursor() as cur:
            cur.execute(
                f"SELECT status, rules_done, rules_total, done_rule_ids, counts ? 'clinical' "
                f"FROM {AuditRun._meta.db_table} WHERE id = %s",
                [run.pk],
            )
            seen.append(cur.fetchone())

    try:
        done = execute_run(world.tenant, run.pk, on_rule_done=look, workers=1)  # in the planned order
    finally:
        observer.close()
    assert seen == [
        ("running", 1, 4, [VENDOR_RULE], False),
        ("running", 2, 4, [VENDOR_RULE, MSA_RULE], False),
        ("running", 3, 4, [VENDOR_RULE, MSA_RULE, CHART_RULE], True),
        ("running", 4, 4, [VENDOR_RULE, MSA_RULE, CHART_RULE, CRITICAL_RULE], True),
    ]
    assert (done.status, done.percent, done.attempts) == ("done", 100, 1)
    assert done.started_at is not None and done.finished_at is not None and done.finished_at > done.started_at


@pytest.mark.django_db(transaction=True)
def test_rules_evaluated_at_once_on_their_own_connections_give_the_findings_of_one_at_a_time(
    rules: dict[str, Rule], monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world("alpha")
    vendors = {phi_vendor(world).pk, phi_vendor(world).pk}
    msa = bad_msa(world, 0)
    factories.PatientChartFactory.create(tenant=world.tenant, pc=world.pcs[0])
    ids = (VENDOR_RULE, MSA_RULE, CHART_RULE, CRITICAL_RULE)
    main_backend = connection.cursor().connection.info.backend_pid
    backends: dict[str, tuple[int, str]] = {}
    for rule_id in ids:
        query = REGISTRY.rules[rule_id].query

        def where(q: RuleInput, rule_id: str = rule_id, query: Any = query) -> Any:
            backends[rule_id] = (
                connection.cursor().connection.info.backend_pid,
                threading.current_thread().name,
            )
            return query(q)

        monkeypatch.setitem(
            REGISTRY.rules, rule_id, dataclasses.replace(REGISTRY.rules[rule_id], query=where)
        )

    at_once = execute_run(world.tenant, new_run(world, *ids).pk, workers=2)
    assert (at_once.status, at_once.rules_done, at_once.rules_total) == ("done", 4, 4)
    assert sorted(at_once.done_rule_ids) == sorted(ids) and set(at_once.stats) == set(ids)
    # Two connections of their own, neither the caller's, each used by one worker thread.
    assert {name for _, name in backends.values()} <= {"audit-rule-0", "audit-rule-1"}
    assert len({pid for pid, _ in backends.values()}) == 2 and main_backend not in {
        p for p, _ in backends.values()
    }
    found = {
        (f.rule_id, f.object_id, f.last_seen_run_id)
        for f in BusinessFinding.objects.filter(tenant=world.tenant, status=FindingStatus.OPEN)
    }
    clinical_at_once = set(
        ClinicalFinding.objects.filter(tenant=world.tenant).values_list("rule_id", "object_id")
    )

    one_by_one = execute_run(world.tenant, new_run(world, *ids).pk, workers=1)
    assert (one_by_one.status, one_by_one.done_rule_ids) == ("done", list(ids))
    again = {
        (f.rule_id, f.object_id, f.last_seen_run_id)
        for f in BusinessFinding.objects.filter(tenant=world.tenant, status=FindingStatus.OPEN)
    }
    assert {(r, o) for r, o, _ in found} == {(r, o) for r, o, _ in again}
    assert {(r, o) for r, o, _ in found} >= {(VENDOR_RULE, v) for v in vendors} | {(MSA_RULE, msa.pk)}
    assert {run for _, _, run in found} == {at_once.pk} and {run for _, _, run in again} == {one_by_one.pk}
    assert clinical_at_once and clinical_at_once == set(
        ClinicalFinding.objects.filter(tenant=world.tenant).values_list("rule_id", "object_id")
    )
    # Every finding written at once is in the tenant's audit chain, which still verifies.
    checked, broken = chain_verify(world.tenant.pk)
    assert broken is None and checked > len(found)


@pytest.mark.django_db(transaction=True)
def test_a_connection_error_in_one_worker_stops_the_run_for_a_retry_that_resumes_it(
    rules: dict[str, Rule],
) -> None:
    world = build_world("alpha")
    phi_vendor(world)
    bad_msa(world, 1)
    add_flaky_rule(rules)
    run = new_run(world, "ZZ-FLAKY", VENDOR_RULE, MSA_RULE, CHART_RULE)
    with pytest.raises(OperationalError):
        execute_run(world.tenant, run.pk, workers=2)
    run.refresh_from_db()
    assert run.status == "running" and "ZZ-FLAKY" not in run.done_rule_ids

    resumed = execute_run(world.tenant, run.pk, workers=2)
    assert (resumed.status, resumed.rules_done, resumed.attempts) == ("done", 4, 2)
    assert sorted(resumed.done_rule_ids) == sorted(["ZZ-FLAKY", VENDOR_RULE, MSA_RULE, CHART_RULE])
    assert len(resumed.done_rule_ids) == 4  # each rule recorded once
    assert BusinessFinding.objects.filter(tenant=world.tenant, rule_id="ZZ-FLAKY").count() == 1


def test_a_run_starts_with_the_rules_that_took_longest_last_time(
    world_a: World, rules: dict[str, Rule]
) -> None:
    ids = [VENDOR_RULE, MSA_RULE, CHART_RULE, CRITICAL_RULE]
    listed = [rules[r] for r in ids]
    assert [r.id for r in longest_first(world_a.tenant, listed)] == ids  # nothing timed yet: as planned
    last = audit(world_a, *ids)
    AuditRun.objects.filter(pk=last.pk).update(
        stats={VENDOR_RULE: {"ms": 5}, MSA_RULE: {"ms": 900}, CHART_RULE: {"skipped": "disabled"}}
    )
    change = new_run(world_a, *ids, pc_ids=[world_a.pcs[0].pk])  # a change run's times say nothing
    AuditRun.objects.filter(pk=change.pk).update(
        status="done", finished_at=timezone.now(), stats={VENDOR_RULE: {"ms": 10_000}}
    )
    # Never timed first (CHART_RULE was skipped, CRITICAL_RULE absent), then the slowest.
    assert [r.id for r in longest_first(world_a.tenant, listed)] == [
        CHART_RULE,
        CRITICAL_RULE,
        MSA_RULE,
        VENDOR_RULE,
    ]


def test_the_engine_takes_the_audit_chain_lock_of_the_trigger() -> None:
    assert f"pg_advisory_xact_lock({boundary.AUDIT_CHAIN_LOCK}, hashtext(COALESCE(NEW.tenant_id::text" in (
        boundary.AUDIT_CHAIN_SQL
    )


def test_a_retried_run_resumes_after_its_last_recorded_rule_and_duplicates_nothing(
    world_a: World, rules: dict[str, Rule]
) -> None:
    phi_vendor(world_a)
    phi_vendor(world_a)
    bad_msa(world_a, 1)
    calls = add_flaky_rule(rules)
    run = new_run(world_a, VENDOR_RULE, "ZZ-FLAKY", MSA_RULE)

    with pytest.raises(OperationalError):  # the task retries on this
        execute_run(world_a.tenant, run.pk)
    run.refresh_from_db()
    assert (run.status, run.rules_done, run.done_rule_ids, run.attempts) == ("running", 1, [VENDOR_RULE], 1)
    first_vendor_stats = run.stats[VENDOR_RULE]

    resumed = execute_run(world_a.tenant, run.pk)
    assert (resumed.status, resumed.rules_done, resumed.attempts) == ("done", 3, 2)
    assert resumed.done_rule_ids == [VENDOR_RULE, "ZZ-FLAKY", MSA_RULE]
    assert resumed.stats[VENDOR_RULE] == first_vendor_stats  # not evaluated again
    counts = {
        r: BusinessFinding.objects.filter(rule_id=r).count() for r in (VENDOR_RULE, "ZZ-FLAKY", MSA_RULE)
    }
    assert counts == {VENDOR_RULE: 2, "ZZ-FLAKY": 2, MSA_RULE: 1}

    again = execute_run(world_a.tenant, run.pk)  # a late redelivery of a finished run does nothing
    assert (again.attempts, again.finished_at) == (2, resumed.finished_at)
    assert len(calls) == 2


def test_a_broken_rule_fails_the_run_but_keeps_the_other_rules_findings(
    world_a: World, rules: dict[str, Rule]
) -> None:
    phi_vendor(world_a)
    run = audit(world_a, BROKEN_RULE, VENDOR_RULE, "ZZ-GONE")
    assert run.status == "failed" and run.error == f"Rules that failed: {BROKEN_RULE}, ZZ-GONE"
    assert run.stats[BROKEN_RULE]["error"].startswith("DataError: division by zero")
    assert BusinessFinding.objects.filter(tenant=world_a.tenant, rule_id=VENDOR_RULE).count() == 1
    assert not BusinessFinding.objects.filter(rule_id=BROKEN_RULE).exists()


# --- the clinical wall ---------------------------------------------------------------------------


def test_clinical_findings_are_walled_off_by_postgresql_and_the_mso_sees_only_counts(
    world_a: World, rules: dict[str, Rule], as_ctx: Act
) -> None:
    phi_vendor(world_a)
    run = audit(world_a, CHART_RULE, VENDOR_RULE)
    assert ClinicalFinding._meta.db_table == '"clinical"."compliance_finding"'
    charts = {f.object_id: f for f in ClinicalFinding.objects.filter(tenant=world_a.tenant)}
    assert set(charts) == {c.pk for c in world_a.charts}
    first = charts[world_a.charts[0].pk]
    assert (first.pc_id, first.location_id) == (world_a.pcs[0].pk, world_a.locations[0].pk)
    assert run.stats[CHART_RULE] == {"ms": run.stats[CHART_RULE]["ms"]}  # no clinical detail on the run
    inserts = AuditLogEntry.objects.filter(object_type="clinical.compliance_finding", action="insert")
    assert set(inserts.values_list("capacity", flat=True)) == {"system_clinical"}

    # PostgreSQL: the business role cannot even name the table; the clinical role reads its tenant's.
    for role in (boundary.BUSINESS_ROLE, boundary.AUDITOR_ROLE):
        with pytest.raises(DatabaseError, match="permission denied for schema clinical"):
            with transaction.atomic():
                as_role(role, world_a.tenant.pk)
                with connection.cursor() as cur:
                    cur.execute(f"SELECT count(*) FROM {ClinicalFinding._meta.db_table}")
    with transaction.atomic():
        as_role(boundary.CLINICAL_ROLE, world_a.tenant.pk)
        with connection.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {ClinicalFinding._meta.db_table}")
            assert cur.fetchone()[0] == 2
        reset_identity()

    admin = world_a.ctx("mso_admin")
    with as_ctx(admin):
        assert list(selectors.finding_list(admin, "clinical")) == []
        with pytest.raises(Http404):
            selectors.finding_get(admin, "clinical", first.pk)
        counts = selectors.severity_counts(admin)
    assert counts["clinical"] == {"open": {"high": 2}, "acknowledged": {}, "accepted_risk": {}}
    assert counts["business"]["open"] == {"high": 1}
    assert counts["clinical_as_of"] == run.counts["clinical"]["at"]

    physician = world_a.ctx("pc_physician")  # granted the first PC only
    reads = AuditLogEntry.objects.filter(action="read", object_type="clinical.compliance_finding")
    with as_ctx(physician):
        mine = list(selectors.finding_list(physician, "clinical", status="open", severity="high"))
        assert [f.pk for f in mine] == [first.pk]
        assert reads.filter(object_id=str(first.pk)).count() == 1  # shown, so logged as read
        acknowledged = services.finding_acknowledge(ctx=physician, finding=first, reason="exam booked")
        assert selectors.severity_counts(physician)["clinical"]["acknowledged"] == {"high": 1}
        with pytest.raises(ValidationError):
            list(selectors.finding_list(physician, "clinical", status="bogus"))
    assert acknowledged.status_by_id == world_a.user("pc_physician").pk


# --- requests, tasks and triggers ----------------------------------------------------------------


def test_audit_request_is_idempotent_scoped_and_runs_on_commit(
    world_a: World, rules: dict[str, Rule], as_ctx: Act, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    phi_vendor(world_a)
    admin = world_a.ctx("mso_admin")
    with as_ctx(admin), django_capture_on_commit_callbacks() as queued:
        run = services.audit_request(ctx=admin, rule_ids=[VENDOR_RULE.lower()], idempotency_key="click-1")
        assert services.audit_request(ctx=admin, rule_ids=[VENDOR_RULE], idempotency_key="click-1") == run
    assert len(queued) == 1  # the double click queued one run
    assert (run.status, run.trigger, run.rule_ids, run.rules_total) == (
        "queued",
        "on_demand",
        [VENDOR_RULE],
        1,
    )
    assert run.requested_by_id == world_a.user("mso_admin").pk and run.pc_ids is None

    # The task the commit queues (run in-process here) executes that run.
    queued[0]()
    run.refresh_from_db()
    assert (run.status, run.rules_done) == ("done", 1)
    with as_ctx(admin):
        progress = selectors.run_progress(admin, run.pk)
    assert (progress["status"], progress["percent"], progress["rules_done"]) == ("done", 100, 1)

    staff, auditor = world_a.ctx("mso_staff"), world_a.ctx("auditor")
    with as_ctx(staff):
        with pytest.raises(ValidationError, match="Choose the PCs"):
            services.audit_request(ctx=staff)
        with pytest.raises(ValidationError) as outside:
            services.audit_request(ctx=staff, pcs=[world_a.pcs[1]])
        assert set(outside.value.message_dict) == {"pcs"}
        with pytest.raises(ValidationError, match="Unknown rule"):
            services.audit_request(ctx=staff, pcs=[world_a.pcs[0]], rule_ids=["NOPE-1"])
        mine = services.audit_request(ctx=staff, pcs=[world_a.pcs[0]])
    assert mine.pc_ids == [world_a.pcs[0].pk] and sorted(mine.rule_ids) == sorted(rules)
    with as_ctx(auditor), pytest.raises(PermissionDenied):
        services.audit_request(ctx=auditor)


def test_saving_an_msa_or_an_invoice_reaudits_that_pc_with_the_rules_it_triggers(
    world_a: World, rules: dict[str, Rule], as_ctx: Act, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    admin = world_a.ctx("mso_admin")
    pc = world_a.pcs[1]
    with as_ctx(admin), django_capture_on_commit_callbacks(execute=True) as queued:
        msa = agreement_services.msa_create(
            ctx=admin,
            mso_entity=world_a.entity,
            pc=pc,
            effective_date=TODAY - dt.timedelta(days=30),
            end_date=TODAY + dt.timedelta(days=700),
            fee_basis=FeeBasis.FIXED_MONTHLY,
            fee_amount=Decimal("40000.00"),
            services=["payroll", "billing"],
            dispute_resolution_clause=False,
        )
    assert len(queued) == 1
    run = AuditRun.objects.get(tenant=world_a.tenant, trigger="change")
    assert (run.status, run.pc_ids, run.change_label, run.rule_ids) == (
        "done",
        [pc.pk],
        MSA_LABEL,
        [MSA_RULE],
    )
    finding = BusinessFinding.objects.get(tenant=world_a.tenant, rule_id=MSA_RULE)
    assert (finding.object_id, finding.pc_id, finding.first_seen_run_id) == (msa.pk, pc.pk, run.pk)

    with as_ctx(admin), django_capture_on_commit_callbacks(execute=True) as queued:
        agreement_services.msa_update(ctx=admin, msa=msa, dispute_resolution_clause=True)
        agreement_services.fee_invoice_create(
            ctx=admin,
            msa=msa,
            number="INV-7",
            period_start=TODAY,
            period_end=TODAY,
            amount=Decimal("40000.00"),
        )
    assert len(queued) == 2
    finding.refresh_from_db()
    assert finding.status == "resolved"
    # No test rule is triggered by invoices: that change created no run at all.
    assert AuditRun.objects.filter(tenant=world_a.tenant, trigger="change").count() == 2

    # An MSA moved to another PC: one run re-checks both, and the finding follows the MSA.
    with as_ctx(admin), django_capture_on_commit_callbacks(execute=True) as queued:
        agreement_services.msa_update(ctx=admin, msa=msa, pc=world_a.pcs[0], dispute_resolution_clause=False)
    assert len(queued) == 1
    moved = AuditRun.objects.filter(tenant=world_a.tenant, trigger="change").order_by("-created_at").first()
    assert moved is not None and set(moved.pc_ids or []) == {world_a.pcs[0].pk, pc.pk}
    finding.refresh_from_db()
    assert (finding.status, finding.pc_id, finding.last_seen_run_id) == ("open", world_a.pcs[0].pk, moved.pk)

    # An update of fields no rule triggered by MSAs reads (ZZ-MSA reads the clause, PC and title):
    # the task runs and finds no rule to re-run. The title is read: a run again.
    with as_ctx(admin), django_capture_on_commit_callbacks(execute=True) as queued:
        agreement_services.msa_update(ctx=admin, msa=msa, currency="EUR", signed_on=TODAY)
    assert len(queued) == 1
    assert AuditRun.objects.filter(tenant=world_a.tenant, trigger="change").count() == 3
    with as_ctx(admin), django_capture_on_commit_callbacks(execute=True) as queued:
        agreement_services.msa_update(ctx=admin, msa=msa, title="Renamed MSA")
    retitled = (
        AuditRun.objects.filter(tenant=world_a.tenant, trigger="change").order_by("-created_at").first()
    )
    assert retitled is not None and retitled.pk != moved.pk and retitled.rule_ids == [MSA_RULE]
    finding.refresh_from_db()
    assert (finding.evidence["title"], finding.last_seen_run_id) == ("Renamed MSA", retitled.pk)

    # A redelivered change message (same task id) reuses its run.
    first = audit_after_change.apply(
        kwargs={"tenant_id": str(world_a.tenant.pk), "pc_id": str(pc.pk), "model_label": MSA_LABEL},
        task_id="fixed-id",
    ).get()
    second = audit_after_change.apply(
        kwargs={"tenant_id": str(world_a.tenant.pk), "pc_id": str(pc.pk), "model_label": MSA_LABEL},
        task_id="fixed-id",
    ).get()
    assert first["run_id"] == second["run_id"]


def test_nightly_fan_out_queues_one_named_run_per_tenant_and_a_second_fan_out_reuses_it(
    world_a: World,
    world_b: World,
    rules: dict[str, Rule],
    eager: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    phi_vendor(world_a)
    del REGISTRY.rules[BROKEN_RULE]  # the registry is this test's copy
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True) as queued:
            assert audit_all_tenants() == 2
        assert len(queued) == 2
    runs = AuditRun.objects.filter(trigger="nightly")
    assert sorted(runs.values_list("tenant_id", flat=True)) == sorted([world_a.tenant.pk, world_b.tenant.pk])
    assert {r.idempotency_key for r in runs} == {f"nightly:{TODAY.isoformat()}"}
    assert all(r.status == "done" and r.attempts == 1 and r.rules_total == len(rules) - 1 for r in runs)
    assert BusinessFinding.objects.filter(tenant=world_a.tenant, rule_id=VENDOR_RULE).count() == 1

    entry = celery_app.conf.beat_schedule["audit-all-tenants-nightly"]
    assert entry["task"] == audit_all_tenants.name
    assert {t.name for t in (audit_tenant, audit_on_demand, audit_after_change)} <= set(celery_app.tasks)
    assert all(
        t.acks_late and t.reject_on_worker_lost for t in (audit_tenant, audit_on_demand, audit_after_change)
    )


def test_a_run_whose_task_gives_up_is_marked_failed(world_a: World, rules: dict[str, Rule]) -> None:
    run = new_run(world_a, VENDOR_RULE)
    audit_on_demand.on_failure(
        OperationalError("gone"),
        "task-1",
        (),
        {"tenant_id": str(world_a.tenant.pk), "run_id": str(run.pk)},
        None,
    )
    run.refresh_from_db()
    assert (run.status, run.error) == ("failed", "OperationalError: gone")
    assert execute_run(world_a.tenant, run.pk).attempts == 0  # a failed run is final
