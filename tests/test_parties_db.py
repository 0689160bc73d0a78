"""The parties' tables at the database level (raw SQL, no ORM scoping): PostgreSQL refuses writes by
the roles that only read business records (the PC's clinical role, the auditor) and row-level
security shows each tenant its own rows only, whatever the Python code above it does."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import Model

from management.models import (
    BankAccount,
    Equipment,
    EquipmentService,
    FictitiousNamePermit,
    Lease,
    Location,
    MedicalWasteRegistration,
    MsoEntity,
    ProfessionalCorporation,
    Shareholder,
)
from mso_platform.db import boundary
from tests.worlds import World

pytestmark = pytest.mark.django_db

MODELS = [
    MsoEntity,
    ProfessionalCorporation,
    Shareholder,
    FictitiousNamePermit,
    BankAccount,
    Location,
    Lease,
    Equipment,
    EquipmentService,
    MedicalWasteRegistration,
]


def as_role(role: str, tenant_id: object) -> None:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT set_config('role', %s, true), set_config('app.tenant_id', %s, true)",
            [role, str(tenant_id)],
        )


def scalar(sql: str) -> object:
    with connection.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def execute(sql: str) -> None:
    with connection.cursor() as cur:
        cur.execute(sql)


@pytest.mark.parametrize("role", [boundary.CLINICAL_ROLE, boundary.AUDITOR_ROLE])
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_read_only_roles_are_refused_writes_by_postgresql(
    domain_a: World, role: str, model: type[Model]
) -> None:
    table = model._meta.db_table
    rows = model._default_manager.filter(tenant=domain_a.tenant).count()
    assert rows
    as_role(role, domain_a.tenant.pk)
    # they read it (a PC's physician sees the locations and PCs its work needs) …
    assert scalar(f"SELECT count(*) FROM {table}") == rows
    # … and PostgreSQL refuses any write, whatever a service or view might try
    for statement in (
        f"UPDATE {table} SET tenant_id = tenant_id",
        f"DELETE FROM {table}",
        f"INSERT INTO {table} SELECT * FROM {table} LIMIT 0",
    ):
        with pytest.raises(DatabaseError, match="permission denied for table"), transaction.atomic():
            execute(statement)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_business_role_sees_only_its_tenants_rows_in_raw_sql(
    domain_a: World, domain_b: World, model: type[Model]
) -> None:
    table = model._meta.db_table
    own = model._default_manager.filter(tenant=domain_a.tenant).count()
    assert own and model._default_manager.filter(tenant=domain_b.tenant).count()
    as_role(boundary.BUSINESS_ROLE, domain_a.tenant.pk)
    assert scalar(f"SELECT count(*) FROM {table}") == own
    assert scalar(f"SELECT count(*) FROM {table} WHERE tenant_id = '{domain_b.tenant.pk}'") == 0
