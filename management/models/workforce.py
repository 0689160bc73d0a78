"""People and vendors the MSO manages: vendors and BAAs, non-clinical staff and training, and the
credentials of the PC's providers, which the MSO keeps as a service (it never decides on them)."""

from __future__ import annotations

from django.db import models

from management.models.parties import Location, MsoEntity, ProfessionalCorporation
from management.procedures import LicenseStatus, LicenseType
from tenants.capacities import Side
from tenants.models import AccessPolicy, Membership, TenantOwnedModel

TENANT_WIDE = AccessPolicy(side=Side.BUSINESS)


class Vendor(TenantOwnedModel):
    class FeeBasis(models.TextChoices):
        FLAT = "flat", "Flat fee"
        HOURLY = "hourly", "Hourly"
        PER_LEAD = "per_lead", "Per lead"
        PER_NEW_PATIENT = "per_new_patient", "Per new patient"
        PERCENT_OF_REVENUE = "percent_of_revenue", "Percentage of revenue"

    name = models.CharField(max_length=200)
    service = models.CharField(max_length=200)
    handles_phi = models.BooleanField(default=False)  # BAA-001
    fee_basis = models.CharField(max_length=30, choices=FeeBasis.choices, default=FeeBasis.FLAT)  # FEE-004
    fee_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    access = TENANT_WIDE

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class BusinessAssociateAgreement(TenantOwnedModel):
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="baas")
    signed_on = models.DateField()
    expires_on = models.DateField(null=True, blank=True)
    document_reference = models.CharField(max_length=200, blank=True)

    access = TENANT_WIDE

    class Meta:
        ordering = ["-signed_on"]
        verbose_name = "business associate agreement"

    def __str__(self) -> str:
        return f"BAA signed {self.signed_on}"


class StaffMember(TenantOwnedModel):
    """Non-clinical workforce of an MSO entity (front desk, managers, marketing)."""

    employer = models.ForeignKey(MsoEntity, on_delete=models.PROTECT, related_name="staff")
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    full_name = models.CharField(max_length=200)
    job_title = models.CharField(max_length=120)
    hired_on = models.DateField()
    left_on = models.DateField(null=True, blank=True)
    exposure_risk = models.BooleanField(default=False)  # OSH-001: bloodborne-pathogen exposure
    contract_has_noncompete = models.BooleanField(default=False)  # CPOM-007

    access = TENANT_WIDE

    class Meta:
        ordering = ["full_name"]

    def __str__(self) -> str:
        return self.full_name


class TrainingRecord(TenantOwnedModel):
    class Kind(models.TextChoices):
        HIPAA = "hipaa", "HIPAA privacy and security"
        BLOODBORNE_PATHOGENS = "bloodborne_pathogens", "Bloodborne pathogens"
        IIPP = "iipp", "Injury and illness prevention"

    staff_member = models.ForeignKey(StaffMember, on_delete=models.CASCADE, related_name="trainings")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    completed_on = models.DateField()
    expires_on = models.DateField(null=True, blank=True)

    access = TENANT_WIDE

    class Meta:
        ordering = ["-completed_on"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.completed_on}"


class Provider(TenantOwnedModel):
    """A licensed person providing services for a PC, and the credentials the MSO tracks for it.

    Linked to a membership when the provider signs in (treatments name the provider who performed).
    """

    pc = models.ForeignKey(ProfessionalCorporation, on_delete=models.PROTECT, related_name="providers")
    membership = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    full_name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    license_type = models.CharField(max_length=20, choices=LicenseType.choices)
    license_number = models.CharField(max_length=40)
    license_state = models.CharField(max_length=2, default="CA")
    license_status = models.CharField(
        max_length=20, choices=LicenseStatus.choices, default=LicenseStatus.ACTIVE
    )
    license_expires_on = models.DateField()
    dea_number = models.CharField(max_length=20, blank=True)
    dea_expires_on = models.DateField(null=True, blank=True)
    cures_expires_on = models.DateField(null=True, blank=True)
    np_furnishing_number = models.CharField(max_length=20, blank=True)
    np_furnishing_expires_on = models.DateField(null=True, blank=True)
    np_independent_103_104 = models.BooleanField(default=False)
    pa_practice_agreement_signed_on = models.DateField(null=True, blank=True)
    pa_practice_agreement_expires_on = models.DateField(null=True, blank=True)
    contract_has_noncompete = models.BooleanField(default=False)  # CPOM-007
    active = models.BooleanField(default=True)

    access = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="pc")

    class Meta:
        ordering = ["full_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "license_state", "license_type", "license_number"],
                name="unique_provider_license",
                violation_error_message="A provider with this license number already exists.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.full_name}, {self.license_type}"
