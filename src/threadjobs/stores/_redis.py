"""The Redis store: one shared, crash-safe queue for many processes and machines.

Every method that changes a job is one Lua script, so claiming, fencing, recovery,
cancellation and retention are atomic in Redis, whichever process runs them. Times are
Redis server time (``TIME`` inside the scripts); no client clock is ever written.
Everything stored is JSON or plain text: nothing read back is unpickled or imported.

Not for: queues spanning several Redis Cluster slots (one queue = one hash tag = one
slot; use several queues to spread load). See ``docs/redis.md``.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import select
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from .._errors import MissingDependency, StoreError, StoreUnavailable
from .._models import JobStatus, Progress
from .._store import CancelOutcome, Finish, JobRecord, LeaseState, NewJob, Retention
from . import _redis_scripts as scripts
from ._redis_codec import (
    config_values,
    dumps,
    job_args,
    ms,
    record,
    resp_command,
    socket_timeout,
    text,
)
from ._redis_keys import ALL_ACCOUNTS, QueueKeys, encode_account
from ._redis_lane import LaneFailed, lane_for

try:
    import redis
    import redis.exceptions as redis_errors
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.retry import Retry
except ImportError:  # pragma: no cover - exercised only without the extra
    redis = None  # type: ignore[assignment]
try:  # private names: without them the pool below always runs redis-py's own check
    from redis._parsers import _RESP2Parser, _RESP3Parser

    _PLAIN_PARSERS: tuple[type, ...] = (_RESP2Parser, _RESP3Parser)
except ImportError:  # pragma: no cover
    _PLAIN_PARSERS = ()

__all__ = ["RedisJobStore"]

T = TypeVar("T")
log = logging.getLogger("threadjobs")

_INSTALL_HINT = "RedisJobStore needs redis-py: pip install 'threadjobs[redis]'"
# jobs per create script call; bigger batches go as several calls in one pipeline (still
# one round trip). 500 took 4-6 ms of Redis time per call on the bench machine (SLOWLOG),
# 250 about half that, at the same throughput: Redis stays responsive to other clients
_CREATE_CHUNK = 250
_RECOVER_BATCH = 200
_GRACE_MS = 3_600_000  # the TTL safety net outlives retention by an hour, for a late purge()
_LEASE_NAMES = {"0": LeaseState.LOST, "1": LeaseState.HELD, "2": LeaseState.CANCEL_REQUESTED}
_FIELDS = list(scripts.FIELDS)
_UNAVAILABLE_REPLIES = ("READONLY", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN")


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
        self._wake_cap = wake_cap
        self._promote_limit = promote_limit
        self._scripts = {
            name: client.register_script(getattr(scripts, name))
            for name in (
                "CREATE", "CLAIM", "HEARTBEAT", "PROGRESS", "FINISH", "FINISH_CLAIM", "CANCEL",
                "RECOVER", "PURGE", "RECENT", "TIME",
            )
        }  # fmt: skip
        self._clock_lock = threading.Lock()
        self._offset: float | None = None  # server epoch seconds minus time.monotonic()
        self._synced_at = 0.0
        self._next_due: float | None = None  # monotonic time the next delayed job is due
        self._closed = False
        self._common: list[bytes] | None = None
        self._claim_args: dict[tuple[str, int, float, bool], bytes] = {}
        self._checked_server = False
        self._nonce_prefix = secrets.token_hex(8)
        self._nonces = itertools.count()  # next() is atomic in CPython: safe across threads
        # the last wait ended without a token: the next claim is an idle poll (see CLAIM)
        self._poll_timed_out = False
        # script calls and wake-up waits skip redis-py's per-command machinery when the
        # client is a plain one (see _redis_lane); otherwise None and redis-py's path
        self._lane = lane_for(client, _LANE_POOLS)
        # whether the status-changing code is a loaded function library (None: not yet
        # asked; only on the lane, see _script)
        self._functions: bool | None = None
        self._library_lock = threading.Lock()

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
        options: dict[str, Any] = {
            "socket_connect_timeout": 5.0,
            "socket_timeout": 5.0,
            "health_check_interval": 30,
            # fail fast so a submit while Redis is down raises promptly; workers back off
            "retry": Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), 2),
        }
        options.update(redis_options)
        client: Any
        if cluster:
            from redis.cluster import RedisCluster

            client = RedisCluster.from_url(url, **options)
        else:
            single = options.pop("single_connection_client", False)
            pool = _QuickCheckPool.from_url(url, **options)
            client = redis.Redis(connection_pool=pool, single_connection_client=single)
            client.auto_close_connection_pool = True  # as redis.Redis.from_url does
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
        elif self._streamable():
            replies = self._call("creating jobs", lambda: self._create_streamed(calls))
        else:
            replies = self._call("creating jobs", lambda: self._create_pipelined(calls))
        out = [(job.id, True) for job in jobs]
        for chunk_no, reply in enumerate(replies):
            for i in range(0, len(reply), 2):  # only the jobs whose dedup key was taken
                out[chunk_no * _CREATE_CHUNK + int(reply[i])] = (text(reply[i + 1]), False)
        return out

    def _streamable(self) -> bool:
        """Whether bulk create may write script calls straight to one pooled connection."""
        pool = getattr(self._client, "connection_pool", None)
        return isinstance(self._client, redis.Redis) and isinstance(pool, redis.ConnectionPool)

    def _create_streamed(self, calls: list[tuple[list[Any], list[Any]]]) -> list[Any]:
        """Send the CREATE calls on one connection, packing each while Redis runs the last.

        A pipeline packs every call before sending the first, so the client (~7 us per job
        packing) and Redis (~9 us per job running) would take turns; here they overlap.
        All arguments were built (and validated) before anything is sent. CREATE is
        idempotent, so after a lost connection or a flushed script cache the whole batch
        is sent again through redis-py's pipeline, with its retries.
        """
        script = self._scripts["CREATE"]
        pool = self._client.connection_pool
        conn = pool.get_connection()
        replies: list[Any] = []
        try:
            encoding = conn.encoder.encoding
            for keys, args in calls:
                command = ["EVALSHA", script.sha, str(len(keys)), *keys, *args]
                conn.send_packed_command([resp_command(command, encoding)])
            for _ in calls:
                try:
                    replies.append(conn.read_response())
                except redis_errors.ResponseError as exc:
                    replies.append(exc)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError):
            conn.disconnect()
            return self._create_pipelined(calls)
        except BaseException:
            conn.disconnect()  # replies may be left unread: never reuse this connection
            raise
        finally:
            pool.release(conn)
        errors = [r for r in replies if isinstance(r, redis_errors.ResponseError)]
        if any(isinstance(e, redis_errors.NoScriptError) for e in errors):
            return self._create_pipelined(calls)  # the Script object reloads it
        if errors:
            raise errors[0]
        return replies

    def _create_pipelined(self, calls: list[tuple[list[Any], list[Any]]]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for keys, args in calls:
            self._scripts["CREATE"](keys, args, client=pipe)
        return list(pipe.execute())

    # -- reading ------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        """The job, or None if it does not exist or was purged.

        Raises:
            CorruptJobData: the stored hash cannot be read back as a job.
        """
        values = self._call(
            "reading a job", lambda: self._client.hmget(self.keys.job(job_id), _FIELDS)
        )
        if all(v is None for v in values):
            return None
        return record(values, job_id)

    def list_jobs(
        self,
        account_id: int | str | None,
        status: JobStatus | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[JobRecord], str | None]:
        """Newest first; ``cursor`` is the last id of the previous page. Costs O(page)."""
        if limit <= 0:
            return [], None
        acct = encode_account(account_id)
        if acct:
            key = self.keys.index(status, per_account=True)
            high = f"({acct}|{cursor}" if cursor is not None else f"({acct}}}"
            low = f"[{acct}|"
        else:
            key = self.keys.index(status, per_account=False)
            high = f"({cursor}" if cursor is not None else "+"
            low = "-"

        def read() -> list[Any]:
            members = self._client.zrevrangebylex(key, high, low, start=0, num=limit + 1)
            ids = [text(m).rsplit("|", 1)[-1] for m in members]
            pipe = self._client.pipeline(transaction=False)
            for job_id in ids[:limit]:
                pipe.hmget(self.keys.job(job_id), _FIELDS)
            return [ids, pipe.execute()]

        ids, hashes = self._call("listing jobs", read)
        page = [
            record(values, job_id)
            for job_id, values in zip(ids, hashes, strict=False)
            if any(v is not None for v in values)  # purged between the two reads
        ]
        more = len(ids) > limit
        return page, (ids[limit - 1] if more else None)

    def counts(self, account_id: int | str | None = None) -> dict[JobStatus, int]:
        """Jobs per status now, from counters kept by the scripts (O(1))."""
        who = encode_account(account_id) or ALL_ACCOUNTS
        fields = [f"{status.value}|{who}" for status in JobStatus]
        values = self._call("reading counts", lambda: self._client.hmget(self.keys.counts, fields))
        return {status: int(v or 0) for status, v in zip(JobStatus, values, strict=False)}

    def recent_counts(
        self, account_id: int | str | None = None, hours: int = 24
    ) -> dict[str, dict[JobStatus, int]]:
        """Per job type, entries into each status in the last ``hours`` hour buckets."""
        who = encode_account(account_id) or ALL_ACCOUNTS
        fields, values = self._script(
            "reading recent counts",
            "RECENT",
            [self.keys.recent, self.keys.recent_fields],
            [who, max(1, int(hours))],
        )
        out: dict[str, dict[JobStatus, int]] = {}
        skip = len(who) + 1 + 8 + 1  # "<who>|<hour>|"
        for field, value in zip(fields, values, strict=False):
            status, _, job_type = text(field)[skip:].partition("|")
            per_type = out.setdefault(job_type, {})
            per_type[JobStatus(status)] = per_type.get(JobStatus(status), 0) + int(value)
        return out

    # -- running ----------------------------------------------------------------------

    def claim(self, worker_id: str, limit: int, lease: float) -> list[JobRecord]:
        """Promote due delayed jobs, then take up to ``limit`` ready jobs, in one script."""
        self._check_server_once()
        sent = time.monotonic()
        reply = self._run_claim(
            "claiming jobs",
            "CLAIM",
            self._fixed,
            [
                *self._common_args(),
                self._claim_arg(worker_id, limit, lease, not self._poll_timed_out),
            ],
        )
        return self._claimed(reply, sent)

    def _claimed(self, reply: list[Any], sent: float) -> list[JobRecord]:
        """Read a CLAIM / FINISH_CLAIM reply: sync the clock, note the next due job."""
        self._sync(int(reply[0]) / 1000.0, sent)
        next_due = int(float(reply[1]))
        self._next_due = None if next_due < 0 else time.monotonic() + next_due / 1000.0
        return [record(values) for values in reply[4:]]

    def _run_claim(self, action: str, name: str, keys: list[Any], args: list[Any]) -> Any:
        """Run CLAIM or FINISH_CLAIM; their reply is one JSON array (see the scripts)."""
        reply = self._script(action, name, keys, args)
        try:
            return json.loads(reply)
        except ValueError as exc:  # pragma: no cover - only if Redis returned garbage
            raise StoreError(f"Redis returned a malformed reply while {action}") from exc

    def wait_for_work(self, timeout: float) -> None:
        """Block on the queue's wake-up list until work arrives or ``timeout`` passes.

        ``create`` and every requeue push a token; one token wakes one waiting process.
        Returns early when the next delayed job (as seen by the last claim) is due. If
        Redis cannot be reached it sleeps instead, and the next claim reports the error.
        """
        if self._closed:
            return
        if self._next_due is not None:
            timeout = min(timeout, max(0.0, self._next_due - time.monotonic()))
        # the socket must not time out before BLPOP does
        sock_timeout = socket_timeout(self._client)
        if sock_timeout is not None:
            timeout = min(timeout, max(0.0, sock_timeout - 0.5))
        self._poll_timed_out = False
        if timeout < 0.001:
            return
        started = time.monotonic()
        try:
            # a connection of its own: other threads' commands are not blocked
            if self._lane is not None:
                token = self._lane.execute(["BLPOP", self.keys.wake, f"{timeout:.3f}"])
            else:
                token = self._client.blpop([self.keys.wake], timeout=timeout)
            self._poll_timed_out = token is None
        except Exception as exc:
            if isinstance(exc, LaneFailed) or (
                redis is not None and isinstance(exc, redis_errors.RedisError)
            ):
                remaining = timeout - (time.monotonic() - started)
                if remaining > 0 and not self._closed:
                    time.sleep(min(remaining, 1.0))  # Redis is down: back off, not spin
                return
            raise

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
            [*self._common_args(), *self._finish_args(attempt, finish)],
        )
        if reply[0] not in (b"1", "1"):
            return None
        return record(json.loads(reply[1]), job_id)

    def finish_and_claim(
        self, job_id: str, attempt: int, finish: Finish, worker_id: str, limit: int, lease: float
    ) -> tuple[JobRecord | None, list[JobRecord]]:
        """Record the end of one run and claim the next jobs, in one script call.

        The finish is fenced exactly like :meth:`finish` (and idempotent the same way);
        the claim that follows is :meth:`claim`'s and happens even if the finish was
        rejected. Both use one server time.
        """
        sent = time.monotonic()
        reply = self._run_claim(
            "recording a job's outcome and claiming the next",
            "FINISH_CLAIM",
            [*self._fixed, self.keys.job(job_id)],
            [
                *self._common_args(),
                *self._finish_args(attempt, finish),
                self._claim_arg(worker_id, limit, lease, True),
            ],
        )
        claimed = self._claimed(reply, sent)
        return (None if reply[2] == "0" else record(reply[3], job_id)), claimed

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
                [*self._common_args(), int(max_recoveries), _RECOVER_BATCH, message],
            )
            changed.extend(record(values) for values in reply)
            if len(reply) < _RECOVER_BATCH:
                return changed

    def purge(self, limit: int = 1000) -> int:
        """Delete up to ``limit`` terminal jobs past retention, with their index entries."""
        removed = self._script(
            "purging old jobs", "PURGE", self._fixed, [*self._common_args(), int(limit)]
        )
        return int(removed)

    def close(self) -> None:
        """Close the connections. The store is unusable afterwards."""
        self._closed = True
        with suppress(Exception):  # closing a broken connection may raise; nothing to do
            if self._lane is not None:
                self._lane.close()
            self._client.close()

    # -- the boundary to redis-py ---------------------------------------------------------

    def _script(self, action: str, name: str, keys: list[Any], args: list[Any]) -> Any:
        """Run one script; the single place script calls go through (tests spy on it).

        On the lane: an FCALL of the loaded function library where Redis has one (see
        _redis_scripts), else EVALSHA. Anything the lane cannot finish (a broken
        connection, a script or library Redis lost) goes through redis-py's path, whose
        retries apply and which loads the script.
        """
        script = self._scripts[name]
        lane = self._lane
        if lane is not None:
            with _translated(action):
                try:
                    function = scripts.FUNCTIONS.get(name) if self._library() else None
                    if function is not None:
                        return lane.execute(["FCALL", function, len(keys), *keys, *args])
                    return lane.execute(["EVALSHA", script.sha, len(keys), *keys, *args])
                except (LaneFailed, redis_errors.NoScriptError):
                    pass
                except redis_errors.ResponseError as exc:
                    if "function not found" not in str(exc).lower():
                        raise
                    self._functions = None  # flushed, or a restart without persistence
        return self._call(action, lambda: script(keys, args))

    def _library(self) -> bool:
        """Whether the function library is loaded; loads it on first use.

        Raises:
            LaneFailed: Redis could not be asked; the question stays open.
        """
        if self._functions is None:
            assert self._lane is not None
            with self._library_lock:
                if self._functions is None:
                    try:
                        self._lane.execute(["FUNCTION", "LOAD", scripts.FUNCTION_LIBRARY])
                        self._functions = True
                    except redis_errors.ResponseError as exc:
                        # another process loaded the same code first: as good
                        self._functions = "already exists" in str(exc)
                        if not self._functions:
                            log.info(
                                "threadjobs: Redis functions unavailable (%s); using EVALSHA "
                                "scripts, which cost Redis a few microseconds more per call",
                                exc,
                            )
        return self._functions

    def _call(self, action: str, fn: Callable[[], T]) -> T:
        """Run ``fn``, translating every redis-py error into a threadjobs error."""
        with _translated(action):
            return fn()

    def _finish_args(self, attempt: int, finish: Finish) -> list[Any]:
        """FINISH's ARGV after the common part: ``attempt|status|delay ms|nonce``, result, error."""
        result = dumps(finish.result) if finish.status is JobStatus.COMPLETED else ""
        error = finish.error.model_dump_json() if finish.error is not None else ""
        # unique per call: a random per-store prefix and a counter (os.urandom per job was
        # a measurable syscall on the hot path)
        nonce = f"{self._nonce_prefix}{next(self._nonces)}"
        head = f"{int(attempt)}|{finish.status.value}|{ms(finish.retry_in)}|{nonce}"
        return [head.encode(), result, error]

    def _claim_arg(self, worker_id: str, limit: int, lease: float, drop: bool) -> bytes:
        """CLAIM's one argument, ``limit|lease ms|promote limit|drop|worker``; cached."""
        key = (worker_id, limit, lease, drop)
        arg = self._claim_args.get(key)
        if arg is None:
            if len(self._claim_args) > 256:  # worker ids and leases are few; stay bounded
                self._claim_args.clear()
            text_arg = (
                f"{max(0, int(limit))}|{ms(lease)}|{self._promote_limit}|{int(drop)}|{worker_id}"
            )
            arg = self._claim_args[key] = text_arg.encode()
        return arg

    def _check_server_once(self) -> None:
        """Warn once if Redis may evict keys: evicted job hashes are jobs lost silently.

        A warning, not an error: the operator may know better. Skipped without a word
        when ``CONFIG GET`` is refused (ACL, managed services) or Redis is unreachable.
        """
        if self._checked_server:
            return
        self._checked_server = True
        try:
            reply = self._client.config_get("maxmemory-policy")
        except Exception:  # not permitted, not supported, or down: nothing to learn
            return
        policies = set(config_values(reply, "maxmemory-policy")) - {"noeviction"}
        if policies:
            log.warning(
                "threadjobs: Redis maxmemory-policy is %r, not 'noeviction': when Redis runs "
                "out of memory it may evict job hashes and queue keys, losing jobs without an "
                "error. Set maxmemory-policy noeviction for the Redis that holds the queue.",
                ", ".join(sorted(policies)),
            )

    def _common_args(self) -> list[Any]:
        """The common first ARGV of status-changing scripts: one pre-encoded string."""
        if self._common is None:
            r = self.retention
            numbers = (ms(r.completed), ms(r.failed), ms(r.cancelled), _GRACE_MS, self._wake_cap)
            self._common = ["|".join([*map(str, numbers), self.keys.base]).encode()]
        return list(self._common)


if redis is not None:

    class _QuickCheckPool(redis.ConnectionPool):
        """redis-py's pool, with a cheaper "is this connection clean?" check.

        Before lending a connection, redis-py's pool asks the parser whether a reply is
        waiting (left by an interrupted command, or a server that closed the socket): for
        a plain socket that is ``settimeout(0)``, a ``recv`` that fails with EAGAIN (an
        exception) and ``settimeout`` back, on every command; with ``socket_timeout`` set
        this was about a fifth of a ``PING``'s client CPU. Here the same question is one
        zero-timeout ``select`` plus a look at the parser's buffer; whenever the answer is
        not a clear "nothing waiting" (pending data may also be a push notification,
        which redis-py handles), or the connection is one this shortcut does not know
        (TLS, the hiredis parser), redis-py's own check runs.
        """

        def ensure_connection(self, connection: Any) -> None:
            sock = getattr(connection, "_sock", None)
            parser = getattr(connection, "_parser", None)
            buffer = getattr(parser, "_buffer", None)
            if (
                sock is None
                or buffer is None
                or type(parser) not in _PLAIN_PARSERS
                or isinstance(sock, ssl.SSLSocket)
                or buffer.unread_bytes()
                or select.select([sock], [], [], 0)[0]
            ):
                super().ensure_connection(connection)

    _LANE_POOLS: tuple[type, ...] = (redis.ConnectionPool, _QuickCheckPool)


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """The one boundary where redis-py exceptions become threadjobs exceptions."""
    try:
        yield
    except Exception as exc:
        if redis is None:  # pragma: no cover
            raise
        if isinstance(exc, (redis_errors.AuthenticationError, redis_errors.AuthorizationError)):
            raise StoreError(f"Redis refused the credentials while {action}: {exc}") from exc
        if isinstance(exc, (redis_errors.ConnectionError, redis_errors.TimeoutError)):
            raise StoreUnavailable(f"Redis is unreachable while {action}: {exc}") from exc
        if isinstance(exc, redis_errors.RedisError) or type(exc).__module__.startswith("redis"):
            if str(exc).startswith(_UNAVAILABLE_REPLIES):
                raise StoreUnavailable(f"Redis is unavailable while {action}: {exc}") from exc
            raise StoreError(f"Redis failed while {action}: {exc}") from exc
        raise


# -- helpers -------------------------------------------------------------------------
