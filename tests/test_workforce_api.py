"""The workforce API beyond the generic matrix: filters (providers by license type and credentials
expiring before a date, vendors by PHI), clear 400s (duplicate license, DEA check digit, a sign-in
that is not a clinician's), refusals of other tenants' references, and values computed per row."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from management.models import Provider, Vendor
from management.procedures import LicenseType
from tests import factories
from tests.api_matrix import call, client_for, ids_of, issue_keys
from tests.worlds import World

pytestmark = pytest.mark.django_db

TODAY = dt.date.today()


def day(n: int) -> str:
    return (TODAY + dt.timedelta(days=n)).isoformat()


def provider_body(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "pc": str(world.pcs[0].pk),
        "full_name": "Dana Rivera",
        "license_type": "NP",
        "license_number": "95001234",
        "license_expires_on": day(400),
        **overrides,
    }


def test_providers_filter_by_license_type_and_expiring_before(world_a: World) -> None:
    t, pc = world_a.tenant, world_a.pcs[0]
    md = factories.ProviderFactory.create(
        tenant=t, pc=pc, license_type=LicenseType.MD, license_expires_on=day(300)
    )
    np = factories.ProviderFactory.create(
        tenant=t, pc=pc, license_type=LicenseType.NP, license_expires_on=day(500)
    )
    dea_soon = factories.ProviderFactory.create(
        tenant=t,
        pc=pc,
        license_type=LicenseType.MD,
        license_expires_on=day(700),
        dea_number="AB1234563",
        dea_expires_on=day(20),
    )
    api = client_for(issue_keys(world_a)["mso_admin"])

    assert ids_of(api.get("/api/v1/providers/", {"license_type": "MD"})) == {str(md.pk), str(dea_soon.pk)}
    assert ids_of(api.get("/api/v1/providers/", {"license_type": "NP"})) == {str(np.pk)}
    # Any credential counts: the DEA registration expires first for dea_soon.
    assert ids_of(api.get("/api/v1/providers/", {"expiring_before": day(30)})) == {str(dea_soon.pk)}
    assert ids_of(api.get("/api/v1/providers/", {"expiring_before": day(400)})) == {
        str(md.pk),
        str(dea_soon.pk),
    }
    both = api.get(
        "/api/v1/providers/", {"expiring_before": day(400), "license_type": "MD", "ordering": "next_expiry"}
    )
    assert [row["id"] for row in both.json()["results"]] == [str(dea_soon.pk), str(md.pk)]
    assert both.json()["results"][0]["next_credential_expiry"] == day(20)

    bad = api.get("/api/v1/providers/", {"license_type": "wizard", "expiring_before": "soon"})
    assert bad.status_code == 400
    assert "Not one of the choices" in str(bad.json()["license_type"])
    assert "wizard" not in str(bad.json())  # a refusal does not repeat what was sent
    assert bad.json()["expiring_before"]


def test_a_duplicate_license_is_a_400_on_license_number_and_writes_nothing(world_a: World) -> None:
    api = client_for(issue_keys(world_a)["mso_admin"])
    first = call(api, "POST", "/api/v1/providers/", provider_body(world_a))
    assert first.status_code == 201, first.content
    again = call(api, "POST", "/api/v1/providers/", provider_body(world_a, pc=str(world_a.pcs[1].pk)))
    assert again.status_code == 400
    assert again.json() == {"license_number": ["A provider with CA NP license 95001234 is already on file."]}
    assert Provider.objects.filter(tenant=world_a.tenant, license_number="95001234").count() == 1
    # An update onto another provider's license is refused the same way.
    other = call(api, "POST", "/api/v1/providers/", provider_body(world_a, license_number="95009999"))
    clash = call(api, "PATCH", f"/api/v1/providers/{other.json()['id']}/", {"license_number": "95001234"})
    assert clash.status_code == 400 and "already on file" in clash.json()["license_number"][0]


def test_credential_rules_answer_400_per_field(world_a: World) -> None:
    api = client_for(issue_keys(world_a)["mso_admin"])
    response = call(
        api,
        "POST",
        "/api/v1/providers/",
        provider_body(
            world_a,
            license_type="RN",
            dea_number="AB1234567",
            pa_practice_agreement_signed_on=day(-5),
            np_furnishing_number="123",
        ),
    )
    assert response.status_code == 400
    assert set(response.json()) == {"dea_number", "pa_practice_agreement_signed_on", "np_furnishing_number"}
    assert not Provider.objects.filter(tenant=world_a.tenant, full_name="Dana Rivera").exists()


def test_the_sign_in_link_takes_only_a_clinical_membership_of_the_tenant(
    world_a: World, world_b: World
) -> None:
    api = client_for(issue_keys(world_a)["mso_admin"])
    for member in (world_a.members["mso_staff"], world_b.members["clinician"]):
        response = call(
            api,
            "POST",
            "/api/v1/providers/",
            provider_body(world_a, license_type="RN", membership=str(member.pk)),
        )
        assert response.status_code == 400
        assert "not one this key may use" in response.json()["membership"][0]
    linked = call(
        api,
        "POST",
        "/api/v1/providers/",
        provider_body(world_a, license_type="RN", membership=str(world_a.members["clinician"].pk)),
    )
    assert linked.status_code == 201, linked.content
    assert linked.json()["membership"] == str(world_a.members["clinician"].pk)


def test_references_of_another_tenant_are_refused(world_a: World, world_b: World) -> None:
    api = client_for(issue_keys(world_a)["mso_admin"])
    foreign_vendor = factories.VendorFactory.create(tenant=world_b.tenant)
    baa = call(
        api,
        "POST",
        "/api/v1/business-associate-agreements/",
        {"vendor": str(foreign_vendor.pk), "signed_on": day(-3)},
    )
    assert baa.status_code == 400 and "not one this key may use" in baa.json()["vendor"][0]
    staff = call(
        api,
        "POST",
        "/api/v1/staff-members/",
        {"employer": str(world_b.entity.pk), "full_name": "X", "job_title": "Y", "hired_on": day(-3)},
    )
    assert staff.status_code == 400 and staff.json()["employer"]
    provider = call(api, "POST", "/api/v1/providers/", provider_body(world_a, pc=str(world_b.pcs[0].pk)))
    assert provider.status_code == 400 and provider.json()["pc"]


def test_vendor_filters_and_the_baa_flag(world_a: World) -> None:
    phi = factories.VendorFactory.create(tenant=world_a.tenant, handles_phi=True)
    plain = factories.VendorFactory.create(
        tenant=world_a.tenant, handles_phi=False, fee_basis=Vendor.FeeBasis.HOURLY
    )
    factories.BusinessAssociateAgreementFactory.create(tenant=world_a.tenant, vendor=phi)
    api = client_for(issue_keys(world_a)["mso_compliance"])
    listed = api.get("/api/v1/vendors/", {"handles_phi": "true"})
    assert ids_of(listed) == {str(phi.pk)}
    assert listed.json()["results"][0]["has_current_baa"] is True
    assert ids_of(api.get("/api/v1/vendors/", {"handles_phi": "no"})) == {str(plain.pk)}
    assert ids_of(api.get("/api/v1/vendors/", {"fee_basis": "hourly"})) == {str(plain.pk)}
    # An unreadable yes/no is refused, never read as "no filter" (which would list everything).
    assert api.get("/api/v1/vendors/", {"handles_phi": "maybe"}).status_code == 400
    created = call(
        client_for(issue_keys(world_a)["mso_admin"]),
        "POST",
        "/api/v1/vendors/",
        {"name": "New EHR", "service": "EHR", "handles_phi": True},
    )
    assert created.status_code == 201 and created.json()["has_current_baa"] is False


def test_staff_and_training_filters(world_a: World) -> None:
    current = factories.StaffMemberFactory.create(tenant=world_a.tenant, employer=world_a.entity)
    gone = factories.StaffMemberFactory.create(
        tenant=world_a.tenant, employer=world_a.entity, left_on=TODAY - dt.timedelta(days=3)
    )
    old = factories.TrainingRecordFactory.create(
        tenant=world_a.tenant, staff_member=current, expires_on=TODAY - dt.timedelta(days=1)
    )
    factories.TrainingRecordFactory.create(tenant=world_a.tenant, staff_member=gone)
    api = client_for(issue_keys(world_a)["auditor"])
    assert ids_of(api.get("/api/v1/staff-members/", {"current": "true"})) == {str(current.pk)}
    assert ids_of(api.get("/api/v1/staff-members/", {"current": "false"})) == {str(gone.pk)}
    assert ids_of(api.get("/api/v1/training-records/", {"expires_before": day(0)})) == {str(old.pk)}
    assert ids_of(api.get("/api/v1/training-records/", {"staff_member": str(current.pk)})) == {str(old.pk)}


def test_object_scoped_keys_list_the_providers_of_their_pc_only(domain_a: World) -> None:
    w = domain_a
    keys = issue_keys(w)
    mine = {str(p.pk) for p in w.objs[Provider] if p.pc_id == w.pcs[0].pk}
    for capacity in ("mso_staff", "pc_physician", "clinician"):
        assert ids_of(client_for(keys[capacity]).get("/api/v1/providers/")) == mine, capacity
    assert len(ids_of(client_for(keys["mso_admin"]).get("/api/v1/providers/"))) == len(w.objs[Provider])
