"""API endpoints for MSO business records, one module per area (``management/api/<area>.py``).

Kept for existing imports: the parties' viewsets live in management.api.parties.
"""

from __future__ import annotations

from management.api.parties import (
    BankAccountViewSet,
    EquipmentServiceViewSet,
    EquipmentViewSet,
    FictitiousNamePermitViewSet,
    LeaseViewSet,
    LocationViewSet,
    MedicalWasteRegistrationViewSet,
    MsoEntityViewSet,
    ProfessionalCorporationViewSet,
    ShareholderViewSet,
)

__all__ = [
    "BankAccountViewSet",
    "EquipmentServiceViewSet",
    "EquipmentViewSet",
    "FictitiousNamePermitViewSet",
    "LeaseViewSet",
    "LocationViewSet",
    "MedicalWasteRegistrationViewSet",
    "MsoEntityViewSet",
    "ProfessionalCorporationViewSet",
    "ShareholderViewSet",
]
