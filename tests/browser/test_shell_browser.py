"""A person in a real browser: sign in, pick the tenant, choose a capacity, set up two-factor (the
code computed from the shown secret, as an authenticator app does), switch capacity with the visible
switch (htmx), see the clinical navigation appear and open a chart. Console errors (CSP violations
included) fail the test."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django_otp.oath import hotp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tenants.models import ApiKey, AuditLogEntry
from tenants.services import membership_create, object_access_grant
from tests.sessions import authenticator, totp_code
from tests.worlds import PASSWORD, build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def code_from_secret(secret: str) -> str:
    """What an authenticator app shows now for a base32 secret typed in from the setup page."""
    key = base64.b32decode(secret.replace(" ", ""))
    return f"{hotp(key, int(time.time()) // 30):06d}"


def test_sign_in_pick_switch_capacity_and_open_a_chart(
    live_server: Any, page: Any, artifacts_dir: Path
) -> None:
    world = build_world("alpha")
    admin = world.members["mso_admin"]
    # The MSO admin is also an RN at the first PC: two capacities, one person.
    rn = membership_create(tenant=world.tenant, user=admin.user, capacity="clinician", license_type="RN")
    object_access_grant(membership=rn, obj=world.pcs[0], perms=["view_professionalcorporation"])
    object_access_grant(membership=rn, obj=world.locations[0], perms=["view_location"])
    chart = world.charts[0]

    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    base = live_server.url

    page.goto(f"{base}/login/")
    page.fill("input[name=username]", admin.user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/")
    assert page.locator(".tenant-link").all_inner_texts() == [world.tenant.name]

    page.click(f"text={world.tenant.name}")
    # Two capacities and none chosen yet: the shell asks which one.
    page.wait_for_url(re.compile(r"/t/alpha/capacity/"))
    page.click("button:has-text('Act as MSO administrator')")
    # An MSO administrator needs a second factor; with no authenticator yet, setup comes first.
    page.wait_for_url(f"{base}/account/2fa/setup/?next={quote('/t/alpha/', safe='')}")
    secret = page.locator("[data-testid=totp-secret]").inner_text()
    qr = page.locator("[data-testid=totp-qr]")
    assert qr.is_visible() and qr.evaluate("img => img.naturalWidth") > 0  # the offline SVG decoded
    page.screenshot(path=str(artifacts_dir / "two-factor-setup.png"), full_page=True)
    device = TOTPDevice.objects.get(user=admin.user, confirmed=False)
    assert base64.b32decode(secret.replace(" ", "")) == device.bin_key
    page.fill("input[name=token]", code_from_secret(secret))
    page.click("button:has-text('Turn on two-factor')")
    codes = page.locator("[data-testid=recovery-code]").all_inner_texts()
    assert len(codes) == 10 and len(set(codes)) == 10
    page.screenshot(path=str(artifacts_dir / "two-factor-recovery-codes.png"), full_page=True)
    page.click("text=I have saved them, continue")
    page.wait_for_url(f"{base}/t/alpha/")
    assert AuditLogEntry.objects.filter(action="2fa_setup", actor=admin.user).exists()
    nav = page.locator("nav.sidenav")
    assert nav.locator("text=Locations").count() == 1
    assert nav.locator("text=Patient charts").count() == 0
    switch = page.locator("#capacity-select")
    assert switch.is_visible()
    assert switch.evaluate("el => el.options[el.selectedIndex].text") == "MSO administrator"
    assert page.evaluate("typeof window.htmx") == "object"  # vendored htmx loaded from /static/

    # The visible switch: choosing an option posts it via htmx (hx-trigger=change) and reloads.
    with page.expect_response(lambda r: r.url.endswith("/t/alpha/capacity/") and r.status == 204):
        switch.select_option(str(rn.pk))
    page.wait_for_url(f"{base}/t/alpha/")
    charts_link = page.locator("nav.sidenav >> text=Patient charts")
    charts_link.wait_for()
    assert page.locator("#capacity-select").evaluate("el => el.options[el.selectedIndex].text") == "Clinician"
    page.screenshot(path=str(artifacts_dir / "shell-dashboard.png"), full_page=True)

    charts_link.click()
    page.wait_for_url(f"{base}/t/alpha/charts/")
    assert page.locator(f"text={world.charts[1].patient_name}").count() == 0  # other PC: out of scope
    page.click(f"text={chart.patient_name}")
    page.wait_for_url(f"{base}/t/alpha/charts/{chart.pk}/")
    assert page.locator("h1").inner_text() == chart.patient_name
    assert page.locator(f"dd:has-text('{chart.medical_record_number}')").count() == 1

    page.screenshot(path=str(artifacts_dir / "shell.png"), full_page=True)
    assert AuditLogEntry.objects.filter(action="read", object_id=str(chart.pk), capacity="clinician").exists()
    assert console_errors == []


def sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/")


def test_api_key_created_once_and_revoked_in_place_with_htmx(
    live_server: Any, page: Any, artifacts_dir: Path
) -> None:
    world = build_world("alpha")
    base = live_server.url
    admin = world.user("mso_admin")
    device = authenticator(admin)  # set up earlier; today the person only types the current code
    sign_in(page, base, admin.email)
    page.goto(f"{base}/t/alpha/api-keys/")
    page.wait_for_url(re.compile(r"/account/2fa/\?next="))
    page.fill("input[name=token]", totp_code(device))
    page.click("button:has-text('Verify')")
    page.wait_for_url(f"{base}/t/alpha/api-keys/")
    page.fill("input[name=name]", "Booking sync")
    page.click("button:has-text('Create key')")
    raw = page.locator("[data-testid=raw-key]").inner_text()
    key = ApiKey.objects.get(name="Booking sync")
    assert key.key_hash == ApiKey.hash_secret(raw)
    page.screenshot(path=str(artifacts_dir / "shell-api-keys.png"), full_page=True)

    page.goto(f"{base}/t/alpha/api-keys/")  # the raw key is gone for good
    assert page.locator("[data-testid=raw-key]").count() == 0
    url_before = page.url
    row = page.locator(f"#key-{key.pk}")
    with page.expect_response(lambda r: r.url.endswith(f"/api-keys/{key.pk}/revoke/") and r.status == 200):
        row.locator("button:has-text('Revoke')").click()
    page.locator(f"#key-{key.pk} >> text=revoked").wait_for()  # row swapped in place by htmx
    assert page.url == url_before
    key.refresh_from_db()
    assert key.revoked_at is not None
