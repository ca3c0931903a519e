"""Real-Redis hardening: connections killed mid-run, a least-privilege ACL user.

Each test starts its own redis-server (``make_server``), so killing clients or adding
ACL users touches nothing else.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest
import redis
from pydantic import BaseModel

from threadjobs import Handler, JobContext, JobEvent, JobManager, JobStatus, StoreError
from threadjobs._store import Retention
from threadjobs.stores import RedisJobStore
from threadjobs.testing import CHECKS, iter_checks, new_job

pytestmark = [pytest.mark.redis, pytest.mark.slow]


class Empty(BaseModel):
    pass


def test_connections_killed_mid_run_lose_nothing(make_server: Any) -> None:
    """CLIENT KILL every 0.1 s during 3,000 jobs on two managers: each ends completed once."""
    server = make_server()
    queue = f"k{uuid.uuid4().hex[:10]}"
    total = 3000
    runs: Counter[str] = Counter()
    completions: Counter[str] = Counter()
    lock = threading.Lock()

    class Count(Handler[Empty]):
        job_type = "count"
        max_retries = 0

        def run(self, ctx: JobContext, params: Empty) -> None:
            with lock:
                runs[ctx.job_id] += 1

    def completed(event: JobEvent) -> None:
        with lock:
            completions[event.job.id] += 1

    managers = []
    for _ in range(2):
        manager = JobManager(
            store=RedisJobStore.from_url(server.url, queue=queue),
            max_workers=4,
            lease=2.0,
            maintenance_interval=0.25,
            poll_interval=0.5,
        )
        manager.register(Count())
        manager.add_listener(completed, statuses=[JobStatus.COMPLETED])
        managers.append(manager)

    admin = redis.Redis.from_url(server.url)
    stop = threading.Event()
    kills = [0]

    def chaos() -> None:
        while not stop.wait(0.1):  # the kill cadence, not synchronisation
            kills[0] += admin.client_kill_filter(_type="normal", skipme=True)

    chaos_thread = threading.Thread(target=chaos, daemon=True)
    chaos_thread.start()
    producer = RedisJobStore.from_url(server.url, queue=queue)
    jobs = [new_job(job_type="count", params={}) for _ in range(total)]
    for start in range(0, total, 100):
        batch = jobs[start : start + 100]
        for _ in range(50):
            try:  # a create resent with the same ids is applied once
                producer.create_many(batch)
                break
            except StoreError:
                time.sleep(0.05)  # backing off from a killed connection
        else:
            pytest.fail("could not submit through the chaos")
    deadline = time.monotonic() + 120
    while True:
        try:
            done = sum(producer.counts()[s] for s in JobStatus if s.is_terminal)
        except StoreError:
            done = 0
        if done == total:
            break
        assert time.monotonic() < deadline, f"only {done} of {total} jobs finished"
        time.sleep(0.1)  # waiting for the workers, observed through the store
    stop.set()
    chaos_thread.join()
    for manager in managers:
        manager.shutdown(timeout=5)

    print(f"kills={kills[0]} reruns={sum(runs.values()) - total}")
    assert kills[0] > 0
    counts = producer.counts()
    assert counts[JobStatus.COMPLETED] == total, counts
    for job in jobs:
        rec = producer.get(job.id)
        assert rec is not None and rec.status is JobStatus.COMPLETED
        assert completions[job.id] == 1, (job.id, completions[job.id])
        assert runs[job.id] >= 1
    # a claim whose reply was lost is re-run after its lease: rare, never recorded twice
    assert sum(runs.values()) - total <= total // 20
    client = producer._client
    for key in ("ready", "scheduled", "running"):
        assert client.zcard(f"{producer.keys.base}{key}") == 0
    producer.close()
    admin.close()


ACL_RULES = [
    "on",
    ">s3cret",
    "~threadjobs:*",
    "+@read",
    "+@write",
    "+@scripting",
    "+@list",
    "+@sortedset",
    "+@hash",
    "+@string",
    "+@keyspace",
    "+@connection",
    "-@dangerous",
    "+time",  # the scripts read the server clock; TIME is in no category besides @fast
]


@pytest.fixture(scope="module")
def acl_url(tmp_path_factory: pytest.TempPathFactory, redis_binary: str) -> Any:
    """A private redis-server with a least-privilege user; yields that user's URL."""
    from .conftest import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("acl"))
    server.start()
    admin = redis.Redis(port=server.port)
    admin.acl_setuser("jobs", reset=True)
    admin.execute_command("ACL", "SETUSER", "jobs", *ACL_RULES)  # type: ignore[no-untyped-call, unused-ignore]
    admin.close()
    yield f"redis://jobs:s3cret@127.0.0.1:{server.port}/0"
    server.stop()


def test_acl_rules_deny_what_they_should(acl_url: str) -> None:
    client = redis.Redis.from_url(acl_url)
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.set("other:key", 1)  # outside the prefix
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.config_get("maxmemory-policy")  # @dangerous
    with pytest.raises(redis.exceptions.NoPermissionError):
        client.keys("*")  # @dangerous
    client.close()


_ACL_CHECKS = sorted(check.__name__ for check in CHECKS)


@pytest.mark.parametrize("name", _ACL_CHECKS)
def test_conformance_as_a_least_privilege_acl_user(name: str, acl_url: str) -> None:
    def make(retention: Retention | None = None) -> RedisJobStore:
        return RedisJobStore.from_url(
            acl_url, queue=f"a{uuid.uuid4().hex[:10]}", retention=retention
        )

    dict(iter_checks(make))[name]()


def test_manager_runs_jobs_as_the_acl_user(acl_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The whole worker side (claim, wake-up, heartbeat, recover, purge) needs no more rights."""

    class Echo(Handler[Empty]):
        job_type = "echo"

        def run(self, ctx: JobContext, params: Empty) -> str:
            return ctx.job_id

    store = RedisJobStore.from_url(acl_url, queue=f"m{uuid.uuid4().hex[:10]}")
    manager = JobManager(store=store, max_workers=2, maintenance_interval=0.1)
    manager.register(Echo())
    ids = [manager.submit("echo") for _ in range(20)]
    deadline = time.monotonic() + 20
    while store.counts()[JobStatus.COMPLETED] < 20:
        assert time.monotonic() < deadline
        time.sleep(0.02)  # waiting for the workers, observed through the store
    store.purge()
    manager.shutdown(timeout=5)
    assert all(store.get(i).status is JobStatus.COMPLETED for i in ids)  # type: ignore[union-attr]
    # CONFIG GET is refused to this user: the maxmemory check stays silent
    assert not [r for r in caplog.records if "maxmemory" in r.getMessage()]


def test_a_job_running_far_past_its_lease_keeps_it(store: RedisJobStore) -> None:
    """Heartbeats keep a long job's lease on Redis too (see the scenario)."""
    from ..core.handlers import check_a_long_job_keeps_its_lease

    check_a_long_job_keeps_its_lease(store)


@pytest.mark.parametrize("functions", [True, False], ids=["fcall", "evalsha"])
def test_redis_out_of_memory_refuses_whole_calls_and_resumes(
    make_server: Any, functions: bool
) -> None:
    """With maxmemory reached (noeviction) a submit raises StoreUnavailable saying so and
    what to do; no job is half-written (Redis refuses a function up front, and a script
    at its first write); once memory is freed everything runs."""
    from threadjobs import StoreUnavailable

    server = make_server("--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
    store = RedisJobStore.from_url(server.url, queue=f"m{uuid.uuid4().hex[:10]}")
    if not functions:
        store._calls.functions = False  # the Lua as EVALSHA scripts (Redis 6.2, ...)
    created: list[str] = []
    refusal: StoreUnavailable | None = None
    while refusal is None and len(created) < 100_000:
        job = new_job(params={"pad": "x" * 500})
        try:
            store.create(job)
        except StoreUnavailable as exc:
            refusal = exc
        else:
            created.append(job.id)
    assert refusal is not None and "out of memory" in str(refusal)
    assert "maxmemory" in str(refusal) and "no job is half-written" in str(refusal)
    assert store.get(job.id) is None  # the refused job left nothing behind
    assert store.counts()[JobStatus.QUEUED] == len(created) > 100
    taken = []
    if functions:
        with pytest.raises(StoreUnavailable, match="out of memory"):
            store.claim("w", 1, 30)  # a function that may write is refused up front
    else:  # a script runs on once its first write (ZPOPMIN frees memory) went through
        taken = store.claim("w", 1, 30)
    with redis.Redis.from_url(server.url) as admin:
        admin.config_set("maxmemory", 0)
    claimed = taken + store.claim("w", len(created), 30)
    assert sorted(r.id for r in claimed) == sorted(created)
    store.close()
