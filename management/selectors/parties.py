"""Reads of the contracting parties and their sites, always through the permission layer.

Every ``*_list`` runs a fixed number of queries whatever the row count: what a list shows of related
rows (the PC of a shareholder, a device's last service) is joined or annotated here, never fetched
per row by a template or serializer.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import DateField, DecimalField, ExpressionWrapper, F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Cast, Round

from management.models import (
    BankAccount,
    Equipment,
    EquipmentService,
    FictitiousNamePermit,
    Lease,
    Location,
    MedicalWasteRegistration,
    MsoEntity,
    ProfessionalCorporation,
    Shareholder,
)
from tenants.access import AccessContext, get_for_action, restrict
from tenants.capacities import VIEW

__all__ = [
    "CapTableLine",
    "bank_account_get",
    "bank_account_list",
    "equipment_base",
    "equipment_get",
    "equipment_list",
    "equipment_service_get",
    "equipment_service_list",
    "fictitious_name_permit_get",
    "fictitious_name_permit_list",
    "lease_get",
    "lease_list",
    "location_get",
    "location_list",
    "medical_waste_registration_get",
    "medical_waste_registration_list",
    "mso_entity_get",
    "mso_entity_list",
    "pc_cap_table",
    "pc_get",
    "pc_list",
    "shareholder_base",
    "shareholder_get",
    "shareholder_list",
]


# --- MSO entities and PCs --------------------------------------------------------------------------


def mso_entity_list(ctx: AccessContext) -> QuerySet[MsoEntity]:
    return restrict(MsoEntity.objects.all(), ctx)


def mso_entity_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> MsoEntity:
    return get_for_action(MsoEntity, ctx, pk, action)


def pc_list(ctx: AccessContext) -> QuerySet[ProfessionalCorporation]:
    return restrict(ProfessionalCorporation.objects.all(), ctx)


def pc_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> ProfessionalCorporation:
    return get_for_action(ProfessionalCorporation, ctx, pk, action)


# --- Shareholders ---------------------------------------------------------------------------------


def _with_share_percent(qs: QuerySet[Shareholder]) -> QuerySet[Shareholder]:
    """Annotate each line with its PC's total shares and its percentage of them (one query).

    A subquery rather than a window function: a window would total only the rows left by the
    list's filters, and a filtered cap table must still show each holder's share of the whole PC.
    The cap table is scoped by its PC, so whoever sees one line may see the whole table.
    """
    total = (
        Shareholder.objects.filter(pc=OuterRef("pc"))
        .order_by()
        .values("pc")
        .annotate(total=Sum("shares"))
        .values("total")
    )
    return qs.annotate(pc_total_shares=Subquery(total)).annotate(
        percent_of_shares=Round(
            Cast(F("shares") * 100, DecimalField(max_digits=20, decimal_places=6)) / F("pc_total_shares"),
            2,
            output_field=DecimalField(max_digits=9, decimal_places=2),
        )
    )


def shareholder_base() -> QuerySet[Shareholder]:
    """Unscoped: the base the permission layer narrows (the API viewset's queryset)."""
    return _with_share_percent(Shareholder.objects.select_related("pc"))


def shareholder_list(ctx: AccessContext) -> QuerySet[Shareholder]:
    return restrict(shareholder_base(), ctx)


def shareholder_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> Shareholder:
    obj = get_for_action(Shareholder, ctx, pk, action)
    return restrict(shareholder_base(), ctx, action).get(pk=obj.pk)


@dataclass(frozen=True)
class CapTableLine:
    holder: Shareholder
    percent: Decimal


def pc_cap_table(ctx: AccessContext, pc: ProfessionalCorporation) -> list[CapTableLine]:
    """`pc`'s shareholders, largest first, each with its percentage of the PC's shares."""
    return [
        CapTableLine(holder, holder.percent_of_shares)  # type: ignore[attr-defined]  # annotation
        for holder in shareholder_list(ctx).filter(pc=pc)
    ]


# --- Fictitious name permits and bank accounts ------------------------------------------------------


def fictitious_name_permit_list(ctx: AccessContext) -> QuerySet[FictitiousNamePermit]:
    return restrict(FictitiousNamePermit.objects.select_related("pc"), ctx)


def fictitious_name_permit_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> FictitiousNamePermit:
    return get_for_action(FictitiousNamePermit, ctx, pk, action)


def bank_account_list(ctx: AccessContext) -> QuerySet[BankAccount]:
    return restrict(BankAccount.objects.select_related("mso_entity", "pc"), ctx)


def bank_account_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> BankAccount:
    return get_for_action(BankAccount, ctx, pk, action)


# --- Locations and what they run on ----------------------------------------------------------------


def location_list(ctx: AccessContext) -> QuerySet[Location]:
    return restrict(Location.objects.select_related("pc", "managing_entity", "name_permit"), ctx)


def location_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> Location:
    return get_for_action(Location, ctx, pk, action)


def lease_list(ctx: AccessContext) -> QuerySet[Lease]:
    return restrict(Lease.objects.select_related("location"), ctx)


def lease_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> Lease:
    return get_for_action(Lease, ctx, pk, action)


def _with_service_dates(qs: QuerySet[Equipment]) -> QuerySet[Equipment]:
    """Annotate each device with its last service date and the date the next one is due (EQP-001);
    a device never serviced has neither (it is due now)."""
    last = (
        EquipmentService.objects.filter(equipment=OuterRef("pk"))
        .order_by("-serviced_on")
        .values("serviced_on")
    )
    return qs.annotate(last_serviced_on=Subquery(last[:1])).annotate(
        # date + integer is a date in PostgreSQL
        next_service_due=ExpressionWrapper(
            F("last_serviced_on") + F("service_interval_days"), output_field=DateField()
        )
    )


def equipment_base() -> QuerySet[Equipment]:
    """Unscoped: the base the permission layer narrows (the API viewset's queryset)."""
    return _with_service_dates(Equipment.objects.select_related("location"))


def equipment_list(ctx: AccessContext) -> QuerySet[Equipment]:
    return restrict(equipment_base(), ctx)


def equipment_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> Equipment:
    obj = get_for_action(Equipment, ctx, pk, action)
    return restrict(equipment_base(), ctx, action).get(pk=obj.pk)


def equipment_service_list(ctx: AccessContext) -> QuerySet[EquipmentService]:
    return restrict(EquipmentService.objects.select_related("equipment", "equipment__location"), ctx)


def equipment_service_get(ctx: AccessContext, pk: Any, action: str = VIEW) -> EquipmentService:
    return get_for_action(EquipmentService, ctx, pk, action)


def medical_waste_registration_list(ctx: AccessContext) -> QuerySet[MedicalWasteRegistration]:
    return restrict(MedicalWasteRegistration.objects.select_related("location"), ctx)


def medical_waste_registration_get(
    ctx: AccessContext, pk: Any, action: str = VIEW
) -> MedicalWasteRegistration:
    return get_for_action(MedicalWasteRegistration, ctx, pk, action)
