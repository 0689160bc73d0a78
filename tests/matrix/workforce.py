"""API matrix entries of the workforce area: vendors, BAAs, staff, training records, providers.

Payloads name objects the world already holds (the domain worlds of the attack tests must not be
written to by building a payload); a bare world (no ``objs``) gets the few it lacks from factories.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from management.models import BusinessAssociateAgreement, Provider, StaffMember, TrainingRecord, Vendor
from tenants.capacities import Side
from tests import factories as f
from tests.api_matrix import Endpoint
from tests.worlds import World

_serial = itertools.count(1)


def _day(offset: int) -> str:
    return (dt.date.today() + dt.timedelta(days=offset)).isoformat()


def _objs(w: World, model: type[Any]) -> list[Any]:
    return list(w.objs.get(model, []))


def vendor_of(w: World) -> Vendor:
    found = _objs(w, Vendor)
    return found[0] if found else f.VendorFactory.create(tenant=w.tenant)


def staff_of(w: World) -> StaffMember:
    found = _objs(w, StaffMember)
    return found[0] if found else f.StaffMemberFactory.create(tenant=w.tenant, employer=w.entity)


# --- payloads -------------------------------------------------------------------------------------


def _vendor_payload(w: World) -> dict[str, Any]:
    return {
        "name": f"Matrix Laser Care {next(_serial)} Inc.",
        "service": "Laser maintenance",
        "handles_phi": False,
        "fee_basis": "flat",
        "fee_amount": "250.00",
    }


def _baa_payload(w: World) -> dict[str, Any]:
    return {
        "vendor": str(vendor_of(w).pk),
        "signed_on": _day(-10),
        "expires_on": _day(355),
        "document_reference": f"BAA-{next(_serial):05d}",
    }


def _staff_payload(w: World) -> dict[str, Any]:
    return {
        "employer": str(w.entity.pk),
        "location": str(w.locations[0].pk),
        "full_name": f"Matrix Staffer {next(_serial)}",
        "job_title": "Front desk coordinator",
        "hired_on": _day(-200),
        "exposure_risk": False,
    }


def _training_payload(w: World) -> dict[str, Any]:
    return {
        "staff_member": str(staff_of(w).pk),
        "kind": "hipaa",
        "completed_on": _day(-30),
        "expires_on": _day(335),
    }


def _provider_payload(w: World) -> dict[str, Any]:
    n = next(_serial)
    return {
        # The second PC: object-scoped MSO staff hold the first only, so their create is a 400.
        "pc": str(w.pcs[1].pk),
        # No sign-in: a PUT of this body onto the world's first provider (the PC physician's record,
        # linked to an MD sign-in) would otherwise contradict that sign-in's license type.
        "membership": "",
        "full_name": f"Matrix Provider {n}, NP",
        "license_type": "NP",
        "license_number": f"MX{n:06d}",
        "license_state": "CA",
        "license_expires_on": _day(700),
        "np_furnishing_number": f"MXF{n:06d}",
        "np_furnishing_expires_on": _day(500),
        "dea_number": "AB1234563",  # a valid check digit
        "dea_expires_on": _day(900),
        "cures_expires_on": _day(300),
    }


# --- rows for the query-count tests ----------------------------------------------------------------


def _vendor_rows(w: World, n: int) -> list[Any]:
    return list(f.VendorFactory.create_batch(n, tenant=w.tenant))


def _baa_rows(w: World, n: int) -> list[Any]:
    return [f.BusinessAssociateAgreementFactory.create(tenant=w.tenant) for _ in range(n)]


def _staff_rows(w: World, n: int) -> list[Any]:
    return [
        f.StaffMemberFactory.create(tenant=w.tenant, employer=w.entity, location=w.locations[i % 2])
        for i in range(n)
    ]


def _training_rows(w: World, n: int) -> list[Any]:
    staff = f.StaffMemberFactory.create(tenant=w.tenant, employer=w.entity)
    return [f.TrainingRecordFactory.create(tenant=w.tenant, staff_member=staff) for _ in range(n)]


def _provider_rows(w: World, n: int) -> list[Any]:
    return [f.ProviderFactory.create(tenant=w.tenant, pc=w.pcs[i % 2]) for i in range(n)]


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        name="vendors",
        model=Vendor,
        side=Side.BUSINESS,
        scope=lambda o: None,
        own_objects=lambda w: _objs(w, Vendor),
        writes=frozenset({"create", "update"}),
        create_payload=_vendor_payload,
        update_payload={"service": "Renamed service"},
        make_rows=_vendor_rows,
    ),
    Endpoint(
        name="business-associate-agreements",
        model=BusinessAssociateAgreement,
        side=Side.BUSINESS,
        scope=lambda o: None,
        own_objects=lambda w: _objs(w, BusinessAssociateAgreement),
        writes=frozenset({"create", "update"}),
        create_payload=_baa_payload,
        update_payload={"document_reference": "BAA-RENEWED"},
        make_rows=_baa_rows,
    ),
    Endpoint(
        name="staff-members",
        model=StaffMember,
        side=Side.BUSINESS,
        scope=lambda o: None,
        own_objects=lambda w: _objs(w, StaffMember),
        writes=frozenset({"create", "update"}),
        create_payload=_staff_payload,
        create_refs=lambda w: [w.entity, w.locations[0]],
        update_payload={"job_title": "Office manager"},
        make_rows=_staff_rows,
    ),
    Endpoint(
        name="training-records",
        model=TrainingRecord,
        side=Side.BUSINESS,
        scope=lambda o: None,
        own_objects=lambda w: _objs(w, TrainingRecord),
        writes=frozenset({"create", "update"}),
        create_payload=_training_payload,
        update_payload={"kind": "iipp"},
        make_rows=_training_rows,
    ),
    Endpoint(
        name="providers",
        model=Provider,
        side=Side.BUSINESS,
        scope=lambda o: o.pc,
        own_objects=lambda w: _objs(w, Provider),
        writes=frozenset({"create", "update"}),
        create_payload=_provider_payload,
        create_refs=lambda w: [w.pcs[1]],
        create_scope=lambda w: w.pcs[1],
        update_payload={"email": "credentialing@example.test"},
        make_rows=_provider_rows,
    ),
]
