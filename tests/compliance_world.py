"""The compliance records of a test world: audit runs, a business and a clinical finding per PC, and a
tuned rule setting, added to ``world.objs`` (the attack, permission and query-count suites aim every
compliance page and endpoint at them).

Findings hang off both PCs (and their locations), so object-scoped capacities, granted only the first
PC, can be shown the second PC's findings stay hidden. Rows are written as the connection's owner,
as the engine would have left them after a run: this is setup, not the code under test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import uuid
from typing import Any

from django.db import models
from django.utils import timezone

from compliance.models import AuditRun, BusinessFinding, ClinicalFinding, Finding, FindingStatus, RuleSetting
from management.models import ManagementServicesAgreement, ProfessionalCorporation
from tests.worlds import World

BUSINESS_RULE = "MSA-002"  # high: an MSA lacks a required clause
CLINICAL_RULE = "CHT-001"  # medium: a chart completed late
TUNED_RULE = "FEE-001"  # its tolerance tuned from 1% to 2%
_serial = itertools.count(1)


def fingerprint(rule_id: str, object_type: str, object_id: Any, discriminator: str = "") -> str:
    """As the engine computes it: md5(rule | object type | object id | discriminator)."""
    return hashlib.md5(  # noqa: S324 — a fingerprint, not a secret
        f"{rule_id}|{object_type}|{object_id}|{discriminator}".encode()
    ).hexdigest()


def counts(business: dict[str, int], clinical: dict[str, int]) -> dict[str, Any]:
    """A run's counts as the engine writes them: each side's unresolved findings by status and severity."""
    at = timezone.now().isoformat()
    empty: dict[str, int] = {}
    return {
        side: {"at": at, "open": dict(by_severity), "acknowledged": empty, "accepted_risk": empty}
        for side, by_severity in (("business", business), ("clinical", clinical))
    }


def make_run(world: World, **fields: Any) -> AuditRun:
    now = timezone.now()
    values: dict[str, Any] = {
        "trigger": AuditRun.Trigger.NIGHTLY,
        "status": AuditRun.Status.DONE,
        "idempotency_key": f"test:{world.tenant.slug}:{next(_serial)}:{uuid.uuid4().hex[:8]}",
        "as_of": timezone.localdate(),
        "rule_ids": [BUSINESS_RULE, CLINICAL_RULE],
        "done_rule_ids": [BUSINESS_RULE, CLINICAL_RULE],
        "rules_total": 2,
        "rules_done": 2,
        "created_at": now - dt.timedelta(minutes=5),
        "started_at": now - dt.timedelta(minutes=5),
        "finished_at": now - dt.timedelta(minutes=4),
        "attempts": 1,
        "counts": counts({"high": 2}, {"medium": 2}),
        "stats": {
            BUSINESS_RULE: {"ms": 12, "seen": 2, "new": 2, "resolved": 0, "expired": 0},
            CLINICAL_RULE: {"ms": 9},
        },
    }
    values.update(fields)
    return AuditRun.objects.create(tenant=world.tenant, **values)


def make_finding(
    world: World,
    model: type[Finding],
    *,
    run: AuditRun,
    pc: ProfessionalCorporation,
    rule_id: str,
    object_type: str,
    object_id: Any,
    evidence: dict[str, Any],
    location: Any = None,
    severity: str | None = None,
    status: str = FindingStatus.OPEN,
    **fields: Any,
) -> Finding:
    from compliance.registry import REGISTRY

    seen = run.finished_at or timezone.now()
    return model.objects.create(
        tenant=world.tenant,
        fingerprint=fingerprint(rule_id, object_type, object_id),
        rule_id=rule_id,
        severity=severity or REGISTRY.get(rule_id).severity.value,
        object_type=object_type,
        object_id=object_id,
        pc=pc,
        location=location,
        evidence=evidence,
        status=status,
        first_seen_run=run,
        first_seen_at=seen,
        last_seen_run=run,
        last_seen_at=seen,
        **fields,
    )


def populate(world: World) -> World:
    """Add the world's compliance records to ``world.objs`` (after the domain records, which the
    findings are about when the world has them)."""
    objs: dict[type[models.Model], list[Any]] = world.objs
    done = make_run(world)
    running = make_run(
        world,
        trigger=AuditRun.Trigger.ON_DEMAND,
        status=AuditRun.Status.RUNNING,
        rule_ids=[BUSINESS_RULE, CLINICAL_RULE, TUNED_RULE],
        done_rule_ids=[BUSINESS_RULE],
        rules_total=3,
        rules_done=1,
        created_at=timezone.now() - dt.timedelta(seconds=30),
        started_at=timezone.now() - dt.timedelta(seconds=20),
        finished_at=None,
        requested_by=world.user("mso_admin"),
        pc_ids=[world.pcs[0].pk],
        stats={BUSINESS_RULE: {"ms": 10, "seen": 1, "new": 0, "resolved": 0, "expired": 0}},
    )
    objs.setdefault(AuditRun, []).extend([done, running])
    msas = {m.pc_id: m for m in objs.get(ManagementServicesAgreement, [])}
    for pc, location, chart in zip(world.pcs, world.locations, world.charts, strict=True):
        msa = msas.get(pc.pk)
        business = make_finding(
            world,
            BusinessFinding,
            run=done,
            pc=pc,
            location=location,
            rule_id=BUSINESS_RULE,
            object_type="management.ManagementServicesAgreement",
            object_id=msa.pk if msa is not None else uuid.uuid4(),
            evidence={"title": msa.title if msa is not None else "MSA", "missing": ["dispute resolution"]},
        )
        clinical = make_finding(
            world,
            ClinicalFinding,
            run=done,
            pc=pc,
            location=chart.home_location,
            rule_id=CLINICAL_RULE,
            object_type="clinical.PatientChart",
            object_id=chart.pk,
            evidence={"hours_to_complete": 96, "limit_hours": 72},
        )
        objs.setdefault(BusinessFinding, []).append(business)
        objs.setdefault(ClinicalFinding, []).append(clinical)
    setting = RuleSetting.objects.create(
        tenant=world.tenant, rule_id=TUNED_RULE, thresholds={"tolerance_percent": "2"}, critical=False
    )
    objs.setdefault(RuleSetting, []).append(setting)
    world.objs = objs
    return world
