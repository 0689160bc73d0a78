"""API matrix entries of physician decisions and consent-form versions (clinical keys).

A decision is taken once per content: each create names a submitted item of the first PC that has
no decision yet. The world's own such item is used when it holds one (building a payload must not
write to the attack tests' domain worlds); otherwise one is drafted and submitted by MSO staff.
"""

from __future__ import annotations

import itertools
from typing import Any

from django.db.models import F
from django.utils import timezone

from clinical.models import ConsentFormVersion, PhysicianDecision
from management.models import ConsentFormDraft, MarketingAsset, ReviewState
from tenants.capacities import Side
from tests import factories as f
from tests.api_matrix import Endpoint
from tests.matrix.marketing import asset_of
from tests.worlds import World

_numbers = itertools.count(100)


def awaiting_asset(w: World) -> MarketingAsset:
    """A submitted asset of the first PC, undecided as it stands, not the physician's own."""
    physician = w.user("pc_physician")
    found = (
        MarketingAsset.objects.filter(tenant=w.tenant, pc=w.pcs[0], state=ReviewState.SUBMITTED)
        .exclude(decision_hash=F("content_hash"))
        .exclude(created_by=physician)
        .exclude(submitted_by=physician)
        .order_by("submitted_at", "id")
        .first()
    )
    if found is not None:
        return found
    staff = w.user("mso_staff")
    return f.MarketingAssetFactory.create(
        tenant=w.tenant,
        pc=w.pcs[0],
        created_by=staff,
        state=ReviewState.SUBMITTED,
        submitted_by=staff,
        submitted_at=timezone.now(),
    )


def _decision_payload(w: World) -> dict[str, Any]:
    return {
        "marketing_asset": str(awaiting_asset(w).pk),
        "decision": "approved",
        "note": "Claims are qualified; fine to run.",
    }


def _decision_rows(w: World, n: int) -> list[Any]:
    asset = asset_of(w)
    return [
        f.PhysicianDecisionFactory.create(
            tenant=w.tenant,
            pc=w.pcs[0],
            marketing_asset=asset,
            decision="changes_requested",
            snapshot={"title": asset.title},
        )
        for _ in range(n)
    ]


def _version_rows(w: World, n: int) -> list[Any]:
    # Numbers far above the domain world's own version 1, never twice (rows are made more than once).
    return [
        f.ConsentFormVersionFactory.create(tenant=w.tenant, pc=w.pcs[0], number=next(_numbers))
        for _ in range(n)
    ]


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        name="physician-decisions",
        model=PhysicianDecision,
        side=Side.CLINICAL,
        scope=lambda o: o.pc,
        own_objects=lambda w: list(w.objs.get(PhysicianDecision, [])),
        writes=frozenset({"create"}),
        create_payload=_decision_payload,
        create_refs=lambda w: [w.pcs[0]],
        create_scope=lambda w: w.pcs[0],
        update_payload={"note": "Edited note"},
        make_rows=_decision_rows,
        create_perm="approve_marketing",
        also_writes=frozenset({MarketingAsset, ConsentFormDraft, ConsentFormVersion}),
    ),
    Endpoint(
        name="consent-form-versions",
        model=ConsentFormVersion,
        side=Side.CLINICAL,
        scope=lambda o: o.pc,
        own_objects=lambda w: list(w.objs.get(ConsentFormVersion, [])),
        writes=frozenset(),
        create_payload=lambda w: {"title": "A version written by hand", "number": 7},
        update_payload={"title": "Edited version"},
        make_rows=_version_rows,
    ),
]
