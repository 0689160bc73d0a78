"""Physician decisions on MSO-drafted content, and the consent-form versions they approve."""

from __future__ import annotations

from django.db import models

from management.models import ConsentFormDraft, Decision, MarketingAsset, ProfessionalCorporation
from management.procedures import Procedure
from tenants.capacities import Side
from tenants.models import AccessPolicy, TenantOwnedModel, User

PC_SCOPED = AccessPolicy(side=Side.CLINICAL, scope_model="pc", scope_path="pc")


class PhysicianDecision(TenantOwnedModel):
    """One decision of a physician on one exact content (its hash and a snapshot for later diffs)."""

    pc = models.ForeignKey(ProfessionalCorporation, on_delete=models.PROTECT, related_name="+")
    marketing_asset = models.ForeignKey(
        MarketingAsset, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    consent_form_draft = models.ForeignKey(
        ConsentFormDraft, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision = models.CharField(max_length=20, choices=Decision.choices)
    content_hash = models.CharField(max_length=64)
    revision = models.PositiveIntegerField()
    snapshot = models.JSONField()
    note = models.TextField(blank=True, max_length=4000)
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()

    access = PC_SCOPED

    class Meta:
        ordering = ["-decided_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(marketing_asset__isnull=True) ^ models.Q(consent_form_draft__isnull=True),
                name="decision_has_one_subject",
            ),
            models.CheckConstraint(
                condition=~models.Q(decision=Decision.PENDING), name="decision_is_a_decision"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} on {self.decided_at:%Y-%m-%d}"


class ConsentFormVersion(TenantOwnedModel):
    """An approved consent form, numbered per PC and procedure; patients sign exactly one version."""

    pc = models.ForeignKey(ProfessionalCorporation, on_delete=models.PROTECT, related_name="+")
    draft = models.ForeignKey(ConsentFormDraft, on_delete=models.PROTECT, related_name="+")
    decision = models.OneToOneField(PhysicianDecision, on_delete=models.PROTECT, related_name="version")
    procedure = models.CharField(max_length=30, choices=Procedure.choices)
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    content_hash = models.CharField(max_length=64)
    approved_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField()
    superseded_at = models.DateTimeField(null=True, blank=True)

    access = PC_SCOPED

    class Meta:
        ordering = ["procedure", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["pc", "procedure", "number"], name="unique_consent_version_number"
            )
        ]

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None

    def __str__(self) -> str:
        return f"{self.title} v{self.number}"
