"""Handlers (and a scenario) used across the core and Redis tests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from pydantic import BaseModel

from threadjobs import Handler, JobContext, JobManager, JobStatus, RetryPolicy
from threadjobs._store import JobStore

FAST_RETRY = RetryPolicy(base=0.01, max_delay=0.05)


class NParams(BaseModel):
    n: int = 0


class Echo(Handler[NParams]):
    """Returns its params; counts runs per job."""

    job_type = "echo"

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()
        self.lock = threading.Lock()

    def run(self, ctx: JobContext, params: NParams) -> dict[str, Any]:
        with self.lock:
            self.runs[ctx.job_id] += 1
        return {"n": params.n, "attempt": ctx.attempt}


class Gate(Handler[NParams]):
    """Signals `started`, then waits for `release`, checking in while it waits."""

    job_type = "gate"
    max_retries = 0

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.order: list[int] = []

    def run(self, ctx: JobContext, params: NParams) -> int:
        self.order.append(params.n)
        self.started.set()
        while not self.release.wait(0.01):
            ctx.check()
        return params.n


class Flaky(Handler[NParams]):
    """Fails `n` times with RuntimeError, then succeeds."""

    job_type = "flaky"
    retry_policy = FAST_RETRY

    def run(self, ctx: JobContext, params: NParams) -> str:
        if ctx.attempt <= params.n:
            raise RuntimeError(f"transient failure {ctx.attempt}")
        return "ok"


def check_a_long_job_keeps_its_lease(store: JobStore) -> None:
    """A job runs for six lease lengths on one manager while another sweeps for expired
    leases every 50 ms: the supervisor renews the lease all along, so the job is never
    taken over and runs once."""
    gate, other = Gate(), Gate()
    holder = JobManager(store=store, lease=0.5, seed=1)  # renewed every 0.17 s
    holder.register(gate)
    sweeper: JobManager | None = None
    try:
        job_id = holder.submit("gate")
        assert gate.started.wait(10)
        sweeper = JobManager(store=store, max_workers=1, maintenance_interval=0.05, seed=1)
        sweeper.register(other)
        first = store.get(job_id)
        assert first is not None and first.lease_until is not None
        deadline = time.monotonic() + 30
        while True:  # observe six lease lengths pass, renewed all along
            rec = store.get(job_id)
            assert rec is not None and rec.status is JobStatus.RUNNING and rec.recoveries == 0
            assert rec.lease_until is not None
            if rec.lease_until > first.lease_until + 3.0:
                break
            assert time.monotonic() < deadline, "the lease was not renewed"
            time.sleep(0.05)  # polling the store, as another process would
        gate.release.set()
        job = holder.wait(job_id, timeout=10)
        assert (job.status, job.attempts) == (JobStatus.COMPLETED, 1)
        assert len(gate.order) == 1 and other.order == []
    finally:
        gate.release.set()
        if sweeper is not None:
            sweeper.shutdown(timeout=5)
        holder.shutdown(timeout=5)
