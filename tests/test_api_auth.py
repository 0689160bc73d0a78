"""API keys as the tenant and capacity of a request: refusals, /me/, and the keys endpoint."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.utils import timezone

from mso_platform.db import boundary
from tenants.access import gateway_for_api_key
from tenants.capacities import CAPACITIES
from tenants.models import ApiKey, AuditLogEntry, Membership
from tenants.services import api_key_create, api_key_revoke
from tests.api_matrix import CAPACITY_CODES, ENDPOINTS, call, client_for, ids_of, issue_keys
from tests.worlds import World

pytestmark = pytest.mark.django_db

PROTECTED = ["/api/v1/me/", "/api/v1/api-keys/", *[ep.path for ep in ENDPOINTS]]


@pytest.mark.parametrize("path", PROTECTED)
def test_no_key_is_401_with_the_scheme_named(path: str) -> None:
    response = client_for(None).get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer msok_abc", "Use the header 'Authorization: Api-Key <key>'."),
        ("Api-Key", "Use the header 'Authorization: Api-Key <key>'."),
        ("Api-Key    ", "Use the header 'Authorization: Api-Key <key>'."),
        ("api-key msok_abc", "Use the header 'Authorization: Api-Key <key>'."),
        ("Api-Key msok_not-a-key-of-anyone", "Unknown API key."),
        ("Api-Key ' OR 1=1 --", "Unknown API key."),
    ],
)
def test_malformed_and_unknown_keys_are_401(header: str, message: str, world_a: World) -> None:
    issue_keys(world_a)
    for path in PROTECTED:
        response = client_for(None).get(path, HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, (path, header)
        assert response.json() == {"detail": message}


def test_revoked_key_is_401_with_message(world_a: World) -> None:
    raw = issue_keys(world_a)["mso_admin"]
    client = client_for(raw)
    assert client.get("/api/v1/locations/").status_code == 200
    api_key_revoke(key=ApiKey.objects.get(key_hash=ApiKey.hash_secret(raw)))
    response = client.get("/api/v1/locations/")
    assert response.status_code == 401
    assert response.json() == {"detail": "This API key has been revoked."}


def test_key_of_an_ended_membership_is_401(world_a: World) -> None:
    keys = issue_keys(world_a)
    auditor = world_a.members["auditor"]
    auditor.expires_at = timezone.now() - dt.timedelta(minutes=1)
    auditor.save(update_fields=["expires_at"])
    staff = world_a.members["mso_staff"]
    staff.is_active = False
    staff.save(update_fields=["is_active"])
    for capacity in ("auditor", "mso_staff"):
        response = client_for(keys[capacity]).get("/api/v1/me/")
        assert response.status_code == 401
        assert response.json() == {"detail": "The membership behind this API key is no longer active."}


def test_a_refused_key_writes_nothing(world_a: World) -> None:
    raw = issue_keys(world_a)["mso_admin"]
    key = api_key_revoke(key=ApiKey.objects.get(key_hash=ApiKey.hash_secret(raw)))
    entries = AuditLogEntry.objects.count()
    assert client_for(raw).get("/api/v1/locations/").status_code == 401
    assert AuditLogEntry.objects.count() == entries
    key.refresh_from_db()
    assert key.last_used_at is None


@pytest.mark.parametrize("capacity", CAPACITY_CODES)
def test_me_describes_the_key(capacity: str, world_a: World) -> None:
    response = client_for(issue_keys(world_a)[capacity]).get("/api/v1/me/")
    assert response.status_code == 200
    body = response.json()
    spec = CAPACITIES[capacity]
    assert body["tenant"] == {
        "id": str(world_a.tenant.pk),
        "slug": world_a.tenant.slug,
        "name": world_a.tenant.name,
    }
    assert body["capacity"] == {
        "code": capacity,
        "name": spec.label,
        "tenant_wide": spec.tenant_wide,
        "can_write": not spec.read_only,
    }
    assert body["scope"] == str(spec.side)
    assert body["key"]["name"] == f"{capacity} key"
    assert body["user"]["email"] == world_a.user(capacity).email


def test_using_a_key_records_last_use_to_the_minute(world_a: World) -> None:
    from datetime import timedelta

    raw = issue_keys(world_a)["clinician"]
    keys = ApiKey.objects.filter(key_hash=ApiKey.hash_secret(raw))
    client_for(raw).get("/api/v1/me/")
    first = keys.get().last_used_at
    assert first is not None
    client_for(raw).get("/api/v1/me/")
    assert keys.get().last_used_at == first  # within the minute: no write per request
    keys.update(last_used_at=first - timedelta(minutes=2))
    client_for(raw).get("/api/v1/me/")
    latest = keys.get().last_used_at
    assert latest is not None and latest > first


# --- /api-keys/ -------------------------------------------------------------------------------------


def test_list_shows_only_the_membership_own_keys(world_a: World, world_b: World) -> None:
    keys = issue_keys(world_a)
    issue_keys(world_b)
    admin = world_a.members["mso_admin"]
    response = client_for(keys["mso_admin"]).get("/api/v1/api-keys/")
    assert response.status_code == 200
    own = {str(k.pk) for k in ApiKey.objects.filter(membership=admin)}
    assert ids_of(response) == own and len(own) == 1
    row = response.json()["results"][0]
    assert row["scope"] == "business" and row["capacity"] == "mso_admin"
    assert "key" not in row and "key_hash" not in row


@pytest.mark.parametrize("capacity", [c for c in CAPACITY_CODES if c != "auditor"])
def test_create_returns_the_raw_key_once_and_it_works(capacity: str, world_a: World) -> None:
    client = client_for(issue_keys(world_a)[capacity])
    response = call(client, "POST", "/api/v1/api-keys/", {"name": "  nightly sync  ", "tenant": "x"})
    assert response.status_code == 201, response.content
    body = response.json()
    raw = body["key"]
    key = ApiKey.objects.get(pk=body["id"])
    assert (key.name, key.membership, key.tenant) == (
        "nightly sync",
        world_a.members[capacity],
        world_a.tenant,
    )
    assert key.key_hash == ApiKey.hash_secret(raw) and raw not in (key.key_hash, key.key_prefix)
    assert body["scope"] == str(CAPACITIES[capacity].side)
    me = client_for(raw).get("/api/v1/me/").json()
    assert me["capacity"]["code"] == capacity and me["key"]["id"] == str(key.pk)
    listed = client.get("/api/v1/api-keys/").json()["results"]
    assert all("key" not in row for row in listed)
    assert str(key.pk) in {row["id"] for row in listed}


def test_create_needs_a_name(world_a: World) -> None:
    client = client_for(issue_keys(world_a)["mso_admin"])
    before = ApiKey.objects.count()
    for payload in ({}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}):
        response = call(client, "POST", "/api/v1/api-keys/", payload)
        assert response.status_code == 400, payload
        assert "name" in response.json()
    assert ApiKey.objects.count() == before


def test_auditor_keys_cannot_create_or_revoke(world_a: World) -> None:
    raw = issue_keys(world_a)["auditor"]
    client = client_for(raw)
    before = ApiKey.objects.count()
    assert call(client, "POST", "/api/v1/api-keys/", {"name": "more"}).status_code == 404
    assert ApiKey.objects.count() == before
    own = ApiKey.objects.get(key_hash=ApiKey.hash_secret(raw))
    assert call(client, "POST", f"/api/v1/api-keys/{own.pk}/revoke/").status_code == 404
    own.refresh_from_db()
    assert own.revoked_at is None
    assert client.get("/api/v1/api-keys/").status_code == 200  # but it may list its keys


def test_revoke_own_key_then_it_is_refused(world_a: World) -> None:
    keys = issue_keys(world_a)
    client = client_for(keys["pc_physician"])
    spare = call(client, "POST", "/api/v1/api-keys/", {"name": "spare"}).json()
    response = call(client, "POST", f"/api/v1/api-keys/{spare['id']}/revoke/")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert ApiKey.objects.get(pk=spare["id"]).revoked_at is not None
    refused = client_for(spare["key"]).get("/api/v1/me/")
    assert (refused.status_code, refused.json()) == (401, {"detail": "This API key has been revoked."})
    assert client.get("/api/v1/me/").status_code == 200  # the calling key is untouched


def test_keys_of_other_members_and_other_tenants_answer_404(world_a: World, world_b: World) -> None:
    keys_a = issue_keys(world_a)
    issue_keys(world_b)
    client = client_for(keys_a["mso_admin"])
    others = list(
        ApiKey.objects.filter(tenant=world_a.tenant).exclude(membership=world_a.members["mso_admin"])
    )
    others += list(ApiKey.objects.filter(tenant=world_b.tenant))
    assert len(others) == 11
    for key in others:
        assert client.get(f"/api/v1/api-keys/{key.pk}/").status_code == 404
        assert call(client, "POST", f"/api/v1/api-keys/{key.pk}/revoke/").status_code == 404
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()


def test_keys_endpoint_has_no_update_or_delete(world_a: World) -> None:
    raw = issue_keys(world_a)["mso_admin"]
    client = client_for(raw)
    own = ApiKey.objects.get(key_hash=ApiKey.hash_secret(raw))
    assert call(client, "PATCH", f"/api/v1/api-keys/{own.pk}/", {"name": "x"}).status_code == 405
    assert client.delete(f"/api/v1/api-keys/{own.pk}/").status_code == 405
    own.refresh_from_db()
    assert own.name == "mso_admin key"


# --- The key lookup: gateway settings sent in the lookup's round trip --------------------------------

GATEWAY_STATE = (
    "SELECT current_user, current_setting('app.api_key_hash', true), current_setting('app.tenant_id', true)"
)


def _gateway_state() -> tuple[str, str, str]:
    with connection.cursor() as cur:
        cur.execute(GATEWAY_STATE)
        row = cur.fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def test_key_lookup_sees_only_the_presented_key_and_its_tenants_memberships(
    world_a: World, world_b: World
) -> None:
    key, _ = api_key_create(ctx=world_a.ctx("clinician", via="api"), name="Lookup")
    other, _ = api_key_create(ctx=world_b.ctx("clinician", via="api"), name="Other tenant")
    with transaction.atomic():
        with gateway_for_api_key(key.key_hash):
            # One statement inside: it carries the settings, so they hold for this very query.
            keys = list(ApiKey.objects.values_list("pk", flat=True))
        assert keys == [key.pk]  # RLS: the one key with the presented hash, nothing of world_b
        role, presented, tenant = _gateway_state()
        assert (role, presented, tenant) == (boundary.GATEWAY_ROLE, key.key_hash, str(world_a.tenant.pk))
        members = set(Membership.objects.values_list("tenant_id", flat=True))
        assert members == {world_a.tenant.pk}
        assert not Membership.objects.filter(pk=other.membership_id).exists()


def test_unknown_hash_names_no_tenant_and_settings_hold_without_a_statement(world_a: World) -> None:
    with transaction.atomic():
        with gateway_for_api_key("0" * 64):
            pass  # nothing looked up: the settings are applied on leaving the block
        assert _gateway_state() == (boundary.GATEWAY_ROLE, "0" * 64, "")
        assert not Membership.objects.exists()  # no tenant named: RLS shows no membership
        assert not ApiKey.objects.exists()


def test_key_lookup_carries_a_statement_with_literal_percent_signs(world_a: World) -> None:
    key, _ = api_key_create(ctx=world_a.ctx("mso_admin", via="api"), name="100% sure")
    with transaction.atomic():
        with gateway_for_api_key(key.key_hash), connection.cursor() as cur:
            cur.execute("SELECT name FROM tenants_apikey WHERE name LIKE '100%'")  # no parameters
            assert cur.fetchall() == [("100% sure",)]


def test_key_with_membership_loads_what_the_orm_would_in_one_query(world_a: World, world_b: World) -> None:
    from django.test.utils import CaptureQueriesContext

    from tenants.api.authentication import key_with_membership

    key, _ = api_key_create(ctx=world_a.ctx("clinician", via="api"), name="Loaded")
    api_key_create(ctx=world_b.ctx("clinician", via="api"), name="Other tenant")
    with transaction.atomic():
        with gateway_for_api_key(key.key_hash), CaptureQueriesContext(connection) as queries:
            loaded = key_with_membership(key.key_hash)
            assert loaded is not None
            membership, tenant, user = loaded.membership, loaded.membership.tenant, loaded.membership.user
        assert len(queries) == 1  # the membership, tenant and user came with the key
        expected = ApiKey.objects.select_related("membership__tenant", "membership__user").get(pk=key.pk)
    pairs = (
        (loaded, expected),
        (membership, expected.membership),
        (tenant, expected.membership.tenant),
        (user, expected.membership.user),
    )
    for got, want in pairs:
        fields = type(want)._meta.concrete_fields
        assert [getattr(got, f.attname) for f in fields] == [getattr(want, f.attname) for f in fields]
    assert tenant == world_a.tenant and user == world_a.user("clinician")
    assert not loaded._state.adding and loaded._state.db == "default"  # saved rows, as from a query
    with transaction.atomic(), gateway_for_api_key("f" * 64):
        assert key_with_membership("f" * 64) is None
