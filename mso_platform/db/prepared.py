"""Server-side prepared statements for the lookups every request runs.

The API key lookup (a join of four tables) and the grant lookup of ``granted_scope`` each took
PostgreSQL about 0.35-0.45 ms to plan and 0.06-0.11 ms to run, on every request (bench/README.md).
``execute_prepared`` sends such a statement once per database connection as ``PREPARE`` and then
only ``EXECUTE``: after its first five runs PostgreSQL keeps a generic plan and stops planning it.

What PostgreSQL guarantees, and this relies on:
- a prepared statement lives as long as its connection, whatever happens to transactions (a
  ``PREPARE`` is not undone by a rollback, nor by a later error in the same transaction);
- privileges are checked at every ``EXECUTE``, against the role of that moment;
- a plan that depends on row-level security is planned again when run as another role, and any
  plan is planned again after a change to a table it reads (DDL, ``ANALYZE``), so a prepared
  statement never answers with another role's rows or a stale table's layout.

A connection pooler in transaction mode (pgbouncer) would hand the statement's name to other
sessions; the product connects to PostgreSQL directly (docker-compose.yml, the embedded server).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from typing import Any


@functools.cache
def prepared_form(sql: str) -> tuple[str, str, int]:
    """The statement's name, its text with ``$n`` parameters, and how many it takes.

    `sql` is written for the driver, with ``%s`` placeholders. The name comes from the text, so a
    statement whose text changes (a new release) is prepared anew under a new name. Cached: the few
    statements prepared are run on every request, and their hash need not be taken each time.
    """
    pieces = sql.split("%s")
    if any("%" in piece for piece in pieces):
        raise ValueError("a prepared statement takes %s placeholders and no other % sign")
    body = pieces[0] + "".join(f"${n}{piece}" for n, piece in enumerate(pieces[1:], start=1))
    name = "mso_" + hashlib.sha256(sql.encode()).hexdigest()[:20]
    return name, body, len(pieces) - 1


def prepare(cursor: Any, sql: str) -> tuple[str, int]:
    """Prepare `sql` on the cursor's connection unless it is already: its name and parameter count.

    The ``PREPARE`` goes in a round trip of its own, the first time on each connection, and the
    name is remembered only once it succeeded: a failed ``PREPARE`` (an aborted transaction, a
    missing privilege) is simply tried again next time. It passes through the connection's execute
    wrappers like any other statement.
    """
    name, body, count = prepared_form(sql)
    done: set[str] = cursor.db.prepared_statements
    if name not in done:
        cursor.execute(f"PREPARE {name} AS {body}")
        done.add(name)
    return name, count


def execute_sql(name: str, count: int) -> str:
    """The ``EXECUTE`` of a prepared statement, with ``%s`` for its parameters."""
    return f"EXECUTE {name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"


def execute_prepared(cursor: Any, sql: str, params: Sequence[Any]) -> None:
    """Run `sql` on the Django cursor as a statement prepared once per connection."""
    name, count = prepare(cursor, sql)
    if len(params) != count:
        raise ValueError(f"the statement takes {count} parameters, {len(params)} were given")
    cursor.execute(execute_sql(name, count), params)
