"""Reads behind the compliance dashboard and the PDF audit report, aggregated in SQL.

The score
    A subject's (the tenant's, a PC's, a location's) score at a moment is
    ``100 - (25 * critical + 10 * high + 4 * medium + 1 * low)`` over the findings that were
    unresolved then (open, acknowledged or accepted as a risk: the problem is still there), never
    below 0. A PC counts the findings about that PC, a location those about that location.

Over time
    The points are the last ``HISTORY_RUNS`` finished full audits. The tenant's point is the count the
    audit itself recorded on its run row when it ran. A PC's or location's point is rebuilt from each
    finding's first-seen and resolved times (a finding that was resolved and came back counts as
    unresolved in between: the findings table keeps its latest state, not every transition).

The wall
    Business capacities never read a clinical finding: for them the clinical side is the tenant's
    counts by severity that the clinical side of the latest full audit wrote on its run. Clinical
    capacities read their PCs' clinical findings (and the report logs each one it prints as read).

Every function runs a fixed number of queries whatever the number of findings: PostgreSQL groups
and counts (conditional ``Count`` per audit), Python only adds up the groups.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Q

from compliance.engine import OPEN_STATUSES
from compliance.models import AuditRun, BusinessFinding, ClinicalFinding, Finding, FindingStatus
from compliance.registry import REGISTRY, SEVERITY_ORDER, Severity, load_rules
from compliance.selectors import finding_list
from management.models import Location, ProfessionalCorporation
from tenants.access import AccessContext, may, restrict
from tenants.capacities import VIEW, Side

HISTORY_RUNS = 12
WEIGHTS: dict[str, int] = {
    Severity.CRITICAL: 25,
    Severity.HIGH: 10,
    Severity.MEDIUM: 4,
    Severity.LOW: 1,
}
SEVERITIES: tuple[str, ...] = tuple(s.value for s in sorted(Severity, key=lambda s: SEVERITY_ORDER[s]))
STATUSES: tuple[str, ...] = tuple(s.value for s in OPEN_STATUSES)


def score_of(counts: Mapping[str, int]) -> int:
    """100 - the severity-weighted number of unresolved findings, never below 0."""
    return max(0, 100 - sum(WEIGHTS.get(sev, 0) * n for sev, n in counts.items()))


@dataclass
class Tally:
    """Unresolved findings by status and severity."""

    by_status: dict[str, dict[str, int]] = field(
        default_factory=lambda: {status: dict.fromkeys(SEVERITIES, 0) for status in STATUSES}
    )

    def add(self, status: str, severity: str, n: int) -> None:
        if status in self.by_status and severity in WEIGHTS:
            self.by_status[status][severity] += n

    @property
    def by_severity(self) -> dict[str, int]:
        return {sev: sum(self.by_status[st][sev] for st in STATUSES) for sev in SEVERITIES}

    @property
    def total(self) -> int:
        return sum(self.by_severity.values())

    @property
    def score(self) -> int:
        return score_of(self.by_severity)

    @property
    def rows(self) -> list[tuple[str, int, int, int, int]]:
        """(severity, open, acknowledged, accepted risk, total) for a table."""
        return [
            (
                sev,
                self.by_status[FindingStatus.OPEN][sev],
                self.by_status[FindingStatus.ACKNOWLEDGED][sev],
                self.by_status[FindingStatus.ACCEPTED_RISK][sev],
                self.by_severity[sev],
            )
            for sev in SEVERITIES
        ]

    @classmethod
    def from_run_counts(cls, recorded: Mapping[str, Any]) -> Tally:
        """The counts an audit wrote for one side on its run (``AuditRun.counts[side]``)."""
        tally = cls()
        for status in STATUSES:
            for sev, n in (recorded.get(status) or {}).items():
                tally.add(status, sev, int(n))
        return tally


@dataclass
class Subject:
    """The tenant, a PC or a location: its findings now and its score at each audit."""

    pk: str
    name: str
    business: Tally = field(default_factory=Tally)
    clinical: Tally | None = None
    business_history: list[int | None] = field(default_factory=list)
    clinical_history: list[int | None] | None = None
    pc_id: str = ""  # a location's PC


@dataclass
class Dashboard:
    runs: list[AuditRun]  # the audits of the score history, oldest first
    tenant: Subject | None  # capacities that see the whole tenant
    pcs: list[Subject]
    locations: list[Subject]
    clinical_visible: bool  # the capacity reads clinical findings (its PCs')
    # Business capacities: the tenant's clinical counts as the latest full audit recorded them.
    clinical_recorded: Tally | None
    clinical_recorded_at: dt.datetime | None
    business_total: Tally  # within the capacity's scope
    clinical_total: Tally | None

    @property
    def latest_run(self) -> AuditRun | None:
        return self.runs[-1] if self.runs else None


def history_runs(ctx: AccessContext) -> list[AuditRun]:
    """The last finished full audits, oldest first (one query)."""
    runs = (
        restrict(AuditRun.objects.all(), ctx)
        .filter(status=AuditRun.Status.DONE, pc_ids__isnull=True, finished_at__isnull=False)
        .order_by("-finished_at")
        .only("id", "tenant_id", "trigger", "as_of", "finished_at", "counts")[:HISTORY_RUNS]
    )
    return list(reversed(list(runs)))


def _unresolved_at(moment: dt.datetime) -> Q:
    return Q(first_seen_at__lte=moment) & (Q(resolved_at__isnull=True) | Q(resolved_at__gt=moment))


def finding_groups(ctx: AccessContext, model: type[Finding], runs: list[AuditRun]) -> list[dict[str, Any]]:
    """Findings ctx may read, grouped by PC, location, severity and status, with the number
    unresolved now (``now``) and at the end of each audit of `runs` (``r0``…): one query."""
    cutoffs = [run.finished_at for run in runs if run.finished_at is not None]
    relevant = ~Q(status=FindingStatus.RESOLVED)
    if cutoffs:
        relevant |= Q(resolved_at__gt=min(cutoffs))
    counts: dict[str, Any] = {"now": Count("pk", filter=~Q(status=FindingStatus.RESOLVED))}
    for i, moment in enumerate(cutoffs):
        counts[f"r{i}"] = Count("pk", filter=_unresolved_at(moment))
    qs: Any = (
        restrict(model.objects.all(), ctx)
        .filter(relevant)
        .order_by()
        .values("pc_id", "location_id", "severity", "status")
        .annotate(**counts)
    )
    return list(qs)


def _histories(groups: Iterable[Mapping[str, Any]], key: str, n_runs: int) -> dict[Any, list[int | None]]:
    """{pc or location id: score at each audit} from the grouped counts."""
    weighted: dict[Any, list[int]] = {}
    for row in groups:
        subject = row[key]
        if subject is None:
            continue
        sums = weighted.setdefault(subject, [0] * n_runs)
        for i in range(n_runs):
            sums[i] += WEIGHTS.get(row["severity"], 0) * row[f"r{i}"]
    return {subject: [max(0, 100 - w) for w in sums] for subject, sums in weighted.items()}


def _tallies(groups: Iterable[Mapping[str, Any]], key: str) -> dict[Any, Tally]:
    out: dict[Any, Tally] = {}
    for row in groups:
        if row[key] is None or not row["now"]:
            continue
        out.setdefault(row[key], Tally()).add(row["status"], row["severity"], row["now"])
    return out


def _total(groups: Iterable[Mapping[str, Any]]) -> Tally:
    tally = Tally()
    for row in groups:
        if row["now"]:
            tally.add(row["status"], row["severity"], row["now"])
    return tally


def _recorded(run: AuditRun, side: Side) -> Tally | None:
    recorded = (run.counts or {}).get(side.value)
    return Tally.from_run_counts(recorded) if recorded else None


def dashboard(ctx: AccessContext) -> Dashboard:
    """Scores and counts of everything ctx may see (a fixed number of queries)."""
    runs = history_runs(ctx)
    n = len(runs)
    pcs = list(
        restrict(ProfessionalCorporation.objects.all(), ctx).order_by("legal_name").values("pk", "legal_name")
    )
    locations = list(restrict(Location.objects.all(), ctx).order_by("name").values("pk", "name", "pc_id"))
    business = finding_groups(ctx, BusinessFinding, runs)
    clinical_visible = may(ctx, ClinicalFinding, VIEW)
    clinical = finding_groups(ctx, ClinicalFinding, runs) if clinical_visible else []

    def subjects(rows: Sequence[Mapping[str, Any]], key: str, name: str) -> list[Subject]:
        b_tallies, b_hist = _tallies(business, key), _histories(business, key, n)
        c_tallies, c_hist = _tallies(clinical, key), _histories(clinical, key, n)
        out = []
        for row in rows:
            pk = row["pk"]
            subject = Subject(
                str(pk),
                row[name],
                business=b_tallies.get(pk, Tally()),
                business_history=b_hist.get(pk, [100] * n),
                pc_id=str(row.get("pc_id") or ""),
            )
            if clinical_visible:
                subject.clinical = c_tallies.get(pk, Tally())
                subject.clinical_history = c_hist.get(pk, [100] * n)
            out.append(subject)
        return out

    recorded_runs = [r for r in runs if (r.counts or {}).get(Side.CLINICAL.value)]
    latest_clinical = recorded_runs[-1] if recorded_runs else None
    tenant: Subject | None = None
    if ctx.capacity.tenant_wide:
        tenant = Subject(str(ctx.tenant.pk), ctx.tenant.name, business=_total(business))
        tenant.business_history = [_recorded_score(r, Side.BUSINESS) for r in runs]
        tenant.clinical = _total(clinical) if clinical_visible else _recorded_or_none(latest_clinical)
        tenant.clinical_history = [_recorded_score(r, Side.CLINICAL) for r in runs]
    return Dashboard(
        runs=runs,
        tenant=tenant,
        pcs=subjects(pcs, "pc_id", "legal_name"),
        locations=subjects(locations, "location_id", "name"),
        clinical_visible=clinical_visible,
        clinical_recorded=None if clinical_visible else _recorded_or_none(latest_clinical),
        clinical_recorded_at=latest_clinical.finished_at if latest_clinical is not None else None,
        business_total=_total(business),
        clinical_total=_total(clinical) if clinical_visible else None,
    )


def _recorded_or_none(run: AuditRun | None) -> Tally | None:
    return _recorded(run, Side.CLINICAL) if run is not None else None


def _recorded_score(run: AuditRun, side: Side) -> int | None:
    """The side's score as the audit recorded it; None when the audit evaluated no rule of it."""
    tally = _recorded(run, side)
    return tally.score if tally is not None else None


# --- the PDF audit report ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFinding:
    rule_id: str
    title: str
    citation: str
    severity: str
    status: str
    status_reason: str
    accepted_until: dt.date | None
    evidence: list[tuple[str, str]]
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    pc: str
    location: str
    object_type: str


@dataclass(frozen=True)
class SeverityGroup:
    severity: str
    findings: list[ReportFinding]

    @property
    def label(self) -> str:
        return self.severity.title()


@dataclass
class Report:
    pc: ProfessionalCorporation | None  # None: everything ctx may see in the tenant
    business: list[SeverityGroup]
    business_tally: Tally
    clinical: list[SeverityGroup] | None  # clinical capacities only
    clinical_tally: Tally | None  # clinical capacities: their findings; business: recorded counts
    clinical_recorded: bool  # the clinical tally is the audit's recorded count (business capacities)
    clinical_recorded_at: dt.datetime | None
    run: AuditRun | None  # the latest finished full audit
    partial: bool  # the capacity sees some PCs only

    @property
    def score(self) -> int:
        return self.business_tally.score


ACRONYMS = frozenset(
    {"pc", "mso", "msa", "fmv", "baa", "dea", "np", "pa", "rn", "md", "id", "ca", "iipp", "clia"}
)


def _label(key: str) -> str:
    """An evidence key as a label: "fmv_opinion_date" → "FMV opinion date"."""
    words = [w.upper() if w.lower() in ACRONYMS else w for w in key.replace("_", " ").split()]
    if not words:
        return key
    first = words[0]
    return " ".join([first if first.isupper() else first.capitalize(), *words[1:]])


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "—"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def evidence_rows(evidence: Any) -> list[tuple[str, str]]:
    """The evidence object as (label, text) lines, in the rule's key order."""
    if not isinstance(evidence, dict):
        return [("Evidence", _text(evidence))] if evidence not in (None, "", {}) else []
    return [(_label(str(k)), _text(v)) for k, v in evidence.items()]


def _grouped(findings: Iterable[Finding]) -> list[SeverityGroup]:
    rules = REGISTRY.rules
    by_severity: dict[str, list[ReportFinding]] = {sev: [] for sev in SEVERITIES}
    for f in findings:
        rule = rules.get(f.rule_id)
        by_severity.setdefault(f.severity, []).append(
            ReportFinding(
                rule_id=f.rule_id,
                title=rule.title if rule is not None else "(rule no longer registered)",
                citation=rule.citation if rule is not None else "",
                severity=f.severity,
                status=f.get_status_display(),
                status_reason=f.status_reason,
                accepted_until=f.accepted_until,
                evidence=evidence_rows(f.evidence),
                first_seen_at=f.first_seen_at,
                last_seen_at=f.last_seen_at,
                pc=f.pc.legal_name if f.pc is not None else "",
                location=f.location.name if f.location is not None else "",
                object_type=f.object_type,
            )
        )
    for items in by_severity.values():
        items.sort(key=lambda r: (r.rule_id, r.pc, r.location, r.first_seen_at))
    return [SeverityGroup(sev, items) for sev, items in by_severity.items() if items]


def _tally(findings: Iterable[Finding]) -> Tally:
    tally = Tally()
    for f in findings:
        tally.add(f.status, f.severity, 1)
    return tally


def report(ctx: AccessContext, pc: ProfessionalCorporation | None = None) -> Report:
    """What the audit report prints for ctx: unresolved findings (of `pc`, else all ctx may see).

    Clinical findings are printed only for a clinical capacity, through the logging selector (each
    is recorded as read by ctx); a business capacity gets the clinical counts the latest full audit
    recorded for the tenant.
    """
    load_rules()
    qs = restrict(BusinessFinding.objects.select_related("pc", "location"), ctx).exclude(
        status=FindingStatus.RESOLVED
    )
    if pc is not None:
        qs = qs.filter(pc=pc)
    business = list(qs)
    runs = (
        restrict(AuditRun.objects.all(), ctx)
        .filter(pc_ids__isnull=True, finished_at__isnull=False, status=AuditRun.Status.DONE)
        .order_by("-finished_at")
    )
    run = runs.first()
    clinical_groups: list[SeverityGroup] | None = None
    clinical_tally: Tally | None = None
    recorded_at: dt.datetime | None = None
    clinical_visible = may(ctx, ClinicalFinding, VIEW)
    if clinical_visible:
        rows = list(
            finding_list(ctx, Side.CLINICAL, pc=pc.pk if pc is not None else None).exclude(
                status=FindingStatus.RESOLVED
            )
        )
        clinical_groups, clinical_tally = _grouped(rows), _tally(rows)
    else:
        recorded = runs.filter(counts__has_key=Side.CLINICAL.value).first()
        if recorded is not None:
            clinical_tally = _recorded(recorded, Side.CLINICAL)
            recorded_at = recorded.finished_at
    return Report(
        pc=pc,
        business=_grouped(business),
        business_tally=_tally(business),
        clinical=clinical_groups,
        clinical_tally=clinical_tally,
        clinical_recorded=not clinical_visible,
        clinical_recorded_at=recorded_at,
        run=run,
        partial=pc is None and not ctx.capacity.tenant_wide,
    )
