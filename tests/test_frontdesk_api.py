"""The front-desk API beyond the generic matrix: appointments filtered by location, provider, date
range and status; double-booking answered 400; clients by lead source and search; payments deposited
only to an account of the tenant."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from management.models import Appointment, BankAccount, Client, PatientPayment
from tests import factories
from tests.api_matrix import call, client_for, ids_of, issue_keys
from tests.worlds import World

pytestmark = pytest.mark.django_db

# Noon, four days out: clear of midnight, so the date filters below are not thrown by time zones.
NOON = (timezone.localtime() + dt.timedelta(days=4)).replace(hour=12, minute=0, second=0, microsecond=0)


def appointment_body(
    world: World, client: Client, provider: Any, start: dt.datetime, **extra: Any
) -> dict[str, Any]:
    return {
        "client": str(client.pk),
        "location": str(world.locations[0].pk),
        "service": "dermal_filler",
        "provider": str(provider.pk),
        "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(hours=1)).isoformat(),
        **extra,
    }


def test_appointment_filters(world_a: World) -> None:
    t = world_a.tenant
    here = factories.AppointmentFactory.create(tenant=t, location=world_a.locations[0], starts_at=NOON)
    there = factories.AppointmentFactory.create(
        tenant=t, location=world_a.locations[1], starts_at=NOON + dt.timedelta(days=2)
    )
    cancelled = factories.AppointmentFactory.create(
        tenant=t,
        location=world_a.locations[0],
        starts_at=NOON + dt.timedelta(days=5),
        status=Appointment.Status.CANCELLED,
    )
    api = client_for(issue_keys(world_a)["mso_admin"])
    url = "/api/v1/appointments/"
    assert ids_of(api.get(url, {"location": str(world_a.locations[0].pk)})) == {
        str(here.pk),
        str(cancelled.pk),
    }
    assert ids_of(api.get(url, {"provider": str(there.provider_id)})) == {str(there.pk)}
    day = NOON.date()
    window = {"date_from": day.isoformat(), "date_to": (day + dt.timedelta(days=2)).isoformat()}
    assert ids_of(api.get(url, window)) == {str(here.pk), str(there.pk)}
    assert ids_of(api.get(url, {"status": "cancelled"})) == {str(cancelled.pk)}
    assert ids_of(api.get(url + "?status=booked&status=cancelled")) == {
        str(here.pk),
        str(there.pk),
        str(cancelled.pk),
    }
    assert api.get(url, {"date_from": "next week"}).status_code == 400
    assert api.get(url, {"status": "lost"}).status_code == 400


def test_double_booking_is_a_400_and_cancelling_frees_the_slot(world_a: World) -> None:
    client = factories.ClientFactory.create(tenant=world_a.tenant, home_location=world_a.locations[0])
    provider = factories.ProviderFactory.create(tenant=world_a.tenant, pc=world_a.pcs[0], full_name="Dr. Kim")
    api = client_for(issue_keys(world_a)["mso_staff"])
    first = call(api, "POST", "/api/v1/appointments/", appointment_body(world_a, client, provider, NOON))
    assert first.status_code == 201, first.content
    clash = call(
        api,
        "POST",
        "/api/v1/appointments/",
        appointment_body(world_a, client, provider, NOON + dt.timedelta(minutes=30)),
    )
    assert clash.status_code == 400
    assert clash.json() == {
        "starts_at": [
            "Dr. Kim already has an appointment overlapping this time; choose another time or provider."
        ]
    }
    assert Appointment.objects.filter(provider=provider).count() == 1
    cancel = call(api, "PATCH", f"/api/v1/appointments/{first.json()['id']}/", {"status": "cancelled"})
    assert cancel.status_code == 200
    again = call(
        api,
        "POST",
        "/api/v1/appointments/",
        appointment_body(world_a, client, provider, NOON + dt.timedelta(minutes=30)),
    )
    assert again.status_code == 201, again.content


def test_appointment_time_and_provider_rules(world_a: World) -> None:
    client = factories.ClientFactory.create(tenant=world_a.tenant, home_location=world_a.locations[0])
    provider = factories.ProviderFactory.create(tenant=world_a.tenant, pc=world_a.pcs[0])
    elsewhere = factories.ProviderFactory.create(tenant=world_a.tenant, pc=world_a.pcs[1])
    api = client_for(issue_keys(world_a)["mso_admin"])
    backwards = appointment_body(
        world_a, client, provider, NOON, ends_at=(NOON - dt.timedelta(hours=1)).isoformat()
    )
    response = call(api, "POST", "/api/v1/appointments/", backwards)
    assert response.status_code == 400
    assert response.json()["ends_at"] == ["The appointment must end after it starts."]
    wrong_pc = call(api, "POST", "/api/v1/appointments/", appointment_body(world_a, client, elsewhere, NOON))
    assert wrong_pc.status_code == 400 and "another PC" in wrong_pc.json()["provider"][0]
    assert not Appointment.objects.filter(client=client).exists()


def test_object_scoped_staff_cannot_book_outside_their_location(world_a: World) -> None:
    """The second location's client and provider are not the staff key's: 400 on each, nothing written."""
    client = factories.ClientFactory.create(tenant=world_a.tenant, home_location=world_a.locations[1])
    provider = factories.ProviderFactory.create(tenant=world_a.tenant, pc=world_a.pcs[1])
    api = client_for(issue_keys(world_a)["mso_staff"])
    body = appointment_body(world_a, client, provider, NOON, location=str(world_a.locations[1].pk))
    response = call(api, "POST", "/api/v1/appointments/", body)
    assert response.status_code == 400
    assert set(response.json()) == {"client", "location", "provider"}
    assert not Appointment.objects.filter(client=client).exists()


def test_clients_filter_by_lead_source_and_search(world_a: World) -> None:
    t, loc = world_a.tenant, world_a.locations[0]
    maya = factories.ClientFactory.create(
        tenant=t,
        home_location=loc,
        full_name="Maya Chen",
        email="maya@example.com",
        lead_source="referral",
        phone="+1 619 555 0142",  # the factory's sequence reaches "+1 619 555 0199" in some orders
    )
    omar = factories.ClientFactory.create(
        tenant=t, home_location=loc, full_name="Omar Haddad", phone="+1 858 555 0199", lead_source="instagram"
    )
    api = client_for(issue_keys(world_a)["mso_admin"])
    assert ids_of(api.get("/api/v1/clients/", {"lead_source": "referral"})) == {str(maya.pk)}
    assert ids_of(api.get("/api/v1/clients/", {"search": "chen"})) == {str(maya.pk)}
    assert ids_of(api.get("/api/v1/clients/", {"search": "MAYA@EXAMPLE"})) == {str(maya.pk)}
    assert ids_of(api.get("/api/v1/clients/", {"search": "555 0199"})) == {str(omar.pk)}
    assert ids_of(api.get("/api/v1/clients/", {"home_location": str(world_a.locations[1].pk)})) == set()
    assert api.get("/api/v1/clients/", {"lead_source": "billboard"}).status_code == 400


def test_a_payment_goes_only_to_an_account_of_the_tenant(world_a: World, world_b: World) -> None:
    client = factories.ClientFactory.create(tenant=world_a.tenant, home_location=world_a.locations[0])
    own = factories.BankAccountFactory.create(
        tenant=world_a.tenant, pc=world_a.pcs[0], purpose=BankAccount.Purpose.PATIENT_DEPOSITS
    )
    foreign = factories.BankAccountFactory.create(
        tenant=world_b.tenant, pc=world_b.pcs[0], purpose=BankAccount.Purpose.PATIENT_DEPOSITS
    )
    api = client_for(issue_keys(world_a)["mso_admin"])
    body = {
        "location": str(world_a.locations[0].pk),
        "client": str(client.pk),
        "received_on": dt.date.today().isoformat(),
        "amount": "350.00",
        "deposited_to": str(foreign.pk),
    }
    refused = call(api, "POST", "/api/v1/patient-payments/", body)
    assert refused.status_code == 400 and "not one this key may use" in refused.json()["deposited_to"][0]
    negative = call(
        api, "POST", "/api/v1/patient-payments/", {**body, "deposited_to": str(own.pk), "amount": "-5"}
    )
    assert negative.status_code == 400 and negative.json()["amount"] == ["A payment is a positive amount."]
    assert not PatientPayment.objects.filter(client=client).exists()
    created = call(api, "POST", "/api/v1/patient-payments/", {**body, "deposited_to": str(own.pk)})
    assert created.status_code == 201, created.content
    assert created.json()["deposited_to"] == str(own.pk) and created.json()["currency"] == "USD"
    listed = api.get("/api/v1/patient-payments/", {"deposited_to": str(own.pk)})
    assert ids_of(listed) == {created.json()["id"]}
