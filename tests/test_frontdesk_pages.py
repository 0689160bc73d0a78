"""Front-desk pages through the browser: a client's page with its appointments and payments (only those
the capacity may see), booking through the form with the double-booking refusal, 404s for capacities
that may not write and for other tenants, and the client CSV import."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from management.models import Appointment, BankAccount, Client, PatientPayment
from tenants.security.policy import requires_two_factor
from tests import factories
from tests.sessions import sign_in
from tests.worlds import World

pytestmark = pytest.mark.django_db

NOON = (timezone.localtime() + dt.timedelta(days=5)).replace(hour=12, minute=0, second=0, microsecond=0)


def turl(world: World, name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs={"tenant_slug": world.tenant.slug, **kwargs})


def browser(world: World, capacity: str) -> Browser:
    return sign_in(Browser(), world.user(capacity), verified=requires_two_factor(capacity))


def text(response: Any) -> str:
    return str(response.content.decode())


def local(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


# --- clients ----------------------------------------------------------------------------------------


def test_a_clients_page_shows_its_appointments_and_payments(domain_a: World) -> None:
    w = domain_a
    client = next(c for c in w.objs[Client] if c.home_location_id == w.locations[0].pk)
    appointment = next(a for a in w.objs[Appointment] if a.client_id == client.pk)
    payment = next(p for p in w.objs[PatientPayment] if p.client_id == client.pk)
    # The client also visited the second location: tenant-wide capacities see it, location staff not.
    elsewhere = factories.AppointmentFactory.create(
        tenant=w.tenant, location=w.locations[1], client=client, starts_at=NOON + dt.timedelta(days=1)
    )
    url = turl(w, "client-detail", pk=client.pk)

    page = text(browser(w, "mso_admin").get(url))
    appointments = page.split('data-testid="client-appointments"', 1)[1].split("</table>", 1)[0]
    payments = page.split('data-testid="client-payments"', 1)[1].split("</table>", 1)[0]
    assert turl(w, "appointment-detail", pk=appointment.pk) in appointments
    assert turl(w, "appointment-detail", pk=elsewhere.pk) in appointments
    assert turl(w, "patient-payment-detail", pk=payment.pk) in payments and "650.00 USD" in payments
    assert "Book appointment" in page and "Record payment" in page

    staff_page = text(browser(w, "mso_staff").get(url))
    assert turl(w, "appointment-detail", pk=appointment.pk) in staff_page
    assert turl(w, "appointment-detail", pk=elsewhere.pk) not in staff_page

    auditor_page = text(browser(w, "auditor").get(url))
    assert turl(w, "appointment-detail", pk=elsewhere.pk) in auditor_page
    assert "Book appointment" not in auditor_page  # read-only: no write links


def test_clients_are_created_and_edited_through_the_pages(world_a: World) -> None:
    web = browser(world_a, "mso_staff")
    form = {
        "home_location": str(world_a.locations[0].pk),
        "full_name": "Maya Chen",
        "email": "maya@example.com",
        "lead_source": "referral",
    }
    created = web.post(turl(world_a, "client-create"), form)
    assert created.status_code == 302
    client = Client.objects.get(tenant=world_a.tenant, full_name="Maya Chen")
    refused = web.post(turl(world_a, "client-edit", pk=client.pk), {**form, "date_of_birth": "2999-01-01"})
    assert refused.status_code == 400 and "cannot be in the future" in text(refused)
    # A location the staff member does not hold is not among the choices: refused by the form.
    moved = web.post(
        turl(world_a, "client-edit", pk=client.pk), {**form, "home_location": str(world_a.locations[1].pk)}
    )
    assert moved.status_code == 400
    client.refresh_from_db()
    assert (client.home_location_id, client.date_of_birth) == (world_a.locations[0].pk, None)
    listed = text(web.get(turl(world_a, "client-list") + "?search=chen"))
    assert "Maya Chen" in listed


def test_booking_through_the_form_refuses_a_double_booking(world_a: World) -> None:
    client = factories.ClientFactory.create(tenant=world_a.tenant, home_location=world_a.locations[0])
    provider = factories.ProviderFactory.create(tenant=world_a.tenant, pc=world_a.pcs[0], full_name="Dr. Kim")
    web = browser(world_a, "mso_admin")
    form = {
        "client": str(client.pk),
        "location": str(world_a.locations[0].pk),
        "service": "neurotoxin",
        "provider": str(provider.pk),
        "starts_at": local(NOON),
        "ends_at": local(NOON + dt.timedelta(minutes=45)),
        "status": "booked",
    }
    prefilled = text(web.get(turl(world_a, "appointment-create") + f"?client={client.pk}"))
    assert f'value="{client.pk}" selected' in prefilled
    assert web.post(turl(world_a, "appointment-create"), form).status_code == 302
    clash = web.post(
        turl(world_a, "appointment-create"),
        {
            **form,
            "starts_at": local(NOON + dt.timedelta(minutes=30)),
            "ends_at": local(NOON + dt.timedelta(hours=1)),
        },
    )
    assert clash.status_code == 400
    assert "Dr. Kim already has an appointment overlapping this time" in text(clash)
    assert Appointment.objects.filter(provider=provider).count() == 1
    appointment = Appointment.objects.get(provider=provider)
    edit = web.get(turl(world_a, "appointment-edit", pk=appointment.pk))
    assert f'value="{local(NOON)}"' in text(edit)  # the picker gets a value it can show


def test_filters_of_the_appointment_list(world_a: World) -> None:
    here = factories.AppointmentFactory.create(
        tenant=world_a.tenant, location=world_a.locations[0], starts_at=NOON
    )
    later = factories.AppointmentFactory.create(
        tenant=world_a.tenant, location=world_a.locations[0], starts_at=NOON + dt.timedelta(days=10)
    )
    web = browser(world_a, "mso_admin")
    day = NOON.date().isoformat()
    page = text(web.get(turl(world_a, "appointment-list") + f"?date_from={day}&date_to={day}"))
    assert turl(world_a, "appointment-detail", pk=here.pk) in page
    assert turl(world_a, "appointment-detail", pk=later.pk) not in page
    by_provider = text(web.get(turl(world_a, "appointment-list") + f"?provider={later.provider_id}"))
    assert turl(world_a, "appointment-detail", pk=later.pk) in by_provider
    assert turl(world_a, "appointment-detail", pk=here.pk) not in by_provider


@pytest.mark.parametrize("capacity", ["auditor", "pc_physician", "clinician"])
def test_capacities_that_may_not_write_get_404_on_front_desk_writes(domain_a: World, capacity: str) -> None:
    w = domain_a
    client = next(c for c in w.objs[Client] if c.home_location_id == w.locations[0].pk)
    web = browser(w, capacity)
    assert web.get(turl(w, "client-detail", pk=client.pk)).status_code == 200
    for url in (
        turl(w, "client-create"),
        turl(w, "client-edit", pk=client.pk),
        turl(w, "client-import"),
        turl(w, "appointment-create"),
        turl(w, "patient-payment-create"),
    ):
        assert web.get(url).status_code == 404, url
    assert web.post(turl(w, "client-edit", pk=client.pk), {"full_name": "Renamed"}).status_code == 404
    client.refresh_from_db()
    assert client.full_name != "Renamed"


def test_other_tenants_front_desk_objects_answer_404(domain_a: World, domain_b: World) -> None:
    web = browser(domain_a, "mso_admin")
    for name, model in (
        ("client", Client),
        ("appointment", Appointment),
        ("patient-payment", PatientPayment),
    ):
        obj = domain_b.objs[model][0]
        for kind in ("detail", "edit"):
            assert web.get(turl(domain_a, f"{name}-{kind}", pk=obj.pk)).status_code == 404, (name, kind)
        assert web.post(turl(domain_a, f"{name}-edit", pk=obj.pk), {"status": "cancelled"}).status_code == 404
        assert str(obj.pk) not in text(web.get(turl(domain_a, f"{name}-list")))


def test_a_payment_form_offers_only_the_tenants_accounts(domain_a: World, domain_b: World) -> None:
    page = text(browser(domain_a, "mso_admin").get(turl(domain_a, "patient-payment-create")))
    field = page.split('name="deposited_to"', 1)[1].split("</select>", 1)[0]
    assert all(str(account.pk) in field for account in domain_a.objs[BankAccount])
    assert not any(str(account.pk) in field for account in domain_b.objs[BankAccount])


# --- client CSV import ---------------------------------------------------------------------------------

HEADER = "home_location,full_name,email,phone,date_of_birth,lead_source,marketing_opt_in"


def upload(web: Browser, world: World, *lines: str) -> Any:
    data = ("\r\n".join(lines) + "\r\n").encode("utf-8")
    return web.post(turl(world, "client-import"), {"file": SimpleUploadedFile("clients.csv", data)})


def clients_of(world: World) -> int:
    return int(Client.objects.filter(tenant=world.tenant).count())


def test_a_good_client_file_imports_every_row(world_a: World) -> None:
    loc0, loc1 = world_a.locations
    before = clients_of(world_a)
    response = upload(
        browser(world_a, "mso_admin"),
        world_a,
        HEADER,
        f"{loc0.name},Maya Chen,maya@example.com,+1 619 555 0142,1988-07-14,Referral by a client,yes",
        f"{loc1.pk},Omar Haddad,,,,instagram,",
        f"{loc0.name.lower()},Zoë Ortiz,zoe@example.com,(858) 555-0100,07/04/1990,,no",
    )
    assert response.status_code == 200, text(response)[:3000]
    assert "Imported 3 rows of 3." in text(response)
    assert clients_of(world_a) == before + 3
    maya = Client.objects.get(tenant=world_a.tenant, full_name="Maya Chen")
    assert (maya.lead_source, maya.marketing_opt_in, maya.phone) == ("referral", True, "+1 619 555 0142")
    zoe = Client.objects.get(tenant=world_a.tenant, full_name="Zoë Ortiz")
    assert (zoe.date_of_birth, zoe.lead_source, zoe.home_location_id) == (
        dt.date(1990, 7, 4),
        "other",
        loc0.pk,
    )


def test_one_bad_client_row_imports_nothing(world_a: World) -> None:
    loc = world_a.locations[0].name
    before = clients_of(world_a)
    response = upload(
        browser(world_a, "mso_admin"),
        world_a,
        HEADER,
        f"{loc},Maya Chen,maya@example.com,,,,",
        f"{loc},Omar Haddad,not-an-email,,,billboard,maybe",
        f"{loc},Future Kid,,,2999-01-01,,",
    )
    assert response.status_code == 400
    report = text(response).split("import-errors", 1)[1]
    for expected in (
        "<td>3</td>",
        "email",
        "lead_source",
        "Not one of:",
        "marketing_opt_in",
        "Write yes or no.",
    ):
        assert expected in report, expected
    assert "<td>4</td>" in report and "date_of_birth" in report and "cannot be in the future" in report
    assert clients_of(world_a) == before


def test_another_tenants_location_name_is_refused(world_a: World, world_b: World) -> None:
    before = (clients_of(world_a), clients_of(world_b))
    response = upload(
        browser(world_a, "mso_admin"),
        world_a,
        HEADER,
        f"{world_a.locations[0].name},Maya Chen,,,,,",
        f"{world_b.locations[0].name},Omar Haddad,,,,,",
    )
    assert response.status_code == 400
    report = text(response).split("import-errors", 1)[1]
    assert "<td>3</td>" in report and "home_location" in report and "not one you may use" in report
    assert (clients_of(world_a), clients_of(world_b)) == before


def test_location_staff_import_only_into_their_location(world_a: World) -> None:
    web = browser(world_a, "mso_staff")
    before = clients_of(world_a)
    refused = upload(web, world_a, HEADER, f"{world_a.locations[1].name},Omar Haddad,,,,,")
    assert refused.status_code == 400 and "Unknown location" in text(refused)
    assert clients_of(world_a) == before
    accepted = upload(web, world_a, HEADER, f"{world_a.locations[0].name},Omar Haddad,,,,,")
    assert accepted.status_code == 200
    assert clients_of(world_a) == before + 1


def test_formula_cells_are_refused_but_phone_numbers_pass(world_a: World) -> None:
    before = clients_of(world_a)
    response = upload(
        browser(world_a, "mso_admin"),
        world_a,
        HEADER,
        f'{world_a.locations[0].name},"=HYPERLINK(""http://x.test"")",,+1 619 555 0142,,,',
    )
    assert response.status_code == 400
    assert "run as a formula" in text(response)
    assert clients_of(world_a) == before


def test_the_client_template_downloads_with_its_columns(world_a: World) -> None:
    template = browser(world_a, "mso_admin").get(turl(world_a, "client-import") + "?download=template")
    assert template.status_code == 200
    assert template.content.startswith(b"\xef\xbb\xbf")  # Excel reads accents right with the BOM
    assert template.content.decode("utf-8-sig").splitlines()[0] == HEADER
