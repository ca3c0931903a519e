"""Running jobs: results, ordering, progress, async handlers, concurrency limits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from pydantic import BaseModel

from threadjobs import Handler, JobContext, JobManager, JobStatus, MemoryJobStore

from .handlers import Echo, Gate, NParams


def test_a_job_runs_and_records_its_result(make_manager: Callable[..., JobManager]) -> None:
    echo = Echo()
    manager = make_manager(echo)
    job = manager.wait(manager.submit("echo", params={"n": 5}), timeout=10)
    assert job.status is JobStatus.COMPLETED
    assert job.result == {"n": 5, "attempt": 1}
    assert job.attempts == 1 and job.errors == ()
    assert job.started_at is not None and job.finished_at is not None
    assert job.created_at <= job.started_at <= job.finished_at
    assert echo.runs[job.id] == 1


def test_async_handlers_run(make_manager: Callable[..., JobManager]) -> None:
    class Double(Handler[NParams]):
        job_type = "double"

        async def run(self, ctx: JobContext, params: NParams) -> int:
            await asyncio.sleep(0)
            ctx.progress(50, "half")
            return params.n * 2

    manager = make_manager(Double())
    job = manager.wait(manager.submit("double", params={"n": 21}), timeout=10)
    assert (job.status, job.result) == (JobStatus.COMPLETED, 42)


def test_results_are_made_json_safe(make_manager: Callable[..., JobManager]) -> None:
    class Out(BaseModel):
        rows: int

    class Models(Handler[NParams]):
        job_type = "models"

        def run(self, ctx: JobContext, params: NParams) -> Out:
            return Out(rows=3)

    manager = make_manager(Models())
    assert manager.wait(manager.submit("models"), timeout=10).result == {"rows": 3}


def test_unserialisable_result_fails_clearly(make_manager: Callable[..., JobManager]) -> None:
    class Bad(Handler[NParams]):
        job_type = "bad"

        def run(self, ctx: JobContext, params: NParams) -> object:
            return object()

    manager = make_manager(Bad())
    job = manager.wait(manager.submit("bad"), timeout=10)
    assert job.status is JobStatus.FAILED
    assert job.last_error is not None and "JSON" in job.last_error.message
    assert job.attempts == 1, "a result that cannot be stored is not retried"


def test_priority_then_fifo(make_manager: Callable[..., JobManager]) -> None:
    gate = Gate()
    manager = make_manager(gate, max_workers=1)
    manager.submit("gate", params={"n": -1})
    assert gate.started.wait(10)
    # the only worker is busy: these queue up, then run by priority, FIFO within one
    ids = [
        manager.submit("gate", params={"n": n}, priority=p)
        for n, p in [(1, 1), (2, 9), (3, 5), (4, 9), (5, 5)]
    ]
    gate.release.set()
    for job_id in ids:
        manager.wait(job_id, timeout=10)
    assert gate.order == [-1, 2, 4, 3, 5, 1]


def test_delayed_job_waits_for_its_time(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(Echo())
    job_id = manager.submit("echo", delay=0.3)
    queued = manager.get(job_id)
    assert queued.scheduled_for is not None
    job = manager.wait(job_id, timeout=10)
    assert job.started_at is not None and job.started_at >= queued.scheduled_for


def test_progress_is_visible_at_once_and_clamped(make_manager: Callable[..., JobManager]) -> None:
    reported = threading.Event()
    release = threading.Event()
    seen: list[float] = []

    class Reporter(Handler[NParams]):
        job_type = "reporter"

        def run(self, ctx: JobContext, params: NParams) -> None:
            for value in (30, -5, 150, float("nan"), 55.5):
                ctx.progress(value, f"at {value}", step="s")
                reported.set()
                release.wait(10)
                release.clear()

    manager = make_manager(Reporter(), progress_interval=60)
    job_id = manager.submit("reporter")
    for _ in range(5):
        assert reported.wait(10)
        reported.clear()
        seen.append(manager.get(job_id).progress.percent)
        release.set()
    job = manager.wait(job_id, timeout=10)
    assert seen == [30, 0, 100, 0, 55.5]
    assert job.progress.percent == 55.5 and job.progress.message == "at 55.5"
    assert job.progress.step == "s" and job.progress.updated_at is not None


def test_progress_is_written_to_the_store(make_manager: Callable[..., JobManager]) -> None:
    store = MemoryJobStore()
    saw = threading.Event()
    release = threading.Event()

    class Reporter(Handler[NParams]):
        job_type = "reporter"

        def run(self, ctx: JobContext, params: NParams) -> None:
            ctx.progress(40, "Parsing CSV data", step="csv_parsing")
            saw.set()
            release.wait(10)

    manager = make_manager(Reporter(), store=store, progress_interval=0)
    job_id = manager.submit("reporter")
    assert saw.wait(10)
    rec = store.get(job_id)  # another process would see exactly this
    assert rec is not None and rec.progress.percent == 40
    assert rec.progress.step == "csv_parsing"
    release.set()
    manager.wait(job_id, timeout=10)


def test_no_more_than_max_workers_at_once(make_manager: Callable[..., JobManager]) -> None:
    lock = threading.Lock()
    now = peak = 0
    all_in = threading.Barrier(3)

    class Counted(Handler[NParams]):
        job_type = "counted"

        def run(self, ctx: JobContext, params: NParams) -> None:
            nonlocal now, peak
            with lock:
                now += 1
                peak = max(peak, now)
            if params.n < 3:
                all_in.wait(10)  # proves three really run at the same time
            with lock:
                now -= 1

    manager = make_manager(Counted(), max_workers=3)
    ids = manager.submit_many("counted", [{"n": i} for i in range(30)])
    for job_id in ids:
        assert manager.wait(job_id, timeout=20).status is JobStatus.COMPLETED
    assert peak == 3


def test_many_jobs_each_run_exactly_once(make_manager: Callable[..., JobManager]) -> None:
    echo = Echo()
    store = MemoryJobStore()
    # two managers share one store, as two processes share Redis
    first = make_manager(echo, store=store, max_workers=4)
    make_manager(echo, store=store, max_workers=4)
    ids = first.submit_many("echo", [{"n": i} for i in range(500)])
    for job_id in ids:
        assert first.wait(job_id, timeout=30).status is JobStatus.COMPLETED
    assert sorted(echo.runs) == sorted(ids)
    assert set(echo.runs.values()) == {1}


@pytest.mark.parametrize("workers", [1, 4])
def test_the_context_describes_the_job(
    make_manager: Callable[..., JobManager], workers: int
) -> None:
    seen: list[tuple[str, str, object, int]] = []

    class Describe(Handler[NParams]):
        job_type = "describe"

        def run(self, ctx: JobContext, params: NParams) -> None:
            seen.append((ctx.job_id, ctx.job_type, ctx.account_id, ctx.attempt))
            assert ctx.time_remaining() is not None
            assert not ctx.cancelled

    manager = make_manager(Describe(), max_workers=workers)
    job_id = manager.submit("describe", account_id="acct", timeout=60)
    manager.wait(job_id, timeout=10)
    assert seen == [(job_id, "describe", "acct", 1)]
