"""Representations of the compliance API: findings (and what a person decides about one), audit runs
(and a request for one), the tenant's rule settings and the rule catalogue.

Serializers only collect and shape input; ``compliance.services`` validates it against the tenant and
writes. Every field a client may not set is read-only, so a body that names one changes nothing.
"""

from __future__ import annotations

from typing import Any, TypeVar

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from compliance.models import (
    RULE_ID_LENGTH,
    SEVERITY_CHOICES,
    AuditRun,
    BusinessFinding,
    ClinicalFinding,
    Finding,
    FindingStatus,
    RuleSetting,
)
from compliance.services import REASON_MAX
from compliance.views import _support as support
from management.models import ProfessionalCorporation
from tenants.api.fields import ScopedPrimaryKeyRelatedField

F = TypeVar("F", bound=Finding)
THRESHOLD_VALUE_MAX = 40
# Plain text, as the API keys' "scope": the same two values under a second enum name would be a warning.
SIDE_HELP = "business or clinical: who may read the rule's findings."

# --- findings --------------------------------------------------------------------------------------

FINDING_FIELDS = [
    "id",
    "rule_id",
    "rule_title",
    "citation",
    "severity",
    "status",
    "object_type",
    "object_id",
    "discriminator",
    "pc",
    "pc_name",
    "location",
    "location_name",
    "evidence",
    "first_seen_at",
    "first_seen_run",
    "last_seen_at",
    "last_seen_run",
    "resolved_at",
    "resolved_by_run",
    "status_reason",
    "status_by",
    "status_at",
    "accepted_until",
    "reason",
]
# What a client sends to decide about a finding; everything else is the engine's.
FINDING_WRITABLE = {"status", "reason", "accepted_until"}


class FindingSerializer(serializers.ModelSerializer[F]):
    """A finding, and (PATCH) a decision about it: ``status`` acknowledged (with ``reason``),
    accepted_risk (with ``reason`` and ``accepted_until``) or open (reopen; ``reason`` optional)."""

    rule_title = serializers.SerializerMethodField(help_text="The rule's title ('' if withdrawn).")
    citation = serializers.SerializerMethodField(help_text="The law or standard the rule reads.")
    status = serializers.ChoiceField(
        choices=FindingStatus.choices,
        help_text="PATCH: acknowledged, accepted_risk or open. Only an audit run resolves a finding.",
        error_messages={"invalid_choice": "One of: acknowledged, accepted_risk, open."},
    )
    reason = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=REASON_MAX,
        help_text="Why: required to acknowledge or accept a risk, optional to reopen.",
    )
    accepted_until = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="With status accepted_risk: the last day of the acceptance (after today, within a year).",
    )
    pc_name = serializers.CharField(source="pc.legal_name", read_only=True, allow_null=True)
    location_name = serializers.CharField(source="location.name", read_only=True, allow_null=True)
    status_by = serializers.EmailField(
        source="status_by.email", read_only=True, allow_null=True, help_text="Who set the status by hand."
    )

    class Meta:
        model: type[Finding] = BusinessFinding
        fields = FINDING_FIELDS
        read_only_fields = [f for f in FINDING_FIELDS if f not in FINDING_WRITABLE]

    def get_rule_title(self, obj: Finding) -> str:
        rule = support.rule_of(obj.rule_id)
        return rule.title if rule is not None else ""

    def get_citation(self, obj: Finding) -> str:
        rule = support.rule_of(obj.rule_id)
        return rule.citation if rule is not None else ""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        status = attrs.get("status")
        if status is None:
            raise serializers.ValidationError(
                {"status": "Say what to do: acknowledged, accepted_risk or open (reopen)."}
            )
        if status == FindingStatus.RESOLVED:
            raise serializers.ValidationError(
                {"status": "A finding is resolved by the audit run that no longer sees it, not by hand."}
            )
        if attrs.get("accepted_until") is not None and status != FindingStatus.ACCEPTED_RISK:
            raise serializers.ValidationError(
                {"accepted_until": "A date goes with status accepted_risk only."}
            )
        return attrs


class BusinessFindingSerializer(FindingSerializer[BusinessFinding]):
    class Meta(FindingSerializer.Meta):
        model = BusinessFinding


class ClinicalFindingSerializer(FindingSerializer[ClinicalFinding]):
    class Meta(FindingSerializer.Meta):
        model = ClinicalFinding


# --- audit runs ------------------------------------------------------------------------------------

RUN_FIELDS = [
    "id",
    "trigger",
    "status",
    "as_of",
    "pcs",
    "pc_ids",
    "rule_ids",
    "rules_total",
    "rules_done",
    "percent",
    "counts",
    "stats",
    "created_at",
    "started_at",
    "finished_at",
    "requested_by",
    "change_label",
    "attempts",
    "error",
]


class AuditRunSerializer(serializers.ModelSerializer[AuditRun]):
    """An audit run and its progress; POST requests one (of every PC, or of ``pcs``; of every rule the
    tenant has switched on, or of ``rule_ids``)."""

    pcs = ScopedPrimaryKeyRelatedField(
        queryset=ProfessionalCorporation.objects.all(),
        many=True,
        required=False,
        write_only=True,
        help_text="PCs to audit; leave out for every PC (a key limited to some PCs must name them).",
    )
    pc_ids = serializers.ListField(
        child=serializers.UUIDField(),
        read_only=True,
        allow_null=True,
        help_text="The PCs the run audits; null for every PC.",
    )
    rule_ids = serializers.ListField(
        child=serializers.CharField(max_length=RULE_ID_LENGTH),
        required=False,
        help_text='Rules to evaluate, e.g. ["FEE-001"]; leave out for every rule switched on.',
    )
    percent = serializers.IntegerField(read_only=True)
    requested_by = serializers.EmailField(
        source="requested_by.email", read_only=True, allow_null=True, help_text="Null for a scheduled run."
    )
    counts = serializers.JSONField(
        read_only=True,
        help_text=(
            "Unresolved findings per side, status and severity, e.g. "
            '{"clinical": {"at": "…", "open": {"critical": 2}}}: the clinical side as counts only.'
        ),
    )
    stats = serializers.JSONField(read_only=True, help_text="Per rule: time taken and what it saw.")

    class Meta:
        model = AuditRun
        fields = RUN_FIELDS
        read_only_fields = [f for f in RUN_FIELDS if f not in {"pcs", "rule_ids"}]


# --- rules and the tenant's settings ----------------------------------------------------------------


class ThresholdSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(read_only=True)
    unit = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    default = serializers.CharField(read_only=True, help_text="The declared default (a decimal).")
    minimum = serializers.CharField(read_only=True)
    maximum = serializers.CharField(read_only=True)
    value = serializers.CharField(read_only=True, help_text="What an audit uses now.")
    tenant_value = serializers.CharField(
        read_only=True, allow_null=True, help_text="What this tenant set; null: it keeps the default."
    )


def rule_id_choices() -> list[tuple[str, str]]:
    return [(r.id, r.title) for r in support.all_rules()]


class RuleSettingSerializer(serializers.ModelSerializer[RuleSetting]):
    """This tenant's choice for one rule: on or off (a critical rule stays on), thresholds tuned."""

    rule_id = serializers.ChoiceField(
        choices=[],
        help_text="The rule (fixed once the setting exists).",
        # Never the value sent: a refusal need not reflect its input (which may not even be text).
        error_messages={"invalid_choice": "Not a rule of the catalogue (GET rule-settings/catalogue/)."},
    )
    title = serializers.SerializerMethodField()
    side = serializers.SerializerMethodField()
    enabled = serializers.BooleanField(required=False, help_text="false switches the rule off.")
    thresholds = serializers.DictField(
        child=serializers.CharField(allow_null=True, max_length=THRESHOLD_VALUE_MAX),
        required=False,
        help_text="{name: number} within each threshold's bounds; null puts one back to its default.",
    )
    values = serializers.SerializerMethodField(help_text="Every threshold with its default and bounds.")
    updated_by = serializers.EmailField(source="updated_by.email", read_only=True, allow_null=True)

    class Meta:
        model = RuleSetting
        fields = [
            "id",
            "rule_id",
            "title",
            "side",
            "critical",
            "enabled",
            "thresholds",
            "values",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = ["id", "critical", "updated_at"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["rule_id"]
        assert isinstance(field, serializers.ChoiceField)
        field.choices = rule_id_choices()

    def get_title(self, obj: RuleSetting) -> str:
        rule = support.rule_of(obj.rule_id)
        return rule.title if rule is not None else ""

    @extend_schema_field(serializers.CharField(allow_null=True, help_text=SIDE_HELP))
    def get_side(self, obj: RuleSetting) -> str | None:
        rule = support.rule_of(obj.rule_id)
        return rule.side.value if rule is not None else None

    @extend_schema_field(ThresholdSerializer(many=True))
    def get_values(self, obj: RuleSetting) -> list[dict[str, Any]]:
        rule = support.rule_of(obj.rule_id)
        if rule is None:
            return []
        return [ThresholdSerializer(t).data for t in support.threshold_rows(rule, obj)]


class RuleSerializer(serializers.Serializer[Any]):
    """One rule of the catalogue with this tenant's setting for it."""

    id = serializers.CharField(read_only=True)
    title = serializers.CharField(read_only=True)
    severity = serializers.ChoiceField(choices=SEVERITY_CHOICES, read_only=True)
    side = serializers.CharField(read_only=True, help_text=SIDE_HELP)
    states = serializers.ListField(child=serializers.CharField(), read_only=True)
    citation = serializers.CharField(read_only=True)
    statement = serializers.CharField(read_only=True)
    critical = serializers.BooleanField(read_only=True, help_text="A critical rule cannot be switched off.")
    enabled = serializers.BooleanField(read_only=True, help_text="Whether audits of this tenant run it.")
    may_tune = serializers.BooleanField(
        read_only=True, help_text="Whether this key may switch the rule or tune a threshold of it."
    )
    setting = serializers.UUIDField(
        read_only=True, allow_null=True, help_text="The tenant's rule setting (null: none yet, POST one)."
    )
    thresholds = ThresholdSerializer(many=True, read_only=True)
