from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest

from tenants.access import AccessContext, activate, reset_identity
from tests.broker import clear_queue
from tests.worlds import World, build_world


@pytest.fixture(scope="session", autouse=True)
def _suite_task_queue() -> Iterator[None]:
    """After the session, drop the tasks the suite queued without running them (settings/test.py)."""
    yield
    from django.conf import settings

    clear_queue(settings.CELERY_BROKER_URL, settings.CELERY_TASK_DEFAULT_QUEUE)


@pytest.fixture
def world_a(db: None) -> World:
    return build_world("alpha")


@pytest.fixture
def world_b(db: None) -> World:
    return build_world("bravo")


@pytest.fixture
def domain_a(db: None) -> World:
    """world_a with one or two of every business and clinical record (world.objs)."""
    return build_world("alpha", domain=True)


@pytest.fixture
def domain_b(db: None) -> World:
    return build_world("bravo", domain=True)


@contextmanager
def acting_as(ctx: AccessContext) -> Iterator[None]:
    """Run the block under ctx's role and tenant inside the test's transaction, then go back."""
    activate(ctx)
    try:
        yield
    finally:
        reset_identity()


@pytest.fixture
def as_ctx() -> Callable[[AccessContext], AbstractContextManager[None]]:
    return acting_as
