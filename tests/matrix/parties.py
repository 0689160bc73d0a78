"""API matrix entries of the parties area: MSO entities, PCs, their cap tables, permits, bank accounts,
locations and what the locations run on (tests.api_matrix.Endpoint).

Creates aim at the second PC / location: object-scoped MSO staff hold the first only, so their create
is a 400 (the reference is not one they may use) while tenant-wide capacities get a 201.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django.db.models import Model

from management.models import (
    BankAccount,
    Equipment,
    EquipmentService,
    FictitiousNamePermit,
    Lease,
    Location,
    MedicalWasteRegistration,
    MsoEntity,
    ProfessionalCorporation,
    Shareholder,
)
from tenants.capacities import Side
from tests import factories
from tests.api_matrix import FRESH, Endpoint
from tests.worlds import World

_serial = itertools.count(1)


def _today(days: int = 0) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


def _objs(world: World, model: type[Model]) -> list[Any]:
    """The world's rows of `model` (tests.domain_world fills them; a plain world has none)."""
    return list(world.objs.get(model, []))


def _equipment_at(world: World, location: Location) -> Equipment:
    """A device of `location`: the domain world's, or a new one in a plain world."""
    for device in _objs(world, Equipment):
        if device.location_id == location.pk:
            return device
    return factories.EquipmentFactory.create(tenant=world.tenant, location=location)


# --- create payloads -------------------------------------------------------------------------------


def _shareholder_payload(w: World) -> dict[str, Any]:
    n = next(_serial)
    return {
        "pc": str(w.pcs[1].pk),
        "name": f"Dr. Matrix Holder {n}",
        "license_type": "MD",
        "license_number": f"A{500000 + n}",
        "license_state": "CA",
        "license_status": "active",
        "shares": 100,
    }


def _permit_payload(w: World) -> dict[str, Any]:
    n = next(_serial)
    return {
        "pc": str(w.pcs[1].pk),
        "fictitious_name": f"Matrix Aesthetics {n}",
        "permit_number": f"FNP-M{n}",
        "issued_on": _today(-30),
        "expires_on": _today(700),
    }


def _bank_account_payload(w: World) -> dict[str, Any]:
    return {
        "pc": str(w.pcs[1].pk),
        "bank_name": f"Matrix Savings Bank {next(_serial)}",
        "account_last4": "4321",
        "routing_number": "121000358",
        "purpose": "patient_deposits",
    }


def _lease_payload(w: World) -> dict[str, Any]:
    return {
        "location": str(w.locations[1].pk),
        "landlord": f"Matrix Retail Properties {next(_serial)} LP",
        "term_start": _today(-100),
        "term_end": _today(1000),
        "monthly_rent": "8450.00",
        "currency": "USD",
    }


def _equipment_payload(w: World) -> dict[str, Any]:
    return {
        "location": str(w.locations[1].pk),
        "kind": "laser",
        "manufacturer": "Candela",
        "model_name": "GentleMax Pro",
        "serial_number": f"MX-{next(_serial):06d}",
        "service_interval_days": 180,
    }


def _equipment_service_payload(w: World) -> dict[str, Any]:
    return {
        "equipment": str(_equipment_at(w, w.locations[1]).pk),
        "serviced_on": _today(-3),
        "vendor": f"Matrix Laser Service {next(_serial)}",
        "notes": "Annual calibration and hand-piece check.",
    }


def _waste_payload(w: World) -> dict[str, Any]:
    return {
        "location": str(w.locations[1].pk),
        "registration_number": f"MW-M{next(_serial)}",
        "hauler": "Matrix Medical Waste Inc.",
        "issued_on": _today(-10),
        "expires_on": _today(355),
    }


def _location_payload(w: World) -> dict[str, Any]:
    n = next(_serial)
    return {
        "name": f"Matrix Spa {n}",
        "address": f"{n} Ocean Ave",
        "city": "Irvine",
        "state": "CA",
        "managing_entity": str(w.entity.pk),
        "pc": str(w.pcs[1].pk),
        "trade_name": f"Matrix Glow {n}",
        "generates_sharps": True,
    }


# --- rows for the query-count tests (the actor, mso_admin, sees them all) --------------------------


def _rows_of(factory: Any, **fixed: Any) -> Any:
    def make(world: World, n: int) -> list[Any]:
        return [
            factory.create(tenant=world.tenant, **{k: v(world) for k, v in fixed.items()}) for _ in range(n)
        ]

    return make


def _shareholder_rows(world: World, n: int) -> list[Any]:
    return [factories.ShareholderFactory.create(tenant=world.tenant, pc=world.pcs[0]) for _ in range(n)]


def _bank_account_rows(world: World, n: int) -> list[Any]:
    # Owners alternate, so the list joins both kinds of owner.
    return [
        factories.BankAccountFactory.create(
            tenant=world.tenant,
            mso_entity=world.entity if i % 2 else None,
            pc=None if i % 2 else world.pcs[0],
        )
        for i in range(n)
    ]


def _equipment_rows(world: World, n: int) -> list[Any]:
    devices = [
        factories.EquipmentFactory.create(tenant=world.tenant, location=world.locations[0]) for _ in range(n)
    ]
    # Half of them serviced: the list annotates the last service and the next due date of each.
    for device in devices[::2]:
        factories.EquipmentServiceFactory.create(tenant=world.tenant, equipment=device)
    return devices


def _equipment_service_rows(world: World, n: int) -> list[Any]:
    device = _equipment_at(world, world.locations[0])
    return [factories.EquipmentServiceFactory.create(tenant=world.tenant, equipment=device) for _ in range(n)]


ALL: list[Endpoint] = [
    Endpoint(
        name="mso-entities",
        model=MsoEntity,
        side=Side.BUSINESS,
        scope=lambda o: None,
        own_objects=lambda w: [w.entity],
        writes=frozenset({"create", "update"}),
        create_payload=lambda w: {
            "legal_name": f"Matrix Holdings {next(_serial)} LLC",
            "state": "CA",
            "investor_type": "private_equity",
            "does_rate_negotiation": True,
        },
        update_payload={"legal_name": "Renamed Holdings LLC"},
        make_rows=_rows_of(factories.MsoEntityFactory),
    ),
    Endpoint(
        name="pcs",
        model=ProfessionalCorporation,
        side=Side.BUSINESS,
        scope=lambda o: o,
        own_objects=lambda w: list(w.pcs),
        writes=frozenset({"create", "update"}),
        create_payload=lambda w: {
            "legal_name": f"Dr. Matrix Medical Corporation {next(_serial)}",
            "physician_name": "Dana Matrix, M.D.",
        },
        create_scope=lambda w: FRESH,
        update_payload={"legal_name": "Renamed Medical Corporation"},
        make_rows=_rows_of(factories.ProfessionalCorporationFactory),
    ),
    Endpoint(
        name="locations",
        model=Location,
        side=Side.BUSINESS,
        scope=lambda o: o,
        own_objects=lambda w: list(w.locations),
        writes=frozenset({"create", "update"}),
        create_payload=_location_payload,
        create_refs=lambda w: [w.entity, w.pcs[1]],
        create_scope=lambda w: FRESH,
        update_payload={"city": "Irvine"},
        make_rows=_rows_of(
            factories.LocationFactory, managing_entity=lambda w: w.entity, pc=lambda w: w.pcs[0]
        ),
    ),
    Endpoint(
        name="shareholders",
        model=Shareholder,
        side=Side.BUSINESS,
        scope=lambda o: o.pc,
        own_objects=lambda w: _objs(w, Shareholder),
        writes=frozenset({"create", "update"}),
        create_payload=_shareholder_payload,
        create_refs=lambda w: [w.pcs[1]],
        create_scope=lambda w: w.pcs[1],
        update_payload={"shares": 250},
        make_rows=_shareholder_rows,
    ),
    Endpoint(
        name="fictitious-name-permits",
        model=FictitiousNamePermit,
        side=Side.BUSINESS,
        scope=lambda o: o.pc,
        own_objects=lambda w: _objs(w, FictitiousNamePermit),
        writes=frozenset({"create", "update"}),
        create_payload=_permit_payload,
        create_refs=lambda w: [w.pcs[1]],
        create_scope=lambda w: w.pcs[1],
        update_payload={"fictitious_name": "Renamed Aesthetics"},
        make_rows=_rows_of(factories.FictitiousNamePermitFactory, pc=lambda w: w.pcs[0]),
    ),
    Endpoint(
        name="bank-accounts",
        model=BankAccount,
        side=Side.BUSINESS,
        scope=lambda o: None,  # tenant-wide for every capacity that may see business records
        own_objects=lambda w: _objs(w, BankAccount),
        writes=frozenset({"create", "update"}),
        create_payload=_bank_account_payload,
        create_refs=lambda w: [w.pcs[1]],
        update_payload={"bank_name": "Renamed Community Bank"},
        make_rows=_bank_account_rows,
    ),
    Endpoint(
        name="leases",
        model=Lease,
        side=Side.BUSINESS,
        scope=lambda o: o.location,
        own_objects=lambda w: _objs(w, Lease),
        writes=frozenset({"create", "update"}),
        create_payload=_lease_payload,
        create_refs=lambda w: [w.locations[1]],
        create_scope=lambda w: w.locations[1],
        update_payload={"landlord": "Renamed Retail Properties LP"},
        make_rows=_rows_of(factories.LeaseFactory, location=lambda w: w.locations[0]),
    ),
    Endpoint(
        name="equipment",
        model=Equipment,
        side=Side.BUSINESS,
        scope=lambda o: o.location,
        own_objects=lambda w: _objs(w, Equipment),
        writes=frozenset({"create", "update"}),
        create_payload=_equipment_payload,
        create_refs=lambda w: [w.locations[1]],
        create_scope=lambda w: w.locations[1],
        update_payload={"model_name": "GentleMax Pro Plus"},
        make_rows=_equipment_rows,
    ),
    Endpoint(
        name="equipment-services",
        model=EquipmentService,
        side=Side.BUSINESS,
        scope=lambda o: o.equipment.location,
        own_objects=lambda w: _objs(w, EquipmentService),
        writes=frozenset({"create", "update"}),
        create_payload=_equipment_service_payload,
        # The device's location decides who may use the device.
        create_refs=lambda w: [w.locations[1]],
        create_scope=lambda w: w.locations[1],
        update_payload={"vendor": "Renamed Laser Service Co."},
        make_rows=_equipment_service_rows,
    ),
    Endpoint(
        name="medical-waste-registrations",
        model=MedicalWasteRegistration,
        side=Side.BUSINESS,
        scope=lambda o: o.location,
        own_objects=lambda w: _objs(w, MedicalWasteRegistration),
        writes=frozenset({"create", "update"}),
        create_payload=_waste_payload,
        create_refs=lambda w: [w.locations[1]],
        create_scope=lambda w: w.locations[1],
        update_payload={"hauler": "Renamed Medical Waste Inc."},
        make_rows=_rows_of(factories.MedicalWasteRegistrationFactory, location=lambda w: w.locations[0]),
    ),
]

ENDPOINTS: list[Endpoint] = ALL
