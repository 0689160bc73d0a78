"""Every URL of the project, read from the URL resolver, and how to aim it at a world's objects.

The attack tests (tests/test_attack_*.py) are generated from this list, so a new page or endpoint
is attacked the moment it is routed. Whatever the list cannot place on its own — a new URL keyword,
a page whose model is unknown, a new public URL — fails loudly (``RouteMapError``) instead of being
skipped.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connection, models, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern, RoutePattern
from rest_framework.permissions import AllowAny

from clinical.models import PatientChart
from management.models import Location, MsoEntity, ProfessionalCorporation
from tenants.access import AccessContext
from tenants.capacities import ADD, CAPACITIES, CHANGE, VIEW, Side
from tenants.models import ApiKey, AuditLogEntry, Membership, Tenant
from tenants.services import api_key_create
from tests.api_matrix import ENDPOINTS, issue_keys, reaches
from tests.worlds import World, build_world

API_PREFIX = "api/v1/"
ALL_METHODS = ("get", "head", "options", "post", "put", "patch", "delete")
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})

# URL keywords the matrix knows how to fill. A new one fails the suite until it is mapped here.
KNOWN_KWARGS = frozenset({"tenant_slug", "pk", "key_id"})

# Browser pages under /t/<slug>/ and the model each one shows (None: a page about the person or the
# tenant itself, open to every capacity). Pages marked with tenants.views.page_of need no entry; any
# other new page fails the suite until it is listed here.
BROWSER_PAGE_MODELS: dict[str, type[models.Model] | None] = {
    "dashboard": None,
    "capacity-switch": None,
    "api-keys": None,
    "api-key-revoke": ApiKey,
    "location-list": Location,
    "location-detail": Location,
    "pc-list": ProfessionalCorporation,
    "pc-detail": ProfessionalCorporation,
    "chart-list": PatientChart,
    "chart-detail": PatientChart,
}
# Browser URLs outside /t/<slug>/: the person's own account, reachable without a tenant by design.
OPEN_BROWSER_URLS = frozenset(
    {"login", "logout", "tenant-picker", "two-factor", "two-factor-setup", "two-factor-recovery-codes"}
)
# API URLs that describe, never return, data: no key needed.
PUBLIC_API_URLS = frozenset({"api-schema", "api-docs", "api-redoc"})


class RouteMapError(AssertionError):
    """A URL the attack matrix cannot aim: map it here rather than let it go untested."""


@dataclass(frozen=True)
class Route:
    name: str
    pieces: tuple[RoutePattern | RegexPattern, ...]
    callback: Callable[..., Any] = field(compare=False)

    @property
    def kwargs(self) -> tuple[str, ...]:
        names: list[str] = []
        for piece in self.pieces:
            names += [n for n in piece.regex.groupindex if n not in names]
        return tuple(names)

    @property
    def template(self) -> str:
        return "/" + "".join(_piece_text(p, None) for p in self.pieces)

    @property
    def is_api(self) -> bool:
        return str(self.pieces[0]) == API_PREFIX

    @property
    def is_tenant_page(self) -> bool:
        return not self.is_api and "tenant_slug" in self.kwargs

    @property
    def view_class(self) -> Any:
        return getattr(self.callback, "cls", None)

    @property
    def is_public_api(self) -> bool:
        initkwargs = getattr(self.callback, "view_initkwargs", {}) or {}
        perms = initkwargs.get("permission_classes") or getattr(self.view_class, "permission_classes", [])
        return self.is_api and AllowAny in list(perms)

    @property
    def methods(self) -> frozenset[str]:
        """HTTP methods the API route serves (DRF viewset action map, or an APIView's handlers)."""
        # HEAD and OPTIONS come with every view; DRF even adds "head" to a viewset's action map on
        # its first request, so they are left out here and attacked separately.
        actions = getattr(self.callback, "actions", None)
        if actions:
            return frozenset(actions) - {"head", "options"}
        cls = self.view_class
        return frozenset(m for m in ALL_METHODS if m not in {"head", "options"} and hasattr(cls, m))

    def action(self, method: str) -> str | None:
        return (getattr(self.callback, "actions", None) or {}).get(method)

    @property
    def model(self) -> type[models.Model] | None:
        """The model whose rows the route serves (None for /me/, the dashboard …)."""
        if self.is_api:
            queryset = getattr(self.view_class, "queryset", None)
            return queryset.model if queryset is not None else None
        marked = getattr(self.callback, "page_model", None)  # tenants.views.page_of
        if marked is not None:
            return marked
        if self.name not in BROWSER_PAGE_MODELS:
            raise RouteMapError(f"page {self.name!r} ({self.template}) is not in BROWSER_PAGE_MODELS")
        return BROWSER_PAGE_MODELS[self.name]

    @property
    def object_kwarg(self) -> str | None:
        rest = [k for k in self.kwargs if k != "tenant_slug"]
        assert len(rest) <= 1, (self.template, rest)
        return rest[0] if rest else None

    @property
    def side(self) -> Side:
        policy = getattr(self.model, "access", None)
        return policy.side if policy is not None else Side.BUSINESS

    def url(self, values: dict[str, str]) -> str:
        unknown = set(self.kwargs) - KNOWN_KWARGS
        if unknown:
            raise RouteMapError(f"{self.template}: URL keyword(s) {sorted(unknown)} unknown to the matrix")
        missing = set(self.kwargs) - set(values)
        assert not missing, (self.template, missing)
        url = "/" + "".join(_piece_text(p, values) for p in self.pieces)
        match = resolve(url)  # the URL we built must reach this very view with these keywords
        assert match.func is self.callback and set(match.kwargs) == set(self.kwargs), (url, match)
        return url

    def __str__(self) -> str:
        return self.template


_ROUTE_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<parameter>[^>]+)>")


def _piece_text(piece: RoutePattern | RegexPattern, values: dict[str, str] | None) -> str:
    """One pattern piece with its keywords filled (or shown as <name> when values is None)."""

    def fill(name: str) -> str:
        return f"<{name}>" if values is None else values[name]

    if isinstance(piece, RoutePattern):
        return _ROUTE_PARAM.sub(lambda m: fill(m["parameter"]), str(piece))
    text = str(piece).removeprefix("^").removesuffix("$").removesuffix("\\Z")
    out, i = [], 0
    while i < len(text):
        if text.startswith("(?P<", i):
            name = text[i + 4 : text.index(">", i)]
            depth, j = 0, i
            while True:  # skip to the group's closing parenthesis
                depth += {"(": 1, ")": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            out.append(fill(name))
            i = j
        else:
            out.append(text[i])
            i += 1
    built = "".join(out)
    if re.search(r"[\\^$()\[\]*+?|{}]", built):
        raise RouteMapError(f"cannot build a URL from the regex {piece} (got {built!r})")
    return built


def _walk(patterns: list[Any], prefix: tuple[Any, ...] = ()) -> Iterator[Route]:
    for pattern in patterns:
        if not isinstance(pattern.pattern, RoutePattern | RegexPattern):
            raise RouteMapError(
                f"{pattern.pattern!r} under {prefix}: the matrix builds route and regex URLs only"
            )
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, (*prefix, pattern.pattern))
        else:
            assert isinstance(pattern, URLPattern)
            if not pattern.name:
                raise RouteMapError(f"unnamed URL pattern {pattern} under {prefix}: name it")
            yield Route(pattern.name, (*prefix, pattern.pattern), pattern.callback)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def tenant_pages() -> list[Route]:
    return [r for r in all_routes() if r.is_tenant_page]


def api_routes() -> list[Route]:
    """Every /api/v1/ route that serves tenant data (the schema and its docs excluded)."""
    return [r for r in all_routes() if r.is_api and not r.is_public_api]


# --- the worlds' objects -------------------------------------------------------------------------


@dataclass
class Stage:
    """A world with a raw API key per capacity, plus a spare key per capacity (for revoke targets)."""

    world: World
    keys: dict[str, str]
    spare_keys: dict[str, ApiKey]

    @property
    def tenant(self) -> Tenant:
        return self.world.tenant

    def objects(self, model: type[models.Model]) -> list[Any]:
        w = self.world
        table: dict[type[models.Model], list[Any]] = {
            MsoEntity: [w.entity],
            ProfessionalCorporation: list(w.pcs),
            Location: list(w.locations),
            PatientChart: list(w.charts),
            ApiKey: list(self.spare_keys.values()),
            **w.objs,
        }
        if model not in table:
            raise RouteMapError(f"no objects of {model.__name__} in the test worlds: add them to Stage")
        return table[model]

    def values(self, route: Route, obj: Any = None) -> dict[str, str]:
        values = {"tenant_slug": self.tenant.slug}
        if route.object_kwarg is not None:
            assert obj is not None, route
            values[route.object_kwarg] = str(obj.pk)
        return values

    def secrets(self) -> list[str]:
        """Strings that only this world's data contains: seeing one elsewhere is a leak."""
        w = self.world
        found = [str(w.tenant.pk), w.tenant.name, str(w.entity.pk), w.entity.legal_name]
        for pc in w.pcs:
            found += [str(pc.pk), pc.legal_name]
        for loc in w.locations:
            found += [str(loc.pk), loc.name]
        for chart in w.charts:
            found += [str(chart.pk), chart.patient_name, chart.medical_record_number]
        for member in w.members.values():
            found += [str(member.pk), member.user.email, str(member.user.pk)]
        for key in self.spare_keys.values():
            found += [str(key.pk), key.name]
        for rows in w.objs.values():
            for row in rows:
                found += names_of(row)
        return found


def stage(world: World) -> Stage:
    """Give every named object a name no other world's can contain (factory sequences can)."""
    marker = world.tenant.slug
    for index, pc in enumerate(world.pcs):
        pc.legal_name = f"{marker}-pc-{index}-{uuid.uuid4().hex[:10]} Medical Corporation"
        pc.save(update_fields=["legal_name"])
    for index, loc in enumerate(world.locations):
        loc.name = f"{marker}-spa-{index}-{uuid.uuid4().hex[:10]}"
        loc.save(update_fields=["name"])
    for index, chart in enumerate(world.charts):
        chart.patient_name = f"{marker}-patient-{index}-{uuid.uuid4().hex[:10]}"
        chart.medical_record_number = f"{marker[:4]}{uuid.uuid4().hex[:20]}"
        chart.save(update_fields=["patient_name", "medical_record_number"])
    world.entity.legal_name = f"{marker}-entity-{uuid.uuid4().hex[:10]} LLC"
    world.entity.save(update_fields=["legal_name"])
    spare = {
        code: api_key_create(ctx=AccessContext.for_membership(m, via="api"), name=f"{marker} spare {code}")[0]
        for code, m in world.members.items()
    }
    return Stage(world, issue_keys(world), spare)


# Pages that act rather than show, by URL-name suffix (the generic pages of tenants/pages.py and the
# CSV imports): a create page needs "add" on the model, an edit page "change" on the object.
PAGE_ACTIONS = {"-create": ADD, "-edit": CHANGE, "-import": ADD}


def page_action(route: Route) -> str:
    return next((action for suffix, action in PAGE_ACTIONS.items() if route.name.endswith(suffix)), VIEW)


def may_see(
    stage: Stage, capacity: str, model: type[models.Model] | None, obj: Any, action: str = VIEW
) -> bool:
    """Whether `capacity` of the stage's world may view `obj` (or the list of `model` if obj is None);
    with `action`, whether it may do that instead (add: the model at all; change: that object).

    Worked out from the capacity table and the grant rows (tests.api_matrix.reaches), not through
    tenants.access, which is the code under test.
    """
    if model is None:
        return True
    if model is ApiKey:
        return obj is None or obj.membership_id == stage.world.members[capacity].pk
    policy = getattr(model, "access", None)
    assert policy is not None, model
    spec = CAPACITIES[capacity]
    if not spec.may(policy.side, action):
        return False
    if action != VIEW:  # writes narrower than the side's (the scope table: physicians only)
        writers = next((e.writers for e in ENDPOINTS if e.model is model and e.writers is not None), None)
        if writers is not None and capacity not in writers:
            return False
    if obj is None:
        return True
    target: Any = None
    if policy.scope_model is not None:
        target = obj
        for part in filter(None, (policy.scope_path or "").split("__")):
            target = getattr(target, part)
    return reaches(stage.world, capacity, policy.side, target, action)


# --- request bodies --------------------------------------------------------------------------------

_serial = itertools.count(1)


def create_payload(model: type[models.Model] | None, stage: Stage) -> dict[str, Any]:
    """A body the model's create endpoint accepts from a capacity that may create in `stage`."""
    if model is ApiKey:
        return {"name": f"attack key {next(_serial)}"}
    for endpoint in ENDPOINTS:
        if endpoint.model is model and endpoint.create_payload is not None:
            return endpoint.create_payload(stage.world)
    raise RouteMapError(f"no create payload for {model}: add one to tests/api_matrix.py ENDPOINTS")


def write_payload(route: Route, method: str, stage: Stage) -> dict[str, Any]:
    """A valid body for `method` on `route` (empty for actions that take none, e.g. revoke)."""
    action = route.action(method)
    if method == "post" and action not in (None, "create"):
        return {}
    if method == "patch":
        for endpoint in ENDPOINTS:
            if endpoint.model is route.model:
                return dict(endpoint.update_payload)
    return create_payload(route.model, stage)


def actor(route: Route) -> str:
    """The capacity that reads and writes through the route: the PC physician for clinical data, else
    the MSO admin (both may act on every object of their world the route serves)."""
    return "pc_physician" if route.side == Side.CLINICAL else "mso_admin"


# --- the world pair of a module, requests and what they must not show or write ---------------------


def module_stages(django_db_blocker: Any) -> Iterator[tuple[Stage, Stage]]:
    """One world pair for a whole test module (building it per test would triple the run time).

    It is built inside a transaction that is rolled back when the module ends; every test runs in
    a savepoint within it (pytest-django's ``db``), so no test sees what another one wrote.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        pair = stage(build_world("alpha", domain=True)), stage(build_world("bravo", domain=True))
        yield pair
        transaction.set_rollback(True)


def snapshot(tenant: Tenant | None = None) -> dict[str, str]:
    """A digest per table of every row a request could write (of one tenant, if given), less the
    keys' last-use stamp: equal snapshots mean nothing was written. A changed table shows by label.

    Hashed in PostgreSQL, one query for all tables (the attack tests take hundreds of snapshots; a
    row-by-row comparison in Python was most of their run time). The test connection owns the tables
    and is not subject to their row-level security, so it sees every tenant's rows.
    """
    models: list[Any] = [Tenant, Membership, ApiKey, AuditLogEntry]
    for label in ("management", "clinical", "compliance"):
        models += list(apps.get_app_config(label).get_models())
    parts: list[str] = []
    params: list[Any] = []
    for model in models:
        where, scope = "", []
        if tenant is not None:
            if model is Tenant:
                where, scope = " WHERE t.id = %s", [tenant.pk]
            elif any(f.name == "tenant" for f in model._meta.get_fields()):
                where, scope = " WHERE t.tenant_id = %s", [tenant.pk]
        table = model._meta.db_table
        quoted = table if table.startswith('"') else connection.ops.quote_name(table)
        row = "md5((to_jsonb(t) - 'last_used_at')::text)"
        parts.append(
            f"SELECT %s AS label, md5(coalesce(string_agg({row}, '' ORDER BY {row}), '')) AS digest"
            f" FROM {quoted} t{where}"
        )
        params += [model._meta.label, *scope]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        return dict(cursor.fetchall())


def body(response: Any) -> str:
    return response.content.decode("utf-8", errors="replace")


def assert_no_leak(response: Any, foreign: Stage, what: object, sent: Any = None) -> None:
    """No 5xx, and none of `foreign`'s ids or names in the body or headers.

    What the client sent may come back: the request's URL (a login redirect's ?next=) and the ids
    of its body ("Unknown PC <id>: not one this key may use", the same for absent ids). That echoes
    the client, it tells nothing, so it is not counted.
    """
    status = response.status_code
    assert status < 500, (what, status, body(response)[:500])
    headers = "".join(f"{k}: {v}\n" for k, v in response.items())
    request_path = response.wsgi_request.path if hasattr(response, "wsgi_request") else ""
    text = body(response) + (headers.replace(request_path, "") if request_path else headers)
    echoed = json.dumps(sent, default=str) if sent else ""
    leaked = [s for s in foreign.secrets() if s in text and s not in echoed]
    assert not leaked, (what, status, leaked)


def names_of(obj: Any) -> list[str]:
    fields = ("name", "legal_name", "patient_name", "medical_record_number", "full_name", "title")
    return [str(obj.pk), *(str(getattr(obj, f)) for f in fields if hasattr(obj, f))]


def write_body(route: Route, method: str, st: Stage) -> dict[str, Any]:
    """A valid body for the methods the route serves with one (empty otherwise)."""
    if method in route.methods & {"post", "put", "patch"}:
        return write_payload(route, method, st)
    return {}


def objects_for(route: Route, st: Stage) -> list[Any]:
    """The world's objects the route can be aimed at ([None] when it takes no object id)."""
    if route.object_kwarg is None:
        return [None]
    model = route.model
    assert model is not None, route
    return st.objects(model)


def send(
    client: Client,
    method: str,
    url: str,
    data: dict[str, Any] | None = None,
    *,
    key: str | None = None,
    header: str | None = None,
) -> Any:
    """One request, with `key` (or a raw Authorization `header`); bodies go as JSON."""
    extra: dict[str, Any] = {}
    if header is not None or key is not None:
        extra["HTTP_AUTHORIZATION"] = header if header is not None else f"Api-Key {key}"
    if method in {"post", "put", "patch"}:
        payload = json.dumps(data or {}, default=str)
        return client.generic(method.upper(), url, data=payload, content_type="application/json", **extra)
    return client.generic(method.upper(), url, **extra)
