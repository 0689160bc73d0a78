"""Layer 3: one restrict() path decides what each capacity sees inside a tenant."""

from __future__ import annotations

import pytest
from django.http import Http404
from django.test import Client

from clinical import selectors as clinical_selectors
from management import selectors as management_selectors
from management.models import Location
from tenants.access import get_for_action, restrict
from tenants.models import AuditLogEntry
from tests.worlds import World

pytestmark = pytest.mark.django_db


def ids(qs: object) -> set[object]:
    return {o.pk for o in qs}  # type: ignore[attr-defined]


def test_tenant_wide_capacities_see_every_location_of_their_tenant_only(
    world_a: World, world_b: World, as_ctx
) -> None:
    for cap in ("mso_admin", "mso_compliance", "auditor"):
        with as_ctx(world_a.ctx(cap)):
            assert ids(management_selectors.location_list(world_a.ctx(cap))) == ids(world_a.locations)


def test_object_scoped_capacities_see_only_granted_objects(world_a: World, as_ctx) -> None:
    for cap in ("mso_staff", "pc_physician", "clinician"):
        ctx = world_a.ctx(cap)
        with as_ctx(ctx):
            assert ids(management_selectors.location_list(ctx)) == {world_a.locations[0].pk}, cap


def test_clinical_records_reach_only_clinical_capacities_of_the_granted_pc(world_a: World, as_ctx) -> None:
    for cap in ("mso_admin", "mso_staff", "mso_compliance", "auditor"):
        ctx = world_a.ctx(cap)
        # restrict() answers none() before any SQL reaches the clinical schema
        assert restrict(clinical_selectors.PatientChart.objects.all(), ctx).query.is_empty(), cap
    for cap in ("pc_physician", "clinician"):
        ctx = world_a.ctx(cap)
        with as_ctx(ctx):
            assert ids(clinical_selectors.patient_chart_list(ctx)) == {world_a.charts[0].pk}


def test_read_only_and_clinical_capacities_cannot_write_business_records(world_a: World) -> None:
    loc = world_a.locations[0]
    for cap in ("auditor", "pc_physician", "clinician"):
        with pytest.raises(Http404):
            get_for_action(Location, world_a.ctx(cap), loc.pk, "change")
    assert get_for_action(Location, world_a.ctx("mso_staff"), loc.pk, "change") == loc
    with pytest.raises(Http404):  # staff holds change_location on the first location only
        get_for_action(Location, world_a.ctx("mso_staff"), world_a.locations[1].pk, "change")


def test_same_404_for_other_tenant_absent_and_malformed_ids(world_a: World, world_b: World, as_ctx) -> None:
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        for bad in (world_b.locations[0].pk, "00000000-0000-0000-0000-000000000000", "1; DROP TABLE x", None):
            with pytest.raises(Http404, match="No such object"):
                management_selectors.location_get(ctx, bad)


def test_capacity_switch_changes_what_the_same_person_sees(world_a: World, as_ctx) -> None:
    from tenants.services import membership_create

    person = world_a.user("mso_admin")  # an MSO admin who is also an RN at the PC
    rn = membership_create(tenant=world_a.tenant, user=person, capacity="clinician", license_type="RN")
    from tenants.services import object_access_grant

    object_access_grant(membership=rn, obj=world_a.pcs[1], perms=["view_professionalcorporation"])
    admin_ctx = world_a.ctx("mso_admin")
    from tenants.access import AccessContext

    rn_ctx = AccessContext.for_membership(rn, via="browser")
    with as_ctx(admin_ctx):
        assert len(management_selectors.location_list(admin_ctx)) == 2
        assert list(restrict(clinical_selectors.PatientChart.objects.all(), admin_ctx)) == []
    with as_ctx(rn_ctx):
        assert ids(clinical_selectors.patient_chart_list(rn_ctx)) == {world_a.charts[1].pk}


def test_reading_a_chart_is_audit_logged(world_a: World, as_ctx) -> None:
    ctx = world_a.ctx("pc_physician")
    with as_ctx(ctx):
        clinical_selectors.patient_chart_get(ctx, world_a.charts[0].pk)
        entry = AuditLogEntry.objects.get(action="read", object_id=str(world_a.charts[0].pk))
    assert (entry.capacity, entry.actor_id, entry.object_type) == (
        "pc_physician",
        world_a.user("pc_physician").pk,
        "clinical.patient_chart",
    )


def test_logins_and_failed_logins_are_audited_with_ip(world_a: World, client: Client) -> None:
    from django.contrib.auth import authenticate, login
    from django.test import RequestFactory

    request = RequestFactory().post("/login/", REMOTE_ADDR="203.0.113.9")
    assert authenticate(request, username="nobody@example.test", password="wrong") is None
    failed = AuditLogEntry.objects.get(action="login_failed")
    assert (failed.detail, failed.client_ip, failed.tenant_id) == (
        {"email": "nobody@example.test"},
        "203.0.113.9",
        None,
    )
    user = world_a.user("mso_admin")
    request.session = client.session
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    ok = AuditLogEntry.objects.get(action="login")
    assert (ok.actor_id, ok.client_ip) == (user.pk, "203.0.113.9")


def test_granted_scope_reads_the_groups_grant_of_that_permission_only(world_a: World, world_b: World) -> None:
    from tenants.access import granted_scope
    from tenants.capacities import Side
    from tenants.services import object_access_grant

    clinician = world_a.ctx("clinician")  # view_location on the first location, view_pc on the first PC
    assert granted_scope(clinician, "location", Side.BUSINESS, "view") == [world_a.locations[0].pk]
    assert granted_scope(clinician, "location", Side.BUSINESS, "change") == []  # holds no change_location
    assert granted_scope(clinician, "pc", Side.CLINICAL, "change") == [world_a.pcs[0].pk]  # clinical: view
    # Another member's grant and a grant of another permission widen nothing.
    object_access_grant(
        membership=world_a.members["mso_staff"], obj=world_a.locations[1], perms=["view_location"]
    )
    object_access_grant(
        membership=world_a.members["clinician"], obj=world_a.locations[1], perms=["delete_location"]
    )
    assert granted_scope(clinician, "location", Side.BUSINESS, "view") == [world_a.locations[0].pk]
    staff = world_a.ctx("mso_staff")
    assert set(granted_scope(staff, "location", Side.BUSINESS, "view")) == {
        world_a.locations[0].pk,
        world_a.locations[1].pk,
    }
    assert granted_scope(world_b.ctx("clinician"), "location", Side.BUSINESS, "view") == [
        world_b.locations[0].pk
    ]
