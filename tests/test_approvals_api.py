"""The approval rules through the REST API: business keys draft, submit, publish and withdraw; clinical
keys of a PC's physicians decide; every refusal is a 4xx with a message and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from clinical.models import ConsentFormVersion, PhysicianDecision
from management.models import ConsentFormDraft, Decision, MarketingAsset, MarketingImage, ReviewState
from tenants.access import AccessContext
from tenants.models import AuditLogEntry
from tenants.services import api_key_create, membership_create, object_access_grant
from tests.worlds import World

pytestmark = pytest.mark.django_db

API = "/api/v1/"


def key_client(ctx: AccessContext) -> APIClient:
    raw = api_key_create(ctx=ctx, name=f"{ctx.capacity.code} approvals key")[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def keys(world: World, *capacities: str) -> dict[str, APIClient]:
    return {c: key_client(world.ctx(c, via="api")) for c in capacities}


def post(client: APIClient, path: str, data: dict[str, Any] | None = None) -> Any:
    return client.post(f"{API}{path}", data or {}, format="json")


def new_asset(client: APIClient, world: World, **extra: Any) -> dict[str, Any]:
    response = post(
        client,
        "marketing-assets/",
        {
            "pc": str(world.pcs[0].pk),
            "title": "Neurotoxin Tuesdays",
            "body": "Licensed nurses. Results vary.",
            "channel": "instagram",
            "brand_name": "Glow",
            **extra,
        },
    )
    assert response.status_code == 201, response.content
    data: dict[str, Any] = response.json()
    return data


def decide(client: APIClient, asset_id: str, decision: str = "approved", note: str = "") -> Any:
    return post(
        client, "physician-decisions/", {"marketing_asset": asset_id, "decision": decision, "note": note}
    )


def test_approve_publish_then_edit_voids_through_the_api(world_a: World) -> None:
    c = keys(world_a, "mso_staff", "pc_physician")
    asset = new_asset(c["mso_staff"], world_a)
    assert asset["state"] == "draft" and asset["decision"] == "pending" and len(asset["content_hash"]) == 64
    assert asset["created_by"]["id"] == str(world_a.user("mso_staff").pk)
    submitted = post(c["mso_staff"], f"marketing-assets/{asset['id']}/submit/").json()
    assert submitted["state"] == "submitted" and submitted["awaiting_decision"] is True

    made = decide(c["pc_physician"], asset["id"], "approved", "Fine.")
    assert made.status_code == 201, made.content
    record = made.json()
    assert record["content_hash"] == asset["content_hash"] and record["snapshot"]["title"] == asset["title"]
    assert record["decided_by"]["id"] == str(world_a.user("pc_physician").pk) and record["pc"] == str(
        world_a.pcs[0].pk
    )

    published = post(c["mso_staff"], f"marketing-assets/{asset['id']}/publish/")
    assert published.status_code == 200 and published.json()["state"] == "published"
    assert published.json()["published_by"]["id"] == str(world_a.user("mso_staff").pk)

    edited = c["mso_staff"].patch(
        f"{API}marketing-assets/{asset['id']}/", {"body": "Now 20% off."}, format="json"
    )
    assert edited.status_code == 200
    after = edited.json()
    assert (
        after["state"] == "submitted" and after["is_approved"] is False and after["awaiting_decision"] is True
    )
    assert after["content_hash"] != asset["content_hash"] and after["revision"] == 2
    assert after["decision"] == "approved" and after["published_at"] is None  # the old decision, void

    refused = post(c["mso_staff"], f"marketing-assets/{asset['id']}/publish/")
    assert refused.status_code == 400 and "approved exactly as it stands" in str(refused.json()["state"])
    assert MarketingAsset.objects.get(pk=asset["id"]).state == ReviewState.SUBMITTED
    listed = c["pc_physician"].get(f"{API}marketing-assets/", {"awaiting_decision": "true"}).json()
    assert [row["id"] for row in listed["results"]] == [asset["id"]]


def test_the_decision_columns_cannot_be_set_by_a_business_key(world_a: World) -> None:
    c = keys(world_a, "mso_admin")
    asset = new_asset(c["mso_admin"], world_a)
    forged = {
        "decision": "approved",
        "decision_hash": asset["content_hash"],
        "decided_at": "2026-01-01T00:00:00Z",
        "decided_by": str(world_a.user("pc_physician").pk),
        "decision_note": "self-approved",
        "state": "published",
        "content_hash": "0" * 64,
        "revision": 99,
    }
    response = c["mso_admin"].patch(f"{API}marketing-assets/{asset['id']}/", forged, format="json")
    assert response.status_code == 200
    stored = MarketingAsset.objects.get(pk=asset["id"])
    assert stored.decision == Decision.PENDING and stored.decision_hash == "" and stored.decided_by is None
    assert (
        stored.state == ReviewState.DRAFT
        and stored.revision == 1
        and stored.content_hash == asset["content_hash"]
    )


def test_who_may_decide(world_a: World, world_b: World) -> None:
    c = keys(world_a, "mso_staff", "mso_admin", "clinician", "auditor")
    asset = new_asset(c["mso_staff"], world_a)
    post(c["mso_staff"], f"marketing-assets/{asset['id']}/submit/")
    for capacity in ("mso_staff", "mso_admin", "auditor", "clinician"):
        response = decide(c[capacity], asset["id"])
        assert response.status_code == 404, (capacity, response.content)
        assert response.json() == {"detail": "No such object."}
    # A physician of the other PC: the asset is not one their key may use (400, same as absent).
    other = membership_create(
        tenant=world_a.tenant, user=world_a.user("clinician"), capacity="pc_physician", license_type="MD"
    )
    object_access_grant(
        membership=other, obj=world_a.pcs[1], perms=["view_professionalcorporation", "approve_marketing"]
    )
    response = decide(key_client(AccessContext.for_membership(other, via="api")), asset["id"])
    assert response.status_code == 400 and "not one this key may use" in str(
        response.json()["marketing_asset"]
    )
    bravo = decide(key_client(world_b.ctx("pc_physician", via="api")), asset["id"])
    assert bravo.status_code == 400
    assert not PhysicianDecision.objects.exists()
    assert MarketingAsset.objects.get(pk=asset["id"]).decision == Decision.PENDING


def test_nobody_approves_their_own_submission_through_the_api(world_a: World) -> None:
    person = world_a.user("mso_admin")
    doctor = membership_create(tenant=world_a.tenant, user=person, capacity="pc_physician", license_type="MD")
    object_access_grant(
        membership=doctor, obj=world_a.pcs[0], perms=["view_professionalcorporation", "approve_marketing"]
    )
    admin = keys(world_a, "mso_admin")["mso_admin"]
    asset = new_asset(admin, world_a)
    post(admin, f"marketing-assets/{asset['id']}/submit/")
    response = decide(key_client(AccessContext.for_membership(doctor, via="api")), asset["id"])
    assert response.status_code == 400
    assert "another physician of the PC must review it" in str(response.json()["decision"])
    assert not PhysicianDecision.objects.exists()


def test_decision_payload_is_validated(world_a: World) -> None:
    c = keys(world_a, "mso_staff", "pc_physician")
    asset = new_asset(c["mso_staff"], world_a)
    doctor = c["pc_physician"]
    other_item = ConsentFormDraft.objects.create(
        tenant=world_a.tenant,
        pc=world_a.pcs[0],
        title="t",
        body="b",
        procedure="neurotoxin",
        created_by=world_a.user("mso_staff"),
    )
    cases = [
        ({"decision": "approved"}, "non_field_errors"),
        (
            {
                "decision": "approved",
                "marketing_asset": asset["id"],
                "consent_form_draft": str(other_item.pk),
            },
            "non_field_errors",
        ),
        ({"decision": "pending", "marketing_asset": asset["id"]}, "decision"),
        ({"decision": "approved", "marketing_asset": asset["id"]}, "decision"),  # a draft: not submitted
        ({"decision": "rejected", "marketing_asset": asset["id"], "note": " "}, "note"),
        ({"decision": "approved", "marketing_asset": "not-a-uuid"}, "marketing_asset"),
    ]
    for data, field in cases:
        response = post(doctor, "physician-decisions/", data)
        assert response.status_code == 400, (data, response.content)
        assert response.json().get(field), (data, response.json())
    assert not PhysicianDecision.objects.exists()


def test_images_through_the_api_void_the_approval(world_a: World) -> None:
    c = keys(world_a, "mso_staff", "pc_physician", "auditor")
    asset = new_asset(c["mso_staff"], world_a)
    post(c["mso_staff"], f"marketing-assets/{asset['id']}/submit/")
    assert decide(c["pc_physician"], asset["id"]).status_code == 201
    image = post(
        c["mso_staff"], "marketing-images/", {"asset": asset["id"], "description": "After", "kind": "stock"}
    )
    assert image.status_code == 201, image.content
    detail = c["mso_staff"].get(f"{API}marketing-assets/{asset['id']}/").json()
    assert detail["is_approved"] is False and detail["images"][0]["description"] == "After"
    assert decide(c["pc_physician"], asset["id"]).status_code == 201
    assert c["auditor"].delete(f"{API}marketing-images/{image.json()['id']}/").status_code == 404
    assert c["pc_physician"].delete(f"{API}marketing-images/{image.json()['id']}/").status_code == 404
    assert c["mso_staff"].delete(f"{API}marketing-images/{image.json()['id']}/").status_code == 204
    assert not MarketingImage.objects.exists()
    after = c["mso_staff"].get(f"{API}marketing-assets/{asset['id']}/").json()
    assert after["is_approved"] is False and after["images"] == [] and after["revision"] == 3
    moved = c["mso_staff"].patch(
        f"{API}marketing-images/{image.json()['id']}/", {"description": "x"}, format="json"
    )
    assert moved.status_code == 404


def test_consent_drafts_and_versions_through_the_api(world_a: World) -> None:
    c = keys(world_a, "mso_staff", "pc_physician", "mso_admin")
    created = post(
        c["mso_staff"],
        "consent-form-drafts/",
        {
            "pc": str(world_a.pcs[0].pk),
            "procedure": "microneedling",
            "title": "Microneedling consent",
            "body": "Risks.",
        },
    )
    assert created.status_code == 201, created.content
    draft = created.json()
    assert post(c["mso_staff"], f"consent-form-drafts/{draft['id']}/submit/").json()["state"] == "submitted"
    first = post(
        c["pc_physician"], "physician-decisions/", {"consent_form_draft": draft["id"], "decision": "approved"}
    )
    assert first.status_code == 201 and first.json()["consent_form_version"]
    c["mso_staff"].patch(
        f"{API}consent-form-drafts/{draft['id']}/", {"body": "Risks: redness."}, format="json"
    )
    second = post(
        c["pc_physician"], "physician-decisions/", {"consent_form_draft": draft["id"], "decision": "approved"}
    )
    assert second.status_code == 201
    versions = (
        c["pc_physician"]
        .get(f"{API}consent-form-versions/", {"procedure": "microneedling"})
        .json()["results"]
    )
    assert [(v["number"], v["is_current"]) for v in sorted(versions, key=lambda v: v["number"])] == [
        (1, False),
        (2, True),
    ]
    current = c["pc_physician"].get(
        f"{API}consent-form-versions/", {"procedure": "microneedling", "current": "true"}
    )
    assert [v["body"] for v in current.json()["results"]] == ["Risks: redness."]
    assert post(c["pc_physician"], "consent-form-versions/", {"title": "forged"}).status_code == 405
    assert c["mso_admin"].get(f"{API}consent-form-versions/").status_code == 404
    assert c["mso_admin"].get(f"{API}physician-decisions/").status_code == 404
    assert ConsentFormVersion.objects.count() == 2
    entries = AuditLogEntry.objects.filter(action="physician_decision", object_id=draft["id"])
    assert [e.detail.get("consent_form_version") for e in entries.order_by("seq")] == [1, 2]


def test_the_pc_of_an_item_cannot_change(world_a: World) -> None:
    admin = keys(world_a, "mso_admin")["mso_admin"]
    asset = new_asset(admin, world_a)
    moved = admin.patch(
        f"{API}marketing-assets/{asset['id']}/", {"pc": str(world_a.pcs[1].pk)}, format="json"
    )
    assert moved.status_code == 400 and moved.json()["pc"]
    assert MarketingAsset.objects.get(pk=asset["id"]).pc_id == world_a.pcs[0].pk
    wrong_location = admin.patch(
        f"{API}marketing-assets/{asset['id']}/", {"location": str(world_a.locations[1].pk)}, format="json"
    )
    assert wrong_location.status_code == 400 and wrong_location.json()["location"]


def test_staff_may_not_act_on_another_pcs_items(world_a: World) -> None:
    c = keys(world_a, "mso_staff", "mso_admin")
    other = new_asset(c["mso_admin"], world_a, pc=str(world_a.pcs[1].pk))
    for action in ("submit", "publish", "withdraw"):
        assert post(c["mso_staff"], f"marketing-assets/{other['id']}/{action}/").status_code == 404
    assert (
        post(
            c["mso_staff"], "marketing-images/", {"asset": other["id"], "description": "x", "kind": "stock"}
        ).status_code
        == 400
    )
    assert MarketingAsset.objects.get(pk=other["id"]).state == ReviewState.DRAFT
