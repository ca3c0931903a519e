"""Fixtures of the interface tests: an HTTP app around a JobManager, a real Redis, the CLI.

``redis_url`` reuses the redis helper's ``RedisServer`` (tests/redis/conftest.py),
imported lazily so the HTTP and CLI tests run where redis-py is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from threadjobs import JobManager

ROOT = Path(__file__).resolve().parents[2]


def make_app(manager: JobManager, **router_options: Any) -> Any:
    """A FastAPI app whose callers name their account in the ``X-Account`` header."""
    from fastapi import FastAPI, Header, HTTPException

    from threadjobs.ext.fastapi import job_router

    def current_account(x_account: int | None = Header(None)) -> int:
        if x_account is None:
            raise HTTPException(401, "send an X-Account header")
        return x_account

    router_options.setdefault("responses", {401: {"description": "No X-Account header."}})
    app = FastAPI()
    app.include_router(job_router(manager, current_account, **router_options))
    return app


def import_test_client() -> Any:
    """starlette's TestClient, without its deprecation warning about ``httpx``.

    Starlette 1.x wants the ``httpx2`` package for its TestClient and warns (an error
    under ``filterwarnings = error``) when only ``httpx`` is there; both work.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient
    return TestClient


@pytest.fixture
def client_for() -> Iterator[Callable[..., Any]]:
    """Build TestClients for apps around managers; closes them after the test."""
    pytest.importorskip("fastapi")
    TestClient = import_test_client()

    clients: list[Any] = []

    def build(manager: JobManager, **router_options: Any) -> Any:
        client = TestClient(make_app(manager, **router_options))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real redis-server of this session (skips without the binary)."""
    pytest.importorskip("redis")
    from tests.redis.conftest import RedisServer, _require_binary

    _require_binary()
    server = RedisServer(tmp_path_factory.mktemp("redis-cli"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def queue() -> str:
    """A queue name no other test uses."""
    return f"cli{uuid.uuid4().hex[:10]}"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for CLI subprocesses: the repo root importable, no inherited store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("THREADJOBS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_cli(
    *args: str, timeout: float = 60, env_store: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m threadjobs.cli ARGS`` to completion (``THREADJOBS_STORE=env_store``)."""
    env = {"THREADJOBS_STORE": env_store} if env_store is not None else {}
    return subprocess.run(
        [sys.executable, "-m", "threadjobs.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(**env),
        cwd=ROOT,
    )


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        pause.wait(0.02)  # polling another process: nothing to be notified by


class WorkerProcess:
    """A ``threadjobs worker ARGS`` subprocess whose log goes to a file.

    Starting returns once the log shows ``ready`` (the worker prints its job types when
    it runs); a worker that exits first fails the test with its log.
    """

    def __init__(self, args: list[str], log: Path, *, ready: str, cwd: Path = ROOT) -> None:
        self.log = log
        with log.open("w") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "threadjobs.cli", "worker", *args],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=cli_env(),
                cwd=cwd,
            )
        wait_until(lambda: ready in self.text() or self.proc.poll() is not None, "the worker")
        assert self.proc.poll() is None, self.text()

    def text(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
