"""Query filters for MSO business records (django-filter), one module per area; applied after the
permission layer. The parties' filters are re-exported here for existing imports."""

from __future__ import annotations

from management.filters.parties import (
    BankAccountFilter,
    EquipmentFilter,
    EquipmentServiceFilter,
    FictitiousNamePermitFilter,
    LeaseFilter,
    LocationFilter,
    MedicalWasteRegistrationFilter,
    MsoEntityFilter,
    ProfessionalCorporationFilter,
    ShareholderFilter,
)

__all__ = [
    "BankAccountFilter",
    "EquipmentFilter",
    "EquipmentServiceFilter",
    "FictitiousNamePermitFilter",
    "LeaseFilter",
    "LocationFilter",
    "MedicalWasteRegistrationFilter",
    "MsoEntityFilter",
    "ProfessionalCorporationFilter",
    "ShareholderFilter",
]
