"""Services and selectors of the parties area: valid writes, each data rule's refusal with its message,
references of another tenant or outside the capacity's scope, capacities that may not write, and what
the selectors compute (cap-table percentages, a device's next service)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from management import selectors, services
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
    Shareholder,
)
from tenants.access import AccessContext
from tests import factories
from tests.worlds import World

ActAs = Callable[[AccessContext], AbstractContextManager[None]]

pytestmark = pytest.mark.django_db

TODAY = dt.date.today()


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


@contextmanager
def refused(field: str, message: str) -> Iterator[None]:
    """The block raises a ValidationError on `field` whose message contains `message`."""
    with pytest.raises(ValidationError) as caught:
        yield
    errors = caught.value.message_dict
    assert field in errors, errors
    assert any(message in m for m in errors[field]), errors


def count(model: Any, world: World) -> int:
    return int(model.objects.filter(tenant=world.tenant).count())


# --- MSO entities and PCs ---------------------------------------------------------------------------


def test_mso_entity_records_investor_type_and_rate_negotiation(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        entity = services.mso_entity_create(
            ctx=ctx,
            legal_name=" Glow Holdings LLC ",
            state="ca",
            investor_type=InvestorType.PRIVATE_EQUITY,
            does_rate_negotiation=True,
        )
        services.mso_entity_update(ctx=ctx, entity=entity, investor_type=InvestorType.NONE, state="nv")
        with refused("state", "two-letter state code"):
            services.mso_entity_update(ctx=ctx, entity=entity, state="Nevada")
        with refused("investor_type", "not a valid choice"):
            services.mso_entity_create(ctx=ctx, legal_name="X LLC", investor_type="venture")
    entity.refresh_from_db()
    assert (entity.legal_name, entity.state, entity.investor_type, entity.does_rate_negotiation) == (
        "Glow Holdings LLC",
        "NV",
        InvestorType.NONE,
        True,
    )
    assert count(MsoEntity, world_a) == 2  # the world's and this one; the refused one wrote nothing


def test_pc_records_the_physician_name(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        pc = services.pc_create(ctx=ctx, legal_name="Dana Reyes, M.D., Inc.", physician_name=" Dana Reyes ")
        services.pc_update(ctx=ctx, pc=pc, physician_name="Dana R. Reyes")
    pc.refresh_from_db()
    assert pc.physician_name == "Dana R. Reyes"


# --- Shareholders -----------------------------------------------------------------------------------


def test_shareholder_create_and_update(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    pc = world_a.pcs[0]
    with as_ctx(ctx):
        holder = services.shareholder_create(
            ctx=ctx, pc=pc, name=" Dr. Ana Ruiz ", license_type="MD", license_number="A123456", shares=510
        )
        assert (holder.name, holder.license_state) == ("Dr. Ana Ruiz", pc.state)  # defaults to the PC's
        services.shareholder_update(ctx=ctx, shareholder=holder, shares=600, license_state="nv")
    holder.refresh_from_db()
    assert (holder.shares, holder.license_state) == (600, "NV")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"shares": 0}, "shares", "at least one share"),
        ({"license_number": ""}, "license_number", "license number of a licensed shareholder"),
        ({"license_type": "none"}, "license_number", "without a professional license has no license number"),
        ({"license_state": "Calif."}, "license_state", "two-letter state code"),
        ({"license_type": "surgeon"}, "license_type", "not a valid choice"),
    ],
)
def test_shareholder_data_rules(
    world_a: World, as_ctx: ActAs, changes: dict[str, Any], field: str, message: str
) -> None:
    ctx = world_a.ctx("mso_admin")
    data: dict[str, Any] = {
        "pc": world_a.pcs[0],
        "name": "Holder",
        "license_type": "MD",
        "license_number": "A1",
        "shares": 10,
    }
    with as_ctx(ctx):
        with refused(field, message):
            services.shareholder_create(ctx=ctx, **{**data, **changes})
        holder = services.shareholder_create(ctx=ctx, **data)
        with refused(field, message):
            services.shareholder_update(ctx=ctx, shareholder=holder, **changes)
    holder.refresh_from_db()
    assert holder.shares == 10 and holder.license_type == "MD"
    assert count(Shareholder, world_a) == 1


def test_a_lay_shareholder_is_recorded_without_a_license(world_a: World, as_ctx: ActAs) -> None:
    # CPOM-001 forbids it, but that is the audit's finding to make: the cap table must show the facts.
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        holder = services.shareholder_create(
            ctx=ctx, pc=world_a.pcs[0], name="Glow Holdings LLC", license_type="none", shares=100
        )
    assert (holder.license_number, holder.license_state) == ("", "")


def test_correcting_a_records_pc_or_location_needs_the_new_one_in_scope(
    world_a: World, world_b: World, as_ctx: ActAs
) -> None:
    """A mis-entered PC/location can be corrected (nothing is deleted here), but only to a PC or
    location the capacity may add records to: staff hold the first PC and location only."""
    t, (pc0, pc1), (loc0, loc1) = world_a.tenant, world_a.pcs, world_a.locations
    holder = factories.ShareholderFactory.create(tenant=t, pc=pc0)
    lease = factories.LeaseFactory.create(tenant=t, location=loc0)
    registration = factories.MedicalWasteRegistrationFactory.create(tenant=t, location=loc0)
    device = factories.EquipmentFactory.create(tenant=t, location=loc0)
    visit = factories.EquipmentServiceFactory.create(tenant=t, equipment=device)
    elsewhere = factories.EquipmentFactory.create(tenant=t, location=loc1)
    moves: list[tuple[Any, Any, dict[str, Any], dict[str, Any], str]] = [
        (services.shareholder_update, holder, {"shareholder": holder}, {"pc": pc1}, "pc"),
        (services.lease_update, lease, {"lease": lease}, {"location": loc1}, "location"),
        (
            services.medical_waste_registration_update,
            registration,
            {"registration": registration},
            {"location": loc1},
            "location",
        ),
        (services.equipment_update, device, {"equipment": device}, {"location": loc1}, "location"),
        (services.equipment_service_update, visit, {"visit": visit}, {"equipment": elsewhere}, "equipment"),
    ]
    staff, admin = world_a.ctx("mso_staff"), world_a.ctx("mso_admin")
    for service, obj, target, change, field in moves:
        with as_ctx(staff), refused(field, "not one you may use here"):
            service(ctx=staff, **target, **change)
        foreign = {field: {"pc": world_b.pcs[0], "location": world_b.locations[0]}.get(field, elsewhere)}
        if field != "equipment":
            with as_ctx(admin), refused(field, "not one you may use here"):
                service(ctx=admin, **target, **foreign)
        with as_ctx(admin):
            service(ctx=admin, **target, **change)
        obj.refresh_from_db()
        assert getattr(obj, f"{field}_id") == change[field].pk, service.__name__


# --- Permits and bank accounts ----------------------------------------------------------------------


def test_permit_dates_are_ordered(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    pc = world_a.pcs[0]
    with as_ctx(ctx):
        with refused("expires_on", "expire after it is issued"):
            services.fictitious_name_permit_create(
                ctx=ctx, pc=pc, fictitious_name="Glow", permit_number="1", issued_on=TODAY, expires_on=TODAY
            )
        permit = services.fictitious_name_permit_create(
            ctx=ctx,
            pc=pc,
            fictitious_name=" Glow ",
            permit_number="FNP-1",
            issued_on=TODAY,
            expires_on=days(730),
        )
        with refused("expires_on", "expire after it is issued"):
            services.fictitious_name_permit_update(ctx=ctx, permit=permit, issued_on=days(800))
        services.fictitious_name_permit_update(ctx=ctx, permit=permit, expires_on=days(1460))
    permit.refresh_from_db()
    assert (permit.fictitious_name, permit.issued_on, permit.expires_on) == ("Glow", TODAY, days(1460))


def test_bank_account_has_exactly_one_owner_in_scope(world_a: World, world_b: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    common: dict[str, Any] = {"bank_name": "First Coastal", "account_last4": "1234", "purpose": "operating"}
    with as_ctx(ctx):
        with refused("mso_entity", "Give the account's owner"):
            services.bank_account_create(ctx=ctx, **common)
        with refused("pc", "exactly one entity"):
            services.bank_account_create(ctx=ctx, mso_entity=world_a.entity, pc=world_a.pcs[0], **common)
        with refused("pc", "not one you may use here"):
            services.bank_account_create(ctx=ctx, pc=world_b.pcs[0], **common)
        with refused("mso_entity", "not one you may use here"):
            services.bank_account_create(ctx=ctx, mso_entity=world_b.entity, **common)
        account = services.bank_account_create(
            ctx=ctx, pc=world_a.pcs[1], routing_number="121000358", **common
        )
    assert (account.pc_id, account.mso_entity_id, account.routing_number) == (
        world_a.pcs[1].pk,
        None,
        "121000358",
    )
    assert count(BankAccount, world_a) == 1
    assert count(BankAccount, world_b) == 0


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"account_last4": "123"}, "account_last4", "exactly the last four digits"),
        ({"account_last4": "12345"}, "account_last4", "exactly the last four digits"),
        ({"account_last4": "12a4"}, "account_last4", "exactly the last four digits"),
        ({"routing_number": "12345678"}, "routing_number", "9-digit ABA routing number"),
        ({"routing_number": "121000359"}, "routing_number", "9-digit ABA routing number"),  # bad checksum
        ({"purpose": "slush"}, "purpose", "not a valid choice"),
    ],
)
def test_bank_account_numbers(
    world_a: World, as_ctx: ActAs, changes: dict[str, Any], field: str, message: str
) -> None:
    ctx = world_a.ctx("mso_admin")
    data: dict[str, Any] = {
        "mso_entity": world_a.entity,
        "bank_name": "B",
        "account_last4": "0042",
        "purpose": "payroll",
    }
    with as_ctx(ctx):
        with refused(field, message):
            services.bank_account_create(ctx=ctx, **{**data, **changes})
        account = services.bank_account_create(ctx=ctx, **data)
        with refused(field, message):
            services.bank_account_update(ctx=ctx, account=account, **changes)
    account.refresh_from_db()
    assert (account.account_last4, account.purpose) == ("0042", "payroll")


def test_correcting_a_bank_accounts_owner_keeps_exactly_one(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    pc0, pc1 = world_a.pcs
    account = factories.BankAccountFactory.create(tenant=world_a.tenant, pc=pc0)
    with as_ctx(ctx):
        # naming the MSO entity while the PC is still named (as an unchanged form does): two owners
        with refused("pc", "exactly one entity"):
            services.bank_account_update(ctx=ctx, account=account, mso_entity=world_a.entity, pc=pc0)
        assert (account.pc_id, account.mso_entity_id) == (pc0.pk, None)
        services.bank_account_update(ctx=ctx, account=account, mso_entity=world_a.entity, pc=None)
        account.refresh_from_db()
        assert (account.pc_id, account.mso_entity_id) == (None, world_a.entity.pk)
        services.bank_account_update(ctx=ctx, account=account, pc=pc1, bank_name="Renamed")
        account.refresh_from_db()
        assert (account.pc_id, account.mso_entity_id, account.bank_name) == (pc1.pk, None, "Renamed")
    # staff may not hand an account to a PC they hold no grant on
    other = factories.BankAccountFactory.create(tenant=world_a.tenant, mso_entity=world_a.entity)
    staff = world_a.ctx("mso_staff")
    with as_ctx(staff), refused("pc", "not one you may use here"):
        services.bank_account_update(ctx=staff, account=other, pc=pc1)
    other.refresh_from_db()
    assert (other.pc_id, other.mso_entity_id) == (None, world_a.entity.pk)


def test_a_permit_in_use_cannot_move_to_another_pc(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    pc0, pc1 = world_a.pcs
    permit = factories.FictitiousNamePermitFactory.create(tenant=world_a.tenant, pc=pc0)
    Location.objects.filter(pk=world_a.locations[0].pk).update(name_permit=permit, trade_name="Glow")
    world_a.locations[0].refresh_from_db()
    with as_ctx(ctx):
        with refused("pc", "trade under this permit"):
            services.fictitious_name_permit_update(ctx=ctx, permit=permit, pc=pc1)
        services.location_update(ctx=ctx, location=world_a.locations[0], name_permit=None)
        services.fictitious_name_permit_update(ctx=ctx, permit=permit, pc=pc1)
    permit.refresh_from_db()
    assert permit.pc_id == pc1.pk


# --- Locations --------------------------------------------------------------------------------------


def test_location_new_fields_and_its_permit_must_be_its_pcs(
    world_a: World, world_b: World, as_ctx: ActAs
) -> None:
    ctx = world_a.ctx("mso_admin")
    pc0, pc1 = world_a.pcs
    own = factories.FictitiousNamePermitFactory.create(tenant=world_a.tenant, pc=pc0)
    other_pcs = factories.FictitiousNamePermitFactory.create(tenant=world_a.tenant, pc=pc1)
    foreign = factories.FictitiousNamePermitFactory.create(tenant=world_b.tenant, pc=world_b.pcs[0])
    base: dict[str, Any] = {
        "name": "Glow Irvine",
        "address": "1 Main",
        "city": "Irvine",
        "managing_entity": world_a.entity,
        "pc": pc0,
    }
    with as_ctx(ctx):
        with refused("name_permit", "belongs to another PC"):
            services.location_create(ctx=ctx, name_permit=other_pcs, **base)
        with refused("name_permit", "not one you may use here"):
            services.location_create(ctx=ctx, name_permit=foreign, **base)
        location = services.location_create(
            ctx=ctx,
            trade_name=" Glow Aesthetics ",
            name_permit=own,
            generates_sharps=False,
            runs_waived_lab_tests=True,
            clia_waiver_number="05D1234567",
            lab_director="Dana Reyes, M.D.",
            **base,
        )
        assert (location.trade_name, location.name_permit_id) == ("Glow Aesthetics", own.pk)
        # moving to another PC while keeping the first PC's permit is refused …
        with refused("name_permit", "belongs to another PC"):
            services.location_update(ctx=ctx, location=location, pc=pc1, city="Elsewhere")
        # the refused update left the caller's object as stored, not half-changed
        assert (location.pc_id, location.city) == (pc0.pk, "Irvine")
        # … with the new PC's permit (or none) it is fine
        services.location_update(ctx=ctx, location=location, pc=pc1, name_permit=other_pcs)
        location.refresh_from_db()
        assert (location.pc_id, location.name_permit_id) == (pc1.pk, other_pcs.pk)
        # None clears the permit; leaving it out keeps it
        services.location_update(ctx=ctx, location=location, city="Tustin")
        location.refresh_from_db()
        assert location.name_permit_id == other_pcs.pk
        services.location_update(ctx=ctx, location=location, name_permit=None)
    location.refresh_from_db()
    assert (location.name_permit_id, location.city, location.runs_waived_lab_tests) == (None, "Tustin", True)
    assert count(Location, world_a) == 3


# --- Leases, equipment, service visits, waste registrations ----------------------------------------------


def test_lease_rules(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    location = world_a.locations[0]
    data: dict[str, Any] = {
        "location": location,
        "landlord": "Harbor LP",
        "term_start": TODAY,
        "monthly_rent": Decimal("9000"),
    }
    with as_ctx(ctx):
        with refused("term_end", "end after it starts"):
            services.lease_create(ctx=ctx, term_end=TODAY, **data)
        with refused("monthly_rent", "cannot be negative"):
            services.lease_create(ctx=ctx, term_end=days(10), **{**data, "monthly_rent": Decimal("-1")})
        with refused("currency", "three-letter ISO currency code"):
            services.lease_create(ctx=ctx, term_end=days(10), currency="US$", **data)
        lease = services.lease_create(ctx=ctx, term_end=days(1825), currency="usd", **data)
        with refused("term_end", "end after it starts"):
            services.lease_update(ctx=ctx, lease=lease, term_start=days(1826))
        services.lease_update(ctx=ctx, lease=lease, term_end=days(3650), monthly_rent=Decimal("9500.50"))
    lease.refresh_from_db()
    assert (lease.currency, lease.term_end, lease.monthly_rent) == ("USD", days(3650), Decimal("9500.50"))
    assert count(Lease, world_a) == 1


def test_equipment_serial_is_unique_per_manufacturer(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    loc0, loc1 = world_a.locations
    data: dict[str, Any] = {"kind": "laser", "model_name": "GentleMax Pro", "serial_number": "GMX-1"}
    with as_ctx(ctx):
        first = services.equipment_create(ctx=ctx, location=loc0, manufacturer="Candela", **data)
        # the same serial of the same maker, also spelled differently or at another location: refused
        for maker, serial in (("Candela", "GMX-1"), (" candela ", "gmx-1")):
            with refused("serial_number", "already recorded for another device"):
                services.equipment_create(
                    ctx=ctx, location=loc1, manufacturer=maker, **{**data, "serial_number": serial}
                )
        # another maker may use the same serial
        services.equipment_create(ctx=ctx, location=loc1, manufacturer="Cutera", **data)
        second = services.equipment_create(
            ctx=ctx,
            location=loc1,
            manufacturer="Candela",
            kind="ipl",
            model_name="Nordlys",
            serial_number="GMX-2",
        )
        with refused("serial_number", "already recorded for another device"):
            services.equipment_update(ctx=ctx, equipment=second, serial_number="GMX-1")
        with refused("service_interval_days", "1 to 3650 days"):
            services.equipment_update(ctx=ctx, equipment=second, service_interval_days=0)
        # a device may move to another location
        services.equipment_update(ctx=ctx, equipment=first, location=loc1, service_interval_days=90)
    first.refresh_from_db()
    assert (first.location_id, first.service_interval_days) == (loc1.pk, 90)
    assert count(Equipment, world_a) == 3


def test_service_visits_and_next_due_date(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    device = factories.EquipmentFactory.create(
        tenant=world_a.tenant, location=world_a.locations[0], service_interval_days=180
    )
    never = factories.EquipmentFactory.create(tenant=world_a.tenant, location=world_a.locations[0])
    with as_ctx(ctx):
        with refused("serviced_on", "cannot be dated in the future"):
            services.equipment_service_create(
                ctx=ctx, equipment=device, serviced_on=days(1), vendor="Laser Co"
            )
        services.equipment_service_create(
            ctx=ctx, equipment=device, serviced_on=days(-200), vendor="Laser Co"
        )
        visit = services.equipment_service_create(
            ctx=ctx, equipment=device, serviced_on=days(-20), vendor=" Laser Co ", notes="Calibrated."
        )
        listed = {d.pk: d for d in selectors.equipment_list(ctx)}
        shown = selectors.equipment_get(ctx, device.pk)
    assert visit.vendor == "Laser Co"
    assert (listed[device.pk].last_serviced_on, listed[device.pk].next_service_due) == (days(-20), days(160))  # type: ignore[attr-defined]
    assert (shown.last_serviced_on, shown.next_service_due) == (days(-20), days(160))  # type: ignore[attr-defined]
    assert (listed[never.pk].last_serviced_on, listed[never.pk].next_service_due) == (None, None)  # type: ignore[attr-defined]
    assert count(EquipmentService, world_a) == 2


def test_waste_registration_dates(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    location = world_a.locations[0]
    with as_ctx(ctx):
        with refused("expires_on", "expire after it is issued"):
            services.medical_waste_registration_create(
                ctx=ctx,
                location=location,
                registration_number="MW-1",
                hauler="H",
                issued_on=TODAY,
                expires_on=days(-1),
            )
        registration = services.medical_waste_registration_create(
            ctx=ctx,
            location=location,
            registration_number=" MW-1 ",
            hauler="Stericycle",
            issued_on=TODAY,
            expires_on=days(365),
        )
        services.medical_waste_registration_update(ctx=ctx, registration=registration, expires_on=days(730))
    registration.refresh_from_db()
    assert (registration.registration_number, registration.expires_on) == ("MW-1", days(730))


# --- references and capacities -------------------------------------------------------------------------


def creates(world: World, other: World) -> list[tuple[str, Callable[[AccessContext], Any], str]]:
    """(name, create call aimed at `other`'s parent object, the field refused) for every child record."""
    pc, loc = other.pcs[0], other.locations[0]
    device = Equipment.objects.filter(location=loc).first() or factories.EquipmentFactory.create(
        tenant=other.tenant, location=loc
    )
    return [
        (
            "shareholder",
            lambda c: services.shareholder_create(
                ctx=c, pc=pc, name="X", license_type="MD", license_number="A1", shares=1
            ),
            "pc",
        ),
        (
            "permit",
            lambda c: services.fictitious_name_permit_create(
                ctx=c, pc=pc, fictitious_name="X", permit_number="1", issued_on=TODAY, expires_on=days(9)
            ),
            "pc",
        ),
        (
            "bank account",
            lambda c: services.bank_account_create(
                ctx=c, pc=pc, bank_name="X", account_last4="1111", purpose="operating"
            ),
            "pc",
        ),
        (
            "lease",
            lambda c: services.lease_create(
                ctx=c, location=loc, landlord="X", term_start=TODAY, term_end=days(9), monthly_rent=Decimal(1)
            ),
            "location",
        ),
        (
            "equipment",
            lambda c: services.equipment_create(
                ctx=c, location=loc, kind="ipl", manufacturer="X", model_name="Y", serial_number="Z"
            ),
            "location",
        ),
        (
            "service visit",
            lambda c: services.equipment_service_create(
                ctx=c, equipment=device, serviced_on=TODAY, vendor="X"
            ),
            "equipment",
        ),
        (
            "waste registration",
            lambda c: services.medical_waste_registration_create(
                ctx=c, location=loc, registration_number="1", hauler="X", issued_on=TODAY, expires_on=days(9)
            ),
            "location",
        ),
    ]


CHILD_MODELS = [
    Shareholder,
    FictitiousNamePermit,
    BankAccount,
    Lease,
    Equipment,
    EquipmentService,
    MedicalWasteRegistration,
]


def snapshot(world: World) -> dict[str, int]:
    return {m.__name__: count(m, world) for m in CHILD_MODELS}


def test_references_of_another_tenant_are_refused(world_a: World, world_b: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    calls = creates(world_a, world_b)
    before_a, before_b = snapshot(world_a), snapshot(world_b)
    with as_ctx(ctx):
        for _name, call, field in calls:
            with refused(field, "not one you may use here"):
                call(ctx)
    assert (snapshot(world_a), snapshot(world_b)) == (before_a, before_b)


def test_staff_may_add_records_to_their_location_and_pc_only(world_a: World, as_ctx: ActAs) -> None:
    staff = world_a.ctx("mso_staff")  # granted the first PC and location only
    hidden = World(world_a.tenant, world_a.entity, [world_a.pcs[1]], [world_a.locations[1]], [])
    granted = World(world_a.tenant, world_a.entity, [world_a.pcs[0]], [world_a.locations[0]], [])
    refused_calls, allowed_calls = creates(world_a, hidden), creates(world_a, granted)
    before = snapshot(world_a)
    with as_ctx(staff):
        for _name, call, field in refused_calls:
            with refused(field, "not one you may use here"):
                call(staff)
        made = [call(staff) for _, call, _ in allowed_calls]
    assert len(made) == 7
    assert snapshot(world_a) == {k: v + 1 for k, v in before.items()}


@pytest.mark.parametrize("capacity", ["auditor", "pc_physician", "clinician"])
def test_capacities_that_may_not_write_business_records_are_refused(
    world_a: World, as_ctx: ActAs, capacity: str
) -> None:
    ctx = world_a.ctx(capacity)
    calls = creates(world_a, world_a)
    before = snapshot(world_a)
    with as_ctx(ctx):
        for _name, call, _ in calls:
            with pytest.raises(PermissionDenied):
                call(ctx)
        with pytest.raises(PermissionDenied):
            services.mso_entity_update(ctx=ctx, entity=world_a.entity, legal_name="Taken over LLC")
        with pytest.raises(PermissionDenied):
            services.location_update(ctx=ctx, location=world_a.locations[0], name="Taken over")
    assert snapshot(world_a) == before


# --- selectors ----------------------------------------------------------------------------------------


def test_cap_table_percentages_cover_the_whole_pc(world_a: World, as_ctx: ActAs) -> None:
    pc = world_a.pcs[0]
    for name, shares in (("Dr. A", 600), ("NP B", 300), ("RN C", 100)):
        factories.ShareholderFactory.create(tenant=world_a.tenant, pc=pc, name=name, shares=shares)
    factories.ShareholderFactory.create(tenant=world_a.tenant, pc=world_a.pcs[1], name="Other", shares=1)
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        table = [(line.holder.name, line.percent) for line in selectors.pc_cap_table(ctx, pc)]
        # a filtered list still shows each holder's share of the whole PC
        filtered = selectors.shareholder_list(ctx).filter(name="RN C").get()
    assert table == [("Dr. A", Decimal("60.00")), ("NP B", Decimal("30.00")), ("RN C", Decimal("10.00"))]
    assert filtered.percent_of_shares == Decimal("10.00")  # type: ignore[attr-defined]


def test_selectors_show_scoped_capacities_their_grants_only(domain_a: World, as_ctx: ActAs) -> None:
    staff = domain_a.ctx("mso_staff")
    loc0, pc0 = domain_a.locations[0], domain_a.pcs[0]
    with as_ctx(staff):
        assert {x.location_id for x in selectors.lease_list(staff)} == {loc0.pk}
        assert {x.location_id for x in selectors.equipment_list(staff)} == {loc0.pk}
        assert {x.equipment.location_id for x in selectors.equipment_service_list(staff)} == {loc0.pk}
        assert {x.location_id for x in selectors.medical_waste_registration_list(staff)} == {loc0.pk}
        assert {x.pc_id for x in selectors.shareholder_list(staff)} == {pc0.pk}
        assert {x.pc_id for x in selectors.fictitious_name_permit_list(staff)} == {pc0.pk}
        # bank accounts and MSO entities are tenant-wide records of the business side
        assert selectors.bank_account_list(staff).count() == len(domain_a.objs[BankAccount])
        other = domain_a.objs[Lease][1]
        with pytest.raises(Exception) as caught:
            selectors.lease_get(staff, other.pk)
    assert type(caught.value).__name__ == "Http404"
