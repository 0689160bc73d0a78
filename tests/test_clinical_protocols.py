"""Protocols / standardized procedures: written by clinicians of the PC, in force only once the
supervising physician and every supervisee have signed, each for themselves; changing the content
voids the signatures. Through the services and through the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from clinical import selectors, services
from clinical.models import Protocol, ProtocolSupervisee
from clinical.selectors.protocols import EXPIRED, IN_FORCE, NOT_YET, UNSIGNED
from management.models import Provider
from management.procedures import LicenseType
from tenants.access import AccessContext
from tenants.models import AuditLogEntry
from tenants.services import membership_create
from tests import factories as f
from tests.api_matrix import call, client_for, issue_keys
from tests.conftest import acting_as
from tests.worlds import World

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate


def do(fn: Callable[..., Any], **kwargs: Any) -> Any:
    with acting_as(kwargs["ctx"]):
        return fn(**kwargs)


def provider(world: World, license_type: str, index: int = 0) -> Provider:
    return next(
        p for p in world.objs[Provider] if p.pc_id == world.pcs[index].pk and p.license_type == license_type
    )


def refused(field: str, fn: Callable[..., Any], **kwargs: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        do(fn, **kwargs)
    assert field in caught.value.message_dict, caught.value.message_dict
    return " ".join(caught.value.message_dict[field])


def status_of(ctx: AccessContext, protocol: Protocol, on: dt.date | None = None) -> str:
    with acting_as(ctx):
        return selectors.protocol_status(selectors.protocol_get(ctx, protocol.pk), on)


def protocol_kwargs(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "pc": world.pcs[0],
        "kind": Protocol.Kind.STANDARDIZED_PROCEDURE,
        "title": " Neurotoxin standardized procedure ",
        "supervisor": provider(world, LicenseType.MD),
        "procedures": ["neurotoxin", "dermal_filler"],
        "body": "Patient selection, dosing, complications, supervision.",
        "effective_on": TODAY(),
        "expires_on": TODAY() + dt.timedelta(days=365),
        "supervisees": [provider(world, LicenseType.RN)],
        **extra,
    }


def test_protocol_is_in_force_only_after_supervisor_and_every_supervisee_sign(domain_a: World) -> None:
    w = domain_a
    physician, clinician = w.ctx("pc_physician"), w.ctx("clinician")
    # a clinician may draft it; it is unsigned, so not in force
    protocol = do(services.protocol_create, ctx=clinician, **protocol_kwargs(w))
    assert protocol.title == "Neurotoxin standardized procedure"
    assert status_of(physician, protocol) == UNSIGNED
    do(services.protocol_sign, ctx=physician, protocol=protocol)
    assert protocol.supervisor_signed_by_id == w.user("pc_physician").pk
    assert status_of(physician, protocol) == UNSIGNED  # the nurse has not signed yet
    do(services.protocol_sign, ctx=clinician, protocol=protocol)
    row = ProtocolSupervisee.objects.get(protocol=protocol)
    assert row.signed_at is not None and row.provider_id == provider(w, LicenseType.RN).pk
    assert status_of(physician, protocol) == IN_FORCE
    assert status_of(physician, protocol, TODAY() - dt.timedelta(days=1)) == NOT_YET
    assert status_of(physician, protocol, TODAY() + dt.timedelta(days=366)) == EXPIRED
    # signing again changes nothing: the first signatures and their times stay
    first_signed = (protocol.supervisor_signed_at, row.signed_at)
    do(services.protocol_sign, ctx=physician, protocol=protocol)
    do(services.protocol_sign, ctx=clinician, protocol=protocol)
    protocol.refresh_from_db()
    row.refresh_from_db()
    assert (protocol.supervisor_signed_at, row.signed_at) == first_signed
    # each signature is in the audit log once, as what it was
    signed = AuditLogEntry.objects.filter(action="sign", object_id=str(protocol.pk))
    assert sorted(e.detail["as"] for e in signed) == ["supervisee", "supervisor"]


def test_nobody_signs_for_someone_else(domain_a: World) -> None:
    w = domain_a
    protocol = do(services.protocol_create, ctx=w.ctx("pc_physician"), **protocol_kwargs(w, supervisees=[]))
    # A second physician of the same PC, with the sign permission, is still not this protocol's supervisor.
    other = membership_create(
        tenant=w.tenant, user=f.UserFactory.create(), capacity="pc_physician", license_type="MD"
    )
    from tenants.services import object_access_grant

    object_access_grant(
        membership=other, obj=w.pcs[0], perms=["view_professionalcorporation", "sign_protocol"]
    )
    other_ctx = AccessContext.for_membership(other, via="browser")
    assert "Only this protocol's supervising physician" in refused(
        "detail", services.protocol_sign, ctx=other_ctx, protocol=protocol
    )
    # The clinician is not a supervisee of this protocol: refused too.
    refused("detail", services.protocol_sign, ctx=w.ctx("clinician"), protocol=protocol)
    protocol.refresh_from_db()
    assert protocol.supervisor_signed_at is None


def test_the_supervisor_needs_the_sign_permission_on_the_pc(domain_a: World) -> None:
    w = domain_a
    protocol = do(services.protocol_create, ctx=w.ctx("pc_physician"), **protocol_kwargs(w, supervisees=[]))
    from management.models import PcGroupObjectPermission

    PcGroupObjectPermission.objects.filter(
        group=w.members["pc_physician"].group, permission__codename="sign_protocol"
    ).delete()
    refused("detail", services.protocol_sign, ctx=w.ctx("pc_physician"), protocol=protocol)
    assert Protocol.objects.get(pk=protocol.pk).supervisor_signed_at is None


def test_business_capacities_never_sign_or_write_protocols(domain_a: World) -> None:
    w = domain_a
    protocol = w.objs[Protocol][0]
    for capacity in ("mso_admin", "mso_staff", "mso_compliance", "auditor"):
        with pytest.raises(PermissionDenied):
            services.protocol_sign(ctx=w.ctx(capacity), protocol=protocol)
        with pytest.raises(PermissionDenied):
            services.protocol_create(ctx=w.ctx(capacity), **protocol_kwargs(w))


def test_changing_the_content_voids_every_signature(domain_a: World) -> None:
    w = domain_a
    physician, clinician = w.ctx("pc_physician"), w.ctx("clinician")
    protocol = do(services.protocol_create, ctx=physician, **protocol_kwargs(w))
    do(services.protocol_sign, ctx=physician, protocol=protocol)
    do(services.protocol_sign, ctx=clinician, protocol=protocol)
    # a review date is not content: signatures stay
    do(services.protocol_update, ctx=physician, protocol=protocol, reviewed_on=TODAY())
    assert status_of(physician, protocol) == IN_FORCE
    do(services.protocol_update, ctx=physician, protocol=protocol, body="New dosing table.")
    protocol.refresh_from_db()
    assert protocol.supervisor_signed_at is None and protocol.supervisor_signed_by_id is None
    assert not ProtocolSupervisee.objects.filter(protocol=protocol, signed_at__isnull=False).exists()
    assert status_of(physician, protocol) == UNSIGNED


def test_supervisees_added_must_sign_and_removed_ones_leave(domain_a: World) -> None:
    w = domain_a
    physician = w.ctx("pc_physician")
    protocol = do(services.protocol_create, ctx=physician, **protocol_kwargs(w))
    do(services.protocol_sign, ctx=physician, protocol=protocol)
    do(services.protocol_sign, ctx=w.ctx("clinician"), protocol=protocol)
    np = f.ProviderFactory.create(tenant=w.tenant, pc=w.pcs[0], license_type=LicenseType.NP)
    rn = provider(w, LicenseType.RN)
    do(services.protocol_update, ctx=physician, protocol=protocol, supervisees=[rn, np])
    assert status_of(physician, protocol) == UNSIGNED  # the NP has not signed
    do(services.protocol_update, ctx=physician, protocol=protocol, supervisees=[rn])
    assert status_of(physician, protocol) == IN_FORCE  # the RN's signature stayed
    assert list(ProtocolSupervisee.objects.filter(protocol=protocol).values_list("provider", flat=True)) == [
        rn.pk
    ]


def test_protocol_validations(domain_a: World) -> None:
    w = domain_a
    ctx = w.ctx("pc_physician")
    create = services.protocol_create
    before = Protocol.objects.count()
    assert refused("expires_on", create, ctx=ctx, **protocol_kwargs(w, expires_on=TODAY()))
    assert "Physician" in refused(
        "supervisor", create, ctx=ctx, **protocol_kwargs(w, supervisor=provider(w, LicenseType.RN))
    )
    assert refused(
        "supervisor", create, ctx=ctx, **protocol_kwargs(w, supervisor=provider(w, LicenseType.MD, 1))
    )
    assert refused(
        "supervisees", create, ctx=ctx, **protocol_kwargs(w, supervisees=[provider(w, LicenseType.MD)])
    )
    rn = provider(w, LicenseType.RN)
    assert "twice" in refused("supervisees", create, ctx=ctx, **protocol_kwargs(w, supervisees=[rn, rn]))
    assert refused(
        "supervisees", create, ctx=ctx, **protocol_kwargs(w, supervisees=[provider(w, LicenseType.RN, 1)])
    )
    assert refused("procedures", create, ctx=ctx, **protocol_kwargs(w, procedures=[]))
    assert refused("pc", create, ctx=ctx, **protocol_kwargs(w, pc=w.pcs[1]))
    assert refused(
        "reviewed_on", create, ctx=ctx, **protocol_kwargs(w, reviewed_on=TODAY() + dt.timedelta(days=9))
    )
    assert Protocol.objects.count() == before


def test_an_expired_protocol_is_not_signed(domain_a: World) -> None:
    w = domain_a
    old = f.ProtocolFactory.create(
        tenant=w.tenant,
        pc=w.pcs[0],
        supervisor=provider(w, LicenseType.MD),
        effective_on=TODAY() - dt.timedelta(days=400),
        expires_on=TODAY() - dt.timedelta(days=35),
    )
    assert "expired" in refused("detail", services.protocol_sign, ctx=w.ctx("pc_physician"), protocol=old)


# --- through the API ----------------------------------------------------------------------------------


def test_api_sign_shows_the_role_then_signs(domain_a: World) -> None:
    w = domain_a
    keys = issue_keys(w)
    physician, clinician = client_for(keys["pc_physician"]), client_for(keys["clinician"])
    nurse = str(provider(w, LicenseType.RN).pk)
    payload: dict[str, Any] = {
        "pc": str(w.pcs[0].pk),
        "kind": "laser_protocol",
        "title": "Laser hair removal protocol",
        "supervisor": str(provider(w, LicenseType.MD).pk),
        "procedures": ["laser_hair_removal"],
        "body": "Patient selection, consent, topical agents, complications, supervision and training.",
        "effective_on": TODAY().isoformat(),
        "expires_on": (TODAY() + dt.timedelta(days=365)).isoformat(),
        "covers_complications": True,
        "supervisees": [nurse],
    }
    created = call(clinician, "POST", "/api/v1/protocols/", payload)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == UNSIGNED and body["supervisor_signed_at"] is None
    assert [s["provider"] for s in body["signatures"]] == [nurse]
    url = f"/api/v1/protocols/{body['id']}/sign/"
    sheet = physician.get(url).json()
    assert (sheet["you_sign_as"], sheet["you_signed_at"]) == ("supervisor", None)
    assert clinician.get(url).json()["you_sign_as"] == "supervisee"
    assert call(physician, "POST", url).json()["you_signed_at"] is not None
    done = call(clinician, "POST", url)
    assert done.status_code == 200 and done.json()["status"] == IN_FORCE
    again = call(clinician, "POST", url)  # a second POST is a no-op, not a second signature
    assert again.status_code == 200 and again.json()["you_signed_at"] == done.json()["you_signed_at"]
    # a business key learns nothing, even that the protocol exists
    admin = client_for(keys["mso_admin"])
    assert call(admin, "POST", url).status_code == 404 and admin.get(url).status_code == 404


def test_api_content_change_voids_signatures_and_pc_stays(domain_a: World) -> None:
    w = domain_a
    protocol = w.objs[Protocol][0]  # the first PC's: supervisor signed, supervisee signed
    client = client_for(issue_keys(w)["pc_physician"])
    assert client.get(f"/api/v1/protocols/{protocol.pk}/").json()["status"] == IN_FORCE
    moved = call(client, "PATCH", f"/api/v1/protocols/{protocol.pk}/", {"pc": str(w.pcs[1].pk)})
    assert moved.status_code == 400
    changed = call(client, "PATCH", f"/api/v1/protocols/{protocol.pk}/", {"procedures": ["dermal_filler"]})
    assert changed.status_code == 200 and changed.json()["status"] == UNSIGNED


def test_api_protocol_list_query_count_is_flat(domain_a: World) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    w = domain_a
    client = client_for(issue_keys(w)["pc_physician"])

    def grow(n: int) -> None:
        for _ in range(n):
            row = f.ProtocolFactory.create(
                tenant=w.tenant, pc=w.pcs[0], supervisor=provider(w, LicenseType.MD)
            )
            f.ProtocolSuperviseeFactory.create(tenant=w.tenant, protocol=row)

    def count() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/v1/protocols/", {"page_size": 100})
        assert response.status_code == 200
        return response.json()["count"], len(queries)

    grow(4)
    count()  # the key's first use of the minute writes its last-use stamp: not a per-row query
    small = count()
    grow(45)
    large = count()
    assert (small[0], large[0]) == (5, 50) and small[1] == large[1]
