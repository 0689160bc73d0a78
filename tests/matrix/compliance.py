"""API matrix entries of the compliance engine: business and clinical findings, audit runs, rule settings.

The worlds' own compliance records come from tests/compliance_world.py. Findings are written by the
engine, not posted: their create payload exists only to be refused (405). A decision about a finding is
a PATCH of its status. A rule setting is posted once per rule, so each create payload names a rule
the world has no setting for yet.
"""

from __future__ import annotations

import itertools
from typing import Any

from compliance.models import AuditRun, BusinessFinding, ClinicalFinding, Finding, RuleSetting
from compliance.registry import REGISTRY
from tenants.capacities import Side
from tests.api_matrix import Endpoint
from tests.compliance_world import BUSINESS_RULE, CLINICAL_RULE, make_finding, make_run
from tests.worlds import World

_serial = itertools.count(1)


def _objs(w: World, model: type[Any]) -> list[Any]:
    return list(w.objs.get(model, []))


def run_of(w: World) -> AuditRun:
    found = _objs(w, AuditRun)
    return found[0] if found else make_run(w)


# --- payloads -------------------------------------------------------------------------------------


def _run_payload(w: World) -> dict[str, Any]:
    # The first PC: object-scoped MSO staff may audit it (a tenant-wide audit is theirs to refuse).
    return {"pcs": [str(w.pcs[0].pk)]}


def _setting_payload(w: World) -> dict[str, Any]:
    """A business rule that may be switched off and has thresholds, with no setting in the world yet."""
    taken = set(RuleSetting.objects.filter(tenant=w.tenant).values_list("rule_id", flat=True))
    rule = next(
        r
        for r in REGISTRY.all()
        if r.side == Side.BUSINESS and r.may_be_disabled and r.thresholds and r.id not in taken
    )
    return {
        "rule_id": rule.id,
        "enabled": True,
        "thresholds": {t.name: str(t.default) for t in rule.thresholds},
    }


def _finding_payload(w: World) -> dict[str, Any]:
    return {"rule_id": BUSINESS_RULE, "object_type": "management.Vendor", "severity": "low"}


# --- rows for the query-count tests ----------------------------------------------------------------


def _finding_rows(model: type[Finding], rule_id: str) -> Any:
    def make(w: World, n: int) -> list[Any]:
        # The first PC: both actors (the MSO admin, the first PC's physician) see its findings.
        run = run_of(w)
        return [
            make_finding(
                w,
                model,
                run=run,
                pc=w.pcs[0],
                location=w.locations[0],
                rule_id=rule_id,
                object_type="management.Vendor",
                object_id=f"00000000-0000-4000-8000-{next(_serial):012d}",
                evidence={"row": i},
            )
            for i in range(n)
        ]

    return make


def _run_rows(w: World, n: int) -> list[Any]:
    return [make_run(w) for _ in range(n)]


def _setting_rows(w: World, n: int) -> list[Any]:
    # More rows than there are rules: settings of rule ids no rule has (the list shows them, untitled).
    return [
        RuleSetting.objects.create(tenant=w.tenant, rule_id=f"ZZ-QC-{next(_serial):05d}") for _ in range(n)
    ]


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        name="business-findings",
        model=BusinessFinding,
        side=Side.BUSINESS,
        scope=lambda o: o.pc,
        own_objects=lambda w: _objs(w, BusinessFinding),
        writes=frozenset({"update"}),
        create_payload=_finding_payload,
        update_payload={"status": "acknowledged", "reason": "Known; the amended MSA is with counsel."},
        make_rows=_finding_rows(BusinessFinding, BUSINESS_RULE),
    ),
    Endpoint(
        name="clinical-findings",
        model=ClinicalFinding,
        side=Side.CLINICAL,
        scope=lambda o: o.pc,
        own_objects=lambda w: _objs(w, ClinicalFinding),
        writes=frozenset({"update"}),
        create_payload=_finding_payload,
        update_payload={"status": "acknowledged", "reason": "Late chart completed; staff retrained."},
        make_rows=_finding_rows(ClinicalFinding, CLINICAL_RULE),
    ),
    Endpoint(
        name="audit-runs",
        model=AuditRun,
        side=Side.BUSINESS,
        scope=lambda o: None,
        own_objects=lambda w: _objs(w, AuditRun),
        writes=frozenset({"create"}),
        create_payload=_run_payload,
        create_refs=lambda w: [w.pcs[0]],
        update_payload={"trigger": "nightly"},
        make_rows=_run_rows,
    ),
    Endpoint(
        name="rule-settings",
        model=RuleSetting,
        side=Side.BUSINESS,
        scope=lambda o: None,
        own_objects=lambda w: _objs(w, RuleSetting),
        writes=frozenset({"create", "update"}),
        create_payload=_setting_payload,
        update_payload={"enabled": False},
        make_rows=_setting_rows,
        # Business rules are tuned by the MSO's tenant-wide writers (compliance.services.may_tune).
        writers=frozenset({"mso_admin", "mso_compliance"}),
    ),
]
