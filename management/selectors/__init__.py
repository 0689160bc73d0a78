"""Reads of MSO business records, always through the permission layer; one module per area
(``management/selectors/<area>.py``). The parties' selectors are re-exported here so that callers
(sections, views, tests) keep writing ``management.selectors.location_list``."""

from __future__ import annotations

from management.selectors.parties import (
    CapTableLine,
    bank_account_get,
    bank_account_list,
    equipment_get,
    equipment_list,
    equipment_service_get,
    equipment_service_list,
    fictitious_name_permit_get,
    fictitious_name_permit_list,
    lease_get,
    lease_list,
    location_get,
    location_list,
    medical_waste_registration_get,
    medical_waste_registration_list,
    mso_entity_get,
    mso_entity_list,
    pc_cap_table,
    pc_get,
    pc_list,
    shareholder_get,
    shareholder_list,
)

__all__ = [
    "CapTableLine",
    "bank_account_get",
    "bank_account_list",
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
    "shareholder_get",
    "shareholder_list",
]
