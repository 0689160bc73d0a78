"""Writes of the front desk: clients (CRM), appointments and what patients pay.

Same contract as every service: a capacity that may not write the model is refused (404 to callers),
each reference must be an object the caller may view (400 on that field), the record is validated
as a whole and every problem is reported at once, and nothing is written when any is found.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction

from management.models import Appointment, BankAccount, Client, Location, PatientPayment, Provider
from management.services.workforce import (
    Problems,
    assign,
    changed_refs,
    check_refs,
    finish,
    not_in_future,
    text,
)
from tenants.access import AccessContext
from tenants.capacities import ADD, CHANGE
from tenants.writes import require_may

# Longer than any treatment day: a longer "appointment" is a typo in the date or the time.
MAX_APPOINTMENT = dt.timedelta(hours=12)
EARLIEST_BIRTH = dt.date(1900, 1, 1)

# --- Clients ------------------------------------------------------------------------------------

CLIENT_FIELDS = frozenset(
    {"home_location", "full_name", "email", "phone", "date_of_birth", "lead_source", "marketing_opt_in"}
)


def _check_client(client: Client, problems: Problems) -> None:
    if not client.full_name:
        problems.add("full_name", "Give the client's full name.")
    born = client.date_of_birth
    not_in_future(problems, born, "date_of_birth", "The date of birth")
    if born is not None and born < EARLIEST_BIRTH:
        problems.add("date_of_birth", "Check the year of birth.")


@transaction.atomic
def client_create(
    *,
    ctx: AccessContext,
    home_location: Location,
    full_name: str,
    email: str = "",
    phone: str = "",
    date_of_birth: dt.date | None = None,
    lead_source: str = Client.LeadSource.OTHER,
    marketing_opt_in: bool = False,
    commit: bool = True,
) -> Client:
    """Record a lead or client of the front desk at `home_location` (no clinical data lives here).

    With ``commit=False`` the record is validated the same way and returned unsaved (imports).
    """
    require_may(ctx, Client, ADD)
    client = Client(
        tenant=ctx.tenant,
        home_location=home_location,
        full_name=text(full_name),
        email=text(email),
        phone=text(phone),
        date_of_birth=date_of_birth,
        lead_source=lead_source,
        marketing_opt_in=marketing_opt_in,
    )
    problems = Problems()
    check_refs(ctx, client, ["home_location"], problems)
    _check_client(client, problems)
    finish(client, problems, commit=commit)
    return client


@transaction.atomic
def client_update(*, ctx: AccessContext, client: Client, **changes: Any) -> Client:
    """Change a client: each given field is set (None clears the date of birth)."""
    require_may(ctx, Client, CHANGE)
    changed = assign(client, changes, CLIENT_FIELDS)
    problems = Problems()
    check_refs(ctx, client, changed_refs(changed, ["home_location"]), problems)
    _check_client(client, problems)
    finish(client, problems, changed)
    return client


# --- Appointments -------------------------------------------------------------------------------

APPOINTMENT_FIELDS = frozenset(
    {"client", "location", "service", "provider", "starts_at", "ends_at", "status"}
)
APPOINTMENT_REFS = ("client", "location", "provider")
# Statuses that no longer hold the provider's time.
FREES_THE_SLOT = frozenset({Appointment.Status.CANCELLED})


def provider_is_booked(appointment: Appointment) -> bool:
    """Whether the provider has another appointment, not cancelled, overlapping this one's time.

    Looks across every location of the tenant, including ones the caller is not granted: a provider
    cannot be in two places at once. Says only yes or no.
    """
    # Lock the provider's row so two bookings of the same slot cannot both pass this check.
    list(Provider.objects.select_for_update().filter(pk=appointment.provider_id).values_list("pk"))
    return (
        Appointment.objects.filter(
            tenant_id=appointment.tenant_id,
            provider_id=appointment.provider_id,
            starts_at__lt=appointment.ends_at,
            ends_at__gt=appointment.starts_at,
        )
        .exclude(status__in=FREES_THE_SLOT)
        .exclude(pk=appointment.pk)
        .exists()
    )


def _check_appointment(appointment: Appointment, problems: Problems, *, slot_changed: bool) -> None:
    starts, ends = appointment.starts_at, appointment.ends_at
    times_ok = starts is not None and ends is not None
    if times_ok and ends <= starts:
        problems.add("ends_at", "The appointment must end after it starts.")
        times_ok = False
    elif times_ok and ends - starts > MAX_APPOINTMENT:
        problems.add("ends_at", "An appointment lasts at most 12 hours; check the end date and time.")
        times_ok = False
    if "provider" in problems.errors or "location" in problems.errors:
        return  # a refused reference is not read any further (it may be another tenant's)
    provider: Provider = appointment.provider
    location: Location = appointment.location
    if provider.pc_id != location.pc_id:
        problems.add("provider", "This provider works for another PC than the one serving this location.")
        return
    if not provider.active and slot_changed:
        problems.add("provider", "This provider is marked inactive and cannot be booked.")
    if (
        times_ok
        and slot_changed
        and appointment.status not in FREES_THE_SLOT
        and provider_is_booked(appointment)
    ):
        problems.add(
            "starts_at",
            f"{provider.full_name} already has an appointment overlapping this time; choose another time "
            "or provider.",
        )


@transaction.atomic
def appointment_create(
    *,
    ctx: AccessContext,
    client: Client,
    location: Location,
    service: str,
    provider: Provider,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    status: str = Appointment.Status.BOOKED,
) -> Appointment:
    """Book `client` with `provider` at `location` for a service (a procedure code).

    The provider must work for the PC serving the location and be free: overlapping appointments
    that are not cancelled are refused.
    """
    require_may(ctx, Appointment, ADD)
    appointment = Appointment(
        tenant=ctx.tenant,
        client=client,
        location=location,
        service=service,
        provider=provider,
        starts_at=starts_at,
        ends_at=ends_at,
        status=status,
    )
    problems = Problems()
    check_refs(ctx, appointment, APPOINTMENT_REFS, problems)
    _check_appointment(appointment, problems, slot_changed=True)
    finish(appointment, problems)
    return appointment


@transaction.atomic
def appointment_update(*, ctx: AccessContext, appointment: Appointment, **changes: Any) -> Appointment:
    """Reschedule, reassign or change the status of an appointment (each given field is set).

    The overlap check runs when the time or provider changes or a cancelled appointment is revived.
    """
    require_may(ctx, Appointment, CHANGE)
    was_free = appointment.status in FREES_THE_SLOT
    changed = assign(appointment, changes, APPOINTMENT_FIELDS)
    slot_changed = bool({"starts_at", "ends_at", "provider", "location"} & set(changed)) or (
        was_free and appointment.status not in FREES_THE_SLOT
    )
    problems = Problems()
    check_refs(ctx, appointment, changed_refs(changed, APPOINTMENT_REFS), problems)
    _check_appointment(appointment, problems, slot_changed=slot_changed)
    finish(appointment, problems, changed)
    return appointment


# --- Patient payments ---------------------------------------------------------------------------

PAYMENT_FIELDS = frozenset(
    {
        "location",
        "client",
        "appointment",
        "received_on",
        "amount",
        "currency",
        "kind",
        "method",
        "deposited_to",
    }
)
PAYMENT_REFS = ("location", "client", "appointment", "deposited_to")


def _check_payment(payment: PatientPayment, problems: Problems) -> None:
    if payment.amount is not None and payment.amount <= Decimal(0):
        problems.add("amount", "A payment is a positive amount.")
    not_in_future(problems, payment.received_on, "received_on", "The date received")
    currency = (payment.currency or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        problems.add("currency", "Use the three-letter currency code, e.g. USD.")
    else:
        payment.currency = currency
    if payment.appointment_id is not None and not {"appointment", "client", "location"} & set(
        problems.errors
    ):
        booked: Appointment = payment.appointment  # type: ignore[assignment]
        if booked.client_id != payment.client_id or booked.location_id != payment.location_id:
            problems.add("appointment", "That appointment is of another client or location.")


@transaction.atomic
def patient_payment_create(
    *,
    ctx: AccessContext,
    location: Location,
    client: Client,
    received_on: dt.date,
    amount: Decimal,
    deposited_to: BankAccount,
    kind: str = PatientPayment.Kind.MEDICAL_SERVICE,
    method: str = PatientPayment.Method.CARD,
    currency: str = "USD",
    appointment: Appointment | None = None,
) -> PatientPayment:
    """Record money a client paid at `location` and the bank account it was deposited to.

    Which entity owns that account matters (SEP-002: payments for medical services belong in the
    PC's account); the audit engine reports a wrong account, the record keeps what happened.
    """
    require_may(ctx, PatientPayment, ADD)
    payment = PatientPayment(
        tenant=ctx.tenant,
        location=location,
        client=client,
        appointment=appointment,
        received_on=received_on,
        amount=amount,
        currency=currency,
        kind=kind,
        method=method,
        deposited_to=deposited_to,
    )
    problems = Problems()
    check_refs(ctx, payment, PAYMENT_REFS, problems)
    _check_payment(payment, problems)
    finish(payment, problems)
    return payment


@transaction.atomic
def patient_payment_update(*, ctx: AccessContext, payment: PatientPayment, **changes: Any) -> PatientPayment:
    """Correct a payment record: each given field is set (None detaches it from its appointment)."""
    require_may(ctx, PatientPayment, CHANGE)
    changed = assign(payment, changes, PAYMENT_FIELDS)
    problems = Problems()
    check_refs(ctx, payment, changed_refs(changed, PAYMENT_REFS), problems)
    _check_payment(payment, problems)
    finish(payment, problems, changed)
    return payment
