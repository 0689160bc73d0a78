"""Services and selectors of the workforce area: valid writes, each rule's refusal with its message,
references of another tenant or outside the capacity's scope, capacities that may not write, and the
credential-expiry reads (LIC-002 bands) the provider pages show."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from management.models import BusinessAssociateAgreement, Provider, StaffMember, TrainingRecord, Vendor
from management.procedures import LicenseStatus, LicenseType
from management.selectors import workforce as selectors
from management.services import workforce as services
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


def provider_kwargs(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "pc": world.pcs[0],
        "full_name": "Dana Rivera",
        "license_type": LicenseType.NP,
        "license_number": "95001234",
        "license_expires_on": days(400),
        **overrides,
    }


# --- Vendors and BAAs --------------------------------------------------------------------------------


def test_vendor_create_and_update(world_a: World, as_ctx: ActAs) -> None:
    with as_ctx(world_a.ctx("mso_admin")):
        vendor = services.vendor_create(
            ctx=world_a.ctx("mso_admin"),
            name="  CloudChart EHR Inc. ",
            service="Electronic health records",
            handles_phi=True,
            fee_basis=Vendor.FeeBasis.FLAT,
            fee_amount=Decimal("900.00"),
        )
        assert (vendor.name, vendor.tenant_id) == ("CloudChart EHR Inc.", world_a.tenant.pk)
        services.vendor_update(ctx=world_a.ctx("mso_admin"), vendor=vendor, fee_amount=None, service="EHR")
    vendor.refresh_from_db()
    assert (vendor.service, vendor.fee_amount, vendor.handles_phi) == ("EHR", None, True)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "  "}, "name", "Give the vendor's name"),
        ({"fee_amount": Decimal("0")}, "fee_amount", "positive amount"),
        ({"fee_amount": Decimal("-5")}, "fee_amount", "positive amount"),
        (
            {"fee_basis": Vendor.FeeBasis.PERCENT_OF_REVENUE, "fee_amount": Decimal("120")},
            "fee_amount",
            "at most 100",
        ),
        ({"fee_basis": "bribe"}, "fee_basis", "not a valid choice"),
    ],
)
def test_vendor_rules(
    world_a: World, as_ctx: ActAs, changes: dict[str, Any], field: str, message: str
) -> None:
    before = count(Vendor, world_a)
    data = {"name": "Glow Leads LLC", "service": "Lead generation", **changes}
    with as_ctx(world_a.ctx("mso_admin")), refused(field, message):
        services.vendor_create(ctx=world_a.ctx("mso_admin"), **data)
    assert count(Vendor, world_a) == before


def test_a_percentage_fee_up_to_100_and_a_per_lead_fee_are_recorded_as_they_are(
    world_a: World, as_ctx: ActAs
) -> None:
    """FEE-004 (pay per lead) is the audit engine's finding; the record keeps the facts."""
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        per_lead = services.vendor_create(
            ctx=ctx,
            name="Leads Co",
            service="Ads",
            fee_basis=Vendor.FeeBasis.PER_LEAD,
            fee_amount=Decimal("40"),
        )
        share = services.vendor_create(
            ctx=ctx,
            name="Share Co",
            service="Marketing",
            fee_basis=Vendor.FeeBasis.PERCENT_OF_REVENUE,
            fee_amount=Decimal("100"),
        )
    assert per_lead.pk and share.fee_amount == Decimal("100")


def test_baa_create_checks_dates_and_the_vendors_tenant(
    world_a: World, world_b: World, as_ctx: ActAs
) -> None:
    ctx = world_a.ctx("mso_admin")
    own = factories.VendorFactory.create(tenant=world_a.tenant)
    foreign = factories.VendorFactory.create(tenant=world_b.tenant)
    with as_ctx(ctx):
        baa = services.baa_create(ctx=ctx, vendor=own, signed_on=days(-30), expires_on=days(335))
        assert baa.vendor_id == own.pk
        with refused("expires_on", "expire after it was signed"):
            services.baa_create(ctx=ctx, vendor=own, signed_on=days(-30), expires_on=days(-30))
        with refused("signed_on", "cannot be in the future"):
            services.baa_create(ctx=ctx, vendor=own, signed_on=days(3))
        with refused("vendor", "not one you may use"):
            services.baa_create(ctx=ctx, vendor=foreign, signed_on=days(-1))
        with refused("expires_on", "expire after it was signed"):
            services.baa_update(ctx=ctx, baa=baa, expires_on=days(-40))
        services.baa_update(ctx=ctx, baa=baa, expires_on=None, document_reference="BAA-7")
    baa.refresh_from_db()
    assert (baa.expires_on, baa.document_reference) == (None, "BAA-7")
    assert count(BusinessAssociateAgreement, world_b) == 0


def test_selectors_know_which_vendors_have_a_baa_in_force(world_a: World, as_ctx: ActAs) -> None:
    covered = factories.VendorFactory.create(tenant=world_a.tenant, name="Covered")
    lapsed = factories.VendorFactory.create(tenant=world_a.tenant, name="Lapsed")
    bare = factories.VendorFactory.create(tenant=world_a.tenant, name="Bare")
    factories.BusinessAssociateAgreementFactory.create(tenant=world_a.tenant, vendor=covered)
    factories.BusinessAssociateAgreementFactory.create(
        tenant=world_a.tenant, vendor=lapsed, signed_on=days(-800), expires_on=days(-1)
    )
    ctx = world_a.ctx("mso_compliance")
    with as_ctx(ctx):
        vendors: list[Any] = list(selectors.vendor_list(ctx))
        listed = {v.name: v.has_current_baa for v in vendors}
        assert listed == {"Covered": True, "Lapsed": False, "Bare": False}
        # A vendor read without the annotation gets the same answer from its own query.
        assert [
            selectors.vendor_has_current_baa(Vendor.objects.get(pk=v.pk)) for v in (covered, lapsed, bare)
        ] == [
            True,
            False,
            False,
        ]


# --- Staff and training ------------------------------------------------------------------------------


def test_staff_member_create_update_and_rules(world_a: World, world_b: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        staff = services.staff_member_create(
            ctx=ctx,
            employer=world_a.entity,
            location=world_a.locations[1],
            full_name="Ana Flores",
            job_title="Front desk coordinator",
            hired_on=days(-100),
            exposure_risk=True,
        )
        with refused("left_on", "before the hiring date"):
            services.staff_member_update(ctx=ctx, staff_member=staff, left_on=days(-101))
        with refused("employer", "not one you may use"):
            services.staff_member_create(
                ctx=ctx, employer=world_b.entity, full_name="X", job_title="Y", hired_on=days(-1)
            )
        with refused("location", "not one you may use"):
            services.staff_member_update(ctx=ctx, staff_member=staff, location=world_b.locations[0])
        with refused("job_title", "Give the job title"):
            services.staff_member_update(ctx=ctx, staff_member=staff, job_title=" ")
        services.staff_member_update(ctx=ctx, staff_member=staff, location=None, left_on=days(-1))
    staff.refresh_from_db()
    assert (staff.location_id, staff.left_on, staff.exposure_risk) == (None, days(-1), True)


def test_object_scoped_staff_cannot_place_staff_at_a_location_they_do_not_hold(
    world_a: World, as_ctx: ActAs
) -> None:
    ctx = world_a.ctx("mso_staff")
    before = count(StaffMember, world_a)
    with as_ctx(ctx):
        with refused("location", "not one you may use"):
            services.staff_member_create(
                ctx=ctx,
                employer=world_a.entity,
                location=world_a.locations[1],
                full_name="Sam Lee",
                job_title="Manager",
                hired_on=days(-5),
            )
        services.staff_member_create(
            ctx=ctx,
            employer=world_a.entity,
            location=world_a.locations[0],
            full_name="Sam Lee",
            job_title="Manager",
            hired_on=days(-5),
        )
    assert count(StaffMember, world_a) == before + 1


def test_training_records_and_the_staff_list_annotations(
    world_a: World, world_b: World, as_ctx: ActAs
) -> None:
    ctx = world_a.ctx("mso_admin")
    staff = factories.StaffMemberFactory.create(tenant=world_a.tenant, employer=world_a.entity)
    foreign = factories.StaffMemberFactory.create(tenant=world_b.tenant, employer=world_b.entity)
    with as_ctx(ctx):
        older = services.training_record_create(
            ctx=ctx, staff_member=staff, kind=TrainingRecord.Kind.HIPAA, completed_on=days(-400)
        )
        services.training_record_create(
            ctx=ctx, staff_member=staff, kind=TrainingRecord.Kind.HIPAA, completed_on=days(-20)
        )
        services.training_record_create(
            ctx=ctx,
            staff_member=staff,
            kind=TrainingRecord.Kind.BLOODBORNE_PATHOGENS,
            completed_on=days(-50),
            expires_on=days(315),
        )
        with refused("completed_on", "cannot be in the future"):
            services.training_record_create(
                ctx=ctx, staff_member=staff, kind=TrainingRecord.Kind.IIPP, completed_on=days(1)
            )
        with refused("expires_on", "expire after it was completed"):
            services.training_record_update(ctx=ctx, record=older, expires_on=days(-500))
        with refused("staff_member", "not one you may use"):
            services.training_record_create(
                ctx=ctx, staff_member=foreign, kind=TrainingRecord.Kind.IIPP, completed_on=days(-1)
            )
        with refused("kind", "not a valid choice"):
            services.training_record_update(ctx=ctx, record=older, kind="yoga")
        row: Any = selectors.staff_member_list(ctx).get(pk=staff.pk)
    assert (row.last_hipaa_training, row.last_bbp_training) == (days(-20), days(-50))


# --- Providers ---------------------------------------------------------------------------------------


def test_provider_create_records_every_credential(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        provider = services.provider_create(
            ctx=ctx,
            **provider_kwargs(
                world_a,
                license_state="ca",
                np_furnishing_number="95009876",
                np_furnishing_expires_on=days(200),
                np_independent_103_104=True,
                dea_number="ab1234563",
                dea_expires_on=days(900),
                cures_expires_on=days(45),
            ),
        )
    provider.refresh_from_db()
    assert (provider.license_state, provider.dea_number, provider.np_independent_103_104) == (
        "CA",
        "AB1234563",
        True,
    )
    assert provider.tenant_id == world_a.tenant.pk


def test_a_license_number_is_unique_per_state_and_type_with_a_clear_message(
    world_a: World, world_b: World, as_ctx: ActAs
) -> None:
    factories.ProviderFactory.create(
        tenant=world_a.tenant, pc=world_a.pcs[1], license_type=LicenseType.NP, license_number="95001234"
    )
    ctx = world_a.ctx("mso_admin")
    before = count(Provider, world_a)
    with as_ctx(ctx):
        with refused("license_number", "CA NP license 95001234 is already on file"):
            services.provider_create(ctx=ctx, **provider_kwargs(world_a))
        # The same number under another state or another license type is another license.
        services.provider_create(ctx=ctx, **provider_kwargs(world_a, license_state="NV"))
        services.provider_create(ctx=ctx, **provider_kwargs(world_a, license_type=LicenseType.RN))
    assert count(Provider, world_a) == before + 2
    # Another tenant may record the same license: tenants never see each other's providers.
    with as_ctx(world_b.ctx("mso_admin")):
        services.provider_create(ctx=world_b.ctx("mso_admin"), **provider_kwargs(world_b))


def test_staff_see_the_clash_with_a_provider_of_a_pc_they_do_not_hold_but_not_who_it_is(
    world_a: World, as_ctx: ActAs
) -> None:
    hidden = factories.ProviderFactory.create(
        tenant=world_a.tenant,
        pc=world_a.pcs[1],
        full_name="Hidden Person",
        license_type=LicenseType.NP,
        license_number="95001234",
    )
    ctx = world_a.ctx("mso_staff")
    with as_ctx(ctx), pytest.raises(ValidationError) as caught:
        services.provider_create(ctx=ctx, **provider_kwargs(world_a))
    assert "already on file" in str(caught.value)
    assert hidden.full_name not in str(caught.value) and str(hidden.pk) not in str(caught.value)


def test_updating_a_provider_keeps_its_own_license_and_refuses_anothers(
    world_a: World, as_ctx: ActAs
) -> None:
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        first = services.provider_create(ctx=ctx, **provider_kwargs(world_a))
        second = services.provider_create(ctx=ctx, **provider_kwargs(world_a, license_number="95005555"))
        services.provider_update(ctx=ctx, provider=first, email="dana@example.com", license_number="95001234")
        with refused("license_number", "already on file"):
            services.provider_update(ctx=ctx, provider=second, license_number="95001234")
    second.refresh_from_db()
    assert second.license_number == "95005555"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"full_name": ""}, "full_name", "Give the provider's full name"),
        ({"license_number": " "}, "license_number", "Give the license number"),
        ({"license_state": "California"}, "license_state", "two-letter state code"),
        ({"license_type": LicenseType.NONE}, "license_type", "holds a professional license"),
        ({"license_type": "wizard"}, "license_type", "not a valid choice"),
        ({"dea_number": "AB123"}, "dea_number", "two letters and seven digits"),
        ({"dea_number": "AB1234567"}, "dea_number", "check digit does not match"),
        ({"dea_expires_on": days(30)}, "dea_expires_on", "Give the DEA number"),
        (
            {"license_type": LicenseType.RN, "np_furnishing_number": "123"},
            "np_furnishing_number",
            "Only a nurse practitioner",
        ),
        ({"np_furnishing_expires_on": days(9)}, "np_furnishing_expires_on", "Give the furnishing number"),
        (
            {"license_type": LicenseType.PA, "np_independent_103_104": True},
            "np_independent_103_104",
            "Only a nurse practitioner",
        ),
        (
            {"pa_practice_agreement_signed_on": days(-10)},
            "pa_practice_agreement_signed_on",
            "Only a physician assistant",
        ),
        (
            {
                "license_type": LicenseType.PA,
                "pa_practice_agreement_signed_on": days(-10),
                "pa_practice_agreement_expires_on": days(-20),
            },
            "pa_practice_agreement_expires_on",
            "expire after it was signed",
        ),
        (
            {"license_type": LicenseType.PA, "pa_practice_agreement_expires_on": days(20)},
            "pa_practice_agreement_signed_on",
            "Give the date the practice agreement was signed",
        ),
        (
            {"license_type": LicenseType.PA, "pa_practice_agreement_signed_on": days(5)},
            "pa_practice_agreement_signed_on",
            "cannot be in the future",
        ),
        ({"license_status": LicenseStatus.REVOKED}, "active", "revoked cannot be active"),
        ({"email": "not an email"}, "email", "valid email"),
    ],
)
def test_provider_rules(
    world_a: World, as_ctx: ActAs, overrides: dict[str, Any], field: str, message: str
) -> None:
    before = count(Provider, world_a)
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx), refused(field, message):
        services.provider_create(ctx=ctx, **provider_kwargs(world_a, **overrides))
    assert count(Provider, world_a) == before


def test_every_problem_of_one_write_is_reported_at_once(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx), pytest.raises(ValidationError) as caught:
        services.provider_create(
            ctx=ctx, **provider_kwargs(world_a, full_name="", license_state="XXX", dea_number="bad")
        )
    assert {"full_name", "license_state", "dea_number"} <= set(caught.value.message_dict)


def test_a_pa_with_a_practice_agreement_and_a_physician_with_dea(world_a: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        pa = services.provider_create(
            ctx=ctx,
            **provider_kwargs(
                world_a,
                license_type=LicenseType.PA,
                license_number="PA 22001",
                pa_practice_agreement_signed_on=days(-100),
                pa_practice_agreement_expires_on=days(265),
            ),
        )
        # Clearing the agreement's dates on an update is allowed (None is a value for updates).
        services.provider_update(
            ctx=ctx, provider=pa, pa_practice_agreement_expires_on=None, pa_practice_agreement_signed_on=None
        )
    pa.refresh_from_db()
    assert pa.pa_practice_agreement_signed_on is None


def test_provider_pc_must_be_in_the_callers_scope(world_a: World, world_b: World, as_ctx: ActAs) -> None:
    with as_ctx(world_a.ctx("mso_admin")), refused("pc", "not one you may use"):
        services.provider_create(ctx=world_a.ctx("mso_admin"), **provider_kwargs(world_a, pc=world_b.pcs[0]))
    staff = world_a.ctx("mso_staff")
    with as_ctx(staff):
        with refused("pc", "not one you may use"):
            services.provider_create(ctx=staff, **provider_kwargs(world_a, pc=world_a.pcs[1]))
        services.provider_create(ctx=staff, **provider_kwargs(world_a, pc=world_a.pcs[0]))


def test_linking_a_providers_sign_in(world_a: World, world_b: World, as_ctx: ActAs) -> None:
    ctx = world_a.ctx("mso_admin")
    clinician = world_a.members["clinician"]  # an RN sign-in
    with as_ctx(ctx):
        with refused("membership", "Unknown membership"):
            services.provider_create(
                ctx=ctx, **provider_kwargs(world_a, membership=world_a.members["mso_admin"])
            )
        with refused("membership", "Unknown membership"):
            services.provider_create(
                ctx=ctx, **provider_kwargs(world_a, membership=world_b.members["clinician"])
            )
        with refused("membership", "holds a RN license"):
            services.provider_create(ctx=ctx, **provider_kwargs(world_a, membership=clinician))
        linked = services.provider_create(
            ctx=ctx, **provider_kwargs(world_a, license_type=LicenseType.RN, membership=clinician)
        )
        with refused("membership", "already linked to another provider"):
            services.provider_create(
                ctx=ctx,
                **provider_kwargs(
                    world_a, license_type=LicenseType.RN, license_number="RN 1", membership=clinician
                ),
            )
        services.provider_update(ctx=ctx, provider=linked, membership=None)
    linked.refresh_from_db()
    assert linked.membership_id is None


@pytest.mark.parametrize("capacity", ["auditor", "pc_physician", "clinician"])
def test_capacities_that_may_not_write_business_records_are_refused(
    world_a: World, as_ctx: ActAs, capacity: str
) -> None:
    ctx = world_a.ctx(capacity)
    vendor = factories.VendorFactory.create(tenant=world_a.tenant)
    provider = factories.ProviderFactory.create(tenant=world_a.tenant, pc=world_a.pcs[0])
    before = (count(Vendor, world_a), count(Provider, world_a))
    with as_ctx(ctx):
        with pytest.raises(PermissionDenied):
            services.vendor_create(ctx=ctx, name="X", service="Y")
        with pytest.raises(PermissionDenied):
            services.vendor_update(ctx=ctx, vendor=vendor, name="Renamed")
        with pytest.raises(PermissionDenied):
            services.provider_create(ctx=ctx, **provider_kwargs(world_a))
        with pytest.raises(PermissionDenied):
            services.provider_update(ctx=ctx, provider=provider, email="x@example.com")
        with pytest.raises(PermissionDenied):
            services.staff_member_create(
                ctx=ctx, employer=world_a.entity, full_name="X", job_title="Y", hired_on=days(-1)
            )
    assert (count(Vendor, world_a), count(Provider, world_a)) == before
    vendor.refresh_from_db()
    assert vendor.name != "Renamed"


def test_an_unknown_field_is_a_programming_error_not_a_silent_no_op(world_a: World, as_ctx: ActAs) -> None:
    vendor = factories.VendorFactory.create(tenant=world_a.tenant)
    with as_ctx(world_a.ctx("mso_admin")), pytest.raises(TypeError, match="tenant"):
        services.vendor_update(ctx=world_a.ctx("mso_admin"), vendor=vendor, tenant=None)


# --- credential expiry (LIC-002) ----------------------------------------------------------------------


def test_expiry_badges_follow_the_30_60_90_day_bands() -> None:
    today = dt.date(2026, 1, 1)
    bands = {
        n: (b.band if (b := selectors.expiry_badge(today + dt.timedelta(days=n), today)) else None)
        for n in (-3, 0, 30, 31, 60, 61, 90, 91)
    }
    assert bands == {
        -3: "expired",
        0: "within-30",
        30: "within-30",
        31: "within-60",
        60: "within-60",
        61: "within-90",
        90: "within-90",
        91: None,
    }
    assert selectors.expiry_badge(None) is None
    assert selectors.expiry_badge(today - dt.timedelta(days=1), today).label == "expired 1 day ago"  # type: ignore[union-attr]
    assert selectors.expiry_badge(today + dt.timedelta(days=12), today).label == "expires in 12 days"  # type: ignore[union-attr]


def test_provider_list_annotates_the_soonest_expiry_and_its_band(world_a: World, as_ctx: ActAs) -> None:
    t, pc = world_a.tenant, world_a.pcs[0]
    soon = factories.ProviderFactory.create(
        tenant=t, pc=pc, full_name="Soon", license_expires_on=days(300), cures_expires_on=days(20)
    )
    mid = factories.ProviderFactory.create(tenant=t, pc=pc, full_name="Mid", license_expires_on=days(45))
    lapsed = factories.ProviderFactory.create(
        tenant=t, pc=pc, full_name="Lapsed", license_expires_on=days(-2)
    )
    later = factories.ProviderFactory.create(tenant=t, pc=pc, full_name="Later", license_expires_on=days(80))
    fine = factories.ProviderFactory.create(tenant=t, pc=pc, full_name="Fine", license_expires_on=days(400))
    ctx = world_a.ctx("mso_admin")
    with as_ctx(ctx):
        rows: dict[str, Any] = {p.full_name: p for p in selectors.provider_list(ctx)}
        expiring = [p.full_name for p in selectors.providers_expiring(ctx, 60)]
        before = {p.pk for p in selectors.expiring_before(selectors.provider_list(ctx), days(50))}
    assert (rows["Soon"].next_expiry, rows["Soon"].next_expiry_credential) == (days(20), "CURES registration")
    assert {name: rows[name].expiry_band for name in ("Soon", "Mid", "Lapsed", "Later", "Fine")} == {
        "Soon": "within-30",
        "Mid": "within-60",
        "Lapsed": "expired",
        "Later": "within-90",
        "Fine": "",
    }
    assert expiring == ["Lapsed", "Soon", "Mid"]
    assert before == {soon.pk, mid.pk, lapsed.pk}
    assert later.pk not in before and fine.pk not in before
    credentials = selectors.provider_credentials(soon)
    assert [(c.label, c.badge.band if c.badge else None) for c in credentials] == [
        ("License", None),
        ("CURES registration", "within-30"),
    ]
    assert selectors.next_expiry(Provider.objects.get(pk=soon.pk)) == days(20)
