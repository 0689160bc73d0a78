"""Serializer fields that resolve references through the permission layer."""

from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework import serializers

from tenants.access import AccessContext, restrict
from tenants.capacities import VIEW


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A reference by id that only finds objects the request's key may view.

    Another tenant's id, an unpermitted id and an absent id give the same 400 message (Zulip: the
    error is the same for objects you cannot access and objects that do not exist).
    """

    default_error_messages = {
        "does_not_exist": "Unknown {model_name} {pk_value}: not one this key may use.",
        "invalid_id": "{value!r} is not a valid id (a UUID).",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("pk_field", serializers.UUIDField(format="hex_verbose"))
        super().__init__(**kwargs)

    def get_queryset(self) -> models.QuerySet[Any]:
        base = super().get_queryset()
        assert base is not None, "declare the field with queryset=Model.objects.all()"
        ctx = getattr(self.context.get("request"), "auth", None)
        if not isinstance(ctx, AccessContext):
            return base.none()
        return restrict(base, ctx, VIEW)

    def to_internal_value(self, data: Any) -> Any:
        queryset = self.get_queryset()
        try:
            pk = self.pk_field.to_internal_value(data) if self.pk_field is not None else data
        except serializers.ValidationError:
            self.fail("invalid_id", value=str(data)[:64])
        instance = getattr(self.parent, "instance", None)
        source = str(self.source or self.field_name)
        if instance is not None and getattr(instance, f"{source}_id", None) == pk:
            # Keeping the current reference (a PUT repeats it) is not a new use of the target.
            return getattr(instance, source)
        obj = queryset.filter(pk=pk).first()
        if obj is None:
            self.fail("does_not_exist", model_name=queryset.model._meta.verbose_name, pk_value=pk)
        return obj
