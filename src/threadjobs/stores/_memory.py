"""The in-memory store: the default, and the store to use in tests.

One lock guards every structure, so each method is atomic, exactly as the store
contract asks. Indexes are kept as the jobs change (heaps for the queue, sorted id
lists for listings, counters for stats), so no operation scans every job.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone

from .._models import AttemptError, JobStatus, Progress
from .._store import (
    ALLOWED_TRANSITIONS,
    CancelOutcome,
    Finish,
    JobRecord,
    LeaseState,
    NewJob,
    Retention,
)
from ._memory_guard import Guard
from ._memory_index import Index

__all__ = ["MemoryJobStore"]

_WAITING = (JobStatus.QUEUED, JobStatus.RETRYING)
_RUNNING = JobStatus.RUNNING
_TERMINAL = frozenset(s for s in JobStatus if s.is_terminal)
_HOUR = 3600.0


class MemoryJobStore:
    """A thread-safe, process-local job store.

    Jobs live as long as the process. Several JobManagers in one process may share
    one instance (handy for tests of multi-worker behaviour).

    Args:
        retention: how long terminal jobs are kept (24 h completed, 7 days failed and
            cancelled by default).
        clock: the time source, epoch seconds; tests may inject a fake clock.
    """

    def __init__(
        self, retention: Retention | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        self.retention = retention or Retention()
        self._clock: Callable[[], float] = clock if clock is not None else time.time
        self._lock = threading.Lock()
        self._guard = Guard(self._lock)
        self._work = threading.Condition(self._lock)
        self._jobs: dict[str, JobRecord] = {}
        self._running: dict[str, JobRecord] = {}
        self._ready: list[tuple[int, float, int, str]] = []  # (-priority, due, seq, id)
        self._scheduled: list[tuple[float, int, str]] = []  # (due, seq, id)
        self._queue_seq: dict[str, int] = {}  # id -> seq of its live heap entry
        self._seq = 0
        self._dedup: dict[str, str] = {}
        self._expiry: list[tuple[float, str]] = []
        self._index = Index(self._jobs, self._running)
        self._closed = False
        self._waiting = 0  # threads waiting in claim: creates skip the notify when none wait

    @property
    def retention(self) -> Retention:
        """How long terminal jobs are kept; may be replaced at any time."""
        return self._retention

    @retention.setter
    def retention(self, value: Retention) -> None:
        self._retention = value
        self._keep = {s: value.for_status(s) for s in _TERMINAL}  # looked up once per job

    # -- clock -----------------------------------------------------------------------

    def now(self) -> float:
        """The store's clock (``time.time`` unless a clock was injected)."""
        return self._clock()

    # -- creating ---------------------------------------------------------------------

    def create(self, job: NewJob) -> tuple[str, bool]:
        """Store ``job`` as queued, or return the id of the unfinished job holding its dedup key."""
        rec = _record_of(job)  # built before taking the lock: a shorter critical section
        with self._guard:
            out = self._create(rec, job.delay, self.now())
            self._wake_waiters()
        return out

    def create_many(self, jobs: Sequence[NewJob]) -> list[tuple[str, bool]]:
        """Create several jobs under one lock acquisition."""
        recs = [(_record_of(job), job.delay) for job in jobs]
        with self._guard:
            now = self.now()
            out = [self._create(rec, delay, now) for rec, delay in recs]
            self._wake_waiters()
        return out

    # -- reading ------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """A copy of the job, or None."""
        with self._guard:
            rec = self._jobs.get(job_id)
            return rec.copy() if rec is not None else None

    def list_jobs(
        self,
        account_id: int | str | None,
        status: JobStatus | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[JobRecord], str | None]:
        """Newest first; ``cursor`` is the last id of the previous page."""
        with self._guard:
            page, next_cursor = self._index.page(account_id, status, limit, cursor)
            return [rec.copy() for rec in page], next_cursor

    def counts(self, account_id: int | str | None = None) -> dict[JobStatus, int]:
        """Current number of jobs per status."""
        with self._guard:
            return self._index.counts(account_id)

    def recent_counts(
        self, account_id: int | str | None = None, hours: int = 24
    ) -> dict[str, dict[JobStatus, int]]:
        """Per job type, entries into each status during the last ``hours`` hours."""
        with self._guard:
            return self._index.recent(account_id, int(self.now() // _HOUR) - hours + 1)

    # -- running ----------------------------------------------------------------------

    def claim(self, worker_id: str, limit: int, lease: float, wait: float = 0.0) -> list[JobRecord]:
        """Take up to ``limit`` due jobs, highest priority first, FIFO within a priority.

        With none due, waits up to ``wait`` seconds for a job to be created or requeued
        or the next delayed job to fall due, then tries once more.
        """
        with self._guard:
            claimed = self._claim(worker_id, limit, lease)
            if claimed or wait <= 0 or self._closed:
                return claimed
            if self._scheduled:
                wait = min(wait, max(0.0, self._scheduled[0][0] - self.now()))
            self._waiting += 1
            try:
                self._work.wait(wait)
            finally:
                self._waiting -= 1
            return self._claim(worker_id, limit, lease)

    def heartbeat(
        self, worker_id: str, leases: Mapping[str, int], lease: float
    ) -> dict[str, LeaseState]:
        """Extend the leases still held by ``worker_id``."""
        out: dict[str, LeaseState] = {}
        with self._guard:
            until = self.now() + lease
            for job_id, attempt in leases.items():
                rec = self._held(job_id, attempt, worker_id)
                if rec is None:
                    out[job_id] = LeaseState.LOST
                    continue
                rec.lease_until = until
                out[job_id] = (
                    LeaseState.CANCEL_REQUESTED if rec.cancel_requested else LeaseState.HELD
                )
        return out

    def save_progress(self, job_id: str, attempt: int, progress: Progress) -> LeaseState:
        """Record progress if ``attempt`` still holds the job."""
        with self._guard:
            rec = self._held(job_id, attempt)
            if rec is None:
                return LeaseState.LOST
            rec.progress = progress
            return LeaseState.CANCEL_REQUESTED if rec.cancel_requested else LeaseState.HELD

    def finish(self, job_id: str, attempt: int, finish: Finish) -> JobRecord | None:
        """Record the end of run ``attempt``; None if that run no longer holds the job."""
        with self._guard:
            return self._finish(job_id, attempt, finish)

    def finish_and_claim(
        self,
        job_id: str,
        attempt: int,
        finish: Finish,
        worker_id: str,
        limit: int,
        lease: float,
        wait: float = 0.0,
        on_finished: Callable[[JobRecord | None], None] | None = None,
    ) -> tuple[JobRecord | None, list[JobRecord]]:
        """Record the end of one run and claim the next jobs under one lock acquisition.

        One acquisition, not two: with several job threads the store lock is contended,
        and each contended acquisition costs a GIL hand-off. ``on_finished`` runs outside
        the lock, before any wait.
        """
        with self._guard:
            updated = self._finish(job_id, attempt, finish)
            claimed = self._claim(worker_id, limit, lease)
        if on_finished is not None:
            on_finished(updated)
        if not claimed and wait > 0:
            claimed = self.claim(worker_id, limit, lease, wait)
        return updated, claimed

    def cancel(self, job_id: str) -> tuple[CancelOutcome, JobRecord | None]:
        """Cancel a waiting job now; flag a running one; leave a terminal one alone."""
        with self._guard:
            rec = self._jobs.get(job_id)
            if rec is None:
                return CancelOutcome.NOT_FOUND, None
            if rec.status.is_terminal:
                return CancelOutcome.ALREADY_FINISHED, rec.copy()
            if rec.status is JobStatus.RUNNING:
                rec.cancel_requested = True
                return CancelOutcome.REQUESTED, rec.copy()
            self._queue_seq.pop(job_id, None)  # its heap entry becomes stale
            self._move(rec, JobStatus.CANCELLED, self.now())
            return CancelOutcome.CANCELLED, rec.copy()

    def recover(self, max_recoveries: int) -> list[JobRecord]:
        """Requeue (or fail, or cancel) running jobs whose lease has expired."""
        changed: list[JobRecord] = []
        with self._guard:
            now = self.now()
            expired = [r for r in self._running.values() if (r.lease_until or 0.0) <= now]
            for rec in expired:
                if rec.cancel_requested:
                    self._end_run(rec, JobStatus.CANCELLED, now)
                elif rec.recoveries >= max_recoveries:
                    rec.errors.append(_lost_worker_error(rec, now, max_recoveries))
                    self._end_run(rec, JobStatus.FAILED, now)
                else:
                    rec.recoveries += 1
                    self._end_run(rec, JobStatus.QUEUED, now)
                changed.append(rec.copy())
        return changed

    def purge(self, limit: int = 1000) -> int:
        """Drop terminal jobs whose retention has passed, oldest expiry first."""
        removed = 0
        with self._guard:
            now = self.now()
            while self._expiry and self._expiry[0][0] <= now and removed < limit:
                _, job_id = heapq.heappop(self._expiry)
                rec = self._jobs.pop(job_id, None)
                if rec is None:
                    continue
                self._index.removed(rec)
                removed += 1
            self._index.forget_hours_before(int(now // _HOUR) - 48)
        return removed

    def close(self) -> None:
        """Wake any waiter; the data stays readable (there is nothing to release)."""
        with self._guard:
            self._closed = True
            self._work.notify_all()

    # -- internals (caller holds the lock) ---------------------------------------------

    def _create(self, rec: JobRecord, delay: float, now: float) -> tuple[str, bool]:
        if rec.dedup_key is not None:
            holder = self._dedup.get(rec.dedup_key)
            if holder is not None:
                return holder, False
            self._dedup[rec.dedup_key] = rec.id
        rec.created_at = now
        rec.due_at = now + delay
        self._jobs[rec.id] = rec
        self._index.created(rec, now)
        self._enqueue(rec, now)
        return rec.id, True

    def _claim(self, worker_id: str, limit: int, lease: float) -> list[JobRecord]:
        claimed: list[JobRecord] = []
        ready, queue_seq = self._ready, self._queue_seq
        if not ready and not self._scheduled:
            return claimed
        now = self.now()
        if self._scheduled and self._scheduled[0][0] <= now:
            self._promote(now)
        while ready and len(claimed) < limit:
            _, _, seq, job_id = heapq.heappop(ready)
            if queue_seq.get(job_id) != seq:
                continue  # stale entry: the job was cancelled or re-queued since
            del queue_seq[job_id]
            rec = self._jobs[job_id]
            self._move(rec, _RUNNING, now)
            rec.attempts += 1
            rec.worker_id = worker_id
            rec.lease_until = now + lease
            rec.started_at = now
            rec.cancel_requested = False
            self._running[job_id] = rec
            claimed.append(rec.copy())
        return claimed

    def _finish(self, job_id: str, attempt: int, finish: Finish) -> JobRecord | None:
        rec = self._held(job_id, attempt)
        if rec is None:
            return None
        now = self.now()
        if finish.error is not None:
            rec.errors.append(finish.error)
        if finish.status is JobStatus.COMPLETED:
            rec.result = finish.result
        self._end_run(rec, finish.status, now, delay=finish.retry_in)
        # A terminal record is never changed again (only purge drops it), so it is
        # handed out as is: the copy would be identical forever.
        return rec if rec.status in _TERMINAL else rec.copy()

    def _held(self, job_id: str, attempt: int, worker_id: str | None = None) -> JobRecord | None:
        rec = self._running.get(job_id)
        if rec is None or rec.attempts != attempt:
            return None
        if worker_id is not None and rec.worker_id != worker_id:
            return None
        return rec

    def _end_run(self, rec: JobRecord, status: JobStatus, now: float, delay: float = 0.0) -> None:
        del self._running[rec.id]
        rec.worker_id = None
        rec.lease_until = None
        self._move(rec, status, now)
        if status in _WAITING:
            rec.due_at = now + delay
            self._enqueue(rec, now)
            self._wake_waiters()

    def _move(self, rec: JobRecord, status: JobStatus, now: float) -> None:
        old = rec.status
        if status not in ALLOWED_TRANSITIONS[old]:
            raise AssertionError(f"illegal transition {old.value} -> {status.value}")
        rec.status = status
        self._index.moved(rec, old, now)
        if status in _TERMINAL:
            rec.finished_at = now
            rec.cancel_requested = False
            if rec.dedup_key is not None and self._dedup.get(rec.dedup_key) == rec.id:
                del self._dedup[rec.dedup_key]
            heapq.heappush(self._expiry, (now + self._keep[status], rec.id))

    def _enqueue(self, rec: JobRecord, now: float) -> None:
        self._seq += 1
        self._queue_seq[rec.id] = self._seq
        if rec.due_at <= now:
            heapq.heappush(self._ready, (-rec.priority, rec.due_at, self._seq, rec.id))
        else:
            heapq.heappush(self._scheduled, (rec.due_at, self._seq, rec.id))

    def _promote(self, now: float) -> None:
        while self._scheduled and self._scheduled[0][0] <= now:
            due, seq, job_id = heapq.heappop(self._scheduled)
            if self._queue_seq.get(job_id) == seq:
                rec = self._jobs[job_id]
                heapq.heappush(self._ready, (-rec.priority, due, seq, job_id))

    def _wake_waiters(self) -> None:
        if self._waiting:
            self._work.notify_all()


def _record_of(job: NewJob) -> JobRecord:
    """The queued record of a new job; the store sets its times under its lock."""
    return JobRecord(
        job.id,
        job.job_type,
        job.account_id,
        job.params,
        job.priority,
        job.max_retries,
        job.timeout,
        JobStatus.QUEUED,
        0.0,
        0.0,
        job.dedup_key,
    )


def _lost_worker_error(rec: JobRecord, now: float, max_recoveries: int) -> AttemptError:
    return AttemptError(
        attempt=rec.attempts,
        type="threadjobs.LostWorker",
        message=(
            f"the worker running this job stopped renewing its lease {max_recoveries + 1} times "
            "(process killed or hung); giving up so a job that crashes its worker cannot loop"
        ),
        at=datetime.fromtimestamp(now, tz=timezone.utc),
    )
