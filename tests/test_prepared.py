"""Statements prepared once per connection (mso_platform.db.prepared): the same answers as plain
statements, under the role and settings of each run, and never a stale name."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from mso_platform.db.prepared import execute_prepared, prepared_form
from tenants.access import activate, granted_scope, reset_identity
from tenants.capacities import VIEW, Side
from tests.worlds import World


def unique_sql(body: str) -> str:
    """A statement no earlier test prepared on this connection (the name comes from the text)."""
    return f"{body} /* {uuid.uuid4()} */"


def remembered(conn: Any = connection) -> set[str]:
    """The names the connection's wrapper (mso_platform.db.backend) holds as prepared."""
    return set(conn.prepared_statements)


def prepared_names() -> set[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT name FROM pg_prepared_statements")
        return {row[0] for row in cur.fetchall()}


def test_placeholders_become_numbered_parameters() -> None:
    name, body, count = prepared_form("SELECT %s::int + %s::int WHERE %s")
    assert body == "SELECT $1::int + $2::int WHERE $3"
    assert count == 3
    assert name.startswith("mso_")
    assert prepared_form("SELECT %s::int + %s::int WHERE %s")[0] == name
    assert prepared_form("SELECT %s::int - %s::int WHERE %s")[0] != name
    assert prepared_form("SELECT 1")[1:] == ("SELECT 1", 0)


@pytest.mark.parametrize("sql", ["SELECT 'a%%' LIKE %s", "SELECT 100 % 7", "SELECT %(x)s"])
def test_other_percent_signs_are_refused(sql: str) -> None:
    with pytest.raises(ValueError, match="no other % sign"):
        prepared_form(sql)


@pytest.mark.django_db
def test_a_wrong_number_of_parameters_is_refused() -> None:
    with connection.cursor() as cur, pytest.raises(ValueError, match="takes 2 parameters, 1 were given"):
        execute_prepared(cur, unique_sql("SELECT %s::int + %s::int"), [1])


@pytest.mark.django_db
def test_prepared_on_first_run_then_only_executed() -> None:
    sql = unique_sql("SELECT %s::int * %s::int")
    name = prepared_form(sql)[0]
    with CaptureQueriesContext(connection) as first, connection.cursor() as cur:
        execute_prepared(cur, sql, [6, 7])
        assert cur.fetchall() == [(42,)]
    assert [q["sql"].split(" ", 2)[:2] for q in first.captured_queries] == [
        ["PREPARE", name],
        ["EXECUTE", f"{name}(6,"],
    ]
    assert name in prepared_names()
    with CaptureQueriesContext(connection) as later, connection.cursor() as cur:
        for n in range(8):  # past PostgreSQL's five custom plans: the generic plan answers too
            execute_prepared(cur, sql, [n, 3])
            assert cur.fetchall() == [(n * 3,)]
    assert all(q["sql"].startswith(f"EXECUTE {name}(") for q in later.captured_queries)
    assert len(later.captured_queries) == 8


@pytest.mark.django_db
def test_a_statement_outlives_the_rollback_of_the_transaction_that_prepared_it() -> None:
    sql = unique_sql("SELECT %s::text || 'x'")
    with pytest.raises(RuntimeError), transaction.atomic():
        with connection.cursor() as cur:
            execute_prepared(cur, sql, ["a"])
        raise RuntimeError("roll back")
    with CaptureQueriesContext(connection) as after, connection.cursor() as cur:
        execute_prepared(cur, sql, ["b"])
        assert cur.fetchall() == [("bx",)]
    assert [q["sql"].split(" ")[0] for q in after.captured_queries] == ["EXECUTE"]


@pytest.mark.django_db
def test_a_failed_prepare_is_not_remembered_and_is_tried_again() -> None:
    sql = unique_sql("SELECT %s::int + 1")
    name = prepared_form(sql)[0]
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        with pytest.raises(DatabaseError, match="division by zero"):
            cur.execute("SELECT 1 / 0")
        execute_prepared(cur, sql, [1])  # the transaction is aborted: PREPARE fails too
    assert name not in remembered()
    assert name not in prepared_names()
    with connection.cursor() as cur:
        execute_prepared(cur, sql, [1])
        assert cur.fetchall() == [(2,)]
    assert name in remembered()


@pytest.mark.django_db
def test_a_new_connection_prepares_again() -> None:
    other = connections.create_connection("default")
    sql = unique_sql("SELECT %s::int")
    name = prepared_form(sql)[0]
    try:
        for value in (1, 2):
            with other.cursor() as cur:
                execute_prepared(cur, sql, [value])
                assert cur.fetchall() == [(value,)]
            assert remembered(other) == {name}
            other.close()  # the session and its statements are gone; the next cursor opens a new one
    finally:
        other.close()


@pytest.mark.django_db
def test_each_run_reads_under_the_role_and_tenant_of_that_moment(world_a: World, world_b: World) -> None:
    """Prepared and planned as a clinician of one tenant, the count still answers for the tenant set
    at each run, and the business role is refused the clinical table at EXECUTE."""
    sql = unique_sql('SELECT count(*) FROM "clinical"."patient_chart" WHERE %s::int > 0')
    for _ in range(3):  # alternating, past the custom plans: a generic plan keeps no tenant
        for world in (world_a, world_b):
            activate(world.ctx("clinician"))
            with connection.cursor() as cur:
                execute_prepared(cur, sql, [1])
                assert cur.fetchone()[0] == len(world.charts)
            reset_identity()
    activate(world_a.ctx("mso_admin"))
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        with connection.cursor() as cur:
            execute_prepared(cur, sql, [1])
    reset_identity()


@pytest.mark.django_db
def test_granted_scope_answers_each_membership_its_own_grants(world_a: World, world_b: World) -> None:
    """The grant lookup is prepared once and then answers per membership and tenant."""
    for _ in range(4):
        for world in (world_a, world_b):
            for capacity, expected in (("clinician", [world.pcs[0].pk]), ("mso_staff", [world.pcs[0].pk])):
                ctx = world.ctx(capacity)
                activate(ctx)
                side = Side.CLINICAL if capacity == "clinician" else Side.BUSINESS
                assert granted_scope(ctx, "pc", side, VIEW) == expected
                reset_identity()
    activate(world_a.ctx("pc_physician"))
    assert granted_scope(world_a.ctx("pc_physician"), "location", Side.CLINICAL, VIEW) == [
        world_a.locations[0].pk
    ]
    reset_identity()
