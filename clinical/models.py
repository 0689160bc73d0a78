"""PC clinical records (schema ``clinical``): PostgreSQL refuses every table here to the business role."""

from __future__ import annotations

from django.db import models

from management.models import Location, ProfessionalCorporation
from tenants.capacities import Side
from tenants.models import AccessPolicy, TenantOwnedModel


class PatientChart(TenantOwnedModel):
    """A patient's chart, kept by the PC that treats them."""

    pc = models.ForeignKey(ProfessionalCorporation, on_delete=models.PROTECT, related_name="+")
    home_location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    medical_record_number = models.CharField(max_length=32)
    patient_name = models.CharField(max_length=200)
    date_of_birth = models.DateField()
    allergies = models.TextField(blank=True)

    access = AccessPolicy(side=Side.CLINICAL, scope_model="pc", scope_path="pc")

    class Meta:
        ordering = ["patient_name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "medical_record_number"], name="unique_mrn_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.patient_name} ({self.medical_record_number})"
