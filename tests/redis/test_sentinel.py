"""Redis Sentinel: a master, a replica and a sentinel started by the test; the master is
replaced mid-run (a ``SENTINEL FAILOVER``, then a ``SIGKILL``) while jobs run.

With a Sentinel client (``Sentinel(...).master_for(name)``) the store's own connections
(the lane) ask the sentinel for the master whenever they connect, as redis-py's do; the
store must ride the switch (``READONLY`` from the demoted master, refused connections
from a dead one) and every job must end completed exactly once in the store.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from pydantic import BaseModel
from redis.sentinel import Sentinel

from threadjobs import Handler, JobContext, JobEvent, JobManager, JobStatus
from threadjobs.stores import RedisJobStore
from threadjobs.testing import CHECKS, iter_checks, new_job

from .cluster_nodes import completed, replicated, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.slow]

SERVICE = "jobs"
JOBS = 2000


class Group:
    """A master, its replica and one sentinel watching them, as processes."""

    def __init__(self, binary: str, workdir: Path, free_port: Callable[[], int]) -> None:
        self.binary, self.workdir = binary, workdir
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(free_port())
        self.master, self.replica, self.sentinel = sorted(ports)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self._server(self.master, "--repl-diskless-sync-delay", "0")  # sync at once
        self._server(self.replica, "--replicaof", "127.0.0.1", str(self.master))
        # the sentinel finds replicas in the master's INFO, asked every 10 s: start it once
        # the replica is attached, so that its first look finds it
        wait_until(lambda: self._synced(), "the replica to sync")
        conf = self.workdir / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"logfile {self.workdir / 'sentinel.log'}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.master} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 5000\n"
        )
        self.procs[self.sentinel] = subprocess.Popen(
            [self.binary, str(conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: self.current_master() == self.master, "the sentinel to watch")
            wait_until(lambda: self._sentinel_knows_replica(), "the sentinel to find the replica")
        except AssertionError as exc:
            log = self.workdir / "sentinel.log"
            tail = log.read_text()[-2000:] if log.exists() else "(no log)"
            raise AssertionError(f"{exc}; sentinel log:\n{tail}") from exc

    def _server(self, port: int, *extra: str) -> None:
        workdir = self.workdir / f"node{port}"
        workdir.mkdir()
        self.procs[port] = subprocess.Popen(
            [
                self.binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
                "--save", "", "--appendonly", "no", *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def _synced(self) -> bool:
        with redis.Redis(port=self.replica) as client:
            return bool(client.info("replication").get("master_link_status") == "up")

    def _sentinel_knows_replica(self) -> bool:
        with redis.Redis(port=self.sentinel) as client:
            return bool(client.sentinel_slaves(SERVICE))

    def current_master(self) -> int:
        with redis.Redis(port=self.sentinel) as client:
            return int(client.sentinel_get_master_addr_by_name(SERVICE)[1])

    def client(self) -> Any:
        sentinel = Sentinel([("127.0.0.1", self.sentinel)], socket_timeout=2.0)
        return sentinel.master_for(SERVICE, socket_timeout=5.0, socket_connect_timeout=2.0)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            proc.wait(timeout=10)


@pytest.fixture
def group(tmp_path: Path, redis_binary: str, port_factory: Callable[[], int]) -> Iterator[Group]:
    nodes = Group(redis_binary, tmp_path, port_factory)
    try:
        yield nodes
    finally:
        nodes.stop()


@pytest.mark.parametrize("name", sorted(check.__name__ for check in CHECKS))
def test_conformance_through_sentinel(name: str, group: Group) -> None:
    def make(retention: Any) -> RedisJobStore:
        return RedisJobStore(group.client(), queue=f"s{uuid.uuid4().hex[:10]}", retention=retention)

    dict(iter_checks(make))[name]()


class Item(BaseModel):
    n: int


def run_through_switch(group: Group, switch: Callable[[], None]) -> tuple[Counter[str], int]:
    """2,000 jobs on two managers; ``switch`` replaces the master once a quarter is done.
    Returns the accepted completions per job and how many had completed at the switch."""
    queue = f"s{uuid.uuid4().hex[:10]}"
    lock = threading.Lock()
    completions: Counter[str] = Counter()
    quarter = threading.Event()

    class Count(Handler[Item]):
        job_type = "count"

        def run(self, ctx: JobContext, params: Item) -> int:
            return params.n

    def listen(event: JobEvent) -> None:
        with lock:
            completions[event.job.id] += 1
            if len(completions) >= JOBS // 4:
                quarter.set()

    sentinels = [("127.0.0.1", group.sentinel)]
    stores = [RedisJobStore.from_sentinel(sentinels, SERVICE, queue=queue) for _ in range(3)]
    assert all(store._calls.lane is not None for store in stores)  # the store's own path
    producer = JobManager(store=stores[0], max_workers=0)
    producer.register(Count())
    ids = producer.submit_many("count", [{"n": i} for i in range(JOBS)])
    wait_until(lambda: replicated(group.master, group.replica), "the replica to catch up")
    managers = []
    for store in stores[1:]:
        manager = JobManager(
            store=store, max_workers=4, lease=10.0, poll_interval=0.5, maintenance_interval=0.25
        )
        manager.register(Count())
        manager.add_listener(listen, statuses=[JobStatus.COMPLETED])
        managers.append(manager)
    try:
        assert quarter.wait(60), "a quarter of the jobs did not complete"
        switch()
        with lock:
            at_switch = len(completions)
        wait_until(lambda: group.current_master() == group.replica, "the new master")
        wait_until(lambda: completed(stores[0]) == JOBS, "every job to complete", 120)
        counts = stores[0].counts()
        assert counts[JobStatus.COMPLETED] == JOBS and sum(counts.values()) == JOBS
        assert set(completions) == set(ids)
    finally:
        for manager in managers:
            manager.shutdown()
        producer.shutdown()
        for store in stores:
            store.close()
    return completions, at_switch


def test_a_sentinel_failover_mid_run_loses_and_repeats_nothing(group: Group) -> None:
    def failover() -> None:
        with redis.Redis(port=group.sentinel) as client:
            client.execute_command("SENTINEL FAILOVER", SERVICE)

    completions, at_switch = run_through_switch(group, failover)
    assert at_switch < JOBS, "every job was done before the switch: nothing was tested"
    assert max(completions.values()) == 1


def test_a_killed_master_is_replaced_by_sentinel_and_every_job_ends(group: Group) -> None:
    def kill() -> None:
        proc = group.procs.pop(group.master)
        proc.kill()
        proc.wait(timeout=10)

    completions, at_switch = run_through_switch(group, kill)
    assert at_switch < JOBS, "every job was done before the switch: nothing was tested"
    # writes the dead master had not yet replicated are lost with it (at-least-once)
    assert sum(1 for n in completions.values() if n > 1) <= 50


def test_from_sentinel_connects_with_threadjobs_defaults(group: Group) -> None:
    store = RedisJobStore.from_sentinel(
        [("127.0.0.1", group.sentinel)], SERVICE, queue=f"s{uuid.uuid4().hex[:10]}"
    )
    lane = store._calls.lane
    assert lane is not None and lane.pool.connection_kwargs["socket_timeout"] == 5.0
    store.create(new_job())
    [rec] = store.claim("w", 1, 30)
    assert rec.attempts == 1
    store.close()


def test_the_command_line_reaches_the_master_through_a_sentinel_url(group: Group) -> None:
    queue = f"s{uuid.uuid4().hex[:10]}"
    store = RedisJobStore.from_sentinel([("127.0.0.1", group.sentinel)], SERVICE, queue=queue)
    store.create_many([new_job() for _ in range(3)])
    url = f"redis+sentinel://127.0.0.1:{group.sentinel}/{SERVICE}/0"
    out = subprocess.run(
        [sys.executable, "-m", "threadjobs.cli", "stats", "--json", "--store", url,
         "--queue", queue],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout)["by_status"]["queued"] == 3
    store.close()
