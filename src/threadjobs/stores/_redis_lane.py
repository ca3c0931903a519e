"""A short path for the store's hot commands, past redis-py's per-command machinery.

A script call through ``redis.Redis`` costs about 35 us of client CPU on the bench
machine: argument encoding per value, the pool's lock and "is this connection clean?"
check, event dispatch and metrics hooks, the retry wrapper. The same call written to a
connection this module holds, packed by :func:`~._redis_codec.resp_command` and read with
the connection's own parser, costs about 12 us. A job takes two or three such calls, so
this is the largest share of the client's cost per job that is not the job itself.

What stays redis-py's: connecting (TLS, ACL user, password, db, RESP version, client
name), the reply parser and its error classes, health checks of idle connections. The
connections are built from the client's pool settings but kept here, in a stack that
needs no lock (``list.append``/``pop`` are atomic in CPython).

Any connection-level failure discards the connection and raises :class:`LaneFailed`; the
store then sends the same call through redis-py, whose retries and backoff apply, so the
behaviour on a broken connection is redis-py's, as before. Error *replies* (a script
error, ``NOSCRIPT``, ``READONLY``) leave the connection clean and are raised as redis-py
raises them.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from typing import Any

from ._redis_codec import resp_command

try:
    import redis
    import redis.exceptions as redis_errors
except ImportError:  # pragma: no cover - exercised only without the extra
    redis = None  # type: ignore[assignment]

__all__ = ["Lane", "LaneFailed", "lane_for"]

# idle connections kept; more are closed after use (about the threads calling at once)
_MAX_IDLE = 32
_LANES: weakref.WeakSet[Lane] = weakref.WeakSet()


class LaneFailed(Exception):
    """The connection broke (or was never made); send the call the ordinary way."""


class Lane:
    """Dedicated connections for the store's scripts and wake-up waits."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._idle: list[Any] = []
        self._closed = False
        _LANES.add(self)

    def execute(self, args: Sequence[bytes | str | int]) -> Any:
        """Send one command, return its parsed reply (error replies raise as in redis-py).

        Raises:
            LaneFailed: the connection failed before a reply was read; nothing is known
                of whether Redis ran the command.
        """
        try:
            conn = self._idle.pop()
        except IndexError:
            conn = self._pool.connection_class(**self._pool.connection_kwargs)
        try:
            conn.send_packed_command([resp_command(args, conn.encoder.encoding)])
            reply = conn.read_response()
        except redis_errors.ResponseError:
            self._put_back(conn)  # the error reply was read whole: the connection is clean
            raise
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
            conn.disconnect()
            raise LaneFailed(str(exc)) from exc
        except BaseException:
            # interrupted mid-reply (KeyboardInterrupt, an injected timeout): the rest of
            # the reply may still arrive, so this connection can never be trusted again
            conn.disconnect()
            raise
        self._put_back(conn)
        return reply

    def _put_back(self, conn: Any) -> None:
        if self._closed or len(self._idle) >= _MAX_IDLE:
            conn.disconnect()
        else:
            self._idle.append(conn)

    def close(self) -> None:
        """Close the idle connections; ones in use are closed when their call returns."""
        self._closed = True
        while self._idle:
            self._idle.pop().disconnect()

    def _forget(self) -> None:
        # in a forked child: these sockets are the parent's; drop them unclosed
        # (redis-py's disconnect only closes our copy of the descriptor in a child)
        self._idle = []


def lane_for(client: Any, pool_types: tuple[type, ...]) -> Lane | None:
    """A lane for ``client`` if it is a plain ``redis.Redis`` on one of ``pool_types``.

    Cluster clients, Sentinel and blocking pools (their connection limits and routing are
    the pool's business), client-side caching and single-connection clients keep
    redis-py's path: None.
    """
    if redis is None or type(client) is not redis.Redis:
        return None
    pool = getattr(client, "connection_pool", None)
    if type(pool) not in pool_types or getattr(pool, "cache", None) is not None:
        return None
    if getattr(client, "connection", None) is not None:
        return None
    return Lane(pool)


def _after_fork() -> None:
    for lane in list(_LANES):
        lane._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
