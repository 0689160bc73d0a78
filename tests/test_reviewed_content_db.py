"""The reviewed-content trigger (boundary.REVIEWED_CONTENT_SQL), proven with raw SQL under each role.

Each rule has a planted violation that PostgreSQL refuses and a compliant case that it lets through.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from management.models import MarketingAsset
from mso_platform.db import boundary
from tests import factories
from tests.worlds import World

pytestmark = pytest.mark.django_db
TABLE = MarketingAsset._meta.db_table


def run(role: str, world: World, sql: str, params: list[Any]) -> None:
    """One statement under `role` and the world's tenant, then back to the test's own role."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"SET LOCAL ROLE {role}")
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(world.tenant.pk)])
        cur.execute(sql, params)
        cur.execute("RESET ROLE")


def submitted_asset(world: World) -> MarketingAsset:
    staff = world.user("mso_staff")
    return factories.MarketingAssetFactory.create(
        tenant=world.tenant,
        pc=world.pcs[0],
        created_by=staff,
        state="submitted",
        submitted_by=staff,
        submitted_at=timezone.now(),
    )


def approve(world: World, asset: MarketingAsset, decider: Any) -> None:
    asset.refresh_from_db()
    run(
        boundary.CLINICAL_ROLE,
        world,
        f"UPDATE {TABLE} SET decision = 'approved', decision_hash = %s, decided_at = now(), "
        "decided_by_id = %s WHERE id = %s",
        [asset.content_hash, decider.pk, asset.pk],
    )


def publish(world: World, asset: MarketingAsset) -> None:
    run(boundary.BUSINESS_ROLE, world, f"UPDATE {TABLE} SET state = 'published' WHERE id = %s", [asset.pk])


def test_the_database_computes_the_content_hash_from_content_only(world_a: World) -> None:
    asset = submitted_asset(world_a)
    first = asset.content_hash
    assert len(first) == 64
    MarketingAsset.objects.filter(pk=asset.pk).update(state="draft")  # not content
    asset.refresh_from_db()
    assert asset.content_hash == first
    MarketingAsset.objects.filter(pk=asset.pk).update(body="Now 50% off!")  # content
    asset.refresh_from_db()
    assert asset.content_hash != first


def test_business_role_cannot_write_a_decision_but_the_clinical_role_can(world_a: World) -> None:
    asset = submitted_asset(world_a)
    with pytest.raises(DatabaseError, match="only a physician records a decision"):
        run(
            boundary.BUSINESS_ROLE,
            world_a,
            f"UPDATE {TABLE} SET decision = 'approved', decision_hash = content_hash WHERE id = %s",
            [asset.pk],
        )
    approve(world_a, asset, world_a.user("pc_physician"))
    asset.refresh_from_db()
    assert asset.is_approved


def test_business_role_inserts_drafts_but_never_an_approved_row(world_a: World) -> None:
    staff = world_a.user("mso_staff")

    def insert(**decision: Any) -> None:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"SET LOCAL ROLE {boundary.BUSINESS_ROLE}")
            cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(world_a.tenant.pk)])
            factories.MarketingAssetFactory.create(
                tenant=world_a.tenant, pc=world_a.pcs[0], created_by=staff, **decision
            )
            cur.execute("RESET ROLE")

    before = MarketingAsset.objects.count()
    with pytest.raises(DatabaseError, match="only a physician records a decision"):
        insert(decision="approved", decision_hash="0" * 64)
    insert()  # a plain draft
    assert MarketingAsset.objects.count() == before + 1


def test_nobody_decides_on_content_they_submitted(world_a: World) -> None:
    asset = submitted_asset(world_a)
    with pytest.raises(DatabaseError, match="nobody decides on content they drafted or submitted"):
        approve(world_a, asset, world_a.user("mso_staff"))  # the submitter, even under the clinical role
    approve(world_a, asset, world_a.user("pc_physician"))
    asset.refresh_from_db()
    assert asset.decided_by_id == world_a.user("pc_physician").pk


def test_publishing_needs_an_approval_of_the_content_as_it_stands(world_a: World) -> None:
    asset = submitted_asset(world_a)
    with pytest.raises(DatabaseError, match="only content approved exactly as it stands"):
        publish(world_a, asset)  # never approved
    approve(world_a, asset, world_a.user("pc_physician"))
    publish(world_a, asset)  # approved as it stands
    asset.refresh_from_db()
    assert asset.state == "published"
    # An edit of a published row (here raw SQL, past every service) is refused: the approval is for
    # the old hash, and the row is still marked published.
    with pytest.raises(DatabaseError, match="only content approved exactly as it stands"):
        run(
            boundary.BUSINESS_ROLE,
            world_a,
            f"UPDATE {TABLE} SET body = 'Painless!' WHERE id = %s",
            [asset.pk],
        )
    # Back in review, the edit goes through and the old approval no longer applies (replay refused).
    run(
        boundary.BUSINESS_ROLE,
        world_a,
        f"UPDATE {TABLE} SET body = 'Painless!', state = 'submitted' WHERE id = %s",
        [asset.pk],
    )
    asset.refresh_from_db()
    assert not asset.is_approved
    with pytest.raises(DatabaseError, match="only content approved exactly as it stands"):
        publish(world_a, asset)
