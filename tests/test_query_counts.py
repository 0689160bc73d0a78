"""Every list endpoint and every list page runs the same number of queries at 5 and at 50 rows.

Routes come from the URL resolver (tests.attack_routes): an API route whose GET is DRF's ``list``
and a browser page named ``*-list`` are measured as soon as they are routed. Rows are made with the
``make_rows`` of the API matrix entry (tests/matrix/<area>.py) for the route's model, so a new list
without one fails here, telling which entry to give ``make_rows``, instead of going unmeasured.

Each route is asked once to warm per-process caches (content types, permissions, the session's first
request), then measured with 5 rows visible to its actor and again with 50. On a mismatch the
statements of both runs are printed side by side (Zulip's ``queries_captured`` style).
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection, models
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from clinical.models import PatientChart
from management.models import Location, MsoEntity, ProfessionalCorporation
from tenants.access import AccessContext
from tenants.models import ApiKey
from tenants.security.middleware import LAST_SEEN_KEY
from tenants.security.policy import requires_two_factor
from tenants.services import api_key_create
from tests import factories as f
from tests.api_matrix import ENDPOINTS
from tests.attack_routes import Route, Stage, actor, api_routes, may_see, tenant_pages
from tests.sessions import sign_in
from tests.worlds import World, build_world

pytestmark = pytest.mark.django_db

SMALL, LARGE = 5, 50
MakeRows = Callable[[World, int], list[Any]]


def _api_keys(w: World, n: int) -> list[Any]:
    ctx = AccessContext.for_membership(w.members["mso_admin"], via="api")
    return [api_key_create(ctx=ctx, name=f"query count key {i}")[0] for i in range(n)]


# The foundation's own lists (tests/api_matrix.py's first entries, and the API keys) have no area
# module; their rows are made here. Every other model must bring make_rows in its matrix entry.
FOUNDATION_ROWS: dict[type[models.Model], MakeRows] = {
    MsoEntity: lambda w, n: [f.MsoEntityFactory.create(tenant=w.tenant) for _ in range(n)],
    ProfessionalCorporation: lambda w, n: [
        f.ProfessionalCorporationFactory.create(tenant=w.tenant) for _ in range(n)
    ],
    Location: lambda w, n: [
        f.LocationFactory.create(tenant=w.tenant, managing_entity=w.entity, pc=w.pcs[i % 2]) for i in range(n)
    ],
    # The clinical actor (the PC physician) holds the first PC only.
    PatientChart: lambda w, n: [
        f.PatientChartFactory.create(tenant=w.tenant, pc=w.pcs[0], home_location=w.locations[0])
        for _ in range(n)
    ],
    ApiKey: _api_keys,
}


def rows_maker(model: type[models.Model] | None, route: Route) -> MakeRows:
    assert model is not None, f"{route}: a list route without a model"
    for endpoint in ENDPOINTS:
        if endpoint.model is model and endpoint.make_rows is not None:
            return endpoint.make_rows
    if model in FOUNDATION_ROWS:
        return FOUNDATION_ROWS[model]
    named = [e.name for e in ENDPOINTS if e.model is model]
    where = (
        f"the Endpoint {named[0]!r} (/api/v1/{named[0]}/)"
        if named
        else f"an Endpoint for {model.__name__} (its list API has no matrix entry yet)"
    )
    pytest.fail(
        f"{route} lists {model._meta.label} but no API matrix entry can make its rows: give {where} "
        f"make_rows=lambda world, n: [...] in its tests/matrix/<area>.py (n new rows the actor "
        f"{actor(route)!r} sees), so this test can list it at {SMALL} and {LARGE} rows."
    )


def api_list_routes() -> list[Route]:
    return [r for r in api_routes() if r.action("get") == "list"]


def list_pages() -> list[Route]:
    return [r for r in tenant_pages() if r.name.endswith("-list")]


API_LISTS = api_list_routes()
PAGE_LISTS = list_pages()


def route_id(route: Route) -> str:
    return route.name


# --- one world for the module (each test's own rows roll back with its savepoint) -----------------


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world("counts", domain=True)
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def api_keys(world: World, django_db_blocker: Any) -> dict[str, str]:
    with django_db_blocker.unblock():
        return {
            code: api_key_create(ctx=AccessContext.for_membership(world.members[code], via="api"), name="qc")[
                1
            ]
            for code in ("mso_admin", "pc_physician")
        }


@pytest.fixture(scope="module")
def browsers(world: World, django_db_blocker: Any) -> dict[str, Client]:
    """A signed-in session per actor for the module (second factor passed where required)."""
    with django_db_blocker.unblock():
        return {
            code: sign_in(Client(), world.user(code), verified=requires_two_factor(code))
            for code in ("mso_admin", "pc_physician")
        }


# --- measuring ------------------------------------------------------------------------------------


def visible(world: World, capacity: str, model: type[models.Model]) -> int:
    """Rows of `model` the capacity may see, worked out from the grants (tests.attack_routes.may_see)."""
    st = Stage(world, {}, {})
    rows = model._default_manager.filter(tenant=world.tenant)
    return sum(1 for row in rows if may_see(st, capacity, model, row))


def touch_session(client: Client) -> None:
    """Stamp the session as just used, so the measured request does not refresh the stamp.

    IdleSessionMiddleware rewrites it when TOUCH_INTERVAL seconds have passed, which making 45 rows
    can take: that session write would count as a query of one measurement and not the other.
    """
    session = client.session
    session[LAST_SEEN_KEY] = time.time()
    session.save()


def touch_key(raw_key: str) -> None:
    """Stamp the key as just used: the authentication rewrites last_used_at once a minute at most,
    and that write would count in one measurement and not the other."""
    ApiKey.objects.filter(key_hash=ApiKey.hash_secret(raw_key)).update(last_used_at=timezone.now())


def capture(fetch: Callable[[], Any]) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = fetch()
    # Copied now: the next request resets connection.queries, which captured_queries slices lazily.
    return response, [q["sql"] for q in queries.captured_queries]


def assert_same_queries(route: Route, small: list[str], large: list[str]) -> None:
    assert len(small) > 3, f"{route}: {len(small)} queries is not a real measurement"
    if len(small) == len(large):
        return
    diff = "\n".join(difflib.unified_diff(small, large, f"{SMALL} rows", f"{LARGE} rows", lineterm="", n=1))
    listing = "\n".join(f"  {i + 1:3}. {sql}" for i, sql in enumerate(large))
    pytest.fail(
        f"{route}: {len(small)} queries at {SMALL} rows but {len(large)} at {LARGE} rows (a per-row query: "
        f"select_related/prefetch_related it).\n--- difference ---\n{diff}\n--- all {LARGE}-row queries ---\n"
        f"{listing}"
    )


def grow_to(world: World, route: Route, make: MakeRows, capacity: str, target: int) -> int:
    """Add rows until the actor sees at least `target` (make_rows promises rows the actor sees)."""
    model = route.model
    assert model is not None
    have = visible(world, capacity, model)
    if have < target:
        made = make(world, target - have)
        assert len(made) == target - have, f"{route}: make_rows made {len(made)} rows, not {target - have}"
    now = visible(world, capacity, model)
    assert now >= target, (
        f"{route}: make_rows made rows the actor {capacity!r} does not see ({now} < {target})"
    )
    return now


# --- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", API_LISTS, ids=route_id)
def test_list_endpoint_query_count_is_fixed(route: Route, world: World, api_keys: dict[str, str]) -> None:
    capacity = actor(route)
    make = rows_maker(route.model, route)
    url = route.url({})
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_keys[capacity]}")
    assert client.get(url).status_code == 200, url  # warm-up

    def fetch() -> Any:
        response = client.get(url)
        assert response.status_code == 200, (url, response.content[:500])
        return response

    grow_to(world, route, make, capacity, SMALL)
    touch_key(api_keys[capacity])
    small_response, small = capture(fetch)
    grow_to(world, route, make, capacity, LARGE)
    touch_key(api_keys[capacity])
    large_response, large = capture(fetch)
    small_count, large_count = small_response.json()["count"], large_response.json()["count"]
    assert large_count >= LARGE and large_count > small_count, (url, small_count, large_count)
    assert len(large_response.json()["results"]) == min(large_count, LARGE)  # one page of 50
    assert_same_queries(route, small, large)


@pytest.mark.parametrize("route", PAGE_LISTS, ids=route_id)
def test_list_page_query_count_is_fixed(route: Route, world: World, browsers: dict[str, Client]) -> None:
    capacity = actor(route)
    make = rows_maker(route.model, route)
    url = route.url({"tenant_slug": world.tenant.slug})
    client = browsers[capacity]
    assert client.get(url).status_code == 200, url  # warm-up

    def fetch() -> Any:
        response = client.get(url)
        assert response.status_code == 200, url
        return response

    grow_to(world, route, make, capacity, SMALL)
    touch_session(client)
    small_response, small = capture(fetch)
    grow_to(world, route, make, capacity, LARGE)
    touch_session(client)
    large_response, large = capture(fetch)
    # The page really listed more rows (a list page that shows nothing would measure nothing).
    page = large_response.context.get("page") if large_response.context else None
    if page is not None:
        assert page.paginator.count > small_response.context["page"].paginator.count, url
        assert len(page.object_list) == min(page.paginator.count, LARGE), url
    else:
        assert len(large_response.content) > len(small_response.content), url
    assert_same_queries(route, small, large)


def test_every_list_route_is_measured() -> None:
    """The measured routes are the resolver's: the foundation's lists are among them."""
    api_names = {r.name for r in API_LISTS}
    assert {"mso-entity-list", "pc-list", "location-list", "patient-chart-list", "api-key-list"} <= api_names
    assert {"location-list", "pc-list", "chart-list"} <= {r.name for r in PAGE_LISTS}
    # A clinical list is measured as the PC physician, everything else as the MSO administrator.
    assert {actor(r) for r in API_LISTS + PAGE_LISTS} <= {"mso_admin", "pc_physician"}
