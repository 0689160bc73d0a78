"""Introspection that sees the app schemas: tables there are named '"schema"."table"' like db_table.

Django's PostgreSQL introspection only lists tables visible on the search_path, so flush (the
teardown of transactional tests) would skip the management/clinical/compliance tables and later
migrations could not find their constraints. Here the table list names them schema-qualified, and
per-table lookups run with the table's schema first on the search_path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.backends.postgresql.introspection import DatabaseIntrospection as PgIntrospection
from django.db.backends.postgresql.introspection import TableInfo

from mso_platform.db.schemas import APP_SCHEMAS, split_table

SCHEMAS = sorted(set(APP_SCHEMAS.values()))


@contextmanager
def _schema_first(cursor: Any, table_name: str) -> Iterator[str]:
    schema, bare = split_table(table_name)
    if schema == "public":
        yield table_name
        return
    cursor.execute("SELECT current_setting('search_path')")
    previous = cursor.fetchone()[0]
    cursor.execute("SELECT set_config('search_path', %s, false)", [f'"{schema}", public'])
    try:
        yield bare
    finally:
        cursor.execute("SELECT set_config('search_path', %s, false)", [previous])


class DatabaseIntrospection(PgIntrospection):
    def get_table_list(self, cursor: Any) -> list[Any]:  # postgresql TableInfo carries a comment
        cursor.execute(
            """
            SELECT
                CASE WHEN n.nspname = ANY(%s) THEN '"' || n.nspname || '"."' || c.relname || '"'
                     ELSE c.relname END,
                CASE WHEN c.relispartition THEN 'p' WHEN c.relkind IN ('m', 'v') THEN 'v' ELSE 't' END,
                obj_description(c.oid, 'pg_class')
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('f', 'm', 'p', 'r', 'v')
              AND (n.nspname = ANY(%s) OR (n.nspname NOT IN ('pg_catalog', 'pg_toast')
                                           AND pg_catalog.pg_table_is_visible(c.oid)))
            """,
            [SCHEMAS, SCHEMAS],
        )
        return [TableInfo(*row) for row in cursor.fetchall() if row[0] not in self.ignored_tables]

    def get_table_description(self, cursor: Any, table_name: str) -> Any:
        with _schema_first(cursor, table_name) as bare:
            return super().get_table_description(cursor, bare)

    def get_sequences(self, cursor: Any, table_name: str, table_fields: Any = ()) -> Any:
        with _schema_first(cursor, table_name) as bare:
            sequences = super().get_sequences(cursor, bare, table_fields)
        return [{**s, "table": table_name} for s in sequences]

    def get_relations(self, cursor: Any, table_name: str) -> Any:
        with _schema_first(cursor, table_name) as bare:
            return super().get_relations(cursor, bare)

    def get_constraints(self, cursor: Any, table_name: str) -> Any:
        with _schema_first(cursor, table_name) as bare:
            return super().get_constraints(cursor, bare)
