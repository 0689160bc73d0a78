"""Management Services Agreements: scope, fee terms, FMV evidence, clauses, standards, amendments."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from management.models.parties import MsoEntity, ProfessionalCorporation
from management.procedures import ManagedService
from tenants.capacities import Side
from tenants.models import AccessPolicy, TenantOwnedModel


class FeeBasis(models.TextChoices):
    FIXED_MONTHLY = "fixed_monthly", "Fixed monthly fee"
    COST_PLUS = "cost_plus", "Cost plus a markup"
    PER_UNIT = "per_unit", "Per unit of service"
    PERCENT_OF_COLLECTIONS = "percent_of_collections", "Percentage of PC collections"


class ManagementServicesAgreement(TenantOwnedModel):
    """The MSA tying an MSO entity (manager) to a PC (the clinical party)."""

    mso_entity = models.ForeignKey(MsoEntity, on_delete=models.PROTECT, related_name="agreements")
    pc = models.ForeignKey(ProfessionalCorporation, on_delete=models.PROTECT, related_name="agreements")
    title = models.CharField(max_length=200, default="Management Services Agreement")
    effective_date = models.DateField()
    end_date = models.DateField()
    signed_on = models.DateField(null=True, blank=True)
    services = ArrayField(models.CharField(max_length=20, choices=ManagedService.choices), default=list)
    # Fee terms: amount for fixed monthly / per unit (and the unit), rate (percent) for cost-plus markup
    # or a percentage of collections.
    fee_basis = models.CharField(max_length=30, choices=FeeBasis.choices)
    fee_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    fee_rate_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    fee_unit = models.CharField(max_length=60, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    # FMV opinion (MSA-004): an independent appraiser's range for the monthly fee.
    fmv_opinion_date = models.DateField(null=True, blank=True)
    fmv_appraiser = models.CharField(max_length=200, blank=True)
    fmv_low = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    fmv_high = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    counsel_reviewed_on = models.DateField(null=True, blank=True)  # MSA-003 for percentage fees
    # The clauses MSA-002 and CPOM-005 read.
    non_clinical_role_clause = models.BooleanField(default=False)
    dispute_resolution_clause = models.BooleanField(default=False)
    termination_clause = models.BooleanField(default=False)
    termination_notice_days = models.PositiveIntegerField(null=True, blank=True)
    governing_state = models.CharField(max_length=2, blank=True)
    investor_clinical_control_clause = models.BooleanField(default=False)
    clinician_noncompete_clause = models.BooleanField(default=False)
    clinician_gag_clause = models.BooleanField(default=False)

    access = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="pc")

    class Meta:
        ordering = ["-effective_date"]
        verbose_name = "management services agreement"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__gt=models.F("effective_date")),
                name="msa_ends_after_start",
                violation_error_message="The agreement must end after it takes effect.",
            ),
            models.CheckConstraint(
                condition=models.Q(fmv_low__isnull=True)
                | models.Q(fmv_high__isnull=True)
                | models.Q(fmv_low__lte=models.F("fmv_high")),
                name="msa_fmv_range_ordered",
                violation_error_message="The FMV range's low end cannot exceed its high end.",
            ),
            models.CheckConstraint(
                condition=models.Q(fee_amount__isnull=True) | models.Q(fee_amount__gte=0),
                name="msa_fee_amount_not_negative",
                violation_error_message="The fee cannot be negative.",
            ),
            models.CheckConstraint(
                condition=models.Q(fee_rate_percent__isnull=True)
                | models.Q(fee_rate_percent__gte=0, fee_rate_percent__lte=100),
                name="msa_fee_rate_is_percent",
                violation_error_message="The rate is a percentage between 0 and 100.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title}: {self.mso_entity_id} ↔ {self.pc_id} ({self.effective_date})"


class PerformanceStandard(TenantOwnedModel):
    msa = models.ForeignKey(ManagementServicesAgreement, on_delete=models.CASCADE, related_name="standards")
    metric = models.CharField(max_length=200)
    target = models.CharField(max_length=200)

    access = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="msa__pc")

    class Meta:
        ordering = ["metric"]

    def __str__(self) -> str:
        return f"{self.metric}: {self.target}"


class MsaAmendment(TenantOwnedModel):
    """A signed change to an MSA; a fee change without one is FEE-003."""

    msa = models.ForeignKey(ManagementServicesAgreement, on_delete=models.CASCADE, related_name="amendments")
    number = models.PositiveIntegerField()
    effective_date = models.DateField()
    signed_on = models.DateField(null=True, blank=True)
    summary = models.TextField(max_length=4000)
    new_fee_basis = models.CharField(max_length=30, choices=FeeBasis.choices, blank=True)
    new_fee_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    new_fee_rate_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)

    access = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="msa__pc")

    class Meta:
        ordering = ["msa", "number"]
        constraints = [models.UniqueConstraint(fields=["msa", "number"], name="unique_amendment_number")]

    def __str__(self) -> str:
        return f"Amendment {self.number} ({self.effective_date})"


class AgreementDocument(TenantOwnedModel):
    """A signed PDF of an MSA or one of its amendments, kept in the database (RLS'd, exported)."""

    msa = models.ForeignKey(ManagementServicesAgreement, on_delete=models.CASCADE, related_name="documents")
    amendment = models.ForeignKey(
        MsaAmendment, null=True, blank=True, on_delete=models.CASCADE, related_name="documents"
    )
    filename = models.CharField(max_length=200)
    content = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    uploaded_at = models.DateTimeField(auto_now_add=True)

    access = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="msa__pc")

    class Meta:
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return self.filename
