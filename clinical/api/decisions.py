"""API of physician decisions and the consent-form versions they approve (clinical keys only).

``POST /physician-decisions/`` is a PC physician deciding on one submitted marketing asset or
consent-form draft (clinical.services.decisions.decide): business keys get 404 from the base
viewset, a clinical key without ``approve_marketing`` on the item's PC gets 404 from the service,
and a refusal on the merits (own submission, not submitted, already decided) is a 400 saying why.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from rest_framework import serializers

from clinical.filters.decisions import ConsentFormVersionFilter, PhysicianDecisionFilter
from clinical.models import ConsentFormVersion, PhysicianDecision
from clinical.services.decisions import DECISION_CHOICES, decide
from management.api.marketing import PersonSerializer
from management.models import ConsentFormDraft, MarketingAsset
from tenants.api.fields import ScopedPrimaryKeyRelatedField
from tenants.api.viewsets import ReadCreateTenantViewSet, ReadOnlyTenantViewSet

NOTE_MAX_LENGTH = 4000


class PhysicianDecisionSerializer(serializers.ModelSerializer[PhysicianDecision]):
    marketing_asset = ScopedPrimaryKeyRelatedField(
        queryset=MarketingAsset.objects.all(),
        required=False,
        allow_null=True,
        help_text="The asset decided on (give this or consent_form_draft).",
    )
    consent_form_draft = ScopedPrimaryKeyRelatedField(
        queryset=ConsentFormDraft.objects.all(),
        required=False,
        allow_null=True,
        help_text="The consent-form draft decided on (give this or marketing_asset).",
    )
    decision = serializers.ChoiceField(choices=DECISION_CHOICES)
    note = serializers.CharField(
        max_length=NOTE_MAX_LENGTH,
        allow_blank=True,
        required=False,
        default="",
        help_text="Required when requesting changes or rejecting: what must change, or why.",
    )
    decided_by = PersonSerializer(read_only=True)
    consent_form_version = serializers.SerializerMethodField(
        help_text="The consent-form version an approval of a draft created, else null."
    )

    class Meta:
        model = PhysicianDecision
        fields = [
            "id",
            "pc",
            "marketing_asset",
            "consent_form_draft",
            "decision",
            "note",
            "content_hash",
            "revision",
            "snapshot",
            "decided_by",
            "decided_at",
            "consent_form_version",
        ]
        read_only_fields = ["id", "pc", "content_hash", "revision", "snapshot", "decided_at"]

    def get_consent_form_version(self, obj: PhysicianDecision) -> str | None:
        try:
            return str(obj.version.pk)  # select_related("version") by the viewset: no query per row
        except ObjectDoesNotExist:
            return None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        items = [attrs.get("marketing_asset"), attrs.get("consent_form_draft")]
        if sum(item is not None for item in items) != 1:
            raise serializers.ValidationError(
                {"non_field_errors": ["Name exactly one item: marketing_asset or consent_form_draft."]}
            )
        return attrs


class ConsentFormVersionSerializer(serializers.ModelSerializer[ConsentFormVersion]):
    approved_by = PersonSerializer(read_only=True)
    is_current = serializers.BooleanField(read_only=True, help_text="Not superseded by a later version.")

    class Meta:
        model = ConsentFormVersion
        fields = [
            "id",
            "pc",
            "procedure",
            "number",
            "title",
            "body",
            "content_hash",
            "draft",
            "decision",
            "approved_by",
            "approved_at",
            "superseded_at",
            "is_current",
        ]
        read_only_fields = fields


class PhysicianDecisionViewSet(ReadCreateTenantViewSet[PhysicianDecision]):
    """Decisions of the PCs' physicians on MSO-drafted content, each with the hash and a snapshot of
    exactly what was decided on. POST records a new decision (PC physicians with approval rights)."""

    queryset = PhysicianDecision.objects.select_related("decided_by", "version")
    serializer_class = PhysicianDecisionSerializer
    filterset_class = PhysicianDecisionFilter
    ordering_fields = ["decided_at", "decision"]

    def create_object(self, data: dict[str, Any]) -> PhysicianDecision:
        item = data.get("marketing_asset") or data.get("consent_form_draft")
        assert item is not None  # validate() requires one
        record = decide(ctx=self.access, item=item, decision=data["decision"], note=data.get("note", ""))
        return self.base_queryset().get(pk=record.pk)  # with its version, as a GET shows it


class ConsentFormVersionViewSet(ReadOnlyTenantViewSet[ConsentFormVersion]):
    """Approved consent forms, numbered per PC and procedure; patients sign exactly one version."""

    queryset = ConsentFormVersion.objects.select_related("approved_by")
    serializer_class = ConsentFormVersionSerializer
    filterset_class = ConsentFormVersionFilter
    ordering_fields = ["procedure", "number", "approved_at"]
