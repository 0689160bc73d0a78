"""OpenAPI-driven fuzz run (issue 5): schemathesis against the live app, with real keys of a seeded tenant.

The schema is fetched over HTTP from the running server, as a client would, and every operation in
it is fuzzed with a business key and a clinical key, with schema-valid (positive) and schema-breaking
(negative) inputs. Every response must be no 5xx, a status the schema documents for the operation,
and a body that matches the documented schema.

Half the time a detail operation is aimed at an id that exists, and a body is given references
that fit together (a location's entity and PC), both found by listing the collections with the same
keys: so updates, creates and revokes reach the services and the database, not only the serializers.

Bounded and reproducible: a fixed number of examples per operation and mode, ``derandomize`` (the
same inputs on every run, so CI cannot flake on a lucky draw), no deadline, no example database.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from django.urls import resolve
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tenants.access import AccessContext
from tenants.capacities import Side
from tenants.services import api_key_create
from tests.worlds import build_world

pytestmark = pytest.mark.django_db(transaction=True)

# Hypothesis keeps caches (no example database: see FUZZ_SETTINGS) with pytest's, not in the checkout.
set_hypothesis_home_dir(Path(__file__).resolve().parent.parent / ".pytest_cache" / "hypothesis")

# Bounded: about 200 operations, 6 examples each, keeps the run under a minute on 2 cores.
EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 4, schemathesis.GenerationMode.NEGATIVE: 2}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
DETAIL = re.compile(r"^(?P<collection>.*/)\{id\}/")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    # No shrinking: a failure is reported with the input that found it, and the run stays short.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@dataclass
class Target:
    base_url: str
    keys: list[str]  # raw keys the run authenticates with
    key_ids: set[str]  # their ids: never revoked by the run, or the run would lock itself out
    references: list[dict[str, str]] = field(default_factory=list)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)

    def rows(self, collection: str) -> list[dict[str, Any]]:
        """The rows the keys can list in `collection`."""
        found: list[dict[str, Any]] = []
        for raw in self.keys:
            headers = {"Authorization": f"Api-Key {raw}"}
            response = requests.get(self.base_url + collection, headers=headers, timeout=10)
            if response.status_code == 200:
                found += response.json()["results"]
        return found


def reference_sets(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """From each listed row, its references (id-valued fields other than its own id), kept together.

    A location row's (managing_entity, pc) or a chart row's (pc, home_location) fit one another, so a
    body given them can get past validation and reach the service and the database.
    """
    found: list[dict[str, str]] = []
    for row in rows:
        refs = {k: v for k, v in row.items() if k != "id" and isinstance(v, str) and UUID.fullmatch(v)}
        if refs and refs not in found:
            found.append(refs)
    return found


def fuzz(target: Target, operation: Any, mode: schemathesis.GenerationMode, examples: int) -> None:
    """Run one operation's examples in one generation mode; raises on the first failing check."""
    detail = DETAIL.match(operation.path)
    ids = sorted({row["id"] for row in target.rows(detail["collection"])} - target.key_ids) if detail else []
    counts = target.statuses.setdefault(operation.label, Counter())

    @settings(FUZZ_SETTINGS, max_examples=examples)
    @given(
        case=operation.as_strategy(generation_mode=mode),
        raw_key=st.sampled_from(target.keys),
        real_id=st.sampled_from([None, *ids]),
        refs=st.sampled_from([None, *target.references]),
    )
    def run(case: schemathesis.Case, raw_key: str, real_id: str | None, refs: dict[str, str] | None) -> None:
        if real_id is not None and "id" in (case.path_parameters or {}):
            case.path_parameters = {**(case.path_parameters or {}), "id": real_id}
        if refs is not None and isinstance(case.body, dict):
            case.body = {**case.body, **{k: v for k, v in refs.items() if k in case.body}}
        response = case.call_and_validate(
            base_url=target.base_url,
            headers={"Authorization": f"Api-Key {raw_key}"},
            checks=CHECKS,
            timeout=10,
        )
        counts[response.status_code] += 1

    run()


def test_schema_driven_fuzz_finds_no_server_error_and_no_schema_mismatch(live_server: Any) -> None:
    world = build_world("fuzz", domain=True)  # every record of every area: real ids to aim at
    target = Target(base_url=live_server.url, keys=[], key_ids=set())
    for capacity in ("mso_admin", "pc_physician"):  # a business key and a clinical key
        ctx = AccessContext.for_membership(world.members[capacity], via="api")
        key, raw = api_key_create(ctx=ctx, name=f"fuzz {capacity}")
        target.keys.append(raw)
        target.key_ids.add(str(key.pk))
        api_key_create(ctx=ctx, name=f"spare {capacity}")  # something real for revoke to hit

    schema = schemathesis.openapi.from_url(f"{target.base_url}/api/v1/schema/", timeout=10)
    collections = sorted(p for p in schema.raw_schema["paths"] if not DETAIL.match(p) and p != "/api/v1/me/")
    target.references = reference_sets([row for c in collections for row in target.rows(c)])
    assert target.references, "no listed row carries references: is the world empty?"

    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the schema has an operation schemathesis cannot read: {result.err()}")
            continue
        operation = result.ok()
        operations += 1
        for mode, examples in EXAMPLES.items():
            try:
                fuzz(target, operation, mode, examples)
            except (Exception, BaseExceptionGroup) as exc:  # report every operation's failure at once
                failures.append(f"{operation.label} [{mode.value}]: {exc}")

    calls = sum(sum(c.values()) for c in target.statuses.values())
    assert operations >= 20, "the schema lost its operations"
    # hypothesis may stop early when an operation's inputs run out (an endpoint without parameters)
    assert calls >= operations * sum(EXAMPLES.values()) * 3 // 4, (calls, operations)
    assert not failures, "\n\n".join(failures)
    # The run reached real data: writes succeeded on many operations, business and clinical, not only
    # refusals. (With 4 schema-valid bodies per operation most writes are refused by the services'
    # own validation, e.g. an end before a start: a fifth succeeding is the measured floor.)
    writes = {label for label in target.statuses if not label.startswith("GET ")}
    reached = {label for label in writes if target.statuses[label][200] or target.statuses[label][201]}
    assert len(reached) >= len(writes) // 5, sorted(reached)
    assert {Side.BUSINESS, Side.CLINICAL} <= {side_of(label) for label in reached}, sorted(reached)


def side_of(label: str) -> Side | None:
    """The side of the boundary an operation ("PATCH /api/v1/treatments/{id}/") writes to (None for
    the caller's own API keys, which are not domain data)."""
    path = label.split(" ", 1)[1].replace("{id}", "00000000-0000-0000-0000-000000000000")
    model = resolve(path).func.cls.queryset.model  # type: ignore[attr-defined]
    policy = getattr(model, "access", None)
    return Side(policy.side) if policy is not None else None
