"""Retries, backoff, timeouts, stuck threads."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadjobs import (
    ConfigurationError,
    Handler,
    JobContext,
    JobManager,
    JobStatus,
    RetryPolicy,
)

from .handlers import FAST_RETRY, Flaky, NParams


def test_retries_then_succeeds_keeping_every_error(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(Flaky())
    job = manager.wait(manager.submit("flaky", params={"n": 2}), timeout=10)
    assert job.status is JobStatus.COMPLETED and job.result == "ok"
    assert job.attempts == 3
    assert [e.attempt for e in job.errors] == [1, 2]
    assert [e.message for e in job.errors] == ["transient failure 1", "transient failure 2"]
    assert all(e.type == "RuntimeError" and "Traceback" in e.traceback for e in job.errors)


def test_retries_run_out(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(Flaky())
    job = manager.wait(manager.submit("flaky", params={"n": 99}, max_retries=2), timeout=10)
    assert job.status is JobStatus.FAILED
    assert job.attempts == 3 and len(job.errors) == 3


def test_a_retry_waits_in_the_store(make_manager: Callable[..., JobManager]) -> None:
    class SlowRetry(Flaky):
        job_type = "slow_retry"
        retry_policy = RetryPolicy(base=30, jitter="none")

    manager = make_manager(SlowRetry())
    retrying = threading.Event()
    manager.add_listener(lambda event: retrying.set(), statuses=["retrying"])
    job_id = manager.submit("slow_retry", params={"n": 1})
    assert retrying.wait(10)
    job = manager.get(job_id)
    assert job.scheduled_for is not None and job.last_error is not None
    assert job.scheduled_for - job.last_error.at >= timedelta(seconds=29)
    assert manager.stats().queued == 1  # waiting in the store, no thread held
    assert manager.cancel(job_id).status is JobStatus.CANCELLED


@pytest.mark.parametrize("error", [ValueError, PermissionError, FileNotFoundError])
def test_non_retryable_errors_fail_at_once(
    make_manager: Callable[..., JobManager], error: type[Exception]
) -> None:
    class Refuses(Handler[NParams]):
        job_type = "refuses"
        retry_policy = FAST_RETRY

        def run(self, ctx: JobContext, params: NParams) -> None:
            raise error("no")

    manager = make_manager(Refuses())
    job = manager.wait(manager.submit("refuses"), timeout=10)
    assert job.status is JobStatus.FAILED and job.attempts == 1


def test_should_retry_hook_decides(make_manager: Callable[..., JobManager]) -> None:
    asked: list[tuple[str, int]] = []

    class Picky(Flaky):
        job_type = "picky"

        def should_retry(self, exc: BaseException, attempt: int) -> bool:
            asked.append((str(exc), attempt))
            return attempt < 2

    manager = make_manager(Picky())
    job = manager.wait(manager.submit("picky", params={"n": 5}), timeout=10)
    assert job.status is JobStatus.FAILED and job.attempts == 2
    assert asked == [("transient failure 1", 1), ("transient failure 2", 2)]


@given(
    retry=st.integers(1, 200),
    base=st.floats(0, 100),
    factor=st.floats(1, 10),
    cap=st.floats(0, 3600),
    jitter=st.sampled_from(["equal", "full", "none"]),
    seed=st.integers(0, 2**32),
)
def test_backoff_stays_within_bounds(
    retry: int, base: float, factor: float, cap: float, jitter: str, seed: int
) -> None:
    policy = RetryPolicy(base=base, factor=factor, max_delay=cap, jitter=jitter)  # type: ignore[arg-type]
    ceiling = min(cap, base * factor ** (retry - 1))
    delay = policy.delay(retry, random.Random(seed))
    assert 0 <= delay <= ceiling + 1e-9
    if jitter == "equal":
        assert delay >= ceiling / 2 - 1e-9
    if jitter == "none":
        assert delay == ceiling
    assert policy.delay(retry, random.Random(seed)) == delay, "deterministic with a seeded rng"


def test_default_backoff_doubles() -> None:
    policy = RetryPolicy(jitter="none")
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert policy.delay(30) == 300
    with pytest.raises(ConfigurationError):
        RetryPolicy(factor=0.5)


def test_cooperative_timeout(make_manager: Callable[..., JobManager]) -> None:
    class Polite(Handler[NParams]):
        job_type = "polite"
        max_retries = 0

        def run(self, ctx: JobContext, params: NParams) -> None:
            while True:
                ctx.progress(10, "still going")

    manager = make_manager(Polite())
    job = manager.wait(manager.submit("polite", timeout=0.2), timeout=10)
    assert job.status is JobStatus.FAILED
    assert job.last_error is not None and job.last_error.type == "threadjobs.JobTimedOut"
    assert manager.stats().stuck_threads == 0


def test_timeout_stops_code_that_never_checks_in(make_manager: Callable[..., JobManager]) -> None:
    class Spinner(Handler[NParams]):
        job_type = "spinner"
        max_retries = 0

        def run(self, ctx: JobContext, params: NParams) -> None:
            while True:
                pass

    manager = make_manager(Spinner())
    job = manager.wait(manager.submit("spinner", timeout=0.3), timeout=10)
    assert job.status is JobStatus.FAILED
    assert job.last_error is not None and job.last_error.type == "threadjobs.JobTimedOut"
    assert job.started_at is not None and job.finished_at is not None
    assert job.finished_at - job.started_at < timedelta(seconds=0.3 + 1.0)
    assert manager.stats().stuck_threads == 0, "the injected exception freed the thread"


def test_a_stuck_thread_is_counted_and_replaced(make_manager: Callable[..., JobManager]) -> None:
    unblock = threading.Event()
    entered = threading.Event()

    class Blocked(Handler[NParams]):
        job_type = "blocked"
        max_retries = 0

        def run(self, ctx: JobContext, params: NParams) -> str:
            entered.set()
            unblock.wait()  # a C-level lock wait: no injected exception can reach it
            return "late"

    class Quick(Handler[NParams]):
        job_type = "quick"

        def run(self, ctx: JobContext, params: NParams) -> str:
            return "quick"

    manager = make_manager(Blocked(), Quick(), max_workers=1)
    stuck_id = manager.submit("blocked", timeout=0.2)
    assert entered.wait(10)
    job = manager.wait(stuck_id, timeout=10)
    assert job.status is JobStatus.FAILED
    assert job.finished_at is not None and job.started_at is not None
    assert job.finished_at - job.started_at < timedelta(seconds=0.2 + 1.0)
    assert manager.stats().stuck_threads == 1
    # the only worker thread is stuck, yet capacity is kept: another job still runs
    assert manager.wait(manager.submit("quick"), timeout=10).result == "quick"
    unblock.set()
    deadline = time.monotonic() + 10
    while manager.stats().stuck_threads:
        assert time.monotonic() < deadline
        time.sleep(0.01)  # waiting for the released thread to unwind
    assert manager.get(stuck_id).status is JobStatus.FAILED, "its late result is discarded"


def test_timeouts_of_many_short_jobs_are_not_spurious(
    make_manager: Callable[..., JobManager],
) -> None:
    class Short(Handler[NParams]):
        job_type = "short"

        def run(self, ctx: JobContext, params: NParams) -> int:
            return params.n

    manager = make_manager(Short())
    ids = manager.submit_many("short", [{"n": i} for i in range(300)], timeout=5)
    jobs = [manager.wait(job_id, timeout=30) for job_id in ids]
    assert {j.status for j in jobs} == {JobStatus.COMPLETED}
    assert manager.stats().stuck_threads == 0
