"""Charts and what happens in them: exams, treatments (product lots, photos), consents, reviews, events."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from clinical.models.decisions import ConsentFormVersion
from management.models import Client, Location, ProfessionalCorporation, Provider
from management.procedures import Procedure
from tenants.capacities import Side
from tenants.models import AccessPolicy, TenantOwnedModel, User

CHART_SCOPED = AccessPolicy(side=Side.CLINICAL, scope_model="pc", scope_path="chart__pc")


class PatientChart(TenantOwnedModel):
    """A patient's chart, kept by the PC that treats them."""

    pc = models.ForeignKey(ProfessionalCorporation, on_delete=models.PROTECT, related_name="+")
    home_location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(Client, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    medical_record_number = models.CharField(max_length=32)
    patient_name = models.CharField(max_length=200)
    date_of_birth = models.DateField()
    allergies = models.TextField(blank=True)
    # REC-001: a chart may be destroyed only after the retention floor; the date is kept, never the rows.
    destroyed_on = models.DateField(null=True, blank=True)

    access = AccessPolicy(side=Side.CLINICAL, scope_model="pc", scope_path="pc")

    class Meta:
        ordering = ["patient_name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "medical_record_number"], name="unique_mrn_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.patient_name} ({self.medical_record_number})"


class GoodFaithExam(TenantOwnedModel):
    """B&P 2242: an MD/DO/NP/PA examines before prescription treatment (GFE-001)."""

    chart = models.ForeignKey(PatientChart, on_delete=models.PROTECT, related_name="exams")
    examiner = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    examined_on = models.DateField()
    via_telehealth = models.BooleanField(default=False)
    telehealth_consent = models.BooleanField(default=False)  # B&P 2290.5
    medical_indication = models.TextField(max_length=4000)
    approved_procedures = ArrayField(models.CharField(max_length=30, choices=Procedure.choices), default=list)
    valid_until = models.DateField()

    access = CHART_SCOPED

    class Meta:
        ordering = ["-examined_on"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_until__gte=models.F("examined_on")),
                name="gfe_valid_after_exam",
                violation_error_message="The exam cannot expire before it took place.",
            )
        ]

    def __str__(self) -> str:
        return f"Good-faith exam on {self.examined_on}"


class PhotoAuthorization(TenantOwnedModel):
    """A patient's written authorization to use their photos outside the chart (HIPAA 164.508)."""

    chart = models.ForeignKey(PatientChart, on_delete=models.PROTECT, related_name="photo_authorizations")
    signed_on = models.DateField()
    purpose = models.CharField(max_length=300)
    expires_on = models.DateField(null=True, blank=True)
    revoked_on = models.DateField(null=True, blank=True)

    access = CHART_SCOPED

    class Meta:
        ordering = ["-signed_on"]

    def __str__(self) -> str:
        return f"Photo authorization of {self.signed_on}"


class SignedConsent(TenantOwnedModel):
    """A patient's signature on one approved, numbered consent-form version (CON-001)."""

    chart = models.ForeignKey(PatientChart, on_delete=models.PROTECT, related_name="consents")
    form_version = models.ForeignKey(ConsentFormVersion, on_delete=models.PROTECT, related_name="signatures")
    signed_at = models.DateTimeField()
    signer_name = models.CharField(max_length=200)
    witnessed_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")

    access = CHART_SCOPED

    class Meta:
        ordering = ["-signed_at"]

    def __str__(self) -> str:
        return f"Consent signed {self.signed_at:%Y-%m-%d}"


class Treatment(TenantOwnedModel):
    chart = models.ForeignKey(PatientChart, on_delete=models.PROTECT, related_name="treatments")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    procedure = models.CharField(max_length=30, choices=Procedure.choices)
    performer = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    supervisor = models.ForeignKey(
        Provider, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    performed_at = models.DateTimeField()
    good_faith_exam = models.ForeignKey(
        GoodFaithExam, null=True, blank=True, on_delete=models.PROTECT, related_name="treatments"
    )
    consent = models.ForeignKey(
        SignedConsent, null=True, blank=True, on_delete=models.PROTECT, related_name="treatments"
    )
    notes = models.TextField(blank=True, max_length=20_000)
    charted_at = models.DateTimeField(null=True, blank=True)  # CHT-001: notes complete within 72 h

    access = CHART_SCOPED

    class Meta:
        ordering = ["-performed_at"]

    def __str__(self) -> str:
        return f"{self.get_procedure_display()} on {self.performed_at:%Y-%m-%d}"


class TreatmentProduct(TenantOwnedModel):
    treatment = models.ForeignKey(Treatment, on_delete=models.CASCADE, related_name="products")
    product_name = models.CharField(max_length=200)
    lot_number = models.CharField(max_length=60)
    expires_on = models.DateField(null=True, blank=True)
    quantity = models.DecimalField(max_digits=8, decimal_places=2)
    unit = models.CharField(max_length=20, default="units")

    access = AccessPolicy(side=Side.CLINICAL, scope_model="pc", scope_path="treatment__chart__pc")

    class Meta:
        ordering = ["product_name"]

    def __str__(self) -> str:
        return f"{self.product_name} lot {self.lot_number}"


class TreatmentPhoto(TenantOwnedModel):
    class Kind(models.TextChoices):
        BEFORE = "before", "Before"
        AFTER = "after", "After"

    treatment = models.ForeignKey(Treatment, on_delete=models.CASCADE, related_name="photos")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    taken_at = models.DateTimeField()
    description = models.CharField(max_length=300)
    used_outside_chart = models.BooleanField(default=False)
    authorization = models.ForeignKey(
        PhotoAuthorization, null=True, blank=True, on_delete=models.PROTECT, related_name="photos"
    )

    access = AccessPolicy(side=Side.CLINICAL, scope_model="pc", scope_path="treatment__chart__pc")

    class Meta:
        ordering = ["taken_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} photo {self.taken_at:%Y-%m-%d}"


class ChartReview(TenantOwnedModel):
    """The medical director's review of a chart (CHT-002 counts them per month)."""

    chart = models.ForeignKey(PatientChart, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    reviewed_on = models.DateField()
    findings = models.TextField(blank=True, max_length=8000)
    follow_up_needed = models.BooleanField(default=False)

    access = CHART_SCOPED

    class Meta:
        ordering = ["-reviewed_on"]

    def __str__(self) -> str:
        return f"Chart review on {self.reviewed_on}"


class AdverseEvent(TenantOwnedModel):
    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"

    chart = models.ForeignKey(PatientChart, on_delete=models.PROTECT, related_name="adverse_events")
    treatment = models.ForeignKey(
        Treatment, null=True, blank=True, on_delete=models.PROTECT, related_name="adverse_events"
    )
    occurred_at = models.DateTimeField()
    severity = models.CharField(max_length=10, choices=Severity.choices)
    description = models.TextField(max_length=8000)
    actions_taken = models.TextField(blank=True, max_length=8000)
    physician_notified_at = models.DateTimeField(null=True, blank=True)

    access = CHART_SCOPED

    class Meta:
        ordering = ["-occurred_at"]

    def __str__(self) -> str:
        return f"{self.get_severity_display()} adverse event {self.occurred_at:%Y-%m-%d}"
