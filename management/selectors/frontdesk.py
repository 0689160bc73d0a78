"""Reads of the front desk, always through the permission layer.

Lists join what they show of related rows (the client, location and provider of an appointment; the
account a payment was deposited to and its owner), so they run a fixed number of queries.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from management.models import Appointment, Client, PatientPayment
from tenants.access import AccessContext, get_for_action, restrict
from tenants.capacities import VIEW


def client_list(ctx: AccessContext) -> QuerySet[Client]:
    return restrict(Client.objects.select_related("home_location"), ctx)


def client_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> Client:
    return get_for_action(Client, ctx, pk, action)


def appointment_queryset() -> QuerySet[Appointment]:
    return Appointment.objects.select_related("client", "location", "provider")


def appointment_list(ctx: AccessContext) -> QuerySet[Appointment]:
    return restrict(appointment_queryset(), ctx)


def appointment_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> Appointment:
    return get_for_action(Appointment, ctx, pk, action)


def patient_payment_queryset() -> QuerySet[PatientPayment]:
    return PatientPayment.objects.select_related(
        "location", "client", "appointment", "deposited_to__pc", "deposited_to__mso_entity"
    )


def patient_payment_list(ctx: AccessContext) -> QuerySet[PatientPayment]:
    return restrict(patient_payment_queryset(), ctx)


def patient_payment_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> PatientPayment:
    return get_for_action(PatientPayment, ctx, pk, action)


def client_appointments(ctx: AccessContext, client: Client) -> QuerySet[Appointment]:
    """The client's appointments the caller may see (a location-scoped capacity sees its own)."""
    return appointment_list(ctx).filter(client=client).order_by("-starts_at")


def client_payments(ctx: AccessContext, client: Client) -> QuerySet[PatientPayment]:
    """The client's payments the caller may see."""
    return patient_payment_list(ctx).filter(client=client)
