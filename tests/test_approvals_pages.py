"""The approval flow through the browser pages (Django test client): MSO drafts, submits and publishes;
the physician's queue, review page with the diff since the last decision, and decision; the
certificate PDF while the approval is current; 404 for wrong capacities and other tenants."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinical.models import ConsentFormVersion, PhysicianDecision
from management.models import ConsentFormDraft, MarketingAsset, MarketingImage, ReviewState
from management.services import marketing as svc
from tenants.access import AccessContext
from tenants.security.policy import requires_two_factor
from tests import factories
from tests.sessions import sign_in
from tests.worlds import World

pytestmark = pytest.mark.django_db

Act = Callable[[AccessContext], AbstractContextManager[None]]


def turl(world: World, name: str, **kwargs: Any) -> str:
    return reverse(name, kwargs={"tenant_slug": world.tenant.slug, **kwargs})


def as_capacity(world: World, capacity: str) -> Client:
    return sign_in(Client(), world.user(capacity), verified=requires_two_factor(capacity))


def text(response: Any) -> str:
    return str(response.content.decode())


ASSET_FORM = {
    "title": "Spring glow facial",
    "body": "Hydrating facial with LED.\nBook by May 31.",
    "channel": "instagram",
    "brand_name": "Glow Spa",
    "testimonial_disclosure": "",
}


def create_asset(client: Client, world: World, **extra: Any) -> MarketingAsset:
    data = {**ASSET_FORM, "pc": str(world.pcs[0].pk), "location": str(world.locations[0].pk), **extra}
    response = client.post(turl(world, "marketing-asset-create"), data)
    assert response.status_code == 302, [line for line in text(response).splitlines() if "error" in line]
    asset = MarketingAsset.objects.get(title=data["title"])
    assert response["Location"] == turl(world, "marketing-asset-detail", pk=asset.pk)
    return asset


def step(client: Client, world: World, asset: MarketingAsset, action: str) -> Any:
    return client.post(turl(world, "marketing-asset-detail", pk=asset.pk), {"action": action})


def test_draft_submit_approve_publish_edit_void_through_the_pages(world_a: World) -> None:
    staff = as_capacity(world_a, "mso_staff")
    doctor = as_capacity(world_a, "pc_physician")
    assert staff.get(turl(world_a, "marketing-asset-create")).status_code == 200
    asset = create_asset(staff, world_a)
    page = staff.get(turl(world_a, "marketing-asset-detail", pk=asset.pk))
    assert page.status_code == 200 and 'data-testid="submit"' in text(page)
    assert 'data-testid="publish"' not in text(page)

    assert step(staff, world_a, asset, "submit").status_code == 302
    asset.refresh_from_db()
    assert asset.state == ReviewState.SUBMITTED and asset.submitted_by == world_a.user("mso_staff")
    listed = staff.get(turl(world_a, "marketing-asset-list"))
    assert "Awaiting physician review" in text(listed) and asset.title in text(listed)

    queue = doctor.get(turl(world_a, "approval-queue"))
    assert queue.status_code == 200 and asset.title in text(queue)
    review_url = turl(world_a, "marketing-asset-review", pk=asset.pk)
    review = doctor.get(review_url)
    assert review.status_code == 200
    assert "First review" in text(review) and 'data-testid="approve"' in text(review)
    assert doctor.post(review_url, {"decision": "approved", "note": "Fine."})["Location"] == turl(
        world_a, "approval-queue"
    )
    assert 'data-testid="queue-empty"' in text(doctor.get(turl(world_a, "approval-queue")))
    asset.refresh_from_db()
    assert asset.is_approved

    detail = text(staff.get(turl(world_a, "marketing-asset-detail", pk=asset.pk)))
    assert 'data-testid="publish"' in detail and 'data-testid="certificate-link"' in detail
    assert step(staff, world_a, asset, "publish").status_code == 302
    asset.refresh_from_db()
    assert asset.state == ReviewState.PUBLISHED

    edit_url = turl(world_a, "marketing-asset-edit", pk=asset.pk)
    assert staff.get(edit_url).status_code == 200
    edited = {
        **ASSET_FORM,
        "pc": str(world_a.pcs[0].pk),
        "location": str(world_a.locations[0].pk),
        "body": "Hydrating facial with LED.\nBook by June 30 and save 20%.",
    }
    assert staff.post(edit_url, edited).status_code == 302
    asset.refresh_from_db()
    assert asset.state == ReviewState.SUBMITTED and not asset.is_approved and asset.revision == 2
    detail = text(staff.get(turl(world_a, "marketing-asset-detail", pk=asset.pk)))
    assert "Awaiting physician review (changed since the last decision)" in detail
    assert 'data-testid="publish"' not in detail and 'data-testid="certificate-link"' not in detail
    refused = step(staff, world_a, asset, "publish")
    assert refused.status_code == 400 and "approved exactly as it stands" in text(refused)
    asset.refresh_from_db()
    assert asset.state == ReviewState.SUBMITTED

    # Back in the queue, and the review shows what changed since the approval, side by side.
    assert asset.title in text(doctor.get(turl(world_a, "approval-queue")))
    review = text(doctor.get(review_url))
    assert "What changed since the last decision" in review
    assert "<del>Book by May 31.</del>" in review
    assert "<ins>Book by June 30 and save 20%.</ins>" in review
    assert "Hydrating facial with LED." in review  # unchanged line shown plainly
    assert "<del>Hydrating" not in review


def test_certificate_pdf_only_while_the_approval_is_current(world_a: World, as_ctx: Act) -> None:
    staff_ctx = world_a.ctx("mso_staff")
    with as_ctx(staff_ctx):
        asset = svc.marketing_asset_create(
            ctx=staff_ctx,
            pc=world_a.pcs[0],
            title="Laser hair removal <special>",
            body="Six sessions.",
            channel="website",
            brand_name="Glow",
        )
        svc.marketing_asset_submit(ctx=staff_ctx, asset=asset)
    doctor = as_capacity(world_a, "pc_physician")
    url = turl(world_a, "marketing-certificate", pk=asset.pk)
    assert doctor.get(url).status_code == 404  # not approved yet
    doctor.post(turl(world_a, "marketing-asset-review", pk=asset.pk), {"decision": "approved"})
    for capacity in ("mso_staff", "mso_admin", "auditor", "pc_physician"):
        response = as_capacity(world_a, capacity).get(url)
        assert response.status_code == 200, capacity
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        assert "no-store" in response["Cache-Control"]
    with as_ctx(staff_ctx):
        svc.marketing_asset_update(
            ctx=staff_ctx, asset=MarketingAsset.objects.get(pk=asset.pk), body="Eight."
        )
    gone = as_capacity(world_a, "mso_staff").get(url)
    assert gone.status_code == 404 and "no current physician approval" in text(gone)


def test_certificate_html_names_the_physician_and_the_hash(world_a: World, as_ctx: Act) -> None:
    from mso_platform.pdf import render_html

    staff_ctx = world_a.ctx("mso_staff")
    with as_ctx(staff_ctx):
        asset = svc.marketing_asset_create(
            ctx=staff_ctx,
            pc=world_a.pcs[0],
            title="Filler <b>",
            body="Lips.",
            channel="print",
            brand_name="Glow",
        )
        svc.marketing_image_add(ctx=staff_ctx, asset=asset, description="Before/after lips", kind="stock")
        svc.marketing_asset_submit(ctx=staff_ctx, asset=MarketingAsset.objects.get(pk=asset.pk))
    as_capacity(world_a, "pc_physician").post(
        turl(world_a, "marketing-asset-review", pk=asset.pk), {"decision": "approved", "note": "OK"}
    )
    asset = MarketingAsset.objects.select_related("pc", "decided_by", "created_by", "submitted_by").get(
        pk=asset.pk
    )
    html = render_html(
        "pdf/approval_certificate.html",
        {"asset": asset, "images": list(asset.images.all()), "tenant": world_a.tenant},
        title="Marketing approval certificate",
    )
    assert asset.content_hash in html and world_a.user("pc_physician").full_name in html
    assert "Before/after lips" in html and "Filler &lt;b&gt;" in html and "Filler <b>" not in html


def test_request_changes_needs_a_note_and_shows_on_the_mso_page(world_a: World, as_ctx: Act) -> None:
    staff_ctx = world_a.ctx("mso_staff")
    with as_ctx(staff_ctx):
        asset = svc.marketing_asset_create(
            ctx=staff_ctx,
            pc=world_a.pcs[0],
            title="Painless botox",
            body="Painless!",
            channel="email",
            brand_name="G",
        )
        svc.marketing_asset_submit(ctx=staff_ctx, asset=asset)
    doctor = as_capacity(world_a, "pc_physician")
    url = turl(world_a, "marketing-asset-review", pk=asset.pk)
    refused = doctor.post(url, {"decision": "changes_requested", "note": ""})
    assert refused.status_code == 400 and "Say what must change" in text(refused)
    assert not PhysicianDecision.objects.exists()
    bogus = doctor.post(url, {"decision": "pending"})
    assert bogus.status_code == 400 and not PhysicianDecision.objects.exists()
    assert (
        doctor.post(url, {"decision": "changes_requested", "note": "Drop “painless” (ADV-002)."}).status_code
        == 302
    )
    detail = text(as_capacity(world_a, "mso_staff").get(turl(world_a, "marketing-asset-detail", pk=asset.pk)))
    assert "Changes requested" in detail and "Drop “painless” (ADV-002)." in detail
    again = doctor.post(url, {"decision": "approved"})
    assert again.status_code == 400 and "already been decided on" in text(again)


def test_wrong_capacities_and_other_tenants_get_404(world_a: World, world_b: World, as_ctx: Act) -> None:
    staff_ctx = world_a.ctx("mso_staff")
    with as_ctx(staff_ctx):
        asset = svc.marketing_asset_create(
            ctx=staff_ctx, pc=world_a.pcs[0], title="Ad", body="Text", channel="print", brand_name="G"
        )
        svc.marketing_asset_submit(ctx=staff_ctx, asset=asset)
    review = turl(world_a, "marketing-asset-review", pk=asset.pk)
    for capacity in ("mso_admin", "mso_staff", "mso_compliance", "auditor"):
        client = as_capacity(world_a, capacity)
        assert client.get(turl(world_a, "approval-queue")).status_code == 404, capacity
        assert client.get(turl(world_a, "physician-decision-list")).status_code == 404, capacity
        assert client.get(turl(world_a, "consent-form-version-list")).status_code == 404, capacity
        assert client.post(review, {"decision": "approved"}).status_code == 404, capacity
    clinician = as_capacity(world_a, "clinician")
    assert clinician.get(turl(world_a, "approval-queue")).status_code == 200
    assert 'data-testid="no-approval-rights"' in text(clinician.get(turl(world_a, "approval-queue")))
    assert clinician.post(review, {"decision": "approved"}).status_code == 404
    for capacity in ("auditor", "pc_physician", "clinician"):  # may view the asset, not change it
        assert step(as_capacity(world_a, capacity), world_a, asset, "withdraw").status_code == 404, capacity
        edit = turl(world_a, "marketing-asset-edit", pk=asset.pk)
        assert as_capacity(world_a, capacity).get(edit).status_code == 404, capacity
    other_pc = factories.MarketingAssetFactory.create(
        tenant=world_a.tenant, pc=world_a.pcs[1], created_by=world_a.user("mso_admin")
    )
    staff = as_capacity(world_a, "mso_staff")
    assert staff.get(turl(world_a, "marketing-asset-detail", pk=other_pc.pk)).status_code == 404
    assert step(staff, world_a, other_pc, "submit").status_code == 404
    # another tenant's physician, with alpha's ids under bravo's slug and under alpha's
    bravo_doctor = sign_in(Client(), world_b.user("pc_physician"))
    assert bravo_doctor.post(review, {"decision": "approved"}).status_code == 404
    assert bravo_doctor.get(turl(world_b, "marketing-asset-review", pk=asset.pk)).status_code == 404
    assert not PhysicianDecision.objects.exists()
    asset.refresh_from_db()
    assert asset.state == ReviewState.SUBMITTED


def test_unknown_workflow_action_is_a_400(world_a: World, as_ctx: Act) -> None:
    staff_ctx = world_a.ctx("mso_staff")
    with as_ctx(staff_ctx):
        asset = svc.marketing_asset_create(
            ctx=staff_ctx, pc=world_a.pcs[0], title="Ad", body="Text", channel="print", brand_name="G"
        )
    response = step(as_capacity(world_a, "mso_staff"), world_a, asset, "approve")
    assert response.status_code == 400 and "Unknown action" in text(response)
    asset.refresh_from_db()
    assert asset.state == ReviewState.DRAFT


def test_images_are_managed_from_the_asset_and_void_its_approval(world_a: World, as_ctx: Act) -> None:
    staff_ctx = world_a.ctx("mso_staff")
    with as_ctx(staff_ctx):
        asset = svc.marketing_asset_create(
            ctx=staff_ctx, pc=world_a.pcs[0], title="Ad", body="Text", channel="print", brand_name="G"
        )
        svc.marketing_asset_submit(ctx=staff_ctx, asset=asset)
    as_capacity(world_a, "pc_physician").post(
        turl(world_a, "marketing-asset-review", pk=asset.pk), {"decision": "approved"}
    )
    staff = as_capacity(world_a, "mso_staff")
    detail = text(staff.get(turl(world_a, "marketing-asset-detail", pk=asset.pk)))
    add_url = f"{turl(world_a, 'marketing-image-create')}?asset={asset.pk}"
    assert add_url.replace("&", "&amp;") in detail or add_url in detail
    assert staff.get(add_url).status_code == 200
    created = staff.post(
        turl(world_a, "marketing-image-create"),
        {
            "asset": str(asset.pk),
            "description": "Model, after",
            "kind": "before_after_model",
            "labelled_as_model": "on",
        },
    )
    assert created.status_code == 302, [line for line in text(created).splitlines() if "error" in line]
    image = MarketingImage.objects.get(asset=asset)
    asset.refresh_from_db()
    assert not asset.is_approved and asset.awaiting_decision and asset.images_digest
    image_page = staff.get(turl(world_a, "marketing-image-detail", pk=image.pk))
    assert image_page.status_code == 200 and "Model, after" in text(image_page)
    assert (
        as_capacity(world_a, "auditor")
        .post(turl(world_a, "marketing-image-detail", pk=image.pk), {"action": "remove"})
        .status_code
        == 404
    )
    removed = staff.post(turl(world_a, "marketing-image-detail", pk=image.pk), {"action": "remove"})
    assert removed["Location"] == turl(world_a, "marketing-asset-detail", pk=asset.pk)
    assert not MarketingImage.objects.filter(pk=image.pk).exists()


def test_consent_form_approvals_become_numbered_versions_on_the_clinical_pages(world_a: World) -> None:
    staff = as_capacity(world_a, "mso_staff")
    doctor = as_capacity(world_a, "pc_physician")
    data = {
        "pc": str(world_a.pcs[0].pk),
        "procedure": "neurotoxin",
        "title": "Neurotoxin consent",
        "body": "Risks: bruising.",
    }
    assert staff.post(turl(world_a, "consent-form-draft-create"), data).status_code == 302
    draft = ConsentFormDraft.objects.get(title="Neurotoxin consent")
    detail_url = turl(world_a, "consent-form-draft-detail", pk=draft.pk)
    assert 'data-testid="submit"' in text(staff.get(detail_url))
    assert staff.post(detail_url, {"action": "submit"}).status_code == 302
    assert draft.title in text(doctor.get(turl(world_a, "approval-queue")))
    review = turl(world_a, "consent-form-draft-review", pk=draft.pk)
    assert "First review" in text(doctor.get(review))
    assert doctor.post(review, {"decision": "approved"}).status_code == 302
    edit = turl(world_a, "consent-form-draft-edit", pk=draft.pk)
    assert staff.post(edit, {**data, "body": "Risks: bruising, ptosis."}).status_code == 302
    assert "<ins>Risks: bruising, ptosis.</ins>" in text(doctor.get(review))
    assert doctor.post(review, {"decision": "approved"}).status_code == 302

    versions = text(doctor.get(turl(world_a, "consent-form-version-list")))
    assert "Neurotoxin consent" in versions
    first, second = ConsentFormVersion.objects.order_by("number")
    assert (first.number, second.number) == (1, 2) and first.superseded_at and second.is_current
    page = text(doctor.get(turl(world_a, "consent-form-version-detail", pk=second.pk)))
    assert "Current version" in page and "ptosis" in page
    assert "Superseded" in text(doctor.get(turl(world_a, "consent-form-version-detail", pk=first.pk)))
    decisions = doctor.get(turl(world_a, "physician-decision-list"))
    assert decisions.status_code == 200 and text(decisions).count("Neurotoxin consent") == 2
    decision = PhysicianDecision.objects.order_by("decided_at").first()
    assert decision is not None
    shown = text(doctor.get(turl(world_a, "physician-decision-detail", pk=decision.pk)))
    assert "Risks: bruising." in shown and "no longer applies" in shown


def test_pages_show_status_badges_and_navigation_by_side(world_a: World) -> None:
    staff = as_capacity(world_a, "mso_staff")
    home = text(staff.get(turl(world_a, "dashboard")))
    assert "Marketing assets" in home and "Approval queue" not in home
    doctor_home = text(as_capacity(world_a, "pc_physician").get(turl(world_a, "dashboard")))
    assert "Approval queue" in doctor_home and "Consent-form versions" in doctor_home


def test_queue_and_list_pages_run_a_fixed_number_of_queries(world_a: World) -> None:
    def add_rows(n: int) -> None:
        for i in range(n):
            factories.MarketingAssetFactory.create(
                tenant=world_a.tenant,
                pc=world_a.pcs[0],
                created_by=world_a.user("mso_staff"),
                state=ReviewState.SUBMITTED,
                submitted_by=world_a.user("mso_staff"),
                title=f"Queued ad {i}",
            )
            factories.ConsentFormDraftFactory.create(
                tenant=world_a.tenant,
                pc=world_a.pcs[0],
                created_by=world_a.user("mso_staff"),
                state=ReviewState.SUBMITTED,
                submitted_by=world_a.user("mso_staff"),
            )

    pages = [
        ("pc_physician", turl(world_a, "approval-queue")),
        ("mso_staff", turl(world_a, "marketing-asset-list")),
        ("mso_staff", turl(world_a, "consent-form-draft-list")),
    ]
    clients = {capacity: as_capacity(world_a, capacity) for capacity in ("pc_physician", "mso_staff")}
    for capacity, url in pages:  # the first request of a session does its own bookkeeping
        assert clients[capacity].get(url).status_code == 200
    counts: dict[str, list[int]] = {}
    for n in (5, 45):
        add_rows(n)
        for capacity, url in pages:
            with CaptureQueriesContext(connection) as queries:
                response = clients[capacity].get(url)
            assert response.status_code == 200
            counts.setdefault(url, []).append(len(queries))
    for url, (small, large) in counts.items():
        assert small == large, (url, small, large)
