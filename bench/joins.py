#!/usr/bin/env python3
"""Join floor: what the bare joins the treatment rules need cost, against the scans of their tables.

    .venv/bin/python bench/joins.py [--db bench_audit]

Reads the data set that ``bench/audit.py --keep`` left in its database (run that first) and, as the
table owner:

1. Times the bare ``count(*)`` of each table involved, as ``bench/audit.py`` times its floor
   (median of 5 after a warm-up, the server's default parallel workers), next to each join that
   reads it: 3 rounds of scans and joins alternated, medians of the rounds (this machine's speed
   drifts by a fifth within minutes).
2. Times the bare joins the heaviest treatment rules rest on, with nothing else of the rule: the
   treatment's location and performer (GFE-001, DEL-00x: state and licence), its chart (CHT-002,
   DEL-002: the PC), a good-faith exam of the chart (GFE-001), then one inside its validity
   window, and a consent of the chart (CON-001), then one for the procedure signed before the
   treatment. Each as ``count(*)``, timed the same way, and divided by
   the floor of its tables (the sum the audit's "within 3x" target counts): what such a rule costs
   PostgreSQL before its own conditions, its other joins and its findings. The treatments alone,
   without a join, are the reference row.
3. Times the same joins for 1 treatment in 100 (random ones of the last 14 days, the realistic
   day of ``bench/audit.py``), fetched by key as a narrowed change run fetches them (one ``uuid[]``
   literal), against the whole join, both without parallel workers so that the share compares
   the work and not how it is spread: the share of the whole and the cost per treatment, against
   the 5% the incremental target allows for 1% of the rows.

Prints figures; asserts nothing. Exit status 0; 2 when there is no kept data set.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(ROOT))

from bench.audit import (  # noqa: E402
    CHANGE_SHARE,
    RECENT_DAYS,
    TARGET_FLOOR_RATIO,
    TARGET_INCREMENTAL_SHARE,
    floor_scans,
    kept_data_set,
    setup_django,
    warm_median,
)
from bench.load import SetupError, admin_connection, say, server_url, with_database  # noqa: E402

# As the models name them (db_table), so that floor_scans counts the tenant's rows of each.
TREATMENT = '"clinical"."treatment"'
EXAM = '"clinical"."good_faith_exam"'
CONSENT = '"clinical"."signed_consent"'
FORM = '"clinical"."consent_form_version"'
CHART = '"clinical"."patient_chart"'
LOCATION = '"management"."location"'
PROVIDER = '"management"."provider"'


@dataclass(frozen=True)
class Join:
    name: str
    rules: str
    tables: tuple[str, ...]
    sql: str  # count(*) of the join; %(t)s the tenant, {keyed} where the keyed run adds its filter


JOINS = (
    Join(
        "the treatments alone (no join)",
        "every treatment rule",
        (TREATMENT,),
        f"SELECT count(*) FROM {TREATMENT} t WHERE t.tenant_id = %(t)s {{keyed}}",
    ),
    Join(
        "treatment -> location, performer (inner)",
        "GFE-001, DEL-001/2/3",
        (TREATMENT, LOCATION, PROVIDER),
        f"SELECT count(*) FROM {TREATMENT} t JOIN {LOCATION} l ON l.id = t.location_id "
        f"JOIN {PROVIDER} p ON p.id = t.performer_id "
        "WHERE t.tenant_id = %(t)s AND l.tenant_id = %(t)s AND p.tenant_id = %(t)s {keyed}",
    ),
    Join(
        "treatment -> its chart (inner)",
        "CHT-002, DEL-002",
        (TREATMENT, CHART),
        f"SELECT count(*) FROM {TREATMENT} t JOIN {CHART} c ON c.id = t.chart_id "
        "WHERE t.tenant_id = %(t)s AND c.tenant_id = %(t)s {keyed}",
    ),
    Join(
        "no exam of the chart (anti)",
        "GFE-001",
        (TREATMENT, EXAM),
        f"SELECT count(*) FROM {TREATMENT} t WHERE t.tenant_id = %(t)s {{keyed}} AND NOT EXISTS "
        f"(SELECT 1 FROM {EXAM} e WHERE e.tenant_id = %(t)s AND e.chart_id = t.chart_id)",
    ),
    Join(
        "no exam valid on the day (anti)",
        "GFE-001",
        (TREATMENT, EXAM),
        f"SELECT count(*) FROM {TREATMENT} t WHERE t.tenant_id = %(t)s {{keyed}} AND NOT EXISTS "
        f"(SELECT 1 FROM {EXAM} e WHERE e.tenant_id = %(t)s AND e.chart_id = t.chart_id "
        "AND e.examined_on <= t.performed_at::date AND t.performed_at::date < e.valid_until)",
    ),
    Join(
        "no consent of the chart (anti)",
        "CON-001",
        (TREATMENT, CONSENT),
        f"SELECT count(*) FROM {TREATMENT} t WHERE t.tenant_id = %(t)s {{keyed}} AND NOT EXISTS "
        f"(SELECT 1 FROM {CONSENT} s WHERE s.tenant_id = %(t)s AND s.chart_id = t.chart_id)",
    ),
    Join(
        "no consent for it signed before (anti)",
        "CON-001",
        (TREATMENT, CONSENT, FORM),
        f"SELECT count(*) FROM {TREATMENT} t WHERE t.tenant_id = %(t)s {{keyed}} AND NOT EXISTS "
        f"(SELECT 1 FROM {CONSENT} s JOIN {FORM} v ON v.id = s.form_version_id "
        "WHERE s.tenant_id = %(t)s AND s.chart_id = t.chart_id AND v.procedure = t.procedure "
        "AND s.signed_at <= t.performed_at)",
    ),
)
KEYED = "AND t.id = ANY(%(ids)s::uuid[])"
ROUNDS = 3


@dataclass(frozen=True)
class Measured:
    join: Join
    floor: float  # seconds: count(*) of each of its tables, summed (medians of the rounds, all four)
    whole: float  # the whole join, with the server's parallel workers (as the floor)
    one_core: float  # the whole join without parallel workers
    keyed: float  # the join for the keyed treatments alone, without parallel workers


def kept_tenant(name: str) -> tuple[str, str]:
    url = server_url()
    with admin_connection(url) as conn, conn.cursor() as cur:
        kept = kept_data_set(cur, name)
    if kept is None:
        raise SetupError(f"no complete data set in database {name}: run bench/audit.py --keep first")
    return with_database(url, name), kept[1]


def measure_round(cur: Any, join: Join, tenant_id: str, args: dict[str, Any]) -> tuple[float, ...]:
    """One round for `join`: the floor of its tables, then the join whole, on one core and keyed.
    The machine's speed drifts by a fifth within minutes; a floor timed next to its join shares it."""
    from compliance.engine import NARROWED_RANDOM_PAGE_COST

    floor = sum(seconds for seconds, _ in floor_scans(tenant_id, set(join.tables)).values())
    whole, _ = warm_median(cur, join.sql.format(keyed=""), args)
    cur.execute("SET max_parallel_workers_per_gather = 0")
    one_core, _ = warm_median(cur, join.sql.format(keyed=""), args)
    cur.execute(f"SET random_page_cost = {NARROWED_RANDOM_PAGE_COST}")
    keyed, _ = warm_median(cur, join.sql.format(keyed=KEYED), args)
    cur.execute("RESET max_parallel_workers_per_gather")
    cur.execute("RESET random_page_cost")
    return floor, whole, one_core, keyed


def measure(tenant_id: str) -> None:
    from django.apps import apps
    from django.db import connection

    from compliance.registry import uuid_array

    tables = {t for j in JOINS for t in j.tables}
    unknown = tables - {m._meta.db_table for m in apps.get_models()}
    if unknown:  # floor_scans would count every tenant's rows of them, without the tenant filter
        raise SetupError(f"not the db_table of a model: {', '.join(sorted(unknown))}")
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT array_agg(id::text) FROM (SELECT id FROM {TREATMENT} WHERE tenant_id = %s "
            f"AND performed_at >= now() - interval '{RECENT_DAYS} days' ORDER BY random() "
            f"LIMIT (SELECT count(*) / {CHANGE_SHARE} FROM {TREATMENT} WHERE tenant_id = %s)) s",
            [tenant_id, tenant_id],
        )
        ids: list[str] = cur.fetchone()[0] or []
    # As a narrowed run passes them: one uuid[] literal (compliance.registry.uuid_array).
    args: dict[str, Any] = {"t": tenant_id, "ids": uuid_array(ids)}
    rows = []
    with connection.cursor() as cur:
        for join in JOINS:
            say(f"{join.name}: {ROUNDS} rounds of its tables' scans and the join, alternated")
            rounds = [measure_round(cur, join, tenant_id, args) for _ in range(ROUNDS)]
            rows.append(Measured(join, *(statistics.median(r[i] for r in rounds) for i in range(4))))
    scans = floor_scans(tenant_id, tables)
    report(tenant_id, scans, rows, len(ids))


def report(tenant_id: str, scans: dict[str, tuple[float, int]], rows: list[Measured], keyed: int) -> None:
    treatments = scans[TREATMENT][1]
    print(f"\nJoin floor on the kept data set of tenant {tenant_id} ({treatments:,} treatments)")
    print(f"{'table':36s} {'rows':>10s} {'count(*) ms':>12s}")
    for table in sorted(scans):
        print(f"{table:36s} {scans[table][1]:>10,} {scans[table][0] * 1000:>12.1f}")
    print(
        f"\n{'bare join (count(*))':40s} {'rules':26s} {'floor ms':>9s} {'join ms':>8s} {'x floor':>8s}"
        f" {'1 core ms':>10s} {'1% keyed ms':>12s} {'share':>6s} {'us/row whole':>13s} {'us/row keyed':>13s}"
    )
    for m in rows:
        print(
            f"{m.join.name:40s} {m.join.rules:26s} {m.floor * 1000:>9.1f} {m.whole * 1000:>8.0f}"
            f" {m.whole / m.floor:>7.1f}x {m.one_core * 1000:>10.0f} {m.keyed * 1000:>12.1f}"
            f" {m.keyed / m.one_core:>6.1%} {m.one_core * 1e6 / treatments:>13.2f}"
            f" {m.keyed * 1e6 / max(keyed, 1):>13.2f}"
        )
    alone, joins = rows[0], rows[1:]
    ratios = [m.whole / m.floor for m in joins]
    shares = [m.keyed / m.one_core for m in joins]
    print(
        f"\nbare joins / the floor of their tables: {min(ratios):.1f}x to {max(ratios):.1f}x "
        f"(the full audit's target: {TARGET_FLOOR_RATIO:g}x its floor)"
    )
    print(
        f"{keyed:,} treatments (1 in {CHANGE_SHARE}) fetched by key: {alone.keyed / alone.one_core:.1%} of "
        f"scanning all of them; the joins for them: {min(shares):.1%} to {max(shares):.1%} of the whole join "
        f"(one core; the incremental target: {TARGET_INCREMENTAL_SHARE:.0%})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--db", default="bench_audit", help="the database bench/audit.py --keep left (default bench_audit)"
    )
    args = parser.parse_args(argv)
    try:
        url, tenant_id = kept_tenant(args.db)
        setup_django(url)
        measure(tenant_id)
    except SetupError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
