"""No setting leaks between requests on a reused connection, and failed requests write nothing.

These run with real commits (transaction=True): the request transaction is the outermost one, as in
production, so SET LOCAL ROLE and app.tenant_id must vanish when it ends, whatever the outcome.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, reverse

from management.models import Location
from mso_platform.db import boundary
from mso_platform.db.prepared import prepared_form
from tenants import audit
from tenants.access import (
    AccessContext,
    _tenant_of_key_sql,
    activate,
    carried_settings,
    enter_gateway,
    one_statement_as,
)
from tenants.api.authentication import _key_lookup_sql
from tenants.audit import chain_verify
from tenants.models import ApiKey, AuditLogEntry
from tenants.services import api_key_create
from tests.api_matrix import client_for
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


# --- Settings carried in the next statement's round trip (tenants.access.carried_settings) ---------


def _role_and_tenant() -> tuple[str, str]:
    with connection.cursor() as cur:
        cur.execute("SELECT current_user, current_setting('app.tenant_id', true)")
        row = cur.fetchone()
    assert row is not None
    return row[0], row[1]


def test_carried_switch_holds_for_the_very_next_statement(world_a: World) -> None:
    ctx = world_a.ctx("mso_admin")
    with transaction.atomic():
        enter_gateway()
        with carried_settings():
            activate(ctx)
            # The first statement after activate() runs as the capacity, with the tenant set.
            assert _role_and_tenant() == (ctx.capacity.db_role, str(world_a.tenant.pk))
            enter_gateway()  # and back: the next statement is the gateway's, with no tenant
            assert _role_and_tenant() == (boundary.GATEWAY_ROLE, "")


def test_carried_switch_reaches_executemany_and_server_side_cursors(world_a: World) -> None:
    ctx = world_a.ctx("mso_admin")
    expected = sorted(Location.objects.filter(tenant=world_a.tenant).values_list("name", flat=True))
    assert expected
    with transaction.atomic():
        enter_gateway()
        with carried_settings():
            activate(ctx)
            # A server-side cursor (DECLARE … FOR) cannot carry it: sent on its own, just before.
            names = Location.objects.filter(tenant=world_a.tenant).values_list("name", flat=True).iterator()
            assert sorted(names) == expected
            enter_gateway()
            activate(ctx)
            with connection.cursor() as cur:
                cur.executemany("SELECT set_config('app.probe', %s, true)", [("a",), ("b",)])
            assert _role_and_tenant() == (ctx.capacity.db_role, str(world_a.tenant.pk))


def test_carried_switch_is_sent_when_the_block_ends_and_dropped_when_it_raises(world_a: World) -> None:
    ctx = world_a.ctx("mso_admin")
    with transaction.atomic():
        enter_gateway()
        with carried_settings():
            activate(ctx)  # no statement follows inside the block
        assert _role_and_tenant() == (ctx.capacity.db_role, str(world_a.tenant.pk))
        enter_gateway()
        with pytest.raises(RuntimeError, match="before any statement"), carried_settings():
            activate(ctx)
            raise RuntimeError("before any statement")
        assert _role_and_tenant() == (boundary.GATEWAY_ROLE, "")  # never the wider role


def test_a_settings_statement_set_again_in_full_before_any_statement_is_not_sent(world_a: World) -> None:
    ctx = world_a.ctx("mso_admin")
    with transaction.atomic():
        enter_gateway()
        with CaptureQueriesContext(connection) as sent, carried_settings():
            enter_gateway(user_id=ctx.user.pk if ctx.user else None)
            enter_gateway()  # the same names: the one before is dropped
            activate(ctx)  # the role and every name of the gateway's, and more: dropped again
            assert _role_and_tenant() == (ctx.capacity.db_role, str(world_a.tenant.pk))
        assert len(sent.captured_queries) == 1
        assert sent.captured_queries[0]["sql"].count("set_config('role'") == 1
        with CaptureQueriesContext(connection) as sent, carried_settings():
            activate(ctx)
            enter_gateway()  # does not set app.capacity: the capacity's statement is kept and sent
            with connection.cursor() as cur:
                cur.execute("SELECT current_user, current_setting('app.capacity', true)")
                assert cur.fetchone() == (boundary.GATEWAY_ROLE, ctx.capacity.code)
        assert sent.captured_queries[0]["sql"].count("set_config('role'") == 2


def test_an_api_request_switches_capacity_without_a_round_trip_of_its_own(world_a: World) -> None:
    """The key's gateway settings ride with its lookup and the capacity's with the next query."""
    _, raw = api_key_create(ctx=world_a.ctx("mso_admin", via="api"), name="Round trips")
    with CaptureQueriesContext(connection) as statements:
        assert client_for(raw).get("/api/v1/locations/").status_code == 200
    # The first request on a connection prepares the key's two statements (mso_platform.db.prepared),
    # each PREPARE in a round trip of its own that carries what waits in front of it.
    tenant_of_key = prepared_form(_tenant_of_key_sql(ApiKey._meta.db_table))[0]
    lookup = prepared_form(_key_lookup_sql())[0]
    for name in (tenant_of_key, lookup):
        assert name in connection.prepared_statements  # type: ignore[attr-defined]
    with CaptureQueriesContext(connection) as statements:
        response = client_for(raw).get("/api/v1/locations/")
    assert response.status_code == 200
    assert response.json()["count"] == Location.objects.filter(tenant=world_a.tenant).count()
    sent = [q["sql"] for q in statements.captured_queries]
    alone = [sql for sql in sent if sql.startswith("SELECT set_config") and ";" not in sql]
    assert alone == [], sent  # no switch has a round trip of its own, not even the gateway's
    carried = [sql for sql in sent if sql.startswith("SELECT set_config") and ";" in sql]
    # The request's gateway and the key's settings ride with its lookup, the capacity's with the
    # list's first query.
    assert len(carried) == 2, sent
    first = next(sql for sql in sent if sql not in ("BEGIN", "COMMIT") and not sql.startswith("SAVEPOINT"))
    assert first == carried[0] and first.startswith("SELECT set_config('role', 'mso_gateway', true)")
    # The request's own gateway switch is set again in full by the key's: only the key's is sent.
    assert first.count("set_config('role', 'mso_gateway', true)") == 1, first
    # Then only executed: the key's tenant, then the lookup, in the same round trip.
    assert not any(sql.startswith("PREPARE") or "; PREPARE" in sql for sql in sent), sent
    assert [part.strip().split("(")[0] for part in first.split(";")[-2:]] == [
        f"EXECUTE {tenant_of_key}",
        f"EXECUTE {lookup}",
    ], first
    assert "set_config('role', 'mso_business', true)" in carried[1]
    assert 'FROM "management"."location"' in carried[1].rsplit(";", 1)[1]


# --- The read log of a request that writes nothing (tenants.audit._PendingReads.flush_alone) ---------


def test_a_read_only_request_logs_its_reads_in_a_transaction_of_their_own(world_a: World) -> None:
    """After the request's COMMIT, one statement carries the reader's role and inserts the entry:
    PostgreSQL commits it (and frees the tenant's chain lock) before answering."""
    _, raw = api_key_create(ctx=world_a.ctx("pc_physician", via="api"), name="Reader")
    with CaptureQueriesContext(connection) as statements:
        response = client_for(raw).get("/api/v1/patient-charts/")
    assert response.status_code == 200
    shown = {row["id"] for row in response.json()["results"]}
    assert shown
    sent = [q["sql"] for q in statements.captured_queries]
    logged = [i for i, sql in enumerate(sent) if 'INSERT INTO "tenants_auditlogentry"' in sql]
    assert len(logged) == 1, sent
    insert = sent[logged[0]]
    assert "COMMIT" in sent[: logged[0]] and sent[logged[0] + 1 :] == []
    assert insert.startswith("SELECT set_config('role', 'mso_clinical', true)"), insert
    entry = AuditLogEntry.objects.get(action="read", tenant=world_a.tenant, via="api")
    assert (entry.actor_id, entry.capacity) == (world_a.user("pc_physician").pk, "pc_physician")
    assert set(entry.detail["ids"]) == shown
    assert chain_verify(world_a.tenant.pk) == (
        AuditLogEntry.objects.filter(tenant=world_a.tenant).count(),
        None,
    )
    assert_reset(identity())


def test_a_read_only_request_whose_log_fails_shows_nothing(
    world_a: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No entry, no records: the error reaches the client instead of the charts."""
    _, raw = api_key_create(ctx=world_a.ctx("pc_physician", via="api"), name="Reader")
    monkeypatch.setattr(audit, "_insert_sql", lambda fields, rows: "INSERT INTO no_such_table VALUES (1)")
    client = client_for(raw)
    client.raise_request_exception = False
    response = client.get("/api/v1/patient-charts/")
    assert response.status_code == 500
    assert b"results" not in response.content
    assert not AuditLogEntry.objects.filter(action="read", tenant=world_a.tenant).exists()
    assert_reset(identity())


def test_one_statement_as_runs_exactly_one_statement_outside_a_transaction(world_a: World) -> None:
    ctx = world_a.ctx("pc_physician")
    with one_statement_as(ctx), connection.cursor() as cur:
        cur.execute("SELECT current_user, current_setting('app.tenant_id', true)")
        assert cur.fetchone() == ("mso_clinical", str(world_a.tenant.pk))
    assert_reset(identity())
    with pytest.raises(RuntimeError, match="runs one statement"), one_statement_as(ctx):
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
            cur.execute("SELECT 2")
    with pytest.raises(RuntimeError, match="ran no statement"), one_statement_as(ctx):
        pass
    with (
        pytest.raises(RuntimeError, match="outside a transaction"),
        transaction.atomic(),
        one_statement_as(ctx),
    ):
        pass
    assert_reset(identity())
