"""The attack matrix (issue 5), generated from the URL resolver: every page under /t/<slug>/ and every
/api/v1/ endpoint, attacked without credentials, with bad credentials, from another tenant and in
every capacity that may not use it.

Expected answers: no session → 302 to /login/?next=…; no/bad key → 401; another tenant's slug or
ids, or a capacity that may not → 404. Never a 5xx, never a body with another tenant's id or name,
and a refused request writes nothing (the database is compared before and after).

Routes come from ``tests.attack_routes`` (read off ``django.urls.get_resolver()``): a new URL is in
this matrix as soon as it is routed, and one the matrix cannot aim (a new URL keyword, a page whose
model it does not know) fails ``test_every_url_is_placed_in_the_matrix``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import django_filters
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.capacities import ADD, CAPACITIES, CHANGE, DELETE, VIEW, Side
from tenants.models import ApiKey, Membership
from tenants.security.policy import requires_two_factor
from tenants.services import api_key_revoke
from tests.attack_routes import (
    ALL_METHODS,
    BROWSER_PAGE_MODELS,
    KNOWN_KWARGS,
    OPEN_BROWSER_URLS,
    PUBLIC_API_URLS,
    WRITE_METHODS,
    Route,
    Stage,
    actor,
    all_routes,
    api_routes,
    assert_no_leak,
    body,
    may_see,
    module_stages,
    names_of,
    objects_for,
    page_action,
    send,
    snapshot,
    tenant_pages,
    write_body,
)
from tests.sessions import sign_in

pytestmark = pytest.mark.django_db

TENANT_PAGES = tenant_pages()
API_ROUTES = api_routes()
# Pages that only take POST; their GET must answer 405 for everyone (checked, so the list stays true).
POST_ONLY_PAGES = frozenset({"api-key-revoke"})
METHOD_ACTION = {
    "get": VIEW,
    "head": VIEW,
    "options": VIEW,
    "post": ADD,
    "put": CHANGE,
    "patch": CHANGE,
    "delete": DELETE,
}
# DRF's own actions; any other (e.g. revoke) is a change (tenants.api.views.ApiKeyViewSet.extra_actions).
STANDARD_ACTIONS = frozenset({"list", "retrieve", "create", "update", "partial_update", "destroy"})


def route_id(route: Route) -> str:
    return route.template


@pytest.fixture(scope="module")
def stages(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[Stage, Stage]]:
    yield from module_stages(django_db_blocker)


@pytest.fixture(scope="module")
def api() -> APIClient:
    """One client for the module: a new test client loads the whole middleware stack (and WhiteNoise
    scans every static file) on its first request, which would be most of this module's run time."""
    return APIClient()


@pytest.fixture(scope="module")
def anonymous() -> Client:
    return Client()


@pytest.fixture(scope="module")
def signed_in(stages: tuple[Stage, Stage], django_db_blocker: Any) -> dict[str, Client]:
    """A browser session of each alpha capacity, second factor passed, for the whole module."""
    with django_db_blocker.unblock():
        return {c: sign_in(Client(), stages[0].world.user(c)) for c in CAPACITIES}


# --- every URL is placed ---------------------------------------------------------------------------


def test_every_url_is_placed_in_the_matrix(stages: tuple[Stage, Stage]) -> None:
    a, _ = stages
    routes = all_routes()
    assert len(TENANT_PAGES) >= 8 and len(API_ROUTES) >= 10, "the resolver walk lost URLs"
    for route in routes:
        unknown = set(route.kwargs) - KNOWN_KWARGS
        assert not unknown, f"{route}: URL keyword(s) {sorted(unknown)} unknown to the attack matrix"
        if route.is_api:
            if route.is_public_api:
                assert route.name in PUBLIC_API_URLS, f"{route} needs no key: is that intended?"
            else:
                assert route.methods, route
        elif route.is_tenant_page:
            marked = getattr(route.callback, "page_model", None) is not None  # tenants.views.page_of
            assert marked or route.name in BROWSER_PAGE_MODELS, f"page {route} unknown to BROWSER_PAGE_MODELS"
        else:
            assert route.name in OPEN_BROWSER_URLS, f"{route} is outside /t/<slug>/: is that intended?"
        # Every route can be built and resolves back to its own view with a world's values.
        if route.is_tenant_page or (route.is_api and not route.is_public_api):
            for obj in objects_for(route, a):
                route.url(a.values(route, obj))
    assert {r.name for r in routes if r.is_public_api} == PUBLIC_API_URLS


# --- browser ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", TENANT_PAGES, ids=route_id)
def test_page_without_a_session_redirects_to_login_and_shows_nothing(
    route: Route, stages: tuple[Stage, Stage], anonymous: Client
) -> None:
    a, _ = stages
    client = anonymous
    before = snapshot()
    for obj in objects_for(route, a)[:1]:  # sent to the login page before any lookup: one id will do
        url = route.url(a.values(route, obj))
        for method in ("get", "head", "post"):
            response = send(client, method, url, {"name": "anonymous"})
            assert response.status_code == 302, (method, url, response.status_code)
            assert response["Location"] == f"/login/?next={url}", (method, url)
            assert response.content == b"", (method, url)
            assert_no_leak(response, a, (method, url))
    assert snapshot() == before


@pytest.fixture(scope="module")
def password_only(stages: tuple[Stage, Stage], django_db_blocker: Any) -> dict[str, Client]:
    """Sessions of the capacities that need a second factor, signed in with the password only."""
    with django_db_blocker.unblock():
        return {
            c: sign_in(Client(), stages[0].world.user(c), verified=False)
            for c in CAPACITIES
            if requires_two_factor(c)
        }


@pytest.mark.parametrize("route", TENANT_PAGES, ids=route_id)
def test_page_with_the_password_but_no_second_factor_shows_nothing(
    route: Route, stages: tuple[Stage, Stage], password_only: dict[str, Client]
) -> None:
    a, _ = stages
    assert password_only, "no capacity needs a second factor any more?"
    objects = [a.world.entity, *a.world.pcs, *a.world.locations, *a.world.charts]
    data = [n for o in objects for n in names_of(o)]
    before = snapshot()
    for capacity, client in password_only.items():
        for obj in objects_for(route, a)[:1]:  # sent to the second factor before any lookup
            url = route.url(a.values(route, obj))
            for method in ("get", "post"):
                response = send(client, method, url, {"name": "no second factor"})
                what = (capacity, method, url, response.status_code)
                if route.name == "capacity-switch":
                    # still free to pick a capacity that needs no second factor; nothing activated
                    assert response.status_code in {200, 400}, what
                else:
                    assert response.status_code == 302, what
                    assert response["Location"].startswith(reverse("two-factor")), what
                assert not [d for d in data if d in body(response)], what
    assert snapshot() == before


def test_open_account_pages_show_no_tenant_data_without_a_session(
    stages: tuple[Stage, Stage], anonymous: Client
) -> None:
    a, b = stages
    client = anonymous
    for route in all_routes():
        if route.is_api or route.is_tenant_page:
            continue
        url = route.url({})
        response = client.get(url)
        assert response.status_code in {200, 302, 405}, (url, response.status_code)
        if route.name != "login" and response.status_code == 302:
            assert response["Location"].startswith("/login/"), url
        assert_no_leak(response, a, url)
        assert_no_leak(response, b, url)


def cross_tenant_page_attacks(route: Route, a: Stage, b: Stage) -> Iterator[tuple[str, str, str, str]]:
    """(capacity, method, url, kind) of the cross-tenant attacks on one page.

    Bravo's slug: alpha's users hold no membership there, so the tenant is refused before any
    capacity or object is looked at; the route's actor tries every method on the first object.
    Bravo's ids under alpha's slug: every capacity that may use the page at all GETs every bravo
    object (the object lookup is where a capacity's scope applies), and the actor also POSTs each.
    A capacity that may not use the page is refused before any lookup (next test).
    """
    who = actor(route)
    first = objects_for(route, b)[0]
    for method in ("get", "post"):
        yield who, method, route.url(b.values(route, first)), "bravo's slug"
    if route.object_kwarg is None:
        return
    users = [c for c in CAPACITIES if may_see(a, c, route.model, None, page_action(route))]
    for obj in objects_for(route, b):
        url = route.url({**b.values(route, obj), "tenant_slug": a.tenant.slug})
        for capacity in users:
            yield capacity, "get", url, "bravo's id under alpha's slug"
        yield who, "post", url, "bravo's id under alpha's slug"


@pytest.mark.parametrize("route", TENANT_PAGES, ids=route_id)
def test_page_of_another_tenant_answers_404(
    route: Route, stages: tuple[Stage, Stage], signed_in: dict[str, Client]
) -> None:
    """Signed in to alpha: bravo's slug, and bravo's ids under alpha's slug → 404, never data."""
    a, b = stages
    before = snapshot()
    for capacity, method, url, kind in cross_tenant_page_attacks(route, a, b):
        response = send(signed_in[capacity], method, url, {"name": "cross-tenant"})
        want = {404}
        if kind != "bravo's slug" and route.name in POST_ONLY_PAGES:
            # GET is refused by the method (405) before any lookup
            want = {"get": {405}, "post": {404}}[method]
        assert response.status_code in want, (capacity, method, kind, url, response.status_code)
        assert_no_leak(response, b, (capacity, method, url))
    assert snapshot() == before


@pytest.mark.parametrize("route", TENANT_PAGES, ids=route_id)
def test_page_answers_each_capacity_by_what_it_may_see(
    route: Route, stages: tuple[Stage, Stage], signed_in: dict[str, Client]
) -> None:
    """Every capacity of alpha, every alpha object: 200 where it may see it, 404 everywhere else."""
    a, b = stages
    seen: dict[int, set[str]] = {200: set(), 404: set()}
    for capacity, client in signed_in.items():
        for obj in objects_for(route, a):
            url = route.url(a.values(route, obj))
            allowed = may_see(a, capacity, route.model, obj, page_action(route))
            if route.name in POST_ONLY_PAGES:
                assert client.get(url).status_code == 405, (capacity, url)
                response = client.post(url)
                # a read-only capacity holds no keys: 404 for every id, as in the API
                want = 302 if allowed and not CAPACITIES[capacity].read_only else 404
            else:
                response = client.get(url)
                want = 200 if allowed else 404
            assert response.status_code == want, (capacity, url, response.status_code)
            seen[200 if allowed else 404].add(capacity)
            assert_no_leak(response, b, (capacity, url))
            if not allowed and obj is not None:
                assert not [s for s in names_of(obj) if s in body(response)], (capacity, url)
    assert seen[200], f"{route}: no capacity could use it, so the 404s prove nothing"
    if route.side == Side.CLINICAL:
        business = {c for c, spec in CAPACITIES.items() if spec.side == Side.BUSINESS}
        assert not business & seen[200], route


# --- API -------------------------------------------------------------------------------------------

BAD_HEADERS = [
    "Api-Key",
    "Api-Key ",
    "Bearer {valid}",
    "Token {valid}",
    "Basic dXNlcjpjb3JyZWN0LWhvcnNlLWJhdHRlcnk=",
    "api-key {valid}",
    "APIKEY {valid}",
    "Api-Key {valid}x",
    "Api-Key x{valid}",
    "Api-Key {truncated}",
    "Api-Key {valid} {valid}",
    "Api-Key msok_" + "A" * 43,
    "Api-Key ' OR '1'='1' --",
    "Api-Key %00",
    "Api-Key \x00",
    "Api-Key " + "ключ".encode().decode("latin-1"),
    "Api-Key " + "k" * 10_000,
    "Api-Key {revoked}",
    "Api-Key {ended}",  # the key of a membership that has expired
]


@pytest.mark.parametrize("route", API_ROUTES, ids=route_id)
def test_api_without_a_key_is_401_for_every_method(
    route: Route, stages: tuple[Stage, Stage], api: APIClient
) -> None:
    a, _ = stages
    client = api
    before = snapshot()
    for obj in objects_for(route, a)[:1]:  # refused before any lookup: one id is as good as any
        url = route.url(a.values(route, obj))
        for method in ALL_METHODS:
            response = send(client, method, url, write_body(route, method, a))
            assert response.status_code == 401, (method, url, response.status_code)
            assert response["WWW-Authenticate"] == "Api-Key", (method, url)
            if method != "head":
                assert response.json()["detail"], (method, url)
            assert_no_leak(response, a, (method, url))
    assert snapshot() == before


@pytest.mark.parametrize("route", API_ROUTES, ids=route_id)
def test_api_with_a_malformed_unknown_or_revoked_key_is_401(
    route: Route, stages: tuple[Stage, Stage], api: APIClient
) -> None:
    a, _ = stages
    valid = a.keys["mso_admin"]
    revoked = a.keys["mso_compliance"]
    api_key_revoke(key=ApiKey.objects.get(key_hash=ApiKey.hash_secret(revoked)))
    ended = a.keys["auditor"]
    Membership.objects.filter(pk=a.world.members["auditor"].pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    values = {"valid": valid, "truncated": valid[:-1], "revoked": revoked, "ended": ended}
    headers = [h.format(**values) if "{" in h else h for h in BAD_HEADERS]
    before = snapshot()
    for obj in objects_for(route, a)[:1]:  # refused before any lookup: one id is as good as any
        url = route.url(a.values(route, obj))
        for turn, method in enumerate(sorted(route.methods | {"get"})):
            data = write_body(route, method, a)
            # Every header on GET; a write method gets a quarter of them, a different quarter per
            # method and route, so across the API every header meets every method (authentication
            # runs before the method is even dispatched).
            offset = turn + len(route.template)
            for header in headers if method == "get" else headers[offset % 4 :: 4]:
                response = send(api, method, url, data, header=header)
                assert response.status_code == 401, (method, url, header[:40], response.status_code)
                assert response.json()["detail"], (method, url, header[:40])
                assert_no_leak(response, a, (method, url, header[:40]))
    assert snapshot() == before
    # control: the same URLs answer the valid key (so the 401s above are about the key alone)
    probe = route.url(a.values(route, objects_for(route, a)[0]))
    assert send(api, "get", probe, key=valid).status_code in {200, 404, 405}


@pytest.mark.parametrize("route", API_ROUTES, ids=route_id)
def test_api_key_of_another_tenant_never_reaches_this_tenants_objects(
    route: Route, stages: tuple[Stage, Stage], api: APIClient
) -> None:
    """Each bravo key, on alpha's ids (detail routes) or with alpha's ids in filters and bodies → 404
    or an empty answer; nothing of alpha in any body; nothing written."""
    a, b = stages
    before = snapshot(a.tenant)
    alpha_secrets = a.secrets()
    for capacity, raw in b.keys.items():
        # Every bravo key on the first alpha object; the actor's key (the widest reach) on all of them.
        for obj in objects_for(route, a) if capacity == actor(route) else objects_for(route, a)[:1]:
            url = route.url(a.values(route, obj))
            for method in sorted(route.methods):
                data = write_body(route, method, a)
                response = send(api, method, url, data, key=raw)
                names_alpha = any(s in json.dumps(data, default=str) for s in alpha_secrets)
                if obj is not None:
                    assert response.status_code == 404, (capacity, method, url, response.status_code)
                elif names_alpha:
                    # a create that names alpha's objects: refused (400) or not this capacity's (404)
                    assert response.status_code in {400, 404}, (capacity, url, response.status_code)
                assert_no_leak(response, a, (capacity, method, url), sent=data)
        if route.object_kwarg is None and "get" in route.methods and capacity == actor(route):
            assert_filters_do_not_reach(api, raw, route, a, capacity)
    # bravo may create rows of its own (a PC, a key); not one row of alpha changes
    assert snapshot(a.tenant) == before


def assert_filters_do_not_reach(api: APIClient, raw: str, route: Route, a: Stage, capacity: str) -> None:
    """Every filter of the list, given alpha's ids (id filters) or alpha's names (text filters)."""
    filterset = getattr(route.view_class, "filterset_class", None)
    if filterset is None:
        return
    w = a.world
    objects = [w.entity, *w.pcs, *w.locations, *w.charts]
    ids = [str(o.pk) for o in objects]
    names = [n for o in objects for n in names_of(o)[1:]]
    for name, spec in filterset.base_filters.items():
        for value in ids if isinstance(spec, django_filters.UUIDFilter) else names:
            url = route.url({}) + "?" + urlencode({name: value})
            response = send(api, "get", url, key=raw)
            assert response.status_code in {200, 400, 404}, (capacity, url, response.status_code)
            if response.status_code == 200:
                assert response.json()["count"] == 0, (capacity, url)
            assert_no_leak(response, a, (capacity, url))


@pytest.mark.parametrize("route", [r for r in API_ROUTES if r.side == Side.CLINICAL], ids=route_id)
def test_api_business_key_on_a_clinical_endpoint_is_404(
    route: Route, stages: tuple[Stage, Stage], api: APIClient
) -> None:
    a, _ = stages
    business = [c for c, spec in CAPACITIES.items() if spec.side == Side.BUSINESS]
    before = snapshot()
    for capacity in business:
        for obj in objects_for(route, a)[:1]:  # refused by the side, before any lookup
            url = route.url(a.values(route, obj))
            for method in ALL_METHODS:
                response = send(api, method, url, write_body(route, method, a), key=a.keys[capacity])
                assert response.status_code == 404, (capacity, method, url, response.status_code)
                if method != "head":
                    assert response.json() == {"detail": "No such object."}, (capacity, method, url)
    assert snapshot() == before
    # control: the clinical key of the PC's physician does get through
    url = route.url(a.values(route, objects_for(route, a)[0]))
    control = send(api, "get", url, key=a.keys["pc_physician"])
    assert control.status_code == 200, control.content


@pytest.mark.parametrize("route", API_ROUTES, ids=route_id)
def test_api_capacity_that_may_not_act_is_404(
    route: Route, stages: tuple[Stage, Stage], api: APIClient
) -> None:
    """Auditor keys on every write; clinical keys on business writes; business keys on clinical data.

    Expected from the capacity table alone (Capacity.may); a method the route does not serve at all
    may answer 405 instead, never a 2xx.
    """
    a, _ = stages
    model = route.model
    policy = getattr(model, "access", None)
    refused: list[tuple[str, str]] = []
    before = snapshot()
    for capacity, spec in CAPACITIES.items():
        for method in ALL_METHODS:
            action = METHOD_ACTION[method]
            if route.action(method) not in {None, *STANDARD_ACTIONS}:
                # Extra actions: what the viewset declares (a PDF download is a view), else a change.
                action = getattr(route.view_class, "extra_actions", {}).get(route.action(method), CHANGE)
            if policy is not None:
                may_act = spec.may(policy.side, action)
            else:  # /me/ and API keys: every capacity reads; a read-only one writes nothing
                may_act = action == VIEW or not spec.read_only
            if may_act:
                continue
            for obj in objects_for(route, a)[:1]:  # refused by the capacity table, before any lookup
                url = route.url(a.values(route, obj))
                response = send(api, method, url, write_body(route, method, a), key=a.keys[capacity])
                allowed = {404} if method in route.methods else {404, 405}
                assert response.status_code in allowed, (capacity, method, url, response.status_code)
                refused.append((capacity, method))
    assert snapshot() == before
    if route.methods & WRITE_METHODS:
        assert ("auditor", sorted(route.methods & WRITE_METHODS)[0]) in refused, route
    # control: the capacity this route is meant for gets a 2xx on a read
    who = actor(route)
    obj = next((o for o in objects_for(route, a) if o is None or may_see(a, who, model, o)), None)
    if route.model is ApiKey and route.object_kwarg is not None:
        who, obj = "mso_admin", a.spare_keys["mso_admin"]
    if "get" in route.methods:
        control = send(api, "get", route.url(a.values(route, obj)), key=a.keys[who])
        assert control.status_code == 200, (who, route, control.content)


@pytest.mark.parametrize("route", [r for r in API_ROUTES if "get" in r.methods], ids=route_id)
def test_api_answers_each_capacity_by_what_it_may_see(
    route: Route, stages: tuple[Stage, Stage], api: APIClient
) -> None:
    """Every alpha key on every alpha object: 200 where its capacity may see it, 404 elsewhere; a
    list shows exactly the objects the capacity may see (PC/location grants inside the tenant)."""
    a, b = stages
    model = route.model
    for capacity in CAPACITIES:
        key = a.keys[capacity]
        if route.object_kwarg is None:
            response = send(api, "get", route.url({}), key=key)
            assert_no_leak(response, b, (capacity, route))
            if model is None:  # /me/
                assert response.status_code == 200, (capacity, route)
                continue
            if not may_see(a, capacity, model, None):
                assert response.status_code == 404, (capacity, route, response.status_code)
                continue
            assert response.status_code == 200, (capacity, route, response.status_code)
            listed = {row["id"] for row in response.json()["results"]}
            visible = {str(o.pk) for o in a.objects(model) if may_see(a, capacity, model, o)}
            # the list may hold rows beyond the stage's (the capacity's own API keys): the stage's
            # objects it shows must be exactly those it may see
            assert listed & {str(o.pk) for o in a.objects(model)} == visible, (capacity, route)
            continue
        for obj in objects_for(route, a):
            response = send(api, "get", route.url(a.values(route, obj)), key=key)
            want = 200 if may_see(a, capacity, model, obj) else 404
            assert response.status_code == want, (capacity, route, obj, response.status_code)
            if want == 200 and response["Content-Type"].startswith("application/pdf"):
                assert response.content.startswith(b"%PDF-"), (capacity, route)
            elif want == 200:
                assert response.json()["id"] == str(obj.pk)
                assert "tenant" not in response.json() and "tenant_id" not in response.json()
            assert_no_leak(response, b, (capacity, route))
