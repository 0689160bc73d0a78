"""Audit runs, a tenant's rule settings and findings.

Tables live in schema ``compliance``, except clinical findings: they are clinical data and live in
schema ``clinical`` (``mso_platform.db.schemas.MODEL_SCHEMAS``), where the business role has no
privilege at all. Both finding tables share one abstract model. The MSO learns how many clinical
findings of each severity are open from the counts the clinical side of a run writes on its
``AuditRun`` row, never by reading a clinical finding.
"""

from __future__ import annotations

from typing import ClassVar

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from compliance.registry import Severity
from management.models import Location, ProfessionalCorporation
from tenants.capacities import Side
from tenants.models import AccessPolicy, TenantOwnedModel, User

SEVERITY_CHOICES = [(s.value, s.value.title()) for s in Severity]
RULE_ID_LENGTH = 20


class RuleSetting(TenantOwnedModel):
    """A tenant's choice for one rule: switched off, or thresholds tuned within their bounds.

    ``critical`` is copied from the registry when the row is written, so PostgreSQL itself refuses a
    critical rule switched off (the service refuses it first, with a message).
    """

    rule_id = models.CharField(max_length=RULE_ID_LENGTH)
    critical = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    # {threshold name: decimal as a string}; names and bounds are the rule's Threshold declarations.
    thresholds = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    access: ClassVar[AccessPolicy] = AccessPolicy(side=Side.BUSINESS)

    class Meta:
        ordering = ["rule_id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "rule_id"], name="one_setting_per_rule"),
            models.CheckConstraint(
                condition=Q(enabled=True) | Q(critical=False), name="critical_rule_stays_on"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} ({'on' if self.enabled else 'off'})"


class AuditRun(TenantOwnedModel):
    """One evaluation of rules over a tenant (or some of its PCs), and its live progress.

    Each rule is evaluated and recorded in its own committed transaction, so ``rules_done`` and
    ``counts`` can be read while the run goes on; ``done_rule_ids`` lets a retried task resume.
    """

    class Trigger(models.TextChoices):
        NIGHTLY = "nightly", "Nightly"
        ON_DEMAND = "on_demand", "On demand"
        CHANGE = "change", "After a change"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # The same key names the same run: a redelivered or repeated request reuses it.
    idempotency_key = models.CharField(max_length=200)
    # None: every PC of the tenant; otherwise the PCs a change concerned.
    pc_ids = ArrayField(models.UUIDField(), null=True, blank=True)
    rule_ids = ArrayField(models.CharField(max_length=RULE_ID_LENGTH), default=list, blank=True)
    done_rule_ids = ArrayField(models.CharField(max_length=RULE_ID_LENGTH), default=list, blank=True)
    change_label = models.CharField(max_length=100, blank=True)  # "app.Model" whose write triggered it
    as_of = models.DateField(help_text="The audit's date: rules read validity windows against it.")
    requested_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rules_total = models.PositiveIntegerField(default=0)
    rules_done = models.PositiveIntegerField(default=0)
    # {"business"|"clinical": {"at": iso time, "open"|"acknowledged"|"accepted_risk": {severity: n}}}:
    # the tenant's unresolved findings of that side, written by that side after each of its rules.
    counts = models.JSONField(default=dict, blank=True)
    # {rule id: {"ms": n, ...}}; business rules also {"seen", "new", "resolved"}; "error" if it failed.
    stats = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    access: ClassVar[AccessPolicy] = AccessPolicy(side=Side.BUSINESS)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="one_run_per_key"),
            models.CheckConstraint(
                condition=Q(rules_done__lte=models.F("rules_total")), name="run_progress_bounded"
            ),
        ]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="audit_run_recent")]

    def __str__(self) -> str:
        return f"{self.get_trigger_display()} audit {self.created_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def percent(self) -> int:
        return (
            100 if self.status == self.Status.DONE else int(100 * self.rules_done / max(self.rules_total, 1))
        )


class FindingStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    ACCEPTED_RISK = "accepted_risk", "Accepted risk"
    RESOLVED = "resolved", "Resolved"


# Half of each page of a findings table is kept free (migration 0003): every full run rewrites each
# open finding once (last seen), and the new version then fits on the page of the old one.
FINDING_FILLFACTOR = 50


class Finding(TenantOwnedModel):
    """One problem a rule sees on one object, kept across runs by its fingerprint.

    fingerprint = md5(rule id | object type | object id | discriminator), computed by PostgreSQL in
    the engine's upsert. References to PCs, locations and runs never cascade: findings are derived
    rows, and a delete on one side of the boundary must not reach into the other side's table.
    """

    fingerprint = models.CharField(max_length=32)
    rule_id = models.CharField(max_length=RULE_ID_LENGTH)
    severity = models.CharField(max_length=16, choices=SEVERITY_CHOICES)
    object_type = models.CharField(max_length=100)
    object_id = models.UUIDField()
    discriminator = models.CharField(max_length=100, blank=True)
    pc = models.ForeignKey(
        ProfessionalCorporation,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    evidence = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    first_seen_run = models.ForeignKey(AuditRun, on_delete=models.DO_NOTHING, related_name="+")
    first_seen_at = models.DateTimeField()
    # Not indexed, like last_seen_at: a run re-seeing its findings writes only these two columns, and
    # with no index on them (and room on the page, FINDING_FILLFACTOR) the update is HOT: no entry
    # in the table's other indexes. Nothing looks findings up by their last run alone.
    last_seen_run = models.ForeignKey(AuditRun, on_delete=models.DO_NOTHING, related_name="+", db_index=False)
    last_seen_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by_run = models.ForeignKey(
        AuditRun, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    # Who set the status by hand (acknowledged / accepted risk / reopened), when and why.
    status_reason = models.TextField(blank=True, max_length=2000)
    status_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    status_at = models.DateTimeField(null=True, blank=True)
    accepted_until = models.DateField(null=True, blank=True)

    side: ClassVar[Side]

    class Meta:
        abstract = True
        ordering = ["-last_seen_at", "rule_id"]
        constraints = [
            # The engine's ON CONFLICT target.
            models.UniqueConstraint(fields=["tenant", "fingerprint"], name="%(class)s_one_per_fingerprint"),
            models.CheckConstraint(
                condition=~Q(status=FindingStatus.ACKNOWLEDGED) | ~Q(status_reason=""),
                name="%(class)s_acknowledged_with_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status=FindingStatus.ACCEPTED_RISK)
                | (~Q(status_reason="") & Q(accepted_until__isnull=False)),
                name="%(class)s_accepted_risk_with_reason_and_expiry",
            ),
            models.CheckConstraint(
                condition=Q(
                    status=FindingStatus.RESOLVED, resolved_at__isnull=False, resolved_by_run__isnull=False
                )
                | (~Q(status=FindingStatus.RESOLVED) & Q(resolved_at__isnull=True)),
                name="%(class)s_resolved_by_a_run",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.object_type} {self.object_id} ({self.status})"


class BusinessFinding(Finding):
    """A finding of a business rule (schema compliance): the MSO and the PC may read it."""

    side = Side.BUSINESS
    access: ClassVar[AccessPolicy] = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="pc")

    class Meta(Finding.Meta):
        indexes = [
            models.Index(fields=["tenant", "rule_id", "status"], name="business_finding_rule"),
            models.Index(fields=["tenant", "status", "severity"], name="business_finding_open"),
        ]


class ClinicalFinding(Finding):
    """A finding of a clinical rule (schema clinical): only a clinical capacity may read it."""

    side = Side.CLINICAL
    access: ClassVar[AccessPolicy] = AccessPolicy(side=Side.CLINICAL, scope_model="pc", scope_path="pc")

    class Meta(Finding.Meta):
        db_table = "compliance_finding"
        indexes = [
            models.Index(fields=["tenant", "rule_id", "status"], name="clinical_finding_rule"),
            models.Index(fields=["tenant", "status", "severity"], name="clinical_finding_open"),
        ]


FINDING_MODELS: dict[Side, type[Finding]] = {Side.BUSINESS: BusinessFinding, Side.CLINICAL: ClinicalFinding}

from compliance.attestations import Attestation  # noqa: E402, F401
from compliance.notifications import SentNotification  # noqa: E402, F401
