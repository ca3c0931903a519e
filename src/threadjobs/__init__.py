"""threadjobs: background jobs inside your Python application.

Typed handlers, live progress, retries with backoff, timeouts that really stop a job,
cancellation, per-account listing and statistics; jobs kept in memory or shared
between processes and machines through Redis.

Quick look::

    manager = JobManager(max_workers=4)
    manager.register(ImportHandler())
    job_id = manager.submit("csv_import", account_id=7, params={"upload_id": 42})
    job = manager.wait(job_id, timeout=30)
"""

from ._context import JobContext as JobContext
from ._errors import ConfigurationError as ConfigurationError
from ._errors import CorruptJobData as CorruptJobData
from ._errors import InvalidParams as InvalidParams
from ._errors import JobAlreadyFinished as JobAlreadyFinished
from ._errors import JobCancelled as JobCancelled
from ._errors import JobInterrupted as JobInterrupted
from ._errors import JobNotFound as JobNotFound
from ._errors import JobTimedOut as JobTimedOut
from ._errors import ManagerClosed as ManagerClosed
from ._errors import MissingDependency as MissingDependency
from ._errors import StoreError as StoreError
from ._errors import StoreUnavailable as StoreUnavailable
from ._errors import SubmitError as SubmitError
from ._errors import ThreadJobsError as ThreadJobsError
from ._errors import UnknownJobType as UnknownJobType
from ._errors import WaitTimeout as WaitTimeout
from ._errors import WorkerShuttingDown as WorkerShuttingDown
from ._handler import DEFAULT_NON_RETRYABLE as DEFAULT_NON_RETRYABLE
from ._handler import Handler as Handler
from ._handler import RetryPolicy as RetryPolicy
from ._manager import JobManager as JobManager
from ._manager import Listener as Listener
from ._models import AttemptError as AttemptError
from ._models import Job as Job
from ._models import JobEvent as JobEvent
from ._models import JobPage as JobPage
from ._models import JobStats as JobStats
from ._models import JobStatus as JobStatus
from ._models import Progress as Progress
from ._store import JobStore as JobStore
from ._store import Retention as Retention
from .stores import MemoryJobStore as MemoryJobStore

__version__ = "0.1.0.dev0"

__all__ = [
    "DEFAULT_NON_RETRYABLE",
    "AttemptError",
    "ConfigurationError",
    "CorruptJobData",
    "Handler",
    "InvalidParams",
    "Job",
    "JobAlreadyFinished",
    "JobCancelled",
    "JobContext",
    "JobEvent",
    "JobInterrupted",
    "JobManager",
    "JobNotFound",
    "JobPage",
    "JobStats",
    "JobStatus",
    "JobStore",
    "JobTimedOut",
    "Listener",
    "ManagerClosed",
    "MemoryJobStore",
    "MissingDependency",
    "Progress",
    "Retention",
    "RetryPolicy",
    "StoreError",
    "StoreUnavailable",
    "SubmitError",
    "ThreadJobsError",
    "UnknownJobType",
    "WaitTimeout",
    "WorkerShuttingDown",
]

# Public objects report themselves as threadjobs.X in reprs, tracebacks and docs.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
