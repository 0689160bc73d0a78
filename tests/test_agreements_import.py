"""CSV import of PC collections (management.importers.collections on tenants.imports): all rows or none,
PCs found only among those the importing capacity may see, a row-by-row report of every problem."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal

import pytest

from management.importers.collections import CollectionImporter
from management.models import PcCollection
from tenants.access import AccessContext
from tenants.imports import ImportResult, RowError, run_import
from tenants.services import object_access_grant
from tests import factories as f
from tests.worlds import World

pytestmark = pytest.mark.django_db

Act = Callable[[AccessContext], AbstractContextManager[None]]


def csv_bytes(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def do_import(act: Act, world: World, data: bytes, capacity: str = "mso_admin") -> ImportResult:
    ctx = world.ctx(capacity)
    with act(ctx):
        return run_import(CollectionImporter(), ctx, data)


def rows(world: World) -> list[tuple[str, dt.date, Decimal, str]]:
    return sorted(
        (c.pc.legal_name, c.month, c.amount, c.source)
        for c in PcCollection.objects.filter(tenant=world.tenant).select_related("pc")
    )


def name(world: World, index: int) -> str:
    return world.pcs[index].legal_name


def test_a_good_file_imports_every_row(world_a: World, as_ctx: Act) -> None:
    data = csv_bytes(
        "PC,Month,Amount,Currency",
        f"{name(world_a, 0)},2025-01,182500.00,",
        # The name in any case and spacing; a full date counts as its month; "$" and thousands commas.
        f'  {name(world_a, 0).upper()} ,2025-02-15,"$190,250.50",usd',
        f"{world_a.pcs[1].pk},2025-01,95000,USD",  # a PC by its id
    )
    result = do_import(as_ctx, world_a, data)
    assert (result.ok, result.created, result.errors) == (True, 3, [])
    assert rows(world_a) == sorted(
        [
            (name(world_a, 0), dt.date(2025, 1, 1), Decimal("182500.00"), "imported"),
            (name(world_a, 0), dt.date(2025, 2, 1), Decimal("190250.50"), "imported"),
            (name(world_a, 1), dt.date(2025, 1, 1), Decimal("95000.00"), "imported"),
        ]
    )


def test_one_bad_row_imports_nothing_and_every_problem_is_reported(world_a: World, as_ctx: Act) -> None:
    f.PcCollectionFactory.create(tenant=world_a.tenant, pc=world_a.pcs[1], month=dt.date(2024, 12, 1))
    before = rows(world_a)
    data = csv_bytes(
        "pc,month,amount",
        f"{name(world_a, 0)},2025-01,182500.00",  # fine on its own
        f"{name(world_a, 0)},January,100",
        f"{name(world_a, 0)},2025-02,-5",
        f"{name(world_a, 0)},2025-03,12.345",
        f"{name(world_a, 1)},2024-12,100",  # already recorded
        f"{world_a.pcs[0].pk},2025-01,1",  # the first row's PC and month again, by id
        ",2025-04,1",
    )
    result = do_import(as_ctx, world_a, data)
    assert (result.ok, result.created, result.rows_seen) == (False, 0, 7)
    assert result.errors == [
        RowError(3, "month", "Write the month as YYYY-MM, e.g. 2025-03."),
        RowError(4, "amount", "Collections cannot be negative."),
        RowError(5, "amount", "Give the amount in dollars and cents (at most two decimals)."),
        RowError(6, "month", f"{name(world_a, 1)} already has collections for December 2024."),
        RowError(7, "month", f"{name(world_a, 0)} appears twice for January 2025 in this file."),
        RowError(8, "pc", "This field is required."),
    ]
    assert rows(world_a) == before


def test_another_tenants_pc_is_unknown_by_name_and_by_id(world_a: World, world_b: World, as_ctx: Act) -> None:
    before_a, before_b = rows(world_a), rows(world_b)
    data = csv_bytes(
        "pc,month,amount",
        f"{name(world_a, 0)},2025-01,1000",
        f"{name(world_b, 0)},2025-01,1000",
        f"{world_b.pcs[1].pk},2025-01,1000",
    )
    result = do_import(as_ctx, world_a, data)
    assert not result.ok
    assert [(e.row, e.column) for e in result.errors] == [(3, "pc"), (4, "pc")]
    assert (
        result.errors[0].message
        == f"Unknown PC “{name(world_b, 0)}”: not one you may use. Write its name or id."
    )
    assert rows(world_a) == before_a and rows(world_b) == before_b


def test_object_scoped_staff_import_for_their_own_pc_only(world_a: World, as_ctx: Act) -> None:
    # Staff hold the first PC (view and change); a view-only grant on the second does not let them write.
    object_access_grant(
        membership=world_a.members["mso_staff"], obj=world_a.pcs[1], perms=["view_professionalcorporation"]
    )
    refused = do_import(
        as_ctx,
        world_a,
        csv_bytes("pc,month,amount", f"{name(world_a, 0)},2025-01,1", f"{name(world_a, 1)},2025-01,1"),
        "mso_staff",
    )
    assert refused.errors == [RowError(3, "pc", "Your capacity may not record collections for this PC.")]
    assert rows(world_a) == []
    ok = do_import(
        as_ctx, world_a, csv_bytes("pc,month,amount", f"{name(world_a, 0)},2025-01,1"), "mso_staff"
    )
    assert (ok.ok, ok.created) == (True, 1)


def test_the_template_is_an_importable_file_once_the_pc_is_named(world_a: World, as_ctx: Act) -> None:
    template = CollectionImporter.template_csv()
    assert template.splitlines()[0] == "pc,month,amount,currency"
    filled = template.replace("Rivera Medical Corporation", name(world_a, 0))
    result = do_import(as_ctx, world_a, filled.encode("utf-8-sig"))
    assert (result.ok, result.created) == (True, 1)
    assert rows(world_a) == [(name(world_a, 0), dt.date(2025, 3, 1), Decimal("182500.00"), "imported")]
