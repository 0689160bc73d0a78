"""API of protocols / standardized procedures (with their signatures) and of the procedure scope table.

``POST /protocols/<id>/sign/`` signs as whoever the key's membership is in the protocol: its
supervising physician or one of its supervisees. The scope table is read by every clinical key and
written by PC physicians' keys only (others get the 404 of a capacity that may not).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from clinical import selectors, services
from clinical.api.charts import keep, procedures_field, scoped
from clinical.filters import ProcedureScopeRuleFilter, ProtocolFilter, ProtocolSuperviseeFilter
from clinical.models import ProcedureScopeRule, Protocol, ProtocolSupervisee
from clinical.selectors import protocols as pq
from clinical.services import protocols as pservices
from clinical.services.scope import EDITOR_CAPACITY
from management.models import ProfessionalCorporation, Provider
from tenants.api.viewsets import ReadOnlyTenantViewSet, ReadWriteTenantViewSet
from tenants.capacities import CHANGE, VIEW


class SignatureSerializer(serializers.ModelSerializer[ProtocolSupervisee]):
    provider_name = serializers.CharField(source="provider.full_name", read_only=True)

    class Meta:
        model = ProtocolSupervisee
        fields = ["id", "provider", "provider_name", "signed_at"]
        read_only_fields = fields


class ProtocolSerializer(serializers.ModelSerializer[Protocol]):
    pc = scoped(ProfessionalCorporation)
    supervisor = scoped(Provider)
    procedures = procedures_field(allow_empty=False)
    supervisees = scoped(Provider, many=True, required=False, write_only=True)
    signatures = SignatureSerializer(source="supervisees", many=True, read_only=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = Protocol
        fields = [
            "id",
            "pc",
            "kind",
            "title",
            "supervisor",
            "procedures",
            "body",
            "effective_on",
            "expires_on",
            "reviewed_on",
            "covers_patient_selection",
            "covers_education_and_consent",
            "covers_topical_agents",
            "covers_complications",
            "covers_supervision_and_training",
            "supervisees",
            "signatures",
            "supervisor_signed_at",
            "status",
        ]
        read_only_fields = ["id", "supervisor_signed_at"]

    @extend_schema_field(serializers.ChoiceField(choices=pq.STATUS_CHOICES))
    def get_status(self, obj: Protocol) -> str:
        return pq.protocol_status(obj)


class ProtocolSigningSerializer(ProtocolSerializer):
    """A protocol seen by someone about to sign it: as whom they sign, and whether they already did."""

    you_sign_as = serializers.SerializerMethodField()
    you_signed_at = serializers.SerializerMethodField()

    class Meta(ProtocolSerializer.Meta):
        fields = [*ProtocolSerializer.Meta.fields, "you_sign_as", "you_signed_at"]

    def role(self, obj: Protocol) -> tuple[str | None, Any]:
        roles: dict[Any, Any] = self.context["roles"]
        if obj.pk not in roles:
            ctx = self.context["ctx"]
            if pservices.may_sign_as_supervisor(ctx, obj):
                roles[obj.pk] = ("supervisor", obj.supervisor_signed_at)
            else:
                row = pservices.own_supervisee_row(ctx, obj)
                roles[obj.pk] = ("supervisee", row.signed_at) if row is not None else (None, None)
        found: tuple[str | None, Any] = roles[obj.pk]
        return found

    @extend_schema_field(serializers.ChoiceField(choices=["supervisor", "supervisee"], allow_null=True))
    def get_you_sign_as(self, obj: Protocol) -> str | None:
        return self.role(obj)[0]

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_you_signed_at(self, obj: Protocol) -> Any:
        return self.role(obj)[1]


class ProtocolSuperviseeSerializer(serializers.ModelSerializer[ProtocolSupervisee]):
    class Meta:
        model = ProtocolSupervisee
        fields = ["id", "protocol", "provider", "signed_at"]
        read_only_fields = fields


class ProcedureScopeRuleSerializer(serializers.ModelSerializer[ProcedureScopeRule]):
    class Meta:
        model = ProcedureScopeRule
        fields = [
            "id",
            "state",
            "procedure",
            "license_type",
            "allowed",
            "supervision",
            "requires_good_faith_exam",
            "citation",
            "note",
        ]
        read_only_fields = ["id"]
        # The service reports a duplicate with its own message (the model's unique constraint).
        validators: list[Any] = []


def protocols_with_signatures() -> QuerySet[Protocol]:
    return pq.protocols().prefetch_related(
        Prefetch("supervisees", queryset=ProtocolSupervisee.objects.select_related("provider"))
    )


class ProtocolViewSet(ReadWriteTenantViewSet[Protocol]):
    """Protocols / standardized procedures of the key's PCs, with who has signed them."""

    queryset = protocols_with_signatures()
    serializer_class = ProtocolSerializer
    filterset_class = ProtocolFilter
    ordering_fields = ["effective_on", "expires_on", "title"]
    extra_actions = {"sign": CHANGE}

    def create_object(self, data: dict[str, Any]) -> Protocol:
        return services.protocol_create(ctx=self.access, **data)

    def update_object(self, obj: Protocol, data: dict[str, Any]) -> Protocol:
        keep(obj, data, "pc", "A protocol stays with its PC.")
        return services.protocol_update(ctx=self.access, protocol=obj, **data)

    def reloaded(self, obj: Protocol) -> Protocol:
        # Read back with the signature counts and signatures the representation shows.
        return selectors.get_in(protocols_with_signatures(), self.access, obj.pk, VIEW)

    def perform_create(self, serializer: BaseSerializer[Protocol]) -> None:
        super().perform_create(serializer)
        assert serializer.instance is not None
        serializer.instance = self.reloaded(serializer.instance)

    def perform_update(self, serializer: BaseSerializer[Protocol]) -> None:
        super().perform_update(serializer)
        assert serializer.instance is not None
        serializer.instance = self.reloaded(serializer.instance)

    @extend_schema(methods=["GET"], responses=ProtocolSigningSerializer)
    @extend_schema(methods=["POST"], request=None, responses=ProtocolSigningSerializer)
    @action(detail=True, methods=["get", "post"], serializer_class=ProtocolSigningSerializer)
    def sign(self, request: Request, pk: str | None = None) -> Response:
        """GET: the protocol as it would be signed, and as whom the key's membership signs it.
        POST: sign it, as the supervising physician or as a supervisee (for yourself only)."""
        protocol = self.get_object()
        if request.method == "POST":
            protocol = services.protocol_sign(ctx=self.access, protocol=protocol)
        protocol = self.reloaded(protocol)
        return Response(ProtocolSigningSerializer(protocol, context={"ctx": self.access, "roles": {}}).data)


class ProtocolSuperviseeViewSet(ReadOnlyTenantViewSet[ProtocolSupervisee]):
    """Who works under each protocol and when they signed it (written through /protocols/)."""

    queryset = ProtocolSupervisee.objects.select_related("protocol", "provider")
    serializer_class = ProtocolSuperviseeSerializer
    filterset_class = ProtocolSuperviseeFilter
    ordering_fields = ["signed_at"]


class ProcedureScopeRuleViewSet(ReadWriteTenantViewSet[ProcedureScopeRule]):
    """The tenant's per-state scope table (DEL-001): clinical keys read it, PC physicians' keys write it."""

    queryset = ProcedureScopeRule.objects.all()
    serializer_class = ProcedureScopeRuleSerializer
    filterset_class = ProcedureScopeRuleFilter
    ordering_fields = ["state", "procedure", "license_type"]

    def may_act(self, action: str) -> bool:
        if action != VIEW and self.access.capacity.code != EDITOR_CAPACITY:
            return False
        return super().may_act(action)

    def create_object(self, data: dict[str, Any]) -> ProcedureScopeRule:
        return services.scope_rule_create(ctx=self.access, **data)

    def update_object(self, obj: ProcedureScopeRule, data: dict[str, Any]) -> ProcedureScopeRule:
        return services.scope_rule_update(ctx=self.access, rule=obj, **data)
