"""Services and selectors of the front desk: clients, appointments (end after start, the provider of the
location's PC, no double-booking) and patient payments (positive, deposited to an account of the
tenant, matching their appointment); other tenants' and out-of-scope references; capacities that may
not write; and the database's own refusal of business writes to a clinical role."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.utils import ProgrammingError
from django.utils import timezone

from management.models import Appointment, BankAccount, Client, PatientPayment, Provider
from management.procedures import Procedure
from management.selectors import frontdesk as selectors
from management.services import frontdesk as services
from tenants.access import AccessContext
from tests import factories
from tests.worlds import World

ActAs = Callable[[AccessContext], AbstractContextManager[None]]

pytestmark = pytest.mark.django_db

TODAY = dt.date.today()
# Whole hours a week out, so each test's times are easy to read.
SLOT = (timezone.now() + dt.timedelta(days=7)).replace(minute=0, second=0, microsecond=0)


def at(hours: float) -> dt.datetime:
    return SLOT + dt.timedelta(hours=hours)


@contextmanager
def refused(field: str, message: str) -> Iterator[None]:
    with pytest.raises(ValidationError) as caught:
        yield
    errors = caught.value.message_dict
    assert field in errors, errors
    assert any(message in m for m in errors[field]), errors


def count(model: Any, world: World) -> int:
    return int(model.objects.filter(tenant=world.tenant).count())


def cast_of(world: World, index: int = 0) -> tuple[Client, Provider]:
    """A client of location `index` and a provider of the PC serving it."""
    client = factories.ClientFactory.create(tenant=world.tenant, home_location=world.locations[index])
    provider = factories.ProviderFactory.create(tenant=world.tenant, pc=world.pcs[index])
    return client, provider


def book(
    world: World, client: Client, provider: Provider, start: float, end: float, **extra: Any
) -> Appointment:
    return services.appointment_create(
        ctx=world.ctx("mso_admin"),
        client=client,
        location=world.locations[0],
        service=Procedure.NEUROTOXIN,
        provider=provider,
        starts_at=at(start),
        ends_at=at(end),
        **extra,
    )


# --- Clients -----------------------------------------------------------------------------------------


def test_client_create_update_and_rules(world_a: World, world_b: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        client = services.client_create(
            ctx=ctx,
            home_location=world_a.locations[0],
            full_name=" Maya Chen ",
            email="maya@example.com",
            lead_source=Client.LeadSource.REFERRAL,
        )
        assert (client.full_name, client.lead_source) == ("Maya Chen", "referral")
        with refused("date_of_birth", "cannot be in the future"):
            services.client_update(ctx=ctx, client=client, date_of_birth=TODAY + dt.timedelta(days=1))
        with refused("date_of_birth", "Check the year of birth"):
            services.client_update(ctx=ctx, client=client, date_of_birth=dt.date(1850, 1, 1))
        with refused("email", "valid email"):
            services.client_update(ctx=ctx, client=client, email="maya at example")
        with refused("lead_source", "not a valid choice"):
            services.client_update(ctx=ctx, client=client, lead_source="billboard")
        with refused("home_location", "not one you may use"):
            services.client_update(ctx=ctx, client=client, home_location=world_b.locations[0])
        with refused("full_name", "Give the client's full name"):
            services.client_create(ctx=ctx, home_location=world_a.locations[0], full_name="  ")
        services.client_update(
            ctx=ctx, client=client, phone="+1 619 555 0142", date_of_birth=dt.date(1988, 7, 14)
        )
    client.refresh_from_db()
    assert (client.phone, client.date_of_birth, client.email) == (
        "+1 619 555 0142",
        dt.date(1988, 7, 14),
        "maya@example.com",
    )
    assert count(Client, world_b) == 0


def test_a_refused_update_leaves_the_object_as_it_was(world_a: World, as_ctx: ActAs) -> None:
    client = factories.ClientFactory.create(tenant=world_a.tenant, home_location=world_a.locations[0])
    name = client.full_name
    with as_ctx(world_a.ctx("mso_admin")), pytest.raises(ValidationError):
        services.client_update(ctx=world_a.ctx("mso_admin"), client=client, full_name="", email="bad")
    assert client.full_name == name and client.email != "bad"


def test_location_scoped_staff_keep_clients_at_their_location(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_staff")
    with as_ctx(ctx):
        with refused("home_location", "not one you may use"):
            services.client_create(ctx=ctx, home_location=world_a.locations[1], full_name="Elsewhere")
        client = services.client_create(ctx=ctx, home_location=world_a.locations[0], full_name="Here")
        with refused("home_location", "not one you may use"):
            services.client_update(ctx=ctx, client=client, home_location=world_a.locations[1])
    client.refresh_from_db()
    assert client.home_location_id == world_a.locations[0].pk


# --- Appointments ------------------------------------------------------------------------------------


def test_an_appointment_is_booked_and_rescheduled(world_a: World, as_ctx: ActAs) -> None:
    client, provider = cast_of(world_a)
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        appointment = book(world_a, client, provider, 0, 0.75)
        assert appointment.status == Appointment.Status.BOOKED
        services.appointment_update(ctx=ctx, appointment=appointment, starts_at=at(2), ends_at=at(3))
        services.appointment_update(ctx=ctx, appointment=appointment, status=Appointment.Status.CONFIRMED)
    appointment.refresh_from_db()
    assert (appointment.starts_at, appointment.status) == (at(2), "confirmed")


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [(1, 1, "must end after it starts"), (2, 1, "must end after it starts"), (0, 13, "at most 12 hours")],
)
def test_an_appointment_ends_after_it_starts(
    world_a: World, as_ctx: ActAs, start: float, end: float, message: str
) -> None:
    client, provider = cast_of(world_a)
    before = count(Appointment, world_a)
    with as_ctx(world_a.ctx("mso_admin")), refused("ends_at", message):
        book(world_a, client, provider, start, end)
    assert count(Appointment, world_a) == before


def test_the_provider_must_work_for_the_pc_serving_the_location(world_a: World, as_ctx: ActAs) -> None:
    client, _ = cast_of(world_a)
    other_pcs_provider = factories.ProviderFactory.create(tenant=world_a.tenant, pc=world_a.pcs[1])
    with as_ctx(world_a.ctx("mso_admin")), refused("provider", "works for another PC"):
        book(world_a, client, other_pcs_provider, 0, 1)


def test_an_inactive_provider_cannot_be_booked(world_a: World, as_ctx: ActAs) -> None:
    client, provider = cast_of(world_a)
    Provider.objects.filter(pk=provider.pk).update(active=False)
    provider.refresh_from_db()
    with as_ctx(world_a.ctx("mso_admin")), refused("provider", "marked inactive"):
        book(world_a, client, provider, 0, 1)


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 1), (0.5, 1.5), (-0.5, 0.25), (0.25, 0.5), (-1, 2)],
    ids=["same", "overlaps-end", "overlaps-start", "inside", "around"],
)
def test_a_provider_cannot_be_double_booked(world_a: World, as_ctx: ActAs, start: float, end: float) -> None:
    client, provider = cast_of(world_a)
    other_client = factories.ClientFactory.create(tenant=world_a.tenant, home_location=world_a.locations[0])
    with as_ctx(world_a.ctx("mso_admin")):
        book(world_a, client, provider, 0, 1)
        before = count(Appointment, world_a)
        with refused("starts_at", "already has an appointment overlapping this time"):
            book(world_a, other_client, provider, start, end)
    assert count(Appointment, world_a) == before


def test_back_to_back_appointments_and_cancelled_slots_are_free(world_a: World, as_ctx: ActAs) -> None:
    client, provider = cast_of(world_a)
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        first = book(world_a, client, provider, 0, 1)
        book(world_a, client, provider, 1, 2)  # starts when the first ends
        services.appointment_update(ctx=ctx, appointment=first, status=Appointment.Status.CANCELLED)
        book(world_a, client, provider, 0, 1)  # the cancelled slot is free again
        # Reviving the cancelled appointment would double-book: refused.
        with refused("starts_at", "overlapping"):
            services.appointment_update(ctx=ctx, appointment=first, status=Appointment.Status.BOOKED)
        # Another provider is free at that time.
        _, other = cast_of(world_a)
        book(world_a, client, other, 0, 1)
    first.refresh_from_db()
    assert first.status == Appointment.Status.CANCELLED


def test_rescheduling_onto_a_booked_time_is_refused(world_a: World, as_ctx: ActAs) -> None:
    client, provider = cast_of(world_a)
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        book(world_a, client, provider, 0, 1)
        second = book(world_a, client, provider, 3, 4)
        with refused("starts_at", "overlapping"):
            services.appointment_update(ctx=ctx, appointment=second, starts_at=at(0.5), ends_at=at(1.5))
        # Moving within its own slot does not clash with itself.
        services.appointment_update(ctx=ctx, appointment=second, starts_at=at(3.5), ends_at=at(4.5))
    second.refresh_from_db()
    assert second.starts_at == at(3.5)


def test_double_booking_counts_appointments_at_locations_the_caller_cannot_see(
    world_a: World, as_ctx: ActAs
) -> None:
    """Location-scoped staff book at their location; the provider's appointment elsewhere still counts."""
    client, provider = cast_of(world_a)
    hidden_location = factories.LocationFactory.create(
        tenant=world_a.tenant, managing_entity=world_a.entity, pc=world_a.pcs[0]
    )
    elsewhere = factories.AppointmentFactory.create(
        tenant=world_a.tenant, location=hidden_location, provider=provider, starts_at=at(0), ends_at=at(1)
    )
    ctx = world_a.ctx("mso_staff")
    with as_ctx(ctx):
        assert not selectors.appointment_list(ctx).filter(pk=elsewhere.pk).exists()
        with pytest.raises(ValidationError) as caught:
            services.appointment_create(
                ctx=ctx,
                client=client,
                location=world_a.locations[0],
                service=Procedure.DERMAL_FILLER,
                provider=provider,
                starts_at=at(0.5),
                ends_at=at(1.5),
            )
    assert "overlapping" in str(caught.value)
    assert hidden_location.name not in str(caught.value) and elsewhere.client.full_name not in str(
        caught.value
    )


def test_appointment_references_must_be_in_scope(world_a: World, world_b: World, as_ctx: ActAs) -> None:
    client, provider = cast_of(world_a)
    foreign_client, foreign_provider = cast_of(world_b)
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        with refused("client", "not one you may use"):
            book(world_a, foreign_client, provider, 0, 1)
        with refused("provider", "not one you may use"):
            book(world_a, client, foreign_provider, 0, 1)
        with refused("location", "not one you may use"):
            services.appointment_create(
                ctx=ctx,
                client=client,
                location=world_b.locations[0],
                service=Procedure.NEUROTOXIN,
                provider=provider,
                starts_at=at(0),
                ends_at=at(1),
            )
        with refused("service", "not a valid choice"):
            services.appointment_create(
                ctx=ctx,
                client=client,
                location=world_a.locations[0],
                service="tattoo",
                provider=provider,
                starts_at=at(0),
                ends_at=at(1),
            )
    assert not Appointment.objects.filter(client=client).exists()
    # Object-scoped staff: a client of the location they do not hold is not theirs to book.
    other_client, _ = cast_of(world_a, 1)
    with as_ctx(world_a.ctx("mso_staff")), refused("client", "not one you may use"):
        services.appointment_create(
            ctx=world_a.ctx("mso_staff"),
            client=other_client,
            location=world_a.locations[0],
            service=Procedure.NEUROTOXIN,
            provider=provider,
            starts_at=at(0),
            ends_at=at(1),
        )


# --- Patient payments --------------------------------------------------------------------------------


def deposits_of(world: World, index: int = 0) -> BankAccount:
    return factories.BankAccountFactory.create(
        tenant=world.tenant, pc=world.pcs[index], purpose=BankAccount.Purpose.PATIENT_DEPOSITS
    )


def test_a_payment_is_recorded_with_its_deposit_account(world_a: World, as_ctx: ActAs) -> None:
    client, provider = cast_of(world_a)
    account = deposits_of(world_a)
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        appointment = book(world_a, client, provider, 0, 1)
        payment = services.patient_payment_create(
            ctx=ctx,
            location=world_a.locations[0],
            client=client,
            appointment=appointment,
            received_on=TODAY,
            amount=Decimal("650.00"),
            currency="usd",
            deposited_to=account,
        )
        services.patient_payment_update(
            ctx=ctx, payment=payment, method=PatientPayment.Method.CASH, appointment=None
        )
        listed = list(selectors.client_payments(ctx, client))
    payment.refresh_from_db()
    assert (payment.currency, payment.method, payment.appointment_id) == ("USD", "cash", None)
    assert listed == [payment]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"amount": Decimal("0")}, "amount", "positive amount"),
        ({"amount": Decimal("-20")}, "amount", "positive amount"),
        ({"received_on": TODAY + dt.timedelta(days=1)}, "received_on", "cannot be in the future"),
        ({"currency": "US"}, "currency", "three-letter currency code"),
        ({"kind": "tip"}, "kind", "not a valid choice"),
        ({"method": "crypto"}, "method", "not a valid choice"),
    ],
)
def test_payment_rules(
    world_a: World, as_ctx: ActAs, changes: dict[str, Any], field: str, message: str
) -> None:
    client, _ = cast_of(world_a)
    data = {
        "location": world_a.locations[0],
        "client": client,
        "received_on": TODAY,
        "amount": Decimal("100"),
        "deposited_to": deposits_of(world_a),
        **changes,
    }
    before = count(PatientPayment, world_a)
    with as_ctx(world_a.ctx("mso_admin")), refused(field, message):
        services.patient_payment_create(ctx=world_a.ctx("mso_admin"), **data)
    assert count(PatientPayment, world_a) == before


def test_payment_references_must_be_in_scope_and_agree(world_a: World, world_b: World, as_ctx: ActAs) -> None:
    client, provider = cast_of(world_a)
    other_client = factories.ClientFactory.create(tenant=world_a.tenant, home_location=world_a.locations[0])
    account = deposits_of(world_a)
    foreign_account = deposits_of(world_b)
    ctx = world_a.ctx("mso_admin")
    base: dict[str, Any] = {
        "location": world_a.locations[0],
        "client": client,
        "received_on": TODAY,
        "amount": Decimal("80"),
    }
    with as_ctx(ctx):
        with refused("deposited_to", "not one you may use"):
            services.patient_payment_create(ctx=ctx, **base, deposited_to=foreign_account)
        appointment = book(world_a, other_client, provider, 0, 1)
        with refused("appointment", "another client or location"):
            services.patient_payment_create(ctx=ctx, **base, deposited_to=account, appointment=appointment)
        payment = services.patient_payment_create(ctx=ctx, **base, deposited_to=account)
        with refused("deposited_to", "not one you may use"):
            services.patient_payment_update(ctx=ctx, payment=payment, deposited_to=foreign_account)
    payment.refresh_from_db()
    assert payment.deposited_to_id == account.pk
    assert count(PatientPayment, world_b) == 0


@pytest.mark.parametrize("capacity", ["auditor", "pc_physician", "clinician"])
def test_capacities_that_may_not_write_the_front_desk_are_refused(
    world_a: World, as_ctx: ActAs, capacity: str
) -> None:
    client, provider = cast_of(world_a)
    account = deposits_of(world_a)
    ctx = world_a.ctx(capacity)
    before = (count(Client, world_a), count(Appointment, world_a))
    with as_ctx(ctx):
        with pytest.raises(PermissionDenied):
            services.client_create(ctx=ctx, home_location=world_a.locations[0], full_name="X")
        with pytest.raises(PermissionDenied):
            services.client_update(ctx=ctx, client=client, full_name="Renamed")
        with pytest.raises(PermissionDenied):
            services.appointment_create(
                ctx=ctx,
                client=client,
                location=world_a.locations[0],
                service=Procedure.NEUROTOXIN,
                provider=provider,
                starts_at=at(0),
                ends_at=at(1),
            )
        with pytest.raises(PermissionDenied):
            services.patient_payment_create(
                ctx=ctx,
                location=world_a.locations[0],
                client=client,
                received_on=TODAY,
                amount=Decimal("1"),
                deposited_to=account,
            )
    assert (count(Client, world_a), count(Appointment, world_a)) == before


def test_client_selectors_show_what_the_capacity_may_see(domain_a: World, as_ctx: ActAs) -> None:
    w = domain_a
    for capacity, expected in (("mso_admin", 2), ("mso_staff", 1), ("clinician", 1), ("auditor", 2)):
        ctx = w.ctx(capacity)
        with as_ctx(ctx):
            visible = list(selectors.client_list(ctx))
            assert len(visible) == expected, capacity
            appointments = [list(selectors.client_appointments(ctx, c)) for c in visible]
            assert all(len(rows) == 1 for rows in appointments), capacity


# --- the database's own boundary -----------------------------------------------------------------------


def test_a_clinical_role_may_read_but_not_write_front_desk_tables(domain_a: World, as_ctx: ActAs) -> None:
    """The clinical capacities read the business rows their work needs; PostgreSQL refuses their writes."""
    w = domain_a
    with as_ctx(w.ctx("pc_physician")):
        with connection.cursor() as cur:
            cur.execute('SELECT count(*) FROM "management"."appointment"')
            assert cur.fetchone()[0] >= 1
        for sql in (
            'UPDATE "management"."appointment" SET status = \'cancelled\'',
            'DELETE FROM "management"."patient_payment"',
            'UPDATE "management"."provider" SET active = false',
        ):
            with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
                with connection.cursor() as cur:
                    cur.execute(sql)
    assert Appointment.objects.filter(tenant=w.tenant).exclude(status="cancelled").exists()
