"""Layers 1 and 2 of the boundary, proven by PostgreSQL itself (raw SQL, no ORM scoping)."""

from __future__ import annotations

import threading
import uuid

import psycopg2
import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from mso_platform.db import boundary
from mso_platform.db.schemas import schema_of, split_table
from tests.worlds import World

pytestmark = pytest.mark.django_db


def tenant_owned_tables() -> list[str]:
    return sorted(
        m._meta.db_table
        for m in apps.get_models(include_auto_created=True)
        if any(f.column == "tenant_id" for f in m._meta.local_fields)
    )


def as_role(role: str, tenant_id: object | None = None) -> None:
    with connection.cursor() as cur:
        cur.execute(f"SET LOCAL ROLE {role}")
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id) if tenant_id else ""])


def scalar(sql: str) -> object:
    with connection.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_business_role_is_refused_clinical_tables_by_postgresql(world_a: World) -> None:
    as_role(boundary.BUSINESS_ROLE, world_a.tenant.pk)
    with pytest.raises(DatabaseError, match="permission denied for schema clinical"):
        with transaction.atomic():
            scalar('SELECT count(*) FROM "clinical"."patient_chart"')


@pytest.mark.parametrize("role", [boundary.BUSINESS_ROLE, boundary.AUDITOR_ROLE, boundary.GATEWAY_ROLE])
def test_no_non_clinical_role_has_any_privilege_on_schema_clinical(role: str) -> None:
    assert scalar(f"SELECT has_schema_privilege('{role}', 'clinical', 'USAGE')") is False
    for table in [t for t in tenant_owned_tables() if t.startswith('"clinical"')]:
        for priv in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            assert scalar(f"SELECT has_table_privilege('{role}', '{table}', '{priv}')") is False, (
                table,
                priv,
            )


def test_clinical_role_reads_its_tenant_charts(world_a: World) -> None:
    as_role(boundary.CLINICAL_ROLE, world_a.tenant.pk)
    assert scalar('SELECT count(*) FROM "clinical"."patient_chart"') == len(world_a.charts)


def test_rls_hides_other_tenant_rows_from_raw_sql_on_every_tenant_table(
    world_a: World, world_b: World
) -> None:
    tables = tenant_owned_tables()
    assert len(tables) >= 8
    as_role(boundary.CLINICAL_ROLE, world_a.tenant.pk)
    for table in tables:
        schema, _ = split_table(table)
        if schema == "public" and table != "tenants_membership":
            continue  # public tenant tables are checked below with their own roles
        if not scalar(f"SELECT has_table_privilege('{boundary.CLINICAL_ROLE}', '{table}', 'SELECT')"):
            continue
        other = scalar(f"SELECT count(*) FROM {table} WHERE tenant_id = '{world_b.tenant.pk}'")
        assert other == 0, table
    # and world B's rows do exist: the zero above is RLS, not an empty table
    as_role(boundary.CLINICAL_ROLE, world_b.tenant.pk)
    assert scalar('SELECT count(*) FROM "clinical"."patient_chart"') == len(world_b.charts)


def test_rls_refuses_writing_a_row_into_another_tenant(world_a: World, world_b: World) -> None:
    as_role(boundary.BUSINESS_ROLE, world_a.tenant.pk)
    with pytest.raises(DatabaseError, match="row-level security"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                'INSERT INTO "management"."mso_entity" (id, tenant_id, legal_name, state, entity_type) '
                "VALUES (gen_random_uuid(), %s, 'Smuggled LLC', 'CA', 'LLC')",
                [str(world_b.tenant.pk)],
            )


def test_with_no_tenant_set_runtime_roles_count_zero_rows(world_a: World) -> None:
    for role, table in [
        (boundary.BUSINESS_ROLE, '"management"."location"'),
        (boundary.CLINICAL_ROLE, '"clinical"."patient_chart"'),
        (boundary.AUDITOR_ROLE, '"management"."professional_corporation"'),
        (boundary.GATEWAY_ROLE, "tenants_membership"),
    ]:
        with transaction.atomic():
            as_role(role)
            assert scalar(f"SELECT count(*) FROM {table}") == 0, (role, table)


def test_catalog_every_tenant_owned_table_has_rls_enabled_forced_and_a_policy() -> None:
    tables = tenant_owned_tables()
    for table in tables:
        schema, name = split_table(table)
        row = None
        with connection.cursor() as cur:
            cur.execute(
                "SELECT c.relrowsecurity, c.relforcerowsecurity, "
                "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s",
                [schema, name],
            )
            row = cur.fetchone()
        assert row == (True, True, 1), table


def test_catalog_runtime_roles_cannot_bypass_rls_or_own_tables() -> None:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT rolname, rolsuper, rolbypassrls, rolcanlogin, rolinherit "
            "FROM pg_roles WHERE rolname = ANY(%s)",
            [list(boundary.RUNTIME_ROLES)],
        )
        rows = cur.fetchall()
        assert sorted(r[0] for r in rows) == sorted(boundary.RUNTIME_ROLES)
        assert all(r[1:] == (False, False, False, False) for r in rows), rows
        cur.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = ANY(%s)",
            [list(boundary.RUNTIME_ROLES)],
        )
        assert cur.fetchone()[0] == 0


def test_each_app_keeps_its_tables_in_its_own_schema() -> None:
    for model in apps.get_models(include_auto_created=True):
        schema, _ = split_table(model._meta.db_table)
        expected = schema_of(model._meta.label, model._meta.app_label)
        assert schema == expected, model


def test_no_view_owned_by_the_owner_exposes_clinical_rows_to_business() -> None:
    # DESIGN pitfall: views run with their owner's rights unless security_invoker.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT n.nspname || '.' || c.relname "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('v', 'm') AND n.nspname IN ('public', 'management', 'compliance') "
            "AND has_table_privilege(%s, c.oid, 'SELECT') "
            "AND NOT coalesce('security_invoker=true' = ANY(c.reloptions), false)",
            [boundary.BUSINESS_ROLE],
        )
        assert cur.fetchall() == []


def test_every_write_is_audited_by_the_database_even_bulk_updates(world_a: World) -> None:
    from management.models import Location
    from tenants.models import AuditLogEntry

    before = AuditLogEntry.objects.filter(tenant=world_a.tenant, object_type="management.location").count()
    as_role(boundary.BUSINESS_ROLE, world_a.tenant.pk)
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('app.capacity', 'mso_admin', true)")
    Location.objects.filter(tenant=world_a.tenant).update(city="Irvine")  # bulk: no signals fire
    as_role(boundary.BUSINESS_ROLE, world_a.tenant.pk)
    entries = AuditLogEntry.objects.filter(
        tenant=world_a.tenant, object_type="management.location", action="update"
    )
    assert entries.count() == len(world_a.locations)
    assert all(e.detail == {"changed": ["city"]} and e.capacity == "mso_admin" for e in entries)
    assert AuditLogEntry.objects.filter(object_type="management.location").count() == before + 2


def test_audit_log_is_append_only_even_for_the_owner(world_a: World) -> None:
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("UPDATE tenants_auditlogentry SET action = 'forged'")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("DELETE FROM tenants_auditlogentry")
    as_role(boundary.BUSINESS_ROLE, world_a.tenant.pk)
    with pytest.raises(DatabaseError, match="permission denied"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("DELETE FROM tenants_auditlogentry")


def test_introspection_sees_app_schema_tables_so_flush_and_later_migrations_work() -> None:
    from copy import copy

    from management.models import Location

    with connection.cursor() as cur:
        names = {t.name for t in connection.introspection.get_table_list(cur)}
        assert {'"clinical"."patient_chart"', '"management"."location"', "tenants_membership"} <= names
        constraints = connection.introspection.get_constraints(cur, '"clinical"."patient_chart"')
    assert any(
        c["unique"] and c["columns"] == ["tenant_id", "medical_record_number"] for c in constraints.values()
    )
    # An AlterField that must find the existing unique constraint by introspection (as a migration would).
    old = Location._meta.get_field("name")
    new = copy(old)
    new.max_length, new._unique = 250, True  # type: ignore[attr-defined]
    with connection.schema_editor() as editor:
        editor.alter_field(Location, old, new)
        editor.alter_field(Location, new, old)
    with connection.cursor() as cur:
        after = connection.introspection.get_constraints(cur, '"management"."location"')
    assert not any(c["unique"] and c["columns"] == ["name"] for c in after.values())


def test_audit_skips_bookkeeping_only_updates_but_keeps_real_ones(world_a: World) -> None:
    from django.utils import timezone

    from tenants.models import ApiKey, AuditLogEntry
    from tenants.services import api_key_create, api_key_revoke

    key, _ = api_key_create(ctx=world_a.ctx("mso_admin"), name="sync")
    updates = AuditLogEntry.objects.filter(object_id=str(key.pk), action="update")
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    assert updates.count() == 0
    api_key_revoke(key=key)
    assert [e.detail for e in updates] == [{"changed": ["revoked_at"]}]
    # A bookkeeping column written together with a real change: logged, naming both.
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now(), name="sync-2")
    assert [e.detail for e in updates.order_by("seq")][1:] == [{"changed": ["last_used_at", "name"]}]


def test_app_schemas_exist_with_usage_only_for_the_roles_the_boundary_names() -> None:
    for schema, grants in boundary.SCHEMA_GRANTS.items():
        assert scalar(f"SELECT count(*) FROM pg_namespace WHERE nspname = '{schema}'") == 1, schema
        for role in boundary.RUNTIME_ROLES:
            usage = scalar(f"SELECT has_schema_privilege('{role}', '{schema}', 'USAGE')")
            assert usage is (role in grants), (schema, role)


def test_two_databases_creating_the_roles_at_once_both_succeed() -> None:
    """Roles are cluster-wide: two migrations on a fresh server (xdist workers) race to create them.

    The first creates the role and has not committed; the second's CREATE ROLE waits on it, then
    would fail on pg_authid's unique index. Both must end with the role created and granted.
    """
    role = f"mso_race_{uuid.uuid4().hex[:8]}"
    sql = boundary.roles_sql([role])
    params = connection.get_connection_params()
    first, second = psycopg2.connect(**params), psycopg2.connect(**params)
    errors: list[BaseException] = []

    def create_after_first() -> None:
        try:
            with second, second.cursor() as cur:  # commits on leaving
                cur.execute(sql)
        except BaseException as exc:  # reported to the test's thread
            errors.append(exc)

    try:
        with first.cursor() as cur:
            cur.execute(sql)  # inside an open transaction: the role is not committed yet
            racer = threading.Thread(target=create_after_first)
            racer.start()
            racer.join(timeout=1)
            assert racer.is_alive(), "the second CREATE ROLE should wait for the first transaction"
        first.commit()
        racer.join(timeout=30)
        assert not racer.is_alive() and errors == []
        with first.cursor() as cur:
            cur.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", [role])
            assert cur.fetchone() == (True,)
    finally:
        first.rollback()
        with first.cursor() as cur:
            cur.execute(f"DROP ROLE IF EXISTS {role}")
        first.commit()
        first.close()
        second.close()
