"""The store contract: the few primitives a backend must do atomically.

The store *is* the queue. Every method that changes a job is one atomic step in the
store (a lock in memory, one Lua script in Redis), so several JobManagers in several
processes can share one store. All times are the store's clock (``store.now()``,
seconds since the epoch); callers pass *durations* (``delay``, ``lease``), never
their own timestamps, so clock skew between machines does not matter.

Fencing: ``claim`` bumps ``attempts``. Every later write about that run
(``save_progress``, ``finish``) carries the attempt it belongs to and is rejected when
the job has since been recovered, re-claimed or finished.

What every backend must guarantee is checked by :mod:`threadjobs.testing`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

from ._models import TERMINAL_STATUSES, AttemptError, Job, JobStatus, Progress

__all__ = [
    "ALLOWED_TRANSITIONS",
    "CancelOutcome",
    "Finish",
    "JobRecord",
    "JobStore",
    "LeaseState",
    "NewJob",
    "Retention",
    "check_transition",
]

S = JobStatus

ALLOWED_TRANSITIONS: Mapping[JobStatus, frozenset[JobStatus]] = {
    # claim; cancel before start
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED}),
    S.RETRYING: frozenset({S.RUNNING, S.CANCELLED}),
    # finish; retry; release at shutdown or lease recovery (-> queued); recovery cap (-> failed)
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.CANCELLED, S.RETRYING, S.QUEUED}),
    S.COMPLETED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}
"""The one table of legal status changes. Terminal statuses have no way out."""


def check_transition(old: JobStatus, new: JobStatus) -> bool:
    """Return True if a job may move from ``old`` to ``new``."""
    return new in ALLOWED_TRANSITIONS[old]


@dataclasses.dataclass(frozen=True)
class Retention:
    """How long terminal jobs are kept before the store removes them (seconds)."""

    completed: float = 24 * 3600.0
    failed: float = 7 * 24 * 3600.0
    cancelled: float = 7 * 24 * 3600.0

    def __post_init__(self) -> None:
        for name in ("completed", "failed", "cancelled"):
            if getattr(self, name) <= 0:
                from ._errors import ConfigurationError

                raise ConfigurationError(f"Retention.{name} must be > 0 seconds")

    def for_status(self, status: JobStatus) -> float:
        """Seconds a job that ended in ``status`` is kept."""
        if status is JobStatus.COMPLETED:
            return self.completed
        if status is JobStatus.FAILED:
            return self.failed
        return self.cancelled


@dataclasses.dataclass(frozen=True, init=False)
class NewJob:
    """A validated job, ready to be created. Built by the manager, never by users."""

    id: str
    job_type: str
    account_id: int | str | None
    params: dict[str, Any]
    priority: int
    max_retries: int
    timeout: float | None
    delay: float = 0.0
    dedup_key: str | None = None

    def __init__(
        self,
        id: str,
        job_type: str,
        account_id: int | str | None,
        params: dict[str, Any],
        priority: int,
        max_retries: int,
        timeout: float | None,
        delay: float = 0.0,
        dedup_key: str | None = None,
    ) -> None:
        # A frozen dataclass's generated __init__ sets each field through
        # object.__setattr__; one dict update costs half as much, on every submit.
        self.__dict__.update(
            id=id,
            job_type=job_type,
            account_id=account_id,
            params=params,
            priority=priority,
            max_retries=max_retries,
            timeout=timeout,
            delay=delay,
            dedup_key=dedup_key,
        )


_NO_PROGRESS = Progress()


@dataclasses.dataclass(slots=True)
class JobRecord:
    """A store's view of one job. Times are store-clock epoch seconds.

    Mutable so stores can update it in place under their lock; callers outside a
    store receive copies, or a record the store will never change again (a terminal
    one), and treat it as read-only.
    """

    id: str
    job_type: str
    account_id: int | str | None
    params: dict[str, Any]
    priority: int
    max_retries: int
    timeout: float | None
    status: JobStatus
    created_at: float
    due_at: float
    dedup_key: str | None = None
    attempts: int = 0
    recoveries: int = 0
    worker_id: str | None = None
    lease_until: float | None = None
    cancel_requested: bool = False
    progress: Progress = _NO_PROGRESS  # frozen, so one instance serves every record
    result: Any = None
    errors: list[AttemptError] = dataclasses.field(default_factory=list)
    started_at: float | None = None
    finished_at: float | None = None

    def copy(self) -> JobRecord:
        """A copy safe to hand out (the lists are copied, the immutable values shared)."""
        # explicit, because dataclasses.replace costs twice as much on this hot path
        return JobRecord(
            self.id,
            self.job_type,
            self.account_id,
            self.params,
            self.priority,
            self.max_retries,
            self.timeout,
            self.status,
            self.created_at,
            self.due_at,
            self.dedup_key,
            self.attempts,
            self.recoveries,
            self.worker_id,
            self.lease_until,
            self.cancel_requested,
            self.progress,
            self.result,
            list(self.errors),
            self.started_at,
            self.finished_at,
        )

    @property
    def failures(self) -> int:
        """Attempts that ended in an error: what the retry budget counts."""
        return len(self.errors)

    def to_job(self) -> Job:
        """The immutable public snapshot."""
        return Job(
            id=self.id,
            job_type=self.job_type,
            account_id=self.account_id,
            status=self.status,
            params=self.params,
            priority=self.priority,
            attempts=self.attempts,
            max_retries=self.max_retries,
            timeout=self.timeout,
            progress=self.progress,
            result=self.result,
            errors=tuple(self.errors),
            cancel_requested=self.cancel_requested,
            dedup_key=self.dedup_key,
            created_at=_dt(self.created_at),
            scheduled_for=_dt(self.due_at) if self.due_at > self.created_at else None,
            started_at=_dt(self.started_at),
            finished_at=_dt(self.finished_at),
        )


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc)


@dataclasses.dataclass(frozen=True)
class Finish:
    """How a run ended, as the worker asks the store to record it.

    ``status`` is one of completed, failed, cancelled, retrying (with ``retry_in``)
    or queued (a release at shutdown: the attempt is not charged as a failure).
    """

    status: JobStatus
    result: Any = None
    error: AttemptError | None = None
    retry_in: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in ALLOWED_TRANSITIONS[JobStatus.RUNNING]:
            raise ValueError(f"a run cannot finish as {self.status.value!r}")


class LeaseState(str, enum.Enum):
    """What the store says about a lease when it is renewed or written through."""

    HELD = "held"
    CANCEL_REQUESTED = "cancel_requested"
    LOST = "lost"


class CancelOutcome(str, enum.Enum):
    """What :meth:`JobStore.cancel` did."""

    CANCELLED = "cancelled"  # was waiting; now cancelled, never starts
    REQUESTED = "requested"  # running; its worker will stop it at the next checkpoint
    ALREADY_FINISHED = "already_finished"  # terminal; nothing changed
    NOT_FOUND = "not_found"


@runtime_checkable
class JobStore(Protocol):
    """What a backend must provide. See the module docstring for the rules."""

    retention: Retention

    def now(self) -> float:
        """The store's clock, epoch seconds."""
        ...

    def create(self, job: NewJob) -> tuple[str, bool]:
        """Store a new job as queued (due after ``job.delay`` seconds).

        If ``job.dedup_key`` is held by an unfinished job, store nothing and return
        that job's id with ``False``; otherwise return ``(job.id, True)``.
        """
        ...

    def create_many(self, jobs: Sequence[NewJob]) -> list[tuple[str, bool]]:
        """``create`` for many jobs in as few round trips as the backend allows."""
        ...

    def get(self, job_id: str) -> JobRecord | None:
        """The job, or None if it does not exist (or was purged)."""
        ...

    def claim(self, worker_id: str, limit: int, lease: float, wait: float = 0.0) -> list[JobRecord]:
        """Atomically take up to ``limit`` due jobs: highest priority first, FIFO within it.

        Each claimed job becomes running, gets ``attempts += 1``, ``worker_id`` and a lease
        of ``lease`` seconds. Returns copies reflecting the claim; an empty list if none is due.

        With ``wait`` > 0 and no job due, block up to ``wait`` seconds until one may have
        arrived (created, requeued, or a delayed job falling due), then try again. It may
        still return nothing (another worker took the job first); the caller calls again.
        """
        ...

    def heartbeat(
        self, worker_id: str, leases: Mapping[str, int], lease: float
    ) -> dict[str, LeaseState]:
        """Renew the leases ``{job_id: attempt}`` held by ``worker_id`` for ``lease`` seconds.

        Returns each job's state: held, held-but-cancel-requested, or lost (recovered,
        finished or re-claimed meanwhile; the worker must stop writing about it).
        """
        ...

    def save_progress(self, job_id: str, attempt: int, progress: Progress) -> LeaseState:
        """Record progress for the run ``attempt`` of ``job_id`` (fenced)."""
        ...

    def finish(self, job_id: str, attempt: int, finish: Finish) -> JobRecord | None:
        """Record how the run ``attempt`` ended (fenced).

        Returns the updated job, or None when the write was rejected because the run no
        longer holds the job (then nothing changed). Terminal jobs start their retention.
        """
        ...

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
        """``finish(...)`` then ``claim(worker_id, limit, lease, wait)``, in one call if possible.

        A busy worker records one job and takes the next in one store call. The claim
        happens whether or not the finish was accepted. ``on_finished`` is called with
        ``finish``'s result as soon as it is recorded, before any wait; once it has been
        called, a :class:`~threadjobs.StoreError` raised by this method concerns the claim
        only.
        """
        ...

    def cancel(self, job_id: str) -> tuple[CancelOutcome, JobRecord | None]:
        """Cancel a waiting job at once, or flag a running one. Never touches terminal jobs."""
        ...

    def recover(self, max_recoveries: int) -> list[JobRecord]:
        """Requeue running jobs whose lease expired (their worker died).

        A job already recovered ``max_recoveries`` times fails instead; a job whose cancel
        was requested ends cancelled. Returns the jobs changed, after the change.
        """
        ...

    def purge(self, limit: int = 1000) -> int:
        """Remove up to ``limit`` terminal jobs past their retention; return how many."""
        ...

    def list_jobs(
        self,
        account_id: int | str | None,
        status: JobStatus | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[JobRecord], str | None]:
        """One page of an account's jobs, newest first, and the cursor of the next page."""
        ...

    def counts(self, account_id: int | str | None = None) -> dict[JobStatus, int]:
        """How many stored jobs are in each status now (one account's, or all)."""
        ...

    def recent_counts(
        self, account_id: int | str | None = None, hours: int = 24
    ) -> dict[str, dict[JobStatus, int]]:
        """Per job type, how many jobs entered each status in the last ``hours`` hours."""
        ...

    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""
        ...


TERMINAL = TERMINAL_STATUSES
