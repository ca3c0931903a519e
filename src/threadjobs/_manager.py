"""JobManager: the public face of threadjobs.

It validates and submits jobs, answers questions about them, and (unless
``max_workers=0``) runs them on a thread pool through :class:`~threadjobs._worker.WorkerPool`.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import pydantic

from ._errors import (
    ConfigurationError,
    JobAlreadyFinished,
    JobCancelled,
    JobNotFound,
    ManagerClosed,
    SubmitError,
    WaitTimeout,
)
from ._handler import Handler
from ._models import Job, JobEvent, JobPage, JobStats, JobStatus
from ._store import CancelOutcome, JobRecord, JobStore, NewJob
from ._submit import DEFAULT_PRIORITY, IdMaker, build_job, build_jobs, parse_status
from ._worker import PoolConfig, WorkerPool

__all__ = ["JobManager", "Listener"]

log = logging.getLogger("threadjobs")

Listener = Callable[[JobEvent], None]
"""A function called with a :class:`JobEvent` after each status change."""

MAX_LIST_LIMIT = 1000


class JobManager:
    """Submits jobs to a store and runs them on a pool of threads.

    Args:
        store: where jobs live. Defaults to a new :class:`~threadjobs.stores.MemoryJobStore`;
            pass a :class:`~threadjobs.stores.RedisJobStore` to share one queue between
            processes and machines.
        max_workers: jobs run at once by this manager (default 4). ``0`` makes a
            producer-only manager (e.g. in a web process) that submits and queries but runs
            nothing.
        lease: seconds a claimed job stays ours without a heartbeat (default 30). If this
            process dies, another process takes the job over after about that long.
        heartbeat_interval: seconds between lease renewals (default ``min(lease / 3, 1)``);
            also how soon a cancel from another process reaches a running job.
        progress_interval: at most one progress write per job per this many seconds
            (default 0.2); ``get()`` in this process always sees the latest progress.
        interrupt_grace: seconds between asking a job to stop (cancel, timeout, shutdown)
            and injecting an exception into its thread (default 0.3).
        abandon_grace: seconds after that before the thread is declared stuck and the
            outcome is recorded without it (default 0.5).
        spare_threads: extra threads that replace stuck ones so capacity does not shrink
            (default ``max_workers``).
        max_recoveries: times a job may be recovered from a dead worker before it fails
            (default 3), so a job that crashes its process cannot loop forever.
        poll_interval: the longest an idle worker waits before asking the store again
            (default 1 s; stores wake workers sooner when work arrives). ``shutdown``
            may wait this long for threads still waiting on the store.
        maintenance_interval: seconds between lease-recovery sweeps (default 1).
        purge_interval: seconds between retention sweeps (default 60).
        worker_id: this manager's name in the store (default ``host:pid:random``).
        seed: seeds the retry jitter, for reproducible tests.
    """

    def __init__(
        self,
        store: JobStore | None = None,
        max_workers: int = 4,
        *,
        lease: float = 30.0,
        heartbeat_interval: float | None = None,
        progress_interval: float = 0.2,
        interrupt_grace: float = 0.3,
        abandon_grace: float = 0.5,
        spare_threads: int | None = None,
        max_recoveries: int = 3,
        poll_interval: float = 1.0,
        maintenance_interval: float = 1.0,
        purge_interval: float = 60.0,
        worker_id: str | None = None,
        seed: int | None = None,
    ) -> None:
        if store is None:
            from .stores import MemoryJobStore

            store = MemoryJobStore()
        _require(
            isinstance(max_workers, int) and 0 <= max_workers <= 1024,
            "max_workers must be an int from 0 to 1024",
        )
        _require(lease > 0, "lease must be > 0 seconds")
        heartbeat = heartbeat_interval if heartbeat_interval is not None else min(lease / 3, 1.0)
        _require(0 < heartbeat < lease, "heartbeat_interval must be > 0 and < lease")
        for name, value in (
            ("progress_interval", progress_interval),
            ("interrupt_grace", interrupt_grace),
            ("abandon_grace", abandon_grace),
        ):
            _require(value >= 0, f"{name} must be >= 0 seconds")
        for name, value in (
            ("poll_interval", poll_interval),
            ("maintenance_interval", maintenance_interval),
            ("purge_interval", purge_interval),
        ):
            _require(value > 0, f"{name} must be > 0 seconds")
        _require(max_recoveries >= 0, "max_recoveries must be >= 0")
        self.store: JobStore = store
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._handlers: dict[str, Handler[Any]] = {}
        self._listeners: list[tuple[Listener, frozenset[JobStatus] | None]] = []
        self._changed = threading.Condition()
        # job id -> threads inside wait() for it: emit() wakes them only when *their* job
        # ends, so a waiter does not spin (and steal the GIL) on every other job's change
        self._waited: dict[str, int] = {}
        self._endings = 0  # bumped (under _changed) each time a waited-for job ends
        self._closed = False
        self._ids = IdMaker()
        self._config = PoolConfig(
            max_workers=max_workers,
            spare_threads=max_workers if spare_threads is None else spare_threads,
            lease=lease,
            heartbeat_interval=heartbeat,
            progress_interval=progress_interval,
            interrupt_grace=interrupt_grace,
            abandon_grace=abandon_grace,
            max_recoveries=max_recoveries,
            poll_interval=poll_interval,
            maintenance_interval=maintenance_interval,
            purge_interval=purge_interval,
        )
        self._rng = random.Random(seed)
        self._pool: WorkerPool | None = None
        self._pool_lock = threading.Lock()

    # -- setup ------------------------------------------------------------------------

    def register(self, handler: Handler[Any]) -> Handler[Any]:
        """Register a handler instance for its ``job_type``; returns it.

        Workers start with the first registration. Register every handler before
        submitting jobs of its type.

        Raises:
            ConfigurationError: the handler is misconfigured or its type is taken.
        """
        if not isinstance(handler, Handler):
            raise ConfigurationError(
                f"register() takes a Handler instance, got {handler!r}; "
                "did you pass the class instead of an instance?"
            )
        type(handler)._check_config()
        if handler.job_type in self._handlers:
            raise ConfigurationError(
                f"a handler for job type {handler.job_type!r} is already registered"
            )
        self._handlers[handler.job_type] = handler
        self._ensure_workers()
        return handler

    @property
    def job_types(self) -> list[str]:
        """The job types registered on this manager, sorted."""
        return sorted(self._handlers)

    def add_listener(
        self, listener: Listener, statuses: Iterable[JobStatus | str] | None = None
    ) -> Callable[[], None]:
        """Call ``listener(event)`` after each status change made by this manager.

        Listeners run in the thread that made the change, right after the store
        recorded it; keep them quick. An exception in a listener is logged and
        never affects the job. Returns a function that removes the listener.

        Args:
            listener: called with a :class:`JobEvent`.
            statuses: only changes *to* these statuses (default: all).
        """
        wanted = None if statuses is None else frozenset(JobStatus(s) for s in statuses)
        entry = (listener, wanted)
        self._listeners.append(entry)

        def remove() -> None:
            if entry in self._listeners:
                self._listeners.remove(entry)

        return remove

    # -- submitting ---------------------------------------------------------------------

    def submit(
        self,
        job_type: str,
        *,
        account_id: int | str | None = None,
        params: Mapping[str, Any] | pydantic.BaseModel | None = None,
        priority: int = DEFAULT_PRIORITY,
        max_retries: int | None = None,
        timeout: float | None = None,
        delay: float = 0.0,
        dedup_key: str | None = None,
    ) -> str:
        """Validate and queue a job; return its id.

        Args:
            job_type: a registered handler's ``job_type``.
            account_id: the account the job belongs to (for listing and stats).
            params: validated against the handler's params model.
            priority: 0 (lowest) to 10 (highest), default 5; higher runs first.
            max_retries: retries after the first attempt (default: the handler's).
            timeout: seconds one attempt may run (default: the handler's).
            delay: seconds to wait before the job may start.
            dedup_key: if an unfinished job holds this key, return its id and store nothing.

        Raises:
            UnknownJobType: no handler registered for ``job_type``.
            InvalidParams: params fail validation or are not JSON-serialisable.
            SubmitError: a bad priority, timeout, max_retries, delay or dedup_key.
            StoreUnavailable: the store cannot be reached; nothing was stored.
        """
        self._check_open()
        new = build_job(
            self._handlers,
            self._ids.next(),
            job_type,
            account_id=account_id,
            params=params,
            priority=priority,
            max_retries=max_retries,
            timeout=timeout,
            delay=delay,
            dedup_key=dedup_key,
        )
        job_id, created = self.store.create(new)
        if created:
            self._emit_new(new)
        return job_id

    def submit_many(
        self,
        job_type: str,
        params_list: Iterable[Mapping[str, Any] | pydantic.BaseModel],
        *,
        account_id: int | str | None = None,
        priority: int = DEFAULT_PRIORITY,
        max_retries: int | None = None,
        timeout: float | None = None,
        delay: float = 0.0,
    ) -> list[str]:
        """Submit one job per params in as few store round trips as possible.

        Every params is validated first; if any fails, nothing is stored and the error
        names its position (``params_list[3].upload_id``).

        Raises:
            SubmitError: a params or option is invalid; nothing was stored.
            StoreUnavailable: the store could not be reached or refused the write. On
                Redis a large batch goes as several script calls (250 jobs each, each
                all or nothing): those sent before the failure may be stored and will run.
        """
        self._check_open()
        jobs = build_jobs(
            self._handlers,
            self._ids,
            job_type,
            params_list,
            account_id=account_id,
            priority=priority,
            max_retries=max_retries,
            timeout=timeout,
            delay=delay,
        )
        if not jobs:
            return []
        results = self.store.create_many(jobs)
        if self._listeners:
            for job in jobs:
                self._emit_new(job)
        return [job_id for job_id, _ in results]

    # -- querying -------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        """The job's current snapshot, with live progress if it runs in this process.

        Raises:
            JobNotFound: no such job (or it was removed after its retention).
        """
        rec = self.store.get(job_id)
        if rec is None:
            raise JobNotFound(
                f"no job with id {job_id!r} (it may have expired after its retention)"
            )
        if rec.status is JobStatus.RUNNING and self._pool is not None:
            run = self._pool.local_run(job_id)
            if run is not None and run.attempt == rec.attempts:
                rec.progress = run.ctx.current_progress()
        return rec.to_job()

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job is completed, failed or cancelled; return it.

        Raises:
            JobNotFound: no such job.
            WaitTimeout: ``timeout`` seconds passed first (the job keeps going).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        poll = 0.005
        with self._changed:
            self._waited[job_id] = self._waited.get(job_id, 0) + 1
        try:
            while True:
                with self._changed:
                    seen = self._endings
                job = self.get(job_id)
                if job.is_terminal:
                    return job
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise WaitTimeout(
                        f"job {job_id} is still {job.status.value} after {timeout:g}s; "
                        "wait longer, or cancel it"
                    )
                with self._changed:
                    # an ending in this process wakes us at once (unless it came between
                    # get() and here); polling covers endings recorded by other processes
                    if self._endings == seen:
                        self._changed.wait(poll if remaining is None else min(poll, remaining))
                poll = min(poll * 2, 0.25)
        finally:
            with self._changed:
                self._waited[job_id] -= 1
                if not self._waited[job_id]:
                    del self._waited[job_id]

    def list_jobs(
        self,
        account_id: int | str | None = None,
        status: JobStatus | str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobPage:
        """One page of jobs, newest first.

        Args:
            account_id: only this account's jobs (None: every account's).
            status: only jobs in this status.
            limit: page size, 1 to 1000.
            cursor: ``next_cursor`` of the previous page.
        """
        if not (isinstance(limit, int) and 1 <= limit <= MAX_LIST_LIMIT):
            raise SubmitError(f"limit must be an int from 1 to {MAX_LIST_LIMIT}", field="limit")
        wanted = parse_status(status)
        records, next_cursor = self.store.list_jobs(account_id, wanted, limit, cursor)
        return JobPage(jobs=tuple(r.to_job() for r in records), next_cursor=next_cursor)

    def stats(self, account_id: int | str | None = None) -> JobStats:
        """Counts by status now and per job type over the last 24 hours."""
        return JobStats(
            account_id=account_id,
            by_status=self.store.counts(account_id),
            last_24h=self.store.recent_counts(account_id, 24),
            stuck_threads=self._pool.stuck_threads if self._pool is not None else 0,
        )

    # -- controlling ----------------------------------------------------------------------

    def cancel(self, job_id: str) -> Job:
        """Cancel a job: a waiting one at once, a running one at its next checkpoint.

        Returns the job after the request (a running job is still ``running`` with
        ``cancel_requested`` set until its worker stops it).

        Raises:
            JobNotFound: no such job.
            JobAlreadyFinished: the job already completed, failed or was cancelled.
        """
        outcome, rec = self.store.cancel(job_id)
        if outcome is CancelOutcome.NOT_FOUND or rec is None:
            raise JobNotFound(f"no job with id {job_id!r}")
        if outcome is CancelOutcome.ALREADY_FINISHED:
            raise JobAlreadyFinished(
                f"job {job_id} already {rec.status.value}; only queued, retrying or running jobs "
                "can be cancelled",
                status=rec.status.value,
            )
        if outcome is CancelOutcome.CANCELLED:
            self.emit(rec, JobStatus.QUEUED)
        elif self._pool is not None:
            self._pool.request_stop(job_id, JobCancelled)
        return rec.to_job()

    def shutdown(self, wait: bool = True, timeout: float = 25.0) -> None:
        """Stop taking jobs; let running ones finish for up to ``timeout`` seconds.

        Jobs still running then are asked to stop and go back to the queue with their
        attempt not charged, so another process sharing the store picks them up.
        With ``wait=False`` running jobs are asked to stop at once.
        """
        with self._pool_lock:
            if self._closed:
                return
            self._closed = True
            pool = self._pool
        if pool is not None:
            pool.shutdown(timeout if wait else 0.0)
        with self._changed:
            self._changed.notify_all()

    def __enter__(self) -> JobManager:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    # -- internals --------------------------------------------------------------------------

    def _ensure_workers(self) -> None:
        with self._pool_lock:
            self._check_open()
            if self._pool is None and self._config.max_workers > 0:
                self._pool = WorkerPool(
                    self.store, self._handlers, self._config, self.worker_id, self.emit, self._rng
                )

    def _check_open(self) -> None:
        if self._closed:
            raise ManagerClosed("this JobManager was shut down; create a new one")

    def _emit_new(self, job: NewJob) -> None:
        if self._listeners:
            rec = self.store.get(job.id)
            if rec is not None:
                self.emit(rec, None)

    def emit(self, rec: JobRecord, previous: JobStatus | None) -> None:
        """Tell waiters and listeners that ``rec`` changed from ``previous``."""
        if rec.id in self._waited and rec.status.is_terminal:
            with self._changed:
                self._endings += 1
                self._changed.notify_all()
        if not self._listeners:
            return
        event: JobEvent | None = None
        for listener, wanted in list(self._listeners):
            if wanted is not None and rec.status not in wanted:
                continue
            if event is None:
                event = JobEvent(job=rec.to_job(), previous_status=previous)
            try:
                listener(event)
            except Exception:
                log.exception("threadjobs: listener %r failed for job %s", listener, rec.id)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigurationError(message)
