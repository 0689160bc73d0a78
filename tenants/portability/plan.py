"""Which tables hold a tenant's data, in which order, and how each table's rows of the tenant are found.

Discovered from the installed models on every run, so tables added later are covered without a list
to maintain:
- the tenant row (``tenants_tenant``);
- every tenant-owned table (a ``tenant_id`` column; RLS'd), the audit log among them;
- shared principals referenced by those rows: users and auth groups (a membership's group);
- dependents: tables without ``tenant_id`` that hang off the rows above by a CASCADE foreign key
  (a user's groups, guardian grants of a group, a user's 2FA devices, many-to-many tables ...).
Content types and permissions are reference data: rows refer to them by natural key in an archive.
Any other table is global (not a tenant's data).
"""

from __future__ import annotations

import enum
import heapq
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models

from mso_platform.db.schemas import split_table
from tenants.models import AuditLogEntry, Tenant


class Kind(enum.StrEnum):
    TENANT = "tenant"
    USER = "user"
    GROUP = "group"
    TENANT_OWNED = "tenant_owned"
    DEPENDENT = "dependent"
    AUDIT = "audit"


# Insert order among tables that do not depend on each other (foreign keys decide the rest).
KIND_RANK = {k: i for i, k in enumerate(Kind)}
REFERENCE_MODELS: tuple[type[models.Model], ...] = (ContentType, Permission)
AUTO_FIELDS = (models.AutoField, models.BigAutoField, models.SmallAutoField)


@dataclass(frozen=True)
class Link:
    """A foreign-key column of a planned table."""

    column: str
    target: str  # db_table of the referenced model
    target_column: str
    cascade: bool  # on_delete=CASCADE: the row belongs to the referenced one
    enforced: bool  # a database constraint exists (db_constraint=True)


@dataclass
class Table:
    name: str  # as written in SQL: tenants_user, "clinical"."patient_chart"
    kind: Kind
    model: type[models.Model]
    links: list[Link] = field(default_factory=list)
    # An integer key from a sequence: renumbered on restore (the target's sequence owns the numbers).
    auto_pk: str | None = None

    @property
    def label(self) -> str:
        schema, bare = split_table(self.name)
        return f"{schema}.{bare}"

    @property
    def pk_column(self) -> str:
        return str(self.model._meta.pk.column)


def _links(model: type[models.Model]) -> list[Link]:
    out = []
    for f in model._meta.local_fields:
        if not (f.is_relation and f.concrete and (f.many_to_one or f.one_to_one)):
            continue
        rel: Any = f.remote_field
        out.append(
            Link(
                column=str(f.column),
                target=rel.model._meta.db_table,
                target_column=str(f.target_field.column),  # type: ignore[attr-defined]
                cascade=rel.on_delete is models.CASCADE,
                enforced=bool(getattr(f, "db_constraint", True)),
            )
        )
    return out


def tenant_owned_models() -> list[type[models.Model]]:
    return [m for m in _concrete_models() if any(f.column == "tenant_id" for f in m._meta.local_fields)]


def _concrete_models() -> list[type[models.Model]]:
    seen: dict[str, type[models.Model]] = {}
    for m in apps.get_models(include_auto_created=True):
        if m._meta.proxy or not m._meta.managed:
            continue
        seen.setdefault(m._meta.db_table, m)
    return list(seen.values())


@dataclass
class Plan:
    tables: list[Table]  # in insert order; delete in reverse

    def by_name(self) -> dict[str, Table]:
        return {t.name: t for t in self.tables}

    def of_kind(self, *kinds: Kind) -> list[Table]:
        return [t for t in self.tables if t.kind in kinds]

    @property
    def user_table(self) -> Table:
        return self.of_kind(Kind.USER)[0]

    @property
    def group_table(self) -> Table:
        return self.of_kind(Kind.GROUP)[0]

    def reference_tables(self) -> dict[str, type[models.Model]]:
        return {m._meta.db_table: m for m in REFERENCE_MODELS}

    def principal_sources(self, kind: Kind) -> list[tuple[Table, Link]]:
        """Tenant-owned columns whose values must exist as users (or groups): membership.user_id ..."""
        target = self.user_table if kind is Kind.USER else self.group_table
        return [
            (t, link)
            for t in self.of_kind(Kind.TENANT_OWNED)
            for link in t.links
            if link.target == target.name and link.enforced
        ]

    # --- row selection -----------------------------------------------------------------------------

    def where(self, table: Table, *, deleting: bool = False) -> str:
        """SQL condition for ``table``'s rows that belong to the tenant (params: tenant, users, groups).

        Exporting, a dependent row belongs when every CASCADE link it has into the plan points at a
        row that belongs (a user's group row only for this tenant's groups). Deleting, a row goes
        when any such link points at a row that goes, as a cascade would.
        """
        if table.kind is Kind.TENANT:
            return f"{q(table.pk_column)} = %(tenant)s"
        if table.kind in (Kind.TENANT_OWNED, Kind.AUDIT):
            return "tenant_id = %(tenant)s"
        if table.kind is Kind.USER:
            return f"{q(table.pk_column)} = ANY(%(users)s)"
        if table.kind is Kind.GROUP:
            return f"{q(table.pk_column)} = ANY(%(groups)s)"
        tables = self.by_name()
        links = self.owner_links(table)
        inside = [
            f"{q(link.column)} IN (SELECT {q(link.target_column)} FROM {link.target} "
            f"WHERE {self.where(tables[link.target], deleting=deleting)})"
            for link in links
        ]
        if deleting:
            return "(" + " OR ".join(inside) + ")"
        some = " OR ".join(f"{q(link.column)} IS NOT NULL" for link in links)
        every = " AND ".join(
            f"({q(link.column)} IS NULL OR {cond})" for link, cond in zip(links, inside, strict=True)
        )
        return f"({some}) AND {every}"

    def owner_links(self, table: Table) -> list[Link]:
        names = self.by_name()
        return [link for link in table.links if link.cascade and link.target in names]


def q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def build_plan() -> Plan:
    user_model = get_user_model()
    reference = {m._meta.db_table for m in REFERENCE_MODELS}
    planned: dict[str, Table] = {}
    candidates = []
    for model in _concrete_models():
        table = model._meta.db_table
        if table in reference:
            continue
        kind: Kind | None = None
        if model is Tenant:
            kind = Kind.TENANT
        elif model is AuditLogEntry:
            kind = Kind.AUDIT
        elif model is user_model:
            kind = Kind.USER
        elif model is Group:
            kind = Kind.GROUP
        elif any(f.column == "tenant_id" for f in model._meta.local_fields):
            kind = Kind.TENANT_OWNED
        if kind is None:
            candidates.append(model)
            continue
        planned[table] = _table(model, kind)
    # Dependents, to a fixed point: a table hanging off a dependent is one too.
    grew = True
    while grew:
        grew = False
        for model in list(candidates):
            links = _links(model)
            if any(link.cascade and link.target in planned for link in links):
                planned[model._meta.db_table] = _table(model, Kind.DEPENDENT)
                candidates.remove(model)
                grew = True
    return Plan(_insert_order(list(planned.values())))


def _table(model: type[models.Model], kind: Kind) -> Table:
    pk = model._meta.pk
    auto = str(pk.column) if isinstance(pk, AUTO_FIELDS) else None
    return Table(name=model._meta.db_table, kind=kind, model=model, links=_links(model), auto_pk=auto)


def _insert_order(tables: list[Table]) -> list[Table]:
    """Referenced tables before referencing ones (Kahn), ties by kind then name; the audit log last.

    Foreign keys are DEFERRABLE INITIALLY DEFERRED, so a cycle would not break a restore, but renumbered
    keys must be known before the rows that refer to them are written.
    """
    names = {t.name: t for t in tables}
    deps = {
        t.name: {link.target for link in t.links if link.target in names and link.target != t.name}
        for t in tables
    }
    for t in tables:
        if t.kind is Kind.AUDIT:
            deps[t.name] |= {o.name for o in tables if o.kind is not Kind.AUDIT}
    users: dict[str, set[str]] = {n: set() for n in names}
    for n, ds in deps.items():
        for d in ds:
            users[d].add(n)

    def key(n: str) -> tuple[int, str]:
        return (KIND_RANK[names[n].kind], n)

    ready = [key(n) for n, ds in deps.items() if not ds]
    heapq.heapify(ready)
    order: list[str] = []
    remaining = {n: set(ds) for n, ds in deps.items()}
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for u in sorted(users[n]):
            remaining[u].discard(n)
            if not remaining[u] and u not in order and key(u) not in ready:
                heapq.heappush(ready, key(u))
    # A cycle (none today): the rest in rank order; deferred constraints accept it.
    order += sorted((n for n in names if n not in order), key=key)
    return [names[n] for n in order]
