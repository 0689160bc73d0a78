"""The rule registry: every compliance rule of ``RULES.md`` as data plus one set-based query.

A rule is declared once, next to its query, with ``@rule(...)`` in ``compliance/rules/<area>.py``::

    @rule(
        "BAA-001",
        title="Vendor handling PHI has a signed BAA",
        severity=Severity.HIGH,
        side=Side.BUSINESS,
        citation="HIPAA 45 CFR 164.308(b), 164.502(e)",
        statement="Every vendor that handles PHI has a signed business associate agreement.",
        triggers=("management.Vendor", "management.BusinessAssociateAgreement"),
    )
    def vendors_without_baa(q: RuleInput) -> QuerySet[Any]:
        return (
            Vendor.objects.filter(tenant_id=q.tenant_id, handles_phi=True)
            .exclude(Exists(...signed BAA...))
            .values(**hit(Vendor, id=F("id"), pc=None, location=None, evidence=JSONObject(name=F("name"))))
        )

The query is evaluated by PostgreSQL, never row by row in Python: it returns a ``values()``
queryset whose rows are *hits* with the keys of ``HIT_KEYS`` (``hit()`` builds them). The engine
(``compliance.engine``) wraps the query's SQL in one ``INSERT … SELECT … ON CONFLICT`` that
upserts the findings on their fingerprint (rule + object + discriminator), then resolves the
findings of the rule that the run did not see again.

Citations, statements and thresholds are data: a tenant sees them all, may tune a threshold within
its bounds and switch a rule off, except a critical rule, which stays on (``RuleSetting``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
import string
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db import models
from django.db.models import (
    BooleanField,
    CharField,
    DateTimeField,
    Exists,
    Expression,
    F,
    Func,
    QuerySet,
    Subquery,
    UUIDField,
    Value,
)
from django.db.models.functions import Cast
from django.utils import timezone

from tenants.capacities import Side


class Severity(StrEnum):
    CRITICAL = "critical"  # likely illegal now
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"  # hygiene


SEVERITY_ORDER = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}

# The columns every hit row has (``values()`` keys), in this order in the engine's INSERT … SELECT.
#   object_type   "app_label.ModelName" of the object the finding is about
#   object_id     its primary key (uuid)
#   discriminator "" or what tells two findings of one rule on one object apart (e.g. a month)
#   pc_id         the PC the finding concerns, or NULL
#   location_id   the location it concerns, or NULL
#   severity      NULL for the rule's own, or a Severity value (LIC-002 grades by proximity)
#   evidence      a JSON object (``JSONObject(...)``): the facts a reader needs to see the problem
HIT_KEYS = ("object_type", "object_id", "discriminator", "pc_id", "location_id", "severity", "evidence")


def hit(
    model: type[models.Model],
    *,
    evidence: Expression,
    object_id: Expression | F | None = None,
    discriminator: Expression | None = None,
    pc: Expression | F | None = None,
    location: Expression | F | None = None,
    severity: Expression | None = None,
) -> dict[str, Any]:
    """The ``values(**hit(...))`` keyword arguments of one hit row about a `model` row (its own id
    unless `object_id` says otherwise). Every column is an SQL expression: nothing runs in Python."""
    none_uuid = Value(None, output_field=UUIDField())
    return {
        "object_type": Value(model._meta.label, output_field=CharField()),
        "object_id": object_id if object_id is not None else F("id"),
        "discriminator": Cast(discriminator, CharField()) if discriminator is not None else Value(""),
        "pc_id": pc if pc is not None else none_uuid,
        "location_id": location if location is not None else none_uuid,
        "severity": severity if severity is not None else Value(None, output_field=CharField()),
        "evidence": evidence,
    }


def hits(qs: QuerySet[Any], model: type[models.Model], **columns: Any) -> QuerySet[Any]:
    """The hit rows of a rule's queryset: ``values()`` of the columns ``hit(model, **columns)`` gives.

    ``values(pc_id=F("pc_id"))`` is refused by Django on a model with a ``pc`` foreign key (the
    annotation would shadow the field), so a hit column that is the queried model's own field of the
    same name is selected as that field instead of being annotated. Selecting only the hit columns
    keeps an aggregating query grouped by them (FEE-002 groups invoices by agreement).
    """
    own = {f.attname for f in qs.model._meta.concrete_fields}
    annotations = {}
    for key, expression in hit(model, **columns).items():
        if key in own:
            if not (isinstance(expression, F) and getattr(expression, "name", None) == key):
                raise ValueError(f"hit column {key} of {qs.model.__name__} must be its own field {key}")
            continue
        annotations[key] = expression
    return qs.order_by().annotate(**annotations).values(*HIT_KEYS)


@dataclass(frozen=True)
class Threshold:
    """A number the rule uses that a tenant may tune within [minimum, maximum]."""

    name: str
    default: Decimal
    unit: str
    description: str
    minimum: Decimal
    maximum: Decimal


@dataclass(frozen=True)
class RuleInput:
    """What a rule's query is given: one tenant, the audit's date, the effective thresholds, and
    optionally the PCs to look at (an incremental run after a change); None means every PC.

    ``object_ids``, when not None, are the objects of the findings to re-check (a change run narrowed
    to the changed rows, see ``Rule.narrows``): the query returns hits about those objects only.
    ``finding_keys``, when not None, are the (object id, discriminator) pairs of the findings to
    re-check (a narrowing by ``KeysOf``): the query returns hits with those keys only."""

    tenant_id: Any
    today: Any  # datetime.date of the audit (tests set it; runs use the tenant's local date)
    params: Mapping[str, Decimal]
    pc_ids: tuple[Any, ...] | None = None
    object_ids: tuple[Any, ...] | None = None
    finding_keys: tuple[tuple[str, str], ...] | None = None


Query = Callable[[RuleInput], QuerySet[Any]]


@dataclass(frozen=True)
class KeysOf:
    """A narrowing for a rule whose findings are not about the changed rows nor an object they name
    (CHT-002's are PC-months): ``keys(q, changed)`` returns ``values_list(object id, discriminator)``
    rows, the keys of the findings the changed rows (ids `changed`, which exist) may have affected,
    given the run's tenant, date and thresholds `q`. The query then honours
    ``RuleInput.finding_keys``. Evaluated in the rule's transaction, under its side's role."""

    keys: Callable[[RuleInput, tuple[str, ...]], QuerySet[Any]]


def for_pcs(qs: QuerySet[Any], q: RuleInput, path: str = "pc") -> QuerySet[Any]:
    """Narrow to ``q.pc_ids`` (an incremental run) along `path` to the PC; None means every PC."""
    return qs if q.pc_ids is None else qs.filter(**{f"{path}__in": q.pc_ids})


def uuid_array(ids: Iterable[Any]) -> str:
    """An ``uuid[]`` literal of `ids`: one parameter, where ``__in`` sends (and PostgreSQL parses) one
    per id, which costs more than the query itself for the thousands of rows of a day's changes."""
    return _uuid_literal(tuple(str(pk) for pk in ids))


@functools.lru_cache(maxsize=4)
def _uuid_literal(ids: tuple[str, ...]) -> str:
    # Checking 10,000 ids takes ~30 ms, and a change run's rules and resolve steps use the same ids.
    return "{" + ",".join(str(uuid.UUID(pk)) for pk in ids) + "}"


class AnyOf(Func):
    """``expression = ANY(<uuid[] literal>)``: a filter on a uuid column by many ids."""

    output_field = BooleanField()

    def __init__(self, expression: Any, ids: Iterable[Any]) -> None:
        super().__init__(expression)
        self.ids = uuid_array(ids)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        sql, params = compiler.compile(self.source_expressions[0])
        return f"({sql} = ANY(%s::uuid[]))", [*params, self.ids]


class PerRowExists(Exists):
    """``EXISTS`` that PostgreSQL evaluates for each outer row, an index probe (``OFFSET 0`` keeps the
    planner from turning it into a join, which hashes every row of the inner table)."""

    template = "EXISTS(%(subquery)s OFFSET 0)"


def exists(qs: QuerySet[Any], q: RuleInput) -> Exists:
    """``Exists(qs)``; in a run narrowed to the changed rows (``q.object_ids``), probed per row: for a
    few thousand rows, an index probe each costs less than hashing 200,000 consents or 300,000 exams,
    which a full run does once for a million treatments (its SQL, and plan, stay as they were)."""
    return PerRowExists(qs) if q.object_ids is not None else Exists(qs)


def for_objects(qs: QuerySet[Any], q: RuleInput, path: str = "pk") -> QuerySet[Any]:
    """Narrow to ``q.object_ids`` (a change run narrowed to the changed rows) along `path` to the
    findings' object; None means every object."""
    return qs if q.object_ids is None else qs.filter(AnyOf(F(path), q.object_ids))


def start_of(day: dt.date) -> dt.datetime:
    """Midnight starting `day` in the active time zone: compared with a timestamp column, a range on
    the column itself (an index serves it), where ``TruncDate(column) >= day`` converts every row."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class DayStartAfter(Func):
    """The instant the day after a date expression begins, in the active time zone (the time zone
    ``TruncDate`` uses): ``timestamp >= DayStartAfter(d)`` is ``TruncDate(timestamp) > d``, sargable."""

    output_field = DateTimeField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        sql, params = compiler.compile(self.source_expressions[0])
        zone = timezone.get_current_timezone_name()
        return f"(({sql} + 1)::timestamp AT TIME ZONE %s)", [*params, zone]


class DayStart(Func):
    """The instant a date expression's day begins, in the active time zone (the one ``TruncDate``
    uses): ``timestamp >= DayStart(d)`` is ``TruncDate(timestamp) >= d``."""

    output_field = DateTimeField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(({sql})::timestamp AT TIME ZONE %s)", [*params, timezone.get_current_timezone_name()]


class _RowsOnce(Subquery):
    template = "(%(subquery)s OFFSET 0)"


class ExistsAmong(Expression):
    """``[NOT] EXISTS (SELECT 1 FROM (<rows> OFFSET 0) AS r WHERE <where>)``.

    `rows` is a values() queryset with computed columns; ``OFFSET 0`` keeps PostgreSQL from merging
    it into the outer query, so each computed column is computed once per row of `rows` (and hashed
    with it), not again for every outer row it is compared with. `where` is SQL naming the columns
    of `rows` as ``r."name"`` and the outer row's expressions `outer` as ``{0}``, ``{1}``, ..."""

    def __init__(self, rows: QuerySet[Any], where: str, *outer: Any, negated: bool = False) -> None:
        super().__init__(output_field=BooleanField())
        self.rows: Any = _RowsOnce(rows)
        self.where = where
        self.outer = [F(e) if isinstance(e, str) else e for e in outer]
        self.negated = negated

    def get_source_expressions(self) -> list[Any]:
        return [self.rows, *self.outer]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.rows, *self.outer = exprs

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        rows_sql, rows_params = compiler.compile(self.rows)
        outer = [compiler.compile(e) for e in self.outer]
        params = list(rows_params)
        for _, index, _, _ in string.Formatter().parse(self.where):  # outer params in order of use
            if index is not None:
                params.extend(outer[int(index)][1])
        where = self.where.format(*(f"({sql})" for sql, _ in outer))
        return f"{'NOT ' if self.negated else ''}EXISTS (SELECT 1 FROM {rows_sql} AS r WHERE {where})", params


def whole(q: RuleInput, name: str) -> int:
    """A threshold that counts (months, days, people) as an int."""
    return int(q.params[name])


def months_before(value: dt.date, months: int) -> dt.date:
    """The same day `months` months earlier (the month's last day when that month is shorter)."""
    year, index = divmod(value.year * 12 + value.month - 1 - months, 12)
    return dt.date(year, index + 1, min(value.day, calendar.monthrange(year, index + 1)[1]))


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    side: Side  # business: the MSO may read the findings; clinical: only a clinical capacity
    citation: str
    statement: str
    query: Query
    states: tuple[str, ...] = ("CA",)
    thresholds: tuple[Threshold, ...] = ()
    # Model labels whose writes make this rule worth re-running for the PC they concern.
    triggers: tuple[str, ...] = ()
    # Whether the rule's query honours RuleInput.pc_ids (narrowing the scan to those PCs).
    scoped_by_pc: bool = True
    # The changed models whose rows name the findings' objects, so that a change run re-checks those
    # objects alone (RuleInput.object_ids, honoured by the query): {model label: the changed model's
    # field holding the object's id, or "pk" when the changed rows are the objects, or a KeysOf that
    # maps them to finding keys (RuleInput.finding_keys)}. A change of a model not named here
    # re-checks the rule for the changed rows' PCs.
    narrows: tuple[tuple[str, str | KeysOf], ...] = ()

    @property
    def may_be_disabled(self) -> bool:
        return self.severity != Severity.CRITICAL

    def defaults(self) -> dict[str, Decimal]:
        return {t.name: t.default for t in self.thresholds}

    def narrowing(self, label: str) -> str | KeysOf | None:
        """The field of a changed `label` row naming a finding's object, or the KeysOf mapping such
        rows to findings, or None: not narrowed."""
        return dict(self.narrows).get(label)

    def reads(self, label: str) -> frozenset[str] | None:
        """The columns of `label`'s table this rule's SQL reads (``columns_read``); None: all."""
        return columns_read(self, label)


# Identifiers in compiled SQL: Django quotes every table and column name.
QUOTED_NAME = re.compile(r'"([^"]+)"')
# A whole row of a table read at once (no rule does; if one did, every column would count). A
# ``SELECT * FROM (subquery)`` (Django's wrapper of a union) reads the subquery's named columns.
WHOLE_ROW = re.compile(
    r'(?:"|\b\w+)\.\*|SELECT\s+\*\s+FROM\s+"|to_jsonb?\s*\(\s*(?:"[^"]+"|\w+)\s*\)|row_to_json|\bROW\s*\(',
    re.IGNORECASE,
)


@functools.cache
def columns_read(rule: Rule, label: str) -> frozenset[str] | None:
    """The columns of the table of model `label` that `rule` reads, in every form its query takes (the
    whole tenant, some PCs, some objects, some finding keys, and its ``KeysOf`` mapping of rows of
    `label`), or None when the SQL does not name the table (the rule reads it some other way: every
    column counts) or reads whole rows. Compiled once per process (``warm_reads``).

    Over-approximate on purpose: a column of that name read from any table counts. So an update that
    changed none of these columns cannot change the rule's hits, and a change run may skip the rule
    for that row (``engine.Written``). A rule's query must read the same columns whatever its date and
    thresholds (tests/test_compliance_incremental.py checks every rule at its thresholds' bounds)."""
    from django.apps import apps
    from django.db import connection

    model = apps.get_model(label)
    columns = {f.column for f in model._meta.concrete_fields}
    table = connection.ops.quote_name(model._meta.db_table)
    read: set[str] = set()
    for sql in (*rule_sql_forms(rule), *keys_sql_forms(rule, label)):
        if table not in sql or WHOLE_ROW.search(sql):
            return None
        read |= columns & set(QUOTED_NAME.findall(sql))
    return frozenset(read)


PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"


PLACEHOLDER_DAY = dt.date(2000, 1, 31)


def placeholder_input(
    rule: Rule, params: Mapping[str, Decimal] | None = None, today: dt.date = PLACEHOLDER_DAY
) -> RuleInput:
    values = rule.defaults() if params is None else params
    return RuleInput(tenant_id=PLACEHOLDER_ID, today=today, params=values)


@functools.cache
def rule_sql_forms(
    rule: Rule, params: tuple[tuple[str, Decimal], ...] | None = None, today: dt.date = PLACEHOLDER_DAY
) -> tuple[str, ...]:
    """The SQL of the forms of `rule`'s query (whole tenant, PCs, objects, finding keys) at its default
    thresholds and a fixed date, or at `params` and `today`."""
    base = placeholder_input(rule, dict(params) if params is not None else None, today)
    forms = (
        base,
        replace(base, pc_ids=(PLACEHOLDER_ID,)),
        replace(base, object_ids=(PLACEHOLDER_ID,)),
        replace(base, finding_keys=((PLACEHOLDER_ID, "2000-01"),)),
    )
    return tuple(str(rule.query(q).query.sql_with_params()[0]) for q in forms)


def keys_sql_forms(rule: Rule, label: str) -> tuple[str, ...]:
    via = rule.narrowing(label)
    if not isinstance(via, KeysOf):
        return ()
    return (str(via.keys(placeholder_input(rule), (PLACEHOLDER_ID,)).query.sql_with_params()[0]),)


def warm_reads() -> None:
    """Compile what every rule reads of its triggers' tables, once: a worker process does it when it
    starts, so that no change run pays for it (about a second for all rules)."""
    for item in REGISTRY.all():
        for label in item.triggers:
            columns_read(item, label)


@dataclass
class Registry:
    rules: dict[str, Rule] = field(default_factory=dict)

    def add(self, item: Rule) -> Rule:
        if item.id in self.rules:
            raise ValueError(f"rule {item.id} is declared twice")
        self.rules[item.id] = item
        return item

    def get(self, rule_id: str) -> Rule:
        load_rules()
        return self.rules[rule_id]

    def all(self) -> list[Rule]:
        """Every rule, ordered by id (CHT-001 … WST-001), once the rule modules are imported."""
        load_rules()
        return [self.rules[k] for k in sorted(self.rules)]

    def triggered_by(self, label: str) -> list[Rule]:
        return [r for r in self.all() if label in r.triggers]


REGISTRY = Registry()
RULE_MODULES = ("compliance.rules.business", "compliance.rules.clinical")


def load_rules() -> None:
    import importlib

    for name in RULE_MODULES:
        importlib.import_module(name)


def rule(
    rule_id: str,
    *,
    title: str,
    severity: Severity,
    side: Side,
    citation: str,
    statement: str,
    states: tuple[str, ...] = ("CA",),
    thresholds: tuple[Threshold, ...] = (),
    triggers: tuple[str, ...] = (),
    scoped_by_pc: bool = True,
    narrows: Mapping[str, str | KeysOf] | None = None,
) -> Callable[[Query], Query]:
    """Register the decorated query as rule `rule_id` (see the module docstring)."""

    def register(query: Query) -> Query:
        REGISTRY.add(
            Rule(
                rule_id,
                title,
                severity,
                side,
                citation,
                statement,
                query,
                states,
                thresholds,
                triggers,
                scoped_by_pc,
                tuple(sorted((narrows or {}).items(), key=lambda item: item[0])),
            )
        )
        return query

    return register
