"""The worker side of a JobManager: claim from the store, run on threads, record.

Three kinds of threads:

* the **dispatcher** waits for free capacity and for work, claims several due jobs in
  one store call and hands them to the ThreadPoolExecutor;
* **job threads** run a job, record its outcome, and claim the next due job themselves
  before giving their slot back (so a busy queue needs no hand-off per job);
* the **supervisor** never runs job code: it renews leases (heartbeat), flushes
  progress, watches deadlines and stop requests (checkpoint flag, then an injected
  exception, then giving up on the thread), and runs store maintenance (lease
  recovery, retention).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._context import JobContext
from ._errors import JobCancelled, JobInterrupted, JobTimedOut, StoreError, WorkerShuttingDown
from ._handler import Handler
from ._models import JobStatus
from ._runner import Run, decide, execute, failure
from ._store import Finish, JobRecord, JobStore, LeaseState

__all__ = ["PoolConfig", "WorkerPool"]

log = logging.getLogger("threadjobs")

EmitFn = Callable[[JobRecord, "JobStatus | None"], None]


@dataclasses.dataclass(frozen=True)
class PoolConfig:
    """Tunables of the worker side; documented on :class:`threadjobs.JobManager`."""

    max_workers: int
    spare_threads: int
    lease: float
    heartbeat_interval: float
    progress_interval: float
    interrupt_grace: float
    abandon_grace: float
    max_recoveries: int
    poll_interval: float
    maintenance_interval: float
    purge_interval: float


class WorkerPool:
    """Claims and runs jobs for one JobManager."""

    def __init__(
        self,
        store: JobStore,
        handlers: dict[str, Handler[Any]],
        config: PoolConfig,
        worker_id: str,
        emit: EmitFn,
        rng: random.Random,
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.config = config
        self.worker_id = worker_id
        self._emit = emit
        self._rng = rng
        self._slots = threading.Semaphore(config.max_workers)
        self._executor = ThreadPoolExecutor(
            config.max_workers + config.spare_threads, thread_name_prefix="threadjobs-job"
        )
        self._runs: dict[str, Run] = {}
        self._runs_lock = threading.Lock()
        self._wake = threading.Condition()  # wakes the supervisor
        self._stopping = threading.Event()  # no more claims
        self._stopped = threading.Event()  # supervisor must exit
        self.stuck_threads = 0
        # jobs this pool claimed and has not yet recorded, started or not: what shutdown
        # waits for (a claimed job sits in the executor's queue before it is a run)
        # (set.add and set.discard are atomic, so the hot path takes no lock for it)
        self._claimed: set[str] = set()
        self._threads = [
            threading.Thread(target=self._dispatch, name="threadjobs-dispatcher", daemon=True),
            threading.Thread(target=self._supervise, name="threadjobs-supervisor", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # -- public to the manager -------------------------------------------------------

    def local_run(self, job_id: str) -> Run | None:
        """The run of ``job_id`` in this process, if it is running here."""
        return self._runs.get(job_id)

    def request_stop(self, job_id: str, reason: type[JobInterrupted]) -> None:
        """Ask a local run to stop (cancel, shutdown); harder measures follow if it ignores it."""
        run = self._runs.get(job_id)
        if run is not None and run.ctx.request_stop(reason):
            run.stop_requested_at = time.monotonic()
            with self._wake:
                self._wake.notify_all()

    def shutdown(self, timeout: float) -> None:
        """Stop claiming, let running jobs finish for ``timeout`` s, then stop and release them."""
        self._stopping.set()
        deadline = time.monotonic() + max(0.0, timeout)
        self._wait_idle(deadline)
        for job_id in list(self._runs):
            self.request_stop(job_id, WorkerShuttingDown)
        # after the stop request, the supervisor interrupts and finally releases the job
        grace = self.config.interrupt_grace + self.config.abandon_grace + 0.5
        self._wait_idle(time.monotonic() + grace)
        self._stopped.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self.stuck_threads:
            # ThreadPoolExecutor joins its threads at interpreter exit
            log.warning(
                "threadjobs: %d job thread(s) are still stuck in a handler; the interpreter "
                "will wait for them at exit (use os._exit to leave at once)",
                self.stuck_threads,
            )

    def _wait_idle(self, deadline: float) -> None:
        while self._claimed and time.monotonic() < deadline:
            with self._wake:
                self._wake.wait(min(0.05, max(0.0, deadline - time.monotonic())))

    # -- dispatcher -------------------------------------------------------------------

    def _dispatch(self) -> None:
        backoff = 0.0
        while not self._stopping.is_set():
            if not self._slots.acquire(timeout=0.2):
                continue
            free = 1
            while free < self.config.max_workers and self._slots.acquire(blocking=False):
                free += 1
            try:
                claimed = [] if self._stopping.is_set() else self._claim(free)
                backoff = 0.0
            except StoreError as exc:
                claimed = []
                backoff = min(max(backoff * 2, 0.1), 5.0)
                log.warning("threadjobs: claiming failed (%s); retrying in %.1fs", exc, backoff)
            for _ in range(free - len(claimed)):
                self._slots.release()
            for rec in claimed:
                self._claimed.add(rec.id)
                self._executor.submit(self._work, rec)
            if backoff:
                self._stopping.wait(backoff)
            elif len(claimed) < free:
                # fewer jobs than free slots: the queue was empty a moment ago, so claiming
                # again at once would find nothing. Wait for work instead; a store's wait
                # returns at once when work arrived meanwhile (the memory store checks its
                # ready queue, Redis finds the wake-up token the create pushed).
                try:
                    self.store.wait_for_work(self.config.poll_interval)
                except StoreError:
                    self._stopping.wait(0.5)

    def _claim(self, limit: int) -> list[JobRecord]:
        return self.store.claim(self.worker_id, limit, self.config.lease)

    # -- job threads ------------------------------------------------------------------

    def _work(self, rec: JobRecord) -> None:
        """Run ``rec``, then keep taking due jobs until none is left; then free the slot."""
        while True:
            if self._stopping.is_set():
                self._release_unstarted(rec)
                break
            run = self._start(rec)
            more = self._run(run)
            if run.abandoned:
                self._thread_returned(run)
                return  # the supervisor already gave this thread's slot to a replacement
            if not more:
                break
            rec = more[0]
            self._claimed.add(rec.id)
        self._slots.release()

    def _release_unstarted(self, rec: JobRecord) -> None:
        """Give a job claimed just before shutdown back to the queue, uncharged."""
        try:
            self.store.finish(rec.id, rec.attempts, Finish(JobStatus.QUEUED))
        except StoreError as exc:  # its lease will lapse and another worker recovers it
            log.warning("threadjobs: could not release job %s at shutdown: %s", rec.id, exc)
        self._unclaim(rec.id)

    def _start(self, rec: JobRecord) -> Run:
        ctx = JobContext(
            job_id=rec.id,
            job_type=rec.job_type,
            account_id=rec.account_id,
            attempt=rec.attempts,
            timeout=rec.timeout,
            flush=lambda progress: self._save_progress(rec.id, rec.attempts, progress),
            flush_interval=self.config.progress_interval,
            progress=rec.progress,
        )
        run = Run(record=rec, ctx=ctx, handler=self.handlers.get(rec.job_type))
        self._runs[rec.id] = run  # one dict store is atomic: no lock on this hot path
        if ctx.deadline is not None:
            with self._wake:
                self._wake.notify_all()
        self._emit(rec, JobStatus.QUEUED if rec.failures == 0 else JobStatus.RETRYING)
        return run

    def _run(self, run: Run) -> list[JobRecord]:
        """Run one job and record it; return the next job(s) claimed in the same store call."""
        try:
            outcome = execute(run)
            with run.ctx.lock:
                if run.abandoned:
                    return []
                run.closed = True
            if run.ctx.dirty and not run.lost:
                run.ctx.flush()
            finish = decide(run, outcome, self._rng, self.store.now())
            return self._record(run, finish, claim_next=not self._stopping.is_set())
        except BaseException:
            log.exception("threadjobs: internal error while running job %s", run.job_id)
            return []
        finally:
            if not run.abandoned:
                self._forget(run)

    def _record(self, run: Run, finish: Finish, claim_next: bool = False) -> list[JobRecord]:
        """Write the outcome, retrying while the store is briefly unavailable.

        With ``claim_next`` the same store call claims this thread's next job, so a busy
        worker pays one round trip per job instead of two.
        """
        if run.lost:
            log.warning("threadjobs: job %s lost its lease; its outcome is discarded", run.job_id)
            return []
        deadline = time.monotonic() + self.config.lease
        delay = 0.05
        more: list[JobRecord] = []
        retried = False
        while True:
            try:
                if claim_next:
                    updated, more = self.store.finish_and_claim(
                        run.job_id, run.attempt, finish, self.worker_id, 1, self.config.lease
                    )
                else:
                    updated = self.store.finish(run.job_id, run.attempt, finish)
                break
            except StoreError as exc:
                if time.monotonic() + delay > deadline:
                    log.error("threadjobs: could not record job %s: %s", run.job_id, exc)
                    return []
                # a claim whose reply was lost would strand jobs until their lease lapses:
                # retry the finish alone
                claim_next = False
                retried = True
                time.sleep(delay)  # backing off from an unavailable store, not synchronising
                delay = min(delay * 2, 1.0)
        if updated is None and retried:
            updated = self._landed(run, finish)
        if updated is None:
            log.warning(
                "threadjobs: the outcome of job %s attempt %d was rejected: another worker or a "
                "cancel got there first",
                run.job_id,
                run.attempt,
            )
        else:
            self._emit(updated, JobStatus.RUNNING)
        return more

    def _landed(self, run: Run, finish: Finish) -> JobRecord | None:
        """After a retried write was refused: did the first try land, its reply lost?

        The store refuses the retry because the first write already ended the run. If the
        job shows exactly our outcome for our attempt, that write was ours.
        """
        try:
            rec = self.store.get(run.job_id)
        except StoreError:
            return None
        if rec is None or rec.attempts != run.attempt or rec.status is not finish.status:
            return None
        return rec

    def _save_progress(self, job_id: str, attempt: int, progress: Any) -> None:
        try:
            state = self.store.save_progress(job_id, attempt, progress)
        except StoreError as exc:
            log.warning("threadjobs: progress of job %s not saved: %s", job_id, exc)
            return
        self._apply_lease_state(job_id, state)

    def _forget(self, run: Run) -> None:
        # Lock-free on purpose: a contended lock here costs a GIL hand-off per job. The
        # check-then-pop can only misfire if this process re-claimed the same job in
        # between (after losing its lease); fencing keeps even that case correct.
        if self._runs.get(run.job_id) is run:
            self._runs.pop(run.job_id, None)
        self._unclaim(run.job_id)

    def _unclaim(self, job_id: str) -> None:
        self._claimed.discard(job_id)
        if self._stopping.is_set():  # shutdown is waiting for the pool to drain
            with self._wake:
                self._wake.notify_all()

    def _thread_returned(self, run: Run) -> None:
        with self._runs_lock:
            self.stuck_threads -= 1
        log.info("threadjobs: the stuck thread of job %s returned", run.job_id)

    # -- supervisor -------------------------------------------------------------------

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
        if stuck <= self.config.spare_threads:
            self._slots.release()

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
            log.warning("threadjobs: lease renewal failed (%s); will retry", exc)
            return
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
            log.warning("threadjobs: store maintenance failed (%s); will retry", exc)


def _stuck_message(run: Run, reason: type[JobInterrupted]) -> str:
    timeout = run.record.timeout
    what = f"its timeout of {timeout:g}s" if timeout is not None else "its stop request"
    return (
        f"job {run.job_id} passed {what} and its thread did not stop; it was recorded "
        "as timed out and the thread is counted as stuck (is it blocked in a C call or I/O "
        "without a timeout?)"
    )
