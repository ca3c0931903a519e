"""The store's fast path on a real redis-server: the lane and the function library.

The lane (stores/_redis_lane.py) sends script calls on connections of the store's own;
the function library (lua/threadjobs.lua, loaded with FUNCTION LOAD) spares Redis from
running the library's code on every call. What must hold: plain clients use both, other
clients neither; a broken connection, a flushed script cache or function library, a
killed connection or a user not allowed to load functions never surfaces as an error when
redis-py's own path would have succeeded; an interrupted call never leaves a half-read
reply on a connection that is used again.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from threadjobs import StoreUnavailable
from threadjobs._models import JobStatus
from threadjobs._store import Finish
from threadjobs.stores import _redis_scripts as scripts
from threadjobs.stores._redis import RedisJobStore
from threadjobs.stores._redis_lane import Lane, _Conn

from .conftest import RedisServer, redis
from .test_store import new_job


@pytest.fixture
def real_store(redis_server: RedisServer) -> Any:
    store = RedisJobStore.from_url(redis_server.url, queue=f"lane{uuid.uuid4().hex[:12]}")
    yield store
    store.close()


class _Callable:
    """A stand-in Script: callable, with the real script's sha."""

    def __init__(self, fn: Any, sha: str = "") -> None:
        self.fn = fn
        self.sha = sha

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def test_plain_clients_get_a_lane_others_do_not(redis_server: RedisServer) -> None:
    plain = RedisJobStore.from_url(redis_server.url, queue="a")
    assert isinstance(plain._calls.lane, Lane)
    single = RedisJobStore.from_url(redis_server.url, queue="a", single_connection_client=True)
    assert single._calls.lane is None
    blocking = RedisJobStore(
        redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(redis_server.url)),
        queue="a",
    )
    assert blocking._calls.lane is None
    for store in (plain, single, blocking):
        store.close()


def test_script_calls_skip_redis_py(real_store: RedisJobStore) -> None:
    def cycle() -> None:
        real_store.create(new_job())
        [rec] = real_store.claim("w", 1, 30)
        done, more = real_store.finish_and_claim(rec.id, 1, Finish(JobStatus.COMPLETED), "w", 1, 30)
        assert done is not None and done.status is JobStatus.COMPLETED and more == []

    cycle()  # the first call of each script loads it through redis-py (NOSCRIPT)
    calls: list[str] = []
    for name, script in list(real_store._calls.scripts.items()):
        real_store._calls.scripts[name] = _Callable(
            lambda *a, _n=name, **k: calls.append(_n), script.sha
        )
    cycle()
    assert calls == []  # nothing went through redis-py's Script objects


def test_a_flushed_script_cache_is_reloaded(
    real_store: RedisJobStore, redis_server: RedisServer
) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    real_store.create(new_job())
    admin.script_flush()
    real_store.create(new_job())  # NOSCRIPT on the lane: redis-py's path loads it
    assert len(real_store.claim("w", 5, 30)) == 2
    admin.close()


def test_killed_connections_are_replaced_without_an_error(
    real_store: RedisJobStore, redis_server: RedisServer
) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    real_store.create(new_job())
    assert (
        real_store._calls.lane is not None and real_store._calls.lane._idle
    )  # one idle connection
    admin.client_kill_filter(_type="normal", skipme=True)  # every connection but admin's
    created = [real_store.create(new_job()) for _ in range(3)]
    assert all(ok for _, ok in created)
    assert real_store.counts()[JobStatus.QUEUED] == 4
    admin.close()


def test_redis_down_is_store_unavailable(make_server: Any) -> None:
    server = make_server()
    store = RedisJobStore.from_url(server.url, queue="down", socket_connect_timeout=0.5)
    store.create(new_job())
    server.stop()
    with pytest.raises(StoreUnavailable):
        store.create(new_job())
    server.start()
    store.create(new_job())  # back (empty: no persistence): the lane connects again
    assert store.counts()[JobStatus.QUEUED] == 1
    store.close()


def test_an_interrupted_call_never_reuses_its_connection(
    real_store: RedisJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    lane = real_store._calls.lane
    assert lane is not None
    real_store.create(new_job())
    [slot] = lane._idle

    class Boom(BaseException):
        pass

    def interrupted(self: _Conn) -> Any:
        raise Boom  # as an injected timeout would, before the reply is read

    with monkeypatch.context() as patch:
        patch.setattr(_Conn, "read", interrupted)
        with pytest.raises(Boom):
            real_store.create(new_job())
    assert slot not in lane._idle and slot.conn._sock is None  # closed, not pooled
    real_store.create(new_job())
    assert real_store.counts()[JobStatus.QUEUED] == 3  # the interrupted create landed too


class FakeSocket:
    """Hands out a byte string in chunks of ``step`` bytes, as a socket may."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step = data, step

    def recv(self, size: int) -> bytes:
        chunk, self.data = self.data[: self.step], self.data[self.step :]
        return chunk


class FakeConnection:
    def __init__(self, data: bytes, step: int) -> None:
        self._sock = FakeSocket(data, step)


@pytest.mark.parametrize("step", [1, 3, 65536])
def test_the_reader_reads_every_reply_the_store_gets(step: int) -> None:
    data = (
        b"$5\r\nhello\r\n"
        b"$-1\r\n"
        b"*3\r\n:42\r\n$0\r\n\r\n*-1\r\n"
        b"+OK\r\n"
        b"_\r\n"
        b"*2\r\n$2\r\n\r\n\r\n$1\r\n\xff\r\n"  # binary-safe: CRLF inside a bulk string
        b",1.5\r\n#t\r\n(123456789012345678901234\r\n"
    )
    slot = _Conn(FakeConnection(data, step))
    replies = [slot.read() for _ in range(9)]
    assert replies == [
        b"hello",
        None,
        [42, b"", None],
        b"OK",
        None,
        [b"\r\n", b"\xff"],
        1.5,
        True,
        123456789012345678901234,
    ]
    assert slot.clean


def test_the_reader_raises_redis_py_error_classes() -> None:
    slot = _Conn(FakeConnection(b"-NOSCRIPT No matching script.\r\n-ERR boom\r\n", 4))
    with pytest.raises(redis.exceptions.NoScriptError):
        slot.read()
    with pytest.raises(redis.exceptions.ResponseError, match="boom"):
        slot.read()
    assert slot.clean


def test_the_reader_skips_push_messages_and_reads_maps() -> None:
    data = b">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n:7\r\n%1\r\n$1\r\nk\r\n~2\r\n:1\r\n:2\r\n"
    slot = _Conn(FakeConnection(data, 5))
    assert slot.read() == 7  # the push before it is not a reply
    assert slot.read() == {b"k": [1, 2]}
    assert slot.clean


def test_the_reader_refuses_what_it_does_not_know_and_a_closed_socket() -> None:
    with pytest.raises(redis.exceptions.InvalidResponse):
        _Conn(FakeConnection(b"?what\r\n", 100)).read()
    with pytest.raises(redis.exceptions.ConnectionError):
        _Conn(FakeConnection(b"$10\r\nshort", 100)).read()


def test_a_connection_with_unread_bytes_is_not_reused() -> None:
    slot = _Conn(FakeConnection(b":1\r\n:2\r\n", 100))
    assert slot.read() == 1
    assert not slot.clean


def test_threads_share_the_lane_without_mixing_replies(real_store: RedisJobStore) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(50):
                job = new_job()
                assert real_store.create(job) == (job.id, True)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert real_store.counts()[JobStatus.QUEUED] == 400
    assert real_store._calls.lane is not None and 1 <= len(real_store._calls.lane._idle) <= 8


def test_close_closes_idle_connections(redis_server: RedisServer) -> None:
    store = RedisJobStore.from_url(redis_server.url, queue="closing")
    store.create(new_job())
    lane = store._calls.lane
    assert lane is not None
    [slot] = lane._idle
    store.close()
    assert lane._idle == [] and slot.conn._sock is None


def test_status_changes_are_fcalls_of_the_loaded_library(
    real_store: RedisJobStore, redis_server: RedisServer
) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    real_store.create(new_job())
    admin.config_resetstat()
    [rec] = real_store.claim("w", 1, 30)
    real_store.finish(rec.id, 1, Finish(JobStatus.COMPLETED))
    stats = admin.info("commandstats")
    assert stats["cmdstat_fcall"]["calls"] == 2 and "cmdstat_evalsha" not in stats
    # each library is listed as a flat [b"library_name", name, ...] (RESP2)
    assert any(scripts.LIBRARY_NAME.encode() in lib for lib in admin.function_list())
    admin.close()


def test_a_flushed_library_is_loaded_again(
    real_store: RedisJobStore, redis_server: RedisServer
) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    real_store.create(new_job())
    admin.function_flush()
    real_store.create(new_job())  # "function not found": sent as a script, library reloaded
    real_store.create(new_job())
    assert len(real_store.claim("w", 5, 30)) == 3
    assert admin.function_list(), "the library was not loaded again"
    admin.close()


def test_a_library_loaded_by_another_process_is_used(redis_server: RedisServer) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    admin.function_flush()
    admin.function_load(scripts.FUNCTION_LIBRARY)  # as another process would
    store = RedisJobStore.from_url(redis_server.url, queue=f"x{uuid.uuid4().hex[:8]}")
    store.create(new_job())
    assert store._calls.functions is True
    store.close()
    admin.close()


def test_without_permission_to_load_functions_scripts_are_used(make_server: Any) -> None:
    server = make_server()
    admin = redis.Redis(port=server.port)
    admin.execute_command("ACL", "SETUSER", "nofn", "on", ">pw", "~*", "+@all", "-function")
    store = RedisJobStore.from_url(f"redis://nofn:pw@127.0.0.1:{server.port}/0", queue="nofn")
    store.create(new_job())
    [rec] = store.claim("w", 1, 30)
    assert store.finish(rec.id, 1, Finish(JobStatus.COMPLETED)) is not None
    assert store._calls.functions is False
    assert "cmdstat_evalsha" in admin.info("commandstats")
    store.close()
    admin.close()


@pytest.mark.parametrize("functions", [True, False])
def test_a_first_bulk_create_is_sent_once(
    functions: bool, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    admin.script_flush()
    admin.function_flush()
    store = RedisJobStore.from_url(redis_server.url, queue=f"b{uuid.uuid4().hex[:8]}")
    if not functions:
        store._calls.functions = False
    pipelined: list[int] = []
    real = store._calls._create_pipelined

    def spy(calls: Any) -> Any:
        pipelined.append(1)
        return real(calls)

    monkeypatch.setattr(store._calls, "_create_pipelined", spy)
    ids = store.create_many([new_job() for _ in range(600)])  # three chunks
    assert all(created for _, created in ids) and pipelined == []
    assert store.counts()[JobStatus.QUEUED] == 600
    store.close()
    admin.close()


def test_a_claim_whose_reply_is_lost_is_resent_without_stranding_jobs(
    real_store: RedisJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = [new_job() for _ in range(3)]
    real_store.create_many(jobs)
    real_store.claim("w", 1, 30)  # loads the library; takes jobs[0]
    real_read = _Conn.read
    lost: list[int] = []

    def lose_one_reply(self: _Conn) -> Any:
        if not lost:
            lost.append(1)
            real_read(self)  # Redis ran the claim; its reply never reaches the caller
            raise redis.exceptions.ConnectionError("connection reset")
        return real_read(self)

    monkeypatch.setattr(_Conn, "read", lose_one_reply)
    claimed = real_store.claim("w", 1, 30)
    assert lost == [1]
    assert [r.id for r in claimed] == [jobs[1].id], "the resend hands back what was taken"
    assert real_store.counts()[JobStatus.QUEUED] == 1  # jobs[2]: nothing stranded
