"""The front desk: clients (CRM), appointments and what patients pay."""

from __future__ import annotations

from django.db import models

from management.models.parties import BankAccount, Location
from management.models.workforce import Provider
from management.procedures import Procedure
from tenants.capacities import Side
from tenants.models import AccessPolicy, TenantOwnedModel


class Client(TenantOwnedModel):
    """A person the front desk knows: a lead or a patient (their chart, if any, is clinical)."""

    class LeadSource(models.TextChoices):
        INSTAGRAM = "instagram", "Instagram"
        GOOGLE = "google", "Google"
        REFERRAL = "referral", "Referral by a client"
        WALK_IN = "walk_in", "Walk-in"
        EVENT = "event", "Event"
        WEBSITE = "website", "Website"
        OTHER = "other", "Other"

    home_location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="clients")
    full_name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=30, blank=True)
    date_of_birth = models.DateField(null=True, blank=True)
    lead_source = models.CharField(max_length=20, choices=LeadSource.choices, default=LeadSource.OTHER)
    marketing_opt_in = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    access = AccessPolicy(side=Side.BUSINESS, scope_model="location", scope_path="home_location")

    class Meta:
        ordering = ["full_name"]

    def __str__(self) -> str:
        return self.full_name


class Appointment(TenantOwnedModel):
    class Status(models.TextChoices):
        BOOKED = "booked", "Booked"
        CONFIRMED = "confirmed", "Confirmed"
        CHECKED_IN = "checked_in", "Checked in"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"
        NO_SHOW = "no_show", "No-show"

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="appointments")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="appointments")
    service = models.CharField(max_length=30, choices=Procedure.choices)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="appointments")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.BOOKED)

    access = AccessPolicy(side=Side.BUSINESS, scope_model="location", scope_path="location")

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="appointment_ends_after_start",
                violation_error_message="The appointment must end after it starts.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_service_display()} at {self.starts_at:%Y-%m-%d %H:%M}"


class PatientPayment(TenantOwnedModel):
    """Money a client paid, and the account it was deposited to (SEP-002)."""

    class Kind(models.TextChoices):
        MEDICAL_SERVICE = "medical_service", "Medical service"
        RETAIL_PRODUCT = "retail_product", "Retail product"
        MEMBERSHIP = "membership", "Membership"

    class Method(models.TextChoices):
        CARD = "card", "Card"
        CASH = "cash", "Cash"
        FINANCING = "financing", "Financing"

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="patient_payments")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="payments")
    appointment = models.ForeignKey(
        Appointment, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    received_on = models.DateField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.MEDICAL_SERVICE)
    method = models.CharField(max_length=20, choices=Method.choices, default=Method.CARD)
    deposited_to = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="deposits")

    access = AccessPolicy(side=Side.BUSINESS, scope_model="location", scope_path="location")

    class Meta:
        ordering = ["-received_on"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0),
                name="patient_payment_positive",
                violation_error_message="A payment is a positive amount.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} on {self.received_on}"
