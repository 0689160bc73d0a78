"""PostgreSQL itself refuses every clinical table to the business role (raw SQL, no ORM scoping).

One case per model of the clinical app, so a new clinical model is covered the day it exists. The
auditor and gateway roles are refused too; the clinical role, the control, reads its tenant's rows.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, models, transaction

from mso_platform.db import boundary
from tests.worlds import World

pytestmark = pytest.mark.django_db

CLINICAL_MODELS = sorted(apps.get_app_config("clinical").get_models(), key=lambda m: m.__name__)
NON_CLINICAL_ROLES = [boundary.BUSINESS_ROLE, boundary.AUDITOR_ROLE, boundary.GATEWAY_ROLE]


def as_role(role: str, tenant_id: object) -> None:
    with connection.cursor() as cur:
        cur.execute(f"SET LOCAL ROLE {role}")
        cur.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id)])


def refused(sql: str) -> str:
    """Run `sql` in a savepoint; it must be refused by PostgreSQL. Returns the error text."""
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql)
    return str(caught.value)


def test_every_clinical_model_lives_in_schema_clinical() -> None:
    assert len(CLINICAL_MODELS) >= 14
    for model in CLINICAL_MODELS:
        assert model._meta.db_table.startswith('"clinical".'), model


@pytest.mark.parametrize("model", CLINICAL_MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("role", NON_CLINICAL_ROLES)
def test_non_clinical_roles_are_refused_every_clinical_table(
    model: type[models.Model], role: str, domain_a: World
) -> None:
    table = model._meta.db_table
    as_role(role, domain_a.tenant.pk)
    for sql in (
        f"SELECT count(*) FROM {table}",  # table names come from the models
        f"SELECT id FROM {table} WHERE tenant_id = '{domain_a.tenant.pk}'",
        f"UPDATE {table} SET tenant_id = tenant_id",
        f"DELETE FROM {table}",
        f"INSERT INTO {table} (id, tenant_id) VALUES (gen_random_uuid(), '{domain_a.tenant.pk}')",
    ):
        assert "permission denied for schema clinical" in refused(sql), (role, sql)


@pytest.mark.parametrize("model", CLINICAL_MODELS, ids=lambda m: m.__name__)
def test_the_clinical_role_reads_its_tenants_rows_of_every_clinical_table(
    model: type[models.Model], domain_a: World, domain_b: World
) -> None:
    """The control: the refusals above are about the role, not empty or missing tables."""
    expected = model._default_manager.filter(tenant=domain_a.tenant).count()
    assert expected > 0, model
    as_role(boundary.CLINICAL_ROLE, domain_a.tenant.pk)
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {model._meta.db_table}")  # RLS: tenant A only
        assert cur.fetchone()[0] == expected
