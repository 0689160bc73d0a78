"""Workforce pages through the browser: list/detail/create/edit in the capacities that may use them,
404 for a capacity that may not and for another tenant's ids, the credential-expiry badges of the
provider list, and the provider CSV import (all rows or none, row-by-row report, references only
among what the importer may see)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from management.models import Provider, StaffMember, Vendor
from management.procedures import LicenseType
from tenants.models import AuditLogEntry
from tenants.security.policy import requires_two_factor
from tests import factories
from tests.sessions import sign_in
from tests.worlds import World

pytestmark = pytest.mark.django_db

TODAY = dt.date.today()


def day(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def turl(world: World, name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs={"tenant_slug": world.tenant.slug, **kwargs})


def browser(world: World, capacity: str) -> Client:
    return sign_in(Client(), world.user(capacity), verified=requires_two_factor(capacity))


def text(response: Any) -> str:
    return str(response.content.decode())


# --- providers: list, detail, create, edit ------------------------------------------------------------


def test_the_provider_list_marks_credentials_expiring_within_30_60_90_days(world_a: World) -> None:
    t, pc = world_a.tenant, world_a.pcs[0]
    names = {
        "Lapsed Lee": day(-3),
        "Thirty Tran": day(25),
        "Sixty Singh": day(50),
        "Ninety Novak": day(85),
        "Fine Fox": day(400),
    }
    for name, expires in names.items():
        factories.ProviderFactory.create(tenant=t, pc=pc, full_name=name, license_expires_on=expires)
    # A DEA registration expiring first puts its provider in the 30-day band.
    factories.ProviderFactory.create(
        tenant=t,
        pc=pc,
        full_name="Dea Diaz",
        license_type=LicenseType.MD,
        license_expires_on=day(600),
        dea_number="AB1234563",
        dea_expires_on=day(10),
    )
    page = text(browser(world_a, "mso_admin").get(turl(world_a, "provider-list")))
    rows = {name: page.split(name, 1)[1].split("</tr>", 1)[0] for name in [*names, "Dea Diaz"]}
    assert 'data-band="expired"' in rows["Lapsed Lee"]
    assert 'data-band="30"' in rows["Thirty Tran"]
    assert 'data-band="60"' in rows["Sixty Singh"]
    assert 'data-band="90"' in rows["Ninety Novak"]
    assert "data-band" not in rows["Fine Fox"]
    assert 'data-band="30"' in rows["Dea Diaz"] and "DEA registration" in rows["Dea Diaz"]


def test_the_provider_page_lists_each_credential_with_its_badge_and_upcoming_appointments(
    world_a: World,
) -> None:
    provider = factories.ProviderFactory.create(
        tenant=world_a.tenant,
        pc=world_a.pcs[0],
        license_type=LicenseType.NP,
        np_furnishing_number="95009876",
        np_furnishing_expires_on=day(40),
        cures_expires_on=day(200),
    )
    appointment = factories.AppointmentFactory.create(
        tenant=world_a.tenant, location=world_a.locations[0], provider=provider
    )
    page = text(browser(world_a, "mso_staff").get(turl(world_a, "provider-detail", pk=provider.pk)))
    credentials = page.split('data-testid="credentials"', 1)[1].split("</table>", 1)[0]
    assert "NP furnishing number" in credentials and "95009876" in credentials
    assert "expires in 40 days" in credentials
    assert "CURES registration" in credentials
    assert appointment.client.full_name in page


def test_a_provider_is_created_and_edited_through_the_pages(world_a: World) -> None:
    web = browser(world_a, "mso_admin")
    form = {
        "pc": str(world_a.pcs[1].pk),
        "full_name": "Jordan Park",
        "license_type": "PA",
        "license_number": "PA 55012",
        "license_state": "CA",
        "license_status": "active",
        "license_expires_on": day(500).isoformat(),
        "pa_practice_agreement_signed_on": day(-30).isoformat(),
        "pa_practice_agreement_expires_on": day(335).isoformat(),
        "active": "on",
    }
    assert web.get(turl(world_a, "provider-create")).status_code == 200
    created = web.post(turl(world_a, "provider-create"), form)
    assert created.status_code == 302, text(created)[:2000]
    provider = Provider.objects.get(tenant=world_a.tenant, license_number="PA 55012")
    assert created["Location"] == turl(world_a, "provider-detail", pk=provider.pk)
    edited = web.post(turl(world_a, "provider-edit", pk=provider.pk), {**form, "email": "jordan@example.com"})
    assert edited.status_code == 302
    provider.refresh_from_db()
    assert provider.email == "jordan@example.com"


def test_a_refused_provider_form_is_a_400_with_each_message_and_writes_nothing(world_a: World) -> None:
    factories.ProviderFactory.create(
        tenant=world_a.tenant, pc=world_a.pcs[0], license_type=LicenseType.RN, license_number="RN 777"
    )
    before = Provider.objects.filter(tenant=world_a.tenant).count()
    response = browser(world_a, "mso_admin").post(
        turl(world_a, "provider-create"),
        {
            "pc": str(world_a.pcs[0].pk),
            "full_name": "Copy Cat",
            "license_type": "RN",
            "license_number": "RN 777",
            "license_state": "CA",
            "license_status": "active",
            "license_expires_on": day(100).isoformat(),
            "dea_number": "AB1234567",
        },
    )
    assert response.status_code == 400
    page = text(response)
    assert "CA RN license RN 777 is already on file" in page
    assert "check digit does not match" in page
    assert Provider.objects.filter(tenant=world_a.tenant).count() == before


def test_the_sign_in_choices_are_the_tenants_clinical_memberships(world_a: World, world_b: World) -> None:
    page = text(browser(world_a, "mso_admin").get(turl(world_a, "provider-create")))
    field = page.split('name="membership"', 1)[1].split("</select>", 1)[0]
    assert str(world_a.members["clinician"].pk) in field and str(world_a.members["pc_physician"].pk) in field
    assert str(world_a.members["mso_staff"].pk) not in field
    assert str(world_b.members["clinician"].pk) not in field


@pytest.mark.parametrize("capacity", ["auditor", "pc_physician", "clinician"])
def test_capacities_that_may_not_write_get_404_on_create_edit_and_import(
    world_a: World, capacity: str
) -> None:
    provider = factories.ProviderFactory.create(tenant=world_a.tenant, pc=world_a.pcs[0])
    web = browser(world_a, capacity)
    assert web.get(turl(world_a, "provider-detail", pk=provider.pk)).status_code == 200  # they may read it
    for url in (
        turl(world_a, "provider-create"),
        turl(world_a, "provider-edit", pk=provider.pk),
        turl(world_a, "provider-import"),
        turl(world_a, "vendor-create"),
    ):
        assert web.get(url).status_code == 404, url
        assert web.post(url, {"full_name": "X"}).status_code == 404, url
    assert "Add provider" not in text(web.get(turl(world_a, "provider-list")))


def test_a_clinical_capacity_reads_workforce_records_but_edits_none(world_a: World) -> None:
    """Capacity.may: a PC capacity reads the business records its work needs and runs none of them."""
    vendor = factories.VendorFactory.create(tenant=world_a.tenant)
    staff = factories.StaffMemberFactory.create(tenant=world_a.tenant, employer=world_a.entity)
    web = browser(world_a, "clinician")
    assert web.get(turl(world_a, "provider-list")).status_code == 200
    assert web.get(turl(world_a, "vendor-detail", pk=vendor.pk)).status_code == 200
    assert web.get(turl(world_a, "staff-member-detail", pk=staff.pk)).status_code == 200
    assert web.get(turl(world_a, "staff-member-edit", pk=staff.pk)).status_code == 404
    assert web.post(turl(world_a, "vendor-edit", pk=vendor.pk), {"name": "Renamed"}).status_code == 404
    vendor.refresh_from_db()
    assert vendor.name != "Renamed"


def test_other_tenants_objects_answer_404(world_a: World, world_b: World) -> None:
    foreign = {
        "provider": factories.ProviderFactory.create(tenant=world_b.tenant, pc=world_b.pcs[0]),
        "vendor": factories.VendorFactory.create(tenant=world_b.tenant),
        "staff-member": factories.StaffMemberFactory.create(tenant=world_b.tenant, employer=world_b.entity),
        "training-record": factories.TrainingRecordFactory.create(tenant=world_b.tenant),
        "business-associate-agreement": factories.BusinessAssociateAgreementFactory.create(
            tenant=world_b.tenant
        ),
    }
    web = browser(world_a, "mso_admin")
    for name, obj in foreign.items():
        for kind in ("detail", "edit"):
            response = web.get(turl(world_a, f"{name}-{kind}", pk=obj.pk))
            assert response.status_code == 404, (name, kind)
        assert web.post(turl(world_a, f"{name}-edit", pk=obj.pk), {"full_name": "hijack"}).status_code == 404
    # Staff scoped to the first PC: a provider of the second is as absent as another tenant's.
    hidden = factories.ProviderFactory.create(
        tenant=world_a.tenant, pc=world_a.pcs[1], full_name="Hidden Hale"
    )
    staff = browser(world_a, "mso_staff")
    assert staff.get(turl(world_a, "provider-detail", pk=hidden.pk)).status_code == 404
    assert "Hidden Hale" not in text(staff.get(turl(world_a, "provider-list")))


def test_vendor_staff_and_training_pages(world_a: World) -> None:
    web = browser(world_a, "mso_admin")
    created = web.post(
        turl(world_a, "vendor-create"),
        {
            "name": "CloudChart EHR",
            "service": "EHR",
            "handles_phi": "on",
            "fee_basis": "flat",
            "fee_amount": "900",
        },
    )
    assert created.status_code == 302
    vendor = Vendor.objects.get(tenant=world_a.tenant, name="CloudChart EHR")
    detail = text(web.get(turl(world_a, "vendor-detail", pk=vendor.pk)))
    assert 'data-testid="baa-missing"' in detail  # handles PHI, no BAA yet (BAA-001)
    baa = web.post(
        turl(world_a, "business-associate-agreement-create"),
        {"vendor": str(vendor.pk), "signed_on": day(-2).isoformat(), "expires_on": day(-5).isoformat()},
    )
    assert baa.status_code == 400 and "must expire after it was signed" in text(baa)
    web.post(
        turl(world_a, "business-associate-agreement-create"),
        {"vendor": str(vendor.pk), "signed_on": day(-2).isoformat()},
    )
    assert 'data-testid="baa-missing"' not in text(web.get(turl(world_a, "vendor-detail", pk=vendor.pk)))

    staff = web.post(
        turl(world_a, "staff-member-create"),
        {
            "employer": str(world_a.entity.pk),
            "location": str(world_a.locations[0].pk),
            "full_name": "Ana Flores",
            "job_title": "Front desk",
            "hired_on": day(-100).isoformat(),
        },
    )
    assert staff.status_code == 302
    member = StaffMember.objects.get(tenant=world_a.tenant, full_name="Ana Flores")
    training = web.post(
        turl(world_a, "training-record-create"),
        {"staff_member": str(member.pk), "kind": "hipaa", "completed_on": day(-10).isoformat()},
    )
    assert training.status_code == 302
    page = text(web.get(turl(world_a, "staff-member-detail", pk=member.pk)))
    assert "HIPAA privacy and security" in page.split('data-testid="trainings"', 1)[1]
    listed = text(web.get(turl(world_a, "staff-member-list")))
    assert day(-10).isoformat() in listed.split("Ana Flores", 1)[1].split("</tr>", 1)[0]


def test_the_provider_list_page_runs_the_same_queries_at_5_and_50_rows(world_a: World) -> None:
    web = browser(world_a, "mso_admin")
    url = turl(world_a, "provider-list")
    web.get(url)

    def measure(n: int) -> int:
        for _ in range(n - Provider.objects.filter(tenant=world_a.tenant).count()):
            factories.ProviderFactory.create(
                tenant=world_a.tenant,
                pc=world_a.pcs[0],
                membership=None,
                license_expires_on=day(20),
            )
        with CaptureQueriesContext(connection) as queries:
            assert web.get(url).status_code == 200
        return len(queries)

    assert measure(5) == measure(50)


# --- provider CSV import --------------------------------------------------------------------------------

HEADER = "pc,full_name,license_type,license_number,license_state,license_expires_on,np_furnishing_number"


def upload(web: Client, world: World, *lines: str) -> Any:
    data = ("\r\n".join(lines) + "\r\n").encode("utf-8")
    return web.post(turl(world, "provider-import"), {"file": SimpleUploadedFile("providers.csv", data)})


def provider_count(world: World) -> int:
    return int(Provider.objects.filter(tenant=world.tenant).count())


def test_the_import_page_offers_its_template(world_a: World) -> None:
    web = browser(world_a, "mso_admin")
    page = web.get(turl(world_a, "provider-import"))
    assert page.status_code == 200 and "license_expires_on" in text(page)
    template = web.get(turl(world_a, "provider-import") + "?download=template")
    assert template["Content-Type"].startswith("text/csv")
    assert "attachment" in template["Content-Disposition"]
    body = template.content.decode("utf-8-sig")
    assert body.splitlines()[0].startswith("pc,full_name,email,license_type,license_number")


def test_a_good_file_imports_every_row(world_a: World) -> None:
    pc0, pc1 = world_a.pcs
    before = provider_count(world_a)
    response = upload(
        browser(world_a, "mso_admin"),
        world_a,
        HEADER,
        f"{pc0.legal_name},Dana Rivera,NP,95001234,CA,2027-03-31,95009876",
        f"{pc1.pk},Sam Ortiz,rn,RN 4455,,04/30/2027,",
        f"{pc0.legal_name.upper()},Lee Wong,Physician (MD),A 99887,ca,2028-01-31,",
    )
    assert response.status_code == 200, text(response)[:3000]
    assert "Imported 3 rows of 3." in text(response)
    assert provider_count(world_a) == before + 3
    sam = Provider.objects.get(tenant=world_a.tenant, full_name="Sam Ortiz")
    assert (sam.pc_id, sam.license_type, sam.license_state, sam.license_expires_on) == (
        pc1.pk,
        "RN",
        "CA",
        dt.date(2027, 4, 30),
    )
    assert Provider.objects.get(tenant=world_a.tenant, full_name="Lee Wong").license_type == "MD"
    assert AuditLogEntry.objects.filter(tenant=world_a.tenant, action="csv_import").exists()


def test_one_bad_row_imports_nothing_and_names_its_row_and_column(world_a: World) -> None:
    pc = world_a.pcs[0].legal_name
    before = provider_count(world_a)
    response = upload(
        browser(world_a, "mso_admin"),
        world_a,
        HEADER,
        f"{pc},Dana Rivera,NP,95001234,CA,2027-03-31,",
        f"{pc},Sam Ortiz,RN,RN 4455,CA,next spring,",
        f"{pc},Lee Wong,MD,A 99887,CA,2028-01-31,123",
    )
    assert response.status_code == 400
    page = text(response)
    assert "Nothing was imported." in page
    report = page.split("import-errors", 1)[1]
    assert "<td>3</td>" in report and "license_expires_on" in report and "YYYY-MM-DD" in report
    assert (
        "<td>4</td>" in report and "np_furnishing_number" in report and "Only a nurse practitioner" in report
    )
    assert provider_count(world_a) == before


def test_another_tenants_pc_name_is_refused(world_a: World, world_b: World) -> None:
    before = (provider_count(world_a), provider_count(world_b))
    response = upload(
        browser(world_a, "mso_admin"),
        world_a,
        HEADER,
        f"{world_a.pcs[0].legal_name},Dana Rivera,NP,95001234,CA,2027-03-31,",
        f"{world_b.pcs[0].legal_name},Sam Ortiz,RN,RN 4455,CA,2027-03-31,",
        f"{world_b.pcs[1].pk},Lee Wong,RN,RN 4456,CA,2027-03-31,",
    )
    assert response.status_code == 400
    report = text(response).split("import-errors", 1)[1]
    assert report.count("not one you may use") == 2
    assert "<td>3</td>" in report and "<td>4</td>" in report
    assert (provider_count(world_a), provider_count(world_b)) == before


def test_a_pc_the_staff_member_does_not_hold_is_refused_like_an_unknown_one(world_a: World) -> None:
    before = provider_count(world_a)
    response = upload(
        browser(world_a, "mso_staff"),
        world_a,
        HEADER,
        f"{world_a.pcs[1].legal_name},Sam Ortiz,RN,RN 4455,CA,2027-03-31,",
    )
    assert response.status_code == 400
    assert "Unknown PC" in text(response)
    assert provider_count(world_a) == before


def test_a_license_twice_in_the_file_or_already_on_file_is_refused(world_a: World) -> None:
    factories.ProviderFactory.create(
        tenant=world_a.tenant, pc=world_a.pcs[0], license_type=LicenseType.RN, license_number="RN 1000"
    )
    pc = world_a.pcs[0].legal_name
    before = provider_count(world_a)
    response = upload(
        browser(world_a, "mso_admin"),
        world_a,
        HEADER,
        f"{pc},Dana Rivera,NP,95001234,CA,2027-03-31,",
        f"{pc},Dana R. Rivera,NP,95001234,ca,2027-03-31,",
        f"{pc},Old Timer,RN,RN 1000,CA,2027-03-31,",
    )
    assert response.status_code == 400
    report = text(response).split("import-errors", 1)[1]
    assert "as row 2; each may appear once per file" in report
    assert "CA RN license RN 1000 is already on file" in report
    assert provider_count(world_a) == before


def test_an_upload_without_a_file_is_a_400_with_a_message(world_a: World) -> None:
    response = browser(world_a, "mso_admin").post(turl(world_a, "provider-import"), {})
    assert response.status_code == 400
    assert "This field is required." in text(response)
