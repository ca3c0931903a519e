"""A store outage is logged once per kind of call, not once per retry, and its end too."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from threadjobs import JobManager, MemoryJobStore, StoreUnavailable
from threadjobs._outage import OutageLog

from .handlers import Echo


def messages(caplog: pytest.LogCaptureFixture, level: int, needle: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "threadjobs" and r.levelno == level and needle in r.getMessage()
    ]


def test_the_first_failure_warns_repeats_are_debug_and_the_end_is_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="threadjobs")
    outage = OutageLog("claiming jobs")
    outage.succeeded()  # nothing was failing: nothing to say
    for n in range(5):
        outage.failed(StoreUnavailable(f"down {n}"), "retrying in 0.1s")
    outage.succeeded()
    outage.succeeded()
    assert messages(caplog, logging.WARNING, "failed (") == [
        "threadjobs: claiming jobs failed (down 0); retrying in 0.1s"
    ]
    assert len(messages(caplog, logging.DEBUG, "failed again")) == 4
    [back] = messages(caplog, logging.WARNING, "works again")
    assert back.startswith("threadjobs: claiming jobs works again after ")
    assert back.endswith("(5 failed attempts)")
    outage.failed(StoreUnavailable("down again"))  # a new outage warns again
    assert len(messages(caplog, logging.WARNING, "failed (down again)")) == 1


def test_a_long_outage_is_recalled_and_bugs_always_show_their_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="threadjobs")
    outage = OutageLog("renewing leases", remind_every=0.0)
    outage.failed(StoreUnavailable("down"))
    outage.failed(StoreUnavailable("still down"))
    [recall] = messages(caplog, logging.WARNING, "still failing")
    assert "(2 failures; last: still down)" in recall
    outage.failed(TypeError("a bug"), trace=True)
    [bug] = [r for r in caplog.records if "a bug" in r.getMessage()]
    assert bug.levelno == logging.WARNING and bug.exc_info is not None


class DownStore(MemoryJobStore):
    """A memory store whose worker-side calls fail while ``down`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.down = threading.Event()
        self.failures = 0
        self.failed = threading.Condition()

    def _fail_if_down(self) -> None:
        if self.down.is_set():
            with self.failed:
                self.failures += 1
                self.failed.notify_all()
            raise StoreUnavailable("the test took the store down")

    def claim(self, worker_id: str, limit: int, lease: float, wait: float = 0.0) -> Any:
        self._fail_if_down()
        return super().claim(worker_id, limit, lease, wait)

    def recover(self, max_recoveries: int) -> Any:
        self._fail_if_down()
        return super().recover(max_recoveries)


def test_a_manager_logs_an_outage_once_and_its_end(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="threadjobs")
    store = DownStore()
    store.down.set()
    manager = JobManager(store=store, max_workers=4, poll_interval=0.02, maintenance_interval=0.01)
    manager.register(Echo())
    try:
        with store.failed:  # the idle poller's backoff and maintenance retry on their own
            assert store.failed.wait_for(lambda: store.failures >= 8, 30)
        store.down.clear()
        job_id = manager.submit("echo", params={"n": 1})
        assert manager.wait(job_id, timeout=30).result == {"n": 1, "attempt": 1}
    finally:
        manager.shutdown()
    assert len(messages(caplog, logging.WARNING, "claiming jobs failed")) == 1
    maintenance = "store maintenance (lease recovery, retention) failed"
    assert len(messages(caplog, logging.WARNING, maintenance)) == 1
    assert len(messages(caplog, logging.WARNING, "claiming jobs works again")) == 1
