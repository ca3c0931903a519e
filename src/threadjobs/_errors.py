"""The exception tree of threadjobs.

Every exception threadjobs raises on purpose derives from :class:`ThreadJobsError`,
so ``except ThreadJobsError`` catches them all::

    ThreadJobsError
    ├── ConfigurationError (ValueError)      a JobManager, Handler or store set up wrongly
    ├── SubmitError (ValueError)             a job refused at submit, nothing stored
    │   ├── UnknownJobType (KeyError)        no handler registered for that job type
    │   └── InvalidParams                    params fail the handler's model / are not JSON
    ├── JobNotFound (KeyError)               no job with that id (or not visible to you)
    ├── JobAlreadyFinished                   cancel of a job in a terminal state
    ├── WaitTimeout (TimeoutError)           ``JobManager.wait`` gave up
    ├── ManagerClosed (RuntimeError)         the manager was shut down
    ├── StoreError                           the store misbehaved
    │   ├── StoreUnavailable (ConnectionError)  the store cannot be reached right now
    │   └── CorruptJobData                   a stored job cannot be read back
    ├── MissingDependency (ImportError)      an optional extra is not installed
    └── JobInterrupted                       raised inside a handler at a checkpoint
        ├── JobCancelled                     the job was cancelled
        ├── JobTimedOut                      the job passed its deadline
        └── WorkerShuttingDown               the manager is shutting down

Extensions root their own errors here too (``CsvImportError(ThreadJobsError)``).
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "CorruptJobData",
    "InvalidParams",
    "JobAlreadyFinished",
    "JobCancelled",
    "JobInterrupted",
    "JobNotFound",
    "JobTimedOut",
    "ManagerClosed",
    "MissingDependency",
    "StoreError",
    "StoreUnavailable",
    "SubmitError",
    "ThreadJobsError",
    "UnknownJobType",
    "WaitTimeout",
    "WorkerShuttingDown",
]


class ThreadJobsError(Exception):
    """Base class of every error threadjobs raises."""

    def __str__(self) -> str:
        # KeyError subclasses would otherwise print their message with quotes around it.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class ConfigurationError(ThreadJobsError, ValueError):
    """A JobManager, Handler or store was configured with an invalid value."""


class SubmitError(ThreadJobsError, ValueError):
    """A job was refused at submit time; nothing was stored."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        #: The name of the offending field (``"params.upload_id"``, ``"priority"``...), if any.
        self.field = field


class UnknownJobType(SubmitError, KeyError):
    """No handler is registered for the submitted job type."""


class InvalidParams(SubmitError):
    """The params do not validate against the handler's model or are not JSON-serialisable."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: list[dict[str, object]] | None = None,
    ) -> None:
        super().__init__(message, field=field)
        #: pydantic's error list (``loc``, ``msg``, ``type``) when validation failed.
        self.errors = errors or []


class JobNotFound(ThreadJobsError, KeyError):
    """No job exists with the given id."""


class JobAlreadyFinished(ThreadJobsError):
    """The job is already in a terminal state, so it cannot be cancelled."""

    def __init__(self, message: str, *, status: str) -> None:
        super().__init__(message)
        #: The terminal status the job is in.
        self.status = status


class WaitTimeout(ThreadJobsError, TimeoutError):
    """``JobManager.wait`` returned before the job reached a terminal state."""


class ManagerClosed(ThreadJobsError, RuntimeError):
    """The JobManager was shut down and accepts no more work."""


class StoreError(ThreadJobsError):
    """The job store failed in a way that is not the caller's fault."""


class StoreUnavailable(StoreError, ConnectionError):
    """The store cannot be reached right now (e.g. Redis is down); retry later."""


class CorruptJobData(StoreError):
    """A job read back from the store is malformed; it was not executed."""


class MissingDependency(ThreadJobsError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""


class JobInterrupted(ThreadJobsError):
    """Raised inside a running handler at a checkpoint when the job must stop.

    Handlers normally let it propagate. Swallowing it does not help: the manager
    decides the outcome from the job's state, not from the exception.
    """


class JobCancelled(JobInterrupted):
    """The running job was cancelled; it ends ``cancelled`` and is never retried."""


class JobTimedOut(JobInterrupted):
    """The running job passed its deadline; it ends ``failed`` with a timeout error."""


class WorkerShuttingDown(JobInterrupted):
    """The manager is shutting down; the job goes back to the queue uncharged."""
