"""Change runs narrowed to the changed rows (``Rule.narrows``, ``RuleInput.object_ids``).

A change run is given the written rows of one model. A rule that narrows by that model re-checks the
findings of those rows' objects alone: it finds a new violation in a changed row, resolves the finding
of a changed row whose cause is gone, and leaves every other finding as it was (even one whose cause
is gone too: the next full run resolves that). A rule that cannot narrow re-checks the rows' PCs.
Real rules on the ``clinic`` world (compliant with every clinical rule, see test_rules_clinical).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from clinical.models import ChartReview, Treatment, TreatmentProduct
from compliance.models import AuditRun, ClinicalFinding, Finding, FindingStatus
from compliance.registry import REGISTRY, KeysOf, Rule
from compliance.tasks import audit_after_change
from tests import factories as f
from tests.compliance_world import CLINICAL_RULE
from tests.test_rules_clinical import L, at, clinic, in_month, month_start, provider, today, treatment, update
from tests.worlds import World

pytestmark = pytest.mark.django_db

__all__ = ["clinic"]  # the fixture, shared with the clinical rule tests

TREATMENT = "clinical.Treatment"


def change_run(w: World, label: str, changed: Iterable[Any], pc_ids: Iterable[Any] | None = None) -> AuditRun:
    """``audit_after_change`` for the written rows `changed` of `label` (as its worker runs it)."""
    summary = audit_after_change(
        tenant_id=str(w.tenant.pk),
        model_label=label,
        pc_ids=[str(pk) for pk in pc_ids] if pc_ids is not None else None,
        object_ids=[str(pk) for pk in changed],
    )
    assert summary is not None and summary["status"] == "done", summary
    return AuditRun.objects.get(pk=summary["run_id"])


def open_findings(model: type[Finding], w: World, rule_id: str) -> dict[Any, Finding]:
    return {
        x.object_id: x
        for x in model.objects.filter(tenant=w.tenant, rule_id=rule_id).exclude(status=FindingStatus.RESOLVED)
    }


def late(t: Treatment) -> None:
    """Charted 73 hours after the treatment: a CHT-001 violation (72 hours by default)."""
    update(t, charted_at=t.performed_at + dt.timedelta(hours=73))


def on_time(t: Treatment) -> None:
    update(t, charted_at=t.performed_at + dt.timedelta(hours=2))


def test_every_narrowing_names_a_trigger_and_a_field_of_the_changed_model() -> None:
    narrowing = [r for r in REGISTRY.all() if r.narrows]
    assert {"GFE-001", "CHT-001", "CON-001", "DEL-001", "DEL-002", "DEL-003", "LIC-001", "SEP-002"} <= {
        r.id for r in narrowing
    }
    for item in narrowing:
        for label, via in item.narrows:
            assert label in item.triggers, (item.id, label)
            model = apps.get_model(label)
            if isinstance(via, KeysOf):
                assert callable(via.keys), (item.id, label)
                continue
            assert via == "pk" or model._meta.get_field(via).is_relation, (item.id, label, via)
    assert isinstance(REGISTRY.get("CHT-002").narrowing(TREATMENT), KeysOf)


def test_a_change_run_finds_a_new_violation_in_a_changed_row_and_nothing_outside_it(clinic: World) -> None:
    t0, t1 = treatment(clinic, 0), treatment(clinic, 1)
    late(t0)
    late(t1)  # a violation too, but not among the changed rows
    planted = open_findings(ClinicalFinding, clinic, CLINICAL_RULE)  # compliance_world's, on charts

    run = change_run(clinic, TREATMENT, [t0.pk], pc_ids=[t0.chart.pc_id])

    assert (run.trigger, run.change_label, run.pc_ids) == ("change", TREATMENT, [t0.chart.pc_id])
    assert "CHT-001" in run.rule_ids and run.stats["CHT-001"]["ms"] >= 0
    found = open_findings(ClinicalFinding, clinic, "CHT-001")
    assert set(found) == {t0.pk} | set(planted)
    assert (found[t0.pk].object_type, found[t0.pk].first_seen_run_id) == (TREATMENT, run.pk)
    # The findings the change did not concern were not re-checked: neither seen again nor resolved.
    for object_id, finding in planted.items():
        assert (found[object_id].status, found[object_id].last_seen_run_id) == (
            FindingStatus.OPEN,
            finding.last_seen_run_id,
        )


def test_a_change_run_resolves_a_changed_rows_finding_and_leaves_the_others_alone(clinic: World) -> None:
    t0, t1 = treatment(clinic, 0), treatment(clinic, 1)
    late(t0)
    late(t1)
    both = change_run(clinic, TREATMENT, [t0.pk, t1.pk])
    assert {t0.pk, t1.pk} <= set(open_findings(ClinicalFinding, clinic, "CHT-001"))
    planted = set(open_findings(ClinicalFinding, clinic, CLINICAL_RULE)) - {t0.pk, t1.pk}

    on_time(t0)
    on_time(t1)  # its cause is gone as well, but this change run is not about it
    fixed = change_run(clinic, TREATMENT, [t0.pk])

    findings = {
        x.object_id: x for x in ClinicalFinding.objects.filter(tenant=clinic.tenant, rule_id="CHT-001")
    }
    assert (findings[t0.pk].status, findings[t0.pk].resolved_by_run_id) == (FindingStatus.RESOLVED, fixed.pk)
    assert (findings[t1.pk].status, findings[t1.pk].last_seen_run_id) == (FindingStatus.OPEN, both.pk)
    assert set(open_findings(ClinicalFinding, clinic, "CHT-001")) == {t1.pk} | planted

    again = change_run(clinic, TREATMENT, [t1.pk])
    findings[t1.pk].refresh_from_db()
    assert (findings[t1.pk].status, findings[t1.pk].resolved_by_run_id) == (FindingStatus.RESOLVED, again.pk)
    assert set(open_findings(ClinicalFinding, clinic, "CHT-001")) == planted


def test_a_deleted_row_of_the_change_has_its_finding_resolved(clinic: World) -> None:
    chart = clinic.charts[0]
    t = f.TreatmentFactory.create(tenant=clinic.tenant, chart=chart, location=chart.home_location, notes="")
    change_run(clinic, TREATMENT, [t.pk])
    assert t.pk in open_findings(ClinicalFinding, clinic, "CHT-001")
    Treatment.objects.filter(pk=t.pk).delete()
    gone = change_run(clinic, TREATMENT, [t.pk])
    finding = ClinicalFinding.objects.get(tenant=clinic.tenant, rule_id="CHT-001", object_id=t.pk)
    assert (finding.status, finding.resolved_by_run_id) == (FindingStatus.RESOLVED, gone.pk)


def test_a_rule_that_cannot_narrow_re_checks_the_pcs_of_the_change(
    clinic: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same query without ``narrows``: the change run re-checks (and resolves within) the PCs."""
    t0, t1 = treatment(clinic, 0), treatment(clinic, 1)
    assert t0.chart.pc_id != t1.chart.pc_id
    by_pc: Rule = dataclasses.replace(REGISTRY.get("CHT-001"), id="ZZ-CHT-PC", narrows=())
    monkeypatch.setitem(REGISTRY.rules, by_pc.id, by_pc)
    late(t0)
    late(t1)

    run = change_run(clinic, TREATMENT, [t0.pk], pc_ids=[t1.chart.pc_id])

    assert by_pc.id in run.rule_ids
    assert set(open_findings(ClinicalFinding, clinic, by_pc.id)) == {t1.pk}  # the PC's, not the row's
    assert set(open_findings(ClinicalFinding, clinic, "CHT-001")) - {t0.pk, t1.pk} == set(
        open_findings(ClinicalFinding, clinic, CLINICAL_RULE)
    ) - {t0.pk, t1.pk}
    assert t0.pk in open_findings(ClinicalFinding, clinic, "CHT-001")  # narrowed: the changed row


def test_a_change_of_products_re_checks_their_treatments(clinic: World) -> None:
    """CHT-001 narrows a change of treatment products to the products' treatments (its objects)."""
    products = {p.treatment_id: p for p in TreatmentProduct.objects.filter(tenant=clinic.tenant)}
    t0, t1 = treatment(clinic, 0), treatment(clinic, 1)
    for t in (t0, t1):
        update(products[t.pk], lot_number=" ")

    run = change_run(clinic, "clinical.TreatmentProduct", [products[t0.pk].pk])

    assert "CHT-001" in run.rule_ids
    found = open_findings(ClinicalFinding, clinic, "CHT-001")
    assert t0.pk in found and t1.pk not in found
    assert found[t0.pk].evidence["product_and_lot_recorded"] is False


# --- CHT-002: findings are PC-months; a change re-checks the PC-months of the changed treatments ---


def month_key(month: dt.date) -> str:
    return month.strftime("%Y-%m")


def treated_in(w: World, month: dt.date, index: int = 0) -> list[Treatment]:
    """The treatments of PC `index` performed in `month` (local dates)."""
    end = month_start(month, -1)
    return list(
        Treatment.objects.filter(
            tenant=w.tenant,
            chart__pc=w.pcs[index],
            performed_at__gte=at(month, 0),
            performed_at__lt=at(end, 0),
        )
    )


def review_months(w: World) -> dict[tuple[Any, str], ClinicalFinding]:
    """CHT-002's unresolved findings by (PC, month)."""
    return {
        (x.object_id, x.discriminator): x
        for x in ClinicalFinding.objects.filter(tenant=w.tenant, rule_id="CHT-002").exclude(
            status=FindingStatus.RESOLVED
        )
    }


def review_all(w: World, month: dt.date, index: int = 0) -> None:
    """A physician of the PC reviews every chart it treated in `month`: the cause is gone."""
    for t in treated_in(w, month, index):
        ChartReview.objects.create(
            tenant=w.tenant, chart_id=t.chart_id, reviewer=provider(w, L.MD, index), reviewed_on=month
        )


def test_cht002_change_run_finds_a_new_shortfall_in_the_changed_month_only(clinic: World) -> None:
    two, three = month_start(today(), 2), month_start(today(), 3)
    in_month(clinic, two, charts=11, reviewed=1)
    in_month(clinic, three, charts=11, reviewed=0)  # a shortfall too, in a month no change concerns
    pc = clinic.pcs[0].pk

    run = change_run(clinic, TREATMENT, [treated_in(clinic, two)[0].pk])

    assert "CHT-002" in run.rule_ids
    found = review_months(clinic)
    assert set(found) == {(pc, month_key(two))}
    assert (
        found[(pc, month_key(two))].first_seen_run_id,
        found[(pc, month_key(two))].evidence["charts_treated"],
    ) == (
        run.pk,
        11,
    )


def test_cht002_change_run_leaves_an_unchanged_months_finding_alone(clinic: World) -> None:
    two, three = month_start(today(), 2), month_start(today(), 3)
    in_month(clinic, two, charts=2, reviewed=0)
    in_month(clinic, three, charts=2, reviewed=0)
    pc = clinic.pcs[0].pk
    both = change_run(clinic, TREATMENT, [treated_in(clinic, two)[0].pk, treated_in(clinic, three)[0].pk])
    assert set(review_months(clinic)) == {(pc, month_key(two)), (pc, month_key(three))}

    review_all(clinic, three)  # the cause is gone in both months, but the change concerns month two
    review_all(clinic, two)
    in_month(clinic, two, charts=30, reviewed=0)  # 2 of 32 reviewed: still a finding, seen again
    again = change_run(clinic, TREATMENT, [treated_in(clinic, two)[-1].pk])

    found = review_months(clinic)
    assert set(found) == {(pc, month_key(two)), (pc, month_key(three))}
    assert found[(pc, month_key(two))].last_seen_run_id == again.pk
    assert found[(pc, month_key(two))].evidence["charts_reviewed"] == 2
    # Month three was not re-checked: neither seen again nor resolved (the nightly run will).
    assert (found[(pc, month_key(three))].status, found[(pc, month_key(three))].last_seen_run_id) == (
        FindingStatus.OPEN,
        both.pk,
    )


def test_cht002_change_run_resolves_the_changed_months_finding_when_its_cause_is_gone(clinic: World) -> None:
    two, three = month_start(today(), 2), month_start(today(), 3)
    in_month(clinic, two, charts=2, reviewed=0)
    in_month(clinic, three, charts=2, reviewed=0)
    in_month(clinic, two, charts=1, reviewed=0, index=1)  # the other PC's same month
    pc, other = clinic.pcs[0].pk, clinic.pcs[1].pk
    first = change_run(
        clinic,
        TREATMENT,
        [treated_in(clinic, two)[0].pk, treated_in(clinic, three)[0].pk, treated_in(clinic, two, 1)[0].pk],
    )
    assert set(review_months(clinic)) == {
        (pc, month_key(two)),
        (pc, month_key(three)),
        (other, month_key(two)),
    }

    for month, index in ((two, 0), (three, 0), (two, 1)):
        review_all(clinic, month, index)
    fixed = change_run(clinic, TREATMENT, [treated_in(clinic, two)[0].pk])

    findings = {
        (x.object_id, x.discriminator): x
        for x in ClinicalFinding.objects.filter(tenant=clinic.tenant, rule_id="CHT-002")
    }
    assert (findings[(pc, month_key(two))].status, findings[(pc, month_key(two))].resolved_by_run_id) == (
        FindingStatus.RESOLVED,
        fixed.pk,
    )
    # The same month of another PC, and another month of this PC: other findings, not re-checked.
    for key in ((pc, month_key(three)), (other, month_key(two))):
        assert (findings[key].status, findings[key].last_seen_run_id) == (FindingStatus.OPEN, first.pk), key


def test_cht002_a_change_of_the_current_month_re_checks_nothing(clinic: World) -> None:
    two = month_start(today(), 2)
    in_month(clinic, two, charts=2, reviewed=0)
    in_month(clinic, month_start(today(), 0), charts=3, reviewed=0)  # not judged yet
    pc = clinic.pcs[0].pk
    seen = change_run(clinic, TREATMENT, [treated_in(clinic, two)[0].pk])
    review_all(clinic, two)  # cause gone, but the next change is about this month's visits only

    now = change_run(clinic, TREATMENT, [t.pk for t in treated_in(clinic, month_start(today(), 0))])

    assert "CHT-002" in now.done_rule_ids
    [finding] = review_months(clinic).values()
    assert (finding.object_id, finding.discriminator, finding.last_seen_run_id) == (
        pc,
        month_key(two),
        seen.pk,
    )
    assert finding.status == FindingStatus.OPEN


def test_cht002_keys_of_the_changed_treatments_are_their_pc_and_local_month(clinic: World) -> None:
    """treated_pc_months: a treatment's PC and local month, within the checked months only."""
    from compliance.registry import RuleInput
    from compliance.rules.clinical import treated_pc_months

    two = month_start(today(), 2)
    in_month(clinic, two, charts=1, reviewed=0)
    in_month(clinic, month_start(today(), 14), charts=1, reviewed=0, index=1)  # beyond the 12 months
    changed = [
        *treated_in(clinic, two),
        *treated_in(clinic, month_start(today(), 14), 1),
        treatment(clinic, 0),
    ]
    rule = REGISTRY.get("CHT-002")
    q = RuleInput(tenant_id=clinic.tenant.pk, today=today(), params=rule.defaults())
    keys = set(treated_pc_months(q, tuple(str(t.pk) for t in changed)))
    world_month = timezone.localdate(treatment(clinic, 0).performed_at).replace(day=1)
    expected = {(clinic.pcs[0].pk, month_key(two))}
    if month_start(today(), 12) <= world_month < month_start(today(), 0):
        expected.add((treatment(clinic, 0).chart.pc_id, month_key(world_month)))
    assert keys == expected
