"""The Redis store: one shared, crash-safe queue for many processes and machines.

Every method that changes a job is one Lua script, so claiming, fencing, recovery,
cancellation and retention are atomic in Redis, whichever process runs them. Times are
Redis server time (``TIME`` inside the scripts); no client clock is ever written.
Everything stored is JSON or plain text: nothing read back is unpickled or imported.

Not for: queues spanning several Redis Cluster slots (one queue = one hash tag = one
slot; use several queues to spread load). See ``docs/redis.md``.

The store's parts: this class (the JobStore contract) with ``_redis_running`` (claims,
waits and finishes, a mixin), ``lua/threadjobs.lua`` and
``_redis_scripts`` (the Lua and how it is loaded), ``_redis_calls`` (every command, the
error boundary), ``_redis_lane`` (the store's own connections), ``_redis_codec``
(arguments and records), ``_redis_keys`` (key names), ``_redis_reads`` (reads).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from .._errors import MissingDependency
from .._models import JobStatus, Progress
from .._store import CancelOutcome, JobRecord, LeaseState, NewJob, Retention
from . import _redis_reads as reads
from ._redis_calls import Calls, connect, connect_sentinel
from ._redis_codec import (
    ScriptArgs,
    job_args,
    ms,
    record,
    text,
)
from ._redis_keys import QueueKeys
from ._redis_running import Running

try:
    import redis
except ImportError:  # pragma: no cover - exercised only without the extra
    redis = None  # type: ignore[assignment]

__all__ = ["RedisJobStore"]

T = TypeVar("T")
log = logging.getLogger("threadjobs")

_INSTALL_HINT = "RedisJobStore needs redis-py: pip install 'threadjobs[redis]'"
# jobs per create script call; bigger batches go as several calls in one pipeline (still
# one round trip). 500 took 4-6 ms of Redis time per call on the bench machine (SLOWLOG),
# 250 about half that, at the same throughput: Redis stays responsive to other clients
_CREATE_CHUNK = 250
_RECOVER_BATCH = 200
_LEASE_NAMES = {"0": LeaseState.LOST, "1": LeaseState.HELD, "2": LeaseState.CANCEL_REQUESTED}


class RedisJobStore(Running):
    """A job store in Redis, shared by every JobManager that points at the same queue.

    Build it with :meth:`from_url`, or pass a ready ``redis.Redis`` (or
    ``redis.cluster.RedisCluster``) client. All keys of one queue share the hash tag
    ``{queue}``, so a queue works on Redis Cluster too.

    Args:
        client: a redis-py client. Its errors never reach you: connection problems
            raise :class:`~threadjobs.StoreUnavailable`, anything else
            :class:`~threadjobs.StoreError`.
        queue: the queue name (default ``"default"``); managers on the same queue share work.
        prefix: the first part of every key (default ``"threadjobs"``).
        retention: how long terminal jobs are kept.
        wake_cap: the most wake-up tokens kept for waiting workers (about the number of
            job threads of all processes; extra tokens only cause a spare empty claim).
        promote_limit: the most delayed jobs one claim moves to the ready queue.

    Raises:
        MissingDependency: redis-py is not installed.
    """

    def __init__(
        self,
        client: Any,
        *,
        queue: str = "default",
        prefix: str = "threadjobs",
        retention: Retention | None = None,
        wake_cap: int = 64,
        promote_limit: int = 500,
    ) -> None:
        if redis is None:  # pragma: no cover
            raise MissingDependency(_INSTALL_HINT)
        self.retention = retention or Retention()
        self.keys = QueueKeys(prefix, queue)
        self._client = client
        # the keys status-changing scripts declare: the ready queue, a job's hash if
        # they change one, and the guard (see QueueKeys.guard); they name the queue's
        # other keys from the base in their first argument (same hash tag, same slot).
        # Pre-encoded: redis-py passes bytes through untouched
        self._fixed: list[Any] = [self.keys.ready.encode(), self.keys.guard.encode()]
        # every command goes through it (see _redis_calls)
        self._calls = Calls(client, route_key=self._fixed[0])
        self._clock_lock = threading.Lock()
        self._offset: float | None = None  # server epoch seconds minus time.monotonic()
        self._synced_at = 0.0
        self._next_due: float | None = None  # monotonic time the next delayed job is due
        self._backlog = False  # the last claim left jobs in the ready queue
        self._closed = False
        self._args = ScriptArgs(self.retention, self.keys.base, wake_cap, promote_limit)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        queue: str = "default",
        prefix: str = "threadjobs",
        retention: Retention | None = None,
        cluster: bool = False,
        **redis_options: Any,
    ) -> RedisJobStore:
        """Connect by URL: ``redis://[user:password@]host:port/db`` or ``rediss://`` for TLS.

        Args:
            url: a redis-py URL; ``unix://`` sockets work too. Query options such as
                ``?ssl_cert_reqs=required&ssl_ca_certs=/path/ca.pem`` pass through.
            queue: the queue name.
            prefix: the key prefix.
            retention: how long terminal jobs are kept.
            cluster: connect with ``redis.cluster.RedisCluster`` (the URL names any node).
            **redis_options: passed to redis-py (``socket_timeout``, ``ssl_*``...); they
                override threadjobs' defaults (5 s timeouts, two quick retries).

        Raises:
            MissingDependency: redis-py is not installed.
        """
        if redis is None:  # pragma: no cover
            raise MissingDependency(_INSTALL_HINT)
        client = connect(url, cluster, redis_options)
        return cls(client, queue=queue, prefix=prefix, retention=retention)

    @classmethod
    def from_sentinel(
        cls,
        sentinels: Sequence[tuple[str, int]],
        service_name: str,
        *,
        queue: str = "default",
        prefix: str = "threadjobs",
        retention: Retention | None = None,
        sentinel_options: dict[str, Any] | None = None,
        **redis_options: Any,
    ) -> RedisJobStore:
        """Connect to the master that Redis Sentinel names ``service_name``.

        Every new connection asks the sentinels for the master, so after a failover the
        store follows it (see docs/redis.md, "Redis Sentinel").

        Args:
            sentinels: ``(host, port)`` of one or more sentinels.
            service_name: the master's name in the sentinels' configuration.
            queue: the queue name.
            prefix: the key prefix.
            retention: how long terminal jobs are kept.
            sentinel_options: redis-py options for the connections to the sentinels
                (default: 2 s timeouts); add ``password`` if the sentinels require one.
            **redis_options: redis-py options for the connections to the master
                (``password``, ``ssl``...), over threadjobs' defaults as in
                :meth:`from_url`.

        Raises:
            MissingDependency: redis-py is not installed.
        """
        if redis is None:  # pragma: no cover
            raise MissingDependency(_INSTALL_HINT)
        client = connect_sentinel(list(sentinels), service_name, redis_options, sentinel_options)
        return cls(client, queue=queue, prefix=prefix, retention=retention)

    # -- clock -----------------------------------------------------------------------

    def now(self) -> float:
        """Redis server time, epoch seconds.

        Kept as an offset from this machine's monotonic clock, refreshed by every claim
        and at least every 10 s, so asking is free. The offset is taken from when a
        request was *sent*, so the estimate is never behind the server (by at most one
        round trip ahead of it).
        """
        if self._offset is None or time.monotonic() - self._synced_at > 10.0:
            sent = time.monotonic()
            sec, usec = self._script("reading the time", "TIME", [self._fixed[0]], [])
            self._sync(int(sec) + int(usec) / 1e6, sent)
        assert self._offset is not None
        return time.monotonic() + self._offset

    def _sync(self, server_now: float, sent: float) -> None:
        with self._clock_lock:
            self._offset = server_now - sent
            self._synced_at = sent

    # -- creating ---------------------------------------------------------------------

    def create(self, job: NewJob) -> tuple[str, bool]:
        """Store ``job`` as queued, or return the id of the unfinished job holding its dedup key."""
        return self.create_many([job])[0]

    def create_many(self, jobs: Sequence[NewJob]) -> list[tuple[str, bool]]:
        """Create jobs in one round trip: one script call per 250 jobs, pipelined."""
        if not jobs:
            return []
        calls = []
        keys = self._fixed
        for start in range(0, len(jobs), _CREATE_CHUNK):
            chunk = jobs[start : start + _CREATE_CHUNK]
            args = self._common_args()
            for job in chunk:
                args += job_args(job)
            calls.append((keys, args))
        if len(calls) == 1:
            replies = [self._script("creating jobs", "CREATE", *calls[0])]
        else:
            replies = self._calls.create_batches(calls)
        out = [(job.id, True) for job in jobs]
        for chunk_no, reply in enumerate(replies):
            for i in range(0, len(reply), 2):  # only the jobs whose dedup key was taken
                out[chunk_no * _CREATE_CHUNK + int(reply[i])] = (text(reply[i + 1]), False)
        return out

    # -- reading (see _redis_reads) -----------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """The job, or None if it does not exist or was purged.

        Raises:
            CorruptJobData: the stored hash cannot be read back as a job.
        """
        return reads.get_job(self._call, self._client, self.keys, job_id)

    def list_jobs(
        self,
        account_id: int | str | None,
        status: JobStatus | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[JobRecord], str | None]:
        """Newest first; ``cursor`` is the last id of the previous page. Costs O(page)."""
        return reads.list_page(
            self._call, self._client, self.keys, account_id, status, limit, cursor
        )

    def counts(self, account_id: int | str | None = None) -> dict[JobStatus, int]:
        """Jobs per status now, from counters kept by the scripts (O(1))."""
        return reads.counts(self._call, self._client, self.keys, account_id)

    def recent_counts(
        self, account_id: int | str | None = None, hours: int = 24
    ) -> dict[str, dict[JobStatus, int]]:
        """Per job type, entries into each status in the last ``hours`` hour buckets."""
        return reads.recent_counts(self._script, self.keys, account_id, hours)

    # -- running ----------------------------------------------------------------------

    def heartbeat(
        self, worker_id: str, leases: Mapping[str, int], lease: float
    ) -> dict[str, LeaseState]:
        """Extend the leases still held by ``worker_id``; one script for all of them."""
        if not leases:
            return {}
        ids = list(leases)
        reply = self._script(
            "renewing leases",
            "HEARTBEAT",
            [self.keys.running, *(self.keys.job(i) for i in ids)],
            [worker_id, ms(lease), *(int(leases[i]) for i in ids)],
        )
        states = zip(ids, reply, strict=True)
        return {job_id: _LEASE_NAMES[text(state)] for job_id, state in states}

    def save_progress(self, job_id: str, attempt: int, progress: Progress) -> LeaseState:
        """Record progress if run ``attempt`` still holds the job (fenced)."""
        reply = self._script(
            "saving progress",
            "PROGRESS",
            [self.keys.job(job_id)],
            [int(attempt), progress.model_dump_json()],
        )
        return _LEASE_NAMES[text(reply)]

    def cancel(self, job_id: str) -> tuple[CancelOutcome, JobRecord | None]:
        """Cancel a waiting job now; flag a running one; leave a terminal one alone."""
        reply = self._script(
            "cancelling a job",
            "CANCEL",
            self._job_keys(job_id),
            self._common_args(),
        )
        outcome = CancelOutcome(text(reply[0]))
        return outcome, (record(reply[1], job_id) if len(reply) > 1 else None)

    def recover(self, max_recoveries: int) -> list[JobRecord]:
        """Requeue, fail or cancel running jobs whose lease expired (batches of 200)."""
        message = json.dumps(
            f"the worker running this job stopped renewing its lease {max_recoveries + 1} times "
            "(process killed or hung); giving up so a job that crashes its worker cannot loop"
        )
        changed: list[JobRecord] = []
        while True:
            reply = self._script(
                "recovering expired leases",
                "RECOVER",
                self._fixed,
                [*self._args.common(), int(max_recoveries), _RECOVER_BATCH, message],
            )
            changed.extend(record(values) for values in reply)
            if len(reply) < _RECOVER_BATCH:
                return changed

    def purge(self, limit: int = 1000) -> int:
        """Delete up to ``limit`` terminal jobs past retention, with their index entries."""
        removed = self._script(
            "purging old jobs", "PURGE", self._fixed, [*self._args.common(), int(limit)]
        )
        return int(removed)

    def close(self) -> None:
        """Close the connections. The store is unusable afterwards."""
        self._closed = True
        self._calls.close()

    # -- the boundary to redis-py (scripts: Running._script) ------------------------------

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` (redis-py calls), translating every redis-py error."""
        return self._calls.call(action, fn)

    def _job_keys(self, job_id: str) -> list[Any]:
        """KEYS of a script that changes one job: ready queue, the job's hash, guard."""
        return [self._fixed[0], self.keys.job(job_id), self._fixed[1]]

    def _common_args(self) -> list[Any]:
        """The common first ARGV of status-changing scripts (tests build calls with it)."""
        return self._args.common()


# -- helpers -------------------------------------------------------------------------
