"""Representations of MSO business records, one module per area (``management/api/<area>.py``).

Kept for existing imports: the parties' serializers live in management.api.parties.
"""

from __future__ import annotations

from management.api.parties import (
    BankAccountSerializer,
    EquipmentSerializer,
    EquipmentServiceSerializer,
    FictitiousNamePermitSerializer,
    LeaseSerializer,
    LocationSerializer,
    MedicalWasteRegistrationSerializer,
    MsoEntitySerializer,
    ProfessionalCorporationSerializer,
    ShareholderSerializer,
)

__all__ = [
    "BankAccountSerializer",
    "EquipmentSerializer",
    "EquipmentServiceSerializer",
    "FictitiousNamePermitSerializer",
    "LeaseSerializer",
    "LocationSerializer",
    "MedicalWasteRegistrationSerializer",
    "MsoEntitySerializer",
    "ProfessionalCorporationSerializer",
    "ShareholderSerializer",
]
