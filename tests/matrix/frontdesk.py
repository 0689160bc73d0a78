"""API matrix entries of the front desk: clients, appointments, patient payments.

Payloads name objects the world already holds (the domain worlds of the attack tests must not be
written to by building a payload); a bare world (no ``objs``) gets the few it lacks from factories.
Appointments are booked on distinct hours so repeated creates never double-book the provider.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.utils import timezone

from management.models import Appointment, BankAccount, Client, PatientPayment, Provider
from tenants.capacities import Side
from tests import factories as f
from tests.api_matrix import Endpoint
from tests.worlds import World

_serial = itertools.count(1)
# Whole hours, two months out: clear of the domain world's own appointment (three days out).
_FIRST_SLOT = (timezone.now() + dt.timedelta(days=60)).replace(minute=0, second=0, microsecond=0)


def client_of(w: World) -> Client:
    """A client of the first location (the one object-scoped capacities hold)."""
    found = [c for c in w.objs.get(Client, []) if c.home_location_id == w.locations[0].pk]
    return found[0] if found else f.ClientFactory.create(tenant=w.tenant, home_location=w.locations[0])


def provider_of(w: World) -> Provider:
    """An active provider of the first PC, which serves the first location."""
    found = [p for p in w.objs.get(Provider, []) if p.pc_id == w.pcs[0].pk and p.active]
    return found[0] if found else f.ProviderFactory.create(tenant=w.tenant, pc=w.pcs[0])


def deposit_account_of(w: World) -> BankAccount:
    """The first PC's patient-deposit account (SEP-002: medical services are paid into the PC's)."""
    found = [
        b
        for b in w.objs.get(BankAccount, [])
        if b.pc_id == w.pcs[0].pk and b.purpose == BankAccount.Purpose.PATIENT_DEPOSITS
    ]
    if found:
        return found[0]
    return f.BankAccountFactory.create(
        tenant=w.tenant, pc=w.pcs[0], purpose=BankAccount.Purpose.PATIENT_DEPOSITS
    )


def _client_payload(w: World) -> dict[str, Any]:
    n = next(_serial)
    return {
        "home_location": str(w.locations[0].pk),
        "full_name": f"Matrix Client {n}",
        "email": f"matrix.client{n}@example.test",
        "phone": "+1 619 555 0100",
        "lead_source": "instagram",
        "marketing_opt_in": True,
    }


def _appointment_payload(w: World) -> dict[str, Any]:
    starts = _FIRST_SLOT + dt.timedelta(hours=next(_serial))
    return {
        "client": str(client_of(w).pk),
        "location": str(w.locations[0].pk),
        "service": "neurotoxin",
        "provider": str(provider_of(w).pk),
        "starts_at": starts.isoformat(),
        "ends_at": (starts + dt.timedelta(minutes=45)).isoformat(),
        "status": "booked",
    }


def _payment_payload(w: World) -> dict[str, Any]:
    return {
        "location": str(w.locations[0].pk),
        "client": str(client_of(w).pk),
        "received_on": dt.date.today().isoformat(),
        "amount": "450.00",
        "kind": "medical_service",
        "method": "card",
        "deposited_to": str(deposit_account_of(w).pk),
    }


def _client_rows(w: World, n: int) -> list[Any]:
    return [f.ClientFactory.create(tenant=w.tenant, home_location=w.locations[i % 2]) for i in range(n)]


def _appointment_rows(w: World, n: int) -> list[Any]:
    # Each row gets its own client and provider (factory defaults), so nothing overlaps.
    return [f.AppointmentFactory.create(tenant=w.tenant, location=w.locations[i % 2]) for i in range(n)]


def _payment_rows(w: World, n: int) -> list[Any]:
    return [f.PatientPaymentFactory.create(tenant=w.tenant, location=w.locations[i % 2]) for i in range(n)]


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        name="clients",
        model=Client,
        side=Side.BUSINESS,
        scope=lambda o: o.home_location,
        own_objects=lambda w: list(w.objs.get(Client, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_client_payload,
        create_refs=lambda w: [w.locations[0]],
        create_scope=lambda w: w.locations[0],
        update_payload={"phone": "+1 619 555 0199"},
        make_rows=_client_rows,
    ),
    Endpoint(
        name="appointments",
        model=Appointment,
        side=Side.BUSINESS,
        scope=lambda o: o.location,
        own_objects=lambda w: list(w.objs.get(Appointment, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_appointment_payload,
        # The client (first location) and the provider (first PC) are scoped like these two.
        create_refs=lambda w: [w.locations[0], w.pcs[0]],
        create_scope=lambda w: w.locations[0],
        update_payload={"status": "confirmed"},
        make_rows=_appointment_rows,
    ),
    Endpoint(
        name="patient-payments",
        model=PatientPayment,
        side=Side.BUSINESS,
        scope=lambda o: o.location,
        own_objects=lambda w: list(w.objs.get(PatientPayment, [])),
        writes=frozenset({"create", "update"}),
        create_payload=_payment_payload,
        create_refs=lambda w: [w.locations[0]],
        create_scope=lambda w: w.locations[0],
        update_payload={"method": "cash"},
        make_rows=_payment_rows,
    ),
]
