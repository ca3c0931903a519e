"""RedisJobStore against the shared conformance suite and state machine.

Every check runs on fakeredis (fast, in-process) and on the real redis-server that the
session starts, each on a fresh queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import fakeredis
import pytest
from hypothesis import HealthCheck, settings

from threadjobs._store import Retention
from threadjobs.stores._redis import RedisJobStore
from threadjobs.testing import CHECKS, iter_checks, make_state_machine

NAMES = sorted(check.__name__ for check in CHECKS)


def fake_store(retention: Retention | None = None) -> RedisJobStore:
    return RedisJobStore(fakeredis.FakeRedis(server=fakeredis.FakeServer()), retention=retention)


def real_store_factory(server: Any) -> Callable[..., RedisJobStore]:
    def make(retention: Retention | None = None) -> RedisJobStore:
        return RedisJobStore.from_url(
            server.url, queue=f"c{uuid.uuid4().hex[:12]}", retention=retention
        )

    return make


@pytest.mark.parametrize("name", NAMES)
def test_conformance_fakeredis(name: str) -> None:
    dict(iter_checks(fake_store))[name]()


@pytest.mark.redis
@pytest.mark.parametrize("name", NAMES)
def test_conformance_real_redis(name: str, redis_server: Any) -> None:
    dict(iter_checks(real_store_factory(redis_server)))[name]()


_SETTINGS = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

FakeStateMachine = make_state_machine(fake_store)
FakeStateMachine.TestCase.settings = _SETTINGS
TestFakeRedisStateMachine = FakeStateMachine.TestCase


@pytest.mark.redis
def test_state_machine_real_redis(redis_server: Any) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    machine = make_state_machine(real_store_factory(redis_server))
    run_state_machine_as_test(machine, settings=_SETTINGS)  # type: ignore[no-untyped-call, unused-ignore]
