"""The generic pages (tenants/pages.py), exercised over locations with the real location services."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from management.models import Location
from tenants.security.policy import requires_two_factor
from tests import factories
from tests.sessions import sign_in
from tests.worlds import World

pytestmark = pytest.mark.urls("tests.toolkit_urls")


def as_(client: Client, world: World, capacity: str) -> Client:
    return sign_in(client, world.user(capacity), verified=requires_two_factor(capacity))


def url(world: World, kind: str, pk: Any = None) -> str:
    kwargs: dict[str, Any] = {"tenant_slug": world.tenant.slug}
    if pk is not None:
        kwargs["pk"] = pk
    return reverse(f"toolkit-location-{kind}", kwargs=kwargs)


def form_data(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Toolkit Spa",
        "address": "9 Pier Rd",
        "city": "Oceanside",
        "state": "CA",
        "managing_entity": str(world.entity.pk),
        "pc": str(world.pcs[0].pk),
        **overrides,
    }


def test_list_shows_what_the_capacity_may_see_with_links_and_create_button(
    client: Client, world_a: World
) -> None:
    as_(client, world_a, "mso_staff")
    body = client.get(url(world_a, "list")).content.decode()
    assert world_a.locations[0].name in body and world_a.locations[1].name not in body  # staff: first only
    assert url(world_a, "detail", world_a.locations[0].pk) in body
    assert 'data-testid="create-link"' in body


def test_create_writes_through_the_service_and_redirects(client: Client, world_a: World) -> None:
    as_(client, world_a, "mso_admin")
    assert client.get(url(world_a, "create")).status_code == 200
    response = client.post(url(world_a, "create"), form_data(world_a))
    created = Location.objects.get(name="Toolkit Spa")
    assert response.status_code == 302 and response["Location"] == url(world_a, "detail", created.pk)
    assert created.tenant_id == world_a.tenant.pk


def test_bad_input_is_a_400_with_the_message_and_nothing_written(client: Client, world_a: World) -> None:
    as_(client, world_a, "mso_admin")
    response = client.post(url(world_a, "create"), form_data(world_a, state="C1"))
    assert response.status_code == 400
    assert "two-letter state code" in response.content.decode()  # the service's message, on the form
    assert not Location.objects.filter(name="Toolkit Spa").exists()


def test_choices_of_related_objects_exclude_other_tenants_and_unpermitted(
    client: Client, world_a: World, world_b: World
) -> None:
    as_(client, world_a, "mso_staff")
    page = client.get(url(world_a, "create")).content.decode()
    assert str(world_a.pcs[0].pk) in page
    assert str(world_a.pcs[1].pk) not in page and str(world_b.pcs[0].pk) not in page
    response = client.post(url(world_a, "create"), form_data(world_a, pc=str(world_b.pcs[0].pk)))
    assert response.status_code == 400
    assert "valid choice" in response.content.decode()
    assert not Location.objects.filter(name="Toolkit Spa").exists()


def test_a_create_outside_the_capacity_scope_is_a_404_and_rolled_back(client: Client, world_a: World) -> None:
    # Staff may use the first PC, but the new location carries no grant of theirs: not theirs to see.
    as_(client, world_a, "mso_staff")
    response = client.post(url(world_a, "create"), form_data(world_a))
    assert response.status_code == 404
    assert not Location.objects.filter(name="Toolkit Spa").exists()


def test_edit_changes_only_objects_the_capacity_may_change(client: Client, world_a: World) -> None:
    as_(client, world_a, "mso_staff")
    own, other = world_a.locations
    assert client.get(url(world_a, "edit", other.pk)).status_code == 404
    response = client.post(url(world_a, "edit", own.pk), form_data(world_a, name="Renamed Spa"))
    assert response.status_code == 302
    own.refresh_from_db()
    assert own.name == "Renamed Spa"


@pytest.mark.parametrize("capacity", ["auditor", "clinician", "pc_physician"])
def test_capacities_that_may_not_write_get_404_on_create_and_edit(
    client: Client, world_a: World, capacity: str
) -> None:
    as_(client, world_a, capacity)
    assert client.get(url(world_a, "list")).status_code == 200  # they may read business records
    assert client.get(url(world_a, "create")).status_code == 404
    assert client.post(url(world_a, "create"), form_data(world_a)).status_code == 404
    assert client.get(url(world_a, "edit", world_a.locations[0].pk)).status_code == 404
    assert not Location.objects.filter(name="Toolkit Spa").exists()


def test_other_tenant_and_malformed_ids_are_404(client: Client, world_a: World, world_b: World) -> None:
    as_(client, world_a, "mso_admin")
    for pk in (world_b.locations[0].pk, "not-a-uuid", "1;drop table x"):
        assert client.get(url(world_a, "detail", pk)).status_code == 404
        assert client.get(url(world_a, "edit", pk)).status_code == 404


def test_the_list_page_runs_the_same_queries_for_5_and_50_rows(client: Client, world_a: World) -> None:
    as_(client, world_a, "mso_admin")
    client.get(url(world_a, "list"))  # first request of a session fills per-process caches

    def count_at(total: int) -> int:
        have = Location.objects.filter(tenant=world_a.tenant).count()
        for _ in range(total - have):
            factories.LocationFactory.create(
                tenant=world_a.tenant, managing_entity=world_a.entity, pc=world_a.pcs[0]
            )
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url(world_a, "list")).status_code == 200
        return len(queries)

    assert count_at(5) == count_at(50)
