"""Every endpoint, every capacity that may write its side, every row of its own tenant: the
expected answer of each create and update is worked out from the capacity table and the grant rows
(tests.api_matrix), then asked of the API; a refused write changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tenants.capacities import ADD, CAPACITIES, CHANGE
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
)
from tests.attack_routes import Stage, module_stages

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def stages(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[Stage, Stage]]:
    """Two domain worlds (every record of every area) for the whole module; each test runs in a
    savepoint inside it, so no test sees another's writes (tests.attack_routes.module_stages)."""
    yield from module_stages(django_db_blocker)


def test_the_matrix_covers_every_outcome(stages: tuple[Stage, Stage]) -> None:
    """Guards the matrix itself: it must contain allowed, hidden, refused and invalid cases."""
    world_a = stages[0].world
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
    # 405: read-only endpoints (consent-form versions are made by approvals, not posted)
    assert {201, 400, 404} <= creates <= {201, 400, 404, 405}
    assert updates == {200, 404, 405}
    # spot checks of the table against the domain rules
    assert expected_retrieve(BY_NAME["patient-charts"], world_a, "mso_admin", world_a.charts[0], True) == 404
    assert expected_retrieve(BY_NAME["patient-charts"], world_a, "clinician", world_a.charts[0], True) == 200
    assert expected_retrieve(BY_NAME["patient-charts"], world_a, "clinician", world_a.charts[1], True) == 404
    assert expected_create(BY_NAME["locations"], world_a, "auditor") == 404


# Reads (retrieve and list, every capacity, own and other tenant's rows) are the attack matrix's
# (tests/test_attack_matrix.py, from the same grant rows). Here: the writes, object by object.


def writers_of(ep: Endpoint, action: str) -> list[str]:
    """Capacities whose side may do `action` on the endpoint's data at all. Every other capacity is
    refused before any lookup, which tests/test_attack_matrix.py shows on every route and method."""
    return [c for c in CAPACITY_CODES if CAPACITIES[c].may(ep.side, action)]


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda e: e.name)
def test_update_of_each_own_row_answers_by_capacity_and_grants(
    ep: Endpoint, stages: tuple[Stage, Stage]
) -> None:
    world_a = stages[0].world
    field, value = next(iter(ep.update_payload.items()))
    seen = set()
    for capacity in writers_of(ep, CHANGE):
        client = client_for(stages[0].keys[capacity])
        for obj in ep.own_objects(world_a):
            before = getattr(obj, field)
            response = call(client, "PATCH", ep.detail(obj.pk), ep.update_payload)
            want = expected_update(ep, world_a, capacity, obj, True)
            assert response.status_code == want, (ep.name, capacity, obj, response.content)
            seen.add(want)
            obj.refresh_from_db()
            if want == 200:
                assert getattr(obj, field) == value == response.json()[field]
                setattr(obj, field, before)
                obj.save(update_fields=[field])
            else:
                assert getattr(obj, field) == before, "a refused update wrote"
    if "update" in ep.writes:
        assert 200 in seen, f"{ep.name}: no capacity could update a row, so the refusals prove nothing"


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda e: e.name)
def test_create_answers_by_capacity_and_grants(ep: Endpoint, stages: tuple[Stage, Stage]) -> None:
    world_a, world_b = stages[0].world, stages[1].world
    assert ep.create_payload is not None
    manager = ep.model._default_manager
    seen = set()
    for capacity in writers_of(ep, ADD):
        before_a = manager.filter(tenant=world_a.tenant).count()
        before_b = manager.filter(tenant=world_b.tenant).count()
        response = call(client_for(stages[0].keys[capacity]), "POST", ep.path, ep.create_payload(world_a))
        want = expected_create(ep, world_a, capacity)
        assert response.status_code == want, (ep.name, capacity, response.content)
        seen.add(want)
        assert manager.filter(tenant=world_b.tenant).count() == before_b
        if want == 201:
            assert manager.filter(tenant=world_a.tenant).count() == before_a + 1
            created: Any = manager.get(pk=response.json()["id"])
            assert created.tenant_id == world_a.tenant.pk
        else:
            assert manager.filter(tenant=world_a.tenant).count() == before_a, "a refused create wrote"
            assert response.json(), "a refusal says why"
    if "create" in ep.writes:
        assert 201 in seen, f"{ep.name}: no capacity could create, so the refusals prove nothing"


MALFORMED_IDS = ["abc", "1;drop", "1;drop table clinical.patient_chart", "' OR '1'='1", "-1", "0" * 40, "a.b"]


@pytest.mark.parametrize("raw_id", MALFORMED_IDS)
def test_malformed_ids_answer_404_never_500(raw_id: str, stages: tuple[Stage, Stage]) -> None:
    keys = stages[0].keys
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


def test_uuid_of_nothing_and_of_another_model_answer_404(stages: tuple[Stage, Stage]) -> None:
    world_a = stages[0].world
    client = client_for(stages[0].keys["mso_admin"])
    assert client.get("/api/v1/locations/00000000-0000-0000-0000-000000000000/").status_code == 404
    # a PC's id on the locations endpoint: right tenant, wrong model
    assert client.get(f"/api/v1/locations/{world_a.pcs[0].pk}/").status_code == 404
