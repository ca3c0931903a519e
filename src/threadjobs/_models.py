"""The values threadjobs hands to users: statuses, jobs, progress, errors, pages, stats.

Everything here is immutable. Stores keep their own internal record
(:class:`threadjobs._store.JobRecord`) and build these snapshots on the way out.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "TERMINAL_STATUSES",
    "AttemptError",
    "Job",
    "JobEvent",
    "JobPage",
    "JobStats",
    "JobStatus",
    "Progress",
]


class JobStatus(str, enum.Enum):
    """Where a job is in its life.

    ``queued`` and ``retrying`` wait for a worker (a ``retrying`` job not before
    its due time); ``running`` is held by exactly one worker under a lease;
    ``completed``, ``failed`` and ``cancelled`` are terminal and never change again.
    """

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETRYING = "retrying"

    @property
    def is_terminal(self) -> bool:
        """True for ``completed``, ``failed`` and ``cancelled``."""
        return self in TERMINAL_STATUSES

    def __str__(self) -> str:
        return self.value


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
"""The statuses a job never leaves."""


_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Progress(BaseModel):
    """How far a running job has come, as last reported by its handler."""

    model_config = _FROZEN

    percent: float = Field(0.0, ge=0.0, le=100.0, description="0 to 100.")
    message: str = Field("", description="A human-readable line, e.g. 'Parsing CSV data'.")
    step: str = Field("", description="A machine-readable step name, e.g. 'csv_parsing'.")
    updated_at: datetime | None = Field(None, description="When the handler reported it.")


class AttemptError(BaseModel):
    """The error one attempt of a job ended with."""

    model_config = _FROZEN

    attempt: int = Field(description="The attempt number (1 for the first run).")
    type: str = Field(description="The exception's qualified name, e.g. 'ValueError'.")
    message: str = Field(description="str() of the exception.")
    traceback: str = Field("", description="The formatted traceback, if there was one.")
    at: datetime = Field(description="When the attempt failed.")


class Job(BaseModel):
    """A snapshot of one job, as the store last recorded it.

    Snapshots do not update themselves: call :meth:`JobManager.get` again for news.
    """

    model_config = _FROZEN

    id: str
    job_type: str
    account_id: int | str | None
    status: JobStatus
    params: dict[str, Any]
    priority: int
    attempts: int = Field(description="How many times the job has been started; only grows.")
    max_retries: int
    timeout: float | None = Field(description="Seconds one attempt may run, or None.")
    progress: Progress
    result: Any = None
    errors: tuple[AttemptError, ...] = Field(description="One entry per failed attempt.")
    cancel_requested: bool = False
    dedup_key: str | None = None
    created_at: datetime
    scheduled_for: datetime | None = Field(
        None, description="Not started before this time (delayed jobs and retries)."
    )
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the job has completed, failed or been cancelled."""
        return self.status.is_terminal

    @property
    def last_error(self) -> AttemptError | None:
        """The error of the most recent failed attempt, if any."""
        return self.errors[-1] if self.errors else None


class JobPage(BaseModel):
    """One page of :meth:`JobManager.list_jobs`, newest job first."""

    model_config = _FROZEN

    jobs: tuple[Job, ...]
    next_cursor: str | None = Field(
        None, description="Pass as ``cursor=`` for the next page; None on the last page."
    )


class JobStats(BaseModel):
    """Counts of jobs, from counters the store maintains (never a scan of all jobs)."""

    model_config = _FROZEN

    account_id: int | str | None = Field(
        None, description="The account the counts are for, or None for all accounts."
    )
    by_status: dict[JobStatus, int] = Field(
        description="How many stored jobs are in each status right now."
    )
    last_24h: dict[str, dict[JobStatus, int]] = Field(
        description="Per job type: how many jobs entered each status in the last 24 hours "
        "(a submit counts as entering 'queued')."
    )
    stuck_threads: int = Field(
        0, description="Worker threads of this manager stuck in a handler past its deadline."
    )

    @property
    def queued(self) -> int:
        """Jobs waiting for a worker, retries included."""
        return self.by_status.get(JobStatus.QUEUED, 0) + self.by_status.get(JobStatus.RETRYING, 0)

    @property
    def running(self) -> int:
        """Jobs held by a worker right now."""
        return self.by_status.get(JobStatus.RUNNING, 0)


class JobEvent(BaseModel):
    """A status change, as passed to listeners registered with :meth:`JobManager.add_listener`."""

    model_config = _FROZEN

    job: Job = Field(description="The job right after the change.")
    previous_status: JobStatus | None = Field(description="None when the job was just submitted.")

    @property
    def status(self) -> JobStatus:
        """The status the job changed to."""
        return self.job.status
