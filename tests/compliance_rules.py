"""Test-only compliance rules with real queries, registered into the rule registry for a test and
removed afterwards (the engine's and the worker's tests; a worker process registers them at start).

Ids start with "ZZ-", which no rule of RULES.md uses.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import BooleanField, Exists, F, OuterRef, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import JSONObject

from clinical.models import GoodFaithExam, PatientChart
from compliance.registry import REGISTRY, Rule, RuleInput, Severity, Threshold, hits
from management.models import BusinessAssociateAgreement, ManagementServicesAgreement, Vendor
from tenants.capacities import Side

VENDOR_RULE = "ZZ-BAA"
MSA_RULE = "ZZ-MSA"
CHART_RULE = "ZZ-GFE"
CRITICAL_RULE = "ZZ-CRIT"
BROKEN_RULE = "ZZ-BROKEN"
MSA_LABEL = "management.ManagementServicesAgreement"


def vendors_without_baa(q: RuleInput, *, sleep: float = 0) -> QuerySet[Any]:
    """Vendors handling PHI with no BAA in force on the audit's date, whose fee is at least the
    tenant's `minimum_fee` threshold (a threshold the tests tune)."""
    in_force = BusinessAssociateAgreement.objects.filter(
        vendor=OuterRef("pk"), signed_on__lte=q.today
    ).filter(Q(expires_on__isnull=True) | Q(expires_on__gte=q.today))
    qs = Vendor.objects.filter(
        tenant_id=q.tenant_id, handles_phi=True, fee_amount__gte=q.params["minimum_fee"]
    ).exclude(Exists(in_force))
    if sleep:
        # Evaluated once per query (an InitPlan): makes a run slow enough to be killed half way.
        qs = qs.filter(RawSQL("(SELECT true FROM pg_sleep(%s))", [sleep], output_field=BooleanField()))
    return hits(qs, Vendor, evidence=JSONObject(name=F("name"), service=F("service"), fee=F("fee_amount")))


def msas_without_dispute_clause(q: RuleInput) -> QuerySet[Any]:
    qs = ManagementServicesAgreement.objects.filter(tenant_id=q.tenant_id, dispute_resolution_clause=False)
    if q.pc_ids is not None:
        qs = qs.filter(pc_id__in=q.pc_ids)
    return hits(qs, ManagementServicesAgreement, pc=F("pc_id"), evidence=JSONObject(title=F("title")))


def charts_without_exam(q: RuleInput) -> QuerySet[Any]:
    exam = GoodFaithExam.objects.filter(chart=OuterRef("pk"))
    qs = PatientChart.objects.filter(tenant_id=q.tenant_id).exclude(Exists(exam))
    if q.pc_ids is not None:
        qs = qs.filter(pc_id__in=q.pc_ids)
    return hits(
        qs,
        PatientChart,
        pc=F("pc_id"),
        location=F("home_location_id"),
        evidence=JSONObject(mrn=F("medical_record_number")),
    )


def broken(q: RuleInput) -> QuerySet[Any]:
    qs = Vendor.objects.filter(tenant_id=q.tenant_id)
    return hits(qs, Vendor, evidence=JSONObject(n=RawSQL("1 / 0", [])))


MINIMUM_FEE = Threshold(
    "minimum_fee", Decimal("0"), "USD", "Vendors paid less are left out.", Decimal("0"), Decimal("100000")
)


def _rule(rule_id: str, query: Any, **kw: Any) -> Rule:
    defaults: dict[str, Any] = {
        "title": f"Test rule {rule_id}",
        "severity": Severity.HIGH,
        "side": Side.BUSINESS,
        "citation": "test citation",
        "statement": "test statement",
    }
    defaults.update(kw)
    return Rule(rule_id, query=query, **defaults)


def all_test_rules() -> list[Rule]:
    return [
        _rule(
            VENDOR_RULE,
            vendors_without_baa,
            thresholds=(MINIMUM_FEE,),
            triggers=("management.Vendor",),
            scoped_by_pc=False,
        ),
        _rule(MSA_RULE, msas_without_dispute_clause, severity=Severity.MEDIUM, triggers=(MSA_LABEL,)),
        _rule(CHART_RULE, charts_without_exam, side=Side.CLINICAL, triggers=("clinical.PatientChart",)),
        _rule(CRITICAL_RULE, msas_without_dispute_clause, severity=Severity.CRITICAL),
        _rule(BROKEN_RULE, broken, scoped_by_pc=False),
    ]


def slow_rule_ids(n: int) -> list[str]:
    return [f"ZZ-SLOW-{i:02d}" for i in range(n)]


def slow_rules(n: int, seconds: float) -> list[Rule]:
    """`n` copies of the vendor rule, each sleeping `seconds` in PostgreSQL (distinct ids, so each
    vendor gets one finding per rule)."""

    def query(q: RuleInput) -> QuerySet[Any]:
        return vendors_without_baa(q, sleep=seconds)

    return [
        _rule(rule_id, query, thresholds=(MINIMUM_FEE,), scoped_by_pc=False) for rule_id in slow_rule_ids(n)
    ]


def register(rules: list[Rule]) -> list[Rule]:
    for item in rules:
        REGISTRY.add(item)
    return rules


def unregister(rules: list[Rule]) -> None:
    for item in rules:
        REGISTRY.rules.pop(item.id, None)
