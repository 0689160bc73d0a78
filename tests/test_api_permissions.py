"""Every endpoint, every capacity, own-tenant and other-tenant objects: generated expectations."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tenants.capacities import CAPACITIES, VIEW
from tests.api_matrix import (
    BY_NAME,
    CAPACITY_CODES,
    ENDPOINTS,
    Endpoint,
    call,
    client_for,
    expected_create,
    expected_retrieve,
    expected_update,
    ids_of,
    issue_keys,
)
from tests.worlds import World

pytestmark = pytest.mark.django_db

MATRIX = [pytest.param(ep, cap, id=f"{ep.name}-{cap}") for ep in ENDPOINTS for cap in CAPACITY_CODES]


def test_the_matrix_covers_every_outcome(world_a: World) -> None:
    """Guards the matrix itself: it must contain allowed, hidden, refused and invalid cases."""
    outcomes = {
        expected_retrieve(ep, world_a, cap, obj, own=True)
        for ep in ENDPOINTS
        for cap in CAPACITY_CODES
        for obj in ep.own_objects(world_a)
    }
    creates = {expected_create(ep, world_a, cap) for ep in ENDPOINTS for cap in CAPACITY_CODES}
    updates = {
        expected_update(ep, world_a, cap, obj, own=True)
        for ep in ENDPOINTS
        for cap in CAPACITY_CODES
        for obj in ep.own_objects(world_a)
    }
    assert outcomes == {200, 404}
    assert creates == {201, 400, 404}
    assert updates == {200, 404, 405}
    # spot checks of the table against the domain rules
    assert expected_retrieve(BY_NAME["patient-charts"], world_a, "mso_admin", world_a.charts[0], True) == 404
    assert expected_retrieve(BY_NAME["patient-charts"], world_a, "clinician", world_a.charts[0], True) == 200
    assert expected_retrieve(BY_NAME["patient-charts"], world_a, "clinician", world_a.charts[1], True) == 404
    assert expected_create(BY_NAME["locations"], world_a, "auditor") == 404


@pytest.mark.parametrize(("ep", "capacity"), MATRIX)
def test_retrieve(ep: Endpoint, capacity: str, world_a: World, world_b: World) -> None:
    client = client_for(issue_keys(world_a)[capacity])
    cases = [(o, True) for o in ep.own_objects(world_a)] + [(o, False) for o in ep.own_objects(world_b)]
    for obj, own in cases:
        response = client.get(ep.detail(obj.pk))
        want = expected_retrieve(ep, world_a, capacity, obj, own)
        assert response.status_code == want, (ep.name, capacity, obj, own, response.content)
        if want == 200:
            assert response.json()["id"] == str(obj.pk)
            assert "tenant" not in response.json() and "tenant_id" not in response.json()
        else:
            assert response.json() == {"detail": "No such object."}


@pytest.mark.parametrize(("ep", "capacity"), MATRIX)
def test_list(ep: Endpoint, capacity: str, world_a: World, world_b: World) -> None:
    response = client_for(issue_keys(world_a)[capacity]).get(ep.path)
    if not CAPACITIES[capacity].may(ep.side, VIEW):
        # e.g. an MSO key on charts: refused before PostgreSQL is asked anything about the model
        assert response.status_code == 404
        assert response.json() == {"detail": "No such object."}
        return
    visible = {
        str(o.pk)
        for o in ep.own_objects(world_a)
        if expected_retrieve(ep, world_a, capacity, o, own=True) == 200
    }
    assert response.status_code == 200, response.content
    assert ids_of(response) == visible
    assert response.json()["count"] == len(visible)
    assert not ids_of(response) & {str(o.pk) for o in ep.own_objects(world_b)}


@pytest.mark.parametrize(("ep", "capacity"), MATRIX)
def test_update(ep: Endpoint, capacity: str, world_a: World, world_b: World) -> None:
    client = client_for(issue_keys(world_a)[capacity])
    field, value = next(iter(ep.update_payload.items()))
    cases = [(o, True) for o in ep.own_objects(world_a)] + [(o, False) for o in ep.own_objects(world_b)]
    for obj, own in cases:
        before = getattr(obj, field)
        response = call(client, "PATCH", ep.detail(obj.pk), ep.update_payload)
        want = expected_update(ep, world_a, capacity, obj, own)
        assert response.status_code == want, (ep.name, capacity, obj, own, response.content)
        obj.refresh_from_db()
        if want == 200:
            assert getattr(obj, field) == value == response.json()[field]
            setattr(obj, field, before)
            obj.save(update_fields=[field])
        else:
            assert getattr(obj, field) == before, "a refused update wrote"


@pytest.mark.parametrize(("ep", "capacity"), MATRIX)
def test_create(ep: Endpoint, capacity: str, world_a: World, world_b: World) -> None:
    assert ep.create_payload is not None
    manager = ep.model._default_manager
    before_a = manager.filter(tenant=world_a.tenant).count()
    before_b = manager.filter(tenant=world_b.tenant).count()
    response = call(client_for(issue_keys(world_a)[capacity]), "POST", ep.path, ep.create_payload(world_a))
    want = expected_create(ep, world_a, capacity)
    assert response.status_code == want, (ep.name, capacity, response.content)
    assert manager.filter(tenant=world_b.tenant).count() == before_b
    if want == 201:
        assert manager.filter(tenant=world_a.tenant).count() == before_a + 1
        created: Any = manager.get(pk=response.json()["id"])
        assert created.tenant_id == world_a.tenant.pk
    else:
        assert manager.filter(tenant=world_a.tenant).count() == before_a, "a refused create wrote"
        assert response.json(), "a refusal says why"


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda e: e.name)
def test_keys_of_tenant_b_never_reach_tenant_a_objects(ep: Endpoint, world_a: World, world_b: World) -> None:
    for capacity, raw in issue_keys(world_b).items():
        client = client_for(raw)
        for obj in ep.own_objects(world_a):
            assert client.get(ep.detail(obj.pk)).status_code == 404, (capacity, obj)
            status = call(client, "PATCH", ep.detail(obj.pk), ep.update_payload).status_code
            assert status in {404, 405}, (capacity, obj, status)
        listed = client.get(ep.path)
        if listed.status_code == 200:
            assert not ids_of(listed) & {str(o.pk) for o in ep.own_objects(world_a)}


MALFORMED_IDS = ["abc", "1;drop", "1;drop table clinical.patient_chart", "' OR '1'='1", "-1", "0" * 40, "a.b"]


@pytest.mark.parametrize("raw_id", MALFORMED_IDS)
def test_malformed_ids_answer_404_never_500(raw_id: str, world_a: World) -> None:
    keys = issue_keys(world_a)
    quoted = quote(raw_id, safe="")
    requests = [
        ("GET", ep.detail(quoted), "pc_physician" if ep.side == "clinical" else "mso_admin")
        for ep in ENDPOINTS
    ]
    requests += [("PATCH", ep.detail(quoted), "mso_admin") for ep in ENDPOINTS if "update" in ep.writes]
    requests += [
        ("GET", f"/api/v1/api-keys/{quoted}/", "mso_admin"),
        ("POST", f"/api/v1/api-keys/{quoted}/revoke/", "mso_admin"),
    ]
    for method, path, capacity in requests:
        response = call(client_for(keys[capacity]), method, path, {"name": "x"})
        assert response.status_code == 404, (method, path, response.status_code)


def test_uuid_of_nothing_and_of_another_model_answer_404(world_a: World) -> None:
    client = client_for(issue_keys(world_a)["mso_admin"])
    assert client.get("/api/v1/locations/00000000-0000-0000-0000-000000000000/").status_code == 404
    # a PC's id on the locations endpoint: right tenant, wrong model
    assert client.get(f"/api/v1/locations/{world_a.pcs[0].pk}/").status_code == 404
