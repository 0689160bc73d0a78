"""Celery wiring: TenantTask runs each task body as its tenant and role; enqueueing follows the commit.

Task bodies are called in-process here (directly, or eagerly through Celery's tracer); the real
worker against the real broker is in test_celery_worker.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone
from kombu import Connection

from mso_platform import celery_app
from mso_platform.db import boundary
from tenants.access import AccessContext, current_db_role
from tenants.capacities import Side
from tenants.models import AuditLogEntry, Membership
from tenants.services import membership_create
from tenants.taskbase import SYSTEM_BUSINESS, TaskContextError, TenantTask, enqueue_on_commit
from tenants.tasks import expire_memberships, expire_tenant_memberships, tenant_heartbeat
from tests import factories
from tests.worlds import World

pytestmark = pytest.mark.django_db


def scalar(sql: str) -> Any:
    with connection.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


# Tasks that exist only to probe the boundary from inside a task body.
@celery_app.task(base=TenantTask, name="tests.chart_count")
def chart_count(ctx: AccessContext) -> int:
    return int(scalar('SELECT count(*) FROM "clinical"."patient_chart"'))


@celery_app.task(base=TenantTask, name="tests.location_tenants", default_side=Side.BUSINESS)
def location_tenants(ctx: AccessContext) -> list[str]:
    with connection.cursor() as cur:
        cur.execute('SELECT DISTINCT tenant_id::text FROM "management"."location"')
        return [row[0] for row in cur.fetchall()]


CALLS: list[str] = []


@celery_app.task(base=TenantTask, name="tests.idempotent_db_outage", idempotent=True, default_side="business")
def idempotent_db_outage(ctx: AccessContext) -> None:
    CALLS.append("idempotent")
    raise OperationalError("server closed the connection unexpectedly")


@celery_app.task(base=TenantTask, name="tests.one_shot_db_outage", default_side="business")
def one_shot_db_outage(ctx: AccessContext) -> None:
    CALLS.append("one-shot")
    raise OperationalError("server closed the connection unexpectedly")


@pytest.fixture
def eager() -> Iterator[None]:
    """Run .delay()/.apply_async() in-process through Celery's tracer (request id, retries)."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


def login_role() -> str:
    return str(connection.settings_dict["USER"])


# --- role and tenant inside the task ---------------------------------------------------------------


def test_task_body_runs_under_business_role_with_the_tenant_setting(world_a: World, world_b: World) -> None:
    detail = tenant_heartbeat(tenant_id=str(world_a.tenant.pk))

    assert detail == {
        "db_role": boundary.BUSINESS_ROLE,
        "tenant_setting": str(world_a.tenant.pk),
        "locations_visible": len(world_a.locations),
    }
    entry = AuditLogEntry.objects.get(action="task.heartbeat")
    assert (entry.tenant_id, entry.capacity, entry.via, entry.actor_id) == (
        world_a.tenant.pk,
        SYSTEM_BUSINESS.code,
        "task",
        None,
    )
    assert entry.detail == detail
    # SET LOCAL must not outlive the task inside the caller's transaction.
    assert current_db_role() == login_role()
    assert scalar("SELECT current_setting('app.tenant_id', true)") in ("", None)


def test_rls_hides_the_other_tenants_rows_inside_a_task(world_a: World, world_b: World) -> None:
    assert location_tenants(tenant_id=str(world_a.tenant.pk)) == [str(world_a.tenant.pk)]
    assert location_tenants(tenant_id=str(world_b.tenant.pk)) == [str(world_b.tenant.pk)]


def test_clinical_side_reads_charts_and_business_side_is_refused_by_postgresql(
    world_a: World, world_b: World
) -> None:
    assert chart_count(tenant_id=str(world_a.tenant.pk), side="clinical") == len(world_a.charts)
    with pytest.raises(DatabaseError, match="permission denied for schema clinical"):
        chart_count(tenant_id=str(world_a.tenant.pk), side="business")
    assert current_db_role() == login_role()


def test_task_acts_as_a_membership_in_its_capacity(world_a: World) -> None:
    physician = world_a.members["pc_physician"]
    assert chart_count(tenant_id=str(world_a.tenant.pk), membership_id=str(physician.pk)) == len(
        world_a.charts
    )
    admin = world_a.members["mso_admin"]
    detail = tenant_heartbeat(tenant_id=str(world_a.tenant.pk), membership_id=str(admin.pk))
    assert detail["db_role"] == boundary.BUSINESS_ROLE
    entry = AuditLogEntry.objects.get(action="task.heartbeat")
    assert (entry.actor_id, entry.capacity, entry.via) == (admin.user_id, "mso_admin", "task")
    with pytest.raises(DatabaseError, match="permission denied for schema clinical"):
        chart_count(tenant_id=str(world_a.tenant.pk), membership_id=str(admin.pk))


# --- fail closed -----------------------------------------------------------------------------------


def test_unknown_tenant_fails_with_a_clear_error_and_writes_nothing(world_a: World) -> None:
    before = AuditLogEntry.objects.count()
    missing = uuid.uuid4()
    with pytest.raises(TaskContextError, match=f"Tenant {missing} does not exist"):
        tenant_heartbeat(tenant_id=str(missing))
    with pytest.raises(TaskContextError, match="not a valid id"):
        tenant_heartbeat(tenant_id="alpha")
    assert AuditLogEntry.objects.count() == before
    assert current_db_role() == login_role()


def test_unknown_tenant_is_not_retried_even_for_an_idempotent_task(world_a: World) -> None:
    result = expire_tenant_memberships.apply(kwargs={"tenant_id": str(uuid.uuid4())})
    assert result.state == "FAILURE"
    assert isinstance(result.result, TaskContextError)
    assert "does not exist" in str(result.result)


def test_membership_of_another_tenant_or_expired_is_refused(world_a: World, world_b: World) -> None:
    other = world_b.members["mso_admin"]
    with pytest.raises(TaskContextError, match="does not exist in tenant"):
        tenant_heartbeat(tenant_id=str(world_a.tenant.pk), membership_id=str(other.pk))
    auditor = world_a.members["auditor"]
    Membership.objects.filter(pk=auditor.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    with pytest.raises(TaskContextError, match="inactive or expired"):
        tenant_heartbeat(tenant_id=str(world_a.tenant.pk), membership_id=str(auditor.pk))
    assert not AuditLogEntry.objects.filter(action="task.heartbeat").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "needs tenant_id"),
        ({"tenant_id": "not-a-uuid"}, "not a valid id"),
        ({"tenant_id": str(uuid.uuid4()), "side": "marketing"}, "side must be"),
        (
            {"tenant_id": str(uuid.uuid4()), "side": "business", "membership_id": str(uuid.uuid4())},
            "not both",
        ),
    ],
)
def test_bad_identity_is_refused_when_sending(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(TaskContextError, match=message):
        tenant_heartbeat.apply_async(kwargs=kwargs)


def test_a_task_without_a_default_side_must_be_told_who_it_acts_as(world_a: World) -> None:
    with pytest.raises(TaskContextError, match="Give membership_id"):
        chart_count.delay(tenant_id=str(world_a.tenant.pk))


def test_countdown_beyond_the_visibility_timeout_is_refused(world_a: World) -> None:
    with pytest.raises(ValueError, match="visibility timeout"):
        tenant_heartbeat.apply_async(kwargs={"tenant_id": str(world_a.tenant.pk)}, countdown=2 * 3600)
    with pytest.raises(ValueError, match="visibility timeout"):
        tenant_heartbeat.apply_async(
            kwargs={"tenant_id": str(world_a.tenant.pk)}, eta=timezone.now() + dt.timedelta(days=1)
        )


# --- retries and acknowledgement -------------------------------------------------------------------


def test_only_idempotent_tasks_ack_late_and_retry_after_a_database_outage(world_a: World) -> None:
    def late_ack(task: Any) -> tuple[bool, bool]:
        return task.acks_late, task.reject_on_worker_lost

    assert late_ack(expire_tenant_memberships) == late_ack(expire_memberships) == (True, True)
    assert late_ack(tenant_heartbeat) == late_ack(one_shot_db_outage) == (False, False)

    CALLS.clear()
    failed = one_shot_db_outage.apply(kwargs={"tenant_id": str(world_a.tenant.pk)})
    assert failed.state == "FAILURE" and CALLS == ["one-shot"]

    CALLS.clear()
    retried = idempotent_db_outage.apply(kwargs={"tenant_id": str(world_a.tenant.pk)})
    assert retried.state == "FAILURE" and isinstance(retried.result, OperationalError)
    assert len(CALLS) == 1 + idempotent_db_outage.max_retries and set(CALLS) == {"idempotent"}


def test_worker_settings_follow_the_design_pitfalls() -> None:
    conf = celery_app.conf
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_acks_late is False  # per task, never globally
    assert conf.broker_connection_retry_on_startup is True
    assert conf.task_time_limit < conf.broker_transport_options["visibility_timeout"]
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]


def test_broker_url_reaches_the_real_redis() -> None:
    with Connection(celery_app.conf.broker_url) as conn:
        conn.ensure_connection(max_retries=1)
        assert conn.connected


# --- enqueue on commit -----------------------------------------------------------------------------


def test_enqueue_on_commit_queues_nothing_when_the_transaction_rolls_back(
    world_a: World, django_capture_on_commit_callbacks: Any
) -> None:
    tenant_id = str(world_a.tenant.pk)
    with django_capture_on_commit_callbacks() as rolled_back:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                enqueue_on_commit(tenant_heartbeat, tenant_id=tenant_id)
                raise RuntimeError("the write failed")
    assert rolled_back == []

    with django_capture_on_commit_callbacks() as committed:
        with transaction.atomic():
            enqueue_on_commit(tenant_heartbeat, tenant_id=tenant_id)
    assert len(committed) == 1


def test_enqueue_on_commit_refuses_a_bad_call_at_once(django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(TaskContextError):
            enqueue_on_commit(tenant_heartbeat, tenant_id="nobody")
    assert callbacks == []


def test_committed_enqueue_runs_the_task(
    world_a: World, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_on_commit(tenant_heartbeat, tenant_id=str(world_a.tenant.pk))
    entry = AuditLogEntry.objects.get(action="task.heartbeat")
    assert entry.detail["tenant_setting"] == str(world_a.tenant.pk)


# --- beat: expire memberships ----------------------------------------------------------------------


def expired_auditor(world: World) -> Membership:
    membership = membership_create(
        tenant=world.tenant,
        user=factories.UserFactory.create(),
        capacity="auditor",
        expires_at=timezone.now() + dt.timedelta(days=1),
    )
    Membership.objects.filter(pk=membership.pk).update(expires_at=timezone.now() - dt.timedelta(hours=1))
    return membership


def test_beat_runs_expire_memberships_nightly_at_2_30_pacific() -> None:
    entry = celery_app.conf.beat_schedule["expire-memberships-nightly"]
    assert entry["task"] == expire_memberships.name == "tenants.tasks.expire_memberships"
    schedule = entry["schedule"]
    assert (schedule.hour, schedule.minute) == ({2}, {30})
    assert str(celery_app.conf.timezone) == "America/Los_Angeles"
    assert expire_memberships.name in celery_app.tasks


def test_expire_memberships_deactivates_expired_access_only(
    world_a: World, world_b: World, eager: None, django_capture_on_commit_callbacks: Any
) -> None:
    expired_a, expired_b = expired_auditor(world_a), expired_auditor(world_b)
    current_a = world_a.members["auditor"]

    with django_capture_on_commit_callbacks(execute=True) as fanned_out:
        assert expire_memberships() == 2
    assert len(fanned_out) == 2  # one per tenant, queued at commit

    def active(m: Membership) -> bool:
        return Membership.objects.get(pk=m.pk).is_active

    assert (active(expired_a), active(expired_b), active(current_a)) == (False, False, True)
    assert all(active(m) for m in world_a.members.values())
    # the database trigger audited the change as the system task of that tenant
    audit = AuditLogEntry.objects.get(object_id=str(expired_a.pk), action="update", via="task")
    assert (audit.tenant_id, audit.capacity, audit.via, audit.detail) == (
        world_a.tenant.pk,
        SYSTEM_BUSINESS.code,
        "task",
        {"changed": ["is_active"]},
    )
    # idempotent: a second night changes nothing
    assert expire_tenant_memberships(tenant_id=str(world_a.tenant.pk)) == 0
    assert current_db_role() == login_role()
