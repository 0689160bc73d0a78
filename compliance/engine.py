"""The audit engine: rules in, findings out, all of it in PostgreSQL.

For each rule the engine compiles the rule's ``values()`` queryset to SQL, collects its hits in a
temporary table (``CREATE TABLE … AS``, which PostgreSQL may run with parallel workers), upserts them
in ONE ``INSERT … SELECT … ON CONFLICT (tenant_id, fingerprint) DO UPDATE`` into the findings table
of the rule's side, then ONE ``UPDATE`` resolves the rule's findings this evaluation did not see
again. No row ever travels to Python. A change run narrowed to the written rows (``Rule.narrows``)
re-checks, and resolves among, the findings of those rows' objects (or finding keys) alone.

Transactions and roles. Each rule is evaluated in a transaction of its own, under the database role
of its side (business rules as ``mso_business``, clinical rules as ``mso_clinical``; both as a system
capacity of the run's tenant, so RLS binds them). The same transaction records the rule as done on
the ``AuditRun`` row (``rules_done``, ``done_rule_ids``, counts by severity), so:

- progress is committed after every rule and a page polling the run sees it advance;
- a worker killed mid-run loses only the rules it was evaluating: the redelivered task skips the
  rules the run already recorded and redoes the rest (``execute_run``);
- re-evaluating a rule is harmless anyway: the upsert cannot duplicate a fingerprint.

A run evaluates ``COMPLIANCE_RULE_WORKERS`` rules at once (``in_parallel``), each on a connection of
its own. Their queries run side by side; their writes queue for the tenant's audit-chain lock, which
each takes before it locks the run row (``record_rule_done``).

Clinical counts are computed and written by the clinical role, so the business side learns how many
clinical findings of each severity are open without any path that reads a clinical row.

Two evaluations of the same rule for the same tenant (a nightly run and a run after a change) are
serialized by a transaction-level advisory lock, and a session-level advisory lock keeps two workers
from executing the same run at once (a redelivery waits for a stuck predecessor's connection to end).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.db.models import F, QuerySet
from django.utils import timezone

from compliance.models import FINDING_MODELS, AuditRun, FindingStatus, RuleSetting
from compliance.registry import (
    HIT_KEYS,
    REGISTRY,
    AnyOf,
    KeysOf,
    Rule,
    RuleInput,
    load_rules,
    uuid_array,
)
from management.models import ProfessionalCorporation
from mso_platform.db.boundary import AUDIT_CHAIN_LOCK
from tenants.access import AccessContext, activate
from tenants.capacities import Side
from tenants.models import Tenant
from tenants.taskbase import RETRYABLE_ERRORS, SYSTEM_CAPACITIES, task_transaction

# Advisory-lock namespaces (first key of the two-key form); the second key is a hash.
RUN_LOCK = 7351  # one worker executes a run at a time
RULE_LOCK = 7352  # one evaluation of a rule per tenant at a time

# The planner's cost of a random page read in a narrowed evaluation (this transaction only).
NARROWED_RANDOM_PAGE_COST = 1.1

OPEN_STATUSES = (FindingStatus.OPEN, FindingStatus.ACKNOWLEDGED, FindingStatus.ACCEPTED_RISK)

ProgressHook = Callable[[AuditRun, Rule], None]


@dataclass(frozen=True)
class RuleOutcome:
    rule_id: str
    seen: int  # hits of this evaluation (findings upserted)
    new: int  # of which first seen now
    resolved: int  # findings of the rule no longer seen, resolved by this run
    expired: int  # accepted risks past their date, back to open
    ms: int


def system_context(tenant: Tenant, side: Side) -> AccessContext:
    """The tenant under the system capacity of `side`: a run acts for no person."""
    return AccessContext(tenant, None, SYSTEM_CAPACITIES[side], via="task")


def rule_params(rule: Rule, setting: RuleSetting | None) -> dict[str, Decimal]:
    """The rule's thresholds: the tenant's tuned values where valid, else the declared defaults.

    Values are checked on write (services.rule_setting_update); a stored value that no longer fits
    (the rule's bounds changed since) falls back to the default rather than failing the run.
    """
    params = rule.defaults()
    stored = setting.thresholds if setting is not None else {}
    for threshold in rule.thresholds:
        raw = stored.get(threshold.name)
        if raw is None:
            continue
        try:
            value = Decimal(str(raw))
        except (InvalidOperation, ValueError):
            continue
        if threshold.minimum <= value <= threshold.maximum:
            params[threshold.name] = value
    return params


def rules_by_id(rule_ids: Iterable[str]) -> list[Rule]:
    """The registered rules named, in the order given; ids no rule has (any more) are left out.
    Rule modules are imported only when a rule is not registered yet."""
    ids = list(rule_ids)
    if any(r not in REGISTRY.rules for r in ids):
        load_rules()
    return [REGISTRY.rules[r] for r in ids if r in REGISTRY.rules]


def hit_sql(qs: QuerySet[Any]) -> tuple[str, tuple[Any, ...]]:
    """The SQL of a rule's hit query, checked to return every column of ``HIT_KEYS``."""
    names = set(qs.query.values_select) | set(qs.query.annotation_select)
    missing = [k for k in HIT_KEYS if k not in names]
    if missing:
        raise ValueError(f"a rule query must return {', '.join(HIT_KEYS)}; it lacks {', '.join(missing)}")
    if not qs.query.distinct_fields:
        qs = qs.order_by()  # the model's ordering is a sort nobody reads
    sql, params = qs.query.sql_with_params()
    return sql, tuple(params)


HITS_TABLE = "compliance_rule_hits"  # temporary: one rule's hits, within its evaluation

# One statement per rule: the rule's hits, fingerprinted and de-duplicated, upserted. A fingerprint
# seen again gets the new evidence and severity and, if it had been resolved, is open again.
UPSERT_SQL = """
WITH p AS (
  SELECT %s::uuid AS tenant_id, %s::text AS rule_id, %s::text AS default_severity,
         %s::uuid AS run_id, %s::timestamptz AS seen_at
), hits AS (
  SELECT DISTINCT ON (fingerprint) * FROM (
    SELECT md5(p.rule_id || '|' || h.object_type::text || '|' || h.object_id::text || '|'
               || COALESCE(h.discriminator::text, '')) AS fingerprint,
           h.object_type::text AS object_type, h.object_id::uuid AS object_id,
           COALESCE(h.discriminator::text, '') AS discriminator,
           h.pc_id::uuid AS pc_id, h.location_id::uuid AS location_id,
           COALESCE(h.severity::text, p.default_severity) AS severity,
           COALESCE(h.evidence::jsonb, '{{}}'::jsonb) AS evidence
    FROM ({rule_sql}) AS h CROSS JOIN p
  ) AS fingerprinted
  ORDER BY fingerprint
), upserted AS (
  INSERT INTO {table} AS f
    (id, tenant_id, fingerprint, rule_id, severity, object_type, object_id, discriminator, pc_id,
     location_id, evidence, status, status_reason, first_seen_run_id, first_seen_at, last_seen_run_id,
     last_seen_at)
  SELECT gen_random_uuid(), p.tenant_id, hits.fingerprint, p.rule_id, hits.severity, hits.object_type,
         hits.object_id, hits.discriminator, hits.pc_id, hits.location_id, hits.evidence, 'open', '',
         p.run_id, p.seen_at, p.run_id, p.seen_at
  FROM hits CROSS JOIN p
  ON CONFLICT (tenant_id, fingerprint) DO UPDATE SET
    severity = EXCLUDED.severity,
    evidence = EXCLUDED.evidence,
    pc_id = EXCLUDED.pc_id,
    location_id = EXCLUDED.location_id,
    last_seen_run_id = EXCLUDED.last_seen_run_id,
    last_seen_at = EXCLUDED.last_seen_at,
    status = CASE WHEN f.status = 'resolved' THEN 'open' ELSE f.status END,
    resolved_at = NULL,
    resolved_by_run_id = NULL
  RETURNING (xmax = 0) AS inserted
)
SELECT count(*), count(*) FILTER (WHERE inserted) FROM upserted
"""

# The rule's findings that this evaluation did not see (inside the run's PCs when the rule narrows
# to them) are resolved by this run.
RESOLVE_SQL = """
UPDATE {table} SET status = 'resolved', resolved_at = %s, resolved_by_run_id = %s
WHERE tenant_id = %s AND rule_id = %s AND status <> 'resolved'
  AND (last_seen_run_id, last_seen_at) IS DISTINCT FROM (%s::uuid, %s::timestamptz)
  {scope}
"""

# A risk accepted until a day before the audit's date is a risk again.
EXPIRE_SQL = """
UPDATE {table}
SET status = 'open', status_by_id = NULL, status_at = %s,
    status_reason = 'Risk acceptance expired after ' || accepted_until::text, accepted_until = NULL
WHERE tenant_id = %s AND rule_id = %s AND status = 'accepted_risk' AND accepted_until < %s
"""

COUNTS_SQL = """
SELECT status, severity, count(*) FROM {table}
WHERE tenant_id = %s AND status <> 'resolved' GROUP BY status, severity
"""

# Recorded in the rule's own transaction, once: a re-evaluation after a crash does not count twice.
PROGRESS_SQL = """
UPDATE {table} SET
  rules_done = LEAST(rules_done + 1, rules_total),
  done_rule_ids = array_append(done_rule_ids, %s::varchar),
  counts = counts || jsonb_build_object(%s::text, %s::jsonb),
  stats = stats || jsonb_build_object(%s::text, %s::jsonb)
WHERE id = %s AND NOT (%s::varchar = ANY(done_rule_ids))
"""


def _rows(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []


def _rowcount(sql: str, params: Sequence[Any]) -> int:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return int(cur.rowcount)


@dataclass(frozen=True)
class Written:
    """The rows of one model a change run is about, grouped by what their writes changed: pairs of
    (columns, ids); columns is None for rows created, or changed in ways not told (every column)."""

    groups: tuple[tuple[frozenset[str] | None, tuple[str, ...]], ...]

    @classmethod
    def of(cls, created: Iterable[Any] = (), updated: Mapping[Any, Iterable[str]] | None = None) -> Written:
        """Rows `created` (any change), and rows `updated`: id -> the columns the update changed."""
        groups: dict[frozenset[str] | None, list[str]] = {}
        for pk in created:
            groups.setdefault(None, []).append(str(pk))
        for pk, columns in (updated or {}).items():
            groups.setdefault(frozenset(columns), []).append(str(pk))
        return cls(tuple((columns, tuple(dict.fromkeys(ids))) for columns, ids in groups.items()))

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(pk for _, ids in self.groups for pk in ids))

    def affecting(self, rule: Rule, label: str) -> tuple[str, ...]:
        """The rows (of model `label`) whose write may change `rule`'s hits: those created, and those
        updated in a column the rule reads (``Rule.reads``, asked only when some row was updated)."""
        updated = any(columns is not None for columns, _ in self.groups)
        read = rule.reads(label) if updated else None
        return tuple(
            dict.fromkeys(
                pk
                for columns, ids in self.groups
                if columns is None or read is None or columns & read
                for pk in ids
            )
        )


@dataclass(frozen=True)
class Narrowed:
    """What a narrowed evaluation re-checks: the findings about `object_ids`, or those with `keys`
    ((object id, discriminator) pairs). Nothing else is re-checked, nor resolved."""

    object_ids: tuple[str, ...] | None = None
    keys: tuple[tuple[str, str], ...] | None = None

    @property
    def empty(self) -> bool:
        return not (self.object_ids if self.object_ids is not None else self.keys)


def narrowed_to(run: AuditRun, rule: Rule, changed: Written | None, given: RuleInput) -> Narrowed | None:
    """What of `rule`'s findings the rows `changed` (of the run's ``change_label``) may have affected,
    or None when the rule cannot narrow by them (it re-checks the run's PCs instead). Only the rows
    whose write changed a column the rule reads count. `given`: the run's tenant, date and thresholds
    (a ``KeysOf`` maps rows to findings with them).

    Read in the rule's transaction, under its side's role. Rows gone since (deleted) name nothing
    through a field, nor do the former values of a changed row (a treatment moved to another month);
    the nightly full run is the backstop for what a narrowed run does not see."""
    if changed is None:
        return None
    via = rule.narrowing(run.change_label)
    if via is None:
        return None
    ids = changed.affecting(rule, run.change_label)
    if isinstance(via, KeysOf):
        keys = via.keys(given, ids)
        return Narrowed(keys=tuple(dict.fromkeys((str(obj), str(disc)) for obj, disc in keys)))
    if via == "pk":
        return Narrowed(object_ids=ids)
    model = apps.get_model(run.change_label)
    named = model.objects.filter(AnyOf(F("pk"), ids), tenant_id=run.tenant_id, **{f"{via}__isnull": False})
    return Narrowed(object_ids=tuple(str(pk) for pk in named.values_list(via, flat=True).distinct()))


def evaluate_rule(
    run: AuditRun,
    rule: Rule,
    *,
    today: dt.date,
    params: Mapping[str, Decimal],
    changed: Written | None = None,
    every_pc: bool = False,
) -> RuleOutcome:
    """Upsert the rule's hits into findings and resolve what it no longer sees.

    `changed`: the rows of ``run.change_label`` a change run is about. A rule that narrows by them
    re-checks (and may resolve) the findings of those objects (or keys) alone, counting only the rows
    whose write may change its hits, and nothing when they name none; any other rule re-checks the
    run's PCs, or, when they are `every_pc` of the tenant, the whole tenant (the same hits; a list of
    every PC only costs the query a filter). Runs in the caller's transaction, which must be
    activated for the rule's side.
    """
    started = time.monotonic()
    table = FINDING_MODELS[rule.side]._meta.db_table
    given = RuleInput(tenant_id=run.tenant_id, today=today, params=params)
    if changed is not None and rule.narrowing(run.change_label) is not None:
        # A narrowed evaluation reads the day's rows by key, most pages cached: at the default cost of
        # a random read (4x a sequential one) PostgreSQL scans all of `treatment` for 10,000 ids.
        with connection.cursor() as cur:
            cur.execute(f"SET LOCAL random_page_cost = {NARROWED_RANDOM_PAGE_COST}")
    narrowed = narrowed_to(run, rule, changed, given)
    by_pc = not every_pc and rule.scoped_by_pc and narrowed is None
    pc_ids = tuple(run.pc_ids) if run.pc_ids is not None and by_pc else None
    # A timestamp of this evaluation alone (a retried run re-evaluates under the same run id).
    seen_at = timezone.now()
    tenant, run_id = str(run.tenant_id), str(run.pk)
    xact_lock(RULE_LOCK, f"{tenant}:{rule.id}")
    if narrowed is not None and narrowed.empty:
        # The change names none of the rule's findings (CHT-002: only the current, unjudged month).
        expired = _rowcount(EXPIRE_SQL.format(table=table), [seen_at, tenant, rule.id, today])
        return RuleOutcome(rule.id, 0, 0, 0, expired, int((time.monotonic() - started) * 1000))
    qs = rule.query(
        dataclasses.replace(
            given,
            pc_ids=pc_ids,
            object_ids=narrowed.object_ids if narrowed else None,
            finding_keys=narrowed.keys if narrowed else None,
        )
    )
    rule_sql, rule_params_ = hit_sql(qs)
    # The hits first, into a table of this transaction: PostgreSQL plans a data-modifying statement
    # (the upsert) without parallel workers, CREATE TABLE … AS with them (CHT-002, narrowed runs).
    with connection.cursor() as cur:
        cur.execute(f"CREATE TEMPORARY TABLE {HITS_TABLE} ON COMMIT DROP AS {rule_sql}", rule_params_)
    # The writes after the query: a write's audit trigger holds the tenant's audit chain until commit,
    # and another rule evaluated at once waits for it to record its own progress.
    expired = _rowcount(EXPIRE_SQL.format(table=table), [seen_at, tenant, rule.id, today])
    seen, new = _rows(
        UPSERT_SQL.format(table=table, rule_sql=f"SELECT * FROM {HITS_TABLE}"),
        [tenant, rule.id, rule.severity.value, run_id, seen_at],
    )[0]
    with connection.cursor() as cur:
        cur.execute(f"DROP TABLE {HITS_TABLE}")
    # A narrowed evaluation resolves only findings it re-checked: never one outside its scope.
    scope, scope_params = "", list[Any]()
    if narrowed is not None and narrowed.object_ids is not None:
        scope, scope_params = "AND object_id = ANY(%s::uuid[])", [uuid_array(narrowed.object_ids)]
    elif narrowed is not None and narrowed.keys is not None:
        scope = "AND (object_id, discriminator) IN (SELECT * FROM unnest(%s::uuid[], %s::text[]))"
        scope_params = [uuid_array(k for k, _ in narrowed.keys), [d for _, d in narrowed.keys]]
    elif pc_ids is not None:
        scope, scope_params = "AND pc_id = ANY(%s::uuid[])", [uuid_array(pc_ids)]
    resolved = _rowcount(
        RESOLVE_SQL.format(table=table, scope=scope),
        [seen_at, run_id, tenant, rule.id, run_id, seen_at, *scope_params],
    )
    ms = int((time.monotonic() - started) * 1000)
    return RuleOutcome(rule.id, int(seen), int(new), resolved, expired, ms)


def side_counts(tenant_id: Any, side: Side) -> dict[str, Any]:
    """The tenant's unresolved findings of `side` by status and severity (run under that side's role)."""
    out: dict[str, Any] = {"at": timezone.now().isoformat()}
    for status in OPEN_STATUSES:
        out[status.value] = {}
    for status, severity, n in _rows(
        COUNTS_SQL.format(table=FINDING_MODELS[side]._meta.db_table), [str(tenant_id)]
    ):
        out[status][severity] = int(n)
    return out


def xact_lock(namespace: int, key: str) -> None:
    """Wait for the advisory lock (`namespace`, hash of `key`), held until this transaction ends."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [namespace, key])


def record_rule_done(run: AuditRun, rule: Rule, stats: Mapping[str, Any]) -> None:
    """Mark `rule` done on the run with its side's fresh counts (same transaction as its findings).

    The run row is updated under the tenant's audit-chain lock, taken first: the row's audit
    trigger takes it anyway, and a rule whose findings were written already holds it. Taken after
    the row instead, two rules evaluated at once deadlock: one holding the chain (its findings) and
    waiting for the run row, the other holding the run row and waiting for the chain."""
    xact_lock(AUDIT_CHAIN_LOCK, str(run.tenant_id))
    counts = side_counts(run.tenant_id, rule.side)
    _rowcount(
        PROGRESS_SQL.format(table=AuditRun._meta.db_table),
        [rule.id, rule.side.value, json.dumps(counts), rule.id, json.dumps(stats), str(run.pk), rule.id],
    )


def _outcome_stats(rule: Rule, outcome: RuleOutcome) -> dict[str, Any]:
    if rule.side == Side.CLINICAL:
        # The run row is read by the MSO: clinical rules leave only their time there.
        return {"ms": outcome.ms}
    return {
        "ms": outcome.ms,
        "seen": outcome.seen,
        "new": outcome.new,
        "resolved": outcome.resolved,
        "expired": outcome.expired,
    }


def tenant_settings(tenant: Tenant) -> dict[str, RuleSetting]:
    with task_transaction():
        activate(system_context(tenant, Side.BUSINESS))
        return {s.rule_id: s for s in RuleSetting.objects.filter(tenant=tenant)}


def covers_every_pc(tenant: Tenant, pc_ids: Iterable[Any]) -> bool:
    """Whether `pc_ids` name every PC of the tenant (a day's changes usually touch them all)."""
    with task_transaction():
        activate(system_context(tenant, Side.BUSINESS))
        pcs = ProfessionalCorporation.objects.filter(tenant=tenant).values_list("pk", flat=True)
        every = {str(pk) for pk in pcs}
    return every <= {str(pk) for pk in pc_ids}


def rule_workers(requested: int | None = None) -> int:
    """How many rules a run evaluates at once (``COMPLIANCE_RULE_WORKERS``, default 2: a rule's query
    keeps one core busy, and PostgreSQL rarely plans a rule in parallel on its own)."""
    return max(1, int(requested if requested is not None else settings.COMPLIANCE_RULE_WORKERS))


def longest_first(tenant: Tenant, rules: Sequence[Rule]) -> list[Rule]:
    """`rules` in the order their last finished evaluation took longest (a rule never timed first):
    with several at once, the run ends soonest when the long rules do not start last."""
    with task_transaction():
        activate(system_context(tenant, Side.BUSINESS))
        last = (
            AuditRun.objects.filter(tenant=tenant, status=AuditRun.Status.DONE, pc_ids__isnull=True)
            .order_by("-finished_at")
            .values_list("stats", flat=True)
            .first()
        ) or {}
    timed = {
        rule_id: stats["ms"]
        for rule_id, stats in last.items()
        if isinstance(stats, dict) and isinstance(stats.get("ms"), int)
    }
    return sorted(rules, key=lambda r: -timed.get(r.id, 10**9))


def run_audit(
    run: AuditRun,
    rules: Sequence[Rule],
    today: dt.date,
    *,
    on_rule_done: ProgressHook | None = None,
    changed: Written | None = None,
    workers: int | None = None,
) -> list[str]:
    """Evaluate `rules` for the run's tenant, one committed transaction per rule; returns the ids
    of the rules that failed (their findings are left as they were). `changed`: see evaluate_rule.

    Rules the run already recorded as done are skipped (a retry resumes); rules the tenant switched
    off are recorded as skipped. Thresholds are the tenant's (RuleSetting), else the defaults. A
    connection error propagates, so that the task retries and resumes.

    `workers` rules are evaluated at once (``rule_workers``), each worker on a database connection of
    its own, longest first; `on_rule_done` is then called from the worker's thread. Called inside a
    transaction (a test's), the rules run one after the other on this connection: another connection
    would not see that transaction's rows.
    """
    tenant = run.tenant
    settings_by_rule = tenant_settings(tenant)
    every_pc = run.pc_ids is not None and covers_every_pc(tenant, run.pc_ids)
    done = set(run.done_rule_ids)
    todo = [rule for rule in rules if rule.id not in done]
    failed: list[str] = []

    def evaluate(rule: Rule) -> None:
        setting = settings_by_rule.get(rule.id)
        try:
            with task_transaction():
                activate(system_context(tenant, rule.side))
                if setting is not None and not setting.enabled and rule.may_be_disabled:
                    stats: dict[str, Any] = {"skipped": "disabled"}
                else:
                    outcome = evaluate_rule(
                        run,
                        rule,
                        today=today,
                        params=rule_params(rule, setting),
                        changed=changed,
                        every_pc=every_pc,
                    )
                    stats = _outcome_stats(rule, outcome)
                record_rule_done(run, rule, stats)
        except RETRYABLE_ERRORS:
            raise
        except Exception as exc:
            # One broken rule must not cost the tenant the other rules' findings. The run row is read
            # by the MSO: a clinical rule's error message (it may quote a value) stays out of it.
            failed.append(rule.id)
            error = type(exc).__name__ if rule.side == Side.CLINICAL else f"{type(exc).__name__}: {exc}"
            with task_transaction():
                activate(system_context(tenant, rule.side))
                record_rule_done(run, rule, {"error": error[:500]})
        if on_rule_done is not None:
            on_rule_done(run, rule)

    n = min(rule_workers(workers), len(todo))
    if n <= 1 or connection.in_atomic_block:
        for rule in todo:
            evaluate(rule)
    else:
        in_parallel(evaluate, longest_first(tenant, todo), n)
    return failed


def in_parallel(work: Callable[[Rule], None], rules: Sequence[Rule], n: int) -> None:
    """``work(rule)`` for every rule, `n` threads taking the next rule as they finish one; each thread
    has its own database connection (Django's are per thread), closed when it is done. The first
    error stops the others from taking a new rule (the one they are on finishes) and is raised here,
    after every thread ended: a retry then never runs alongside a thread of this attempt."""
    pending = list(reversed(rules))
    lock = threading.Lock()
    errors: list[BaseException] = []
    zone = timezone.get_current_timezone()  # rules read local dates in the caller's time zone

    def worker() -> None:
        try:
            with timezone.override(zone):
                while True:
                    with lock:
                        if errors or not pending:
                            return
                        rule = pending.pop()
                    work(rule)
        except BaseException as exc:  # re-raised in the calling thread
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, name=f"audit-rule-{i}", daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:
        with lock:  # interrupted here (a time limit): no new rule; wait for the ones running
            errors.append(RuntimeError("interrupted"))
        for thread in threads:
            thread.join()
        raise
    if errors:
        raise errors[0]


@contextmanager
def run_lock(run_id: Any) -> Iterator[None]:
    """Hold the run for this connection: a second worker given the same run (a redelivery while a
    killed worker's query still runs) waits here until the first connection ends, then finds the
    run done or resumes it. Session-level, so it spans the run's many transactions."""
    key: list[Any] = [RUN_LOCK, str(run_id)]
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", key)
    try:
        yield
    finally:
        # A connection that broke mid-run took the lock with it; its error is the one to report.
        with contextlib.suppress(DatabaseError), connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)


def _claim(tenant: Tenant, run_id: Any) -> AuditRun | None:
    """The run, marked running (one more attempt), or None when it is already finished."""
    with task_transaction():
        activate(system_context(tenant, Side.BUSINESS))
        run = AuditRun.objects.select_for_update().get(pk=run_id, tenant=tenant)
        run.tenant = tenant  # (FOR UPDATE OF cannot name a schema-qualified table: no join here)
        if run.status in (AuditRun.Status.DONE, AuditRun.Status.FAILED):
            return None
        run.status = AuditRun.Status.RUNNING
        run.started_at = run.started_at or timezone.now()
        run.attempts += 1
        run.save(update_fields=["status", "started_at", "attempts"])
        return run


def _finish(tenant: Tenant, run_id: Any, status: str, error: str = "") -> AuditRun:
    with task_transaction():
        activate(system_context(tenant, Side.BUSINESS))
        run = AuditRun.objects.select_for_update().get(pk=run_id, tenant=tenant)
        run.tenant = tenant  # (FOR UPDATE OF cannot name a schema-qualified table: no join here)
        run.status = status
        run.finished_at = timezone.now()
        run.error = error
        run.save(update_fields=["status", "finished_at", "error"])
        return run


def execute_run(
    tenant: Tenant,
    run_id: Any,
    *,
    on_rule_done: ProgressHook | None = None,
    changed: Written | None = None,
    workers: int | None = None,
) -> AuditRun:
    """Execute (or resume) one run to the end. Safe to call again for the same run at any point:
    a finished run is returned as it is; an interrupted one continues after its last recorded rule.

    `changed`: the written rows of a change run's ``change_label`` (kept in the task's message,
    which a redelivery repeats, not on the run row: the MSO reads that row). `workers`: see run_audit."""
    with run_lock(run_id):
        run = _claim(tenant, run_id)
        if run is None:
            return _read(tenant, run_id)
        rules = rules_by_id(run.rule_ids)
        failed = run_audit(run, rules, run.as_of, on_rule_done=on_rule_done, changed=changed, workers=workers)
        failed += sorted(set(run.rule_ids) - {r.id for r in rules})  # no such rule (any more)
        if failed:
            return _finish(tenant, run_id, AuditRun.Status.FAILED, f"Rules that failed: {', '.join(failed)}")
        return _finish(tenant, run_id, AuditRun.Status.DONE)


def _read(tenant: Tenant, run_id: Any) -> AuditRun:
    with task_transaction():
        activate(system_context(tenant, Side.BUSINESS))
        return AuditRun.objects.select_related("tenant").get(pk=run_id, tenant=tenant)


def mark_failed(tenant: Tenant, run_id: Any, error: str) -> None:
    """A run whose task gave up (retries exhausted) is failed, not left running forever."""
    with task_transaction():
        activate(system_context(tenant, Side.BUSINESS))
        AuditRun.objects.filter(pk=run_id, tenant=tenant).exclude(status=AuditRun.Status.DONE).update(
            status=AuditRun.Status.FAILED, finished_at=timezone.now(), error=error[:2000]
        )
