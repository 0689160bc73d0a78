"""Capacities: the hat a person wears in a tenant, and what it lets them reach.

A capacity decides three things: the PostgreSQL role the transaction runs under, which side of
the CPOM boundary (business or clinical) it may act on, and whether it sees the whole tenant or
only the PCs/locations granted to the membership through django-guardian.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mso_platform.db import boundary


class Side(StrEnum):
    BUSINESS = "business"
    CLINICAL = "clinical"


VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"
WRITE_ACTIONS = frozenset({ADD, CHANGE, DELETE})


@dataclass(frozen=True)
class Capacity:
    code: str
    label: str
    db_role: str
    side: Side
    tenant_wide: bool  # False: only objects granted to the membership (guardian)
    read_only: bool = False
    requires_license: bool = False

    def may(self, model_side: Side, action: str) -> bool:
        """Whether this capacity may attempt `action` on models of `model_side` at all."""
        if self.read_only and action != VIEW:
            return False
        if model_side == Side.CLINICAL:
            return self.side == Side.CLINICAL
        if self.side == Side.CLINICAL:
            # A PC capacity reads the business records its work needs (locations, its PC, clients)
            # but runs none of the MSO's business.
            return action == VIEW
        return True


MSO_ADMIN = Capacity("mso_admin", "MSO administrator", boundary.BUSINESS_ROLE, Side.BUSINESS, True)
MSO_STAFF = Capacity("mso_staff", "MSO staff", boundary.BUSINESS_ROLE, Side.BUSINESS, False)
MSO_COMPLIANCE = Capacity(
    "mso_compliance", "MSO compliance officer", boundary.BUSINESS_ROLE, Side.BUSINESS, True
)
PC_PHYSICIAN = Capacity(
    "pc_physician",
    "PC physician (medical director/owner)",
    boundary.CLINICAL_ROLE,
    Side.CLINICAL,
    False,
    requires_license=True,
)
CLINICIAN = Capacity(
    "clinician", "Clinician", boundary.CLINICAL_ROLE, Side.CLINICAL, False, requires_license=True
)
AUDITOR = Capacity(
    "auditor", "Auditor (read-only)", boundary.AUDITOR_ROLE, Side.BUSINESS, True, read_only=True
)

CAPACITIES: dict[str, Capacity] = {
    c.code: c for c in (MSO_ADMIN, MSO_STAFF, MSO_COMPLIANCE, PC_PHYSICIAN, CLINICIAN, AUDITOR)
}
CAPACITY_CHOICES = [(c.code, c.label) for c in CAPACITIES.values()]
