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

from clinical.models import Treatment, TreatmentProduct
from compliance.models import AuditRun, ClinicalFinding, Finding, FindingStatus
from compliance.registry import REGISTRY, Rule
from compliance.tasks import audit_after_change
from tests import factories as f
from tests.compliance_world import CLINICAL_RULE
from tests.test_rules_clinical import clinic, treatment, update
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
            assert via == "pk" or model._meta.get_field(via).is_relation, (item.id, label, via)


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
