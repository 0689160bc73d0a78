"""No setting leaks between requests on a reused connection, and failed requests write nothing.

These run with real commits (transaction=True): the request transaction is the outermost one, as in
production, so SET LOCAL ROLE and app.tenant_id must vanish when it ends, whatever the outcome.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client, override_settings
from django.urls import include, path, reverse

from management.models import Location
from tenants.access import AccessContext
from tenants.models import AuditLogEntry
from tests.sessions import sign_in
from tests.worlds import World

# Real commits: the point is what a reused connection carries from one request to the next.
pytestmark = pytest.mark.django_db(transaction=True)


IDENTITY_SQL = (
    "SELECT current_user, session_user, current_setting('app.tenant_id', true), "
    "current_setting('app.user_id', true), current_setting('app.capacity', true), pg_backend_pid()"
)


def identity() -> tuple[Any, ...]:
    with connection.cursor() as cur:
        cur.execute(IDENTITY_SQL)
        row = cur.fetchone()
    assert row is not None
    return tuple(row)


def assert_reset(row: tuple[Any, ...]) -> None:
    current_user, session_user, tenant_id, user_id, capacity, _ = row
    assert current_user == session_user, "a runtime role outlived its request"
    assert tenant_id in ("", None), "app.tenant_id outlived its request"
    assert user_id in ("", None)
    assert capacity in ("", None)


# --- A test-only URLconf: a probe page and views that fail after writing ---------------------------


def probe(request: HttpRequest) -> JsonResponse:
    """What a fresh request sees before any tenant is resolved (gateway phase)."""
    current_user, _, tenant_id, _, capacity, pid = identity()
    return JsonResponse(
        {"role": current_user, "tenant_id": tenant_id or "", "capacity": capacity or "", "pid": pid}
    )


def _write_location(request: HttpRequest, name: str) -> AccessContext:
    ctx: AccessContext = request.access  # type: ignore[attr-defined]
    existing = Location.objects.filter(tenant=ctx.tenant).first()
    assert existing is not None
    Location.objects.create(
        tenant=ctx.tenant,
        name=name,
        address="1 Written Way",
        city="Oakland",
        managing_entity_id=existing.managing_entity_id,
        pc_id=existing.pc_id,
    )
    assert Location.objects.filter(name=name).exists()  # the write did happen inside the request
    return ctx


def write_then_raise(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    _write_location(request, "Written before a crash")
    raise RuntimeError("boom after a write")


def write_then_refuse(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    _write_location(request, "Written before a 400")
    return HttpResponse("bad input", status=400)


urlpatterns = [
    path("probe/", probe),
    path("t/<slug:tenant_slug>/test-write-then-raise/", write_then_raise),
    path("t/<slug:tenant_slug>/test-write-then-refuse/", write_then_refuse),
    path("", include("tenants.urls")),
]


# --- Tests -------------------------------------------------------------------------------------


def test_failed_tenant_request_leaves_nothing_for_the_next_tenant(world_a: World, world_b: World) -> None:
    client = Client()
    sign_in(client, world_a.user("mso_admin"))
    pid_before = identity()[-1]

    # Tenant A's request activates A (business role, app.tenant_id) and then answers 404.
    foreign = reverse("location-detail", kwargs={"tenant_slug": "alpha", "pk": world_b.locations[0].pk})
    assert client.get(foreign).status_code == 404
    after_error = identity()
    assert after_error[-1] == pid_before, "the test must reuse one connection"
    assert_reset(after_error)

    # Next request on the same connection, for tenant B: sees B only.
    sign_in(client, world_b.user("mso_admin"))
    response = client.get(reverse("location-list", kwargs={"tenant_slug": "bravo"}))
    assert response.status_code == 200
    body = response.content.decode()
    assert all(loc.name in body for loc in world_b.locations)
    assert all(loc.name not in body for loc in world_a.locations)
    after_b = identity()
    assert after_b[-1] == pid_before
    assert_reset(after_b)


@override_settings(ROOT_URLCONF=__name__)
def test_a_request_after_an_error_starts_at_the_gateway_with_no_tenant(world_a: World) -> None:
    client = Client(raise_request_exception=False)
    sign_in(client, world_a.user("mso_admin"))
    assert client.get("/t/alpha/locations/not-a-uuid/").status_code == 404
    assert client.get("/t/alpha/test-write-then-raise/").status_code == 500
    seen = client.get("/probe/").json()
    assert seen["pid"] == identity()[-1]
    assert (seen["role"], seen["tenant_id"], seen["capacity"]) == ("mso_gateway", "", "")
    assert_reset(identity())


@override_settings(ROOT_URLCONF=__name__)
def test_a_view_that_raises_after_a_write_leaves_nothing_written(world_a: World) -> None:
    client = Client(raise_request_exception=False)
    sign_in(client, world_a.user("mso_admin"))
    audit_before = AuditLogEntry.objects.filter(action="insert", object_type="management.location").count()
    response = client.get("/t/alpha/test-write-then-raise/")
    assert response.status_code == 500
    assert "Nothing from this request was saved" in response.content.decode()
    assert not Location.objects.filter(name="Written before a crash").exists()
    # the database trigger's audit row went with the rolled-back write
    assert AuditLogEntry.objects.filter(action="insert", object_type="management.location").count() == (
        audit_before
    )
    assert_reset(identity())


@override_settings(ROOT_URLCONF=__name__)
def test_a_view_that_answers_4xx_after_a_write_leaves_nothing_written(world_a: World) -> None:
    client = Client()
    sign_in(client, world_a.user("mso_admin"))
    assert client.get("/t/alpha/test-write-then-refuse/").status_code == 400
    assert not Location.objects.filter(name="Written before a 400").exists()
    assert_reset(identity())


def test_clinical_role_does_not_outlive_a_chart_request(world_a: World) -> None:
    client = Client()
    sign_in(client, world_a.user("pc_physician"))
    chart = world_a.charts[0]
    response = client.get(reverse("chart-detail", kwargs={"tenant_slug": "alpha", "pk": chart.pk}))
    assert response.status_code == 200
    assert_reset(identity())
    # the read was committed with the request (not lost, not left pending)
    assert AuditLogEntry.objects.filter(action="read", object_id=str(chart.pk)).count() == 1
