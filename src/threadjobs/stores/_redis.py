"""The Redis store: one shared, crash-safe queue for many processes and machines.

Every method that changes a job is one Lua script, so claiming, fencing, recovery,
cancellation and retention are atomic in Redis, whichever process runs them. Times are
Redis server time (``TIME`` inside the scripts); no client clock is ever written.
Everything stored is JSON or plain text: nothing read back is unpickled or imported.

Not for: queues spanning several Redis Cluster slots (one queue = one hash tag = one
slot; use several queues to spread load). See ``docs/redis.md``.

The store's parts: this class (the JobStore contract), ``lua/threadjobs.lua`` and
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
from contextlib import suppress
from typing import Any, TypeVar

from .._errors import MissingDependency, StoreError
from .._models import JobStatus, Progress
from .._store import CancelOutcome, Finish, JobRecord, LeaseState, NewJob, Retention
from . import _redis_reads as reads
from ._redis_calls import Calls, connect, translated
from ._redis_codec import (
    ScriptArgs,
    job_args,
    ms,
    record,
    socket_timeout,
    text,
)
from ._redis_keys import QueueKeys
from ._redis_lane import LaneFailed

try:
    import redis
    import redis.exceptions as redis_errors
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


class RedisJobStore:
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
        wake_cap: the most wake-up tokens kept for blocked workers (about the number of
            worker processes you run; extra tokens only cause a spare empty claim).
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
        # the one key status-changing scripts declare (the ready queue); they name the
        # queue's other keys from the base in their first argument (same hash tag, same
        # slot). Pre-encoded: redis-py passes bytes through untouched
        self._fixed: list[Any] = [self.keys.ready.encode()]
        self._calls = Calls(client)  # every command goes through it (see _redis_calls)
        self._clock_lock = threading.Lock()
        self._offset: float | None = None  # server epoch seconds minus time.monotonic()
        self._synced_at = 0.0
        self._next_due: float | None = None  # monotonic time the next delayed job is due
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

    def claim(self, worker_id: str, limit: int, lease: float, wait: float = 0.0) -> list[JobRecord]:
        """Promote due delayed jobs, then take up to ``limit`` ready jobs, in one script.

        With ``wait``, first block on the queue's wake-up list (``create`` and every
        requeue push a token there; one token wakes one waiting worker) for up to ``wait``
        seconds, less if the next delayed job is due sooner. On the lane the ``BLPOP`` and
        the claim go in one write, so Redis claims the moment a token arrives.
        """
        self._calls.check_eviction_once()
        wait = self._wait_time(wait)
        first, again = self._args.claim(worker_id, limit, lease)
        common = self._args.common()
        lane = self._calls.lane
        if wait and lane is not None:
            sent = time.monotonic()
            with translated("claiming jobs"), suppress(LaneFailed):
                claim = self._calls.lane_command("CLAIM", self._fixed, [*common, first])
                [reply] = lane.execute_chain([self._blpop(wait), claim], _ignore)
                if not isinstance(reply, Exception):
                    return self._claimed(self._json(reply, "claiming jobs"), sent)
            # a lost connection or an error reply: again through redis-py, as a resend
            # (it hands back what the first claim took, if it ran), translating errors
            first = again
        elif wait:
            self._wait_plain(wait)
        sent = time.monotonic()
        reply = self._run_claim(
            "claiming jobs", "CLAIM", self._fixed, [*common, first], [*common, again]
        )
        return self._claimed(reply, sent)

    def _wait_time(self, wait: float) -> float:
        """``wait``, ending when the next delayed job is due and before the socket times out."""
        if wait <= 0 or self._closed:
            return 0.0
        if self._next_due is not None:
            wait = min(wait, self._next_due - time.monotonic())
        sock_timeout = socket_timeout(self._client)
        if sock_timeout is not None:
            wait = min(wait, sock_timeout - 0.5)  # the socket must not time out first
        return wait if wait >= 0.001 else 0.0

    def _blpop(self, wait: float) -> list[Any]:
        return ["BLPOP", self.keys.wake, f"{wait:.3f}"]

    def _wait_plain(self, wait: float) -> None:
        """Wait for a token through redis-py (no lane); if Redis is down, sleep instead:
        the claim that follows reports the error."""
        started = time.monotonic()
        try:
            self._calls.blpop(self.keys.wake, wait)
        except Exception as exc:
            if redis is None or not isinstance(exc, redis_errors.RedisError):
                raise
            remaining = wait - (time.monotonic() - started)
            if remaining > 0 and not self._closed:
                time.sleep(min(remaining, 1.0))  # Redis is down: back off, not spin

    def _claimed(self, reply: list[Any], sent: float) -> list[JobRecord]:
        """Read a CLAIM / FINISH_CLAIM reply: sync the clock, note the next due job."""
        self._sync(int(reply[0]) / 1000.0, sent)
        next_due = int(float(reply[1]))
        self._next_due = None if next_due < 0 else time.monotonic() + next_due / 1000.0
        return [record(values) for values in reply[4:]]

    def _run_claim(
        self, action: str, name: str, keys: list[Any], args: list[Any], resend: list[Any]
    ) -> Any:
        """Run CLAIM or FINISH_CLAIM; their reply is one JSON array (see the scripts).

        ``resend``: the same call marked as a resend, for when a reply may have been lost
        (the script then hands back what the first send claimed).
        """
        return self._json(self._script(action, name, keys, args, resend=resend), action)

    @staticmethod
    def _json(reply: Any, action: str) -> Any:
        try:
            return json.loads(reply)
        except (ValueError, TypeError) as exc:  # pragma: no cover - only if Redis sent garbage
            raise StoreError(f"Redis returned a malformed reply while {action}") from exc

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

    def finish(self, job_id: str, attempt: int, finish: Finish) -> JobRecord | None:
        """Record how run ``attempt`` ended; None if that run no longer holds the job.

        A random nonce makes the script idempotent: if redis-py resends it after a lost
        reply, the second execution answers like the first instead of being rejected.
        """
        reply = self._script(
            "recording a job's outcome",
            "FINISH",
            [*self._fixed, self.keys.job(job_id)],
            [*self._args.common(), *self._args.finish(attempt, finish)],
        )
        if reply[0] not in (b"1", "1"):
            return None
        return record(json.loads(reply[1]), job_id)

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
        """Record the end of one run and claim the next jobs, in one round trip.

        The finish is fenced exactly like :meth:`finish` (and idempotent the same way);
        the claim that follows is :meth:`claim`'s (with its ``wait``) and happens even if
        the finish was rejected. Without a wait it is one script (``FINISH_CLAIM``); with
        one, on the lane, ``FINISH``, ``BLPOP`` and ``CLAIM`` go in one write, and
        ``on_finished`` is called when the finish's reply arrives, before the wait.
        """
        head = [*self._args.common(), *self._args.finish(attempt, finish)]
        wait = self._wait_time(wait)
        if wait and self._calls.lane is not None:
            return self._finish_wait_claim(job_id, head, worker_id, limit, lease, wait, on_finished)
        first, again = self._args.claim(worker_id, limit, lease)
        sent = time.monotonic()
        reply = self._run_claim(
            "recording a job's outcome and claiming the next",
            "FINISH_CLAIM",
            [*self._fixed, self.keys.job(job_id)],
            [*head, first],
            [*head, again],
        )
        claimed = self._claimed(reply, sent)
        updated = None if reply[2] == "0" else record(reply[3], job_id)
        if on_finished is not None:
            on_finished(updated)
        if not claimed and wait:
            claimed = self.claim(worker_id, limit, lease, wait)
        return updated, claimed

    def _finish_wait_claim(
        self,
        job_id: str,
        head: list[Any],
        worker_id: str,
        limit: int,
        lease: float,
        wait: float,
        on_finished: Callable[[JobRecord | None], None] | None,
    ) -> tuple[JobRecord | None, list[JobRecord]]:
        """FINISH, BLPOP and CLAIM in one write on the lane (see finish_and_claim).

        Whatever goes wrong (a lost connection, an error reply such as a flushed script)
        goes again through redis-py, as resends: the finish is idempotent by its nonce
        and a resent claim hands back what the first one took.
        """
        first, again = self._args.claim(worker_id, limit, lease)
        common = head[:1]
        keys = [*self._fixed, self.keys.job(job_id)]
        finished: list[JobRecord | None] = []

        def finish_read(reply: Any) -> None:
            if isinstance(reply, Exception):
                return
            updated = None if reply[0] not in (b"1", "1") else record(json.loads(reply[1]), job_id)
            finished.append(updated)
            if on_finished is not None:
                on_finished(updated)

        sent = time.monotonic()
        lane = self._calls.lane
        assert lane is not None
        with translated("recording a job's outcome"), suppress(LaneFailed):
            _, reply = lane.execute_chain(
                [
                    self._calls.lane_command("FINISH", keys, head),
                    self._blpop(wait),
                    self._calls.lane_command("CLAIM", self._fixed, [*common, first]),
                ],
                finish_read,
            )
            if finished and not isinstance(reply, Exception):
                return finished[0], self._claimed(self._json(reply, "claiming jobs"), sent)
        sent = time.monotonic()
        if finished:
            reply = self._run_claim(
                "claiming jobs", "CLAIM", self._fixed, [*common, again], [*common, again]
            )
            return finished[0], self._claimed(reply, sent)
        reply = self._run_claim(
            "recording a job's outcome and claiming the next",
            "FINISH_CLAIM",
            keys,
            [*head, again],
            [*head, again],
        )
        claimed = self._claimed(reply, sent)
        updated = None if reply[2] == "0" else record(reply[3], job_id)
        if on_finished is not None:
            on_finished(updated)
        return updated, claimed

    def cancel(self, job_id: str) -> tuple[CancelOutcome, JobRecord | None]:
        """Cancel a waiting job now; flag a running one; leave a terminal one alone."""
        reply = self._script(
            "cancelling a job",
            "CANCEL",
            [*self._fixed, self.keys.job(job_id)],
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

    # -- the boundary to redis-py ---------------------------------------------------------

    def _script(
        self,
        action: str,
        name: str,
        keys: list[Any],
        args: list[Any],
        *,
        resend: list[Any] | None = None,
    ) -> Any:
        """Run one script; the single place script calls go through (tests spy on it)."""
        return self._calls.script(action, name, keys, args, resend=resend)

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` (redis-py calls), translating every redis-py error."""
        return self._calls.call(action, fn)

    def _common_args(self) -> list[Any]:
        """The common first ARGV of status-changing scripts (tests build calls with it)."""
        return self._args.common()


def _ignore(reply: Any) -> None:
    """A reply not needed (a wake-up token)."""


# -- helpers -------------------------------------------------------------------------
