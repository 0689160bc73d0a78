"""API of the compliance engine: findings of each side, audit runs, rule settings and the catalogue.

Scoping and permissions live in the base viewset (tenants.api.viewsets): business findings for the
capacities that may read business records of their PC, clinical findings for clinical keys only
(a business key gets 404 before any query reaches the clinical table), runs for every key. Every
clinical finding a response shows is logged as read, in one insert per response.

What a person decides about a finding is a PATCH of its ``status`` (acknowledged, accepted_risk or
open), handed to the service of that decision; a refusal is a 400 with the service's message and
nothing written. A run is requested with a POST; the ``Idempotency-Key`` header names the request,
so sending it again returns the run it already queued instead of queueing another.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from clinical.selectors.charts import logging_reads
from compliance import services
from compliance.api.serializers import (
    AuditRunSerializer,
    BusinessFindingSerializer,
    ClinicalFindingSerializer,
    RuleSerializer,
    RuleSettingSerializer,
)
from compliance.filters import AuditRunFilter, FindingFilter, RuleSettingFilter
from compliance.models import AuditRun, BusinessFinding, ClinicalFinding, Finding, FindingStatus, RuleSetting
from compliance.views import _support as support
from tenants.api.viewsets import (
    NOT_FOUND,
    ReadCreateTenantViewSet,
    TenantContextMixin,
    TenantScopedViewSet,
)
from tenants.capacities import VIEW

F = TypeVar("F", bound=Finding)

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Service field names that the API calls otherwise.
API_FIELD_NAMES = {"until": "accepted_until"}


def as_api_error(exc: ValidationError) -> ValidationError:
    """The service's refusal with the field names of this API."""
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError({API_FIELD_NAMES.get(k, k): v for k, v in exc.error_dict.items()})


class PatchMixin:
    """PATCH only (no PUT): a client changes what it may change, the rest of the row is not its own."""

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()  # type: ignore[attr-defined]
        serializer = self.get_serializer(instance, data=request.data, partial=True)  # type: ignore[attr-defined]
        serializer.is_valid(raise_exception=True)
        self.perform_update(serializer)  # type: ignore[attr-defined]
        return Response(serializer.data)


# --- findings --------------------------------------------------------------------------------------


class FindingViewSet(PatchMixin, TenantScopedViewSet[F], mixins.ListModelMixin, mixins.RetrieveModelMixin):
    http_method_names = ["get", "patch", "head", "options"]
    filterset_class = FindingFilter
    ordering_fields = ["last_seen_at", "first_seen_at", "severity", "status", "rule_id"]

    def update_object(self, obj: F, data: dict[str, Any]) -> F:
        ctx, status, reason = self.access, data["status"], data.get("reason", "")
        try:
            if status == FindingStatus.ACKNOWLEDGED:
                return services.finding_acknowledge(ctx=ctx, finding=obj, reason=reason)
            if status == FindingStatus.ACCEPTED_RISK:
                return services.finding_accept_risk(
                    ctx=ctx,
                    finding=obj,
                    reason=reason,
                    until=data.get("accepted_until"),  # type: ignore[arg-type]
                )
            return services.finding_reopen(ctx=ctx, finding=obj, reason=reason)
        except ValidationError as exc:
            raise as_api_error(exc) from None


class BusinessFindingViewSet(FindingViewSet[BusinessFinding]):
    """Findings of the business rules about the PCs the key may see.

    PATCH decides about one: ``{"status": "acknowledged", "reason": "…"}``, ``{"status":
    "accepted_risk", "reason": "…", "accepted_until": "YYYY-MM-DD"}`` or ``{"status": "open"}``.
    """

    queryset = BusinessFinding.objects.select_related("pc", "location", "status_by")
    serializer_class = BusinessFindingSerializer


class ClinicalFindingViewSet(FindingViewSet[ClinicalFinding]):
    """Findings of the clinical rules: clinical keys only; every finding returned is logged as read.
    Business keys learn their counts by severity from the audit runs (``counts``).
    """

    queryset = ClinicalFinding.objects.select_related("pc", "location", "status_by")
    serializer_class = ClinicalFindingSerializer

    def scope(self, base: QuerySet[ClinicalFinding], action: str) -> QuerySet[ClinicalFinding]:
        # The rows a response fetches are logged as read when they are fetched (one insert).
        return logging_reads(super().scope(base, action), self.access)


# --- audit runs ------------------------------------------------------------------------------------


class AuditRunViewSet(ReadCreateTenantViewSet[AuditRun]):
    """Audit runs of the tenant with their progress (``rules_done``/``rules_total``, ``counts``).

    POST queues an on-demand run, executed once the request commits; poll the run for its progress.
    """

    queryset = AuditRun.objects.select_related("requested_by")
    serializer_class = AuditRunSerializer
    filterset_class = AuditRunFilter
    ordering_fields = ["created_at", "finished_at", "status"]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description=(
                    "Names the request (at most 150 characters): the same key returns the run it "
                    "already queued instead of a second run."
                ),
            )
        ]
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    def create_object(self, data: dict[str, Any]) -> AuditRun:
        return services.audit_request(
            ctx=self.access,
            pcs=data.get("pcs"),
            rule_ids=data.get("rule_ids"),
            idempotency_key=self.request.headers.get(IDEMPOTENCY_HEADER, ""),
        )


# --- rule settings and the catalogue ---------------------------------------------------------------


class RuleSettingViewSet(
    PatchMixin,
    TenantScopedViewSet[RuleSetting],
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
):
    """The tenant's settings of its rules: POST one for a rule that has none yet, PATCH it after.

    Every key reads them. Who may write one depends on the rule (``services.may_tune``): business rules
    by the MSO's tenant-wide writers, clinical rules by a PC physician; anyone else gets 404.
    """

    queryset = RuleSetting.objects.select_related("updated_by")
    serializer_class = RuleSettingSerializer
    filterset_class = RuleSettingFilter
    ordering_fields = ["rule_id", "updated_at"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    # Rule settings are tenant-wide business rows, but the writer depends on the rule: a PC physician
    # sets the clinical rules' policy (CPOM). The capacity table is asked for reads; for writes, whether
    # the capacity may tune some rule, and the service then decides on the rule itself.

    def may_act(self, action: str) -> bool:
        if action == VIEW:
            return super().may_act(action)
        return support.may_tune_any(self.access)

    def scope(self, base: QuerySet[RuleSetting], action: str) -> QuerySet[RuleSetting]:
        if action == VIEW:
            return super().scope(base, action)
        return base.filter(tenant=self.access.tenant) if self.may_act(action) else base.none()

    def check_still_visible(self, obj: RuleSetting, action: str) -> None:
        if not self.scope(RuleSetting.objects.all(), action).filter(pk=obj.pk).exists():
            raise exceptions.NotFound(NOT_FOUND)

    def create_object(self, data: dict[str, Any]) -> RuleSetting:
        rule_id = data["rule_id"]
        existing = RuleSetting.objects.filter(tenant=self.access.tenant, rule_id=rule_id).first()
        if existing is not None:
            change = f"PATCH /api/v1/rule-settings/{existing.pk}/"
            raise ValidationError({"rule_id": f"{rule_id} already has a setting here: {change}."})
        return services.rule_setting_update(
            ctx=self.access, rule_id=rule_id, enabled=data.get("enabled"), thresholds=data.get("thresholds")
        )

    def update_object(self, obj: RuleSetting, data: dict[str, Any]) -> RuleSetting:
        if data.get("rule_id", obj.rule_id) != obj.rule_id:
            raise ValidationError({"rule_id": "A setting stays with its rule; POST a setting for the other."})
        return services.rule_setting_update(
            ctx=self.access,
            rule_id=obj.rule_id,
            enabled=data.get("enabled"),
            thresholds=data.get("thresholds"),
        )


class RuleCatalogueView(TenantContextMixin, GenericAPIView[Any]):
    """Every rule: id, title, severity, side, states, citation, statement, and its thresholds with the
    declared default and bounds next to this tenant's value. Read by every key; paged like every list
    (an out-of-range page is a 404). The rules are the registry's, not rows: nothing to filter or order."""

    serializer_class = RuleSerializer
    filter_backends: list[Any] = []

    @extend_schema(responses=RuleSerializer(many=True))
    def get(self, request: Request) -> Response:
        ctx = self.access
        settings = support.settings_by_rule(ctx)
        rows = []
        for rule in support.all_rules():
            setting = settings.get(rule.id)
            rows.append(
                {
                    "id": rule.id,
                    "title": rule.title,
                    "severity": rule.severity.value,
                    "side": rule.side.value,
                    "states": list(rule.states),
                    "citation": rule.citation,
                    "statement": rule.statement,
                    "critical": not rule.may_be_disabled,
                    "enabled": support.is_enabled(rule, setting),
                    "may_tune": support.tunable(ctx, rule),
                    "setting": setting.pk if setting is not None else None,
                    "thresholds": support.threshold_rows(rule, setting),
                }
            )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(RuleSerializer(page, many=True).data)
