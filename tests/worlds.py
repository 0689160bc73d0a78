"""Two complete tenants with a person in every capacity: the stage for cross-tenant tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model
from django.utils import timezone

from clinical.models import PatientChart
from management.models import Location, MsoEntity, ProfessionalCorporation
from tenants.access import AccessContext
from tenants.capacities import CAPACITIES
from tenants.models import Membership, Tenant, User
from tenants.services import membership_create, object_access_grant
from tests import factories

PASSWORD = "correct-horse-battery"


@dataclass
class World:
    tenant: Tenant
    entity: MsoEntity
    pcs: list[ProfessionalCorporation]
    locations: list[Location]
    charts: list[PatientChart]
    members: dict[str, Membership] = field(default_factory=dict)
    # Every other domain object of the world, by model (tests.domain_world.populate fills it).
    objs: dict[type[Model], list[Any]] = field(default_factory=dict)

    def ctx(self, capacity: str, via: str = "browser") -> AccessContext:
        return AccessContext.for_membership(self.members[capacity], via=via)

    def user(self, capacity: str) -> User:
        return self.members[capacity].user


def build_world(slug: str, *, domain: bool = False) -> World:
    """One tenant: an MSO entity, two PCs, a location per PC, a chart per PC, all six capacities.

    Object-scoped capacities are granted the first PC and its location only, so tests can see the
    second ones stay hidden inside the same tenant. With ``domain=True`` the world also gets one or two
    of every business and clinical record (tests.domain_world.populate), in ``world.objs``.
    """
    tenant = factories.TenantFactory.create(slug=slug, name=f"{slug.title()} MSO")
    entity = factories.MsoEntityFactory.create(tenant=tenant)
    pcs = [factories.ProfessionalCorporationFactory.create(tenant=tenant) for _ in range(2)]
    locations = [factories.LocationFactory.create(tenant=tenant, managing_entity=entity, pc=pc) for pc in pcs]
    charts = [
        factories.PatientChartFactory.create(tenant=tenant, pc=pc, home_location=loc)
        for pc, loc in zip(pcs, locations, strict=True)
    ]
    world = World(tenant, entity, pcs, locations, charts)
    licenses = {"pc_physician": "MD", "clinician": "RN"}
    for code in CAPACITIES:
        user = factories.UserFactory.create(email=f"{code}@{slug}.test", full_name=f"{code} of {slug}")
        world.members[code] = membership_create(
            tenant=tenant,
            user=user,
            capacity=code,
            license_type=licenses.get(code, ""),
            expires_at=timezone.now() + dt.timedelta(days=30) if code == "auditor" else None,
        )
    object_access_grant(
        membership=world.members["mso_staff"], obj=locations[0], perms=["view_location", "change_location"]
    )
    # MSO staff draft the first PC's marketing and consent forms (PC-scoped business records).
    object_access_grant(
        membership=world.members["mso_staff"],
        obj=pcs[0],
        perms=["view_professionalcorporation", "change_professionalcorporation"],
    )
    object_access_grant(
        membership=world.members["clinician"], obj=pcs[0], perms=["view_professionalcorporation"]
    )
    object_access_grant(membership=world.members["clinician"], obj=locations[0], perms=["view_location"])
    object_access_grant(
        membership=world.members["pc_physician"],
        obj=pcs[0],
        perms=[
            "view_professionalcorporation",
            "change_professionalcorporation",
            "approve_marketing",
            "sign_protocol",
        ],
    )
    object_access_grant(membership=world.members["pc_physician"], obj=locations[0], perms=["view_location"])
    if domain:
        from tests.domain_world import populate  # imports this module

        populate(world)
    return world
