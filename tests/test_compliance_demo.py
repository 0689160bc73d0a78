"""The demo tenant after its nightly audit: the engine finds exactly the problems the seed planted
(tenants.demo.DELIBERATE_PROBLEMS) and nothing else, with every rule of the registry switched on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from compliance.models import AuditRun, BusinessFinding, ClinicalFinding, FindingStatus
from compliance.registry import REGISTRY
from compliance.tasks import audit_all_tenants
from mso_platform import celery_app
from tenants.capacities import Side
from tenants.demo import DELIBERATE_PROBLEMS, seed_demo

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager() -> Iterator[None]:
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def audited_demo(eager: None, django_capture_on_commit_callbacks: Any) -> AuditRun:
    demo = seed_demo().tenant
    with django_capture_on_commit_callbacks(execute=True) as queued:
        assert audit_all_tenants() == 1  # the nightly fan-out, as beat sends it
    assert len(queued) == 1
    return AuditRun.objects.get(tenant=demo, trigger=AuditRun.Trigger.NIGHTLY)


def test_the_nightly_run_finds_exactly_the_planted_problems(audited_demo: AuditRun) -> None:
    run = audited_demo
    assert run.status == "done", run.stats
    assert run.rules_done == run.rules_total == len(REGISTRY.all())
    assert not [rule for rule, stats in run.stats.items() if "error" in stats], run.stats
    found = {
        (side, rule)
        for side, model in ((Side.BUSINESS, BusinessFinding), (Side.CLINICAL, ClinicalFinding))
        for rule in model.objects.filter(tenant=run.tenant, status=FindingStatus.OPEN).values_list(
            "rule_id", flat=True
        )
    }
    planted = {(REGISTRY.get(p.rule).side, p.rule) for p in DELIBERATE_PROBLEMS}
    assert found == planted


def test_the_mso_sees_the_clinical_problems_only_as_counts(audited_demo: AuditRun) -> None:
    clinical = [p.rule for p in DELIBERATE_PROBLEMS if REGISTRY.get(p.rule).side == Side.CLINICAL]
    open_by_severity = audited_demo.counts["clinical"][FindingStatus.OPEN]
    rows = ClinicalFinding.objects.filter(tenant=audited_demo.tenant, status=FindingStatus.OPEN)
    assert open_by_severity == {
        s: rows.filter(severity=s).count() for s in set(rows.values_list("severity", flat=True))
    }
    assert sum(open_by_severity.values()) >= len(clinical) == 3
