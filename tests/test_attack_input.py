"""Attacks through input (issue 5), on every writable API endpoint read off the URL resolver.

- Mass assignment: tenant, id, owner/membership, key and timestamp fields in a body are ignored or
  refused, and nothing lands in another tenant or another member's name (the database is checked).
- Injection: SQL/HTML/script/template/RTL payloads in every writable text field of every create
  endpoint are stored as given and rendered escaped by the browser pages (and the browsable API)
  that show them.
- NUL bytes, overlong fields, malformed and deeply nested JSON, oversized bodies: a 4xx with a
  message, never a 5xx, nothing partially written.

Approvals and CSV imports are attacked in their own suites (tests/test_approvals_*.py,
tests/test_imports.py, tests/test_agreements_import.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from rest_framework import serializers
from rest_framework.test import APIClient

from clinical.models import PatientChart
from management.models import Location, MsoEntity, ProfessionalCorporation
from tenants.capacities import CAPACITIES, VIEW, Side
from tenants.models import ApiKey
from tests import factories
from tests.api_matrix import ENDPOINTS
from tests.attack_routes import (
    Route,
    RouteMapError,
    Stage,
    actor,
    api_routes,
    assert_no_leak,
    body,
    create_payload,
    may_see,
    module_stages,
    objects_for,
    page_action,
    send,
    snapshot,
    tenant_pages,
    write_payload,
)
from tests.sessions import sign_in

pytestmark = pytest.mark.django_db

API_ROUTES = api_routes()
WRITES = [(r, m) for r in API_ROUTES for m in sorted(r.methods & {"post", "put", "patch"})]
CREATES = [r for r in API_ROUTES if r.action("post") == "create"]
FORGED_TIME = "2001-01-01T00:00:00Z"
SCRIPT = "<script>alert(1)</script>"
PAYLOADS = [
    SCRIPT,
    "'; DROP TABLE x; --",
    '" onmouseover="alert(1)',
    "<img src=x onerror=alert(1)>",
    "{{ 7|add:7 }} {% debug %}",  # Django template syntax must come back as text, not be evaluated
    "\u202egnp.exe\u202c Zoë 💉 ﷽",  # right-to-left override, accents, emoji, a ligature
]
NUL = "nul\x00byte"
# Writable text fields no page shows (so only "never raw" can be asserted for them).
NOT_RENDERED = {(MsoEntity, "state"), (MsoEntity, "entity_type")}


def route_id(route: Route) -> str:
    return route.template


def write_id(item: tuple[Route, str]) -> str:
    return f"{item[1].upper()} {item[0].template}"


@pytest.fixture(scope="module")
def stages(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[Stage, Stage]]:
    yield from module_stages(django_db_blocker)


@pytest.fixture(scope="module")
def api() -> APIClient:
    return APIClient()  # one client: a new one loads the middleware stack on its first request


@pytest.fixture(scope="module")
def browser(stages: tuple[Stage, Stage], django_db_blocker: Any) -> dict[str, Client]:
    with django_db_blocker.unblock():
        return {c: sign_in(Client(), stages[0].world.user(c)) for c in ("mso_admin", "pc_physician")}


# --- helpers -------------------------------------------------------------------------------------


def target(route: Route, st: Stage, capacity: str) -> Any:
    """The object a detail write is aimed at: one the capacity may see (its own key for API keys)."""
    if route.object_kwarg is None:
        return None
    if route.model is ApiKey:
        return st.spare_keys[capacity]
    return next(o for o in objects_for(route, st) if may_see(st, capacity, route.model, o))


def text_fields(route: Route, method: str = "post") -> dict[str, int | None]:
    """The writable text fields of the route's serializer and their maximum length."""
    serializer = route.view_class.serializer_class()
    return {
        name: field.max_length
        for name, field in serializer.fields.items()
        if isinstance(field, serializers.CharField) and not field.read_only
    }


def forged(a: Stage, b: Stage, model: Any, *, nested: bool) -> dict[str, Any]:
    """Fields a client must never set: tenant, ids, who owns or made the row, key internals, stamps.

    In-tenant escalation (alpha's admin as owner/membership) and cross-tenant (bravo's ids), the
    tenant as an id and (nested=True) as an object.
    """
    admin = a.world.members["mso_admin"]
    other = b.objects(model)[0] if model is not None else None
    tenant: Any = {"id": str(b.tenant.pk), "slug": b.tenant.slug} if nested else str(b.tenant.pk)
    person = b.world.user("mso_admin") if nested else admin.user
    member = b.world.members["mso_admin"] if nested else admin
    return {
        "id": str(other.pk if other is not None else uuid.uuid4()),
        "pk": str(other.pk if other is not None else uuid.uuid4()),
        "tenant": tenant,
        "tenant_id": str(b.tenant.pk),
        "tenant_slug": b.tenant.slug,
        **{name: str(person.pk) for name in ("owner", "owner_id", "created_by", "created_by_id", "user")},
        "user_id": str(person.pk),
        "membership": str(member.pk),
        "membership_id": str(member.pk),
        "capacity": "mso_admin",
        "scope": "business",
        "key_hash": "0" * 64,
        "key_prefix": "msok_forged",
        "key": "msok_forged_secret",
        "revoked_at": FORGED_TIME,
        "created_at": FORGED_TIME,
        "last_used_at": FORGED_TIME,
        "approved": True,
        "approved_by": str(person.pk),
        "approved_at": FORGED_TIME,
        "status": "approved",
    }


def pages_showing(obj: Any, a: Stage) -> list[tuple[str, str]]:
    """(capacity, url) of the browser pages that show `obj`."""
    slug = a.tenant.slug

    def url(name: str, **kwargs: Any) -> str:
        return reverse(name, kwargs={"tenant_slug": slug, **kwargs})

    if isinstance(obj, Location):
        return [
            ("mso_admin", url("location-list")),
            ("mso_admin", url("location-detail", pk=obj.pk)),
            ("mso_admin", url("pc-detail", pk=obj.pc_id)),
        ]
    if isinstance(obj, ProfessionalCorporation):
        return [("mso_admin", url("pc-list")), ("mso_admin", url("pc-detail", pk=obj.pk))]
    if isinstance(obj, MsoEntity):
        # An entity is shown where a location it manages is.
        location = factories.LocationFactory.create(tenant=a.tenant, managing_entity=obj, pc=a.world.pcs[0])
        return [("mso_admin", url("location-list")), ("mso_admin", url("location-detail", pk=location.pk))]
    if isinstance(obj, PatientChart):
        return [("pc_physician", url("chart-list")), ("pc_physician", url("chart-detail", pk=obj.pk))]
    if isinstance(obj, ApiKey):
        return [(obj.membership.capacity, url("api-keys"))]
    # Otherwise the model's own list and detail pages (tenants.pages), seen by the actor capacity.
    model = type(obj)
    who = "pc_physician" if model.access.side == Side.CLINICAL else "mso_admin"
    found = []
    for route in tenant_pages():
        if getattr(route.callback, "page_model", None) is not model or page_action(route) != VIEW:
            continue
        if route.object_kwarg is None and route.name.endswith("-list"):
            found.append((who, route.url(a.values(route))))
        elif route.object_kwarg == "pk" and route.name.endswith("-detail"):
            found.append((who, route.url(a.values(route, obj))))
    if not found:
        raise RouteMapError(f"no page known to show {model.__name__}: add it to pages_showing()")
    return found


def assert_refused_with_message(response: Any, field: str | None = None) -> None:
    assert response.status_code == 400, (response.status_code, body(response)[:300])
    detail = response.json()
    if field is not None:
        assert detail.get(field), detail
    else:
        assert detail, "a refusal says why"


# --- mass assignment -----------------------------------------------------------------------------


@pytest.mark.parametrize("write", WRITES, ids=write_id)
@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested-tenant"])
def test_mass_assignment_is_ignored_or_refused(
    write: tuple[Route, str], nested: bool, stages: tuple[Stage, Stage], api: APIClient
) -> None:
    route, method = write
    a, b = stages
    # API keys: a clinical capacity forging an admin's membership/capacity; data: its own writer.
    capacity = "clinician" if route.model is ApiKey else actor(route)
    aimed = target(route, a, capacity)
    url = route.url(a.values(route, aimed))
    fake = forged(a, b, route.model, nested=nested)
    payload = {**write_payload(route, method, a), **fake}
    before_a, before_b = snapshot(a.tenant), snapshot(b.tenant)
    started = timezone.now()

    response = send(api, method, url, payload, key=a.keys[capacity])

    assert response.status_code in {200, 201, 400}, (response.status_code, body(response)[:300])
    assert_no_leak(response, b, (method, url), sent=payload)
    assert snapshot(b.tenant) == before_b, "a forged body wrote into another tenant"
    if response.status_code == 400:
        assert_refused_with_message(response)
        assert snapshot(a.tenant) == before_a, "a refused write wrote"
        return
    data = response.json()
    model = route.model
    assert model is not None
    obj: Any = model._default_manager.get(pk=data["id"])
    assert obj.tenant_id == a.tenant.pk
    if aimed is None:
        assert str(obj.pk) not in {fake["id"], fake["pk"]}, "the client chose the new row's id"
    else:
        assert obj.pk == aimed.pk
    if hasattr(obj, "created_at"):
        assert obj.created_at.year != 2001, "the client set created_at"
        if aimed is None:
            assert obj.created_at >= started
    if isinstance(obj, ApiKey):
        member = a.world.members[capacity]
        assert obj.membership_id == member.pk, "the key acts for someone else"
        assert obj.scope == CAPACITIES[capacity].side == data["scope"] == "clinical"
        assert data["capacity"] == capacity
        assert obj.key_hash != fake["key_hash"] and obj.key_prefix != fake["key_prefix"]
        assert obj.revoked_at is None or obj.revoked_at >= started, "the client set revoked_at"
        if route.action(method) == "revoke":
            assert obj.revoked_at is not None
    for name, value in fake.items():
        if name in data and name not in {"id"}:
            assert data[name] != value, f"{name} echoed as forged"
    after_a = snapshot(a.tenant)
    changed = {label for label in before_a if before_a[label] != after_a[label]}
    also = next((e.also_writes for e in ENDPOINTS if e.model is model), frozenset())
    assert changed <= {model._meta.label, "tenants.AuditLogEntry", *(m._meta.label for m in also)}, changed


# --- injection -----------------------------------------------------------------------------------


def injected(route: Route, payload: str) -> dict[str, str]:
    """Every writable text field of the route that the payload fits, each given the payload and a
    marker of its own (so each field's value can be found on the pages on its own)."""
    values = {}
    for index, (name, max_length) in enumerate(text_fields(route).items()):
        value = f"{payload} ~{index}"
        if max_length is None or len(value) <= max_length:
            values[name] = value
    return values


# Routes with a text field a payload fits (a 3-letter currency code takes none: the overlong test
# below shows it refuses them with a message).
INJECTABLE = [r for r in CREATES if any(injected(r, p) for p in PAYLOADS)]


@pytest.mark.parametrize("route", INJECTABLE, ids=route_id)
def test_injected_text_is_stored_as_given_and_rendered_escaped(
    route: Route, stages: tuple[Stage, Stage], api: APIClient, browser: dict[str, Client]
) -> None:
    """Each payload in every text field at once. A field that checks its format (an e-mail address)
    may refuse it, with a message naming the field; the others store it as given, and the pages that
    show the record render every one of them escaped. (A field too short for a payload is refused
    with a message by the overlong test below.)"""
    a, _ = stages
    model = route.model
    assert model is not None
    capacity = actor(route)
    url = route.url({})
    for payload in PAYLOADS:
        values = injected(route, payload)
        before = snapshot(a.tenant)
        response = send(api, "post", url, {**create_payload(model, a), **values}, key=a.keys[capacity])
        if response.status_code == 400:
            refused = set(response.json())
            assert refused and refused <= set(values), (payload, response.json())
            assert all(response.json()[name] for name in refused), "a refusal says why"
            assert snapshot(a.tenant) == before, "a refused write wrote"
            values = {k: v for k, v in values.items() if k not in refused}
            response = send(api, "post", url, {**create_payload(model, a), **values}, key=a.keys[capacity])
        assert response.status_code == 201, (payload, body(response)[:300])
        obj: Any = model._default_manager.get(pk=response.json()["id"])
        for name, value in values.items():
            assert str(getattr(obj, name)) == value, (name, "stored differently from what was sent")
            assert response.json()[name] == value, name
        shown = {name: False for name in values}
        for who, page in pages_showing(obj, a):
            html = browser[who].get(page)
            assert html.status_code == 200, (page, html.status_code)
            text = body(html)
            assert SCRIPT not in text, page
            for name, value in values.items():
                if set(value) & set("<>\"'&"):
                    assert value not in text, (page, name, "raw payload in the page")
                shown[name] |= escape(value) in text
        unseen = [n for n, seen in shown.items() if not seen and (model, n) not in NOT_RENDERED]
        assert not unseen, (payload, unseen, "the escaped value is on no page that shows the object")
        # The browsable API renders the same record as HTML: escaped there too.
        detail_url = f"{url}{obj.pk}/?format=api"
        html = send(api, "get", detail_url, key=a.keys[capacity])
        if html.status_code == 200:  # JSON inside HTML: quotes arrive as \&quot;, so only "never raw"
            assert SCRIPT not in body(html), detail_url
            for value in values.values():
                assert not set(value) & set("<>\"'&") or value not in body(html), detail_url


@pytest.mark.parametrize("route", [r for r in CREATES if text_fields(r)], ids=route_id)
def test_nul_byte_and_overlong_text_are_400_with_a_message_and_write_nothing(
    route: Route, stages: tuple[Stage, Stage], api: APIClient
) -> None:
    """Every text field at once: each is named in the 400 with the reason; the same through every
    update of the model; nothing is written."""
    a, _ = stages
    model = route.model
    assert model is not None
    capacity = actor(route)
    fields = text_fields(route)
    unbounded = [name for name, max_length in fields.items() if max_length is None]
    assert not unbounded, f"{unbounded} of {route} take text of any length: give them a bound"
    before = snapshot(a.tenant)
    for message, values in (
        ("Null characters are not allowed", dict.fromkeys(fields, NUL)),
        ("no more than", {name: "x" * (int(max_length or 0) + 1) for name, max_length in fields.items()}),
    ):
        data = {**create_payload(model, a), **values}
        response = send(api, "post", route.url({}), data, key=a.keys[capacity])
        assert_refused_with_message(response)
        for name in fields:
            assert message in str(response.json().get(name)), (name, response.json())
    # the same through every update of the model
    for update in (r for r in API_ROUTES if r.model is model and r.methods & {"put", "patch"}):
        aimed = target(update, a, capacity)
        for method in sorted(update.methods & {"put", "patch"}):
            data = {**write_payload(update, method, a), **dict.fromkeys(fields, NUL)}
            response = send(api, method, update.url(a.values(update, aimed)), data, key=a.keys[capacity])
            assert_refused_with_message(response)
            for name in fields:
                assert "Null characters are not allowed" in str(response.json().get(name)), (update, name)
    assert snapshot(a.tenant) == before


# --- malformed and oversized bodies ----------------------------------------------------------------


def malformed_bodies(route: Route) -> list[tuple[Any, str]]:
    """Bodies no parser or serializer may accept; text ones aimed at one of the route's text fields."""
    # a text field if the route has one, else any field it takes
    writable = [n for n, f in route.view_class.serializer_class().fields.items() if not f.read_only]
    name = next(iter(text_fields(route)), writable[0])
    return [
        ("[" * 50_000 + "]" * 50_000, "application/json"),  # nested past Python's recursion limit
        ('{"a":' * 20_000 + "1" + "}" * 20_000, "application/json"),
        ("{", "application/json"),
        ("[]", "application/json"),
        ("null", "application/json"),
        ('"text"', "application/json"),
        (f'{{"{name}": NaN}}', "application/json"),
        (f'{{"{name}": "'.encode() + b'\xff\xfe"}', "application/json"),  # not UTF-8
        (f'{{"{name}": "\\ud800"}}', "application/json"),  # a lone surrogate
        (f'{{"{name}": ["a list"]}}', "application/json"),
        (f'{{"{name}": {{"an": "object"}}}}', "application/json"),
        (f"{name}=a&" * 2000, "application/x-www-form-urlencoded"),  # over DATA_UPLOAD_MAX_NUMBER_FIELDS
        ("x", "multipart/form-data"),  # no boundary
        ("<name>x</name>", "application/xml"),
        ("name: x", "text/plain"),
    ]


@pytest.mark.parametrize("write", WRITES, ids=write_id)
def test_malformed_bodies_are_4xx_with_a_message_and_write_nothing(
    write: tuple[Route, str], stages: tuple[Stage, Stage], api: APIClient
) -> None:
    route, method = write
    a, _ = stages
    capacity = actor(route)
    url = route.url(a.values(route, target(route, a, capacity)))
    # An action that takes no body (revoke) does not read one: it must ignore it, never fail on it.
    reads_body = route.action(method) in {"create", "update", "partial_update"}
    before = snapshot(a.tenant)
    for raw, content_type in malformed_bodies(route):
        auth = f"Api-Key {a.keys[capacity]}"
        response = api.generic(method.upper(), url, raw, content_type, HTTP_AUTHORIZATION=auth)
        what = (content_type, raw[:40], response.status_code, body(response)[:200])
        assert response.status_code in ({400, 415} if reads_body else {200}), what
        assert response["Content-Type"].startswith("application/json"), what
        if reads_body:
            assert response.json(), "a refusal says why"
    if reads_body:
        assert snapshot(a.tenant) == before, "a malformed body wrote"


@pytest.mark.parametrize("write", WRITES, ids=write_id)
def test_oversized_bodies_are_413_and_write_nothing(
    write: tuple[Route, str], stages: tuple[Stage, Stage], api: APIClient
) -> None:
    route, method = write
    a, _ = stages
    capacity = actor(route)
    url = route.url(a.values(route, target(route, a, capacity)))
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit is not None
    valid = write_payload(route, method, a)
    auth: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Api-Key {a.keys[capacity]}"}
    before = snapshot(a.tenant)
    form = "&".join(f"{k}={v}" for k, v in valid.items())
    upload = {**valid, "upload": SimpleUploadedFile("big.bin", b"x" * (limit + 1))}
    bodies: list[tuple[str, Any, str]] = [
        ("json", json.dumps({**valid, "padding": "x" * limit}), "application/json"),
        ("form", f"{form}&padding={'x' * limit}", "application/x-www-form-urlencoded"),
        # A file is outside Django's own limit (it is spooled to disk): the API refuses it by length.
        ("file", encode_multipart(BOUNDARY, upload), MULTIPART_CONTENT),
    ]
    for kind, data, content_type in bodies:
        response = api.generic(method.upper(), url, data, content_type, **auth)
        assert response.status_code == 413, (kind, response.status_code, body(response)[:200])
        assert str(limit) in response.json()["detail"], kind
    assert snapshot(a.tenant) == before
    # control: the same body within the limit is accepted
    response = send(api, method, url, valid, key=a.keys[capacity])
    assert response.status_code in {200, 201}, body(response)[:300]


# --- browser forms ---------------------------------------------------------------------------------


def test_browser_form_with_nul_byte_or_oversized_body_is_refused_and_writes_nothing(
    stages: tuple[Stage, Stage], browser: dict[str, Client]
) -> None:
    a, _ = stages
    client = browser["mso_admin"]
    url = reverse("api-keys", kwargs={"tenant_slug": a.tenant.slug})
    before = snapshot(a.tenant)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit is not None
    assert client.post(url, {"name": NUL}).status_code == 400
    assert client.post(url, {"name": "x" * 101}).status_code == 400
    assert client.post(url, {"name": "big", "padding": "x" * limit}).status_code == 413
    switch = reverse("capacity-switch", kwargs={"tenant_slug": a.tenant.slug})
    assert client.post(switch, {"membership": NUL}).status_code == 400
    for page in (url, switch, reverse("location-list", kwargs={"tenant_slug": a.tenant.slug})):
        assert client.get(page, {"page": NUL, "next": NUL}).status_code == 200, page
    assert snapshot(a.tenant) == before


def test_browser_nul_byte_in_the_tenant_slug_is_404(
    stages: tuple[Stage, Stage], browser: dict[str, Client]
) -> None:
    client = Client(raise_request_exception=False)
    client.cookies = browser["mso_admin"].cookies
    assert client.get("/t/%00/").status_code == 404


def test_browser_form_with_an_oversized_file_is_refused(
    stages: tuple[Stage, Stage], browser: dict[str, Client]
) -> None:
    a, _ = stages
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit is not None
    url = reverse("api-keys", kwargs={"tenant_slug": a.tenant.slug})
    before = snapshot(a.tenant)
    big = SimpleUploadedFile("big.bin", b"x" * (limit + 1))
    response = browser["mso_admin"].post(url, {"name": "with a big file", "upload": big})
    assert response.status_code in {400, 413}
    assert snapshot(a.tenant) == before
    assert not ApiKey.objects.filter(tenant=a.tenant, name="with a big file").exists()
