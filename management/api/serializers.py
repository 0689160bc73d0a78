"""Representations of MSO business records. The tenant is never a field: it comes from the API key."""

from __future__ import annotations

from rest_framework import serializers

from management.models import Location, MsoEntity, ProfessionalCorporation
from tenants.api.fields import ScopedPrimaryKeyRelatedField


class MsoEntitySerializer(serializers.ModelSerializer[MsoEntity]):
    class Meta:
        model = MsoEntity
        fields = ["id", "legal_name", "state", "entity_type"]
        read_only_fields = ["id"]


class ProfessionalCorporationSerializer(serializers.ModelSerializer[ProfessionalCorporation]):
    class Meta:
        model = ProfessionalCorporation
        fields = ["id", "legal_name", "state", "entity_type"]
        read_only_fields = ["id"]


class LocationSerializer(serializers.ModelSerializer[Location]):
    managing_entity = ScopedPrimaryKeyRelatedField(queryset=MsoEntity.objects.all())
    pc = ScopedPrimaryKeyRelatedField(queryset=ProfessionalCorporation.objects.all())

    class Meta:
        model = Location
        fields = ["id", "name", "address", "city", "state", "managing_entity", "pc"]
        read_only_fields = ["id"]
