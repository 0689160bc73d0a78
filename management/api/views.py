"""API endpoints for MSO business records; scoping and permissions live in the base viewset."""

from __future__ import annotations

from typing import Any

from management import services
from management.api.serializers import (
    LocationSerializer,
    MsoEntitySerializer,
    ProfessionalCorporationSerializer,
)
from management.filters import LocationFilter, MsoEntityFilter, ProfessionalCorporationFilter
from management.models import Location, MsoEntity, ProfessionalCorporation
from tenants.api.viewsets import ReadWriteTenantViewSet


class MsoEntityViewSet(ReadWriteTenantViewSet[MsoEntity]):
    """Legal entities of the MSO."""

    queryset = MsoEntity.objects.all()
    serializer_class = MsoEntitySerializer
    filterset_class = MsoEntityFilter
    ordering_fields = ["legal_name", "state"]

    def create_object(self, data: dict[str, Any]) -> MsoEntity:
        return services.mso_entity_create(ctx=self.access, **data)

    def update_object(self, obj: MsoEntity, data: dict[str, Any]) -> MsoEntity:
        return services.mso_entity_update(ctx=self.access, entity=obj, **data)


class ProfessionalCorporationViewSet(ReadWriteTenantViewSet[ProfessionalCorporation]):
    """Professional corporations as the MSO's contracting parties."""

    queryset = ProfessionalCorporation.objects.all()
    serializer_class = ProfessionalCorporationSerializer
    filterset_class = ProfessionalCorporationFilter
    ordering_fields = ["legal_name", "state"]

    def create_object(self, data: dict[str, Any]) -> ProfessionalCorporation:
        return services.pc_create(ctx=self.access, **data)

    def update_object(self, obj: ProfessionalCorporation, data: dict[str, Any]) -> ProfessionalCorporation:
        return services.pc_update(ctx=self.access, pc=obj, **data)


class LocationViewSet(ReadWriteTenantViewSet[Location]):
    """Med spas: each run by an MSO entity, its clinical services provided by a PC."""

    queryset = Location.objects.all()
    serializer_class = LocationSerializer
    filterset_class = LocationFilter
    ordering_fields = ["name", "city", "state"]

    def create_object(self, data: dict[str, Any]) -> Location:
        return services.location_create(ctx=self.access, **data)

    def update_object(self, obj: Location, data: dict[str, Any]) -> Location:
        return services.location_update(ctx=self.access, location=obj, **data)
