"""MSO business records (schema ``management``). Never references or imports ``clinical``."""

from __future__ import annotations

import uuid

from django.db import models
from guardian.models import GroupObjectPermissionBase

from tenants.capacities import Side
from tenants.models import AccessPolicy, Tenant, TenantOwnedModel


class MsoEntity(TenantOwnedModel):
    """A legal entity of the MSO (the lay business side)."""

    legal_name = models.CharField(max_length=200)
    state = models.CharField(max_length=2, default="CA")
    entity_type = models.CharField(max_length=40, default="LLC")

    access = AccessPolicy(side=Side.BUSINESS)

    class Meta:
        ordering = ["legal_name"]
        verbose_name = "MSO entity"
        verbose_name_plural = "MSO entities"

    def __str__(self) -> str:
        return self.legal_name


class ProfessionalCorporation(TenantOwnedModel):
    """A physician-owned professional corporation: the clinical party of an MSA."""

    legal_name = models.CharField(max_length=200)
    state = models.CharField(max_length=2, default="CA")
    entity_type = models.CharField(max_length=60, default="Professional medical corporation")

    access = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="")

    class Meta:
        ordering = ["legal_name"]
        verbose_name = "professional corporation"
        permissions = [
            ("approve_marketing", "Approve marketing and consent forms of this PC"),
            ("sign_protocol", "Sign protocols and standardized procedures of this PC"),
        ]

    def __str__(self) -> str:
        return self.legal_name


class Location(TenantOwnedModel):
    """A med spa: run by an MSO entity, clinical services provided by a PC."""

    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2, default="CA")
    managing_entity = models.ForeignKey(MsoEntity, on_delete=models.PROTECT, related_name="locations")
    pc = models.ForeignKey(ProfessionalCorporation, on_delete=models.PROTECT, related_name="locations")

    access = AccessPolicy(side=Side.BUSINESS, scope_model="location", scope_path="")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# django-guardian direct foreign-key object permissions (DESIGN.md: the generic ones are slow and keep
# stale grants when ids are reused). Granted to a membership's group, so they follow the capacity.


class LocationGroupObjectPermission(GroupObjectPermissionBase):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    content_object = models.ForeignKey(Location, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        abstract = False


class PcGroupObjectPermission(GroupObjectPermissionBase):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    content_object = models.ForeignKey(ProfessionalCorporation, on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        abstract = False
