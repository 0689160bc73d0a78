"""Audit runs survive a worker killed mid-run and a Redis restart: real worker processes, the real
Redis broker, the test database. The run completes on redelivery with every finding exactly once.

The worker registers slow test rules at start (each sleeps in PostgreSQL), so that a run lasts long
enough to be interrupted half way. It is started with a short broker visibility timeout: Redis
redelivers an unacknowledged message only after that timeout (an hour in production, where a
prefork parent also requeues its dead child's task at once), and the test should not wait an hour.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from kombu import Connection

from compliance.models import AuditRun, BusinessFinding
from compliance.services import run_create
from compliance.tasks import audit_on_demand
from mso_platform import embedded
from tests import factories
from tests.broker import clear_queue
from tests.compliance_rules import slow_rule_ids
from tests.test_celery_worker import session_database_url
from tests.worlds import World, build_world

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RULES = 8
SLEEP = 0.7  # seconds per rule, in PostgreSQL
VENDORS = 3
TIMEOUT = 120
VISIBILITY = 3  # seconds before Redis gives an unacknowledged message to another worker

# Registers the slow rules, shortens the visibility timeout, then runs `celery worker <argv>`.
LAUNCHER = """
import os, sys
import django
django.setup()
from tests import compliance_rules
rules = compliance_rules.slow_rules(int(os.environ["SLOW_RULES"]), float(os.environ["SLOW_SLEEP"]))
compliance_rules.register(rules)
from mso_platform import celery_app
celery_app.conf.broker_transport_options = {
    "visibility_timeout": int(os.environ["VISIBILITY"]),
    "unacked_restore_throttle": 1,
    "unacked_restore_interval": 1,
}
celery_app.worker_main(sys.argv[1:])
"""


class Workers:
    def __init__(self, queue: str, log_dir: Path) -> None:
        self.queue = queue
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *, broker: str, pool: str = "solo") -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mso_platform.settings.test",
            "DATABASE_URL": session_database_url(),
            "REDIS_URL": broker,
            "SLOW_RULES": str(RULES),
            "SLOW_SLEEP": str(SLEEP),
            "VISIBILITY": str(VISIBILITY),
        }
        flags = ["--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "INFO"]
        pool_flags = ["--pool=solo"] if pool == "solo" else ["--pool=prefork", "--concurrency=1"]
        name = f"{self.queue}-{len(self.procs)}@%h"
        log = (self.log_dir / f"worker-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-c", LAUNCHER, "worker", *pool_flags, *flags, "-Q", self.queue, "-n", name],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')[-6000:]}"
            for p in sorted(self.log_dir.glob("*.log"))
        )

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    queue = f"test-audit-{uuid.uuid4().hex[:12]}"
    pool = Workers(queue, tmp_path)
    yield pool
    pool.stop_all()


def unacked_for(broker: str, run_id: Any) -> int:
    """Messages of this run that a worker took but never acknowledged (kombu's Redis bookkeeping)."""
    with Connection(broker) as conn:
        client = conn.default_channel.client
        return sum(str(run_id).encode() in payload for payload in client.hvals("unacked"))


def queued_for(broker: str, queue: str) -> int:
    with Connection(broker) as conn:
        return int(conn.default_channel.client.llen(queue))


def run_row(run_id: Any) -> AuditRun:
    return AuditRun.objects.get(pk=run_id)


def wait_until(
    check: Callable[[], bool], what: str, workers: Workers, procs: list[subprocess.Popen[bytes]]
) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if check():
            return
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"worker exited with {proc.returncode} before {what}\n{workers.logs()}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}\n{workers.logs()}")


def stage(queue_broker: str, queue: str) -> tuple[World, AuditRun]:
    world = build_world("alpha")
    for _ in range(VENDORS):
        factories.VendorFactory.create(tenant=world.tenant)  # handles PHI, no BAA: one finding per rule
    with transaction.atomic():
        run, _ = run_create(
            tenant=world.tenant,
            trigger=AuditRun.Trigger.ON_DEMAND,
            key="worker-test",
            rule_ids=slow_rule_ids(RULES),
        )
    with Connection(queue_broker) as conn:
        audit_on_demand.apply_async(
            kwargs={"tenant_id": str(world.tenant.pk), "run_id": str(run.pk)}, queue=queue, connection=conn
        )
    return world, run


def assert_complete_exactly_once(world: World, run_id: Any, workers: Workers) -> AuditRun:
    run = run_row(run_id)
    assert (run.status, run.rules_done, run.rules_total, run.error) == ("done", RULES, RULES, ""), (
        workers.logs()
    )
    # Each rule recorded exactly once (two at a time: in the order they finished).
    assert sorted(run.done_rule_ids) == sorted(slow_rule_ids(RULES))
    findings = BusinessFinding.objects.filter(tenant=world.tenant)
    per_rule = {r: findings.filter(rule_id=r).count() for r in slow_rule_ids(RULES)}
    assert per_rule == dict.fromkeys(slow_rule_ids(RULES), VENDORS)
    assert findings.count() == RULES * VENDORS
    assert findings.values("fingerprint").distinct().count() == RULES * VENDORS
    assert set(findings.values_list("status", flat=True)) == {"open"}
    return run


def test_a_worker_killed_mid_run_is_replaced_and_the_run_completes_with_each_finding_once(
    workers: Workers,
) -> None:
    broker = settings.CELERY_BROKER_URL
    world, run = stage(broker, workers.queue)
    try:
        first = workers.start(broker=broker)
        wait_until(lambda: run_row(run.pk).rules_done >= 2, "two rules done", workers, [first])
        first.kill()  # SIGKILL: no cleanup, no acknowledgement, the DB connection just drops
        first.wait(10)
        interrupted = run_row(run.pk)
        assert interrupted.status == "running" and 2 <= interrupted.rules_done < RULES, workers.logs()
        assert interrupted.attempts == 1
        assert unacked_for(broker, run.pk) == 1  # Redis still holds the message for redelivery
        done_before = {r: interrupted.stats[r] for r in interrupted.done_rule_ids}

        second = workers.start(broker=broker)
        wait_until(lambda: run_row(run.pk).status != "running", "the run to finish", workers, [second])
        finished = assert_complete_exactly_once(world, run.pk, workers)
        assert finished.attempts == 2
        # The rules committed before the kill were not evaluated again: the second worker resumed.
        assert {r: finished.stats[r] for r in done_before} == done_before
        first_runs = BusinessFinding.objects.filter(tenant=world.tenant).values_list(
            "first_seen_run", flat=True
        )
        assert set(first_runs) == {run.pk}
        wait_until(lambda: unacked_for(broker, run.pk) == 0, "the acknowledgement", workers, [second])
        assert queued_for(broker, workers.queue) == 0
    finally:
        workers.stop_all()
        clear_queue(broker, workers.queue)


@pytest.fixture
def private_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Redis of this test's own (the shared one serves the other suites and must not restart)."""
    monkeypatch.setenv("MSO_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    yield embedded.redis_url()
    embedded.stop_redis()


def test_a_redis_restart_mid_run_loses_and_duplicates_no_finding(
    workers: Workers, private_redis: str
) -> None:
    broker = private_redis
    world, run = stage(broker, workers.queue)
    try:
        # The production pool: on broker loss it terminates the late-acked task it runs, which
        # Redis hands out again once it is back (CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_...).
        proc = workers.start(broker=broker, pool="prefork")
        wait_until(lambda: run_row(run.pk).rules_done >= 2, "two rules done", workers, [proc])
        embedded.stop_redis()  # SIGTERM: Redis writes its append-only file and exits
        assert not embedded.redis_running()
        interrupted = run_row(run.pk)
        done_before = {r: interrupted.stats[r] for r in interrupted.done_rule_ids}
        time.sleep(1)  # an outage, not a blip
        assert embedded.redis_url() == broker  # the same Redis again, from its append-only file

        wait_until(lambda: run_row(run.pk).status != "running", "the run to finish", workers, [proc])
        finished = assert_complete_exactly_once(world, run.pk, workers)
        assert finished.attempts == 2, workers.logs()  # terminated once, resumed once
        assert {r: finished.stats[r] for r in done_before} == done_before
        wait_until(
            lambda: unacked_for(broker, run.pk) == 0 and queued_for(broker, workers.queue) == 0,
            "the message to be acknowledged",
            workers,
            [proc],
        )
        log = workers.logs()
        assert "Connection to broker lost" in log and "Terminating it instead" in log, log
        # Any further delivery of the same message found the run finished and did nothing.
        assert run_row(run.pk).attempts == 2
    finally:
        workers.stop_all()
