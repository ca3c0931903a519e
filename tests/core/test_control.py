"""Cancellation, events, listing, stats, shutdown."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

import pytest

import threadjobs
from threadjobs import (
    Handler,
    JobAlreadyFinished,
    JobContext,
    JobEvent,
    JobManager,
    JobNotFound,
    JobStatus,
    MemoryJobStore,
    SubmitError,
    WaitTimeout,
)
from threadjobs._store import JobRecord

from .handlers import Echo, Flaky, Gate, NParams

# -- cancellation ---------------------------------------------------------------------


def test_cancel_a_queued_job_and_it_never_starts(make_manager: Callable[..., JobManager]) -> None:
    gate, echo = Gate(), Echo()
    manager = make_manager(gate, echo, max_workers=1)
    manager.submit("gate")
    assert gate.started.wait(10)
    queued = manager.submit("echo")
    job = manager.cancel(queued)
    assert job.status is JobStatus.CANCELLED
    gate.release.set()
    after = manager.submit("echo")
    manager.wait(after, timeout=10)  # the worker went past the cancelled job
    assert echo.runs[queued] == 0
    assert manager.get(queued).status is JobStatus.CANCELLED


def test_cancel_a_running_job_at_its_checkpoint(make_manager: Callable[..., JobManager]) -> None:
    gate = Gate()
    manager = make_manager(gate)
    job_id = manager.submit("gate", max_retries=5)
    assert gate.started.wait(10)
    requested = manager.cancel(job_id)
    assert requested.status is JobStatus.RUNNING and requested.cancel_requested
    job = manager.wait(job_id, timeout=10)
    assert job.status is JobStatus.CANCELLED
    assert job.attempts == 1 and job.errors == (), "a cancelled job is never retried"


def test_cancel_reaches_code_that_never_checks_in(make_manager: Callable[..., JobManager]) -> None:
    entered = threading.Event()

    class Spinner(Handler[NParams]):
        job_type = "spinner"

        def run(self, ctx: JobContext, params: NParams) -> None:
            entered.set()
            while True:
                pass

    manager = make_manager(Spinner())
    job_id = manager.submit("spinner")
    assert entered.wait(10)
    manager.cancel(job_id)
    assert manager.wait(job_id, timeout=10).status is JobStatus.CANCELLED
    assert manager.stats().stuck_threads == 0


def test_swallowing_the_cancel_does_not_help(make_manager: Callable[..., JobManager]) -> None:
    entered = threading.Event()

    class Stubborn(Handler[NParams]):
        job_type = "stubborn"

        def run(self, ctx: JobContext, params: NParams) -> str:
            entered.set()
            while True:
                with contextlib.suppress(Exception):  # the hard interrupt is no Exception
                    ctx.check()

    manager = make_manager(Stubborn())
    job_id = manager.submit("stubborn")
    assert entered.wait(10)
    manager.cancel(job_id)
    assert manager.wait(job_id, timeout=10).status is JobStatus.CANCELLED


def test_cancel_errors(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(Echo())
    done = manager.wait(manager.submit("echo"), timeout=10)
    with pytest.raises(JobAlreadyFinished, match="completed") as info:
        manager.cancel(done.id)
    assert info.value.status == "completed"
    with pytest.raises(JobNotFound):
        manager.cancel("nope")
    with pytest.raises(JobNotFound):
        manager.get("nope")


def test_cancel_racing_completion_ends_in_one_terminal_state(
    make_manager: Callable[..., JobManager],
) -> None:
    class Racer(Handler[NParams]):
        job_type = "racer"
        max_retries = 0

        def __init__(self) -> None:
            self.barrier = threading.Barrier(2)

        def run(self, ctx: JobContext, params: NParams) -> str:
            self.barrier.wait(10)
            return "done"

    racer = Racer()
    manager = make_manager(racer, max_workers=1)
    outcomes = set()
    for _ in range(30):
        job_id = manager.submit("racer")
        racer.barrier.wait(10)  # the handler is about to return
        with contextlib.suppress(JobAlreadyFinished):
            manager.cancel(job_id)
        job = manager.wait(job_id, timeout=10)
        assert job.status in (JobStatus.COMPLETED, JobStatus.CANCELLED)
        assert (job.result == "done") == (job.status is JobStatus.COMPLETED)
        outcomes.add(job.status)
    assert outcomes  # either may win; never both, never neither


def test_wait_timeout(make_manager: Callable[..., JobManager]) -> None:
    gate = Gate()
    manager = make_manager(gate)
    job_id = manager.submit("gate")
    with pytest.raises(WaitTimeout, match="still"):
        manager.wait(job_id, timeout=0.05)
    gate.release.set()
    assert manager.wait(job_id, timeout=10).status is JobStatus.COMPLETED


# -- events ---------------------------------------------------------------------------


def test_listeners_see_every_change(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(Flaky())
    events: list[JobEvent] = []
    manager.add_listener(events.append)
    job_id = manager.submit("flaky", params={"n": 1})
    manager.wait(job_id, timeout=10)
    changes = [(e.previous_status, e.status) for e in events if e.job.id == job_id]
    assert changes == [
        (None, JobStatus.QUEUED),
        (JobStatus.QUEUED, JobStatus.RUNNING),
        (JobStatus.RUNNING, JobStatus.RETRYING),
        (JobStatus.RETRYING, JobStatus.RUNNING),
        (JobStatus.RUNNING, JobStatus.COMPLETED),
    ]


def test_a_failing_listener_is_logged_and_harmless(
    make_manager: Callable[..., JobManager], caplog: pytest.LogCaptureFixture
) -> None:
    manager = make_manager(Echo())
    failures: list[str] = []

    def broken(event: JobEvent) -> None:
        raise RuntimeError("listener bug")

    manager.add_listener(broken)
    remove = manager.add_listener(lambda e: failures.append(e.job.id), statuses=["failed"])
    with caplog.at_level(logging.ERROR, logger="threadjobs"):
        job = manager.wait(manager.submit("echo"), timeout=10)
    assert job.status is JobStatus.COMPLETED
    assert "listener bug" in caplog.text
    assert failures == []
    remove()


# -- listing and stats ------------------------------------------------------------------


def test_list_jobs_pages_newest_first(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(Echo(), max_workers=0)
    mine = [manager.submit("echo", account_id=7, params={"n": i}) for i in range(5)]
    manager.submit("echo", account_id=8)
    first = manager.list_jobs(7, limit=2)
    assert [j.id for j in first.jobs] == mine[:-3:-1]
    second = manager.list_jobs(7, limit=2, cursor=first.next_cursor)
    third = manager.list_jobs(7, limit=2, cursor=second.next_cursor)
    assert [j.id for j in (*first.jobs, *second.jobs, *third.jobs)] == mine[::-1]
    assert third.next_cursor is None
    manager.cancel(mine[0])
    assert [j.id for j in manager.list_jobs(7, status="cancelled").jobs] == [mine[0]]
    with pytest.raises(SubmitError, match="status"):
        manager.list_jobs(7, status="lost")
    with pytest.raises(SubmitError, match="limit"):
        manager.list_jobs(7, limit=0)


def test_stats_per_account_and_type(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(Echo(), Flaky())
    jobs = [manager.submit("echo", account_id=1) for _ in range(3)]
    jobs.append(manager.submit("flaky", account_id=2, params={"n": 9}, max_retries=0))
    for job_id in jobs:
        manager.wait(job_id, timeout=10)
    mine = manager.stats(1)
    assert mine.by_status[JobStatus.COMPLETED] == 3 and mine.running == 0 and mine.queued == 0
    assert mine.last_24h == {
        "echo": {JobStatus.QUEUED: 3, JobStatus.RUNNING: 3, JobStatus.COMPLETED: 3}
    }
    everyone = manager.stats()
    assert everyone.by_status[JobStatus.FAILED] == 1
    assert everyone.last_24h["flaky"][JobStatus.FAILED] == 1
    assert isinstance(everyone, threadjobs.JobStats)


def test_retention_removes_finished_jobs(make_manager: Callable[..., JobManager]) -> None:
    now = [1_000_000.0]
    store = MemoryJobStore(clock=lambda: now[0])
    manager = make_manager(Echo(), Flaky(), store=store)
    done = manager.wait(manager.submit("echo"), timeout=10)
    failed = manager.wait(manager.submit("flaky", params={"n": 9}, max_retries=0), timeout=10)
    now[0] += 24 * 3600 + 1
    assert store.purge() == 1
    with pytest.raises(JobNotFound):
        manager.get(done.id)
    assert manager.get(failed.id).status is JobStatus.FAILED, "failed jobs are kept 7 days"
    now[0] += 6 * 24 * 3600
    assert store.purge() == 1
    assert sum(store.counts().values()) == 0


# -- shutdown -----------------------------------------------------------------------


def test_shutdown_waits_for_running_jobs(make_manager: Callable[..., JobManager]) -> None:
    gate = Gate()
    manager = make_manager(gate)
    job_id = manager.submit("gate")
    assert gate.started.wait(10)
    threading.Timer(0.05, gate.release.set).start()
    manager.shutdown(timeout=10)
    assert manager.get(job_id).status is JobStatus.COMPLETED


def test_shutdown_returns_unfinished_jobs_to_the_queue(
    make_manager: Callable[..., JobManager],
) -> None:
    store = MemoryJobStore()
    gate = Gate()
    first = make_manager(gate, store=store)
    job_id = first.submit("gate")
    assert gate.started.wait(10)
    first.shutdown(timeout=0.05)
    job = first.get(job_id)
    assert job.status is JobStatus.QUEUED
    assert job.attempts == 1 and job.errors == (), "the interrupted attempt is not charged"
    gate.release.set()
    second = make_manager(gate, store=store)  # another process sharing the store
    done = second.wait(job_id, timeout=10)
    assert done.status is JobStatus.COMPLETED and done.attempts == 2


def test_manager_is_a_context_manager() -> None:
    echo = Echo()
    with JobManager() as manager:
        manager.register(echo)
        job_id = manager.submit("echo")
        manager.wait(job_id, timeout=10)
    assert echo.runs[job_id] == 1


def test_a_job_claimed_as_shutdown_begins_goes_back_uncharged() -> None:
    claimed, go = threading.Event(), threading.Event()

    class SlowHandOff(MemoryJobStore):
        """Holds a claimed job between the claim and its start, as a busy executor would."""

        def claim(
            self, worker_id: str, limit: int, lease: float, wait: float = 0.0
        ) -> list[JobRecord]:
            records = super().claim(worker_id, limit, lease, wait)
            if records:
                claimed.set()
                go.wait(10)
            return records

    echo = Echo()
    store = SlowHandOff()
    manager = JobManager(store=store, max_workers=1)
    manager.register(echo)
    job_id = manager.submit("echo")
    assert claimed.wait(10)
    stopper = threading.Thread(target=manager.shutdown, kwargs={"timeout": 5})
    stopper.start()
    assert manager._pool is not None and manager._pool._stopping.wait(10)
    go.set()
    stopper.join(10)
    job = manager.get(job_id)
    assert job.status is JobStatus.QUEUED and job.attempts == 1 and job.errors == ()
    assert echo.runs[job_id] == 0
