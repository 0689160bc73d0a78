"""The location dashboard: its figures match the rows, it scopes like the location, its query count is
fixed, and it draws its charts as SVG with presentation attributes only (strict CSP)."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from management.models import (
    Appointment,
    FeePayment,
    Location,
    ManagementFeeInvoice,
    ManagementServicesAgreement,
    PcCollection,
    Provider,
)
from management.procedures import LicenseType
from management.selectors.dashboard import (
    CREDENTIALS,
    appointment_weeks,
    month_start,
    recent_months,
    week_start,
)
from tenants.capacities import CAPACITIES
from tenants.security.middleware import LAST_SEEN_KEY
from tenants.security.policy import requires_two_factor
from tenants.services import membership_create, object_access_grant
from tests import factories as f
from tests.sessions import sign_in
from tests.worlds import World

pytestmark = pytest.mark.django_db


def dashboard_url(world: World, location: Any) -> str:
    return reverse("location-dashboard", kwargs={"tenant_slug": world.tenant.slug, "pk": str(location.pk)})


def as_(client: Client, world: World, capacity: str) -> Client:
    return sign_in(client, world.user(capacity), verified=requires_two_factor(capacity))


def at_local(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def series(chart: Any) -> dict[str, list[Any]]:
    return {s.name: list(s.values) for s in chart.series}


@pytest.fixture
def today() -> dt.date:
    return timezone.localdate()


@pytest.fixture
def stocked(domain_a: World, today: dt.date) -> World:
    """Location 0 / PC 0 of the domain world with figures we know, replacing the factories' ones."""
    w, t = domain_a, domain_a.tenant
    location, pc = w.locations[0], w.pcs[0]
    Appointment.objects.filter(tenant=t).delete()  # the payments' FK is SET_NULL
    PcCollection.objects.filter(tenant=t).delete()
    rn = next(p for p in w.objs[Provider] if p.pc_id == pc.pk and p.license_type == LicenseType.RN)
    client = f.ClientFactory.create(tenant=t, home_location=location)
    this_week = week_start(today)
    plan = [  # (weeks from this one, status, how many)
        (-7, Appointment.Status.COMPLETED, 3),
        (-7, Appointment.Status.NO_SHOW, 1),
        (-1, Appointment.Status.COMPLETED, 2),
        (-1, Appointment.Status.CANCELLED, 1),
        (0, Appointment.Status.CONFIRMED, 2),
        (3, Appointment.Status.BOOKED, 4),
        (4, Appointment.Status.BOOKED, 5),  # the last of the next 4 weeks
        (-8, Appointment.Status.COMPLETED, 6),  # before the window
    ]
    for offset, status, n in plan:
        for _ in range(n):
            start = at_local(this_week + dt.timedelta(weeks=offset, days=2))
            f.AppointmentFactory.create(
                tenant=t, location=location, client=client, provider=rn, status=status, starts_at=start
            )
    # Another location's appointments are not this dashboard's.
    other_client = f.ClientFactory.create(tenant=t, home_location=w.locations[1])
    f.AppointmentFactory.create(
        tenant=t,
        location=w.locations[1],
        client=other_client,
        provider=rn,
        starts_at=at_local(this_week + dt.timedelta(days=1)),
    )
    # The 12 closed months count: this month's (not closed) and the 13th month back do not.
    for back, amount in ((1, "150000.00"), (2, "182500.50"), (6, "99000.00"), (13, "777.00"), (0, "5.55")):
        f.PcCollectionFactory.create(tenant=t, pc=pc, month=month_start(today, back), amount=Decimal(amount))
    f.PcCollectionFactory.create(tenant=t, pc=w.pcs[1], month=month_start(today, 1), amount=Decimal("5"))
    FeePayment.objects.filter(tenant=t).delete()  # payments protect their invoices
    ManagementFeeInvoice.objects.filter(tenant=t).delete()
    msa = next(m for m in w.objs[ManagementServicesAgreement] if m.pc_id == pc.pk)
    invoices = [  # (months back, amount, status)
        (1, "42000.00", ManagementFeeInvoice.Status.PAID),
        (1, "1000.00", ManagementFeeInvoice.Status.ISSUED),  # a second invoice the same month adds up
        (2, "42000.00", ManagementFeeInvoice.Status.ISSUED),
        (3, "42000.00", ManagementFeeInvoice.Status.DRAFT),  # not invoiced yet
        (4, "42000.00", ManagementFeeInvoice.Status.VOID),  # withdrawn
        (13, "42000.00", ManagementFeeInvoice.Status.PAID),  # before the window
        (0, "42000.00", ManagementFeeInvoice.Status.ISSUED),  # this month: not closed yet
    ]
    for back, amount, invoice_status in invoices:
        f.ManagementFeeInvoiceFactory.create(
            tenant=t,
            msa=msa,
            number=f"T-{uuid.uuid4().hex[:8]}",
            period_start=month_start(today, back),
            period_end=month_start(today, back - 1) - dt.timedelta(days=1),
            amount=Decimal(amount),
            status=invoice_status,
        )
    # Credentials: the factories' providers expire in 400 days (not listed); these do soon.

    def days(*, days: int) -> dt.date:
        return today + dt.timedelta(days=days)

    f.ProviderFactory.create(tenant=t, pc=pc, full_name="Soon License RN", license_expires_on=days(days=20))
    f.ProviderFactory.create(
        tenant=t,
        pc=pc,
        full_name="Lapsed NP",
        license_type=LicenseType.NP,
        license_expires_on=days(days=-3),
        np_furnishing_number="95001",
        np_furnishing_expires_on=days(days=45),
        dea_number="MN1234563",
        dea_expires_on=days(days=89),
        cures_expires_on=days(days=91),  # beyond 90: not listed
    )
    f.ProviderFactory.create(
        tenant=t,
        pc=pc,
        full_name="Agreement PA",
        license_type=LicenseType.PA,
        pa_practice_agreement_expires_on=days(days=60),
        cures_expires_on=days(days=0),
    )
    f.ProviderFactory.create(
        tenant=t, pc=pc, full_name="Inactive RN", license_expires_on=days(days=5), active=False
    )
    f.ProviderFactory.create(tenant=t, pc=w.pcs[1], full_name="Other PC RN", license_expires_on=days(days=5))
    return w


def test_figures_match_the_rows(client: Client, stocked: World, today: dt.date) -> None:
    as_(client, stocked, "mso_admin")
    response = client.get(dashboard_url(stocked, stocked.locations[0]))
    assert response.status_code == 200
    ctx = response.context

    weeks = appointment_weeks(today)
    assert len(weeks) == 12 and weeks[7] == week_start(today)
    by_status = series(ctx["appointments"])
    expected = {str(s.label): [0] * 12 for s in Appointment.Status}
    expected["Completed"][0], expected["No-show"][0] = 3, 1
    expected["Completed"][6], expected["Cancelled"][6] = 2, 1
    expected["Confirmed"][7] = 2
    expected["Booked"][10] = 4
    expected["Booked"][11] = 5
    assert by_status == expected

    months = recent_months(today)
    assert months[-1] == month_start(today, 1) and months[0] == month_start(today, 12) and len(months) == 12
    collections = series(ctx["collections"])["Collections"]
    assert collections[-1] == Decimal("150000.00")
    assert collections[-2] == Decimal("182500.50")
    assert collections[-6] == Decimal("99000.00")
    assert sum(collections) == Decimal("431500.50")  # this month, the 13th back and the other PC left out

    fees = series(ctx["fees"])["Fees invoiced"]
    assert fees[-1] == Decimal("43000.00")  # paid + issued of the same month
    assert fees[-2] == Decimal("42000.00")
    assert sum(fees) == Decimal("85000.00")  # drafts, voids and older months left out
    share = {month: pct for month, _, _, pct in ctx["fee_share"]}
    assert share[f"{months[-1]:%b %Y}"] == f"{Decimal('43000') / Decimal('150000') * 100:.1f}%"

    listed = {(c.provider, c.credential, c.days_left) for c in ctx["expiring"]}
    assert listed == {
        ("Soon License RN", "License", 20),
        ("Lapsed NP", "License", -3),
        ("Lapsed NP", "NP furnishing number", 45),
        ("Lapsed NP", "DEA registration", 89),
        ("Agreement PA", "PA practice agreement", 60),
        ("Agreement PA", "CURES registration", 0),
    }
    assert [c.expires_on for c in ctx["expiring"]] == sorted(c.expires_on for c in ctx["expiring"])
    totals = {band: n for band, _, n in ctx["credential_totals"]}
    assert totals == {"expired": 1, "30": 2, "60": 2, "90": 1}
    by_credential = series(ctx["credentials"])
    assert set(by_credential) == {c.label for c in CREDENTIALS}
    assert by_credential["License"] == [1, 1, 0, 0]
    assert by_credential["CURES registration"] == [0, 1, 0, 0]
    assert by_credential["PA practice agreement"] == [0, 0, 1, 0]
    assert by_credential["DEA registration"] == [0, 0, 0, 1]

    body = response.content.decode()
    assert "Lapsed NP" in body and "lapsed 3 days ago" in body
    assert "Inactive RN" not in body and "Other PC RN" not in body
    assert "$182,500.50" in body


def test_charts_are_svg_bars_with_attributes_and_no_inline_style_or_script(
    client: Client, stocked: World
) -> None:
    as_(client, stocked, "mso_admin")
    body = client.get(dashboard_url(stocked, stocked.locations[0])).content.decode()
    for chart in ("appointments", "collections", "fees", "credentials"):
        assert f'data-testid="chart-{chart}"' in body
    assert body.count("<svg viewBox=") >= 4
    assert "style=" not in body and "<style" not in body
    assert "<script>" not in body and "https://" not in body
    rects = re.findall(
        r'<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)" fill="#[0-9a-f]{6}" '
        r'data-value="([\d.]+)">',
        body,
    )
    assert rects, "no bars drawn"
    # Bars of one chart are in proportion to their values: the 182,500.50 bar is the tallest collections bar.
    heights = {value: float(height) for height, value in rects}
    assert heights["182500.50"] > heights["150000.00"] > heights["99000.00"] > 0


@pytest.mark.parametrize("capacity", sorted(CAPACITIES))
def test_who_sees_which_dashboard(client: Client, stocked: World, capacity: str) -> None:
    """Open to whoever may view the location (PC capacities may view business records); only
    business tables are read, whoever asks."""
    as_(client, stocked, capacity)
    tenant_wide = CAPACITIES[capacity].tenant_wide
    for index, location in enumerate(stocked.locations):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(dashboard_url(stocked, location))
        expected = 200 if index == 0 or tenant_wide else 404
        assert response.status_code == expected, (capacity, index)
        assert not [q["sql"] for q in queries.captured_queries if '"clinical".' in q["sql"]]
        if expected == 404:
            assert location.name not in response.content.decode()
    if capacity in ("pc_physician", "clinician"):
        # A physician (and the PC's clinicians, who hold the PC) see their own PC's figures.
        response = client.get(dashboard_url(stocked, stocked.locations[0]))
        assert series(response.context["collections"])["Collections"][-1] == Decimal("150000.00")


def test_other_tenant_unknown_and_malformed_ids_are_404(
    client: Client, stocked: World, world_b: World
) -> None:
    as_(client, stocked, "mso_admin")
    for pk in (world_b.locations[0].pk, uuid.uuid4(), "not-a-uuid", "1", "%27%20OR%201=1"):
        response = client.get(dashboard_url(stocked, type("L", (), {"pk": pk})))
        assert response.status_code == 404, pk
        assert world_b.locations[0].name not in response.content.decode()
    # bravo's id under bravo's own URL is refused to an alpha user as well
    assert client.get(dashboard_url(world_b, world_b.locations[0])).status_code == 404


def test_a_location_grant_without_its_pc_shows_no_pc_money(client: Client, stocked: World) -> None:
    """Staff granted only the location: appointments yes; the PC's collections, fees, credentials no."""
    user = f.UserFactory.create(email="front.desk@alpha.test")
    member = membership_create(tenant=stocked.tenant, user=user, capacity="mso_staff")
    object_access_grant(membership=member, obj=stocked.locations[0], perms=["view_location"])
    sign_in(client, user, verified=requires_two_factor("mso_staff"))
    response = client.get(dashboard_url(stocked, stocked.locations[0]))
    assert response.status_code == 200
    assert response.context["pc_visible"] is False
    assert sum(sum(s.values) for s in response.context["appointments"].series) == 18
    body = response.content.decode()
    assert 'data-testid="pc-hidden"' in body
    assert "chart-collections" not in body and "150,000" not in body and "Lapsed NP" not in body


def test_query_count_is_the_same_whatever_the_row_count(
    client: Client, stocked: World, today: dt.date
) -> None:
    as_(client, stocked, "mso_admin")
    url = dashboard_url(stocked, stocked.locations[0])
    client.get(url)  # the session's first request fills per-process caches

    def measure() -> list[str]:
        session = client.session  # just used: the idle-session stamp is not rewritten mid-measurement
        session[LAST_SEEN_KEY] = time.time()
        session.save()
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return [q["sql"] for q in queries.captured_queries]

    small = measure()
    t, location, pc = stocked.tenant, stocked.locations[0], stocked.pcs[0]
    rn = Provider.objects.filter(pc=pc, license_type=LicenseType.RN).first()
    for i in range(40):
        f.AppointmentFactory.create(
            tenant=t,
            location=location,
            client=f.ClientFactory.create(tenant=t, home_location=location),
            provider=rn,
            starts_at=at_local(today - dt.timedelta(days=i)),
            status=list(Appointment.Status)[i % 6],
        )
        f.ProviderFactory.create(tenant=t, pc=pc, license_expires_on=today + dt.timedelta(days=i))
    for back in (3, 4, 5, 7, 8, 9, 10, 11, 12):
        f.PcCollectionFactory.create(tenant=t, pc=pc, month=month_start(today, back))
    large = measure()
    assert len(large) == len(small), "\n".join(large)
    assert len(small) > 5


def test_location_model_and_url_are_marked_for_the_attack_matrix() -> None:
    from django.urls import resolve

    match = resolve(f"/t/alpha/locations/{uuid.uuid4()}/dashboard/")
    assert match.url_name == "location-dashboard"
    assert match.func.page_model is Location  # type: ignore[attr-defined]


def test_the_location_page_links_to_its_dashboard(client: Client, world_a: World) -> None:
    location = world_a.locations[0]
    page = reverse("location-detail", kwargs={"tenant_slug": world_a.tenant.slug, "pk": str(location.pk)})
    html = as_(client, world_a, "mso_admin").get(page).content.decode()
    assert f'href="{dashboard_url(world_a, location)}"' in html
    assert as_(client, world_a, "mso_admin").get(dashboard_url(world_a, location)).status_code == 200
