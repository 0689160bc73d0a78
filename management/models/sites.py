"""What a location runs on: its lease, equipment (with service history) and waste registration."""

from __future__ import annotations

from django.db import models

from management.models.parties import Location
from tenants.capacities import Side
from tenants.models import AccessPolicy, TenantOwnedModel

LOCATION_SCOPED = AccessPolicy(side=Side.BUSINESS, scope_model="location", scope_path="location")


class Lease(TenantOwnedModel):
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="leases")
    landlord = models.CharField(max_length=200)
    term_start = models.DateField()
    term_end = models.DateField()
    monthly_rent = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")

    access = LOCATION_SCOPED

    class Meta:
        ordering = ["-term_start"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(term_end__gt=models.F("term_start")),
                name="lease_ends_after_start",
                violation_error_message="The lease must end after it starts.",
            ),
            models.CheckConstraint(
                condition=models.Q(monthly_rent__gte=0),
                name="lease_rent_not_negative",
                violation_error_message="Rent cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"Lease with {self.landlord} ({self.term_start} to {self.term_end})"


class Equipment(TenantOwnedModel):
    class Kind(models.TextChoices):
        LASER = "laser", "Laser"
        IPL = "ipl", "IPL"
        RADIOFREQUENCY = "radiofrequency", "Radiofrequency"
        MICRONEEDLING = "microneedling", "Microneedling device"
        OTHER = "other", "Other"

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="equipment")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    manufacturer = models.CharField(max_length=120)
    model_name = models.CharField(max_length=120)
    serial_number = models.CharField(max_length=80)
    service_interval_days = models.PositiveIntegerField(default=365)  # EQP-001

    access = LOCATION_SCOPED

    class Meta:
        ordering = ["kind", "manufacturer", "model_name"]
        verbose_name_plural = "equipment"
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "manufacturer", "serial_number"], name="unique_equipment_serial"
            ),
            models.CheckConstraint(
                condition=models.Q(service_interval_days__gte=1),
                name="equipment_service_interval_positive",
                violation_error_message="The service interval is at least one day.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.manufacturer} {self.model_name} #{self.serial_number}"


class EquipmentService(TenantOwnedModel):
    """One service visit on a device (EQP-001 checks the newest against the interval)."""

    equipment = models.ForeignKey(Equipment, on_delete=models.CASCADE, related_name="services")
    serviced_on = models.DateField()
    vendor = models.CharField(max_length=200)
    notes = models.TextField(blank=True, max_length=4000)

    access = AccessPolicy(side=Side.BUSINESS, scope_model="location", scope_path="equipment__location")

    class Meta:
        ordering = ["-serviced_on"]

    def __str__(self) -> str:
        return f"Service on {self.serviced_on}"


class MedicalWasteRegistration(TenantOwnedModel):
    """Medical Waste Management Act registration of a location that generates sharps (WST-001)."""

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="waste_registrations")
    registration_number = models.CharField(max_length=40)
    hauler = models.CharField(max_length=200)
    issued_on = models.DateField()
    expires_on = models.DateField()

    access = LOCATION_SCOPED

    class Meta:
        ordering = ["-expires_on"]

    def __str__(self) -> str:
        return f"Waste registration {self.registration_number}"
