"""The browser shell through Django's test client: sign-in, picker, capacity switch, every page in
every capacity, cross-tenant ids, audit of chart reads, API keys and query counts of list pages."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from management.models import Location
from tenants.access import AccessContext
from tenants.capacities import CAPACITIES, VIEW
from tenants.middleware import SESSION_CAPACITY_KEY
from tenants.models import ApiKey, AuditLogEntry, Membership
from tenants.security.middleware import LAST_SEEN_KEY
from tenants.security.policy import requires_two_factor
from tenants.services import api_key_create, membership_create, object_access_grant
from tenants.views import all_sections
from tests import factories
from tests.attack_routes import Stage, may_see
from tests.conftest import acting_as
from tests.sessions import sign_in
from tests.worlds import PASSWORD, World

pytestmark = pytest.mark.django_db

ALL = frozenset(CAPACITIES)
CLINICAL = frozenset({"pc_physician", "clinician"})
TENANT_WIDE = frozenset({"mso_admin", "mso_compliance", "auditor"})


def turl(world: World, name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs={"tenant_slug": world.tenant.slug, **kwargs})


def signed_in(client: Client, world: World, capacity: str) -> Client:
    # Capacities that need a second factor pass it for real (tests/sessions.py).
    return sign_in(client, world.user(capacity), verified=requires_two_factor(capacity))


def pages(world: World, index: int) -> dict[str, str]:
    """Every page of the shell; detail pages point at object `index` of the world."""
    return {
        "dashboard": turl(world, "dashboard"),
        "location-list": turl(world, "location-list"),
        "location-detail": turl(world, "location-detail", pk=world.locations[index].pk),
        "pc-list": turl(world, "pc-list"),
        "pc-detail": turl(world, "pc-detail", pk=world.pcs[index].pk),
        "chart-list": turl(world, "chart-list"),
        "chart-detail": turl(world, "chart-detail", pk=world.charts[index].pk),
        "api-keys": turl(world, "api-keys"),
    }


# Who gets 200, page by page (everyone else gets 404). Object 0 is granted to the object-scoped
# capacities by build_world; object 1 is granted to nobody, so only tenant-wide capacities see it.
ALLOWED_ON_OBJECT_0 = {
    "dashboard": ALL,
    "location-list": ALL,
    "location-detail": ALL,
    "pc-list": ALL,
    "pc-detail": ALL,  # staff hold the first PC (they draft its marketing) and its location
    "chart-list": CLINICAL,
    "chart-detail": CLINICAL,
    "api-keys": ALL,
}
ALLOWED_ON_OBJECT_1 = {
    **ALLOWED_ON_OBJECT_0,
    "location-detail": TENANT_WIDE,
    "pc-detail": TENANT_WIDE,
    "chart-detail": frozenset(),  # the clinical capacities hold the first PC only
}


# --- Sign-in, sign-out, picker ---------------------------------------------------------------------


def test_login_with_email_and_password_lands_on_the_picker(client: Client, world_a: World) -> None:
    assert client.get(reverse("login")).status_code == 200
    user = world_a.user("mso_admin")
    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("tenant-picker")
    picker = client.get(reverse("tenant-picker"))
    assert picker.status_code == 200
    assert world_a.tenant.name in picker.content.decode()
    entry = AuditLogEntry.objects.get(action="login", actor=user)
    assert (entry.tenant_id, entry.object_id) == (None, str(user.pk))


def test_login_with_a_wrong_password_is_refused_with_a_message_and_audited(
    client: Client, world_a: World
) -> None:
    email = world_a.user("mso_admin").email
    response = client.post(reverse("login"), {"username": email, "password": "wrong-password!"})
    # 200, not 4xx: the request transaction must commit so the login_failed entry is kept.
    assert response.status_code == 200
    assert "do not match an active account" in response.content.decode()
    assert client.get(reverse("tenant-picker")).status_code == 302  # still signed out
    assert not AuditLogEntry.objects.filter(action="login").exists()
    assert AuditLogEntry.objects.get(action="login_failed").detail == {"email": email}


def test_login_redirects_to_a_safe_next_only(client: Client, world_a: World) -> None:
    user = world_a.user("mso_admin")
    response = client.post(
        reverse("login") + "?next=/t/alpha/locations/",
        {"username": user.email, "password": PASSWORD, "next": "/t/alpha/locations/"},
    )
    assert response["Location"] == "/t/alpha/locations/"
    client.logout()
    response = client.post(
        reverse("login"), {"username": user.email, "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("tenant-picker")


def test_logout_is_post_only(client: Client, world_a: World) -> None:
    signed_in(client, world_a, "mso_admin")
    assert client.get(reverse("logout")).status_code == 405
    assert client.get(reverse("tenant-picker")).status_code == 200  # the GET did not sign out
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get(reverse("tenant-picker")).status_code == 302


def test_anonymous_visitors_are_sent_to_login(client: Client, world_a: World) -> None:
    for url in (reverse("tenant-picker"), turl(world_a, "dashboard"), turl(world_a, "location-list")):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_picker_lists_only_the_users_own_tenants(client: Client, world_a: World, world_b: World) -> None:
    signed_in(client, world_a, "mso_admin")
    body = client.get(reverse("tenant-picker")).content.decode()
    assert world_a.tenant.name in body
    assert f'href="/t/{world_a.tenant.slug}/"' in body
    assert world_b.tenant.name not in body
    assert f"/t/{world_b.tenant.slug}/" not in body


def test_picker_groups_capacities_by_tenant(client: Client, world_a: World, world_b: World) -> None:
    person = world_a.user("mso_admin")
    membership_create(tenant=world_a.tenant, user=person, capacity="clinician", license_type="RN")
    membership_create(tenant=world_b.tenant, user=person, capacity="mso_staff")
    client.force_login(person)
    response = client.get(reverse("tenant-picker"))
    groups = {tenant.slug: sorted(m.capacity for m in ms) for tenant, ms in response.context["groups"]}
    assert groups == {"alpha": ["clinician", "mso_admin"], "bravo": ["mso_staff"]}
    body = response.content.decode()
    assert "/t/alpha/" in body and "/t/bravo/" in body


def test_expired_auditor_membership_is_not_listed_and_not_usable(client: Client, world_a: World) -> None:
    auditor = world_a.members["auditor"]
    Membership.objects.filter(pk=auditor.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    client.force_login(auditor.user)
    response = client.get(reverse("tenant-picker"))
    assert response.context["groups"] == []
    assert world_a.tenant.name not in response.content.decode()
    assert client.get(turl(world_a, "dashboard")).status_code == 404


# --- Every page in every capacity --------------------------------------------------------------


@pytest.mark.parametrize("capacity", sorted(CAPACITIES))
def test_every_page_answers_by_capacity(client: Client, world_a: World, capacity: str) -> None:
    signed_in(client, world_a, capacity)
    for index, allowed in ((0, ALLOWED_ON_OBJECT_0), (1, ALLOWED_ON_OBJECT_1)):
        for page, url in pages(world_a, index).items():
            expected = 200 if capacity in allowed[page] else 404
            assert client.get(url).status_code == expected, (capacity, page, index)


@pytest.mark.parametrize("capacity", sorted(CAPACITIES))
def test_other_tenants_and_malformed_ids_answer_404(
    client: Client, world_a: World, world_b: World, capacity: str
) -> None:
    signed_in(client, world_a, capacity)
    for name, objects in (
        ("location-detail", world_b.locations),
        ("pc-detail", world_b.pcs),
        ("chart-detail", world_b.charts),
    ):
        for obj in objects:
            assert client.get(turl(world_a, name, pk=obj.pk)).status_code == 404, (capacity, name)
        for bad in ("not-a-uuid", "1", str(uuid.uuid4()), "%27%20OR%201=1"):
            assert client.get(turl(world_a, name, pk=bad)).status_code == 404, (capacity, name, bad)


def test_other_and_unknown_tenants_answer_404(client: Client, world_a: World, world_b: World) -> None:
    signed_in(client, world_a, "mso_admin")
    for url in (
        "/t/unknown/",
        "/t/unknown/locations/",
        "/t/bravo/",
        "/t/bravo/locations/",
        "/t/bravo/capacity/",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Unknown organization." in response.content.decode()
    # a bravo id under bravo's own URL is still refused to an alpha user
    assert client.get(turl(world_b, "location-detail", pk=world_b.locations[0].pk)).status_code == 404


def test_lists_show_only_what_the_capacity_may_see(client: Client, world_a: World, world_b: World) -> None:
    signed_in(client, world_a, "mso_staff")
    body = client.get(turl(world_a, "location-list")).content.decode()
    assert world_a.locations[0].name in body
    assert world_a.locations[1].name not in body
    assert all(loc.name not in body for loc in world_b.locations)
    sign_in(client, world_a.user("mso_admin"))
    body = client.get(turl(world_a, "location-list")).content.decode()
    assert all(loc.name in body for loc in world_a.locations)
    assert all(loc.name not in body for loc in world_b.locations)
    sign_in(client, world_a.user("clinician"))
    response = client.get(turl(world_a, "chart-list"))
    # By id: Faker may give both charts the same (or an overlapping) patient name.
    assert [c.pk for c in response.context["page"].object_list] == [world_a.charts[0].pk]
    assert world_a.charts[0].patient_name in response.content.decode()


# Sections over a model's whole list: their count must equal the rows the capacity may see, worked out
# from the grants. (Other sections may count a subset, e.g. the approval queue; for them the card must
# show what the section's own selector counts for the capacity.)
PLAIN_LISTS = frozenset({"location-list", "pc-list", "chart-list", "mso-entity-list"})


def expected_cards(world: World, capacity: str) -> dict[str, int]:
    """Every section the capacity may view (from the capacity table), with its count."""
    st = Stage(world, {}, {})
    ctx = world.ctx(capacity)
    cards: dict[str, int] = {}
    for section in all_sections():
        model = section.model_class()
        policy = getattr(model, "access", None)
        assert policy is not None, section
        if not CAPACITIES[capacity].may(policy.side, VIEW):
            continue
        if section.url_name in PLAIN_LISTS:
            rows = model._default_manager.filter(tenant=world.tenant)
            cards[section.label] = sum(1 for row in rows if may_see(st, capacity, model, row))
        else:
            with acting_as(ctx):
                cards[section.label] = section.count(ctx)
    return cards


@pytest.mark.parametrize("capacity", sorted(CAPACITIES))
def test_dashboard_counts_and_navigation_follow_the_capacity(
    client: Client, domain_a: World, capacity: str
) -> None:
    world = domain_a
    signed_in(client, world, capacity)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(turl(world, "dashboard"))
    assert response.status_code == 200
    cards = {c.label: c.count for c in response.context["cards"]}
    expected = expected_cards(world, capacity)
    assert cards == expected
    # Scoped capacities see fewer rows than the tenant holds: the counts are the capacity's own.
    assert all(count >= 0 for count in cards.values()) and sum(cards.values()) > 0
    # Cards are grouped like the navigation, every section once, in settings order within its group.
    grouped = [c.label for _, group in response.context["card_groups"] for c in group]
    assert sorted(grouped) == sorted(expected)
    assert [label for label, _ in response.context["card_groups"]] == list(
        dict.fromkeys(s.group or "More" for s in all_sections() if s.label in expected)
    )
    body = response.content.decode()
    assert CAPACITIES[capacity].label in body
    for section in all_sections():
        link = f'href="{turl(world, section.url_name)}"'
        assert (link in body) is (section.label in expected), (capacity, section.label)
    # The navigation shows each visible group once, as a collapsible <details>, all open here.
    for group in {s.group for s in all_sections() if s.label in expected and s.group}:
        assert body.count(f"<summary>{escape(group)}</summary>") == 1, group
    assert '<details class="nav-group" open>' in body and '<details class="nav-group">' not in body
    # A dashboard link for each location the capacity may see, none for the others.
    st = Stage(world, {}, {})
    for location in world.locations:
        link = turl(world, "location-dashboard", pk=location.pk)
        assert (link in body) is may_see(st, capacity, Location, location), (capacity, location.name)
    if capacity not in CLINICAL:
        # a business capacity never sends a query to the clinical schema
        assert not [q["sql"] for q in queries.captured_queries if '"clinical".' in q["sql"]]


def test_navigation_opens_only_the_group_of_the_current_page(client: Client, world_a: World) -> None:
    signed_in(client, world_a, "pc_physician")
    body = client.get(turl(world_a, "chart-list")).content.decode()
    chart = next(s for s in all_sections() if s.url_name == "chart-list")
    location = next(s for s in all_sections() if s.url_name == "location-list")
    opened = re.findall(r'<details class="nav-group"( open)?>\s*<summary>([^<]+)</summary>', body)
    assert (" open", escape(chart.group)) in opened
    assert ("", escape(location.group)) in opened
    assert len([o for o in opened if o[0]]) == 1
    assert body.count('aria-current="page"') == 1
    assert f'href="{turl(world_a, "chart-list")}" class="active" aria-current="page"' in body


def test_output_is_escaped(client: Client, world_a: World) -> None:
    factories.LocationFactory(
        tenant=world_a.tenant,
        managing_entity=world_a.entity,
        pc=world_a.pcs[0],
        name="<script>alert(1)</script>",
    )
    signed_in(client, world_a, "mso_admin")
    body = client.get(turl(world_a, "location-list")).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_pages_load_htmx_locally_with_csrf_header_and_no_inline_script(
    client: Client, world_a: World
) -> None:
    signed_in(client, world_a, "mso_admin")
    body = client.get(turl(world_a, "dashboard")).content.decode()
    assert '<script src="/static/vendor/htmx/htmx.min.js" defer></script>' in body
    assert 'hx-headers=\'{"X-CSRFToken": "' in body
    assert "<script>" not in body and "https://" not in body
    static = client.get("/static/vendor/htmx/htmx.min.js")
    assert static.status_code == 200


# --- Capacity switch -----------------------------------------------------------------------------


@pytest.fixture
def two_hats(world_a: World) -> tuple[Membership, Membership]:
    """The MSO admin of alpha is also an RN clinician at the first PC (an RN who co-owns the MSO)."""
    admin = world_a.members["mso_admin"]
    rn = membership_create(tenant=world_a.tenant, user=admin.user, capacity="clinician", license_type="RN")
    object_access_grant(membership=rn, obj=world_a.pcs[0], perms=["view_professionalcorporation"])
    object_access_grant(membership=rn, obj=world_a.locations[0], perms=["view_location"])
    return admin, rn


def session_capacity(client: Client, world: World) -> Any:
    return client.session.get(SESSION_CAPACITY_KEY.format(tenant_id=world.tenant.pk))


def test_two_capacities_must_choose_before_entering(
    client: Client, world_a: World, two_hats: tuple[Membership, Membership]
) -> None:
    sign_in(client, two_hats[0].user)
    response = client.get(turl(world_a, "location-list"))
    assert response.status_code == 302
    assert response["Location"] == turl(world_a, "capacity-switch") + "?next=" + turl(
        world_a, "location-list"
    )
    page = client.get(response["Location"])
    assert page.status_code == 200
    body = page.content.decode()
    assert "MSO administrator" in body and "Clinician" in body


def test_capacity_switch_changes_what_is_visible(
    client: Client, world_a: World, two_hats: tuple[Membership, Membership]
) -> None:
    admin, rn = two_hats
    sign_in(client, admin.user)
    switch = turl(world_a, "capacity-switch")
    chart = world_a.charts[0]

    response = client.post(switch, {"membership": str(admin.pk)})
    assert response.status_code == 302 and response["Location"] == turl(world_a, "dashboard")
    assert session_capacity(client, world_a) == str(admin.pk)
    assert client.get(turl(world_a, "location-list")).status_code == 200
    assert client.get(turl(world_a, "location-detail", pk=world_a.locations[1].pk)).status_code == 200
    assert client.get(turl(world_a, "chart-list")).status_code == 404
    assert client.get(turl(world_a, "chart-detail", pk=chart.pk)).status_code == 404
    dashboard = client.get(turl(world_a, "dashboard")).content.decode()
    assert turl(world_a, "chart-list") not in dashboard
    assert f'<option value="{admin.pk}" selected>MSO administrator</option>' in dashboard

    response = client.post(switch, {"membership": str(rn.pk)})
    assert response.status_code == 302
    assert session_capacity(client, world_a) == str(rn.pk)
    dashboard = client.get(turl(world_a, "dashboard")).content.decode()
    assert turl(world_a, "chart-list") in dashboard
    assert f'<option value="{rn.pk}" selected>Clinician</option>' in dashboard
    assert chart.patient_name in client.get(turl(world_a, "chart-list")).content.decode()
    assert client.get(turl(world_a, "chart-detail", pk=chart.pk)).status_code == 200
    # as the RN the second location is out of scope
    assert client.get(turl(world_a, "location-detail", pk=world_a.locations[1].pk)).status_code == 404


def test_capacity_not_held_is_refused_with_400_and_nothing_stored(
    client: Client, world_a: World, world_b: World, two_hats: tuple[Membership, Membership]
) -> None:
    admin, _ = two_hats
    sign_in(client, admin.user)
    switch = turl(world_a, "capacity-switch")
    someone_elses = world_a.members["pc_physician"].pk
    other_tenant = world_b.members["mso_admin"].pk
    for value in (someone_elses, other_tenant, "not-a-uuid", uuid.uuid4(), ""):
        response = client.post(switch, {"membership": str(value)})
        assert response.status_code == 400, value
        body = response.content.decode()
        assert "You do not hold that capacity" in body or "Choose a capacity" in body, value
        assert session_capacity(client, world_a) is None
    assert client.post(switch, {}).status_code == 400
    assert session_capacity(client, world_a) is None


def test_capacity_switch_redirects_only_to_safe_paths_inside_the_tenant(
    client: Client, world_a: World, two_hats: tuple[Membership, Membership]
) -> None:
    admin, _ = two_hats
    sign_in(client, admin.user)
    switch = turl(world_a, "capacity-switch")
    dashboard = turl(world_a, "dashboard")
    cases = {
        "/t/alpha/locations/": "/t/alpha/locations/",
        "https://evil.example/t/alpha/": dashboard,
        "//evil.example/t/alpha/": dashboard,
        "/t/bravo/locations/": dashboard,
        "/t/alpha/../bravo/": dashboard,
        "/t/alpha/%2e%2e/bravo/": dashboard,
        "/elsewhere/": dashboard,
        "javascript:alert(1)": dashboard,
    }
    for next_url, expected in cases.items():
        response = client.post(f"{switch}?next={next_url}", {"membership": str(admin.pk)})
        assert response.status_code == 302, next_url
        assert response["Location"] == expected, next_url


def test_capacity_switch_over_htmx_answers_with_hx_redirect(
    client: Client, world_a: World, two_hats: tuple[Membership, Membership]
) -> None:
    _, rn = two_hats
    sign_in(client, rn.user)
    response = client.post(
        turl(world_a, "capacity-switch"), {"membership": str(rn.pk)}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == turl(world_a, "dashboard")
    assert session_capacity(client, world_a) == str(rn.pk)


def test_single_capacity_shows_a_badge_and_no_switch(client: Client, world_a: World) -> None:
    signed_in(client, world_a, "mso_compliance")
    body = client.get(turl(world_a, "dashboard")).content.decode()
    assert 'class="capacity-badge"' in body
    assert "capacity-select" not in body


# --- Audit of clinical reads ---------------------------------------------------------------------


def test_chart_detail_writes_an_audit_read_entry(client: Client, world_a: World) -> None:
    chart = world_a.charts[0]
    signed_in(client, world_a, "pc_physician")
    reads = AuditLogEntry.objects.filter(action="read", object_id=str(chart.pk))
    assert reads.count() == 0
    assert client.get(turl(world_a, "chart-detail", pk=chart.pk)).status_code == 200
    entry = reads.get()
    assert (entry.tenant_id, entry.actor_id, entry.capacity, entry.via, entry.object_type) == (
        world_a.tenant.pk,
        world_a.user("pc_physician").pk,
        "pc_physician",
        "browser",
        "clinical.patient_chart",
    )
    assert entry.client_ip == "127.0.0.1"


def test_chart_list_logs_every_chart_shown_and_refused_pages_log_nothing(
    client: Client, world_a: World
) -> None:
    signed_in(client, world_a, "clinician")
    client.get(turl(world_a, "chart-list"))
    logged = set(AuditLogEntry.objects.filter(action="read").values_list("object_id", flat=True))
    assert logged == {str(world_a.charts[0].pk)}
    client.get(turl(world_a, "chart-detail", pk=world_a.charts[1].pk))  # out of scope: 404
    assert AuditLogEntry.objects.filter(action="read").count() == 1


# --- API keys ----------------------------------------------------------------------------------


def test_api_key_is_created_and_its_raw_value_shown_once(client: Client, world_a: World) -> None:
    signed_in(client, world_a, "mso_admin")
    response = client.post(turl(world_a, "api-keys"), {"name": "Booking sync"})
    assert response.status_code == 201
    raw = response.context["raw_key"]
    assert raw.startswith("msok_") and raw in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    key = ApiKey.objects.get(tenant=world_a.tenant, name="Booking sync")
    assert key.key_hash == ApiKey.hash_secret(raw)
    assert key.membership == world_a.members["mso_admin"]
    listing = client.get(turl(world_a, "api-keys")).content.decode()
    assert "Booking sync" in listing and key.key_prefix in listing
    assert raw not in listing


def test_api_keys_page_lists_only_the_current_memberships_keys(
    client: Client, world_a: World, world_b: World
) -> None:
    api_key_create(ctx=world_a.ctx("mso_admin"), name="Mine")
    api_key_create(ctx=world_a.ctx("mso_compliance"), name="Colleague key")
    api_key_create(ctx=world_b.ctx("mso_admin"), name="Other tenant key")
    signed_in(client, world_a, "mso_admin")
    body = client.get(turl(world_a, "api-keys")).content.decode()
    assert "Mine" in body
    assert "Colleague key" not in body and "Other tenant key" not in body


def test_api_key_with_no_name_is_refused_and_nothing_written(client: Client, world_a: World) -> None:
    signed_in(client, world_a, "mso_admin")
    for name in ("", "   ", "x" * 101):
        response = client.post(turl(world_a, "api-keys"), {"name": name})
        assert response.status_code == 400, name
        assert "Give the key a name" in response.content.decode() or "under 100" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_api_key_revoke_by_post_and_by_htmx(client: Client, world_a: World) -> None:
    ctx = world_a.ctx("mso_admin")
    first, _ = api_key_create(ctx=ctx, name="First")
    second, _ = api_key_create(ctx=ctx, name="Second")
    signed_in(client, world_a, "mso_admin")
    revoke_first = turl(world_a, "api-key-revoke", key_id=first.pk)
    assert client.get(revoke_first).status_code == 405
    response = client.post(revoke_first)
    assert response.status_code == 302 and response["Location"] == turl(world_a, "api-keys")
    first.refresh_from_db()
    assert first.revoked_at is not None
    response = client.post(turl(world_a, "api-key-revoke", key_id=second.pk), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith(f'<tr id="key-{second.pk}">')
    assert "revoked" in response.content.decode()
    second.refresh_from_db()
    assert second.revoked_at is not None


def test_revoking_someone_elses_or_another_tenants_key_answers_404(
    client: Client, world_a: World, world_b: World
) -> None:
    colleague, _ = api_key_create(ctx=world_a.ctx("mso_compliance"), name="Colleague")
    foreign, _ = api_key_create(ctx=world_b.ctx("mso_admin"), name="Foreign")
    signed_in(client, world_a, "mso_admin")
    for key_id in (colleague.pk, foreign.pk, "not-a-uuid", uuid.uuid4()):
        assert client.post(turl(world_a, "api-key-revoke", key_id=key_id)).status_code == 404, key_id
    assert not ApiKey.objects.filter(revoked_at__isnull=False).exists()


def test_auditor_cannot_create_or_revoke_api_keys(client: Client, world_a: World) -> None:
    signed_in(client, world_a, "auditor")
    page = client.get(turl(world_a, "api-keys"))
    assert page.status_code == 200
    assert "read-only" in page.content.decode()
    assert 'name="name"' not in page.content.decode()
    response = client.post(turl(world_a, "api-keys"), {"name": "Sneaky"})
    assert response.status_code == 403
    assert "read-only" in response.content.decode()
    assert not ApiKey.objects.exists()
    some_key, _ = api_key_create(ctx=world_a.ctx("mso_admin"), name="Admin key")
    # revoke answers like an absent key: a read-only capacity holds none (the API answers the same)
    assert client.post(turl(world_a, "api-key-revoke", key_id=some_key.pk)).status_code == 404
    some_key.refresh_from_db()
    assert some_key.revoked_at is None


def test_clinical_capacity_creates_a_clinical_scoped_key(client: Client, world_a: World) -> None:
    signed_in(client, world_a, "clinician")
    response = client.post(turl(world_a, "api-keys"), {"name": "Charting device"})
    assert response.status_code == 201
    assert ApiKey.objects.get(name="Charting device").scope == "clinical"


# --- Query counts of list pages are independent of the row count --------------------------------


def queries_for(client: Client, url: str) -> list[str]:
    session = client.session  # just used: the idle-session stamp is not rewritten mid-measurement
    session[LAST_SEEN_KEY] = time.time()
    session.save()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    # Copied now: the next request resets connection.queries, which captured_queries slices lazily.
    return [q["sql"] for q in ctx.captured_queries]


def add_locations(world: World, n: int) -> None:
    for _ in range(n):
        factories.LocationFactory(tenant=world.tenant, managing_entity=world.entity, pc=world.pcs[0])


def add_pcs(world: World, n: int) -> None:
    for _ in range(n):
        factories.ProfessionalCorporationFactory(tenant=world.tenant)


def add_charts(world: World, n: int) -> None:
    for _ in range(n):
        factories.PatientChartFactory(tenant=world.tenant, pc=world.pcs[0], home_location=world.locations[0])


def assert_same_query_count(small: list[str], large: list[str]) -> None:
    assert len(small) > 10  # the request's own plumbing at least: a real measurement, not an empty one
    assert len(small) == len(large), "\n".join(large)


@pytest.mark.parametrize(
    ("capacity", "page", "grow", "rows_visible"),
    [
        ("mso_admin", "location-list", add_locations, lambda w: len(w.locations)),
        ("mso_admin", "pc-list", add_pcs, lambda w: len(w.pcs)),
        ("pc_physician", "chart-list", add_charts, lambda w: 1),
    ],
)
def test_list_pages_run_the_same_number_of_queries_at_2_and_20_rows(
    client: Client, world_a: World, capacity: str, page: str, grow: Any, rows_visible: Any
) -> None:
    signed_in(client, world_a, capacity)
    url = turl(world_a, page)
    client.get(url)  # warm per-process caches (content types) so both measurements compare alike
    grow(world_a, 2 - rows_visible(world_a))
    small = queries_for(client, url)
    assert len(client.get(url).context["page"].object_list) == 2
    grow(world_a, 18)
    large = queries_for(client, url)
    assert len(client.get(url).context["page"].object_list) == 20
    assert_same_query_count(small, large)


def test_object_scoped_location_list_query_count_is_fixed(client: Client, world_a: World) -> None:
    staff = world_a.members["mso_staff"]
    signed_in(client, world_a, "mso_staff")
    url = turl(world_a, "location-list")
    client.get(url)

    def add_granted(n: int) -> None:
        for _ in range(n):
            loc = factories.LocationFactory(
                tenant=world_a.tenant, managing_entity=world_a.entity, pc=world_a.pcs[0]
            )
            object_access_grant(membership=staff, obj=loc, perms=["view_location"])

    add_granted(1)
    small = queries_for(client, url)
    add_granted(18)
    large = queries_for(client, url)
    assert len(client.get(url).context["page"].object_list) == 20
    assert_same_query_count(small, large)


def test_context_helper_matches_the_access_layer(world_a: World) -> None:
    # The matrix above hard-codes who sees what; keep it honest against the capacities' own rules.
    for code in CAPACITIES:
        ctx: AccessContext = world_a.ctx(code)
        assert (code in CLINICAL) is (ctx.capacity.side == "clinical")
        assert (code in TENANT_WIDE) is ctx.capacity.tenant_wide
