"""The readiness checklist (RULES.md: the seeds' "key questions before launching your MSO").

Each question is answered, in this order, by:

1. **data**, when the data can decide: an unresolved finding of the question's rules answers "no"
   (whatever an attestation says: a fact beats a statement); "yes" needs the latest full audit to have
   evaluated every one of those rules and found nothing, plus the question's own facts (a PC exists,
   an MSA is in force, counsel review dates are recorded);
2. otherwise the newest **attestation** of an MSO administrator or compliance officer;
3. otherwise it is not answered.

Only business data is read (findings of business rules, business records): the checklist is the
MSO's. A capacity limited to some PCs gets answers over what it may see, and the page says so.
Every read goes through ``restrict``; the number of queries is fixed.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.utils import timezone

from compliance.attestations import QUESTIONS, Attestation, Question
from compliance.models import AuditRun, BusinessFinding, FindingStatus
from compliance.registry import REGISTRY, Severity, load_rules
from management.models import (
    Location,
    ManagementServicesAgreement,
    MsoEntity,
    ProfessionalCorporation,
    StaffMember,
)
from tenants.access import AccessContext, restrict


@dataclass(frozen=True)
class Check:
    """How the data answers a question: its rules, and which severities of theirs say "no"."""

    rules: tuple[str, ...] = ()
    # MSA-003 reports a percentage fee with FMV and counsel review as a *low advisory*: not a "no".
    failing: tuple[str, ...] = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
    # Whether data can ever answer "yes" (systems and counsel engagement are not in the records).
    can_confirm: bool = True


CHECKS: dict[str, Check] = {
    "pc_ownership": Check(rules=("CPOM-001", "CPOM-002")),
    "mso_infrastructure": Check(rules=("SEP-001", "SEP-002"), can_confirm=False),
    "compensation": Check(
        rules=("MSA-003", "MSA-004", "FEE-001", "FEE-002", "FEE-003", "FEE-004"),
        failing=(Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM),
    ),
    "msa": Check(rules=("MSA-001", "MSA-002")),
    "counsel": Check(),
}
ALL_RULES = sorted({r for check in CHECKS.values() for r in check.rules})


@dataclass(frozen=True)
class Problem:
    rule_id: str
    title: str
    count: int
    advisory: bool  # low-severity findings the question does not count against


@dataclass
class ReadinessItem:
    question: Question
    data_answer: bool | None
    attestation: Attestation | None
    facts: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def answer(self) -> bool | None:
        if self.data_answer is not None:
            return self.data_answer
        return self.attestation.answer if self.attestation is not None else None

    @property
    def source(self) -> str:
        if self.data_answer is not None:
            return "data"
        return "attestation" if self.attestation is not None else ""

    @property
    def answer_label(self) -> str:
        return {True: "Yes", False: "No", None: "Not answered"}[self.answer]

    @property
    def source_label(self) -> str:
        return {
            "data": "From the data",
            "attestation": "Attested",
            "": "Needs an attestation",
        }[self.source]

    @property
    def attestation_overridden(self) -> bool:
        """An attestation the data contradicts (shown, but the data answers)."""
        return (
            self.data_answer is not None
            and self.attestation is not None
            and self.attestation.answer != self.data_answer
        )


@dataclass
class Readiness:
    items: list[ReadinessItem]
    run: AuditRun | None  # the latest full audit the answers rest on
    partial: bool  # the capacity sees some PCs only

    @property
    def answered(self) -> int:
        return sum(1 for item in self.items if item.answer is not None)

    @property
    def ready(self) -> bool:
        return all(item.answer is True for item in self.items)


def latest_full_run(ctx: AccessContext) -> AuditRun | None:
    """The latest finished audit of the whole tenant (a run after a change covers one PC only)."""
    return (
        restrict(AuditRun.objects.all(), ctx)
        .filter(
            pc_ids__isnull=True,
            status__in=(AuditRun.Status.DONE, AuditRun.Status.FAILED),
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .first()
    )


def evaluated(run: AuditRun | None, rule_id: str) -> bool:
    """Whether `run` evaluated the rule (not skipped as switched off, not failed)."""
    if run is None or rule_id not in (run.done_rule_ids or []):
        return False
    stats = (run.stats or {}).get(rule_id) or {}
    return not ({"error", "skipped"} & set(stats))


def latest_attestations(ctx: AccessContext) -> dict[str, Attestation]:
    rows = (
        restrict(Attestation.objects.select_related("answered_by"), ctx)
        .order_by("question", "-answered_at")
        .distinct("question")
    )
    return {a.question: a for a in rows}


def _facts(ctx: AccessContext, today: dt.date) -> dict[str, int]:
    in_force = Q(signed_on__isnull=False, effective_date__lte=today, end_date__gte=today)
    msas = restrict(ManagementServicesAgreement.objects.all(), ctx).aggregate(
        in_force=Count("pk", filter=in_force),
        reviewed=Count("pk", filter=in_force & Q(counsel_reviewed_on__isnull=False)),
    )
    current_staff = Q(left_on__isnull=True) | Q(left_on__gt=today)
    return {
        "pcs": restrict(ProfessionalCorporation.objects.all(), ctx).count(),
        "entities": restrict(MsoEntity.objects.all(), ctx).count(),
        "locations": restrict(Location.objects.all(), ctx).count(),
        "staff": restrict(StaffMember.objects.all(), ctx).filter(current_staff).count(),
        "msas_in_force": msas["in_force"],
        "msas_reviewed": msas["reviewed"],
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def readiness(ctx: AccessContext, today: dt.date | None = None) -> Readiness:
    """The checklist as `ctx` may see it (a fixed number of queries)."""
    day = today or timezone.localdate()
    load_rules()
    run = latest_full_run(ctx)
    open_counts: dict[str, dict[str, int]] = defaultdict(dict)
    rows = (
        restrict(BusinessFinding.objects.all(), ctx)
        .exclude(status=FindingStatus.RESOLVED)
        .filter(rule_id__in=ALL_RULES)
        .order_by()
        .values("rule_id", "severity")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        open_counts[row["rule_id"]][row["severity"]] = row["n"]
    facts = _facts(ctx, day)
    attested = latest_attestations(ctx)
    audit_fact = (
        f"Latest full audit: {timezone.localtime(run.finished_at):%Y-%m-%d %H:%M}."
        if run is not None and run.finished_at is not None
        else "No full audit has run yet."
    )
    items: list[ReadinessItem] = []
    for question in QUESTIONS:
        check = CHECKS[question.key]
        item = ReadinessItem(question, None, attested.get(question.key))
        failing = False
        for rule_id in check.rules:
            by_severity = open_counts.get(rule_id, {})
            counted = sum(n for sev, n in by_severity.items() if sev in check.failing)
            advisory = sum(n for sev, n in by_severity.items() if sev not in check.failing)
            rule = REGISTRY.rules.get(rule_id)
            title = rule.title if rule is not None else ""
            if counted:
                failing = True
                item.problems.append(Problem(rule_id, title, counted, advisory=False))
            if advisory:
                item.problems.append(Problem(rule_id, title, advisory, advisory=True))
        all_evaluated = all(evaluated(run, r) for r in check.rules)
        if check.rules:
            item.facts.append(audit_fact)
            if run is not None and not all_evaluated:
                missing = [r for r in check.rules if not evaluated(run, r)]
                item.facts.append(f"Not evaluated by that audit: {', '.join(missing)}.")
        confirmed = check.can_confirm and all_evaluated
        if question.key == "pc_ownership":
            item.facts.append(f"{_plural(facts['pcs'], 'PC')} recorded.")
            if not facts["pcs"]:
                failing = True
        elif question.key == "mso_infrastructure":
            item.facts.append(
                f"{_plural(facts['entities'], 'MSO entity')}, {_plural(facts['locations'], 'location')} "
                f"and {_plural(facts['staff'], 'current staff member')} recorded; the MSO's systems "
                "(scheduling, billing, payroll, security) are not in the records."
            )
            if not (facts["entities"] and facts["staff"]):
                failing = True
        elif question.key == "compensation":
            confirmed = confirmed and facts["msas_in_force"] > 0
        elif question.key == "msa":
            item.facts.append(f"{_plural(facts['msas_in_force'], 'signed MSA')} in force.")
            if not facts["msas_in_force"]:
                failing = True
        elif question.key == "counsel":
            n, reviewed = facts["msas_in_force"], facts["msas_reviewed"]
            item.facts.append(f"{reviewed} of {_plural(n, 'signed MSA')} in force record a counsel review.")
            confirmed = n > 0 and reviewed == n
        if failing:
            item.data_answer = False
        elif confirmed:
            item.data_answer = True
        items.append(item)
    return Readiness(items, run, partial=not ctx.capacity.tenant_wide)
