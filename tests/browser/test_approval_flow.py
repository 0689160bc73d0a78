"""Issue 3's "done when", in a real browser (headless Debian Chromium against the live server):

a PC physician signs in (password, then the authenticator code), opens the approval queue and
approves an ad the MSO submitted; the MSO user publishes it; editing it afterwards voids the
approval: the status says it is back in review, Publish is gone, the ad is in the physician's
queue again and the review page shows what changed. Screenshots are saved by the test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from clinical.models import PhysicianDecision
from management.models import MarketingAsset, ReviewState
from management.services import marketing as services
from tenants.access import run_as
from tests.sessions import authenticator, totp_code
from tests.worlds import PASSWORD, build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ORIGINAL_BODY = (
    "Smooth forehead lines with neurotoxin by our licensed nurses.\nResults vary; consultation required."
)
EDITED_BODY = (
    "Smooth forehead lines with neurotoxin by our licensed nurses.\nNow 20% off every Tuesday in June!"
)


def sign_in(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/")


def watch_console(page: Any, errors: list[str]) -> None:
    # CSP violations (inline script or style) are reported as console errors.
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)


def status_of(page: Any) -> str:
    return str(page.locator("[data-testid=review-status]").first.inner_text()).strip()


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path


def test_physician_approves_mso_publishes_and_an_edit_voids_the_approval(
    live_server: Any, page: Any, browser: Any, artifacts_dir: Path, tmp_path: Path
) -> None:
    world = build_world("alpha")
    base = live_server.url
    staff_ctx = world.ctx("mso_staff")

    def draft_and_submit() -> MarketingAsset:
        asset = services.marketing_asset_create(
            ctx=staff_ctx,
            pc=world.pcs[0],
            location=world.locations[0],
            title="Neurotoxin Tuesdays",
            body=ORIGINAL_BODY,
            channel="instagram",
            brand_name=world.pcs[0].legal_name,
        )
        return services.marketing_asset_submit(ctx=staff_ctx, asset=asset)

    asset: MarketingAsset = run_as(staff_ctx, draft_and_submit)
    console_errors: list[str] = []

    # --- the physician: sign in with the second factor, open the queue, approve -----------------------
    doctor = world.user("pc_physician")
    device = authenticator(doctor)  # set up earlier; today the physician types the current code
    watch_console(page, console_errors)
    sign_in(page, base, doctor.email)
    page.click(f"text={world.tenant.name}")
    page.wait_for_url(re.compile(r"/account/2fa/\?next="))
    page.fill("input[name=token]", totp_code(device))
    page.click("button:has-text('Verify')")
    page.wait_for_url(f"{base}/t/alpha/")
    page.click("nav.sidenav >> text=Approval queue")
    page.wait_for_url(f"{base}/t/alpha/approvals/")
    row = page.locator("[data-testid=queue-row]", has_text=asset.title)
    assert row.count() == 1
    assert "Awaiting physician review" in row.inner_text()
    row.locator(f"a:has-text('{asset.title}')").click()
    page.wait_for_url(f"{base}/t/alpha/approvals/marketing-assets/{asset.pk}/")
    assert "First review" in page.locator("[data-testid=diff-basis]").inner_text()
    assert "Results vary; consultation required." in page.locator("[data-testid=diff]").inner_text()
    page.fill("textarea[name=note]", "Claims are qualified; approved as written.")
    page.click("[data-testid=approve]")
    page.wait_for_url(f"{base}/t/alpha/approvals/")
    page.locator("[data-testid=queue-empty]").wait_for()
    approved = MarketingAsset.objects.get(pk=asset.pk)
    assert approved.is_approved and approved.decided_by == doctor

    # --- the MSO user: sees the approval, publishes ------------------------------------------------------
    staff_context = browser.new_context(viewport={"width": 1280, "height": 900})
    staff_context.set_default_timeout(15_000)
    staff_page = staff_context.new_page()
    watch_console(staff_page, console_errors)
    try:
        sign_in(staff_page, base, world.user("mso_staff").email)
        staff_page.click(f"text={world.tenant.name}")
        staff_page.wait_for_url(f"{base}/t/alpha/")
        staff_page.click("nav.sidenav >> text=Marketing assets")
        staff_page.wait_for_url(f"{base}/t/alpha/marketing-assets/")
        staff_page.click(f"text={asset.title}")
        detail_url = f"{base}/t/alpha/marketing-assets/{asset.pk}/"
        staff_page.wait_for_url(detail_url)
        assert status_of(staff_page) == "Approved"
        assert staff_page.locator("[data-testid=certificate-link]").count() == 1
        staff_page.click("[data-testid=publish]")
        staff_page.wait_for_url(detail_url)
        assert status_of(staff_page) == "Published"
        assert MarketingAsset.objects.get(pk=asset.pk).state == ReviewState.PUBLISHED

        # --- an edit after approval voids it --------------------------------------------------------------
        staff_page.click("[data-testid=edit-link]")
        staff_page.wait_for_url(f"{detail_url}edit/")
        staff_page.fill("textarea[name=body]", EDITED_BODY)
        staff_page.click("[data-testid=save]")
        staff_page.wait_for_url(detail_url)
        assert status_of(staff_page) == "Awaiting physician review (changed since the last decision)"
        assert staff_page.locator("[data-testid=publish]").count() == 0
        assert staff_page.locator("[data-testid=certificate-link]").count() == 0
        assert "no longer applies" in staff_page.locator("[data-testid=last-decision]").inner_text()
        assert (
            "waiting in the PC's approval queue"
            in staff_page.locator("[data-testid=publish-help]").inner_text()
        )
        shot = tmp_path / "approval-flow.png"
        staff_page.screenshot(path=str(shot), full_page=True)
        staff_page.screenshot(path=str(artifacts_dir / "approval-flow.png"), full_page=True)
    finally:
        staff_context.close()
    assert_png(shot)
    assert_png(artifacts_dir / "approval-flow.png")

    stored = MarketingAsset.objects.get(pk=asset.pk)
    assert stored.state == ReviewState.SUBMITTED and stored.published_at is None
    assert not stored.is_approved and stored.revision == 2
    assert PhysicianDecision.objects.filter(marketing_asset=stored).count() == 1

    # --- back in the physician's queue, with the change shown side by side -------------------------------
    page.reload()
    row = page.locator("[data-testid=queue-row]", has_text=asset.title)
    assert row.count() == 1
    row.locator(f"a:has-text('{asset.title}')").click()
    page.wait_for_url(f"{base}/t/alpha/approvals/marketing-assets/{asset.pk}/")
    diff = page.locator("[data-testid=diff]")
    assert diff.locator("del", has_text="Results vary; consultation required.").count() == 1
    assert diff.locator("ins", has_text="Now 20% off every Tuesday in June!").count() == 1
    page.screenshot(path=str(artifacts_dir / "approval-diff.png"), full_page=True)
    assert_png(artifacts_dir / "approval-diff.png")
    assert console_errors == []
