"""A PC physician's decision on MSO-drafted content: approve, request changes or reject.

The decision is a clinical record (``PhysicianDecision``: the content hash and a snapshot of exactly
what was decided on); its outcome is mirrored onto the management row's decision columns, which
only the clinical role may write (PostgreSQL column privileges and the reviewed-content trigger).
Approving a consent-form draft makes it the next numbered ``ConsentFormVersion`` of its PC and
procedure, superseding the current one. Every decision is in the audit log twice over: the row
writes through the database trigger, and one explicit ``physician_decision`` entry.
"""

from __future__ import annotations

from typing import TypeVar, cast

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Max
from django.http import Http404
from django.utils import timezone

from clinical.models import ConsentFormVersion, PhysicianDecision
from clinical.selectors.decisions import (
    DECIDING_CAPACITY,
    content_snapshot,
    is_own_submission,
    may_decide_on,
)
from management.models import (
    DECISION_FIELDS,
    ConsentFormDraft,
    Decision,
    MarketingAsset,
    PhysicianReviewed,
    ReviewState,
)
from tenants import audit
from tenants.access import AccessContext, restrict
from tenants.capacities import ADD, VIEW
from tenants.writes import require_may

R = TypeVar("R", bound=PhysicianReviewed)

DECISIONS = (Decision.APPROVED, Decision.CHANGES_REQUESTED, Decision.REJECTED)
# What a physician may decide (no "pending"): the API's and the review form's choices.
DECISION_CHOICES = [(d.value, d.label) for d in DECISIONS]
NOTE_REQUIRED = (Decision.CHANGES_REQUESTED, Decision.REJECTED)
OWN_SUBMISSION = (
    "You drafted or submitted this item, so you may not decide on it: "
    "another physician of the PC must review it."
)


def _locked(ctx: AccessContext, item: R) -> R:
    """The item as the database has it now, locked until commit (an edit cannot slip in between).

    FOR UPDATE needs UPDATE on some column: the clinical role holds it on the decision columns.
    """
    base = type(item)._default_manager.all()
    found = cast("R | None", restrict(base, ctx, VIEW).select_for_update().filter(pk=item.pk).first())
    if found is None:
        raise Http404("No such object.")
    return found


@transaction.atomic
def decide(
    *, ctx: AccessContext, item: PhysicianReviewed, decision: str, note: str = ""
) -> PhysicianDecision:
    """Record a PC physician's decision on the exact current content of a submitted item.

    Refused (404) to anyone but a PC physician holding ``approve_marketing`` on the item's PC;
    refused (400, with the reason) for their own draft or submission, for an item that is not
    submitted, and for content already decided on as it stands.
    """
    require_may(ctx, PhysicianDecision, ADD)
    if not isinstance(item, MarketingAsset | ConsentFormDraft):
        raise TypeError(f"no physician decisions on {type(item).__name__}")
    if ctx.capacity.code != DECIDING_CAPACITY:
        raise PermissionDenied("No such object.")
    user = ctx.user
    if user is None:
        raise PermissionDenied("No such object.")
    current = _locked(ctx, item)
    if not may_decide_on(ctx, current):
        raise PermissionDenied("No such object.")  # same answer as an item of a PC one cannot see

    if decision not in DECISIONS:
        choices = ", ".join(DECISIONS)
        raise ValidationError({"decision": f"{decision!r} is not a decision: choose one of {choices}."})
    note = (note or "").strip()
    if decision in NOTE_REQUIRED and not note:
        raise ValidationError({"note": "Say what must change (or why it is rejected) in the note."})
    if len(note) > 4000:
        raise ValidationError({"note": "Ensure this field has no more than 4000 characters."})
    if is_own_submission(ctx, current):
        raise ValidationError({"decision": OWN_SUBMISSION})
    if current.state != ReviewState.SUBMITTED:
        label = ReviewState(current.state).label.lower()
        raise ValidationError({"decision": f"Only submitted items are decided on; this one is {label}."})
    if current.decision_is_current:
        raise ValidationError(
            {"decision": f"This content (revision {current.revision}) has already been decided on."}
        )

    now = timezone.now()
    record = PhysicianDecision(
        tenant=ctx.tenant,
        pc_id=current.pc_id,
        marketing_asset=current if isinstance(current, MarketingAsset) else None,
        consent_form_draft=current if isinstance(current, ConsentFormDraft) else None,
        decision=decision,
        content_hash=current.content_hash,
        revision=current.revision,
        snapshot=content_snapshot(current),
        note=note,
        decided_by=user,
        decided_at=now,
    )
    record.full_clean()
    record.save()

    current.decision = decision
    current.decision_hash = current.content_hash
    current.decision_note = note
    current.decided_at = now
    current.decided_by = user
    # Only these columns: the clinical role's UPDATE privilege on management rows covers nothing else.
    current.save(update_fields=list(DECISION_FIELDS))

    version = None
    if decision == Decision.APPROVED and isinstance(current, ConsentFormDraft):
        version = _new_consent_version(ctx, current, record)

    audit.record(
        ctx,
        "physician_decision",
        obj=current,
        detail={
            "decision": decision,
            "decision_id": str(record.pk),
            "content_hash": current.content_hash,
            "revision": current.revision,
            **({"consent_form_version": version.number} if version else {}),
        },
    )
    for name in DECISION_FIELDS:  # the caller's copy shows the decision too
        setattr(item, name, getattr(current, name))
    return record


def _new_consent_version(
    ctx: AccessContext, draft: ConsentFormDraft, decision: PhysicianDecision
) -> ConsentFormVersion:
    """The next numbered version of the PC's form for the procedure; the current one is superseded."""
    # Two approvals for the same PC and procedure (of different drafts) take numbers one after the
    # other: the first version of a form has no row yet to lock, so lock the (PC, procedure) pair.
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(7341, hashtext(%s))", [f"{draft.pc_id}:{draft.procedure}"])
    versions = ConsentFormVersion.objects.filter(
        tenant=ctx.tenant, pc_id=draft.pc_id, procedure=draft.procedure
    )
    number = (versions.aggregate(n=Max("number"))["n"] or 0) + 1
    versions.filter(superseded_at__isnull=True).update(superseded_at=decision.decided_at)
    version = ConsentFormVersion(
        tenant=ctx.tenant,
        pc_id=draft.pc_id,
        draft=draft,
        decision=decision,
        procedure=draft.procedure,
        number=number,
        title=draft.title,
        body=draft.body,
        content_hash=draft.content_hash,
        approved_by=decision.decided_by,
        approved_at=decision.decided_at,
    )
    version.full_clean()
    version.save()
    return version
