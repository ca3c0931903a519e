"""The supervisor half of a WorkerPool: the thread that never runs job code.

It renews leases (heartbeat), flushes progress, watches deadlines and stop requests
(checkpoint flag, then an injected exception, then giving up on the thread, whose place
a spare thread takes), and runs store maintenance (lease recovery, retention). A mixin:
:class:`~._worker.WorkerPool` provides the state and the few job-thread methods declared
at the top of :class:`Supervision`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ._errors import JobCancelled, JobInterrupted, JobTimedOut, StoreError, WorkerShuttingDown
from ._models import JobStatus
from ._outage import OutageLog
from ._runner import Run, failure
from ._store import Finish, JobStore, LeaseState

if TYPE_CHECKING:
    from ._worker import EmitFn, PoolConfig

__all__ = ["Supervision"]

log = logging.getLogger("threadjobs")


class Supervision:
    """The supervisor thread's work, for :class:`~._worker.WorkerPool`."""

    # the pool's state and job-thread methods this half uses
    config: PoolConfig
    store: JobStore
    worker_id: str
    stuck_threads: int
    _emit: EmitFn
    _rng: random.Random
    _executor: ThreadPoolExecutor
    _runs: dict[str, Run]
    _runs_lock: threading.Lock
    _wake: threading.Condition
    _stopping: threading.Event
    _stopped: threading.Event
    _lease_outage: OutageLog
    _maintenance_outage: OutageLog

    if TYPE_CHECKING:

        def request_stop(self, job_id: str, reason: type[JobInterrupted]) -> None: ...
        def _record(self, run: Run, finish: Finish, retried: bool = False) -> None: ...
        def _unclaim(self, job_id: str) -> None: ...
        def _loop(self) -> None: ...

    def _supervise(self) -> None:
        cfg = self.config
        next_beat = next_maintenance = time.monotonic()
        next_purge = time.monotonic() + cfg.purge_interval * self._rng.uniform(0.1, 1.0)
        while not self._stopped.is_set():
            now = time.monotonic()
            wake_at = self._watch_runs(now)
            if now >= next_beat:
                self._heartbeat()
                next_beat = now + cfg.heartbeat_interval
            if now >= next_maintenance:
                self._maintain(purge=now >= next_purge)
                if now >= next_purge:
                    next_purge = now + cfg.purge_interval
                # jitter keeps many processes from hitting the store in lockstep
                next_maintenance = now + cfg.maintenance_interval * self._rng.uniform(0.8, 1.2)
            wake_at = min(wake_at, next_beat, next_maintenance)
            with self._wake:
                if not self._stopped.is_set():
                    self._wake.wait(max(0.0, wake_at - time.monotonic()))

    def _watch_runs(self, now: float) -> float:
        """Advance each run's stop ladder; return when the next step is due."""
        cfg = self.config
        wake_at = now + 3600.0
        for run in list(self._runs.values()):
            ctx = run.ctx
            if ctx.deadline is not None and now >= ctx.deadline and ctx.request_stop(JobTimedOut):
                run.stop_requested_at = ctx.deadline
            if ctx.stop_reason is not None and run.stop_requested_at is None:
                run.stop_requested_at = now  # the job found its own deadline at a checkpoint
            if run.stop_requested_at is None:
                if ctx.deadline is not None:
                    wake_at = min(wake_at, ctx.deadline)
                continue
            interrupt_at = run.stop_requested_at + cfg.interrupt_grace
            abandon_at = interrupt_at + cfg.abandon_grace
            if now >= abandon_at and not run.abandoned:
                self._abandon(run)
            elif now >= interrupt_at and not run.interrupted:
                run.interrupt()
                wake_at = min(wake_at, abandon_at)
            else:
                wake_at = min(wake_at, interrupt_at if not run.interrupted else abandon_at)
        return wake_at

    def _abandon(self, run: Run) -> None:
        """Give up on a thread that ignores its stop request: record the outcome ourselves."""
        with run.ctx.lock:
            if run.closed:
                return
            run.abandoned = True
        reason = run.ctx.stop_reason or JobTimedOut
        log.error(
            "threadjobs: job %s did not stop within %.1fs of its %s; its thread is stuck",
            run.job_id,
            self.config.interrupt_grace + self.config.abandon_grace,
            reason.__name__,
        )
        with self._runs_lock:
            self.stuck_threads += 1
            if self._runs.get(run.job_id) is run:
                del self._runs[run.job_id]
            stuck = self.stuck_threads
        self._unclaim(run.job_id)
        now = self.store.now()
        if reason is JobCancelled:
            finish = Finish(JobStatus.CANCELLED)
        elif reason is WorkerShuttingDown:
            finish = Finish(JobStatus.QUEUED)
        else:
            finish = failure(run, JobTimedOut(_stuck_message(run, reason)), self._rng, now)
        self._record(run, finish)
        # keep capacity while spare threads remain; past that, the pool honestly shrinks
        if stuck <= self.config.spare_threads and not self._stopping.is_set():
            self._executor.submit(self._loop)

    def _heartbeat(self) -> None:
        runs = {job_id: run.attempt for job_id, run in list(self._runs.items())}
        for run in list(self._runs.values()):
            if run.ctx.dirty and not run.lost:
                run.ctx.flush()
        if not runs:
            return
        try:
            states = self.store.heartbeat(self.worker_id, runs, self.config.lease)
        except StoreError as exc:
            self._lease_outage.failed(exc)
            return
        self._lease_outage.succeeded()
        for job_id, state in states.items():
            self._apply_lease_state(job_id, state)

    def _apply_lease_state(self, job_id: str, state: LeaseState) -> None:
        if state is LeaseState.CANCEL_REQUESTED:
            self.request_stop(job_id, JobCancelled)
        elif state is LeaseState.LOST:
            run = self._runs.get(job_id)
            # a run that is closed was just recorded: the heartbeat raced its finish
            if run is not None and not run.lost and not run.closed:
                run.lost = True
                log.warning("threadjobs: job %s is no longer held by this worker", job_id)
                self.request_stop(job_id, JobCancelled)

    def _maintain(self, purge: bool) -> None:
        try:
            for rec in self.store.recover(self.config.max_recoveries):
                self._emit(rec, JobStatus.RUNNING)
            if purge:
                self.store.purge()
        except StoreError as exc:
            self._maintenance_outage.failed(exc)
            return
        self._maintenance_outage.succeeded()


def _stuck_message(run: Run, reason: type[JobInterrupted]) -> str:
    timeout = run.record.timeout
    what = f"its timeout of {timeout:g}s" if timeout is not None else "its stop request"
    return (
        f"job {run.job_id} passed {what} and its thread did not stop; it was recorded "
        "as timed out and the thread is counted as stuck (is it blocked in a C call or I/O "
        "without a timeout?)"
    )
