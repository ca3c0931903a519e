"""Several managers sharing one store: remote cancels, dead workers, lost leases."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from threadjobs import Handler, JobContext, JobManager, JobStatus, MemoryJobStore
from threadjobs.testing import new_job

from .handlers import Echo, Gate, NParams, check_a_long_job_keeps_its_lease


def test_a_cancel_from_another_manager_reaches_the_running_job(
    make_manager: Callable[..., JobManager],
) -> None:
    store = MemoryJobStore()
    gate = Gate()
    make_manager(gate, store=store, heartbeat_interval=0.05)
    web = make_manager(Gate(), store=store, max_workers=0)  # e.g. the web process
    job_id = web.submit("gate")
    assert gate.started.wait(10)
    web.cancel(job_id)  # only the store's flag tells the worker
    job = web.wait(job_id, timeout=10)
    assert job.status is JobStatus.CANCELLED and job.attempts == 1


def test_a_dead_workers_job_is_recovered_and_run(
    make_manager: Callable[..., JobManager],
) -> None:
    store = MemoryJobStore()
    job = new_job(job_type="echo", account_id=None, params={"n": 3})
    store.create(job)
    # a worker claims it and dies: nobody renews its 0.1 s lease
    assert store.claim("dead-worker", 1, 0.1)[0].id == job.id
    echo = Echo()
    recovered = threading.Event()
    survivor = make_manager(echo, store=store, maintenance_interval=0.05)
    survivor.add_listener(lambda e: recovered.set(), statuses=["queued"])
    done = survivor.wait(job.id, timeout=10)
    assert recovered.is_set()
    assert done.status is JobStatus.COMPLETED
    assert done.attempts == 2 and done.result == {"n": 3, "attempt": 2}
    assert echo.runs[job.id] == 1


def test_a_worker_that_lost_its_lease_cannot_record_its_outcome(
    make_manager: Callable[..., JobManager],
) -> None:
    now = [time.time()]
    store = MemoryJobStore(clock=lambda: now[0])
    entered = threading.Event()
    release = threading.Event()
    finished_first_run = threading.Event()

    class Slow(Handler[NParams]):
        job_type = "slow"

        def run(self, ctx: JobContext, params: NParams) -> int:
            if ctx.attempt == 1:
                entered.set()
                release.wait(10)  # a long pause: GC, a stopped VM, a blocked call
                finished_first_run.set()
            return ctx.attempt

    # the first manager holds the job; its supervisor is too slow to renew in time
    first = make_manager(Slow(), store=store, lease=5, heartbeat_interval=4.9)
    job_id = first.submit("slow")
    assert entered.wait(10)
    now[0] += 60  # the lease lapses
    second = make_manager(Slow(), store=store, lease=5, maintenance_interval=0.05)
    job = second.wait(job_id, timeout=10)
    assert (job.status, job.result, job.attempts) == (JobStatus.COMPLETED, 2, 2)
    release.set()
    assert finished_first_run.wait(10)
    first.shutdown(timeout=5)  # the first run has ended; its late "1" was refused
    assert second.get(job_id).result == 2


def test_a_job_running_far_past_its_lease_keeps_it() -> None:
    check_a_long_job_keeps_its_lease(MemoryJobStore())
