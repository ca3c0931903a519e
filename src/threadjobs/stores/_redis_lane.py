"""A short path for the store's hot commands, past redis-py's per-command machinery.

A script call through ``redis.Redis`` costs about 35 us of client CPU on the bench
machine: argument encoding per value, the pool's lock and "is this connection clean?"
check, event dispatch and metrics hooks, the retry wrapper, a generic reply parser. The
same call written to a connection this module holds, packed by
:func:`~._redis_codec.resp_command` and read by :class:`_Conn`, costs about 9 us. A job
takes two round trips here (its create; the write that records the job before it, waits
and claims it), so this is the largest share of the client's cost per job that is not
the job itself.

What stays redis-py's: connecting (TLS, ACL user, password, db, RESP version, client
name), sending, and the error classes of error replies. Replies are read by a small RESP
reader here (:class:`_Conn`), which handles exactly what the store's commands answer. The
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
from collections.abc import Callable, Sequence
from typing import Any

from ._redis_codec import resp_command

try:
    import redis
    import redis.exceptions as redis_errors
    from redis._parsers.base import BaseParser as _BaseParser
except ImportError:  # pragma: no cover - exercised only without the extra
    redis = None  # type: ignore[assignment]

__all__ = ["Lane", "LaneFailed", "lane_for"]

# idle connections kept; more are closed after use (about the threads calling at once)
_MAX_IDLE = 32
_LANES: weakref.WeakSet[Lane] = weakref.WeakSet()


class LaneFailed(Exception):
    """The connection broke (or was never made); send the call the ordinary way."""


class _Conn:
    """A redis-py connection and a RESP reader over its socket.

    The reader covers what the store's commands reply (bulk and simple strings, integers,
    nulls, arrays, errors) and, for completeness, RESP3's doubles, booleans, big numbers,
    maps and sets; push messages are skipped. It costs about a quarter of redis-py's
    parser per reply, which is generic (hooks for pushes and decoding). Anything else is
    an ``InvalidResponse``, and the connection is not used again.
    """

    __slots__ = ("buf", "conn", "pos", "sock")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.sock: Any = None
        self.buf = b""
        self.pos = 0

    def read(self) -> Any:
        """One whole reply. Error replies are raised as redis-py raises them.

        RESP3 push messages arriving before it (``>``; e.g. a server's maintenance
        notices) are read and dropped: they are not replies, and nothing on these
        connections subscribes to anything.
        """
        sock = self.conn._sock
        if sock is not self.sock:  # (re)connected: nothing buffered belongs to this socket
            self.sock, self.buf, self.pos = sock, b"", 0
        value = self._value()
        while value is _PUSH:
            value = self._value()
        return value

    def read_or_error(self) -> Any:
        """:meth:`read`, but an error reply is returned (as redis-py's exception), not raised."""
        try:
            return self.read()
        except redis_errors.ResponseError as exc:
            return exc

    @property
    def clean(self) -> bool:
        """Whether nothing beyond the last reply has arrived."""
        return self.pos == len(self.buf)

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise redis_errors.ConnectionError("Connection closed by server.")
        self.buf = self.buf[self.pos :] + data
        self.pos = 0

    def _line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n", self.pos)
            if end >= 0:
                line = self.buf[self.pos : end]
                self.pos = end + 2
                return line
            self._more()

    def _value(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self.buf) < self.pos + size + 2:
                self._more()
            data = self.buf[self.pos : self.pos + size]
            self.pos += size + 2
            return data
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._value() for _ in range(size)]
        if kind == b":" or kind == b"(":
            return int(rest)
        if kind == b"+":
            return rest
        if kind == b"_":
            return None
        if kind == b"-":
            raise _BaseParser.parse_error(rest.decode("utf-8", "replace"))  # type: ignore[no-untyped-call]
        if kind == b",":
            return float(rest)
        if kind == b"#":
            return rest == b"t"
        if kind == b"%":
            size = int(rest)
            return {self._value(): self._value() for _ in range(size)}
        if kind == b"~":
            return [self._value() for _ in range(int(rest))]
        if kind == b">":
            for _ in range(int(rest)):
                self._value()
            return _PUSH
        raise redis_errors.InvalidResponse(f"unexpected reply type {kind!r} from Redis")


_PUSH = object()  # what _value() returns for a push message, which read() skips


class Lane:
    """Dedicated connections for the store's scripts and wake-up waits."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._idle: list[_Conn] = []
        self._closed = False
        _LANES.add(self)

    @property
    def pool(self) -> Any:
        """The redis-py connection pool whose settings the lane's connections copy."""
        return self._pool

    def execute(self, args: Sequence[bytes | str | int]) -> Any:
        """Send one command, return its parsed reply (error replies raise as in redis-py).

        Raises:
            LaneFailed: the connection failed before a reply was read; nothing is known
                of whether Redis ran the command.
        """
        replies: list[Any] = []
        self.execute_chain([args], replies.append)
        if isinstance(replies[0], redis_errors.ResponseError):
            raise replies[0]
        return replies[0]

    def execute_chain(
        self, commands: Sequence[Sequence[bytes | str | int]], first_done: Callable[[Any], None]
    ) -> list[Any]:
        """Send ``commands`` in one write and read their replies, in order.

        ``first_done`` gets the first reply as soon as it is read, before the others are
        awaited (they may block: a ``BLPOP``). Error replies are not raised but passed on
        (to ``first_done``, or in the returned list of the other replies) as the
        exceptions redis-py would raise, so that every reply is read and the connection
        stays usable.

        Raises:
            LaneFailed: the connection failed; the replies not yet read are unknown.
        """
        slot = self._take()
        conn = slot.conn
        try:
            if conn._sock is None:
                # connect() itself, not the send's implicit connect: a Sentinel-managed
                # connection asks the sentinels for the master address in connect()
                conn.connect()
            # no health-check PING: a dead connection fails the call, which redis-py's
            # path then sends on a fresh one (see LaneFailed)
            encoding = conn.encoder.encoding
            conn.send_packed_command([b"".join(resp_command(c, encoding) for c in commands)], False)
            first_done(slot.read_or_error())
            rest = [slot.read_or_error() for _ in commands[1:]]
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
            conn.disconnect()
            raise LaneFailed(str(exc)) from exc
        except BaseException:
            # interrupted mid-reply (KeyboardInterrupt, an injected timeout) or a reply
            # not understood (InvalidResponse): the rest of it may still arrive, so this
            # connection can never be trusted again
            conn.disconnect()
            raise
        self._put_back(slot)
        return rest

    def _take(self) -> _Conn:
        try:
            return self._idle.pop()
        except IndexError:
            return _Conn(self._pool.connection_class(**self._pool.connection_kwargs))

    def _put_back(self, slot: _Conn) -> None:
        if self._closed or len(self._idle) >= _MAX_IDLE or not slot.clean:
            slot.conn.disconnect()
        else:
            self._idle.append(slot)

    def close(self) -> None:
        """Close the idle connections; ones in use are closed when their call returns."""
        self._closed = True
        while self._idle:
            self._idle.pop().conn.disconnect()

    def __del__(self) -> None:
        # a store dropped without close(): close its sockets rather than leave them to the
        # garbage collector (redis-py's pool does the same for its own connections)
        for slot in self._idle:
            # no module globals here (they may be gone at interpreter exit), so no suppress()
            try:  # noqa: SIM105
                slot.conn.disconnect()
            except Exception:
                pass

    def _forget(self) -> None:
        # in a forked child: these sockets are the parent's; drop them unclosed
        # (redis-py's disconnect only closes our copy of the descriptor in a child)
        self._idle = []


def lane_for(client: Any, pool_types: tuple[type, ...]) -> Lane | None:
    """A lane for ``client`` if it is a plain ``redis.Redis`` on one of ``pool_types``.

    Cluster clients (the store finds the node itself, see _redis_calls), blocking pools
    (their connection limit is the pool's business), client-side caching and
    single-connection clients keep redis-py's path: None. A Sentinel-managed master
    client qualifies when its pool is listed: each new lane connection asks the sentinels
    for the master, as redis-py's do.
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
