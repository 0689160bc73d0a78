"""The key's own identity (/me/) and the membership's API keys."""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from tenants.api.serializers import ApiKeyCreatedSerializer, ApiKeySerializer, MeSerializer
from tenants.api.viewsets import NOT_FOUND, ReadCreateTenantViewSet, TenantContextMixin
from tenants.capacities import CHANGE, VIEW
from tenants.models import ApiKey
from tenants.services import api_key_create, api_key_revoke


class MeView(TenantContextMixin, APIView):
    """Who the key acts as: tenant, capacity and scope."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        ctx = self.access
        key = request.user.key  # type: ignore[union-attr]
        user = ctx.user
        data: dict[str, object] = {
            "tenant": {"id": ctx.tenant.pk, "slug": ctx.tenant.slug, "name": ctx.tenant.name},
            "capacity": {
                "code": ctx.capacity.code,
                "name": ctx.capacity.label,
                "tenant_wide": ctx.capacity.tenant_wide,
                "can_write": not ctx.capacity.read_only,
            },
            "scope": str(ctx.capacity.side),
            "key": {"id": key.pk, "name": key.name, "key_prefix": key.key_prefix},
            "user": {
                "id": user.pk if user else None,
                "email": user.email if user else "",
                "full_name": user.full_name if user else "",
            },
        }
        return Response(MeSerializer(data).data)


class ApiKeyViewSet(ReadCreateTenantViewSet[ApiKey]):
    """The API keys of the membership the calling key acts for (never another member's)."""

    queryset = ApiKey.objects.select_related("membership")
    serializer_class = ApiKeySerializer
    ordering_fields = ["created_at", "name"]
    extra_actions = {"revoke": CHANGE}

    # API keys carry no AccessPolicy (they belong to a membership, not to a PC or location), so the
    # base class's two permission questions are answered here, from the calling membership.

    def may_act(self, action: str) -> bool:
        # A read-only capacity (auditor) lists its keys but neither mints nor revokes them.
        return action == VIEW or not self.access.capacity.read_only

    def scope(self, base: models.QuerySet[ApiKey], action: str) -> models.QuerySet[ApiKey]:
        membership = self.access.membership
        if membership is None or not self.may_act(action):
            return base.none()
        return base.filter(tenant=self.access.tenant, membership=membership)

    def check_still_visible(self, obj: ApiKey, action: str) -> None:
        if not self.scope(ApiKey.objects.all(), action).filter(pk=obj.pk).exists():
            raise exceptions.NotFound(NOT_FOUND)

    def get_serializer_class(self) -> type[BaseSerializer[ApiKey]]:
        return ApiKeyCreatedSerializer if self.action == "create" else ApiKeySerializer

    def create_object(self, data: dict[str, Any]) -> ApiKey:
        key, raw = api_key_create(ctx=self.access, name=data["name"])
        key.raw_key = raw  # type: ignore[attr-defined]  # serialized once in this response, never stored
        return key

    @extend_schema(request=None, responses=ApiKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """Revoke a key at once: later requests with it answer 401."""
        key = api_key_revoke(key=self.get_object())
        return Response(ApiKeySerializer(key, context=self.get_serializer_context()).data)
