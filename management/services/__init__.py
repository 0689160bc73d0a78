"""Writes of MSO business records, one module per area (``management/services/<area>.py``).

The parties' services (MSO entities, PCs, locations …) are re-exported here so that callers keep
writing ``from management import services; services.location_create(...)``.
"""

from __future__ import annotations

from management.services.parties import (
    UNSET,
    bank_account_create,
    bank_account_update,
    equipment_create,
    equipment_service_create,
    equipment_service_update,
    equipment_update,
    fictitious_name_permit_create,
    fictitious_name_permit_update,
    lease_create,
    lease_update,
    location_create,
    location_update,
    medical_waste_registration_create,
    medical_waste_registration_update,
    mso_entity_create,
    mso_entity_update,
    pc_create,
    pc_update,
    shareholder_create,
    shareholder_update,
)

__all__ = [
    "UNSET",
    "bank_account_create",
    "bank_account_update",
    "equipment_create",
    "equipment_service_create",
    "equipment_service_update",
    "equipment_update",
    "fictitious_name_permit_create",
    "fictitious_name_permit_update",
    "lease_create",
    "lease_update",
    "location_create",
    "location_update",
    "medical_waste_registration_create",
    "medical_waste_registration_update",
    "mso_entity_create",
    "mso_entity_update",
    "pc_create",
    "pc_update",
    "shareholder_create",
    "shareholder_update",
]
