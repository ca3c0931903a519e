"""Shared fixtures: a JobManager on the memory store that is always shut down."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from threadjobs import JobManager, MemoryJobStore


@pytest.fixture
def make_manager() -> Iterator[Callable[..., JobManager]]:
    """Build JobManagers (memory store unless given) that are shut down after the test."""
    made: list[JobManager] = []

    def make(*handlers: Any, store: Any = None, **kwargs: Any) -> JobManager:
        kwargs.setdefault("seed", 1)
        manager = JobManager(store=store or MemoryJobStore(), **kwargs)
        for handler in handlers:
            manager.register(handler)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.shutdown(timeout=5)
