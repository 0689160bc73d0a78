"""Writes of the workforce area: vendors and their BAAs, non-clinical staff and their training, and the
provider credentials the MSO keeps for the PCs as a service (it records them, it never decides on them).

Every service refuses a capacity that may not write the model (404 to callers), checks each reference
it is given against the caller's scope (400 on that field), validates the record as a whole and saves
it with full validation, so bad input is a 400 with a message per field and nothing is written.
Compliance findings (a vendor paid per lead, a license about to lapse) are the audit engine's to
report, not reasons to refuse a record: the MSO must be able to record the facts as they are.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Collection, Iterable
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from management.models import (
    BusinessAssociateAgreement,
    Location,
    MsoEntity,
    ProfessionalCorporation,
    Provider,
    StaffMember,
    TrainingRecord,
    Vendor,
)
from management.procedures import LicenseStatus, LicenseType
from tenants.access import AccessContext
from tenants.capacities import ADD, CHANGE
from tenants.models import Membership
from tenants.writes import clean_state, require_in_scope, require_may, save_validated

# --- shared by the workforce and front-desk services ----------------------------------------------


class Problems:
    """Collects every problem of one write, so a form or API client learns all of them at once."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def check(self, fn: Callable[[], Any]) -> None:
        """Run a check that raises ValidationError and keep its messages."""
        try:
            fn()
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for message in messages:
                    self.add(field, message)

    def raise_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


def check_refs(ctx: AccessContext, obj: models.Model, fields: Iterable[str], problems: Problems) -> None:
    """Each named reference of `obj` (when set) must be an object ctx may view, else a 400 on it."""
    for field in fields:
        ref = getattr(obj, field)
        if ref is not None:
            problems.check(functools.partial(require_in_scope, ctx, ref, field))


class Changed(list[str]):
    """The names of the fields an update set, with their previous values: a refused update puts
    them back, so the caller's object is left as it was read."""

    def __init__(self) -> None:
        super().__init__()
        self.previous: dict[str, Any] = {}

    def undo(self, obj: models.Model) -> None:
        for attname, value in self.previous.items():
            setattr(obj, attname, value)


def assign(obj: models.Model, changes: dict[str, Any], allowed: Collection[str]) -> Changed:
    """Set each given field (None clears an optional one) and return the names that changed.

    Unlike tenants.writes.apply_changes, None is a value here: an edit form that empties an expiry
    date must clear it. Text is trimmed; None in a text field means "".
    """
    unknown = set(changes) - set(allowed)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no editable field(s) {sorted(unknown)}")
    changed = Changed()
    for name, value in changes.items():
        field = obj._meta.get_field(name)
        if isinstance(field, models.CharField):
            value = "" if value is None else str(value).strip()
        # Compare references by id: reading the current related object would cost a query.
        attname = getattr(field, "attname", name)
        current = getattr(obj, attname)
        if current != (value.pk if isinstance(value, models.Model) else value):
            changed.previous[attname] = current
            setattr(obj, name, value)
            changed.append(name)
    return changed


def changed_refs(changed: Iterable[str], refs: Iterable[str]) -> list[str]:
    """The references an update newly sets: one the caller cannot see may stay, not be newly set."""
    return [r for r in refs if r in changed]


def not_in_future(problems: Problems, value: dt.date | None, field: str, what: str) -> None:
    if value is not None and value > timezone.localdate():
        problems.add(field, f"{what} cannot be in the future.")


def after(
    problems: Problems, later: dt.date | None, earlier: dt.date | None, field: str, message: str
) -> None:
    if later is not None and earlier is not None and later <= earlier:
        problems.add(field, message)


def text(value: str | None) -> str:
    return (value or "").strip()


def finish(
    obj: models.Model, problems: Problems, changed: list[str] | None = None, *, commit: bool = True
) -> None:
    """Raise every problem found, else save with full validation (constraints become 400s too).

    ``changed`` is None for a create, else the fields an update set (saved alone; put back on refusal).
    ``commit=False`` validates in full but does not save.
    """
    try:
        problems.raise_any()
        if not commit:
            obj.full_clean()
        elif changed is None:
            save_validated(obj)
        elif changed:
            save_validated(obj, list(changed))
    except ValidationError:
        if isinstance(changed, Changed):
            changed.undo(obj)
        raise


# --- Vendors ------------------------------------------------------------------------------------

VENDOR_FIELDS = frozenset({"name", "service", "handles_phi", "fee_basis", "fee_amount"})


def _check_vendor(vendor: Vendor, problems: Problems) -> None:
    if not vendor.name:
        problems.add("name", "Give the vendor's name.")
    if not vendor.service:
        problems.add("service", "Say what the vendor does for the MSO.")
    amount = vendor.fee_amount
    if amount is not None:
        if amount <= 0:
            problems.add("fee_amount", "A fee is a positive amount (leave it empty when unknown).")
        elif vendor.fee_basis == Vendor.FeeBasis.PERCENT_OF_REVENUE and amount > Decimal(100):
            problems.add("fee_amount", "A percentage of revenue is at most 100.")


@transaction.atomic
def vendor_create(
    *,
    ctx: AccessContext,
    name: str,
    service: str,
    handles_phi: bool = False,
    fee_basis: str = Vendor.FeeBasis.FLAT,
    fee_amount: Decimal | None = None,
) -> Vendor:
    """Record a vendor of the MSO; one that handles PHI needs a BAA (BAA-001, reported by the audit)."""
    require_may(ctx, Vendor, ADD)
    vendor = Vendor(
        tenant=ctx.tenant,
        name=text(name),
        service=text(service),
        handles_phi=handles_phi,
        fee_basis=fee_basis,
        fee_amount=fee_amount,
    )
    problems = Problems()
    _check_vendor(vendor, problems)
    finish(vendor, problems)
    return vendor


@transaction.atomic
def vendor_update(*, ctx: AccessContext, vendor: Vendor, **changes: Any) -> Vendor:
    """Change a vendor: each given field is set (None empties the fee amount)."""
    require_may(ctx, Vendor, CHANGE)
    changed = assign(vendor, changes, VENDOR_FIELDS)
    problems = Problems()
    _check_vendor(vendor, problems)
    finish(vendor, problems, changed)
    return vendor


# --- Business associate agreements --------------------------------------------------------------

BAA_FIELDS = frozenset({"vendor", "signed_on", "expires_on", "document_reference"})


def _check_baa(baa: BusinessAssociateAgreement, problems: Problems) -> None:
    not_in_future(problems, baa.signed_on, "signed_on", "The signing date")
    after(problems, baa.expires_on, baa.signed_on, "expires_on", "The BAA must expire after it was signed.")


@transaction.atomic
def baa_create(
    *,
    ctx: AccessContext,
    vendor: Vendor,
    signed_on: dt.date,
    expires_on: dt.date | None = None,
    document_reference: str = "",
) -> BusinessAssociateAgreement:
    """Record a business associate agreement signed with `vendor` (HIPAA 164.308(b))."""
    require_may(ctx, BusinessAssociateAgreement, ADD)
    baa = BusinessAssociateAgreement(
        tenant=ctx.tenant,
        vendor=vendor,
        signed_on=signed_on,
        expires_on=expires_on,
        document_reference=text(document_reference),
    )
    problems = Problems()
    check_refs(ctx, baa, ["vendor"], problems)
    _check_baa(baa, problems)
    finish(baa, problems)
    return baa


@transaction.atomic
def baa_update(
    *, ctx: AccessContext, baa: BusinessAssociateAgreement, **changes: Any
) -> BusinessAssociateAgreement:
    """Change a BAA: each given field is set (None removes the expiry date)."""
    require_may(ctx, BusinessAssociateAgreement, CHANGE)
    changed = assign(baa, changes, BAA_FIELDS)
    problems = Problems()
    check_refs(ctx, baa, changed_refs(changed, ["vendor"]), problems)
    _check_baa(baa, problems)
    finish(baa, problems, changed)
    return baa


# --- Staff and their training -------------------------------------------------------------------

STAFF_FIELDS = frozenset(
    {
        "employer",
        "location",
        "full_name",
        "job_title",
        "hired_on",
        "left_on",
        "exposure_risk",
        "contract_has_noncompete",
    }
)


def _check_staff(staff: StaffMember, problems: Problems) -> None:
    if not staff.full_name:
        problems.add("full_name", "Give the person's full name.")
    if not staff.job_title:
        problems.add("job_title", "Give the job title.")
    if staff.left_on is not None and staff.hired_on is not None and staff.left_on < staff.hired_on:
        problems.add("left_on", "The leaving date cannot be before the hiring date.")


@transaction.atomic
def staff_member_create(
    *,
    ctx: AccessContext,
    employer: MsoEntity,
    full_name: str,
    job_title: str,
    hired_on: dt.date,
    location: Location | None = None,
    left_on: dt.date | None = None,
    exposure_risk: bool = False,
    contract_has_noncompete: bool = False,
) -> StaffMember:
    """Record a non-clinical workforce member employed by an MSO entity (never a clinician)."""
    require_may(ctx, StaffMember, ADD)
    staff = StaffMember(
        tenant=ctx.tenant,
        employer=employer,
        location=location,
        full_name=text(full_name),
        job_title=text(job_title),
        hired_on=hired_on,
        left_on=left_on,
        exposure_risk=exposure_risk,
        contract_has_noncompete=contract_has_noncompete,
    )
    problems = Problems()
    check_refs(ctx, staff, ["employer", "location"], problems)
    _check_staff(staff, problems)
    finish(staff, problems)
    return staff


@transaction.atomic
def staff_member_update(*, ctx: AccessContext, staff_member: StaffMember, **changes: Any) -> StaffMember:
    """Change a staff member: each given field is set (None clears the location or leaving date)."""
    require_may(ctx, StaffMember, CHANGE)
    changed = assign(staff_member, changes, STAFF_FIELDS)
    problems = Problems()
    check_refs(ctx, staff_member, changed_refs(changed, ["employer", "location"]), problems)
    _check_staff(staff_member, problems)
    finish(staff_member, problems, changed)
    return staff_member


TRAINING_FIELDS = frozenset({"staff_member", "kind", "completed_on", "expires_on"})


def _check_training(record: TrainingRecord, problems: Problems) -> None:
    not_in_future(problems, record.completed_on, "completed_on", "The completion date")
    after(
        problems,
        record.expires_on,
        record.completed_on,
        "expires_on",
        "The training must expire after it was completed.",
    )


@transaction.atomic
def training_record_create(
    *,
    ctx: AccessContext,
    staff_member: StaffMember,
    kind: str,
    completed_on: dt.date,
    expires_on: dt.date | None = None,
) -> TrainingRecord:
    """Record a completed training (HIPAA, bloodborne pathogens, IIPP) of a staff member."""
    require_may(ctx, TrainingRecord, ADD)
    record = TrainingRecord(
        tenant=ctx.tenant,
        staff_member=staff_member,
        kind=kind,
        completed_on=completed_on,
        expires_on=expires_on,
    )
    problems = Problems()
    check_refs(ctx, record, ["staff_member"], problems)
    _check_training(record, problems)
    finish(record, problems)
    return record


@transaction.atomic
def training_record_update(*, ctx: AccessContext, record: TrainingRecord, **changes: Any) -> TrainingRecord:
    """Change a training record: each given field is set (None removes the expiry date)."""
    require_may(ctx, TrainingRecord, CHANGE)
    changed = assign(record, changes, TRAINING_FIELDS)
    problems = Problems()
    check_refs(ctx, record, changed_refs(changed, ["staff_member"]), problems)
    _check_training(record, problems)
    finish(record, problems, changed)
    return record


# --- Providers and their credentials -------------------------------------------------------------

# The fields a provider record takes, in form order (the API serializer and the pages use this list).
PROVIDER_FIELDS = (
    "pc",
    "membership",
    "full_name",
    "email",
    "license_type",
    "license_number",
    "license_state",
    "license_status",
    "license_expires_on",
    "dea_number",
    "dea_expires_on",
    "cures_expires_on",
    "np_furnishing_number",
    "np_furnishing_expires_on",
    "np_independent_103_104",
    "pa_practice_agreement_signed_on",
    "pa_practice_agreement_expires_on",
    "contract_has_noncompete",
    "active",
)
PROVIDER_REFS = ("pc", "membership")
# Capacities a provider's sign-in may have: the people who examine, treat and supervise.
CLINICAL_CAPACITIES = frozenset({"pc_physician", "clinician"})
DEA_NUMBER = re.compile(r"[A-Z]{2}\d{7}")


def dea_checksum_ok(number: str) -> bool:
    """DEA registration check digit: (d1+d3+d5) + 2·(d2+d4+d6), last digit equals d7."""
    digits = [int(c) for c in number[2:]]
    total = digits[0] + digits[2] + digits[4] + 2 * (digits[1] + digits[3] + digits[5])
    return total % 10 == digits[6]


def provider_with_license(
    ctx: AccessContext, *, state: str, license_type: str, number: str, exclude: Any = None
) -> bool:
    """Whether the tenant already records this license (across every PC, visible or not to ctx).

    Says only yes or no: the other record may belong to a PC the caller is not granted.
    """
    qs = Provider.objects.filter(
        tenant=ctx.tenant, license_state=state, license_type=license_type, license_number__iexact=number
    )
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    return qs.exists()


def _check_membership(ctx: AccessContext, provider: Provider, problems: Problems) -> None:
    member: Membership | None = provider.membership
    if member is None:
        return
    if member.tenant_id != ctx.tenant.pk or member.capacity not in CLINICAL_CAPACITIES:
        # Same message for another tenant's membership and a business one: nothing is revealed.
        problems.add("membership", "Unknown membership: link a PC physician's or clinician's sign-in.")
        return
    if member.license_type and member.license_type != provider.license_type:
        problems.add(
            "membership",
            f"That sign-in holds a {member.license_type} license; this provider's license is "
            f"{provider.license_type}.",
        )
    taken = Provider.objects.filter(tenant=ctx.tenant, membership=member).exclude(pk=provider.pk)
    if taken.exists():
        problems.add("membership", "That sign-in is already linked to another provider.")


def _check_provider(ctx: AccessContext, provider: Provider, problems: Problems) -> None:
    if not provider.full_name:
        problems.add("full_name", "Give the provider's full name.")
    state = provider.license_state or ""
    problems.check(lambda: clean_state(state, "license_state"))
    provider.license_state = state.strip().upper()
    number = provider.license_number
    if not number:
        problems.add("license_number", "Give the license number.")
    elif provider.license_type and provider_with_license(
        ctx,
        state=provider.license_state,
        license_type=provider.license_type,
        number=number,
        exclude=provider.pk,
    ):
        problems.add(
            "license_number",
            f"A provider with {provider.license_state} {provider.license_type} license {number} is "
            "already on file.",
        )
    if provider.license_type == LicenseType.NONE:
        problems.add("license_type", "A provider holds a professional license.")

    dea = provider.dea_number
    if dea:
        if not DEA_NUMBER.fullmatch(dea):
            problems.add("dea_number", "A DEA number is two letters and seven digits, e.g. AB1234563.")
        elif not dea_checksum_ok(dea):
            problems.add("dea_number", "The DEA number's check digit does not match; check for a typo.")
    elif provider.dea_expires_on is not None:
        problems.add("dea_expires_on", "Give the DEA number this expiry belongs to.")

    is_np = provider.license_type == LicenseType.NP
    if provider.np_furnishing_number and not is_np:
        problems.add("np_furnishing_number", "Only a nurse practitioner has a furnishing number.")
    if provider.np_furnishing_expires_on is not None and not provider.np_furnishing_number:
        problems.add("np_furnishing_expires_on", "Give the furnishing number this expiry belongs to.")
    if provider.np_independent_103_104 and not is_np:
        problems.add("np_independent_103_104", "Only a nurse practitioner practises under B&P 2837.103/104.")

    signed, ends = provider.pa_practice_agreement_signed_on, provider.pa_practice_agreement_expires_on
    if (signed or ends) and provider.license_type != LicenseType.PA:
        problems.add(
            "pa_practice_agreement_signed_on", "Only a physician assistant has a practice agreement."
        )
    if ends is not None and signed is None:
        problems.add("pa_practice_agreement_signed_on", "Give the date the practice agreement was signed.")
    not_in_future(problems, signed, "pa_practice_agreement_signed_on", "The signing date")
    after(
        problems,
        ends,
        signed,
        "pa_practice_agreement_expires_on",
        "The practice agreement must expire after it was signed.",
    )
    if provider.license_status == LicenseStatus.REVOKED and provider.active:
        problems.add("active", "A provider whose license is revoked cannot be active.")
    _check_membership(ctx, provider, problems)


@transaction.atomic
def provider_create(
    *,
    ctx: AccessContext,
    pc: ProfessionalCorporation,
    full_name: str,
    license_type: str,
    license_number: str,
    license_expires_on: dt.date,
    license_state: str = "CA",
    license_status: str = LicenseStatus.ACTIVE,
    email: str = "",
    membership: Membership | None = None,
    dea_number: str = "",
    dea_expires_on: dt.date | None = None,
    cures_expires_on: dt.date | None = None,
    np_furnishing_number: str = "",
    np_furnishing_expires_on: dt.date | None = None,
    np_independent_103_104: bool = False,
    pa_practice_agreement_signed_on: dt.date | None = None,
    pa_practice_agreement_expires_on: dt.date | None = None,
    contract_has_noncompete: bool = False,
    active: bool = True,
    commit: bool = True,
) -> Provider:
    """Record a licensed provider of `pc` and the credentials the MSO tracks for them.

    The license number is unique per state and license type in the tenant; a DEA number must pass
    its check digit; NP- and PA-only credentials are refused on other license types. With
    ``commit=False`` the record is validated exactly the same way and returned unsaved (an import
    checks every row before it writes any).
    """
    require_may(ctx, Provider, ADD)
    provider = Provider(
        tenant=ctx.tenant,
        pc=pc,
        membership=membership,
        full_name=text(full_name),
        email=text(email),
        license_type=license_type,
        license_number=text(license_number),
        license_state=text(license_state),
        license_status=license_status,
        license_expires_on=license_expires_on,
        dea_number=text(dea_number).upper(),
        dea_expires_on=dea_expires_on,
        cures_expires_on=cures_expires_on,
        np_furnishing_number=text(np_furnishing_number),
        np_furnishing_expires_on=np_furnishing_expires_on,
        np_independent_103_104=np_independent_103_104,
        pa_practice_agreement_signed_on=pa_practice_agreement_signed_on,
        pa_practice_agreement_expires_on=pa_practice_agreement_expires_on,
        contract_has_noncompete=contract_has_noncompete,
        active=active,
    )
    problems = Problems()
    check_refs(ctx, provider, ["pc"], problems)
    _check_provider(ctx, provider, problems)
    finish(provider, problems, commit=commit)
    return provider


@transaction.atomic
def provider_update(*, ctx: AccessContext, provider: Provider, **changes: Any) -> Provider:
    """Change a provider's record: each given field is set (None clears an optional credential)."""
    require_may(ctx, Provider, CHANGE)
    if isinstance(changes.get("dea_number"), str):
        changes["dea_number"] = changes["dea_number"].strip().upper()
    changed = assign(provider, changes, PROVIDER_FIELDS)
    problems = Problems()
    check_refs(ctx, provider, changed_refs(changed, ["pc"]), problems)
    _check_provider(ctx, provider, problems)
    finish(provider, problems, changed)
    return provider
