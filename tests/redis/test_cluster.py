"""The contract suite on a real 3-master Redis Cluster started by the test.

Every key of a queue carries the hash tag ``{queue}``, so one queue lives in one slot;
this proves the scripts, pipelines and blocking wake-ups work through redis-py's
``RedisCluster`` client, with the queue on whichever master owns its slot.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from threadjobs._store import Retention
from threadjobs.stores._redis import RedisJobStore
from threadjobs.testing import CHECKS, iter_checks

pytestmark = [pytest.mark.redis, pytest.mark.slow]

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


@pytest.fixture(scope="module")
def cluster_url(
    tmp_path_factory: pytest.TempPathFactory,
    redis_binary: str,
    port_factory: Callable[[], int],
) -> Iterator[str]:
    """Three cluster-enabled masters, joined with redis-cli; yields a URL of one of them."""
    ports: list[int] = []
    while len(ports) < 3:
        port = port_factory()
        if port < 55000:  # the cluster bus listens on port + 10000
            ports.append(port)
    procs = []
    for port in ports:
        workdir: Path = tmp_path_factory.mktemp(f"cluster{port}")
        procs.append(
            subprocess.Popen(
                [
                    redis_binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(workdir),
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        for port in ports:
            _wait(lambda p=port: _ping(p))
        subprocess.run(
            [
                REDIS_CLI,
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
        for port in ports:
            _wait(lambda p=port: _cluster_ok(p))
        yield f"redis://127.0.0.1:{ports[0]}"
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


def _ping(port: int) -> bool:
    with redis.Redis(port=port) as client:
        return bool(client.ping())


def _cluster_ok(port: int) -> bool:
    with redis.Redis(port=port) as client:
        info = client.execute_command("CLUSTER INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text or "'cluster_state': 'ok'" in text


def _wait(ready: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():  # type: ignore[operator]
                return
        except redis.RedisError:
            pass
        assert time.monotonic() < deadline, "the cluster did not come up"
        time.sleep(0.05)  # polling foreign processes coming up


def cluster_store(url: str, retention: Retention | None = None) -> RedisJobStore:
    return RedisJobStore.from_url(
        url, cluster=True, queue=f"q{uuid.uuid4().hex[:10]}", retention=retention
    )


@pytest.mark.parametrize("name", sorted(check.__name__ for check in CHECKS))
def test_conformance_on_cluster(name: str, cluster_url: str) -> None:
    dict(iter_checks(lambda retention: cluster_store(cluster_url, retention)))[name]()


def test_queues_spread_over_masters_and_bulk_create_works(cluster_url: str) -> None:
    from threadjobs.testing import new_job

    slots = set()
    for _ in range(6):
        store = cluster_store(cluster_url)
        slots.add(key_slot(store.keys.wake.encode()))
        out = store.create_many([new_job() for _ in range(1100)])  # three pipelined calls
        assert all(created for _, created in out)
        assert len(store.claim("w", 1100, 30)) == 1100
        assert store.claim("w", 1, 30, wait=0.01) == []  # BLPOP through the cluster client
        store.close()
    assert len(slots) == 6
    client = RedisCluster.from_url(cluster_url)
    assert len(client.get_primaries()) == 3  # type: ignore[no-untyped-call, unused-ignore]
    client.close()


def test_the_lane_reaches_the_node_that_holds_the_queue(cluster_url: str) -> None:
    """On Cluster too, status changes go on the store's own connections, as FCALLs of
    the library loaded on the queue's node, and a job thread's finish, wait and claim
    go in one write."""
    from threadjobs._models import JobStatus
    from threadjobs._store import Finish
    from threadjobs.testing import new_job

    store = cluster_store(cluster_url)
    lane = store._calls.lane
    assert lane is not None
    jobs = [new_job() for _ in range(2)]
    store.create_many(jobs)
    [rec] = store.claim("w", 1, 30)
    assert store._calls.functions is True
    node = store._client.get_node_from_key(store.keys.ready)
    assert lane._pool is node.redis_connection.connection_pool
    store._backlog = False  # as if the queue had run dry: the chained finish
    done, [nxt] = store.finish_and_claim(rec.id, 1, Finish(JobStatus.COMPLETED), "w", 1, 30, 2.0)
    assert done is not None and nxt.id == jobs[1].id
    store.close()


def test_a_lane_to_the_wrong_node_falls_back_and_finds_the_right_one(cluster_url: str) -> None:
    """After a slot moves (resharding, failover) the node the lane knows answers MOVED:
    the call goes through the cluster client, and the next finds the node again."""
    from threadjobs._models import JobStatus
    from threadjobs.stores._redis_lane import lane_for
    from threadjobs.testing import new_job

    store = cluster_store(cluster_url)
    right = store._client.get_node_from_key(store.keys.ready)
    wrong = next(n for n in store._client.get_primaries() if n.name != right.name)
    store._calls._lane = lane_for(wrong.redis_connection, (redis.ConnectionPool,))
    assert store._calls._lane is not None
    job = new_job()
    store.create(job)  # MOVED on the wrong node: through the cluster client
    assert store._calls._lane is None  # forgotten
    assert store.get(job.id) is not None
    [rec] = store.claim("w", 1, 30)  # the lane is found again, on the right node
    lane = store._calls.lane
    assert lane is not None and lane._pool is right.redis_connection.connection_pool
    assert rec.id == job.id and store.counts()[JobStatus.RUNNING] == 1
    store.close()
