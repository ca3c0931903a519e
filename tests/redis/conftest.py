"""Fixtures for the Redis store tests.

``redis_server`` starts a real ``redis-server`` on a free loopback port in a temporary
directory, once per test session. Without the binary the real-Redis tests are skipped
with a message, except under CI (``CI`` set), where a missing server is a failure.
``store`` runs each test on fakeredis and on the real server, each test on its own queue.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

redis = pytest.importorskip("redis")
fakeredis = pytest.importorskip("fakeredis")
pytest.importorskip("lupa", reason="fakeredis needs lupa to run Lua scripts")

from threadjobs._store import Retention  # noqa: E402
from threadjobs.stores._redis import RedisJobStore  # noqa: E402

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server process the tests own; can be stopped and started again on its port."""

    def __init__(self, workdir: Path, *extra: str) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.workdir),
                "--save",
                "",
                "--appendonly",
                "no",
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    break
            except redis.exceptions.RedisError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)  # polling for a foreign process to come up
        client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="session")
def redis_binary() -> str:
    """The redis-server path (skips or fails like every real-Redis test when missing)."""
    _require_binary()
    return REDIS_SERVER


@pytest.fixture(scope="session")
def port_factory() -> Callable[[], int]:
    """free_port, for tests that start their own servers."""
    return free_port


@pytest.fixture
def unused_port() -> int:
    """A loopback port with nothing listening."""
    return free_port()


def _require_binary() -> None:
    if not os.path.exists(REDIS_SERVER):
        if os.environ.get("CI"):
            pytest.fail("redis-server is required under CI but was not found")
        pytest.skip("redis-server not installed; real-Redis tests skipped (install redis-server)")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the whole session."""
    _require_binary()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """A factory of private redis-servers (for tests that kill or restart Redis)."""
    _require_binary()
    servers: list[RedisServer] = []

    def make(*extra: str) -> RedisServer:
        server = RedisServer(tmp_path, *extra)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(params=["fakeredis", "redis", "redis-eval"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which Redis a test runs on; ``redis-eval``: the real server, with the store's Lua
    sent as EVALSHA scripts instead of the function library (Redis 6.2, Cluster...)."""
    return str(request.param)


@pytest.fixture
def make_store(
    backend: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., RedisJobStore]]:
    """Build RedisJobStores on one fresh queue of the chosen backend."""
    queue = f"t{uuid.uuid4().hex[:12]}"
    stores: list[RedisJobStore] = []
    if backend == "fakeredis":
        server = fakeredis.FakeServer()

        def client() -> Any:
            return fakeredis.FakeRedis(server=server)

        def make(**kwargs: Any) -> RedisJobStore:
            store = RedisJobStore(client(), queue=queue, **kwargs)
            stores.append(store)
            return store
    else:
        real: RedisServer = request.getfixturevalue("redis_server")

        def make(**kwargs: Any) -> RedisJobStore:
            store = RedisJobStore.from_url(real.url, queue=queue, **kwargs)
            if backend == "redis-eval":
                store._calls.functions = False
            stores.append(store)
            return store

    yield make
    for store in stores:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., RedisJobStore]) -> RedisJobStore:
    """A RedisJobStore on a fresh queue (fakeredis or real Redis)."""
    return make_store()


@pytest.fixture
def short_retention() -> Retention:
    """Retention short enough to watch purge() work."""
    return Retention(completed=0.05, failed=0.05, cancelled=0.05)
