"""Writes of MSO business records: MSO entities, professional corporations, locations.

Callers (API viewsets, views) fetch the object through the permission layer first; these services
refuse, again, a capacity that may not write the model at all, validate that every reference is
an object of the caller's tenant inside the caller's scope, and write. Row writes are audit-logged
by the database trigger.
"""

from __future__ import annotations

from django.db import transaction

from management.models import Location, MsoEntity, ProfessionalCorporation
from tenants.access import AccessContext
from tenants.capacities import ADD, CHANGE
from tenants.writes import apply_changes, clean_state, require_in_scope, require_may, save_validated

# Shared with every area's services (historic names kept for callers).
_clean_state = clean_state
_save = save_validated
_apply = apply_changes


# --- MSO entities -------------------------------------------------------------------------------


@transaction.atomic
def mso_entity_create(
    *, ctx: AccessContext, legal_name: str, state: str = "CA", entity_type: str = "LLC"
) -> MsoEntity:
    """Record a legal entity of the MSO in ctx's tenant."""
    require_may(ctx, MsoEntity, ADD)
    entity = MsoEntity(
        tenant=ctx.tenant, legal_name=legal_name.strip(), state=_clean_state(state), entity_type=entity_type
    )
    _save(entity)
    return entity


@transaction.atomic
def mso_entity_update(
    *,
    ctx: AccessContext,
    entity: MsoEntity,
    legal_name: str | None = None,
    state: str | None = None,
    entity_type: str | None = None,
) -> MsoEntity:
    """Change an MSO entity's details (None leaves a field as it is)."""
    require_may(ctx, MsoEntity, CHANGE)
    changed = _apply(
        entity,
        {
            "legal_name": legal_name.strip() if legal_name is not None else None,
            "state": _clean_state(state) if state is not None else None,
            "entity_type": entity_type,
        },
    )
    if changed:
        _save(entity, changed)
    return entity


# --- Professional corporations ------------------------------------------------------------------


@transaction.atomic
def pc_create(
    *,
    ctx: AccessContext,
    legal_name: str,
    state: str = "CA",
    entity_type: str = "Professional medical corporation",
) -> ProfessionalCorporation:
    """Record a physician-owned PC as a contracting party of the MSO."""
    require_may(ctx, ProfessionalCorporation, ADD)
    pc = ProfessionalCorporation(
        tenant=ctx.tenant, legal_name=legal_name.strip(), state=_clean_state(state), entity_type=entity_type
    )
    _save(pc)
    return pc


@transaction.atomic
def pc_update(
    *,
    ctx: AccessContext,
    pc: ProfessionalCorporation,
    legal_name: str | None = None,
    state: str | None = None,
    entity_type: str | None = None,
) -> ProfessionalCorporation:
    """Change a PC's contracting-party details (None leaves a field as it is)."""
    require_may(ctx, ProfessionalCorporation, CHANGE)
    changed = _apply(
        pc,
        {
            "legal_name": legal_name.strip() if legal_name is not None else None,
            "state": _clean_state(state) if state is not None else None,
            "entity_type": entity_type,
        },
    )
    if changed:
        _save(pc, changed)
    return pc


# --- Locations ----------------------------------------------------------------------------------


@transaction.atomic
def location_create(
    *,
    ctx: AccessContext,
    name: str,
    address: str,
    city: str,
    managing_entity: MsoEntity,
    pc: ProfessionalCorporation,
    state: str = "CA",
) -> Location:
    """Open a med spa run by `managing_entity` whose clinical services `pc` provides."""
    require_may(ctx, Location, ADD)
    require_in_scope(ctx, managing_entity, "managing_entity")
    require_in_scope(ctx, pc, "pc")
    location = Location(
        tenant=ctx.tenant,
        name=name.strip(),
        address=address.strip(),
        city=city.strip(),
        state=_clean_state(state),
        managing_entity=managing_entity,
        pc=pc,
    )
    _save(location)
    return location


@transaction.atomic
def location_update(
    *,
    ctx: AccessContext,
    location: Location,
    name: str | None = None,
    address: str | None = None,
    city: str | None = None,
    state: str | None = None,
    managing_entity: MsoEntity | None = None,
    pc: ProfessionalCorporation | None = None,
) -> Location:
    """Change a location (None leaves a field as it is). A new reference must be in ctx's scope."""
    require_may(ctx, Location, CHANGE)
    # A reference the caller cannot see may stay as it is, but cannot be newly set.
    if managing_entity is not None and managing_entity.pk != location.managing_entity_id:
        require_in_scope(ctx, managing_entity, "managing_entity")
    if pc is not None and pc.pk != location.pc_id:
        require_in_scope(ctx, pc, "pc")
    changed = _apply(
        location,
        {
            "name": name.strip() if name is not None else None,
            "address": address.strip() if address is not None else None,
            "city": city.strip() if city is not None else None,
            "state": _clean_state(state) if state is not None else None,
            "managing_entity": managing_entity,
            "pc": pc,
        },
    )
    if changed:
        _save(location, changed)
    return location
