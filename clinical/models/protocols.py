"""Who may do what: the per-state procedure scope table and signed protocols / standardized procedures."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from management.models import ProfessionalCorporation, Provider
from management.procedures import LicenseType, Procedure
from tenants.capacities import Side
from tenants.models import AccessPolicy, TenantOwnedModel, User


class ProcedureScopeRule(TenantOwnedModel):
    """May a license type perform a procedure in a state, and on what conditions (DEL-001).

    Seeded per tenant for California from RULES.md; a tenant's physicians may adjust it (e.g. LVN
    injections, which default to not allowed). The citation is data so counsel can correct it.
    """

    class Supervision(models.TextChoices):
        NONE = "none", "Independent"
        PROTOCOL = "protocol", "Under a signed protocol with physician supervision"
        ORDER = "order", "On a prescriber's order under a standardized procedure"

    state = models.CharField(max_length=2)
    procedure = models.CharField(max_length=30, choices=Procedure.choices)
    license_type = models.CharField(max_length=20, choices=LicenseType.choices)
    allowed = models.BooleanField()
    supervision = models.CharField(max_length=10, choices=Supervision.choices, default=Supervision.NONE)
    requires_good_faith_exam = models.BooleanField(default=True)
    citation = models.CharField(max_length=300)
    note = models.CharField(max_length=500, blank=True)

    access = AccessPolicy(side=Side.CLINICAL)

    class Meta:
        ordering = ["state", "procedure", "license_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "state", "procedure", "license_type"],
                name="unique_scope_rule",
                violation_error_message="This state, procedure and license type already have a rule.",
            )
        ]

    def __str__(self) -> str:
        verdict = "may" if self.allowed else "may not"
        return f"{self.license_type} {verdict} perform {self.procedure} in {self.state}"


class Protocol(TenantOwnedModel):
    """A protocol / standardized procedure: inactive until the supervisor and every supervisee sign."""

    class Kind(models.TextChoices):
        STANDARDIZED_PROCEDURE = "standardized_procedure", "Standardized procedure (RN/NP)"
        LASER_PROTOCOL = "laser_protocol", "Laser/IPL protocol"
        PRACTICE_AGREEMENT = "practice_agreement", "PA practice agreement"

    pc = models.ForeignKey(ProfessionalCorporation, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    title = models.CharField(max_length=200)
    supervisor = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    procedures = ArrayField(models.CharField(max_length=30, choices=Procedure.choices), default=list)
    body = models.TextField(max_length=50_000)
    effective_on = models.DateField()
    expires_on = models.DateField()
    reviewed_on = models.DateField(null=True, blank=True)
    # PRT-001: what a laser protocol must cover.
    covers_patient_selection = models.BooleanField(default=False)
    covers_education_and_consent = models.BooleanField(default=False)
    covers_topical_agents = models.BooleanField(default=False)
    covers_complications = models.BooleanField(default=False)
    covers_supervision_and_training = models.BooleanField(default=False)
    supervisor_signed_at = models.DateTimeField(null=True, blank=True)
    supervisor_signed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    access = AccessPolicy(side=Side.CLINICAL, scope_model="pc", scope_path="pc")

    class Meta:
        ordering = ["-effective_on", "title"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_on__gt=models.F("effective_on")),
                name="protocol_expires_after_start",
                violation_error_message="The protocol must expire after it takes effect.",
            )
        ]

    def __str__(self) -> str:
        return self.title


class ProtocolSupervisee(TenantOwnedModel):
    protocol = models.ForeignKey(Protocol, on_delete=models.CASCADE, related_name="supervisees")
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(null=True, blank=True)

    access = AccessPolicy(side=Side.CLINICAL, scope_model="pc", scope_path="protocol__pc")

    class Meta:
        ordering = ["protocol", "provider"]
        constraints = [
            models.UniqueConstraint(fields=["protocol", "provider"], name="unique_protocol_supervisee")
        ]

    def __str__(self) -> str:
        return f"{self.provider_id} under {self.protocol_id}"
