"""API of the front desk: clients, appointments and patient payments.

Scoping and permissions live in the base viewset; writes go through management.services.frontdesk.
References are ids resolved only among objects the key may view (400 otherwise).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers

from management.filters.frontdesk import AppointmentFilter, ClientFilter, PatientPaymentFilter
from management.models import Appointment, BankAccount, Client, Location, PatientPayment, Provider
from management.selectors import frontdesk as selectors
from management.services import frontdesk as services
from tenants.api.fields import ScopedPrimaryKeyRelatedField
from tenants.api.viewsets import ReadWriteTenantViewSet

# --- serializers --------------------------------------------------------------------------------


class ClientSerializer(serializers.ModelSerializer[Client]):
    home_location = ScopedPrimaryKeyRelatedField(queryset=Location.objects.all())

    class Meta:
        model = Client
        fields = [
            "id",
            "home_location",
            "full_name",
            "email",
            "phone",
            "date_of_birth",
            "lead_source",
            "marketing_opt_in",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]


class AppointmentSerializer(serializers.ModelSerializer[Appointment]):
    client = ScopedPrimaryKeyRelatedField(queryset=Client.objects.all())
    location = ScopedPrimaryKeyRelatedField(queryset=Location.objects.all())
    provider = ScopedPrimaryKeyRelatedField(queryset=Provider.objects.all())

    class Meta:
        model = Appointment
        fields = ["id", "client", "location", "service", "provider", "starts_at", "ends_at", "status"]
        read_only_fields = ["id"]


class PatientPaymentSerializer(serializers.ModelSerializer[PatientPayment]):
    location = ScopedPrimaryKeyRelatedField(queryset=Location.objects.all())
    client = ScopedPrimaryKeyRelatedField(queryset=Client.objects.all())
    appointment = ScopedPrimaryKeyRelatedField(
        queryset=Appointment.objects.all(), required=False, allow_null=True
    )
    deposited_to = ScopedPrimaryKeyRelatedField(
        queryset=BankAccount.objects.all(), help_text="The bank account the payment was deposited to."
    )

    class Meta:
        model = PatientPayment
        fields = [
            "id",
            "location",
            "client",
            "appointment",
            "received_on",
            "amount",
            "currency",
            "kind",
            "method",
            "deposited_to",
        ]
        read_only_fields = ["id"]


# --- viewsets -----------------------------------------------------------------------------------


class ClientViewSet(ReadWriteTenantViewSet[Client]):
    """Clients and leads of the front desk (CRM). Filter ``search`` matches name, email or phone."""

    queryset = Client.objects.all()
    serializer_class = ClientSerializer
    filterset_class = ClientFilter
    ordering_fields = ["full_name", "created_at", "lead_source"]

    def create_object(self, data: dict[str, Any]) -> Client:
        return services.client_create(ctx=self.access, **data)

    def update_object(self, obj: Client, data: dict[str, Any]) -> Client:
        return services.client_update(ctx=self.access, client=obj, **data)


class AppointmentViewSet(ReadWriteTenantViewSet[Appointment]):
    """Appointments: a client, a location, a service (procedure code), a provider and a time.

    A provider cannot be double-booked: an overlapping appointment that is not cancelled is a 400.
    """

    queryset = Appointment.objects.all()
    serializer_class = AppointmentSerializer
    filterset_class = AppointmentFilter
    ordering_fields = ["starts_at", "status"]

    def base_queryset(self) -> QuerySet[Appointment]:
        return selectors.appointment_queryset()

    def create_object(self, data: dict[str, Any]) -> Appointment:
        return services.appointment_create(ctx=self.access, **data)

    def update_object(self, obj: Appointment, data: dict[str, Any]) -> Appointment:
        return services.appointment_update(ctx=self.access, appointment=obj, **data)


class PatientPaymentViewSet(ReadWriteTenantViewSet[PatientPayment]):
    """What clients paid, and the bank account each payment was deposited to (SEP-002)."""

    queryset = PatientPayment.objects.all()
    serializer_class = PatientPaymentSerializer
    filterset_class = PatientPaymentFilter
    ordering_fields = ["received_on", "amount"]

    def create_object(self, data: dict[str, Any]) -> PatientPayment:
        return services.patient_payment_create(ctx=self.access, **data)

    def update_object(self, obj: PatientPayment, data: dict[str, Any]) -> PatientPayment:
        return services.patient_payment_update(ctx=self.access, payment=obj, **data)
