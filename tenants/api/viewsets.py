"""Base API viewset: tenant, capacity and object scope are settled here, never in a handler.

Sentry resolves the organization in the endpoint base class and NetBox's ``BaseViewSet.initial()``
maps the HTTP method to an action and restricts the queryset with it. We do both through the one
permission layer (``tenants.access``):

- ``initial()`` (through ``check_permissions()``) refuses, with 404, a capacity that may not attempt
  the action on the model at all, before any query reaches a table its PostgreSQL role cannot read;
- ``get_queryset()`` is ``restrict(base, ctx, action)``, so a PATCH only finds objects the key may
  change and a GET only objects it may view;
- ``get_object()`` answers 404 for malformed ids, other tenants' ids and unpermitted ids alike;
- ``perform_create``/``perform_update`` hand validated data to a service, then re-check inside the
  request transaction that the written object is still inside the key's scope (NetBox).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from django.db import models
from rest_framework import exceptions, mixins, viewsets
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.schemas.inspectors import ViewInspector
from rest_framework.serializers import BaseSerializer

from tenants.access import AccessContext, check_still_visible, may, parse_id, restrict
from tenants.api.parsers import PARSER_CLASSES
from tenants.api.schema import TenantAutoSchema
from tenants.capacities import ADD, CHANGE, DELETE, VIEW

M = TypeVar("M", bound=models.Model)

NOT_FOUND = "No such object."

# HTTP method → permission action (NetBox's HTTP_ACTIONS). Unknown methods map to no action: refused.
HTTP_ACTIONS: dict[str, str] = {
    "GET": VIEW,
    "HEAD": VIEW,
    "OPTIONS": VIEW,
    "POST": ADD,
    "PUT": CHANGE,
    "PATCH": CHANGE,
    "DELETE": DELETE,
}


class TenantContextMixin:
    """Gives views ``self.access``: the AccessContext the API key resolved to (set by authentication)."""

    access: AccessContext
    # Documents the refusals (400/401/404/413/429) next to each operation's success response.
    schema: ViewInspector | None = TenantAutoSchema()
    # DRF's parsers, except that JSON nested too deep is a 400 instead of a RecursionError (500).
    parser_classes: Sequence[type[BaseParser]] = PARSER_CLASSES

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)  # type: ignore[misc]  # HasTenantContext: 401 without a key
        if not isinstance(request.auth, AccessContext):  # already refused above; fail closed anyway
            raise exceptions.NotAuthenticated()
        self.access = request.auth


class TenantScopedViewSet(TenantContextMixin, viewsets.GenericViewSet[M], Generic[M]):
    """Read side of every tenant-scoped endpoint; add the write mixins per endpoint.

    Subclasses set ``queryset`` (the unscoped base, used for the model, the schema and the router's
    basename) and implement ``create_object``/``update_object`` with a service call when writable.
    """

    # Per DRF action, an action other than the HTTP method's (e.g. POST …/revoke/ is a change).
    extra_actions: ClassVar[dict[str, str]] = {}

    def check_permissions(self, request: Request) -> None:
        """Run by DRF's ``initial()`` after authentication, before the handler or any tenant query.

        Maps the HTTP method (or the extra action) to a permission action and answers 404 when the
        capacity may not attempt it on this model. OPTIONS metadata calls it per method as well.
        """
        super().check_permissions(request)
        action = self.action_for(request)
        if action is None or not self.may_act(action):
            # Wrong capacity answers like a missing object: the key learns nothing about the data.
            raise exceptions.NotFound(NOT_FOUND)

    def action_for(self, request: Request) -> str | None:
        return self.extra_actions.get(self.action or "") or HTTP_ACTIONS.get(request.method or "")

    @property
    def access_action(self) -> str:
        # From self.request, so OPTIONS metadata, which clones the request per method, asks truthfully.
        action = self.action_for(self.request)
        assert action is not None, "refused in check_permissions()"
        return action

    # --- the two questions the permission layer answers; overridable for non-policy models -----------

    def may_act(self, action: str) -> bool:
        return may(self.access, self.model, action)

    def scope(self, base: models.QuerySet[M], action: str) -> models.QuerySet[M]:
        return restrict(base, self.access, action)

    def check_still_visible(self, obj: M, action: str) -> None:
        check_still_visible(obj, self.access, action)

    # --- DRF hooks ------------------------------------------------------------------------------------

    def base_queryset(self) -> models.QuerySet[M]:
        declared = getattr(type(self), "queryset", None)  # read off the class: DRF's own pattern
        assert isinstance(declared, models.QuerySet), f"{type(self).__name__} must set queryset"
        return declared.all()

    @property
    def model(self) -> type[M]:
        return self.base_queryset().model

    def get_queryset(self) -> models.QuerySet[M]:
        base = self.base_queryset()
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no tenant
            return base.none()
        return self.scope(base, self.access_action)

    def get_object(self) -> M:
        lookup = self.lookup_url_kwarg or self.lookup_field
        pk = parse_id(self.kwargs.get(lookup))  # "abc", "1;drop" → 404, never a 500 from the cast
        obj = self.get_queryset().filter(pk=pk).first()
        if obj is None:
            raise exceptions.NotFound(NOT_FOUND)
        self.check_object_permissions(self.request, obj)
        return obj

    def options(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if (self.lookup_url_kwarg or self.lookup_field) in kwargs:
            self.get_object()  # OPTIONS on another tenant's or an unpermitted id is a 404 like GET
        return super().options(request, *args, **kwargs)

    def perform_create(self, serializer: BaseSerializer[M]) -> None:
        obj = self.create_object(dict(serializer.validated_data))
        self.check_still_visible(obj, ADD)
        serializer.instance = obj

    def perform_update(self, serializer: BaseSerializer[M]) -> None:
        assert serializer.instance is not None
        obj = self.update_object(serializer.instance, dict(serializer.validated_data))
        self.check_still_visible(obj, CHANGE)
        serializer.instance = obj

    def create_object(self, data: dict[str, Any]) -> M:
        raise exceptions.MethodNotAllowed(self.request.method or "POST")

    def update_object(self, obj: M, data: dict[str, Any]) -> M:
        raise exceptions.MethodNotAllowed(self.request.method or "PATCH")


# The base class comes first in each MRO so its perform_create/perform_update (service call and
# re-check) win over DRF's, which would save the serializer directly.


class ReadOnlyTenantViewSet(TenantScopedViewSet[M], mixins.ListModelMixin, mixins.RetrieveModelMixin):
    http_method_names = ["get", "head", "options"]


class ReadCreateTenantViewSet(
    TenantScopedViewSet[M], mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin
):
    http_method_names = ["get", "post", "head", "options"]


class ReadWriteTenantViewSet(
    TenantScopedViewSet[M],
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
):
    """No DELETE: business records are referenced (PROTECT) and history is kept, not removed."""

    http_method_names = ["get", "post", "put", "patch", "head", "options"]
