"""The one scoping and permission path (NetBox's ``restrict``, Sentry's scoped endpoints).

Every view, API viewset and task reaches tenant data through an ``AccessContext``:
- ``activate(ctx)`` puts the current transaction under the capacity's PostgreSQL role and the
  tenant's ``app.tenant_id`` (``SET LOCAL``: gone at commit/rollback, never leaks to the next use
  of the connection);
- ``restrict(queryset, ctx, action)`` narrows a queryset to what the capacity may do, using
  django-guardian grants on PCs/locations for capacities that are not tenant-wide;
- ``get_for_action`` fetches one object through ``restrict`` and answers 404 for ids of other
  tenants, unpermitted ids and malformed ids alike.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import connection, models, transaction
from django.http import Http404
from guardian.utils import get_group_obj_perms_model

from mso_platform.db import boundary
from mso_platform.db.prepared import execute_prepared, execute_sql, prepare
from tenants.capacities import VIEW, WRITE_ACTIONS, Capacity, Side

if TYPE_CHECKING:
    from tenants.models import Membership, Tenant, User

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class AccessContext:
    tenant: Tenant
    membership: Membership | None  # None for system tasks
    capacity: Capacity
    via: str = "browser"  # browser, api, task
    client_ip: str | None = None

    @property
    def user(self) -> User | None:
        return self.membership.user if self.membership else None

    @classmethod
    def for_membership(
        cls, membership: Membership, *, via: str, client_ip: str | None = None
    ) -> AccessContext:
        return cls(membership.tenant, membership, membership.capacity_spec, via=via, client_ip=client_ip)


def _locals_sql(role: str | None, settings: dict[str, str | None]) -> tuple[str, list[str]]:
    """The statement setting the transaction's role and app.* settings (all LOCAL: gone at commit).

    set_config('role', r, true) is SET LOCAL ROLE r (same membership check); a request used to
    spend one round trip per setting, up to 20 per API request (bench/README.md).
    """
    pairs = ([("role", role)] if role else []) + [(name, value or "") for name, value in settings.items()]
    sql = "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(pairs))
    return sql, [item for pair in pairs for item in pair]


def _set_locals(role: str | None, settings: dict[str, str | None]) -> None:
    _run_or_carry(*_locals_sql(role, settings), sets=frozenset(settings) | ({"role"} if role else set()))


# --- Settings statements carried in the round trip of the next statement --------------------------

_CARRIED = "mso_carried_settings"  # attribute of the connection while carried_settings() is open

# A statement waiting to be carried: its SQL, its parameters, and for a settings statement the
# names it sets ("role" included), for any other None.
_Waiting = tuple[str, list[Any], frozenset[str] | None]


def _run_or_carry(sql: str, params: list[Any], *, sets: frozenset[str] | None = None) -> None:
    """Run a role/settings statement now, or inside ``carried_settings()`` just ahead of the next
    statement on this connection, in that statement's round trip.

    `sets` names what a settings statement sets. A waiting settings statement that this one sets
    again in full, with no other statement between them, is dropped: nothing would ever run under
    it (the API's first round trip set the gateway twice, bench/README.md)."""
    carried: list[_Waiting] | None = getattr(connection, _CARRIED, None)
    if carried is None:
        with connection.cursor() as cur:
            cur.execute(sql, params)
        return
    if sets is not None:
        while carried and carried[-1][2] is not None and carried[-1][2] <= sets:
            carried.pop()
    carried.append((sql, params, sets))


def _joined(waiting: list[_Waiting]) -> tuple[str, list[Any]]:
    return "; ".join(sql for sql, _, _ in waiting), [p for _, params, _ in waiting for p in params]


@contextmanager
def carried_settings() -> Iterator[None]:
    """Inside, role and app.* settings statements wait for the next statement and go in its round
    trip, in front of it (psycopg2 sends them as one query, runs them in order and returns the last
    one's rows).

    Every statement runs under exactly the state it would have had if they had run at once: each
    statement Django sends passes the wrapper below, which puts whatever waits in front of it. A
    statement that cannot carry them (executemany, a server-side cursor's DECLARE) has them sent
    just before it, on their own; what still waits when the block ends is sent then. If the block
    raises, what waits is dropped: the transaction keeps the role it had, never a wider one.
    The request middleware opens one per request and enters the gateway inside it, so the gateway's
    switch rides with the request's first statement (bench/README.md: each switch used to cost a
    round trip of its own on every request).
    """
    if getattr(connection, _CARRIED, None) is not None:  # an outer block carries them already
        yield
        return
    waiting: list[_Waiting] = []

    def send_on_their_own() -> None:
        prefix, prefix_params = _joined(waiting)
        waiting.clear()
        with connection.cursor() as cur:  # passes the wrapper below, with nothing waiting
            cur.execute(prefix, prefix_params)

    def ahead(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not waiting:
            return execute(sql, params, many, context)
        if many or getattr(context["cursor"].cursor, "name", None):
            send_on_their_own()
            return execute(sql, params, many, context)
        prefix, prefix_params = _joined(waiting)
        waiting.clear()
        if params is None:  # the statement had no placeholders: its % signs are literal
            sql, params = sql.replace("%", "%%"), ()
        return execute(f"{prefix}; {sql}", (*prefix_params, *params), many, context)

    setattr(connection, _CARRIED, waiting)
    try:
        with connection.execute_wrapper(ahead):
            yield
            if waiting:
                send_on_their_own()
    finally:
        delattr(connection, _CARRIED)


def _gateway_settings(user_id: Any, api_key_hash: str | None, tenant_id: Any) -> dict[str, str | None]:
    return {
        "app.tenant_id": str(tenant_id) if tenant_id else None,
        "app.user_id": str(user_id) if user_id else None,
        "app.api_key_hash": api_key_hash,
    }


def enter_gateway(*, user_id: Any = None, api_key_hash: str | None = None, tenant_id: Any = None) -> None:
    """Before a capacity is known: the gateway role, which holds no privilege on domain data.

    tenant_id is given once an API key has named its tenant, so the gateway may read that
    tenant's membership behind the key (memberships are RLS'd like every tenant-owned table).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("enter_gateway() needs a transaction: SET LOCAL would be a no-op")
    _set_locals(boundary.GATEWAY_ROLE, _gateway_settings(user_id, api_key_hash, tenant_id))


def _tenant_of_key_sql(table: str) -> str:
    qn = connection.ops.quote_name
    return (
        "SELECT set_config('app.tenant_id', COALESCE((SELECT k.tenant_id::text FROM "
        f"{qn(table)} k WHERE k.key_hash = %s), ''), true)"
    )


@contextmanager
def gateway_for_api_key(api_key_hash: str) -> Iterator[None]:
    """The gateway presenting an API key's hash, then the tenant that key names, sent in the round
    trip of the first statement inside (the key's lookup; see ``carried_settings``).

    The same two steps as ``enter_gateway(api_key_hash=h)`` and then ``enter_gateway(api_key_hash=h,
    tenant_id=<the key's tenant>)``: row-level security shows the gateway only the key row with that
    hash, and then the memberships of the one tenant that row names (none when no key has the
    hash). Carried by the lookup they are one round trip instead of three (bench/README.md).
    """
    from tenants.models import ApiKey

    if not connection.in_atomic_block:
        raise RuntimeError("gateway_for_api_key() needs a transaction: SET LOCAL would be a no-op")
    with carried_settings():
        _set_locals(boundary.GATEWAY_ROLE, _gateway_settings(None, api_key_hash, None))
        # Its own statement, after the first: the policy reads app.api_key_hash as set by then.
        # Prepared (mso_platform.db.prepared): on a connection's first key, the PREPARE takes the
        # waiting settings with it and the EXECUTE waits for the lookup.
        with connection.cursor() as cur:
            name, count = prepare(cur, _tenant_of_key_sql(ApiKey._meta.db_table))
        _run_or_carry(execute_sql(name, count), [api_key_hash])
        yield


def activate(ctx: AccessContext) -> None:
    """Run the rest of the current transaction as `ctx`: its DB role, tenant and audit identity."""
    if not connection.in_atomic_block:
        raise RuntimeError("activate() needs a transaction: SET LOCAL would be a no-op")
    _set_locals(ctx.capacity.db_role, _identity(ctx))


def _identity(ctx: AccessContext) -> dict[str, str | None]:
    user = ctx.user
    return {
        "app.tenant_id": str(ctx.tenant.pk),
        "app.user_id": str(user.pk) if user else None,
        "app.capacity": ctx.capacity.code,
        "app.membership_id": str(ctx.membership.pk) if ctx.membership else None,
        "app.client_ip": ctx.client_ip,
        "app.via": ctx.via,
        "app.api_key_hash": None,
    }


@contextmanager
def one_statement_as(ctx: AccessContext) -> Iterator[None]:
    """Outside any transaction: the one statement run inside is a transaction of its own, run as
    `ctx` (its role and settings go in that statement's round trip, see ``carried_settings``).

    PostgreSQL runs the settings and the statement, sent as one query, as one implicit transaction
    and commits it before answering: ``SET LOCAL`` holds for the statement, and whatever it locks is
    released at that commit, with no wait for the application's next round trip. A second statement
    inside would run under the login role, so it is refused."""
    if connection.in_atomic_block or not connection.get_autocommit():
        raise RuntimeError("one_statement_as() runs outside a transaction (it commits on its own)")
    statements = 0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal statements
        statements += 1
        if statements > 1 or many:
            raise RuntimeError("one_statement_as() runs one statement")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count), carried_settings():
        # The counter wraps the carrier: it counts the statement, not the settings in front of it.
        _set_locals(ctx.capacity.db_role, _identity(ctx))
        yield
        if statements != 1:
            raise RuntimeError("one_statement_as() ran no statement")


_SETTINGS = (
    "app.tenant_id",
    "app.user_id",
    "app.capacity",
    "app.membership_id",
    "app.client_ip",
    "app.via",
    "app.api_key_hash",
)


def reset_identity() -> None:
    """Back to the connection's login role with no tenant (used when a caller's transaction goes on)."""
    _run_or_carry("RESET ROLE", [])
    _set_locals(None, dict.fromkeys(_SETTINGS))


def current_db_role() -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT current_user")
        return str(cur.fetchone()[0])


@transaction.atomic
def run_as(ctx: AccessContext, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call fn inside one transaction activated for ctx (management commands, tasks, tests)."""
    activate(ctx)
    return fn(*args, **kwargs)


def _scope_model(name: str) -> type[models.Model]:
    from management.models import Location, ProfessionalCorporation

    return {"location": Location, "pc": ProfessionalCorporation}[name]


def _scope_perm(scope_model: type[models.Model], side: Side, action: str) -> str:
    """The guardian permission on the PC/location that admits a row for `action`.

    Business rows: reading needs view_<scope>, any write change_<scope>. Clinical rows: a grant of
    view_<scope> means "works for this PC/location", which is what charting there requires;
    changing the PC or location record itself stays a business write. Finer actions
    (approve_marketing, sign_protocol) are checked by the services that perform them.
    """
    verb = "view" if action == VIEW or side == Side.CLINICAL else "change"
    return f"{scope_model._meta.app_label}.{verb}_{scope_model._meta.model_name}"


@functools.cache
def _granted_scope_sql(scope_model: type[models.Model]) -> str:
    """The grant lookup of ``granted_scope`` for one scope model, its names taken from the models."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    qn = connection.ops.quote_name
    grants: Any = get_group_obj_perms_model(scope_model)  # type: ignore[arg-type]  # a class works too

    def col(model: Any, field: str) -> str:
        return qn(str(model._meta.get_field(field).column))

    g, p, ct, s = (qn(m._meta.db_table) for m in (grants, Permission, ContentType, scope_model))
    pk = qn(str(scope_model._meta.pk.column))
    return (
        f"SELECT s.{pk} FROM {s} s WHERE s.{col(scope_model, 'tenant')} = %s AND s.{pk} IN ("
        f"SELECT g.{col(grants, 'content_object')} FROM {g} g "
        f"JOIN {p} p ON p.id = g.{col(grants, 'permission')} "
        f"JOIN {ct} ct ON ct.id = p.{col(Permission, 'content_type')} "
        f"WHERE g.{col(grants, 'group')} = %s AND ct.app_label = %s AND ct.model = %s AND p.codename = %s)"
    )


def granted_scope(ctx: AccessContext, scope: str, side: Side, action: str) -> list[Any]:
    """Ids of the Locations/PCs the membership's group holds the permission for.

    The group's direct-FK object permissions (guardian's own tables); object grants only: a
    model-level permission never widens to every tenant. Handed to the caller's query as a literal
    list: as a subquery, the grant tables (each under row-level security) were planned into every
    statement of the request, the page's count and select alike, at about 1 ms each. Written as SQL
    because the ORM spent about 1.3 ms building this query on every request, twice its run time, and
    prepared once per connection because planning it took five times as long as running it
    (bench/README.md).
    """
    model = _scope_model(scope)
    if ctx.membership is None:
        return []
    app_label, codename = _scope_perm(model, side, action).split(".")
    with connection.cursor() as cur:
        execute_prepared(
            cur,
            _granted_scope_sql(model),
            [ctx.tenant.pk, ctx.membership.group_id, app_label, model._meta.model_name, codename],
        )
        return [row[0] for row in cur.fetchall()]


def restrict(qs: models.QuerySet[M], ctx: AccessContext, action: str = VIEW) -> models.QuerySet[M]:
    model = qs.model
    policy = getattr(model, "access", None)
    if policy is None or not ctx.capacity.may(policy.side, action):
        return qs.none()
    qs = qs.filter(tenant=ctx.tenant)  # RLS already does this; the filter keeps intent visible
    if ctx.capacity.tenant_wide or policy.scope_model is None:
        return qs
    ids = granted_scope(ctx, policy.scope_model, policy.side, action)
    path = f"{policy.scope_path}__in" if policy.scope_path else "pk__in"
    return qs.filter(**{path: ids})


def parse_id(raw: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except (ValueError, TypeError, AttributeError):
        raise Http404("No such object.") from None


def get_for_action(model: type[M], ctx: AccessContext, pk: Any, action: str = VIEW) -> M:
    """One object `ctx` may act on, or 404 (same answer for absent, other tenant's and forbidden)."""
    qs = restrict(model._default_manager.all(), ctx, action)
    try:
        return qs.get(pk=parse_id(pk))
    except model.DoesNotExist:  # type: ignore[attr-defined]
        raise Http404("No such object.") from None


def may(ctx: AccessContext, model: type[models.Model], action: str) -> bool:
    """Whether the capacity may attempt `action` on `model` at all (before any object scoping)."""
    policy = getattr(model, "access", None)
    return policy is not None and ctx.capacity.may(policy.side, action)


def check_still_visible(obj: models.Model, ctx: AccessContext, action: str) -> None:
    """After a write, inside the transaction: the object must still be inside ctx's scope (NetBox)."""
    if not restrict(type(obj)._default_manager.all(), ctx, action).filter(pk=obj.pk).exists():
        raise Http404("No such object.")


__all__ = [
    "WRITE_ACTIONS",
    "AccessContext",
    "activate",
    "carried_settings",
    "check_still_visible",
    "enter_gateway",
    "gateway_for_api_key",
    "get_for_action",
    "may",
    "reset_identity",
    "restrict",
    "run_as",
]
