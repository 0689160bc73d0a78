"""The parties' pages through the browser: list / detail / create / edit of every model in every
capacity (200 where the capacity may, 404 elsewhere and for the other tenant's ids), writes through
the services with their messages on the form, the PC page's cap table and the location page's lease,
equipment service dates and waste registration, and list pages whose queries do not grow with rows."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.db import connection, models
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

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
from management.views.parties import ALL_PAGES
from tenants.capacities import ADD, CAPACITIES, CHANGE, VIEW
from tenants.pages import ObjectPages
from tenants.security.policy import requires_two_factor
from tests import factories
from tests.api_matrix import reaches
from tests.attack_routes import Stage, may_see
from tests.matrix import parties
from tests.sessions import sign_in
from tests.worlds import World

pytestmark = pytest.mark.django_db

TODAY = dt.date.today()
PAGES = {p.name: p for p in ALL_PAGES}


def as_(client: Client, world: World, capacity: str) -> Client:
    return sign_in(client, world.user(capacity), verified=requires_two_factor(capacity))


def url(world: World, pages: ObjectPages, kind: str, pk: Any = None) -> str:
    kwargs: dict[str, Any] = {"tenant_slug": world.tenant.slug}
    if pk is not None:
        kwargs["pk"] = pk
    return reverse(f"{pages.name}-{kind}", kwargs=kwargs)


def objects(world: World, model: type[models.Model]) -> list[Any]:
    table: dict[type[models.Model], list[Any]] = {
        MsoEntity: [world.entity],
        ProfessionalCorporation: list(world.pcs),
        Location: list(world.locations),
    }
    return table.get(model) or list(world.objs[model])


def scope_target(obj: Any) -> Any:
    policy = type(obj).access
    if policy.scope_model is None:
        return None
    target = obj
    for part in filter(None, (policy.scope_path or "").split("__")):
        target = getattr(target, part)
    return target


def may_change(world: World, capacity: str, obj: Any) -> bool:
    return reaches(world, capacity, type(obj).access.side, scope_target(obj), CHANGE)


# --- every page, every capacity -----------------------------------------------------------------------


@pytest.mark.parametrize("capacity", sorted(CAPACITIES))
def test_every_page_answers_by_capacity(client: Client, domain_a: World, capacity: str) -> None:
    world, spec = domain_a, CAPACITIES[capacity]
    as_(client, world, capacity)
    stage = Stage(world, {}, {})
    outcomes: set[int] = set()
    for pages in ALL_PAGES:
        model = pages.model
        side = model.access.side  # type: ignore[attr-defined]
        listed = client.get(url(world, pages, "list"))
        assert listed.status_code == (200 if spec.may(side, VIEW) else 404), (capacity, pages.name)
        want_create = 200 if spec.may(side, ADD) else 404
        assert client.get(url(world, pages, "create")).status_code == want_create, (capacity, pages.name)
        for obj in objects(world, model):
            seen = may_see(stage, capacity, model, obj)
            detail = client.get(url(world, pages, "detail", obj.pk))
            assert detail.status_code == (200 if seen else 404), (capacity, pages.name, obj)
            # the list shows a row exactly when its detail page is open to the capacity
            assert (url(world, pages, "detail", obj.pk) in listed.content.decode()) is seen, (capacity, obj)
            want_edit = 200 if spec.may(side, CHANGE) and may_change(world, capacity, obj) else 404
            edit = client.get(url(world, pages, "edit", obj.pk))
            assert edit.status_code == want_edit, (capacity, pages.name, obj)
            # the detail page offers "Edit" exactly when the edit page opens
            if seen:
                assert ('data-testid="edit-link"' in detail.content.decode()) is (want_edit == 200)
            outcomes |= {detail.status_code, edit.status_code}
    # every capacity reads business records; all but the tenant-wide writers meet refusals too
    assert 200 in outcomes
    assert (404 in outcomes) is not (spec.tenant_wide and not spec.read_only), (capacity, outcomes)


def test_other_tenants_and_malformed_ids_are_404(client: Client, domain_a: World, domain_b: World) -> None:
    as_(client, domain_a, "mso_admin")
    for pages in ALL_PAGES:
        for obj in objects(domain_b, pages.model):
            for kind in ("detail", "edit"):
                assert client.get(url(domain_a, pages, kind, obj.pk)).status_code == 404, (pages.name, kind)
                assert client.post(url(domain_a, pages, kind, obj.pk), {"name": "x"}).status_code in {
                    404,
                    405,
                }
            # the other tenant's slug is no way in either
            assert client.get(url(domain_b, pages, "detail", obj.pk)).status_code == 404
        for bad in ("not-a-uuid", "1", str(uuid.uuid4())):
            assert client.get(url(domain_a, pages, "detail", bad)).status_code == 404, (pages.name, bad)


# --- writes through the services ----------------------------------------------------------------------


def form_data(world: World, name: str) -> Any:
    """A valid create form of each page, aimed at the world's first PC/location."""
    pc, loc = world.pcs[0], world.locations[0]
    device = Equipment.objects.filter(location=loc).first() or factories.EquipmentFactory.create(
        tenant=world.tenant, location=loc
    )
    return {
        "mso-entity": {
            "legal_name": "Page Holdings LLC",
            "state": "CA",
            "entity_type": "LLC",
            "investor_type": "none",
        },
        "pc": {
            "legal_name": "Page Medical Corporation",
            "state": "CA",
            "entity_type": "Professional medical corporation",
            "physician_name": "Dana Page",
        },
        "shareholder": {
            "pc": pc.pk,
            "name": "Dr. Page",
            "license_type": "MD",
            "license_number": "A77",
            "license_state": "CA",
            "license_status": "active",
            "shares": "10",
        },
        "fictitious-name-permit": {
            "pc": pc.pk,
            "fictitious_name": "Page Aesthetics",
            "permit_number": "FNP-9",
            "issued_on": TODAY.isoformat(),
            "expires_on": (TODAY + dt.timedelta(days=730)).isoformat(),
        },
        "bank-account": {
            "pc": pc.pk,
            "bank_name": "Page Bank",
            "account_last4": "9876",
            "routing_number": "",
            "purpose": "patient_deposits",
        },
        "location": {
            "name": "Page Spa",
            "address": "1 Page St",
            "city": "Irvine",
            "state": "CA",
            "managing_entity": world.entity.pk,
            "pc": pc.pk,
            "trade_name": "Page Glow",
            "generates_sharps": "on",
            "clia_waiver_number": "",
            "lab_director": "",
        },
        "lease": {
            "location": loc.pk,
            "landlord": "Page Properties LP",
            "term_start": TODAY.isoformat(),
            "term_end": (TODAY + dt.timedelta(days=1825)).isoformat(),
            "monthly_rent": "7000.00",
            "currency": "USD",
        },
        "equipment": {
            "location": loc.pk,
            "kind": "laser",
            "manufacturer": "Page Lasers",
            "model_name": "P1",
            "serial_number": "PG-1",
            "service_interval_days": "180",
        },
        "equipment-service": {
            "equipment": device.pk,
            "serviced_on": TODAY.isoformat(),
            "vendor": "Page Service",
            "notes": "Checked.",
        },
        "medical-waste-registration": {
            "location": loc.pk,
            "registration_number": "MW-PAGE",
            "hauler": "Page Haul",
            "issued_on": TODAY.isoformat(),
            "expires_on": (TODAY + dt.timedelta(days=365)).isoformat(),
        },
    }[name]


# One bad value per page and the service's (or form's) message it must bring back on the form.
BAD_INPUT: dict[str, tuple[dict[str, Any], str]] = {
    "mso-entity": ({"state": "1A"}, "two-letter state code"),
    "pc": ({"state": "C1"}, "two-letter state code"),
    "shareholder": ({"shares": "0"}, "at least one share"),
    "fictitious-name-permit": ({"expires_on": TODAY.isoformat()}, "expire after it is issued"),
    "bank-account": ({"account_last4": "12a4"}, "last four digits"),
    "location": ({"state": "C1"}, "two-letter state code"),
    "lease": ({"term_end": TODAY.isoformat()}, "end after it starts"),
    "equipment": ({"service_interval_days": "0"}, "1 to 3650 days"),
    "equipment-service": ({"serviced_on": (TODAY + dt.timedelta(days=2)).isoformat()}, "future"),
    "medical-waste-registration": ({"expires_on": TODAY.isoformat()}, "expire after it is issued"),
}
# A change an edit makes, and the field it lands in.
EDITS: dict[str, tuple[str, str]] = {
    "mso-entity": ("legal_name", "Renamed Holdings LLC"),
    "pc": ("physician_name", "Dana Renamed"),
    "shareholder": ("name", "Dr. Renamed"),
    "fictitious-name-permit": ("fictitious_name", "Renamed Aesthetics"),
    "bank-account": ("bank_name", "Renamed Bank"),
    "location": ("trade_name", "Renamed Glow"),
    "lease": ("landlord", "Renamed Properties LP"),
    "equipment": ("model_name", "P2"),
    "equipment-service": ("vendor", "Renamed Service"),
    "medical-waste-registration": ("hauler", "Renamed Haul"),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_create_and_edit_write_through_the_service(client: Client, world_a: World, name: str) -> None:
    pages = PAGES[name]
    manager = pages.model._default_manager
    as_(client, world_a, "mso_admin")
    data = form_data(world_a, name)
    before = manager.filter(tenant=world_a.tenant).count()

    changes, message = BAD_INPUT[name]
    refused = client.post(url(world_a, pages, "create"), {**data, **changes})
    assert refused.status_code == 400, (name, refused.status_code)
    assert message in refused.content.decode(), name
    assert manager.filter(tenant=world_a.tenant).count() == before, "a refused create wrote"

    response = client.post(url(world_a, pages, "create"), data)
    assert response.status_code == 302, (name, response.content.decode()[:2000])
    created: Any = manager.get(pk=response["Location"].rstrip("/").rsplit("/", 1)[1])
    assert created.tenant_id == world_a.tenant.pk
    assert manager.filter(tenant=world_a.tenant).count() == before + 1

    field, value = EDITS[name]
    edit_url = url(world_a, pages, "edit", created.pk)
    page = client.get(edit_url)
    assert page.status_code == 200
    response = client.post(edit_url, {**data, field: value})
    assert response.status_code == 302 and response["Location"] == url(world_a, pages, "detail", created.pk)
    created.refresh_from_db()
    assert getattr(created, field) == value
    assert value in client.get(url(world_a, pages, "detail", created.pk)).content.decode()
    # a refused edit shows the message and changes nothing
    response = client.post(edit_url, {**data, field: value + " again", **changes})
    assert response.status_code == 400 and message in response.content.decode()
    created.refresh_from_db()
    assert getattr(created, field) == value


def test_edit_corrects_a_records_pc_within_the_capacitys_scope(client: Client, world_a: World) -> None:
    holder = factories.ShareholderFactory.create(tenant=world_a.tenant, pc=world_a.pcs[0], name="Dr. Moved")
    pages = PAGES["shareholder"]
    data = {**form_data(world_a, "shareholder"), "name": "Dr. Moved"}
    as_(client, world_a, "mso_staff")  # holds the first PC only
    response = client.post(url(world_a, pages, "edit", holder.pk), {**data, "pc": world_a.pcs[1].pk})
    assert response.status_code == 400 and "valid choice" in response.content.decode()
    holder.refresh_from_db()
    assert holder.pc_id == world_a.pcs[0].pk
    client.logout()
    as_(client, world_a, "mso_admin")
    response = client.post(url(world_a, pages, "edit", holder.pk), {**data, "pc": world_a.pcs[1].pk})
    assert response.status_code == 302
    holder.refresh_from_db()
    assert holder.pc_id == world_a.pcs[1].pk


def test_staff_create_outside_their_grants_is_refused(client: Client, world_a: World) -> None:
    as_(client, world_a, "mso_staff")
    pages = PAGES["lease"]
    page = client.get(url(world_a, pages, "create")).content.decode()
    assert str(world_a.locations[0].pk) in page and str(world_a.locations[1].pk) not in page
    data = {**form_data(world_a, "lease"), "location": world_a.locations[1].pk}
    response = client.post(url(world_a, pages, "create"), data)
    assert response.status_code == 400 and "valid choice" in response.content.decode()
    response = client.post(url(world_a, pages, "create"), form_data(world_a, "lease"))
    assert response.status_code == 302
    assert list(Lease.objects.filter(tenant=world_a.tenant).values_list("location", flat=True)) == [
        world_a.locations[0].pk
    ]


# --- what the detail pages show -------------------------------------------------------------------------


def test_pc_page_shows_cap_table_permits_accounts_and_locations(client: Client, world_a: World) -> None:
    t, pc = world_a.tenant, world_a.pcs[0]
    for name, shares in (("Dr. Majority", 600), ("NP Minority", 300), ("RN Minority", 100)):
        factories.ShareholderFactory.create(tenant=t, pc=pc, name=name, shares=shares)
    factories.ShareholderFactory.create(tenant=t, pc=world_a.pcs[1], name="Other PC Holder")
    factories.FictitiousNamePermitFactory.create(
        tenant=t, pc=pc, fictitious_name="Glow Aesthetics", permit_number="FNP-1"
    )
    factories.BankAccountFactory.create(tenant=t, pc=pc, bank_name="Coastal Deposits", account_last4="5555")
    factories.BankAccountFactory.create(tenant=t, mso_entity=world_a.entity, bank_name="MSO Operating")
    as_(client, world_a, "mso_admin")
    body = client.get(url(world_a, PAGES["pc"], "detail", pc.pk)).content.decode()
    cap_table = body.split('data-testid="cap-table"')[1].split("</table>")[0]
    for name, percent in (("Dr. Majority", "60.00%"), ("NP Minority", "30.00%"), ("RN Minority", "10.00%")):
        row = cap_table.split(name)[1].split("</tr>")[0]
        assert percent in row, (name, row)
    assert "Other PC Holder" not in body
    assert "1000" in cap_table.split("<tfoot>")[1]  # total shares
    assert "Glow Aesthetics" in body and "FNP-1" in body
    assert "Coastal Deposits" in body and "••5555" in body and "MSO Operating" not in body
    assert world_a.locations[0].name in body and world_a.locations[1].name not in body
    assert f"{url(world_a, PAGES['shareholder'], 'create')}?pc={pc.pk}" in body


def test_location_page_shows_lease_equipment_service_dates_and_waste(client: Client, world_a: World) -> None:
    t, loc = world_a.tenant, world_a.locations[0]
    factories.LeaseFactory.create(tenant=t, location=loc, landlord="Harbor Retail LP")
    serviced = factories.EquipmentFactory.create(
        tenant=t, location=loc, manufacturer="Candela", model_name="GentleMax", service_interval_days=180
    )
    factories.EquipmentServiceFactory.create(
        tenant=t, equipment=serviced, serviced_on=TODAY - dt.timedelta(days=200)
    )
    factories.EquipmentServiceFactory.create(
        tenant=t, equipment=serviced, serviced_on=TODAY - dt.timedelta(days=30)
    )
    factories.EquipmentFactory.create(tenant=t, location=loc, manufacturer="Cutera", model_name="Excel V")
    factories.MedicalWasteRegistrationFactory.create(tenant=t, location=loc, registration_number="MW-42")
    factories.LeaseFactory.create(tenant=t, location=world_a.locations[1], landlord="Elsewhere LP")
    as_(client, world_a, "mso_admin")
    body = client.get(url(world_a, PAGES["location"], "detail", loc.pk)).content.decode()
    assert "Harbor Retail LP" in body and "Elsewhere LP" not in body
    equipment = body.split('data-testid="equipment"')[1].split("</table>")[0]
    row = equipment.split("GentleMax")[1].split("</tr>")[0]
    last, due = TODAY - dt.timedelta(days=30), TODAY + dt.timedelta(days=150)
    assert last.isoformat() in row and due.isoformat() in row
    never = equipment.split("Excel V")[1].split("</tr>")[0]
    assert "never serviced" in never and "due now" in never
    assert "MW-42" in body


def test_equipment_page_lists_its_service_visits(client: Client, world_a: World) -> None:
    device = factories.EquipmentFactory.create(tenant=world_a.tenant, location=world_a.locations[0])
    factories.EquipmentServiceFactory.create(
        tenant=world_a.tenant, equipment=device, vendor="Laser Techs Inc"
    )
    as_(client, world_a, "mso_admin")
    body = client.get(url(world_a, PAGES["equipment"], "detail", device.pk)).content.decode()
    assert "Laser Techs Inc" in body
    assert f"{url(world_a, PAGES['equipment-service'], 'create')}?equipment={device.pk}" in body


# --- list pages run a fixed number of queries -------------------------------------------------------------

ROWS = {ep.model: ep for ep in parties.ALL}


@pytest.mark.parametrize("name", list(PAGES))
def test_list_page_queries_do_not_grow_with_rows(client: Client, world_a: World, name: str) -> None:
    pages = PAGES[name]
    make_rows = ROWS[pages.model].make_rows
    assert make_rows is not None
    as_(client, world_a, "mso_admin")
    client.get(url(world_a, pages, "list"))  # the first request of a session fills per-process caches

    def queries_at(total: int) -> int:
        have = pages.model._default_manager.filter(tenant=world_a.tenant).count()
        make_rows(world_a, total - have)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url(world_a, pages, "list"))
        assert response.status_code == 200
        assert len(response.context["rows"]) == total
        return len(captured.captured_queries)

    assert queries_at(5) == queries_at(50)


def test_navigation_lists_the_parties_sections(client: Client, world_a: World) -> None:
    as_(client, world_a, "mso_admin")
    body = client.get(reverse("dashboard", kwargs={"tenant_slug": world_a.tenant.slug})).content.decode()
    for pages in ALL_PAGES:
        assert f'href="{url(world_a, pages, "list")}"' in body, pages.name


MODELS = [
    MsoEntity,
    ProfessionalCorporation,
    Shareholder,
    FictitiousNamePermit,
    BankAccount,
    Location,
    Lease,
    Equipment,
    EquipmentService,
    MedicalWasteRegistration,
]


def test_every_model_of_the_area_has_its_pages() -> None:
    assert {p.model for p in ALL_PAGES} == set(MODELS)
    for pages in ALL_PAGES:
        names = {f"{pages.name}-{kind}" for kind in ("list", "detail", "create", "edit")}
        for route_name in names:
            reverse(
                route_name,
                kwargs={
                    "tenant_slug": "x",
                    **({"pk": uuid.uuid4()} if route_name.endswith(("detail", "edit")) else {}),
                },
            )
