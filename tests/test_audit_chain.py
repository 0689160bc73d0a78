"""Tamper evidence: edits, deletions and reordering of audit rows by raw SQL are detected."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from io import StringIO
from itertools import pairwise
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tenants.audit import chain_verify, record_clinical_reads
from tenants.models import AuditLogEntry, time_ordered_uuid
from tests.worlds import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(world_a: World) -> list[AuditLogEntry]:
    rows = list(AuditLogEntry.objects.filter(tenant=world_a.tenant).order_by("seq"))
    assert len(rows) >= 10  # building the world wrote (and the trigger logged) many rows
    return rows


@pytest.fixture
def tamper() -> Iterator[None]:
    """What an attacker with the owner's SQL access would do: lift the append-only trigger first."""
    with connection.cursor() as cur:
        cur.execute("ALTER TABLE tenants_auditlogentry DISABLE TRIGGER append_only")
    yield
    with connection.cursor() as cur:
        cur.execute("ALTER TABLE tenants_auditlogentry ENABLE TRIGGER append_only")


def sql(statement: str, params: list[Any]) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params)


def test_chain_links_each_entry_to_the_previous_one_of_its_tenant(
    world_a: World, world_b: World, entries: list[AuditLogEntry]
) -> None:
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in pairwise(entries))
    assert chain_verify(world_a.tenant.pk) == (len(entries), None)
    assert chain_verify(world_b.tenant.pk)[1] is None


def test_values_given_by_the_app_cannot_forge_the_chain(world_a: World, entries: list[AuditLogEntry]) -> None:
    forged = AuditLogEntry.objects.create(
        tenant=world_a.tenant,
        capacity="x",
        action="forged",
        object_type="t",
        seq=1,
        prev_hash="f" * 64,
        hash="0",
    )
    forged.refresh_from_db()
    assert (forged.seq, forged.prev_hash) == (len(entries) + 1, entries[-1].hash)
    assert chain_verify(world_a.tenant.pk)[1] is None


def test_an_edited_entry_is_detected(world_a: World, entries: list[AuditLogEntry], tamper: None) -> None:
    victim = entries[4]
    sql("UPDATE tenants_auditlogentry SET capacity = 'mso_admin', action = 'read' WHERE id = %s", [victim.pk])
    _, fault = chain_verify(world_a.tenant.pk)
    assert fault is not None
    assert (fault.seq, fault.problem) == (victim.seq, "entry content does not match its hash")


def test_a_deleted_entry_is_detected(world_a: World, entries: list[AuditLogEntry], tamper: None) -> None:
    sql("DELETE FROM tenants_auditlogentry WHERE id = %s", [entries[3].pk])
    _, fault = chain_verify(world_a.tenant.pk)
    assert fault is not None
    assert (fault.seq, fault.problem) == (entries[4].seq, "sequence gap: an entry was removed")


def test_reordered_entries_are_detected(world_a: World, entries: list[AuditLogEntry], tamper: None) -> None:
    a, b = entries[2], entries[6]
    sql("UPDATE tenants_auditlogentry SET seq = -1 WHERE id = %s", [a.pk])
    sql("UPDATE tenants_auditlogentry SET seq = %s WHERE id = %s", [a.seq, b.pk])
    sql("UPDATE tenants_auditlogentry SET seq = %s WHERE id = %s", [b.seq, a.pk])
    _, fault = chain_verify(world_a.tenant.pk)
    assert fault is not None and fault.seq == a.seq


def test_a_rehashed_edit_still_breaks_the_next_link(
    world_a: World, entries: list[AuditLogEntry], tamper: None
) -> None:
    # A forger who recomputes the edited row's own hash still breaks the link to the next row.
    victim = entries[5]
    sql("UPDATE tenants_auditlogentry SET action = 'read' WHERE id = %s", [victim.pk])
    sql(
        "UPDATE tenants_auditlogentry e SET hash = public.mso_audit_entry_hash(e) WHERE id = %s",
        [victim.pk],
    )
    _, fault = chain_verify(world_a.tenant.pk)
    assert fault is not None
    assert (fault.seq, fault.problem) == (entries[6].seq, "link broken: previous entry removed or reordered")


def test_command_reports_the_first_broken_link_and_fails(
    world_a: World, world_b: World, entries: list[AuditLogEntry], tamper: None
) -> None:
    out = StringIO()
    call_command("verify_audit_chain", stdout=out)
    assert f"{world_a.tenant.slug}: {len(entries)} entries, chain intact" in out.getvalue()
    sql("DELETE FROM tenants_auditlogentry WHERE id = %s", [entries[1].pk])
    out = StringIO()
    with pytest.raises(CommandError, match="1 audit chain"):
        call_command("verify_audit_chain", stdout=out)
    assert f"{world_a.tenant.slug}: BROKEN at seq {entries[2].seq}" in out.getvalue()
    assert f"{world_b.tenant.slug}: " in out.getvalue() and "intact" in out.getvalue()
    with pytest.raises(CommandError, match="Unknown tenant"):
        call_command("verify_audit_chain", tenant="nope", stdout=StringIO())


# --- Time-ordered keys (UUID version 7): entries append to the primary-key index ---------------------


def unix_millis(key: uuid.UUID) -> int:
    return key.int >> 80


def test_app_and_trigger_entries_have_time_ordered_keys(world_a: World) -> None:
    before = time.time_ns() // 1_000_000
    keys = [time_ordered_uuid() for _ in range(200)]
    after = time.time_ns() // 1_000_000
    assert all((k.version, k.variant) == (7, uuid.RFC_4122) for k in keys)
    assert all(before <= unix_millis(k) <= after for k in keys)
    assert len(set(keys)) == len(keys)
    # Later keys sort after earlier ones (a millisecond apart at least).
    time.sleep(0.002)
    assert time_ordered_uuid() > max(keys)

    # The row-write trigger's keys, and the app's own entries (a read), are the same kind.
    world_a.locations[0].name = "Renamed for the log"
    world_a.locations[0].save()
    written = AuditLogEntry.objects.filter(tenant=world_a.tenant, action="update").latest("seq")
    record_clinical_reads(world_a.ctx("pc_physician"), [world_a.charts[0]])
    read = AuditLogEntry.objects.filter(tenant=world_a.tenant, action="read").latest("seq")
    for entry in (written, read):
        assert (entry.id.version, entry.id.variant) == (7, uuid.RFC_4122), entry.action
        assert abs(unix_millis(entry.id) - entry.at.timestamp() * 1000) < 5_000, entry.action
    assert chain_verify(world_a.tenant.pk)[1] is None
