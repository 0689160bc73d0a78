"""Physician approvals bind to content (DESIGN.md): the services, and PostgreSQL underneath them.

MSO staff draft and submit; a PC physician decides; any edit voids the decision and puts the item
back in the queue; publishing unapproved or changed content is refused by the service (400) and by
the database (raw SQL under the business role); nobody decides on their own submission; approved
consent forms become numbered versions; every decision is in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.http import Http404

from clinical.models import ConsentFormVersion, PhysicianDecision
from clinical.selectors import decisions as decision_selectors
from clinical.services.decisions import OWN_SUBMISSION, decide
from management.models import ConsentFormDraft, Decision, MarketingAsset, MarketingImage, ReviewState
from management.procedures import Procedure
from management.services import marketing as svc
from mso_platform.db import boundary
from tenants.access import AccessContext
from tenants.models import AuditLogEntry, Membership
from tenants.services import membership_create, object_access_grant
from tests import factories
from tests.worlds import World

pytestmark = pytest.mark.django_db

Act = Callable[[AccessContext], AbstractContextManager[None]]
PHYSICIAN_PERMS = ["view_professionalcorporation", "approve_marketing"]


def new_asset(world: World, act: Act, capacity: str = "mso_staff", **extra: Any) -> MarketingAsset:
    fields: dict[str, Any] = {
        "pc": world.pcs[0],
        "title": "Spring neurotoxin special",
        "body": "Smooth forehead lines. Results vary; consultation required.",
        "channel": "instagram",
        "brand_name": world.pcs[0].legal_name,
        **extra,
    }
    with act(world.ctx(capacity)):
        return svc.marketing_asset_create(ctx=world.ctx(capacity), **fields)


def submitted_asset(world: World, act: Act) -> MarketingAsset:
    asset = new_asset(world, act)
    with act(world.ctx("mso_staff")):
        return svc.marketing_asset_submit(ctx=world.ctx("mso_staff"), asset=asset)


def physician_decides(
    world: World,
    act: Act,
    item: Any,
    decision: str = "approved",
    note: str = "",
    capacity: str = "pc_physician",
) -> PhysicianDecision:
    ctx = world.ctx(capacity)
    with act(ctx):
        return decide(ctx=ctx, item=item, decision=decision, note=note)


def reload(item: Any) -> Any:
    return type(item).objects.get(pk=item.pk)


def run_as_role(role: str, tenant_id: Any, sql: str, params: list[Any]) -> None:
    """Raw SQL under a runtime role, in a savepoint (as tests/test_db_boundary.py does)."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"SET LOCAL ROLE {role}")
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id)])
        cur.execute(sql, params)


ASSET_TABLE = '"management"."marketing_asset"'


# --- drafting -------------------------------------------------------------------------------------------


def test_staff_drafts_an_asset_and_postgresql_hashes_its_content(world_a: World, as_ctx: Act) -> None:
    asset = new_asset(world_a, as_ctx)
    assert asset.state == ReviewState.DRAFT and asset.revision == 1
    assert len(asset.content_hash) == 64  # filled by the trigger, read back with RETURNING
    assert asset.content_hash == reload(asset).content_hash
    assert asset.created_by == world_a.user("mso_staff")
    assert asset.review_status == "Draft"


@pytest.mark.parametrize("capacity", ["auditor", "pc_physician", "clinician"])
def test_capacities_that_may_not_write_business_records_cannot_draft(
    world_a: World, as_ctx: Act, capacity: str
) -> None:
    with pytest.raises(PermissionDenied):
        new_asset(world_a, as_ctx, capacity)
    assert not MarketingAsset.objects.exists()


def test_staff_cannot_draft_for_a_pc_it_does_not_hold_nor_for_another_tenants(
    world_a: World, world_b: World, as_ctx: Act
) -> None:
    with pytest.raises(ValidationError) as not_held:
        new_asset(world_a, as_ctx, pc=world_a.pcs[1])
    assert "pc" in not_held.value.message_dict
    with pytest.raises(ValidationError) as foreign:
        new_asset(world_a, as_ctx, "mso_admin", pc=world_b.pcs[0])
    assert "pc" in foreign.value.message_dict
    assert not MarketingAsset.objects.exists()


def test_bad_input_is_refused_with_a_message(world_a: World, as_ctx: Act) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"location": world_a.locations[1]}, "location"),  # the other PC's location
        ({"channel": "billboard"}, "channel"),
        ({"title": "   "}, "title"),
    ]
    for extra, field in cases:
        with pytest.raises(ValidationError) as refused:
            new_asset(world_a, as_ctx, "mso_admin", **extra)
        assert field in refused.value.message_dict, extra
    assert not MarketingAsset.objects.exists()


# --- approve, publish, edit voids ---------------------------------------------------------------------------


def test_approve_then_publish_then_edit_voids_the_approval_and_returns_it_to_the_queue(
    world_a: World, as_ctx: Act
) -> None:
    asset = submitted_asset(world_a, as_ctx)
    assert asset.review_status == "Awaiting physician review"
    with as_ctx(world_a.ctx("pc_physician")):
        queued = list(decision_selectors.queue_assets(world_a.ctx("pc_physician")))
    assert queued == [asset]

    record = physician_decides(world_a, as_ctx, asset, "approved", "Fine as written.")
    asset = reload(asset)
    assert asset.is_approved and asset.decision_hash == asset.content_hash == record.content_hash
    assert asset.decided_by == world_a.user("pc_physician") and asset.decision_note == "Fine as written."
    assert record.snapshot["title"] == asset.title and record.revision == 1
    with as_ctx(world_a.ctx("pc_physician")):
        assert not decision_selectors.queue_assets(world_a.ctx("pc_physician")).exists()

    with as_ctx(world_a.ctx("mso_staff")):
        asset = svc.marketing_asset_publish(ctx=world_a.ctx("mso_staff"), asset=asset)
    assert reload(asset).state == ReviewState.PUBLISHED and asset.published_by == world_a.user("mso_staff")
    old_hash = asset.content_hash

    with as_ctx(world_a.ctx("mso_admin")):
        edited = svc.marketing_asset_update(
            ctx=world_a.ctx("mso_admin"), asset=asset, body="Now with 20% off!"
        )
    stored = reload(edited)
    assert edited.content_hash == stored.content_hash != old_hash  # refreshed from PostgreSQL
    assert stored.state == ReviewState.SUBMITTED and stored.published_at is None
    assert stored.revision == 2 and stored.submitted_by == world_a.user("mso_admin")
    assert stored.decision == Decision.APPROVED and not stored.is_approved  # kept as history, void
    assert stored.review_status == "Awaiting physician review (changed since the last decision)"
    with as_ctx(world_a.ctx("pc_physician")):
        assert list(decision_selectors.queue_assets(world_a.ctx("pc_physician"))) == [stored]
    with as_ctx(world_a.ctx("mso_staff")), pytest.raises(ValidationError) as refused:
        svc.marketing_asset_publish(ctx=world_a.ctx("mso_staff"), asset=stored)
    assert "approved exactly as it stands" in str(refused.value)
    assert reload(asset).state == ReviewState.SUBMITTED


def test_an_edit_that_changes_nothing_keeps_the_approval(world_a: World, as_ctx: Act) -> None:
    asset = submitted_asset(world_a, as_ctx)
    physician_decides(world_a, as_ctx, asset)
    with as_ctx(world_a.ctx("mso_staff")):
        same = svc.marketing_asset_update(
            ctx=world_a.ctx("mso_staff"), asset=reload(asset), title=asset.title
        )
    assert same.revision == 1 and reload(asset).is_approved


def test_publishing_unapproved_content_is_refused(world_a: World, as_ctx: Act) -> None:
    draft = new_asset(world_a, as_ctx)
    submitted = submitted_asset(world_a, as_ctx)
    rejected = submitted_asset(world_a, as_ctx)
    physician_decides(world_a, as_ctx, rejected, "rejected", "Claims a guarantee.")
    for asset in (draft, submitted, reload(rejected)):
        with as_ctx(world_a.ctx("mso_admin")), pytest.raises(ValidationError):
            svc.marketing_asset_publish(ctx=world_a.ctx("mso_admin"), asset=asset)
        assert reload(asset).state != ReviewState.PUBLISHED


def test_postgresql_refuses_publishing_unapproved_or_changed_content_to_the_business_role(
    world_a: World, as_ctx: Act
) -> None:
    unapproved = submitted_asset(world_a, as_ctx)
    with pytest.raises(DatabaseError, match="only content approved exactly as it stands may be published"):
        run_as_role(
            boundary.BUSINESS_ROLE,
            world_a.tenant.pk,
            f"UPDATE {ASSET_TABLE} SET state = 'published' WHERE id = %s",
            [unapproved.pk],
        )
    approved = submitted_asset(world_a, as_ctx)
    physician_decides(world_a, as_ctx, approved)
    with as_ctx(world_a.ctx("mso_staff")):
        svc.marketing_asset_publish(ctx=world_a.ctx("mso_staff"), asset=approved)
    # Changing the content of a published row behind the services' back: refused, it would be live.
    with pytest.raises(DatabaseError, match="only content approved exactly"):
        run_as_role(
            boundary.BUSINESS_ROLE,
            world_a.tenant.pk,
            f"UPDATE {ASSET_TABLE} SET body = body || ' Guaranteed results!' WHERE id = %s",
            [approved.pk],
        )
    # and the same through a bulk ORM update, which no service sees
    with as_ctx(world_a.ctx("mso_admin")), pytest.raises(DatabaseError), transaction.atomic():
        MarketingAsset.objects.filter(pk=approved.pk).update(title="Best results in town")
    assert reload(unapproved).state == ReviewState.SUBMITTED
    assert reload(approved).title == approved.title and reload(approved).is_approved


def test_business_role_cannot_write_the_decision_columns(world_a: World, as_ctx: Act) -> None:
    asset = submitted_asset(world_a, as_ctx)
    physician = world_a.user("pc_physician")
    for assignment, params in [
        ("decision = 'approved', decision_hash = content_hash", []),
        ("decision_hash = content_hash", []),
        ("decided_by_id = %s", [physician.pk]),
        ("decision_note = 'looks fine'", []),
    ]:
        with pytest.raises(DatabaseError, match="only a physician records a decision"):
            run_as_role(
                boundary.BUSINESS_ROLE,
                world_a.tenant.pk,
                f"UPDATE {ASSET_TABLE} SET {assignment} WHERE id = %s",
                [*params, asset.pk],
            )
    # nor insert a row that arrives already approved
    with pytest.raises(DatabaseError, match="only a physician records a decision"):
        run_as_role(
            boundary.BUSINESS_ROLE,
            world_a.tenant.pk,
            f"INSERT INTO {ASSET_TABLE} (id, tenant_id, pc_id, title, body, state, content_hash, revision,"
            " created_by_id, updated_at, decision, decision_hash, decision_note, channel, brand_name,"
            " is_testimonial, testimonial_disclosure, images_digest)"
            " VALUES (gen_random_uuid(), %s, %s, 't', 'b', 'published', '', 1, %s, now(), 'approved',"
            " 'x', '', 'instagram', 'b', false, '', '')",
            [world_a.tenant.pk, world_a.pcs[0].pk, world_a.user("mso_staff").pk],
        )
    stored = reload(asset)
    assert stored.decision == Decision.PENDING and stored.decision_hash == ""


def test_clinical_role_may_write_only_the_decision_columns(world_a: World, as_ctx: Act) -> None:
    asset = submitted_asset(world_a, as_ctx)
    with pytest.raises(DatabaseError, match="permission denied"):
        run_as_role(
            boundary.CLINICAL_ROLE,
            world_a.tenant.pk,
            f"UPDATE {ASSET_TABLE} SET body = 'rewritten by the physician' WHERE id = %s",
            [asset.pk],
        )
    with pytest.raises(DatabaseError, match="permission denied"):
        run_as_role(
            boundary.CLINICAL_ROLE,
            world_a.tenant.pk,
            f"UPDATE {ASSET_TABLE} SET state = 'published' WHERE id = %s",
            [asset.pk],
        )
    assert reload(asset).body == asset.body


# --- who decides -------------------------------------------------------------------------------------------


def test_nobody_decides_on_their_own_submission(world_a: World, as_ctx: Act) -> None:
    """One person, two capacities: drafts as MSO staff, then tries to approve as the PC's physician."""
    person = world_a.user("mso_staff")
    doctor_hat = membership_create(
        tenant=world_a.tenant, user=person, capacity="pc_physician", license_type="MD"
    )
    object_access_grant(membership=doctor_hat, obj=world_a.pcs[0], perms=PHYSICIAN_PERMS)
    as_doctor = AccessContext.for_membership(doctor_hat, via="browser")
    asset = submitted_asset(world_a, as_ctx)

    with as_ctx(as_doctor):
        assert decision_selectors.is_own_submission(as_doctor, asset)
        with pytest.raises(ValidationError) as refused:
            decide(ctx=as_doctor, item=asset, decision="approved")
    assert OWN_SUBMISSION in refused.value.message_dict["decision"]
    assert not PhysicianDecision.objects.exists()
    # The database refuses it too, whoever asks: decided_by may not be the drafter or submitter.
    with pytest.raises(DatabaseError, match="nobody decides on content they drafted or submitted"):
        run_as_role(
            boundary.CLINICAL_ROLE,
            world_a.tenant.pk,
            f"UPDATE {ASSET_TABLE} SET decision = 'approved', decision_hash = content_hash,"
            " decided_by_id = %s, decided_at = now() WHERE id = %s",
            [person.pk, asset.pk],
        )
    # Another physician of the PC may.
    physician_decides(world_a, as_ctx, asset)
    assert reload(asset).is_approved


def test_an_editor_who_is_also_a_physician_cannot_approve_the_edit(world_a: World, as_ctx: Act) -> None:
    """The admin edits someone else's submission, so the admin becomes its submitter."""
    admin = world_a.user("mso_admin")
    doctor_hat = membership_create(
        tenant=world_a.tenant, user=admin, capacity="pc_physician", license_type="MD"
    )
    object_access_grant(membership=doctor_hat, obj=world_a.pcs[0], perms=PHYSICIAN_PERMS)
    asset = submitted_asset(world_a, as_ctx)
    with as_ctx(world_a.ctx("mso_admin")):
        svc.marketing_asset_update(ctx=world_a.ctx("mso_admin"), asset=asset, title="Edited by the admin")
    as_doctor = AccessContext.for_membership(doctor_hat, via="browser")
    with as_ctx(as_doctor), pytest.raises(ValidationError):
        decide(ctx=as_doctor, item=reload(asset), decision="approved")


def test_another_pcs_physician_and_a_physician_without_approval_rights_get_404(
    world_a: World, world_b: World, as_ctx: Act
) -> None:
    asset = submitted_asset(world_a, as_ctx)
    other_pc_doctor = factories.UserFactory.create(email="dr-other@alpha.test")
    other = membership_create(
        tenant=world_a.tenant, user=other_pc_doctor, capacity="pc_physician", license_type="MD"
    )
    object_access_grant(membership=other, obj=world_a.pcs[1], perms=PHYSICIAN_PERMS)
    viewer_only: Membership = membership_create(
        tenant=world_a.tenant,
        user=factories.UserFactory.create(email="dr-viewer@alpha.test"),
        capacity="pc_physician",
        license_type="MD",
    )
    object_access_grant(membership=viewer_only, obj=world_a.pcs[0], perms=["view_professionalcorporation"])
    for membership in (other, viewer_only):
        ctx = AccessContext.for_membership(membership, via="api")
        with as_ctx(ctx):
            assert not decision_selectors.queue_assets(ctx).exists()  # not in their queue either
            with pytest.raises((Http404, PermissionDenied)):
                decide(ctx=ctx, item=asset, decision="approved")
    for ctx in (world_a.ctx("clinician"), world_a.ctx("mso_admin"), world_b.ctx("pc_physician")):
        with as_ctx(ctx), pytest.raises((Http404, PermissionDenied)):
            decide(ctx=ctx, item=asset, decision="approved")
    assert not PhysicianDecision.objects.exists()
    assert reload(asset).decision == Decision.PENDING


def test_only_submitted_content_not_yet_decided_on_is_decided(world_a: World, as_ctx: Act) -> None:
    draft = new_asset(world_a, as_ctx)
    with pytest.raises(ValidationError, match="Only submitted items"):
        physician_decides(world_a, as_ctx, draft)
    asset = submitted_asset(world_a, as_ctx)
    physician_decides(world_a, as_ctx, asset, "approved")
    with pytest.raises(ValidationError, match="already been decided on"):
        physician_decides(world_a, as_ctx, reload(asset), "rejected", "Changed my mind")
    with pytest.raises(ValidationError) as bad:
        physician_decides(world_a, as_ctx, submitted_asset(world_a, as_ctx), "pending")
    assert "decision" in bad.value.message_dict
    with pytest.raises(ValidationError) as no_note:
        physician_decides(world_a, as_ctx, submitted_asset(world_a, as_ctx), "changes_requested")
    assert "note" in no_note.value.message_dict
    assert PhysicianDecision.objects.count() == 1


def test_changes_requested_then_edit_returns_to_queue_with_a_diff(world_a: World, as_ctx: Act) -> None:
    asset = submitted_asset(world_a, as_ctx)
    physician_decides(world_a, as_ctx, asset, "changes_requested", "Drop the discount line.")
    asset = reload(asset)
    assert asset.review_status == "Changes requested" and asset.state == ReviewState.SUBMITTED
    doctor = world_a.ctx("pc_physician")
    with as_ctx(doctor):
        assert not decision_selectors.queue_assets(doctor).exists()  # decided on as it stands
    with as_ctx(world_a.ctx("mso_staff")):
        svc.marketing_asset_update(
            ctx=world_a.ctx("mso_staff"), asset=asset, title="Spring neurotoxin", channel="website"
        )
    with as_ctx(doctor):
        queued = decision_selectors.queue_assets(doctor).get()
        last = decision_selectors.decisions_on(doctor, queued).first()
        assert last is not None
        diff = {
            d.label: d
            for d in decision_selectors.content_diff(
                last.snapshot, decision_selectors.content_snapshot(queued)
            )
        }
    assert diff["Title"].changed and diff["Channel"].changed and not diff["Text"].changed
    assert [(r.old, r.new) for r in diff["Channel"].rows] == [("Instagram", "Website")]


def test_first_review_shows_the_whole_content_as_new(world_a: World, as_ctx: Act) -> None:
    asset = submitted_asset(world_a, as_ctx)
    with as_ctx(world_a.ctx("pc_physician")):
        diff = decision_selectors.content_diff(None, decision_selectors.content_snapshot(asset))
    assert all(d.changed for d in diff)
    assert {r.new for d in diff for r in d.rows} >= {asset.title, "Instagram"}


# --- images are content ------------------------------------------------------------------------------------


def test_image_add_edit_and_remove_each_void_the_approval(world_a: World, as_ctx: Act) -> None:
    asset = submitted_asset(world_a, as_ctx)
    staff = world_a.ctx("mso_staff")
    digests = [asset.images_digest]

    def approve() -> None:
        physician_decides(world_a, as_ctx, reload(asset))
        assert reload(asset).is_approved

    def assert_voided() -> None:
        stored = reload(asset)
        assert not stored.is_approved and stored.awaiting_decision
        assert stored.images_digest not in digests
        digests.append(stored.images_digest)

    approve()
    with as_ctx(staff):
        image = svc.marketing_image_add(
            ctx=staff, asset=asset, description="Before/after, lips", kind="before_after_patient"
        )
    assert_voided()
    approve()
    with as_ctx(staff):
        svc.marketing_image_update(ctx=staff, image=image, altered=True)
    assert_voided()
    approve()
    record = PhysicianDecision.objects.filter(marketing_asset=asset).order_by("-decided_at").first()
    assert record is not None and record.snapshot["images"][0]["altered"] is True
    with as_ctx(staff):
        svc.marketing_image_remove(ctx=staff, image=image)
    stored = reload(asset)
    assert not MarketingImage.objects.filter(pk=image.pk).exists()
    assert stored.images_digest == "" and not stored.is_approved and stored.revision == 4


def test_image_refs_must_be_in_scope(world_a: World, world_b: World, as_ctx: Act) -> None:
    asset = new_asset(world_a, as_ctx)
    foreign_client = factories.ClientFactory.create(tenant=world_b.tenant, home_location=world_b.locations[0])
    staff = world_a.ctx("mso_staff")
    with as_ctx(staff), pytest.raises(ValidationError) as refused:
        svc.marketing_image_add(ctx=staff, asset=asset, description="x", kind="stock", client=foreign_client)
    assert "client" in refused.value.message_dict
    other_pc_asset = new_asset(world_a, as_ctx, "mso_admin", pc=world_a.pcs[1])
    with as_ctx(staff), pytest.raises(ValidationError) as hidden:
        svc.marketing_image_add(ctx=staff, asset=other_pc_asset, description="x", kind="stock")
    assert "asset" in hidden.value.message_dict
    with as_ctx(staff), pytest.raises(ValidationError):
        svc.marketing_image_add(ctx=staff, asset=asset, description="x", kind="polaroid")
    assert not MarketingImage.objects.exists()


# --- submit / withdraw ---------------------------------------------------------------------------------


def test_submit_publish_withdraw_are_idempotent_and_withdraw_unpublishes(world_a: World, as_ctx: Act) -> None:
    staff = world_a.ctx("mso_staff")
    asset = submitted_asset(world_a, as_ctx)
    with as_ctx(staff):
        again = svc.marketing_asset_submit(ctx=staff, asset=reload(asset))
    assert again.submitted_at == asset.submitted_at
    physician_decides(world_a, as_ctx, asset)
    with as_ctx(staff):
        svc.marketing_asset_publish(ctx=staff, asset=asset)
        published = svc.marketing_asset_publish(ctx=staff, asset=asset)
        assert published.state == ReviewState.PUBLISHED
        withdrawn = svc.marketing_asset_withdraw(ctx=staff, asset=reload(asset))
        assert withdrawn.state == ReviewState.WITHDRAWN and withdrawn.published_at is None
        svc.marketing_asset_withdraw(ctx=staff, asset=withdrawn)
        # still approved exactly as it stands: it may go live again without a new decision
        assert svc.marketing_asset_publish(ctx=staff, asset=withdrawn).state == ReviewState.PUBLISHED
        set_aside = svc.marketing_asset_withdraw(ctx=staff, asset=new_asset(world_a, as_ctx))
        assert set_aside.state == ReviewState.WITHDRAWN
        resubmitted = svc.marketing_asset_submit(ctx=staff, asset=set_aside)
        assert resubmitted.state == ReviewState.SUBMITTED and resubmitted.awaiting_decision


# --- consent forms ------------------------------------------------------------------------------------------


def test_consent_approval_creates_version_1_then_2_and_supersedes(world_a: World, as_ctx: Act) -> None:
    staff = world_a.ctx("mso_staff")
    with as_ctx(staff):
        draft = svc.consent_form_draft_create(
            ctx=staff,
            pc=world_a.pcs[0],
            title="Consent to neurotoxin treatment",
            body="I consent to botulinum toxin type A.\nRisks include bruising.",
            procedure=Procedure.NEUROTOXIN,
        )
        svc.consent_form_draft_submit(ctx=staff, draft=draft)
    physician_decides(world_a, as_ctx, reload(draft))
    first = ConsentFormVersion.objects.get()
    assert (first.number, first.title, first.is_current) == (1, draft.title, True)
    assert first.content_hash == reload(draft).content_hash and first.approved_by == world_a.user(
        "pc_physician"
    )

    with as_ctx(staff):
        svc.consent_form_draft_update(
            ctx=staff,
            draft=reload(draft),
            body="I consent to botulinum toxin type A.\nRisks: bruising, ptosis.",
        )
    assert reload(draft).awaiting_decision
    physician_decides(world_a, as_ctx, reload(draft))
    second = ConsentFormVersion.objects.get(number=2)
    first.refresh_from_db()
    assert second.is_current and "ptosis" in second.body
    assert first.superseded_at == second.approved_at and first.body != second.body
    # Another procedure's form is numbered on its own.
    with as_ctx(staff):
        filler = svc.consent_form_draft_create(
            ctx=staff,
            pc=world_a.pcs[0],
            title="Filler consent",
            body="Risks.",
            procedure=Procedure.DERMAL_FILLER,
        )
        svc.consent_form_draft_submit(ctx=staff, draft=filler)
    physician_decides(world_a, as_ctx, reload(filler))
    assert ConsentFormVersion.objects.get(procedure=Procedure.DERMAL_FILLER).number == 1
    # Requests for changes make no version.
    with as_ctx(staff):
        svc.consent_form_draft_update(ctx=staff, draft=reload(draft), title="Neurotoxin consent (2026)")
    physician_decides(world_a, as_ctx, reload(draft), "changes_requested", "Add the aftercare paragraph.")
    assert ConsentFormVersion.objects.filter(procedure=Procedure.NEUROTOXIN).count() == 2


def test_consent_draft_input_is_validated(world_a: World, as_ctx: Act) -> None:
    staff = world_a.ctx("mso_staff")
    with as_ctx(staff), pytest.raises(ValidationError) as refused:
        svc.consent_form_draft_create(ctx=staff, pc=world_a.pcs[0], title="x", body="y", procedure="tattoo")
    assert "procedure" in refused.value.message_dict
    assert not ConsentFormDraft.objects.exists()


# --- audit ---------------------------------------------------------------------------------------------


def test_every_decision_is_in_the_audit_log(world_a: World, as_ctx: Act) -> None:
    asset = submitted_asset(world_a, as_ctx)
    record = physician_decides(world_a, as_ctx, asset, "changes_requested", "Qualify 'no downtime'.")
    physician = world_a.user("pc_physician")
    explicit = AuditLogEntry.objects.get(action="physician_decision", object_id=str(asset.pk))
    assert explicit.actor == physician and explicit.capacity == "pc_physician"
    assert explicit.object_type == "management.marketing_asset"
    assert explicit.detail["decision"] == "changes_requested"
    assert explicit.detail["decision_id"] == str(record.pk)
    assert explicit.detail["content_hash"] == asset.content_hash
    # and the row writes, logged by the database trigger
    inserted = AuditLogEntry.objects.get(action="insert", object_id=str(record.pk))
    assert inserted.object_type == "clinical.physician_decision" and inserted.actor == physician
    mirrored = AuditLogEntry.objects.filter(
        action="update", object_id=str(asset.pk), capacity="pc_physician"
    ).get()
    assert set(mirrored.detail["changed"]) >= {"decision", "decision_hash", "decided_by_id", "decided_at"}
