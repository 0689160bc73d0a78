"""Representations for the tenants API: the key's own identity and the membership's API keys."""

from __future__ import annotations

from rest_framework import serializers

from tenants.models import ApiKey


class ApiKeySerializer(serializers.ModelSerializer[ApiKey]):
    scope = serializers.CharField(read_only=True, help_text="business or clinical: the capacity's side.")
    capacity = serializers.CharField(source="membership.capacity", read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "key_prefix",
            "scope",
            "capacity",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]
        read_only_fields = ["id", "key_prefix", "created_at", "last_used_at", "revoked_at"]


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(
        source="raw_key", read_only=True, help_text="The secret, shown this once: only its hash is stored."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class TenantRefSerializer(serializers.Serializer[dict[str, object]]):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()


class CapacityRefSerializer(serializers.Serializer[dict[str, object]]):
    code = serializers.CharField()
    name = serializers.CharField()
    tenant_wide = serializers.BooleanField(
        help_text="False: only the PCs/locations granted to the membership."
    )
    can_write = serializers.BooleanField(help_text="False for read-only capacities (auditor).")


class KeyRefSerializer(serializers.Serializer[dict[str, object]]):
    id = serializers.UUIDField()
    name = serializers.CharField()
    key_prefix = serializers.CharField()


class UserRefSerializer(serializers.Serializer[dict[str, object]]):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    full_name = serializers.CharField()


class MeSerializer(serializers.Serializer[dict[str, object]]):
    tenant = TenantRefSerializer()
    capacity = CapacityRefSerializer()
    scope = serializers.ChoiceField(choices=["business", "clinical"], help_text="Which side the key reaches.")
    key = KeyRefSerializer()
    user = UserRefSerializer()
