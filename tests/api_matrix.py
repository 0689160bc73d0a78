"""Declarative API permission matrix (ciso-assistant's role-by-domain tests, NetBox's generated cases).

Each endpoint is described once: its path, the side of the CPOM boundary its data lives on, which
PC/location grant admits one of its rows, which writes it supports and a valid payload. The
expected status of every (endpoint, capacity, object) is then worked out here from first
principles: the capacity's decision table (``Capacity.may``) and the guardian grant rows of the
membership, read straight from the grant tables — not through ``tenants.access.restrict``, which
is the code under test.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from rest_framework.test import APIClient

from clinical.models import PatientChart
from management.models import (
    Location,
    LocationGroupObjectPermission,
    MsoEntity,
    PcGroupObjectPermission,
    ProfessionalCorporation,
)
from tenants.access import AccessContext
from tenants.capacities import ADD, CAPACITIES, CHANGE, VIEW, Side
from tenants.models import Membership
from tenants.services import api_key_create
from tests import matrix
from tests.worlds import World

API = "/api/v1/"
CAPACITY_CODES = list(CAPACITIES)

# The scope target of a row that is itself a PC or location: a row created just now has no grant yet.
FRESH = "fresh"
_serial = itertools.count(1)


@dataclass(frozen=True)
class Endpoint:
    name: str
    model: type[models.Model]
    side: Side
    # The PC or location whose grant admits a row, None when the model is tenant-wide for every
    # capacity that may see it.
    scope: Callable[[Any], models.Model | None]
    own_objects: Callable[[World], list[Any]]
    writes: frozenset[str] = frozenset()
    create_payload: Callable[[World], dict[str, Any]] | None = None
    # References a create payload makes: each must be visible to the caller, else 400.
    create_refs: Callable[[World], list[models.Model]] = field(default=lambda w: [])
    # Scope of the row a create makes: FRESH (the new PC/location itself), a PC, or None.
    create_scope: Callable[[World], models.Model | str | None] = field(default=lambda w: None)
    update_payload: dict[str, Any] = field(default_factory=dict)
    # Make n more rows the actor of this endpoint (tests.attack_routes.actor) sees in its list: the
    # query-count tests list at 5 and at 50 rows and expect the same number of queries.
    make_rows: Callable[[World, int], list[Any]] | None = None
    # A guardian permission on the create scope (a PC) that object-scoped capacities also need to
    # create, e.g. approve_marketing for a physician's decision.
    create_perm: str | None = None
    # Capacities that may write at all, when narrower than the side's (scope rules: physicians only).
    writers: frozenset[str] | None = None
    # Models a write through this endpoint also changes (a decision updates the item it decides).
    also_writes: frozenset[type[models.Model]] = frozenset()

    @property
    def path(self) -> str:
        return f"{API}{self.name}/"

    def detail(self, pk: Any) -> str:
        return f"{API}{self.name}/{pk}/"


def _chart_payload(w: World) -> dict[str, Any]:
    return {
        "pc": str(w.pcs[0].pk),
        "home_location": str(w.locations[0].pk),
        "medical_record_number": f"MX{next(_serial):06d}",
        "patient_name": "Dana Matrix",
        "date_of_birth": "1990-02-03",
        "allergies": "latex",
    }


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        name="patient-charts",
        model=PatientChart,
        side=Side.CLINICAL,
        scope=lambda o: o.pc,
        own_objects=lambda w: list(w.charts),
        writes=frozenset({"create", "update"}),
        create_payload=_chart_payload,
        create_refs=lambda w: [w.pcs[0], w.locations[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"allergies": "none"},
    ),
]
# Each domain area declares its endpoints in tests/matrix/<area>.py (listed in tests/matrix AREAS).
ENDPOINTS += matrix.collect()
BY_NAME = {e.name: e for e in ENDPOINTS}
BUSINESS_REF_SCOPE: dict[type[models.Model], Callable[[Any], models.Model | None]] = {
    MsoEntity: lambda o: None,
    ProfessionalCorporation: lambda o: o,
    Location: lambda o: o,
}


# --- expectations ---------------------------------------------------------------------------------


def holds(member: Membership, target: models.Model, codename: str) -> bool:
    """Whether the membership's group holds `codename` on one PC or location (grant rows, directly)."""
    grants: Any = PcGroupObjectPermission if isinstance(target, ProfessionalCorporation) else None
    if isinstance(target, Location):
        grants = LocationGroupObjectPermission
    assert grants is not None, target
    return bool(
        grants.objects.filter(
            group=member.group, content_object=target, permission__codename=codename
        ).exists()
    )


def reaches(world: World, capacity: str, side: Side, target: models.Model | str | None, action: str) -> bool:
    """May `capacity` do `action` on a row of `side` whose scope target is `target`?"""
    spec = CAPACITIES[capacity]
    if not spec.may(side, action):
        return False
    if spec.tenant_wide or target is None:
        return True
    if target == FRESH:
        return False  # nobody holds a grant on a row that did not exist before this request
    assert isinstance(target, models.Model)
    # Clinical rows: a view grant on the PC/location means "works there" (tenants.access._scope_perm).
    verb = "view" if action == VIEW or side == Side.CLINICAL else "change"
    return holds(world.members[capacity], target, f"{verb}_{target._meta.model_name}")


def expected_retrieve(ep: Endpoint, world: World, capacity: str, obj: Any, own: bool) -> int:
    if not CAPACITIES[capacity].may(ep.side, VIEW):
        return 404
    return 200 if own and reaches(world, capacity, ep.side, ep.scope(obj), VIEW) else 404


def expected_update(ep: Endpoint, world: World, capacity: str, obj: Any, own: bool) -> int:
    if not CAPACITIES[capacity].may(ep.side, CHANGE):
        return 404  # refused by the base viewset before the handler is even looked up
    if "update" not in ep.writes:
        return 405
    if ep.writers is not None and capacity not in ep.writers:
        return 404
    return 200 if own and reaches(world, capacity, ep.side, ep.scope(obj), CHANGE) else 404


def expected_create(ep: Endpoint, world: World, capacity: str) -> int:
    if not CAPACITIES[capacity].may(ep.side, ADD):
        return 404
    if "create" not in ep.writes:
        return 405
    if ep.writers is not None and capacity not in ep.writers:
        return 404
    for ref in ep.create_refs(world):
        if not reaches(world, capacity, Side.BUSINESS, BUSINESS_REF_SCOPE[type(ref)](ref), VIEW):
            return 400
    scope = ep.create_scope(world)
    granted = (
        isinstance(scope, models.Model)
        and bool(ep.create_perm)
        and holds(world.members[capacity], scope, str(ep.create_perm))
    )
    if ep.create_perm and not CAPACITIES[capacity].tenant_wide and not granted:
        return 404
    return 201 if reaches(world, capacity, ep.side, scope, ADD) else 404


# --- keys and requests ----------------------------------------------------------------------------


def issue_keys(world: World) -> dict[str, str]:
    """One raw API key per capacity of the world (created by the membership itself)."""
    return {
        code: api_key_create(ctx=AccessContext.for_membership(m, via="api"), name=f"{code} key")[1]
        for code, m in world.members.items()
    }


def client_for(raw_key: str | None) -> APIClient:
    client = APIClient()
    if raw_key is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return client


def call(client: APIClient, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
    """One request; the test client's response (with .json()) is typed Any by the stubs' lights."""
    fn = getattr(client, method.lower())
    if method.upper() in {"POST", "PUT", "PATCH"}:
        return fn(path, data or {}, format="json")
    return fn(path, data or {})


def ids_of(response: Any) -> set[str]:
    return {row["id"] for row in response.json()["results"]}


def today_minus(years: int) -> str:
    return (dt.date.today() - dt.timedelta(days=365 * years)).isoformat()
