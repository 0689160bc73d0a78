"""Vocabulary both sides share: procedures, license types and services of an MSA.

Business records (appointments, marketing, consent drafts) name procedures; clinical records
(treatments, scope rules, protocols) decide who may perform them. The codes live here, on the
business side, because ``clinical`` may import ``management`` and never the reverse.
"""

from __future__ import annotations

from django.db import models


class Procedure(models.TextChoices):
    NEUROTOXIN = "neurotoxin", "Neurotoxin injection (e.g. Botox)"
    DERMAL_FILLER = "dermal_filler", "Dermal filler injection"
    LASER_HAIR_REMOVAL = "laser_hair_removal", "Laser hair removal"
    IPL_PHOTOFACIAL = "ipl_photofacial", "IPL photofacial"
    LASER_RESURFACING = "laser_resurfacing", "Laser skin resurfacing"
    MEDICAL_PEEL = "medical_peel", "Medical-grade chemical peel"
    MICRONEEDLING = "microneedling", "Microneedling"
    SUPERFICIAL_PEEL = "superficial_peel", "Superficial peel (epidermis only)"
    FACIAL = "facial", "Non-medical facial"
    CONSULTATION = "consultation", "Consultation"


# Medical procedures (Medical Board "Cosmetic Treatments" FAQ): injections, laser/IPL, medical peels,
# microneedling. The rest may be done by licensed estheticians.
MEDICAL_PROCEDURES = frozenset(
    {
        Procedure.NEUROTOXIN,
        Procedure.DERMAL_FILLER,
        Procedure.LASER_HAIR_REMOVAL,
        Procedure.IPL_PHOTOFACIAL,
        Procedure.LASER_RESURFACING,
        Procedure.MEDICAL_PEEL,
        Procedure.MICRONEEDLING,
    }
)
LASER_PROCEDURES = frozenset(
    {Procedure.LASER_HAIR_REMOVAL, Procedure.IPL_PHOTOFACIAL, Procedure.LASER_RESURFACING}
)


class LicenseType(models.TextChoices):
    MD = "MD", "Physician (MD)"
    DO = "DO", "Physician (DO)"
    NP = "NP", "Nurse practitioner"
    PA = "PA", "Physician assistant"
    RN = "RN", "Registered nurse"
    LVN = "LVN", "Licensed vocational nurse"
    MA = "MA", "Medical assistant"
    ESTHETICIAN = "esthetician", "Licensed esthetician"
    PSYCHOLOGIST = "psychologist", "Psychologist"
    OPTOMETRIST = "optometrist", "Optometrist"
    NONE = "none", "No professional license (lay person or company)"


PHYSICIAN_LICENSES = frozenset({LicenseType.MD, LicenseType.DO})
# Corporations Code 13401.5: licensees who may hold a minority of a medical corporation's shares.
MINORITY_LICENSES = frozenset(
    {
        LicenseType.NP,
        LicenseType.PA,
        LicenseType.RN,
        LicenseType.PSYCHOLOGIST,
        LicenseType.OPTOMETRIST,
    }
)


class LicenseStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PROBATION = "probation", "Active, on probation"
    INACTIVE = "inactive", "Inactive"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked or surrendered"


class ManagedService(models.TextChoices):
    PAYROLL = "payroll", "Payroll"
    HR = "hr", "Human resources (non-clinical)"
    LEASES = "leases", "Leases and premises"
    EQUIPMENT = "equipment", "Equipment procurement and upkeep"
    MARKETING = "marketing", "Marketing (drafting; the PC approves)"
    SCHEDULING = "scheduling", "Scheduling and front desk"
    BILLING = "billing", "Billing and collections"
    IT = "it", "IT and software"
    COMPLIANCE = "compliance", "Compliance support"
    BOOKKEEPING = "bookkeeping", "Bookkeeping"
