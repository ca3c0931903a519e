"""The contract suite on a real 3-master Redis Cluster started by the test.

Every key of a queue carries the hash tag ``{queue}``, so one queue lives in one slot;
this proves the scripts, pipelines and blocking wake-ups work through redis-py's
``RedisCluster`` client, with the queue on whichever master owns its slot.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot

from threadjobs._store import Retention
from threadjobs.stores._redis import RedisJobStore
from threadjobs.testing import CHECKS, iter_checks, new_job

from .cluster_nodes import start_cluster

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster_url(
    tmp_path_factory: pytest.TempPathFactory,
    redis_binary: str,
    port_factory: Callable[[], int],
) -> Iterator[str]:
    """Three cluster-enabled masters, joined with redis-cli; yields a URL of one of them."""
    cluster = start_cluster(redis_binary, tmp_path_factory.mktemp, port_factory)
    try:
        yield cluster.url
    finally:
        cluster.stop()


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


def test_bulk_create_streams_to_the_queues_node_and_falls_back_when_it_moved(
    cluster_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bulk submit writes its CREATE calls straight to the node holding the queue; if
    that node answers MOVED (the lane knew the wrong one), the batch goes again through
    the cluster client's pipeline (CREATE is idempotent): every job once."""
    from threadjobs._models import JobStatus
    from threadjobs.stores._redis_lane import lane_for
    from threadjobs.testing import new_job

    store = cluster_store(cluster_url)
    pipelined: list[int] = []
    real = store._calls._create_pipelined

    def spy(calls: list[Any]) -> list[Any]:
        pipelined.append(len(calls))
        return real(calls)

    monkeypatch.setattr(store._calls, "_create_pipelined", spy)
    out = store.create_many([new_job() for _ in range(600)])  # three CREATE calls
    assert all(created for _, created in out) and pipelined == []
    right = store._client.get_node_from_key(store.keys.ready)
    wrong = next(n for n in store._client.get_primaries() if n.name != right.name)
    store._calls._lane = lane_for(wrong.redis_connection, (redis.ConnectionPool,))
    jobs = [new_job() for _ in range(600)]
    out = store.create_many(jobs)
    assert [job_id for job_id, _ in out] == [job.id for job in jobs]
    assert pipelined == [3] and store._calls._lane is None
    assert store.counts()[JobStatus.QUEUED] == 1200
    store.close()


def test_the_command_line_reaches_the_cluster_through_a_cluster_url(cluster_url: str) -> None:
    store = cluster_store(cluster_url)
    store.create_many([new_job() for _ in range(3)])
    url = cluster_url.replace("redis://", "redis+cluster://")
    out = subprocess.run(
        [sys.executable, "-m", "threadjobs.cli", "stats", "--json", "--store", url,
         "--queue", store.keys.queue],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout)["by_status"]["queued"] == 3
    store.close()
