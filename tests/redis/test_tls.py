"""``rediss://``: the store over TLS, on a real redis-server with a certificate of its own.

The test run makes a throwaway CA and a server certificate for 127.0.0.1 with the
``openssl`` command, starts ``redis-server`` with only a TLS port, and connects the way a
user would: a URL with the CA to verify against. Without ``openssl`` or a redis-server
built with TLS the tests skip (fail under CI, which installs both).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from threadjobs import Handler, JobContext, JobManager, JobStatus, StoreUnavailable
from threadjobs._store import Finish
from threadjobs.stores._redis import RedisJobStore
from threadjobs.testing import CHECKS, iter_checks

from .conftest import REDIS_SERVER, free_port, redis
from .test_store import new_job

pytestmark = [pytest.mark.redis]

OPENSSL = shutil.which("openssl")


def _require(what: str, ok: bool) -> None:
    if not ok:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is required under CI but was not found")
        pytest.skip(f"{what} not available; TLS tests skipped")


def _openssl(*args: str, cwd: Path) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(workdir: Path) -> None:
    """ca.crt, and server.crt / server.key for 127.0.0.1 signed by it."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=threadjobs test CA",
             cwd=workdir)  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
             "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=workdir)  # fmt: skip
    (workdir / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt",
             cwd=workdir)  # fmt: skip


@pytest.fixture(scope="module")
def tls_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server listening on TLS only; yields a verifying ``rediss://`` URL."""
    _require("openssl", OPENSSL is not None)
    _require("redis-server", os.path.exists(REDIS_SERVER))
    workdir = tmp_path_factory.mktemp("tls")
    make_certificates(workdir)
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
         "--tls-cert-file", "server.crt", "--tls-key-file", "server.key",
         "--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no",
         "--dir", str(workdir), "--save", "", "--appendonly", "no", "--logfile", "redis.log"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={workdir / 'ca.crt'}&ssl_cert_reqs=required"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                if client.ping():
                    break
            except redis.exceptions.RedisError:
                if proc.poll() is not None:
                    log = (workdir / "redis.log").read_text(errors="replace")
                    _require(f"a redis-server built with TLS ({log.strip()[-200:]})", False)
                assert time.monotonic() < deadline, "the TLS redis-server did not start"
                time.sleep(0.05)  # polling for a foreign process to come up
        client.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("check", sorted(c.__name__ for c in CHECKS))
def test_conformance_over_tls(check: str, tls_url: str) -> None:
    stores: list[RedisJobStore] = []

    def make(retention: Any) -> RedisJobStore:
        store = RedisJobStore.from_url(
            tls_url, queue=f"t{uuid.uuid4().hex[:10]}", retention=retention
        )
        stores.append(store)
        return store

    try:
        dict(iter_checks(make))[check]()
    finally:
        for store in stores:
            store.close()


def test_the_fast_path_runs_over_tls(tls_url: str) -> None:
    store = RedisJobStore.from_url(tls_url, queue=f"f{uuid.uuid4().hex[:10]}")
    assert store._calls.lane is not None
    store.create(new_job())
    [rec] = store.claim("w", 1, 30)
    assert store.finish(rec.id, 1, Finish(JobStatus.COMPLETED, result={"ok": 1})) is not None
    assert store._calls.functions is True  # FCALLs of the library, through TLS sockets
    store.close()


def test_a_certificate_that_does_not_verify_is_refused(tls_url: str, tmp_path: Path) -> None:
    make_certificates(tmp_path)  # another CA, which did not sign the server's certificate
    url = tls_url.split("?")[0] + f"?ssl_ca_certs={tmp_path / 'ca.crt'}&ssl_cert_reqs=required"
    store = RedisJobStore.from_url(url, queue="wrong-ca", socket_connect_timeout=1)
    with pytest.raises(StoreUnavailable, match="certificate verify failed"):
        store.create(new_job())
    store.close()


def test_a_manager_runs_jobs_over_tls(tls_url: str) -> None:
    from pydantic import BaseModel

    class Echo(BaseModel):
        n: int

    seen: list[int] = []

    class EchoHandler(Handler[Echo]):
        job_type = "echo"

        def run(self, ctx: JobContext, params: Echo) -> int:
            seen.append(params.n)
            return params.n * 2

    store = RedisJobStore.from_url(tls_url, queue=f"m{uuid.uuid4().hex[:10]}")
    with JobManager(store=store, max_workers=2) as manager:
        manager.register(EchoHandler())
        job_id = manager.submit("echo", params={"n": 21})
        job = manager.wait(job_id, timeout=10)
    store.close()
    assert (job.status, job.result, seen) == (JobStatus.COMPLETED, 42, [21])
