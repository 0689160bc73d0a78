"""Writes of the contracting parties and their sites: MSO entities, PCs and their cap tables, name
permits, bank accounts, locations, leases, equipment and its service visits, waste registrations.

Each service refuses a capacity that may not write the model at all (PermissionDenied, answered as
404), checks every referenced object against ctx's tenant and scope (400 on the field), enforces
the data rules of the record (400 with a message) and saves with full validation. Compliance rules
(CPOM-001 ownership shares, CPOM-004 permits in use …) are audits, not refusals: they live in
``compliance``. Row writes are audit-logged by the database trigger.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any, Final, Literal, ParamSpec, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from management.models import (
    BankAccount,
    Equipment,
    EquipmentService,
    FictitiousNamePermit,
    InvestorType,
    Lease,
    Location,
    MedicalWasteRegistration,
    MsoEntity,
    ProfessionalCorporation,
    Shareholder,
)
from management.procedures import LicenseStatus, LicenseType
from tenants.access import AccessContext, restrict
from tenants.capacities import ADD, CHANGE
from tenants.writes import apply_changes, clean_state, require_in_scope, require_may, save_validated

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


class _Unset(Enum):
    """Marks "not given" for a field where None means "clear it" (an optional reference)."""

    UNSET = "unset"


UNSET: Final = _Unset.UNSET
M = TypeVar("M", bound=models.Model)
P = ParamSpec("P")
R = TypeVar("R")

LAST4 = re.compile(r"[0-9]{4}")
ROUTING = re.compile(r"[0-9]{9}")
CURRENCY = re.compile(r"[A-Z]{3}")
MAX_SERVICE_INTERVAL_DAYS = 3650


# --- shared checks ---------------------------------------------------------------------------------


def _text(value: str | None) -> str | None:
    return value.strip() if value is not None else None


def _state(value: str | None, field: str = "state") -> str | None:
    return clean_state(value, field) if value is not None else None


def _optional_state(value: str | None, field: str) -> str | None:
    """A state code that may be left blank."""
    if value is None:
        return None
    return clean_state(value, field) if value.strip() else ""


def _require_writable(ctx: AccessContext, parent: models.Model, field: str) -> None:
    """A row may only be added under a PC/location/record that ctx may change: adding a lease to a
    location is a change of that location's records (the same grant the API re-checks after a write)."""
    require_in_scope(ctx, parent, field)
    if not restrict(type(parent)._default_manager.filter(pk=parent.pk), ctx, CHANGE).exists():
        name = parent._meta.verbose_name
        raise ValidationError({field: f"Your capacity may view this {name} but not add records to it."})


def _repointed(ctx: AccessContext, current_id: Any, new: M | None, field: str) -> M | None:
    """A reference an update moves (a mis-entered PC corrected): the new target must be one ctx may
    add records to. Returns it, or None when the reference stays as it is."""
    if new is None or new.pk == current_id:
        return None
    _require_writable(ctx, new, field)
    return new


def _require_after(start: dt.date, end: dt.date, field: str, message: str) -> None:
    if end <= start:
        raise ValidationError({field: message})


def _restored_on_refusal(kwarg: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A refused update leaves the caller's object as stored, not half-changed: a form shown again or
    a later call would otherwise carry (and save) values of the refused attempt."""

    def decorate(service: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(service)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return service(*args, **kwargs)
            except ValidationError:
                obj = kwargs.get(kwarg)
                if isinstance(obj, models.Model) and obj.pk is not None:
                    obj.refresh_from_db()
                raise

        return wrapper

    return decorate


def _save_and_return(obj: M, changed: list[str] | None = None) -> M:
    """Save with full validation; an update that changed nothing writes nothing."""
    if changed is None or changed:
        save_validated(obj, changed)
    return obj


# --- MSO entities ----------------------------------------------------------------------------------


@transaction.atomic
def mso_entity_create(
    *,
    ctx: AccessContext,
    legal_name: str,
    state: str = "CA",
    entity_type: str = "LLC",
    investor_type: str = InvestorType.NONE,
    does_rate_negotiation: bool = False,
) -> MsoEntity:
    """Record a legal entity of the MSO in ctx's tenant (investor type and rate negotiation feed the
    OHCA notice rule, CPOM-005)."""
    require_may(ctx, MsoEntity, ADD)
    entity = MsoEntity(
        tenant=ctx.tenant,
        legal_name=legal_name.strip(),
        state=clean_state(state),
        entity_type=entity_type.strip(),
        investor_type=investor_type,
        does_rate_negotiation=does_rate_negotiation,
    )
    return _save_and_return(entity)


@_restored_on_refusal("entity")
@transaction.atomic
def mso_entity_update(
    *,
    ctx: AccessContext,
    entity: MsoEntity,
    legal_name: str | None = None,
    state: str | None = None,
    entity_type: str | None = None,
    investor_type: str | None = None,
    does_rate_negotiation: bool | None = None,
) -> MsoEntity:
    """Change an MSO entity's details (None leaves a field as it is)."""
    require_may(ctx, MsoEntity, CHANGE)
    changed = apply_changes(
        entity,
        {
            "legal_name": _text(legal_name),
            "state": _state(state),
            "entity_type": _text(entity_type),
            "investor_type": investor_type,
            "does_rate_negotiation": does_rate_negotiation,
        },
    )
    return _save_and_return(entity, changed)


# --- Professional corporations --------------------------------------------------------------------


@transaction.atomic
def pc_create(
    *,
    ctx: AccessContext,
    legal_name: str,
    state: str = "CA",
    entity_type: str = "Professional medical corporation",
    physician_name: str = "",
) -> ProfessionalCorporation:
    """Record a physician-owned PC as a contracting party of the MSO.

    ``physician_name`` is the owner's name the PC may practice under without a fictitious name
    permit (CPOM-004 compares trade names against it).
    """
    require_may(ctx, ProfessionalCorporation, ADD)
    pc = ProfessionalCorporation(
        tenant=ctx.tenant,
        legal_name=legal_name.strip(),
        state=clean_state(state),
        entity_type=entity_type.strip(),
        physician_name=physician_name.strip(),
    )
    return _save_and_return(pc)


@_restored_on_refusal("pc")
@transaction.atomic
def pc_update(
    *,
    ctx: AccessContext,
    pc: ProfessionalCorporation,
    legal_name: str | None = None,
    state: str | None = None,
    entity_type: str | None = None,
    physician_name: str | None = None,
) -> ProfessionalCorporation:
    """Change a PC's contracting-party details (None leaves a field as it is)."""
    require_may(ctx, ProfessionalCorporation, CHANGE)
    changed = apply_changes(
        pc,
        {
            "legal_name": _text(legal_name),
            "state": _state(state),
            "entity_type": _text(entity_type),
            "physician_name": _text(physician_name),
        },
    )
    return _save_and_return(pc, changed)


# --- Shareholders (the PC's cap table) -------------------------------------------------------------


def _check_shareholder(holder: Shareholder) -> None:
    if holder.shares is None or holder.shares < 1:
        raise ValidationError({"shares": "A shareholder holds at least one share."})
    if holder.license_type == LicenseType.NONE:
        if holder.license_number:
            raise ValidationError(
                {"license_number": "A shareholder without a professional license has no license number."}
            )
    elif not holder.license_number:
        # CPOM-002 checks each licensed owner's license: it needs the number to look it up.
        raise ValidationError({"license_number": "Give the license number of a licensed shareholder."})


@transaction.atomic
def shareholder_create(
    *,
    ctx: AccessContext,
    pc: ProfessionalCorporation,
    name: str,
    license_type: str,
    shares: int,
    license_number: str = "",
    license_state: str = "",
    license_status: str = LicenseStatus.ACTIVE,
) -> Shareholder:
    """Add a line to `pc`'s cap table. A licensed holder's license state defaults to the PC's."""
    require_may(ctx, Shareholder, ADD)
    _require_writable(ctx, pc, "pc")
    licensed = license_type != LicenseType.NONE
    holder = Shareholder(
        tenant=ctx.tenant,
        pc=pc,
        name=name.strip(),
        license_type=license_type,
        license_number=license_number.strip(),
        license_state=_optional_state(license_state, "license_state") or (pc.state if licensed else ""),
        license_status=license_status,
        shares=shares,
    )
    _check_shareholder(holder)
    return _save_and_return(holder)


@_restored_on_refusal("shareholder")
@transaction.atomic
def shareholder_update(
    *,
    ctx: AccessContext,
    shareholder: Shareholder,
    pc: ProfessionalCorporation | None = None,
    name: str | None = None,
    license_type: str | None = None,
    license_number: str | None = None,
    license_state: str | None = None,
    license_status: str | None = None,
    shares: int | None = None,
) -> Shareholder:
    """Change a cap-table line, or correct its PC (None leaves a field as it is)."""
    require_may(ctx, Shareholder, CHANGE)
    changed = apply_changes(
        shareholder,
        {
            "pc": _repointed(ctx, shareholder.pc_id, pc, "pc"),
            "name": _text(name),
            "license_type": license_type,
            "license_number": _text(license_number),
            "license_state": _optional_state(license_state, "license_state"),
            "license_status": license_status,
            "shares": shares,
        },
    )
    _check_shareholder(shareholder)
    return _save_and_return(shareholder, changed)


# --- Fictitious name permits ---------------------------------------------------------------------


PERMIT_DATES = "The permit must expire after it is issued."


@transaction.atomic
def fictitious_name_permit_create(
    *,
    ctx: AccessContext,
    pc: ProfessionalCorporation,
    fictitious_name: str,
    permit_number: str,
    issued_on: dt.date,
    expires_on: dt.date,
) -> FictitiousNamePermit:
    """Record a Medical Board fictitious name permit of `pc` (B&P 2285, 2415)."""
    require_may(ctx, FictitiousNamePermit, ADD)
    _require_writable(ctx, pc, "pc")
    _require_after(issued_on, expires_on, "expires_on", PERMIT_DATES)
    permit = FictitiousNamePermit(
        tenant=ctx.tenant,
        pc=pc,
        fictitious_name=fictitious_name.strip(),
        permit_number=permit_number.strip(),
        issued_on=issued_on,
        expires_on=expires_on,
    )
    return _save_and_return(permit)


@_restored_on_refusal("permit")
@transaction.atomic
def fictitious_name_permit_update(
    *,
    ctx: AccessContext,
    permit: FictitiousNamePermit,
    pc: ProfessionalCorporation | None = None,
    fictitious_name: str | None = None,
    permit_number: str | None = None,
    issued_on: dt.date | None = None,
    expires_on: dt.date | None = None,
) -> FictitiousNamePermit:
    """Change a permit, e.g. after its renewal, or correct its PC (None leaves a field as it is).

    A permit that locations of its current PC trade under cannot move to another PC: each location's
    permit must be its own PC's.
    """
    require_may(ctx, FictitiousNamePermit, CHANGE)
    new_pc = _repointed(ctx, permit.pc_id, pc, "pc")
    if new_pc is not None and permit.locations.exclude(pc=new_pc).exists():
        raise ValidationError(
            {"pc": "Locations of its current PC trade under this permit: give them another permit first."}
        )
    changed = apply_changes(
        permit,
        {
            "pc": new_pc,
            "fictitious_name": _text(fictitious_name),
            "permit_number": _text(permit_number),
            "issued_on": issued_on,
            "expires_on": expires_on,
        },
    )
    _require_after(permit.issued_on, permit.expires_on, "expires_on", PERMIT_DATES)
    return _save_and_return(permit, changed)


# --- Bank accounts -------------------------------------------------------------------------------


def _aba_checksum_ok(routing: str) -> bool:
    digits = [int(c) for c in routing]
    weights = [3, 7, 1] * 3
    return sum(d * w for d, w in zip(digits, weights, strict=True)) % 10 == 0


def _clean_bank_numbers(
    account_last4: str | None, routing_number: str | None
) -> tuple[str | None, str | None]:
    if account_last4 is not None:
        account_last4 = account_last4.strip()
        if not LAST4.fullmatch(account_last4):
            raise ValidationError(
                {"account_last4": "Give exactly the last four digits of the account number."}
            )
    if routing_number is not None:
        routing_number = routing_number.strip()
        if routing_number and not (ROUTING.fullmatch(routing_number) and _aba_checksum_ok(routing_number)):
            raise ValidationError(
                {"routing_number": "Give the bank's 9-digit ABA routing number (or leave it blank)."}
            )
    return account_last4, routing_number


@transaction.atomic
def bank_account_create(
    *,
    ctx: AccessContext,
    bank_name: str,
    account_last4: str,
    purpose: str,
    mso_entity: MsoEntity | None = None,
    pc: ProfessionalCorporation | None = None,
    routing_number: str = "",
) -> BankAccount:
    """Record an account owned by exactly one entity: an MSO entity or a PC (SEP-001/002 read the
    owner). Only the last four digits of the account number are kept."""
    require_may(ctx, BankAccount, ADD)
    if mso_entity is not None and pc is not None:
        raise ValidationError(
            {"pc": "A bank account belongs to exactly one entity: give its MSO entity or its PC, not both."}
        )
    if mso_entity is not None:
        _require_writable(ctx, mso_entity, "mso_entity")
    elif pc is not None:
        _require_writable(ctx, pc, "pc")
    else:
        raise ValidationError({"mso_entity": "Give the account's owner: an MSO entity or a PC."})
    last4, routing = _clean_bank_numbers(account_last4, routing_number)
    account = BankAccount(
        tenant=ctx.tenant,
        mso_entity=mso_entity,
        pc=pc,
        bank_name=bank_name.strip(),
        account_last4=last4 or "",
        routing_number=routing or "",
        purpose=purpose,
    )
    return _save_and_return(account)


@_restored_on_refusal("account")
@transaction.atomic
def bank_account_update(
    *,
    ctx: AccessContext,
    account: BankAccount,
    mso_entity: MsoEntity | None = None,
    pc: ProfessionalCorporation | None = None,
    bank_name: str | None = None,
    account_last4: str | None = None,
    routing_number: str | None = None,
    purpose: str | None = None,
) -> BankAccount:
    """Change an account's details, or correct its owner (None leaves a field as it is).

    Naming a new owner (an MSO entity or a PC) moves the account to it and clears the other kind:
    the account keeps exactly one owner. Naming both is refused.
    """
    require_may(ctx, BankAccount, CHANGE)
    new_entity = mso_entity if mso_entity is not None and mso_entity.pk != account.mso_entity_id else None
    new_pc = pc if pc is not None and pc.pk != account.pc_id else None
    # Naming the new owner while still naming the current one (of the other kind) names two owners.
    if (new_entity is not None and pc is not None) or (new_pc is not None and mso_entity is not None):
        raise ValidationError(
            {"pc": "A bank account belongs to exactly one entity: give its MSO entity or its PC, not both."}
        )
    last4, routing = _clean_bank_numbers(account_last4, routing_number)
    changed: list[str] = []
    if new_entity is not None:
        _require_writable(ctx, new_entity, "mso_entity")
        account.mso_entity, account.pc = new_entity, None
        changed += ["mso_entity", "pc"]
    elif new_pc is not None:
        _require_writable(ctx, new_pc, "pc")
        account.pc, account.mso_entity = new_pc, None
        changed += ["mso_entity", "pc"]
    changed += apply_changes(
        account,
        {
            "bank_name": _text(bank_name),
            "account_last4": last4,
            "routing_number": routing,
            "purpose": purpose,
        },
    )
    return _save_and_return(account, changed)


# --- Locations -----------------------------------------------------------------------------------


def _check_name_permit(location: Location) -> None:
    permit = location.name_permit
    if permit is not None and permit.pc_id != location.pc_id:
        raise ValidationError(
            {
                "name_permit": "This permit belongs to another PC: a location may only use a permit "
                "of the PC providing its clinical services."
            }
        )


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
    trade_name: str = "",
    name_permit: FictitiousNamePermit | None = None,
    generates_sharps: bool = True,
    runs_waived_lab_tests: bool = False,
    clia_waiver_number: str = "",
    lab_director: str = "",
) -> Location:
    """Open a med spa run by `managing_entity` whose clinical services `pc` provides.

    A fictitious trade name's permit must be one of `pc`'s permits.
    """
    require_may(ctx, Location, ADD)
    require_in_scope(ctx, managing_entity, "managing_entity")
    require_in_scope(ctx, pc, "pc")
    if name_permit is not None:
        require_in_scope(ctx, name_permit, "name_permit")
    location = Location(
        tenant=ctx.tenant,
        name=name.strip(),
        address=address.strip(),
        city=city.strip(),
        state=clean_state(state),
        managing_entity=managing_entity,
        pc=pc,
        trade_name=trade_name.strip(),
        name_permit=name_permit,
        generates_sharps=generates_sharps,
        runs_waived_lab_tests=runs_waived_lab_tests,
        clia_waiver_number=clia_waiver_number.strip(),
        lab_director=lab_director.strip(),
    )
    _check_name_permit(location)
    return _save_and_return(location)


@_restored_on_refusal("location")
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
    trade_name: str | None = None,
    name_permit: FictitiousNamePermit | Literal[_Unset.UNSET] | None = UNSET,
    generates_sharps: bool | None = None,
    runs_waived_lab_tests: bool | None = None,
    clia_waiver_number: str | None = None,
    lab_director: str | None = None,
) -> Location:
    """Change a location (None leaves a field as it is; ``name_permit=None`` clears the permit).

    A new reference must be in ctx's scope; a reference the caller cannot see may stay as it is but
    cannot be newly set. Moving the location to another PC needs a permit of that PC (or none).
    """
    require_may(ctx, Location, CHANGE)
    if managing_entity is not None and managing_entity.pk != location.managing_entity_id:
        require_in_scope(ctx, managing_entity, "managing_entity")
    if pc is not None and pc.pk != location.pc_id:
        require_in_scope(ctx, pc, "pc")
    changed = apply_changes(
        location,
        {
            "name": _text(name),
            "address": _text(address),
            "city": _text(city),
            "state": _state(state),
            "managing_entity": managing_entity,
            "pc": pc,
            "trade_name": _text(trade_name),
            "generates_sharps": generates_sharps,
            "runs_waived_lab_tests": runs_waived_lab_tests,
            "clia_waiver_number": _text(clia_waiver_number),
            "lab_director": _text(lab_director),
        },
    )
    if name_permit is not UNSET and getattr(name_permit, "pk", None) != location.name_permit_id:
        if name_permit is not None:
            require_in_scope(ctx, name_permit, "name_permit")
        location.name_permit = name_permit
        changed.append("name_permit")
    if {"pc", "name_permit"} & set(changed):
        _check_name_permit(location)
    return _save_and_return(location, changed)


# --- Leases --------------------------------------------------------------------------------------

LEASE_DATES = "The lease must end after it starts."


def _currency(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().upper()
    if not CURRENCY.fullmatch(value):
        raise ValidationError({"currency": "Use the three-letter ISO currency code, e.g. USD."})
    return value


def _check_rent(rent: Decimal | None) -> None:
    if rent is not None and rent < 0:
        raise ValidationError({"monthly_rent": "Rent cannot be negative."})


@transaction.atomic
def lease_create(
    *,
    ctx: AccessContext,
    location: Location,
    landlord: str,
    term_start: dt.date,
    term_end: dt.date,
    monthly_rent: Decimal,
    currency: str = "USD",
) -> Lease:
    """Record the lease of `location`'s premises."""
    require_may(ctx, Lease, ADD)
    _require_writable(ctx, location, "location")
    _require_after(term_start, term_end, "term_end", LEASE_DATES)
    _check_rent(monthly_rent)
    lease = Lease(
        tenant=ctx.tenant,
        location=location,
        landlord=landlord.strip(),
        term_start=term_start,
        term_end=term_end,
        monthly_rent=monthly_rent,
        currency=_currency(currency) or "",
    )
    return _save_and_return(lease)


@_restored_on_refusal("lease")
@transaction.atomic
def lease_update(
    *,
    ctx: AccessContext,
    lease: Lease,
    location: Location | None = None,
    landlord: str | None = None,
    term_start: dt.date | None = None,
    term_end: dt.date | None = None,
    monthly_rent: Decimal | None = None,
    currency: str | None = None,
) -> Lease:
    """Change a lease, e.g. an extension of its term, or correct its location (None leaves a field
    as it is)."""
    require_may(ctx, Lease, CHANGE)
    _check_rent(monthly_rent)
    changed = apply_changes(
        lease,
        {
            "location": _repointed(ctx, lease.location_id, location, "location"),
            "landlord": _text(landlord),
            "term_start": term_start,
            "term_end": term_end,
            "monthly_rent": monthly_rent,
            "currency": _currency(currency),
        },
    )
    _require_after(lease.term_start, lease.term_end, "term_end", LEASE_DATES)
    return _save_and_return(lease, changed)


# --- Equipment and its service visits ------------------------------------------------------------


def _check_interval(days: int | None) -> None:
    if days is not None and not 1 <= days <= MAX_SERVICE_INTERVAL_DAYS:
        raise ValidationError(
            {"service_interval_days": f"The service interval is 1 to {MAX_SERVICE_INTERVAL_DAYS} days."}
        )


def _check_serial_free(equipment: Equipment) -> None:
    # Case and spacing differences ("Candela" / "candela ") would slip past the exact unique
    # constraint and record one device twice.
    taken = Equipment.objects.filter(
        tenant=equipment.tenant,
        manufacturer__iexact=equipment.manufacturer,
        serial_number__iexact=equipment.serial_number,
    ).exclude(pk=equipment.pk)
    if taken.exists():
        raise ValidationError(
            {
                "serial_number": f"{equipment.manufacturer} serial number {equipment.serial_number} "
                "is already recorded for another device."
            }
        )


def _save_equipment(equipment: Equipment, changed: list[str] | None = None) -> Equipment:
    _check_serial_free(equipment)
    try:
        # A savepoint: a concurrent insert of the same serial hits the constraint after our check.
        with transaction.atomic():
            return _save_and_return(equipment, changed)
    except IntegrityError:
        raise ValidationError(
            {"serial_number": "This manufacturer's serial number is already recorded for another device."}
        ) from None


@transaction.atomic
def equipment_create(
    *,
    ctx: AccessContext,
    location: Location,
    kind: str,
    manufacturer: str,
    model_name: str,
    serial_number: str,
    service_interval_days: int = 365,
) -> Equipment:
    """Record a device (laser, IPL …) at `location`; a serial number is unique per manufacturer.

    ``service_interval_days`` is the maintenance interval EQP-001 checks service visits against.
    """
    require_may(ctx, Equipment, ADD)
    _require_writable(ctx, location, "location")
    _check_interval(service_interval_days)
    equipment = Equipment(
        tenant=ctx.tenant,
        location=location,
        kind=kind,
        manufacturer=manufacturer.strip(),
        model_name=model_name.strip(),
        serial_number=serial_number.strip(),
        service_interval_days=service_interval_days,
    )
    return _save_equipment(equipment)


@_restored_on_refusal("equipment")
@transaction.atomic
def equipment_update(
    *,
    ctx: AccessContext,
    equipment: Equipment,
    location: Location | None = None,
    kind: str | None = None,
    manufacturer: str | None = None,
    model_name: str | None = None,
    serial_number: str | None = None,
    service_interval_days: int | None = None,
) -> Equipment:
    """Change a device's record, or move it to another location (None leaves a field as it is)."""
    require_may(ctx, Equipment, CHANGE)
    _check_interval(service_interval_days)
    changed = apply_changes(
        equipment,
        {
            "location": _repointed(ctx, equipment.location_id, location, "location"),
            "kind": kind,
            "manufacturer": _text(manufacturer),
            "model_name": _text(model_name),
            "serial_number": _text(serial_number),
            "service_interval_days": service_interval_days,
        },
    )
    if not changed:
        return equipment
    return _save_equipment(equipment, changed)


def _check_service_date(serviced_on: dt.date | None) -> None:
    if serviced_on is not None and serviced_on > timezone.localdate():
        raise ValidationError({"serviced_on": "A service visit cannot be dated in the future."})


@transaction.atomic
def equipment_service_create(
    *,
    ctx: AccessContext,
    equipment: Equipment,
    serviced_on: dt.date,
    vendor: str,
    notes: str = "",
) -> EquipmentService:
    """Record a service visit on `equipment` (the newest visit starts its next interval)."""
    require_may(ctx, EquipmentService, ADD)
    _require_writable(ctx, equipment, "equipment")
    _check_service_date(serviced_on)
    visit = EquipmentService(
        tenant=ctx.tenant,
        equipment=equipment,
        serviced_on=serviced_on,
        vendor=vendor.strip(),
        notes=notes.strip(),
    )
    return _save_and_return(visit)


@_restored_on_refusal("visit")
@transaction.atomic
def equipment_service_update(
    *,
    ctx: AccessContext,
    visit: EquipmentService,
    equipment: Equipment | None = None,
    serviced_on: dt.date | None = None,
    vendor: str | None = None,
    notes: str | None = None,
) -> EquipmentService:
    """Correct a service visit, its device included (None leaves a field as it is)."""
    require_may(ctx, EquipmentService, CHANGE)
    _check_service_date(serviced_on)
    changed = apply_changes(
        visit,
        {
            "equipment": _repointed(ctx, visit.equipment_id, equipment, "equipment"),
            "serviced_on": serviced_on,
            "vendor": _text(vendor),
            "notes": _text(notes),
        },
    )
    return _save_and_return(visit, changed)


# --- Medical waste registrations -----------------------------------------------------------------

WASTE_DATES = "The registration must expire after it is issued."


@transaction.atomic
def medical_waste_registration_create(
    *,
    ctx: AccessContext,
    location: Location,
    registration_number: str,
    hauler: str,
    issued_on: dt.date,
    expires_on: dt.date,
) -> MedicalWasteRegistration:
    """Record `location`'s Medical Waste Management Act registration (WST-001)."""
    require_may(ctx, MedicalWasteRegistration, ADD)
    _require_writable(ctx, location, "location")
    _require_after(issued_on, expires_on, "expires_on", WASTE_DATES)
    registration = MedicalWasteRegistration(
        tenant=ctx.tenant,
        location=location,
        registration_number=registration_number.strip(),
        hauler=hauler.strip(),
        issued_on=issued_on,
        expires_on=expires_on,
    )
    return _save_and_return(registration)


@_restored_on_refusal("registration")
@transaction.atomic
def medical_waste_registration_update(
    *,
    ctx: AccessContext,
    registration: MedicalWasteRegistration,
    location: Location | None = None,
    registration_number: str | None = None,
    hauler: str | None = None,
    issued_on: dt.date | None = None,
    expires_on: dt.date | None = None,
) -> MedicalWasteRegistration:
    """Change a registration, e.g. after renewal, or correct its location (None leaves a field as it is)."""
    require_may(ctx, MedicalWasteRegistration, CHANGE)
    changed = apply_changes(
        registration,
        {
            "location": _repointed(ctx, registration.location_id, location, "location"),
            "registration_number": _text(registration_number),
            "hauler": _text(hauler),
            "issued_on": issued_on,
            "expires_on": expires_on,
        },
    )
    _require_after(registration.issued_on, registration.expires_on, "expires_on", WASTE_DATES)
    return _save_and_return(registration, changed)
