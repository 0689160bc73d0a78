"""PostgreSQL backend whose schema editor builds the CPOM boundary as migrations create tables.

Use as ``ENGINE = "mso_platform.db.backend"``. Creating a model's table also creates its schema,
grants the runtime roles what ``boundary.py`` says, and for tenant-owned tables enables and forces
row-level security and attaches the write-audit trigger. No hand-made SQL step.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base
from django.db.backends.postgresql.schema import DatabaseSchemaEditor as PgSchemaEditor

from mso_platform.db import boundary
from mso_platform.db.backend.introspection import DatabaseIntrospection
from mso_platform.db.schemas import APP_SCHEMAS, split_table


class DatabaseSchemaEditor(PgSchemaEditor):
    _prerequisites_done = False

    def _ensure_prerequisites(self) -> None:
        # Roles are cluster-wide, functions per database; both are idempotent, so once per editor.
        if self._prerequisites_done:
            return
        self.execute(boundary.ROLES_SQL, None)
        self.execute(boundary.AUDIT_FUNCTIONS_SQL, None)
        # All app schemas and their USAGE grants exist from the first migrate, tables or not.
        for schema in sorted(set(APP_SCHEMAS.values())):
            for stmt in boundary.schema_sql(schema):
                self.execute(stmt)
        self._prerequisites_done = True

    def create_model(self, model: Any) -> None:
        self._ensure_prerequisites()
        schema, table = split_table(model._meta.db_table)
        if schema != "public":
            for stmt in boundary.schema_sql(schema):
                self.execute(stmt)
        super().create_model(model)
        for stmt in boundary.table_grants_sql(schema, table) + boundary.reviewed_content_sql(schema, table):
            self.execute(stmt)
        if any(f.column == "tenant_id" for f in model._meta.local_fields):
            self._isolate(model)

    def add_field(self, model: Any, field: Any) -> None:
        super().add_field(model, field)
        # Migrations may add the tenant FK after creating the table (dependency ordering).
        if getattr(field, "column", None) == "tenant_id":
            self._isolate(model)

    def _isolate(self, model: Any) -> None:
        self._ensure_prerequisites()
        for stmt in boundary.tenant_isolation_sql(*split_table(model._meta.db_table)):
            self.execute(stmt)


class DatabaseWrapper(base.DatabaseWrapper):
    SchemaEditorClass = DatabaseSchemaEditor
    introspection_class = DatabaseIntrospection

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Names of the statements prepared on the current connection (mso_platform.db.prepared).
        self.prepared_statements: set[str] = set()

    def get_new_connection(self, conn_params: Any) -> Any:
        # A new session has no prepared statement, whatever the last one had.
        self.prepared_statements = set()
        return super().get_new_connection(conn_params)
