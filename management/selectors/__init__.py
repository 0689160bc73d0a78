"""Reads of MSO business records, always through the permission layer."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from management.models import Location, MsoEntity, ProfessionalCorporation
from tenants.access import AccessContext, get_for_action, restrict


def location_list(ctx: AccessContext) -> QuerySet[Location]:
    return restrict(Location.objects.select_related("pc", "managing_entity"), ctx)


def location_get(ctx: AccessContext, pk: Any, action: str = "view") -> Location:
    return get_for_action(Location, ctx, pk, action)


def pc_list(ctx: AccessContext) -> QuerySet[ProfessionalCorporation]:
    return restrict(ProfessionalCorporation.objects.all(), ctx)


def pc_get(ctx: AccessContext, pk: Any, action: str = "view") -> ProfessionalCorporation:
    return get_for_action(ProfessionalCorporation, ctx, pk, action)


def mso_entity_list(ctx: AccessContext) -> QuerySet[MsoEntity]:
    return restrict(MsoEntity.objects.all(), ctx)


def mso_entity_get(ctx: AccessContext, pk: Any, action: str = "view") -> MsoEntity:
    return get_for_action(MsoEntity, ctx, pk, action)
