"""The router behind a real uvicorn server on loopback, spoken to with httpx."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from threadjobs import JobManager

from .conftest import make_app
from .handlers import EchoHandler

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")


@pytest.fixture
def server_url(make_manager: Callable[..., JobManager]) -> Iterator[str]:
    """Serve the app on a free loopback port from a thread; stop it after the test."""
    app = make_app(make_manager(EchoHandler(), max_workers=1))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped before it started"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        thread.join(0.01)  # waiting for another thread's startup flag
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_submit_and_follow_a_job_over_real_http(server_url: str) -> None:
    headers = {"X-Account": "42"}
    with httpx.Client(base_url=server_url, headers=headers, timeout=10) as client:
        created = client.post("/jobs", json={"job_type": "echo", "params": {"text": "hey"}})
        assert created.status_code == 201
        location = created.headers["Location"]

        job: dict[str, Any] = {}
        deadline = time.monotonic() + 10
        while job.get("status") != "completed":
            assert time.monotonic() < deadline, f"job did not complete: {job}"
            job = client.get(location).json()

        assert location.startswith(server_url)
        assert job["result"] == "hey"
        assert client.get("/jobs/stats").json()["by_status"]["completed"] == 1
        assert client.get(location, headers={"X-Account": "43"}).status_code == 404
