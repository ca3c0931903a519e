"""The worker side of a JobManager: claim from the store, run on threads, record.

Two kinds of threads:

* ``max_workers`` **job threads** (long-lived tasks on a ThreadPoolExecutor), each
  claiming its own jobs: run one, then record its outcome and claim the next in one
  store call that also waits for work if none is due. No job is ever handed from one
  thread to another. Idle threads take turns: one waits on the store (so an idle
  process costs the store one waiting call whatever its thread count), the others wait
  here until it takes a job and hands its turn on;
* the **supervisor** never runs job code: leases, progress, deadlines, stop requests
  and store maintenance (see ``_supervisor``).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._context import JobContext
from ._errors import JobInterrupted, StoreError, WorkerShuttingDown
from ._handler import Handler
from ._models import JobStatus
from ._outage import OutageLog
from ._runner import Run, decide, execute
from ._store import Finish, JobRecord, JobStore
from ._supervisor import Supervision

__all__ = ["PoolConfig", "WorkerPool"]

log = logging.getLogger("threadjobs")

EmitFn = Callable[[JobRecord, "JobStatus | None"], None]

_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


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


class WorkerPool(Supervision):
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
        self._executor = ThreadPoolExecutor(
            config.max_workers + config.spare_threads, thread_name_prefix="threadjobs-job"
        )
        self._runs: dict[str, Run] = {}
        self._runs_lock = threading.Lock()
        self._wake = threading.Condition()  # wakes the supervisor
        self._stopping = threading.Event()  # no more claims
        # the same, as a plain attribute for the per-job checks (Event.is_set is a call)
        self._stop = False
        self._stopped = threading.Event()  # supervisor must exit
        self.stuck_threads = 0
        # what shutdown waits for: jobs this pool claimed and has not yet recorded, and
        # job threads inside a store call that may claim (set.add and set.discard are
        # atomic, so the hot path takes no lock for them)
        self._claimed: set[str] = set()
        self._claiming: set[int] = set()  # thread idents
        # idle job threads take turns to wait on the store (see the module docstring)
        self._idle = threading.Condition()
        self._polling = False
        # one warning per store outage, not one per retry of every thread
        self._claim_outage = OutageLog("claiming jobs")
        self._lease_outage = OutageLog("renewing leases")
        self._maintenance_outage = OutageLog("store maintenance (lease recovery, retention)")
        self._supervisor = threading.Thread(
            target=self._supervise, name="threadjobs-supervisor", daemon=True
        )
        self._supervisor.start()
        _POOLS.add(self)
        for _ in range(config.max_workers):
            self._executor.submit(self._loop)

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
        self._stop_claiming()
        deadline = time.monotonic() + max(0.0, timeout)
        self._wait_idle(deadline)
        # a job thread still waiting for work in the store (at most poll_interval) would
        # claim a job released below straight back: let it come back first
        self._wait_idle(time.monotonic() + self.config.poll_interval + 1.0, claiming_only=True)
        for job_id in list(self._runs):
            self.request_stop(job_id, WorkerShuttingDown)
        # after the stop request, the supervisor interrupts and finally releases the job
        grace = self.config.interrupt_grace + self.config.abandon_grace + 0.5
        self._wait_idle(time.monotonic() + grace)
        self._stopped.set()
        with self._wake:
            self._wake.notify_all()
        self._supervisor.join(timeout=5)
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self.stuck_threads:
            # ThreadPoolExecutor joins its threads at interpreter exit
            log.warning(
                "threadjobs: %d job thread(s) are still stuck in a handler; the interpreter "
                "will wait for them at exit (use os._exit to leave at once)",
                self.stuck_threads,
            )

    def _stop_claiming(self) -> None:
        self._stop = True
        self._stopping.set()
        with self._idle:
            self._idle.notify_all()

    def _wait_idle(self, deadline: float, claiming_only: bool = False) -> None:
        while (
            self._claiming or (self._claimed and not claiming_only)
        ) and time.monotonic() < deadline:
            with self._wake:
                self._wake.wait(min(0.05, max(0.0, deadline - time.monotonic())))

    # -- job threads ------------------------------------------------------------------

    def _loop(self) -> None:
        """A job thread: run a job, record it and take the next; when idle, wait for one."""
        rec = self._next_idle(look_first=True)
        while rec is not None:
            if self._stop:
                self._release_unstarted(rec)
                return
            try:
                run = self._start(rec)
            except Exception:  # a bug; the thread must survive it (its lease will lapse)
                log.exception("threadjobs: internal error while starting job %s", rec.id)
                self._unclaim(rec.id)
                rec = self._next_idle(look_first=False)
                continue
            nxt = self._run(run)
            if run.abandoned:
                self._thread_returned(run)
                return  # the supervisor already gave this thread's place to a spare one
            rec = nxt if nxt is not None else self._next_idle(look_first=False)

    def _next_idle(self, look_first: bool) -> JobRecord | None:
        """Wait for a job with nothing to do; None when the pool stops.

        One idle thread at a time waits on the store; the others wait for their turn
        here. The one waiting hands its turn on as soon as it takes a job, so the next
        job finds a thread waiting on the store. ``look_first``: claim once without
        waiting (a thread starting up may find jobs that no wake-up announces).
        """
        with self._idle:
            while self._polling and not self._stopping.is_set():
                self._idle.wait()
            if self._stopping.is_set():
                return None
            self._polling = True
        try:
            return self._poll(0.0 if look_first else self.config.poll_interval)
        finally:
            with self._idle:
                self._polling = False
                self._idle.notify()

    def _poll(self, wait: float) -> JobRecord | None:
        backoff = 0.0
        while not self._stopping.is_set():
            try:
                claimed = self._claiming_call(
                    functools.partial(self.store.claim, self.worker_id, 1, self.config.lease, wait)
                )
            except Exception as exc:
                backoff = min(max(backoff * 2, 0.1), 5.0)
                self._claim_outage.failed(
                    exc, f"retrying in {backoff:.1f}s", trace=not isinstance(exc, StoreError)
                )
                self._stopping.wait(backoff)
                continue
            self._claim_outage.succeeded()
            if claimed:
                return claimed[0]
            backoff = 0.0
            wait = self.config.poll_interval
        return None

    def _claiming_call(self, call: Callable[[], list[JobRecord]]) -> list[JobRecord]:
        """Run a store call that may claim jobs; shutdown waits for it, then for its jobs."""
        me = threading.get_ident()
        self._claiming.add(me)
        try:
            claimed = call()
            for rec in claimed:  # before leaving _claiming, so shutdown sees one or the other
                self._claimed.add(rec.id)
            return claimed
        finally:
            self._left_store(me)

    def _left_store(self, me: int) -> None:
        """A claiming store call of thread ``me`` returned (see _claiming_call)."""
        self._claiming.discard(me)
        if self._stop:  # shutdown is waiting for the pool to drain
            with self._wake:
                self._wake.notify_all()

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

    def _run(self, run: Run) -> JobRecord | None:
        """Run one job and record it; return the next job, claimed in the same store call."""
        try:
            outcome = execute(run)
            with run.ctx.lock:
                if run.abandoned:
                    return None
                run.closed = True
            if run.ctx.dirty and not run.lost:
                run.ctx.flush()
            finish = decide(run, outcome, self._rng, self.store.now())
            if self._stop:
                self._record(run, finish)
                return None
            return self._record_and_claim(run, finish)
        except BaseException:
            log.exception("threadjobs: internal error while running job %s", run.job_id)
            return None
        finally:
            if not run.abandoned and not run.recorded:
                self._forget(run)

    def _record_and_claim(self, run: Run, finish: Finish) -> JobRecord | None:
        """Write the outcome and claim this thread's next job in one store call, waiting
        up to ``poll_interval`` for one if none is due: a busy worker pays one round trip
        per job, and a worker that runs dry is already waiting when the next job comes.

        If that call fails before the outcome is written, :meth:`_record` takes over
        (retries, without a claim: a claim whose reply was lost would strand its jobs).
        """
        if run.lost:
            self._record(run, finish)
            return None

        def finish_and_claim() -> list[JobRecord]:
            return self.store.finish_and_claim(
                run.job_id,
                run.attempt,
                finish,
                self.worker_id,
                1,
                self.config.lease,
                self.config.poll_interval,
                functools.partial(self._recorded, run),
            )[1]

        try:
            more = self._claiming_call(finish_and_claim)
        except StoreError as exc:
            if not run.recorded:
                self._record(run, finish, retried=True)
                return None
            # the outcome is written; only the claim or the wait failed
            self._claim_outage.failed(exc, "the thread polls again")
            return None
        self._claim_outage.succeeded()
        return more[0] if more else None

    def _record(self, run: Run, finish: Finish, retried: bool = False) -> None:
        """Write the outcome, retrying while the store is briefly unavailable.

        ``retried``: a first write may have landed with its reply lost.
        """
        if run.lost:
            log.warning("threadjobs: job %s lost its lease; its outcome is discarded", run.job_id)
            return
        deadline = time.monotonic() + self.config.lease
        delay = 0.05
        while True:
            if retried:
                time.sleep(delay)  # backing off from an unavailable store, not synchronising
                delay = min(delay * 2, 1.0)
            try:
                updated = self.store.finish(run.job_id, run.attempt, finish)
                break
            except StoreError as exc:
                if time.monotonic() + delay > deadline:
                    log.error("threadjobs: could not record job %s: %s", run.job_id, exc)
                    return
                retried = True
        if updated is None and retried:
            updated = self._landed(run, finish)
        self._recorded(run, updated)

    def _recorded(self, run: Run, updated: JobRecord | None) -> None:
        """The outcome is written (``updated``) or was rejected (None): tell, then forget."""
        if updated is None:
            log.warning(
                "threadjobs: the outcome of job %s attempt %d was rejected: another worker or a "
                "cancel got there first",
                run.job_id,
                run.attempt,
            )
        else:
            self._emit(updated, JobStatus.RUNNING)
        run.recorded = True
        self._forget(run)

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
        job_id = run.record.id
        if self._runs.get(job_id) is run:
            self._runs.pop(job_id, None)
        self._claimed.discard(job_id)
        if self._stop:  # shutdown is waiting for the pool to drain
            with self._wake:
                self._wake.notify_all()

    def _unclaim(self, job_id: str) -> None:
        self._claimed.discard(job_id)
        if self._stop:  # shutdown is waiting for the pool to drain
            with self._wake:
                self._wake.notify_all()

    def _thread_returned(self, run: Run) -> None:
        with self._runs_lock:
            self.stuck_threads -= 1
        log.info("threadjobs: the stuck thread of job %s returned", run.job_id)


def _at_exit() -> None:
    """The interpreter is exiting with managers not shut down: stop claiming.

    Job threads are the executor's, which the interpreter joins before it exits; left
    claiming, they would keep the process alive for ever. Stopped, each finishes and
    records the job it runs, gives back one it claimed but did not start, and returns
    (a thread waiting on the store, within ``poll_interval``).
    """
    for pool in list(_POOLS):
        pool._stop_claiming()


# runs before the interpreter joins non-daemon threads (and before concurrent.futures'
# own hook, registered earlier), unlike atexit callbacks, which run after
threading._register_atexit(_at_exit)  # type: ignore[attr-defined]
