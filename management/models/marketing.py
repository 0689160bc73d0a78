"""Content the MSO drafts and a PC physician must approve: marketing assets and consent-form drafts.

The approval binds to content (DESIGN.md): PostgreSQL computes ``content_hash`` from the content
columns on every write, only the clinical role may write the decision columns, and a row can only
be published while its decision is an approval of the very hash it has now. See
``mso_platform/db/boundary.py`` (REVIEWED_CONTENT) for the trigger; the physician's decision
itself, with a snapshot of what was decided on, is a clinical record (``clinical.PhysicianDecision``).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from management.models.parties import Location, ProfessionalCorporation
from management.procedures import Procedure
from mso_platform.db import boundary
from tenants.capacities import Side
from tenants.models import AccessPolicy, TenantOwnedModel, User


class DatabaseComputedCharField(models.CharField):
    """A column the database fills (a trigger); read back with RETURNING on insert."""

    db_returning = True


class ReviewState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted for physician review"
    PUBLISHED = "published", "Published"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Decision(models.TextChoices):
    PENDING = "pending", "Awaiting a decision"
    APPROVED = "approved", "Approved"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    REJECTED = "rejected", "Rejected"


# Columns only a physician's decision (the clinical role) may write; the database enforces it.
DECISION_FIELDS = ("decision", "decision_hash", "decision_note", "decided_at", "decided_by")
assert {f"{f}_id" if f == "decided_by" else f for f in DECISION_FIELDS} == set(boundary.DECISION_COLUMNS)


class PhysicianReviewed(TenantOwnedModel):
    """Drafted by the MSO, decided by a physician of ``pc`` with ``approve_marketing`` on it."""

    # Names of the columns whose values make up the content an approval binds to.
    CONTENT_FIELDS: ClassVar[tuple[str, ...]] = ()

    pc = models.ForeignKey(ProfessionalCorporation, on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    body = models.TextField(max_length=20_000)
    state = models.CharField(max_length=12, choices=ReviewState.choices, default=ReviewState.DRAFT)
    content_hash = DatabaseComputedCharField(max_length=64, editable=False, default="", blank=True)
    revision = models.PositiveIntegerField(default=1, editable=False)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    submitted_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The physician's latest decision, mirrored from clinical.PhysicianDecision (clinical role only).
    decision = models.CharField(max_length=20, choices=Decision.choices, default=Decision.PENDING)
    decision_hash = models.CharField(max_length=64, blank=True, default="")
    decision_note = models.TextField(blank=True, default="", max_length=4000)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    access = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="pc")

    class Meta:
        abstract = True

    @property
    def decision_is_current(self) -> bool:
        """The decision was taken on exactly the content the row has now."""
        return bool(self.decision_hash) and self.decision_hash == self.content_hash

    @property
    def is_approved(self) -> bool:
        return self.decision == Decision.APPROVED and self.decision_is_current

    @property
    def awaiting_decision(self) -> bool:
        return self.state == ReviewState.SUBMITTED and not self.decision_is_current

    @property
    def review_status(self) -> str:
        """What a person should read: the decision if it still applies, else where the item is."""
        if self.state == ReviewState.PUBLISHED:
            return "Published"
        if self.decision_is_current:
            return str(Decision(self.decision).label)
        if self.state == ReviewState.SUBMITTED:
            return "Awaiting physician review" + (
                " (changed since the last decision)" if self.decision_hash else ""
            )
        return str(ReviewState(self.state).label)


class MarketingAsset(PhysicianReviewed):
    class Channel(models.TextChoices):
        INSTAGRAM = "instagram", "Instagram"
        FACEBOOK = "facebook", "Facebook"
        WEBSITE = "website", "Website"
        EMAIL = "email", "Email"
        GOOGLE_ADS = "google_ads", "Google Ads"
        PRINT = "print", "Print"

    CONTENT_FIELDS = boundary.REVIEWED_CONTENT["marketing_asset"]

    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    brand_name = models.CharField(max_length=200, help_text="The name the ad uses (ADV-004).")
    is_testimonial = models.BooleanField(default=False)
    testimonial_disclosure = models.CharField(max_length=500, blank=True)
    # Digest of the asset's images (kept by the service), so image changes also void an approval.
    images_digest = models.CharField(max_length=64, blank=True, default="", editable=False)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title


class MarketingImage(TenantOwnedModel):
    """An image of an asset, described by the flags ADV-003 reads (the file stays with the agency)."""

    class Kind(models.TextChoices):
        BEFORE_AFTER_PATIENT = "before_after_patient", "Before/after of a real patient"
        BEFORE_AFTER_MODEL = "before_after_model", "Before/after of a model"
        STOCK = "stock", "Stock or brand image"

    asset = models.ForeignKey(MarketingAsset, on_delete=models.CASCADE, related_name="images")
    description = models.CharField(max_length=300)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    altered = models.BooleanField(default=False)
    labelled_as_model = models.BooleanField(default=False)
    procedures_shown = models.CharField(max_length=300, blank=True)
    # Whose photo it is; the written authorization itself is a clinical record (CON-002).
    client = models.ForeignKey(
        "management.Client", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    access = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="asset__pc")

    class Meta:
        ordering = ["description"]

    def __str__(self) -> str:
        return self.description


class ConsentFormDraft(PhysicianReviewed):
    """The text of a consent form for one procedure; approved drafts become numbered clinical versions."""

    CONTENT_FIELDS = boundary.REVIEWED_CONTENT["consent_form_draft"]

    procedure = models.CharField(max_length=30, choices=Procedure.choices)

    class Meta:
        ordering = ["procedure", "-updated_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_procedure_display()})"
