"""The Redis store's boundary to redis-py: every command it sends goes through here.

:class:`Calls` runs the store's Lua (see :mod:`._redis_scripts`) and its few plain
commands, and translates every redis-py error at one place (:func:`translated`) into
:class:`~threadjobs.StoreUnavailable` or :class:`~threadjobs.StoreError`. On a plain
``redis.Redis`` client, script calls and wake-up waits take the lane (dedicated
connections, see :mod:`._redis_lane`) and, where Redis has functions, are ``FCALL`` calls of
the loaded library; anything the short path cannot finish goes through redis-py, with its
retries. :func:`connect` builds the client for ``RedisJobStore.from_url``.
"""

from __future__ import annotations

import logging
import select
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from .._errors import StoreError, StoreUnavailable
from . import _redis_scripts as scripts
from ._redis_codec import config_values, resp_command
from ._redis_lane import Lane, LaneFailed, lane_for

try:
    import redis
    import redis.exceptions as redis_errors
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.retry import Retry
except ImportError:  # pragma: no cover - exercised only without the extra
    redis = None  # type: ignore[assignment]
try:
    from redis.cluster import RedisCluster as _ClusterClient

    # error replies that say the queue's slot is not (or no longer) served by this node
    _MOVED_REPLIES: tuple[type[Exception], ...] = (
        redis_errors.MovedError, redis_errors.AskError, redis_errors.ReadOnlyError,
        redis_errors.TryAgainError, redis_errors.ClusterDownError,
    )  # fmt: skip
except ImportError:  # pragma: no cover - exercised only without the extra
    _ClusterClient = None  # type: ignore[assignment, misc]
    _MOVED_REPLIES = ()
try:  # private names: without them the pool below always runs redis-py's own check
    from redis._parsers import _RESP2Parser, _RESP3Parser

    _PLAIN_PARSERS: tuple[type, ...] = (_RESP2Parser, _RESP3Parser)
except ImportError:  # pragma: no cover
    _PLAIN_PARSERS = ()

__all__ = ["Calls", "connect", "connect_sentinel", "translated"]

T = TypeVar("T")
log = logging.getLogger("threadjobs")

_OUT_OF_MEMORY: tuple[type[Exception], ...] = (
    (redis_errors.OutOfMemoryError,) if redis is not None else ()
)
_SCRIPTS = (
    "CREATE", "CLAIM", "HEARTBEAT", "PROGRESS", "FINISH", "FINISH_CLAIM", "CANCEL", "RECOVER",
    "PURGE", "RECENT", "TIME",
)  # fmt: skip


def _options(redis_options: dict[str, Any]) -> dict[str, Any]:
    """threadjobs' connection defaults, overridden by ``redis_options``."""
    options: dict[str, Any] = {
        "socket_connect_timeout": 5.0,
        "socket_timeout": 5.0,
        "health_check_interval": 30,
        # fail fast so a submit while Redis is down raises promptly; workers back off
        "retry": Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), 2),
    }
    options.update(redis_options)
    return options


def connect_sentinel(
    sentinels: list[tuple[str, int]],
    service: str,
    redis_options: dict[str, Any],
    sentinel_options: dict[str, Any] | None,
) -> Any:
    """A client for the master the sentinels name ``service``, found again after a
    failover; threadjobs' defaults under ``redis_options`` (for the master's
    connections); ``sentinel_options`` for the connections to the sentinels."""
    from redis.sentinel import Sentinel

    if sentinel_options is None:
        sentinel_options = {"socket_connect_timeout": 2.0, "socket_timeout": 2.0}
    sentinel = Sentinel(sentinels, sentinel_kwargs=sentinel_options)
    return sentinel.master_for(service, **_options(redis_options))


def connect(url: str, cluster: bool, redis_options: dict[str, Any]) -> Any:
    """A redis-py client for ``url``, with threadjobs' defaults under ``redis_options``."""
    options = _options(redis_options)
    if cluster:
        from redis.cluster import RedisCluster

        return RedisCluster.from_url(url, **options)
    single = options.pop("single_connection_client", False)
    pool = _QuickCheckPool.from_url(url, **options)
    client = redis.Redis(connection_pool=pool, single_connection_client=single)
    client.auto_close_connection_pool = True  # as redis.Redis.from_url does
    return client


class Calls:
    """Runs the store's scripts and commands on ``client``; see the module docstring."""

    def __init__(self, client: Any, route_key: bytes | str | None = None) -> None:
        self.client = client
        self.scripts = {name: client.register_script(getattr(scripts, name)) for name in _SCRIPTS}
        # None unless the client is a plain one (see _redis_lane)
        self._lane = lane_for(client, _LANE_POOLS)
        # on Redis Cluster: the lane goes to the node that holds the queue's slot, found
        # through ``route_key`` (any key of the queue) and found again after it moved
        self._route_key = route_key
        self._cluster = (
            self._lane is None and route_key is not None and _ClusterClient is not None
            and isinstance(client, _ClusterClient)
        )  # fmt: skip
        # through Sentinel: after a failover the lane's connections (to the old master)
        # are dropped, and new ones ask the sentinels for the new master
        self._sentinel = self._lane is not None and isinstance(self._lane.pool, _SENTINEL_POOLS)
        # whether a moved slot or master is found again (see lane_error)
        self._follows = self._cluster or self._sentinel
        # whether the status-changing code is a loaded function library (None: not yet
        # asked; only on the lane, see script())
        self.functions: bool | None = None
        self._library_lock = threading.Lock()
        # scripts sent to Redis with SCRIPT LOAD, for calls that must not meet NOSCRIPT
        # (bulk create, chains) when they run as EVALSHA
        self._loaded: set[str] = set()
        self._checked_eviction = False

    @property
    def lane(self) -> Lane | None:
        """The store's own connections (see _redis_lane), or None for clients without."""
        lane = self._lane
        if lane is None and self._cluster:
            lane = self._lane = self._node_lane()
        elif lane is None and self._sentinel:
            lane = self._lane = lane_for(self.client, _LANE_POOLS)
        return lane

    def _node_lane(self) -> Lane | None:
        try:
            node = self.client.get_node_from_key(self._route_key)
            return lane_for(node.redis_connection, _LANE_POOLS)
        except Exception:  # no slot map yet, or the node is gone: redis-py's path for now
            return None

    def lane_error(self, exc: BaseException) -> None:
        """The lane met ``exc``. On Cluster, if it says the queue's slot is elsewhere now
        (or the node stopped answering), forget the node: the call goes through the
        cluster client, which follows the new layout, and the next one finds the node
        again (and loads the library there if it must). Through Sentinel, ``READONLY``
        (the master was demoted) or a broken connection drops the lane's connections
        likewise: the next ones ask the sentinels for the master."""
        if (self._follows and isinstance(exc, LaneFailed)) or self._moved(exc):
            lane, self._lane = self._lane, None
            self.functions = None
            self._loaded.clear()
            if lane is not None:
                lane.close()

    def _moved(self, exc: BaseException) -> bool:
        """Whether ``exc`` says the queue is served elsewhere now (Cluster: the slot moved
        or a master is being elected; Sentinel: the master was demoted)."""
        return self._follows and isinstance(exc, _MOVED_REPLIES)

    def script(
        self,
        action: str,
        name: str,
        keys: list[Any],
        args: list[Any],
        *,
        resend: list[Any] | None = None,
    ) -> Any:
        """Run one script.

        On the lane: an FCALL of the loaded function library where Redis has one (see
        _redis_scripts), else EVALSHA. Anything the lane cannot finish (a broken
        connection, a script or library Redis lost) goes through redis-py's path, whose
        retries apply and which loads the script; after a broken connection Redis may
        have run the call already, so that path sends ``resend`` (the arguments of the
        same call marked as a resend) when given.
        """
        script = self.scripts[name]
        lane = self.lane
        if lane is not None:
            with translated(action):
                try:
                    return lane.execute(self.lane_command(name, keys, args))
                except LaneFailed as exc:
                    self.lane_error(exc)
                    args = resend if resend is not None else args
                except redis_errors.ResponseError as exc:
                    self.lane_error(exc)
                    if not (self._moved(exc) or self.lost_code(exc)):
                        raise
        return self.call(action, lambda: script(keys, args))

    def lane_command(self, name: str, keys: list[Any], args: list[Any]) -> list[Any]:
        """The command that runs script ``name`` on the lane: FCALL, or EVALSHA without
        the function library.

        Raises:
            LaneFailed: Redis could not be asked whether the library is loaded.
        """
        function = scripts.FUNCTIONS.get(name) if self.library() else None
        if function is not None:
            return ["FCALL", function, len(keys), *keys, *args]
        return ["EVALSHA", self.loaded_sha(name), len(keys), *keys, *args]

    def loaded_sha(self, name: str) -> str:
        """The sha of script ``name``, loaded into Redis first if not known to be there
        (a call that meets NOSCRIPT is sent twice; in a chain it would also wait)."""
        script = self.scripts[name]
        if name not in self._loaded:
            if self.lane is not None:
                self.lane.execute(["SCRIPT", "LOAD", script.script])  # may raise LaneFailed
            else:
                self.client.script_load(script.script)
            self._loaded.add(name)
        return str(script.sha)

    def lost_code(self, exc: Exception) -> bool:
        """Whether ``exc`` says Redis lost the scripts or the library (flushed, or
        restarted without persistence): then the call goes again through redis-py,
        which loads the script."""
        if not _lost_code(exc):
            return False
        self._loaded.clear()
        if self.functions:
            self.functions = None  # ask again (and load) on the next call
        return True

    def library(self) -> bool:
        """Whether the function library is loaded; loads it on first use.

        Raises:
            LaneFailed: Redis could not be asked; the question stays open.
        """
        if self.functions is None:
            assert self.lane is not None
            with self._library_lock:
                if self.functions is None:
                    try:
                        self.lane.execute(["FUNCTION", "LOAD", scripts.FUNCTION_LIBRARY])
                        self.functions = True
                    except redis_errors.ResponseError as exc:
                        # another process loaded the same code first: as good
                        self.functions = "already exists" in str(exc)
                        if not self.functions:
                            log.info(
                                "threadjobs: Redis functions unavailable (%s); using EVALSHA "
                                "scripts, which cost Redis a few microseconds more per call",
                                exc,
                            )
        return self.functions

    def check_eviction_once(self) -> None:
        """Warn once if Redis may evict keys: evicted job hashes are jobs lost silently.

        A warning, not an error: the operator may know better. Skipped without a word
        when ``CONFIG GET`` is refused (ACL, managed services) or Redis is unreachable.
        """
        if self._checked_eviction:
            return
        self._checked_eviction = True
        try:
            reply = self.client.config_get("maxmemory-policy")
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

    def call(self, action: str, fn: Callable[[], T]) -> T:
        """Run ``fn``, translating every redis-py error into a threadjobs error."""
        with translated(action):
            return fn()

    def create_batches(self, calls: list[tuple[list[Any], list[Any]]]) -> list[Any]:
        """Run several CREATE calls in one round trip; their replies in order."""
        pool = self._stream_pool()
        if pool is not None:
            return self.call("creating jobs", lambda: self._create_streamed(calls, pool))
        return self.call("creating jobs", lambda: self._create_pipelined(calls))

    def blpop(self, key: str, timeout: float) -> Any:
        """``BLPOP key timeout`` on a connection of its own: None when it timed out.

        Raises:
            LaneFailed, redis.RedisError: Redis could not be reached (not translated:
                the caller backs off instead of raising).
        """
        if self.lane is not None:
            return self.lane.execute(["BLPOP", key, f"{timeout:.3f}"])
        return self.client.blpop([key], timeout=timeout)

    def close(self) -> None:
        """Close every connection."""
        with suppress(Exception):  # closing a broken connection may raise; nothing to do
            if self._lane is not None:
                self._lane.close()
            self.client.close()

    def _stream_pool(self) -> Any:
        """The pool whose connections bulk create may write script calls to directly: a
        plain client's, or on Cluster the pool of the node that holds the queue (the
        lane's); None for other clients."""
        pool = getattr(self.client, "connection_pool", None)
        if isinstance(self.client, redis.Redis) and isinstance(pool, redis.ConnectionPool):
            return pool
        lane = self.lane if self._cluster else None
        return lane.pool if lane is not None else None

    def _create_streamed(self, calls: list[tuple[list[Any], list[Any]]], pool: Any) -> list[Any]:
        """Send the CREATE calls on one connection, packing each while Redis runs the last.

        A pipeline packs every call before sending the first, so the client (~7 us per job
        packing) and Redis (~9 us per job running) would take turns; here they overlap.
        All arguments were built (and validated) before anything is sent. CREATE is
        idempotent, so after a lost connection or a flushed script cache the whole batch
        is sent again through redis-py's pipeline, with its retries.
        """
        head = self._create_head()
        conn = pool.get_connection()
        replies: list[Any] = []
        try:
            encoding = conn.encoder.encoding
            for keys, args in calls:
                command = [*head, str(len(keys)), *keys, *args]
                conn.send_packed_command([resp_command(command, encoding)])
            for _ in calls:
                try:
                    replies.append(conn.read_response())
                except redis_errors.ResponseError as exc:
                    replies.append(exc)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
            conn.disconnect()
            self.lane_error(LaneFailed(str(exc)))  # on Cluster: find the node again
            return self._create_pipelined(calls)
        except BaseException:
            conn.disconnect()  # replies may be left unread: never reuse this connection
            raise
        finally:
            pool.release(conn)
        errors = [r for r in replies if isinstance(r, redis_errors.ResponseError)]
        moved = [e for e in errors if self._moved(e)]
        if moved:  # the queue is served elsewhere now: redis-py's client follows it
            self.lane_error(moved[0])
            return self._create_pipelined(calls)
        if any(self.lost_code(e) for e in errors):  # forgets what Redis lost
            return self._create_pipelined(calls)  # which loads CREATE again
        if errors:
            raise errors[0]
        return replies

    def _create_head(self) -> list[Any]:
        """How to call CREATE on a raw connection: FCALL where the library is loaded."""
        if self.lane is not None:
            with suppress(LaneFailed):
                if self.library():
                    return ["FCALL", scripts.FUNCTIONS["CREATE"]]
        # load the script up front: a first bulk create would otherwise get NOSCRIPT for
        # every chunk and be sent twice
        script = self.scripts["CREATE"]
        if "CREATE" not in self._loaded:
            self.client.script_load(script.script)
            self._loaded.add("CREATE")
        return ["EVALSHA", script.sha]

    def _create_pipelined(self, calls: list[tuple[list[Any], list[Any]]]) -> list[Any]:
        # a cluster pipeline does not load scripts itself (a plain one does): load CREATE
        # first, and once more if Redis lost it meanwhile (CREATE is idempotent)
        for attempt in (1, 2):
            if "CREATE" not in self._loaded:
                self.client.script_load(self.scripts["CREATE"].script)
                self._loaded.add("CREATE")
            pipe = self.client.pipeline(transaction=False)
            for keys, args in calls:
                self.scripts["CREATE"](keys, args, client=pipe)
            try:
                return list(pipe.execute())
            except redis_errors.NoScriptError:
                self._loaded.discard("CREATE")
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover


def _lost_code(exc: Exception) -> bool:
    """Whether an error reply says Redis no longer has the script or function called."""
    return isinstance(exc, redis_errors.NoScriptError) or "function not found" in str(exc).lower()


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

    from redis.sentinel import SentinelConnectionPool

    _SENTINEL_POOLS: tuple[type, ...] = (SentinelConnectionPool,)
    _LANE_POOLS: tuple[type, ...] = (redis.ConnectionPool, _QuickCheckPool, *_SENTINEL_POOLS)


@contextmanager
def translated(action: str) -> Iterator[None]:
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
        if isinstance(exc, _OUT_OF_MEMORY):
            raise StoreUnavailable(
                f"Redis is out of memory while {action} (maxmemory reached; with "
                "maxmemory-policy noeviction it refuses writes rather than lose jobs). "
                "Redis refused the whole call, so no job is half-written. Free memory (raise "
                "maxmemory, shorten the retention, drain queues); threadjobs resumes then"
            ) from exc
        if isinstance(exc, redis_errors.ReadOnlyError):
            raise StoreUnavailable(
                f"Redis refused a write while {action}: the server is a read-only replica "
                "(a failover is under way, or the URL names a replica rather than the "
                "master); retry shortly, or point the store at the master"
            ) from exc
        if isinstance(exc, _MOVED_REPLIES):  # redis-py strips their codes from the text
            raise StoreUnavailable(
                f"Redis Cluster is moving the queue's slot or electing its master while "
                f"{action} ({type(exc).__name__}: {exc}); retry shortly"
            ) from exc
        if isinstance(exc, redis_errors.RedisError) or type(exc).__module__.startswith("redis"):
            raise StoreError(f"Redis failed while {action}: {exc}") from exc
        raise
