"""The memory store against the shared conformance suite and state machine."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings

from threadjobs import MemoryJobStore
from threadjobs.testing import iter_checks, make_state_machine

CHECKS = dict(iter_checks(lambda retention: MemoryJobStore(retention=retention)))


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_conformance(name: str) -> None:
    run: Callable[[], None] = CHECKS[name]
    run()


MemoryStateMachine = make_state_machine(MemoryJobStore)
MemoryStateMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestMemoryStateMachine = MemoryStateMachine.TestCase
