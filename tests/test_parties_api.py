"""The parties' API: the data rules as 400s with messages, the new fields, filters and ordering, and
list query counts that stay flat from 5 to 50 rows (the capacity matrix is in test_parties_matrix.py)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from management.models import (
    BankAccount,
    Equipment,
    EquipmentService,
    FictitiousNamePermit,
    Lease,
    Location,
    MedicalWasteRegistration,
    MsoEntity,
    Shareholder,
)
from tests import factories
from tests.api_matrix import (
    Endpoint,
    call,
    client_for,
    ids_of,
    issue_keys,
)
from tests.matrix import parties
from tests.worlds import World

pytestmark = pytest.mark.django_db

ENDPOINTS = parties.ALL
TODAY = dt.date.today()


def iso(days: int) -> str:
    return (TODAY + dt.timedelta(days=days)).isoformat()


# --- new fields, data rules as 400s ---------------------------------------------------------------------


def test_new_fields_of_entities_pcs_and_locations(world_a: World) -> None:
    client = client_for(issue_keys(world_a)["mso_admin"])
    entity = call(
        client,
        "POST",
        "/api/v1/mso-entities/",
        {"legal_name": "PE Holdco LLC", "investor_type": "private_equity", "does_rate_negotiation": True},
    )
    assert entity.status_code == 201
    assert (entity.json()["investor_type"], entity.json()["does_rate_negotiation"]) == (
        "private_equity",
        True,
    )
    bad = call(client, "POST", "/api/v1/mso-entities/", {"legal_name": "X LLC", "investor_type": "venture"})
    assert bad.status_code == 400 and bad.json()["investor_type"]

    pc = call(
        client, "POST", "/api/v1/pcs/", {"legal_name": "Reyes Medical Corp", "physician_name": "Dana Reyes"}
    )
    assert pc.status_code == 201 and pc.json()["physician_name"] == "Dana Reyes"

    pc0, pc1 = world_a.pcs
    own = factories.FictitiousNamePermitFactory.create(tenant=world_a.tenant, pc=pc1)
    other = factories.FictitiousNamePermitFactory.create(tenant=world_a.tenant, pc=pc0)
    body = {
        "name": "Glow Newport",
        "address": "1 Bay St",
        "city": "Newport Beach",
        "managing_entity": str(world_a.entity.pk),
        "pc": str(pc1.pk),
        "trade_name": "Glow Aesthetics",
        "name_permit": str(other.pk),
        "runs_waived_lab_tests": True,
        "clia_waiver_number": "05D1234567",
        "lab_director": "Dana Reyes, M.D.",
    }
    refused = call(client, "POST", "/api/v1/locations/", body)
    assert refused.status_code == 400
    assert "belongs to another PC" in refused.json()["name_permit"][0]
    made = call(client, "POST", "/api/v1/locations/", {**body, "name_permit": str(own.pk)})
    assert made.status_code == 201, made.content
    data = made.json()
    assert (data["trade_name"], data["name_permit"], data["generates_sharps"], data["lab_director"]) == (
        "Glow Aesthetics",
        str(own.pk),
        True,
        "Dana Reyes, M.D.",
    )
    cleared = call(client, "PATCH", f"/api/v1/locations/{data['id']}/", {"name_permit": None})
    assert cleared.status_code == 200 and cleared.json()["name_permit"] is None
    assert Location.objects.get(pk=data["id"]).name_permit_id is None


def test_shareholder_percent_and_rules(world_a: World) -> None:
    client = client_for(issue_keys(world_a)["mso_admin"])
    pc = world_a.pcs[0]
    factories.ShareholderFactory.create(tenant=world_a.tenant, pc=pc, shares=750)
    body = {
        "pc": str(pc.pk),
        "name": "NP Kim",
        "license_type": "NP",
        "license_number": "95001",
        "shares": 250,
    }
    made = call(client, "POST", "/api/v1/shareholders/", body)
    assert made.status_code == 201, made.content
    assert (made.json()["percent_of_shares"], made.json()["license_state"]) == ("25.00", "CA")
    listed = {
        r["name"]: r["percent_of_shares"] for r in client.get("/api/v1/shareholders/").json()["results"]
    }
    assert listed["NP Kim"] == "25.00" and sorted(listed.values()) == ["25.00", "75.00"]
    updated = call(client, "PATCH", f"/api/v1/shareholders/{made.json()['id']}/", {"shares": 750})
    assert updated.json()["percent_of_shares"] == "50.00"
    for changes, field, message in (
        ({"shares": 0}, "shares", "at least one share"),
        ({"license_number": ""}, "license_number", "license number of a licensed shareholder"),
        ({"pc": str(uuid.uuid4())}, "pc", "not one this key may use"),
    ):
        response = call(client, "PATCH", f"/api/v1/shareholders/{made.json()['id']}/", changes)
        assert response.status_code == 400, (changes, response.content)
        assert message in response.json()[field][0]
    assert Shareholder.objects.get(pk=made.json()["id"]).shares == 750
    # a mis-entered PC is corrected by naming the right one; the percentage follows the new cap table
    moved = call(
        client, "PATCH", f"/api/v1/shareholders/{made.json()['id']}/", {"pc": str(world_a.pcs[1].pk)}
    )
    assert moved.status_code == 200 and moved.json()["percent_of_shares"] == "100.00"


def test_bank_account_rules(world_a: World) -> None:
    client = client_for(issue_keys(world_a)["mso_admin"])
    base = {"bank_name": "First Coastal", "account_last4": "1234", "purpose": "operating"}
    cases = [
        (base, "mso_entity", "Give the account's owner"),
        (
            {**base, "pc": str(world_a.pcs[0].pk), "mso_entity": str(world_a.entity.pk)},
            "pc",
            "exactly one entity",
        ),
        (
            {**base, "pc": str(world_a.pcs[0].pk), "account_last4": "12a4"},
            "account_last4",
            "last four digits",
        ),
        ({**base, "pc": str(world_a.pcs[0].pk), "routing_number": "123456789"}, "routing_number", "ABA"),
    ]
    for body, field, message in cases:
        response = call(client, "POST", "/api/v1/bank-accounts/", body)
        assert response.status_code == 400, (body, response.content)
        assert message in response.json()[field][0], response.json()
    assert not BankAccount.objects.filter(tenant=world_a.tenant).exists()
    made = call(client, "POST", "/api/v1/bank-accounts/", {**base, "mso_entity": str(world_a.entity.pk)})
    assert made.status_code == 201 and made.json()["pc"] is None
    path = f"/api/v1/bank-accounts/{made.json()['id']}/"
    both = call(client, "PATCH", path, {"pc": str(world_a.pcs[0].pk), "mso_entity": str(world_a.entity.pk)})
    assert both.status_code == 400 and "exactly one entity" in both.json()["pc"][0]
    # naming the PC alone moves the account to it and clears the MSO entity: one owner still
    moved = call(client, "PATCH", path, {"pc": str(world_a.pcs[0].pk)})
    assert moved.status_code == 200
    assert (moved.json()["pc"], moved.json()["mso_entity"]) == (str(world_a.pcs[0].pk), None)


def test_lease_equipment_visit_and_registration_rules(world_a: World) -> None:
    client = client_for(issue_keys(world_a)["mso_admin"])
    loc = str(world_a.locations[0].pk)
    lease = {
        "location": loc,
        "landlord": "Harbor LP",
        "term_start": iso(0),
        "term_end": iso(0),
        "monthly_rent": "100",
    }
    response = call(client, "POST", "/api/v1/leases/", lease)
    assert response.status_code == 400 and "end after it starts" in response.json()["term_end"][0]

    device = {
        "location": loc,
        "kind": "laser",
        "manufacturer": "Candela",
        "model_name": "GentleMax",
        "serial_number": "S1",
    }
    first = call(client, "POST", "/api/v1/equipment/", device)
    assert first.status_code == 201
    assert (first.json()["last_serviced_on"], first.json()["next_service_due"]) == (None, None)
    dup = call(client, "POST", "/api/v1/equipment/", {**device, "location": str(world_a.locations[1].pk)})
    assert dup.status_code == 400
    assert "Candela serial number S1 is already recorded" in dup.json()["serial_number"][0]
    assert Equipment.objects.filter(tenant=world_a.tenant).count() == 1

    visit = {"equipment": first.json()["id"], "serviced_on": iso(1), "vendor": "Laser Co"}
    future = call(client, "POST", "/api/v1/equipment-services/", visit)
    assert future.status_code == 400 and "future" in future.json()["serviced_on"][0]
    done = call(client, "POST", "/api/v1/equipment-services/", {**visit, "serviced_on": iso(-10)})
    assert done.status_code == 201
    shown = client.get(f"/api/v1/equipment/{first.json()['id']}/").json()
    assert (shown["last_serviced_on"], shown["next_service_due"]) == (iso(-10), iso(355))

    registration = {
        "location": loc,
        "registration_number": "MW-1",
        "hauler": "H",
        "issued_on": iso(0),
        "expires_on": iso(-1),
    }
    response = call(client, "POST", "/api/v1/medical-waste-registrations/", registration)
    assert response.status_code == 400 and "expire after it is issued" in response.json()["expires_on"][0]
    assert not Lease.objects.exists() and not MedicalWasteRegistration.objects.exists()
    assert EquipmentService.objects.count() == 1


# --- filters and ordering -----------------------------------------------------------------------------


def test_filters_and_ordering(world_a: World, world_b: World) -> None:
    t = world_a.tenant
    pc0, pc1 = world_a.pcs
    loc0, loc1 = world_a.locations
    big = factories.ShareholderFactory.create(tenant=t, pc=pc0, shares=900, license_type="MD")
    small = factories.ShareholderFactory.create(tenant=t, pc=pc0, shares=100, license_type="NP")
    other_pc = factories.ShareholderFactory.create(tenant=t, pc=pc1)
    laser = factories.EquipmentFactory.create(tenant=t, location=loc0, kind="laser")
    ipl = factories.EquipmentFactory.create(tenant=t, location=loc1, kind="ipl", service_interval_days=30)
    factories.EquipmentServiceFactory.create(
        tenant=t, equipment=ipl, serviced_on=TODAY - dt.timedelta(days=10)
    )
    factories.EquipmentServiceFactory.create(
        tenant=t, equipment=laser, serviced_on=TODAY - dt.timedelta(days=10)
    )
    soon = factories.LeaseFactory.create(tenant=t, location=loc0, term_end=TODAY + dt.timedelta(days=30))
    factories.LeaseFactory.create(tenant=t, location=loc1)
    deposits = factories.BankAccountFactory.create(tenant=t, pc=pc0, purpose="patient_deposits")
    factories.BankAccountFactory.create(tenant=t, mso_entity=world_a.entity, purpose="operating")
    permit = factories.FictitiousNamePermitFactory.create(tenant=t, pc=pc1)
    Location.objects.filter(pk=loc1.pk).update(name_permit=permit, runs_waived_lab_tests=True)
    MsoEntity.objects.filter(pk=world_a.entity.pk).update(investor_type="hedge_fund")
    client = client_for(issue_keys(world_a)["mso_admin"])

    def ids(path: str, **params: Any) -> set[str]:
        response = client.get(path, params)
        assert response.status_code == 200, (path, params, response.content)
        return ids_of(response)

    assert ids("/api/v1/shareholders/", pc=str(pc0.pk)) == {str(big.pk), str(small.pk)}
    assert ids("/api/v1/shareholders/", license_type="NP") == {str(small.pk)}
    assert ids("/api/v1/shareholders/", pc=str(world_b.pcs[0].pk)) == set()
    assert ids("/api/v1/equipment/", location=str(loc1.pk)) == {str(ipl.pk)}
    assert ids("/api/v1/equipment/", kind="laser") == {str(laser.pk)}
    assert ids("/api/v1/equipment-services/", location=str(loc1.pk)) == {
        str(s.pk) for s in EquipmentService.objects.filter(equipment=ipl)
    }
    assert ids("/api/v1/leases/", ends_before=(TODAY + dt.timedelta(days=60)).isoformat()) == {str(soon.pk)}
    assert ids("/api/v1/bank-accounts/", purpose="patient_deposits") == {str(deposits.pk)}
    assert ids("/api/v1/bank-accounts/", pc=str(pc0.pk)) == {str(deposits.pk)}
    assert ids("/api/v1/fictitious-name-permits/", pc=str(pc1.pk)) == {str(permit.pk)}
    assert ids("/api/v1/locations/", name_permit=str(permit.pk)) == {str(loc1.pk)}
    assert ids("/api/v1/locations/", runs_waived_lab_tests="true") == {str(loc1.pk)}
    assert ids("/api/v1/mso-entities/", investor_type="hedge_fund") == {str(world_a.entity.pk)}
    # ordering: by shares, and by the annotated next service date (the IPL's 30-day interval is sooner)
    rows = client.get("/api/v1/shareholders/", {"ordering": "-shares"}).json()["results"]
    assert [r["shares"] for r in rows] == sorted((r["shares"] for r in rows), reverse=True)
    assert str(other_pc.pk) in {r["id"] for r in rows}
    devices = client.get("/api/v1/equipment/", {"ordering": "next_service_due"}).json()["results"]
    assert [d["id"] for d in devices] == [str(ipl.pk), str(laser.pk)]
    # malformed filter values are a 400 that names the filter, never a 500
    for path, params in (
        ("/api/v1/shareholders/", {"pc": "abc"}),
        ("/api/v1/leases/", {"ends_before": "soon"}),
        ("/api/v1/equipment/", {"kind": "toaster"}),
        ("/api/v1/locations/", {"generates_sharps": "maybe"}),  # not silently ignored
    ):
        response = client.get(path, params)
        assert response.status_code == 400 and set(params) <= set(response.json()), (path, response.content)
        # the refusal names the filter without echoing what was sent
        assert not [v for v in params.values() if v in json.dumps(response.json())], response.json()


# --- query counts ---------------------------------------------------------------------------------------


def list_queries(client: APIClient, path: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, {"page_size": 100})
    assert response.status_code == 200, response.content
    return response.json()["count"], len(captured.captured_queries)


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda e: e.name)
def test_list_query_count_is_flat_from_5_to_50_rows(ep: Endpoint, world_a: World) -> None:
    assert ep.make_rows is not None
    client = client_for(issue_keys(world_a)["mso_admin"])
    have = client.get(ep.path).json()["count"]
    ep.make_rows(world_a, 5 - have)
    small_count, small = list_queries(client, ep.path)
    ep.make_rows(world_a, 45)
    large_count, large = list_queries(client, ep.path)
    assert (small_count, large_count) == (5, 50)
    assert small == large, f"{ep.name}: {small} queries at 5 rows, {large} at 50"


def test_scoped_list_query_count_is_flat(world_a: World) -> None:
    client = client_for(issue_keys(world_a)["mso_staff"])
    ep = next(e for e in ENDPOINTS if e.name == "equipment")
    assert ep.make_rows is not None
    client.get(ep.path)  # the first request fills per-process caches (content types, permissions)
    ep.make_rows(world_a, 5)
    small_count, small = list_queries(client, ep.path)
    ep.make_rows(world_a, 45)
    large_count, large = list_queries(client, ep.path)
    # staff hold the first location, where make_rows puts the devices
    assert (small_count, large_count) == (5, 50) and small == large


def test_matrix_create_payloads_are_accepted(world_a: World) -> None:
    """Guards the matrix payloads themselves: each is accepted by the admin's key as written."""
    client = client_for(issue_keys(world_a)["mso_admin"])
    for ep in ENDPOINTS:
        assert ep.create_payload is not None
        response = call(client, "POST", ep.path, ep.create_payload(world_a))
        assert response.status_code == 201, (ep.name, response.content)
    assert FictitiousNamePermit.objects.filter(tenant=world_a.tenant).count() == 1
