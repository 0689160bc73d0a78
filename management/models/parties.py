"""The parties: MSO entities, professional corporations and their owners, bank accounts, locations."""

from __future__ import annotations

import uuid

from django.db import models
from guardian.models import GroupObjectPermissionBase

from management.procedures import LicenseStatus, LicenseType
from tenants.capacities import Side
from tenants.models import AccessPolicy, Tenant, TenantOwnedModel


class InvestorType(models.TextChoices):
    NONE = "none", "Founder/operator owned"
    PRIVATE_EQUITY = "private_equity", "Private-equity group"
    HEDGE_FUND = "hedge_fund", "Hedge fund"
    OTHER = "other", "Other outside investor"


class MsoEntity(TenantOwnedModel):
    """A legal entity of the MSO (the lay business side)."""

    legal_name = models.CharField(max_length=200)
    state = models.CharField(max_length=2, default="CA")
    entity_type = models.CharField(max_length=40, default="LLC")
    # CPOM-005: private-equity or hedge-fund involvement and revenue-cycle work trigger OHCA notice.
    investor_type = models.CharField(max_length=20, choices=InvestorType.choices, default=InvestorType.NONE)
    does_rate_negotiation = models.BooleanField(default=False)

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
    # CPOM-004: practicing under any other name than "<physician> Medical Corporation" needs a permit.
    physician_name = models.CharField(max_length=200, blank=True)

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


class Shareholder(TenantOwnedModel):
    """A line of the PC's cap table (CPOM-001/002 read it)."""

    pc = models.ForeignKey(ProfessionalCorporation, on_delete=models.CASCADE, related_name="shareholders")
    name = models.CharField(max_length=200)
    license_type = models.CharField(max_length=20, choices=LicenseType.choices)
    license_number = models.CharField(max_length=40, blank=True)
    license_state = models.CharField(max_length=2, blank=True)
    license_status = models.CharField(
        max_length=20, choices=LicenseStatus.choices, default=LicenseStatus.ACTIVE
    )
    shares = models.PositiveIntegerField()

    access = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="pc")

    class Meta:
        ordering = ["-shares", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.shares} shares)"


class FictitiousNamePermit(TenantOwnedModel):
    """Medical Board fictitious name permit of a PC (B&P 2285, 2415), renewed every two years."""

    pc = models.ForeignKey(ProfessionalCorporation, on_delete=models.CASCADE, related_name="name_permits")
    fictitious_name = models.CharField(max_length=200)
    permit_number = models.CharField(max_length=40)
    issued_on = models.DateField()
    expires_on = models.DateField()

    access = AccessPolicy(side=Side.BUSINESS, scope_model="pc", scope_path="pc")

    class Meta:
        ordering = ["fictitious_name"]

    def __str__(self) -> str:
        return f"{self.fictitious_name} (permit {self.permit_number})"


class BankAccount(TenantOwnedModel):
    """An account owned by exactly one entity: the MSO's or a PC's (SEP-001/002)."""

    class Purpose(models.TextChoices):
        OPERATING = "operating", "Operating"
        PATIENT_DEPOSITS = "patient_deposits", "Patient payments (deposits)"
        PAYROLL = "payroll", "Payroll"
        MANAGEMENT_FEES = "management_fees", "Management fees"

    mso_entity = models.ForeignKey(
        MsoEntity, null=True, blank=True, on_delete=models.PROTECT, related_name="bank_accounts"
    )
    pc = models.ForeignKey(
        ProfessionalCorporation, null=True, blank=True, on_delete=models.PROTECT, related_name="bank_accounts"
    )
    bank_name = models.CharField(max_length=120)
    # Only the last four digits: the platform never needs (or keeps) a full account number.
    account_last4 = models.CharField(max_length=4)
    routing_number = models.CharField(max_length=9, blank=True)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)

    access = AccessPolicy(side=Side.BUSINESS)

    class Meta:
        ordering = ["bank_name", "account_last4"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(mso_entity__isnull=True) ^ models.Q(pc__isnull=True),
                name="bank_account_has_one_owner",
                violation_error_message="A bank account belongs to exactly one entity: the MSO's or a PC.",
            ),
            models.CheckConstraint(
                condition=models.Q(account_last4__regex=r"^[0-9]{4}$"),
                name="bank_account_last4_digits",
                violation_error_message="Give the last four digits of the account number.",
            ),
        ]

    @property
    def owner(self) -> MsoEntity | ProfessionalCorporation:
        owner = self.mso_entity or self.pc
        assert owner is not None  # the check constraint
        return owner

    def __str__(self) -> str:
        return f"{self.bank_name} ••{self.account_last4}"


class Location(TenantOwnedModel):
    """A med spa: run by an MSO entity, clinical services provided by a PC."""

    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2, default="CA")
    managing_entity = models.ForeignKey(MsoEntity, on_delete=models.PROTECT, related_name="locations")
    pc = models.ForeignKey(ProfessionalCorporation, on_delete=models.PROTECT, related_name="locations")
    # The name patients see; a fictitious name needs the PC's permit listing this location (CPOM-004).
    trade_name = models.CharField(max_length=200, blank=True)
    name_permit = models.ForeignKey(
        FictitiousNamePermit, null=True, blank=True, on_delete=models.SET_NULL, related_name="locations"
    )
    generates_sharps = models.BooleanField(default=True)  # WST-001
    runs_waived_lab_tests = models.BooleanField(default=False)  # LAB-001
    clia_waiver_number = models.CharField(max_length=20, blank=True)
    lab_director = models.CharField(max_length=200, blank=True)

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
