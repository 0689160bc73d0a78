"""A real Celery worker process, the real Redis broker and the pytest database: tasks run as their
tenant and role, connection reuse leaks nothing between tasks, and a rolled-back enqueue sends nothing.
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
from django.db import connection, transaction
from kombu import Connection

from mso_platform.db import boundary
from tenants.models import AuditLogEntry
from tenants.taskbase import enqueue_on_commit
from tenants.tasks import tenant_heartbeat
from tests import factories
from tests.broker import clear_queue
from tests.worlds import World, build_world

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

WORKER_START_AND_RUN_TIMEOUT = 60
CELERY = (sys.executable, "-m", "celery", "-A", "mso_platform")
# solo pool: the task runs in the worker process itself; no gossip/mingle/heartbeat: faster start.
WORKER_FLAGS = ("--pool=solo", "--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "INFO")


def session_database_url() -> str:
    """DATABASE_URL of the database this test session runs against (committed data only)."""
    db = connection.settings_dict
    options = db.get("OPTIONS", {})
    host = str(db.get("HOST") or options.get("host") or "")
    port = str(db.get("PORT") or options.get("port") or "")
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    if host.startswith("/"):  # Unix socket directory (the embedded PostgreSQL)
        query = f"?host={host}" + (f"&port={port}" if port else "")
        return f"postgres://{db['USER']}{password}@/{db['NAME']}{query}"
    return f"postgres://{db['USER']}{password}@{host}:{port or 5432}/{db['NAME']}"


def queue_length(queue: str) -> int:
    with Connection(settings.CELERY_BROKER_URL) as conn:
        return int(conn.default_channel.client.llen(queue))


@pytest.fixture
def worker_queue() -> str:
    """Unique per run, so parallel suites and a running dev worker never take our messages."""
    return f"test-worker-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def start_worker(worker_queue: str, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    log_path = tmp_path / "worker.log"

    def start() -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mso_platform.settings.test",
            "DATABASE_URL": session_database_url(),
            "REDIS_URL": settings.REDIS_URL,
        }
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv
                [*CELERY, "worker", *WORKER_FLAGS, "-Q", worker_queue, "-n", f"{worker_queue}@%h"],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        procs.append(proc)
        return proc

    yield start

    for proc in procs:
        proc.terminate()  # warm shutdown: finish the current task, then exit
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    clear_queue(settings.CELERY_BROKER_URL, worker_queue)


def wait_for_heartbeats(tenants: list[Any], proc: subprocess.Popen[bytes]) -> dict[Any, AuditLogEntry]:
    deadline = time.monotonic() + WORKER_START_AND_RUN_TIMEOUT
    while time.monotonic() < deadline:
        entries = {e.tenant_id: e for e in AuditLogEntry.objects.filter(action="task.heartbeat")}
        if all(t.pk in entries for t in tenants):
            return entries
        if proc.poll() is not None:
            pytest.fail(f"worker exited with {proc.returncode}")
        time.sleep(0.1)
    pytest.fail(f"no heartbeat from the worker within {WORKER_START_AND_RUN_TIMEOUT}s")


def test_real_worker_runs_each_task_as_its_tenant_under_the_business_role(
    start_worker: Callable[[], subprocess.Popen[bytes]], worker_queue: str, tmp_path: Path
) -> None:
    world_a: World = build_world("alpha")
    world_b: World = build_world("bravo")
    factories.LocationFactory(tenant=world_b.tenant, managing_entity=world_b.entity, pc=world_b.pcs[0])
    counts = {world_a.tenant.pk: len(world_a.locations), world_b.tenant.pk: len(world_b.locations) + 1}
    assert counts[world_a.tenant.pk] != counts[world_b.tenant.pk]

    # A rolled-back transaction sends nothing to the broker ...
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            enqueue_on_commit(tenant_heartbeat, queue=worker_queue, tenant_id=str(world_b.tenant.pk))
            raise RuntimeError("the write failed")
    assert queue_length(worker_queue) == 0
    # ... a committed one sends at commit. Two tenants back to back: the worker reuses its DB
    # connection, and the second task must see nothing of the first one's role or tenant.
    for world in (world_a, world_b):
        with transaction.atomic():
            enqueue_on_commit(tenant_heartbeat, queue=worker_queue, tenant_id=str(world.tenant.pk))
    assert queue_length(worker_queue) == 2

    proc = start_worker()
    try:
        entries = wait_for_heartbeats([world_a.tenant, world_b.tenant], proc)
    finally:
        log = (tmp_path / "worker.log").read_text(errors="replace")
    assert "ready" in log, log

    for tenant_id, entry in entries.items():
        assert entry.detail == {
            "db_role": boundary.BUSINESS_ROLE,
            "tenant_setting": str(tenant_id),
            "locations_visible": counts[tenant_id],
        }, log
        assert (entry.capacity, entry.via) == ("system_business", "task")
    assert AuditLogEntry.objects.filter(action="task.heartbeat").count() == 2  # the rollback sent nothing
    assert queue_length(worker_queue) == 0
