"""Real Redis Cluster nodes for the cluster tests (a helper module, not collected), and
helpers for any test that switches masters under running jobs.

``start_cluster`` starts ``masters * (1 + replicas)`` cluster-enabled redis-server
processes on free loopback ports and joins them with ``redis-cli --cluster create``; the
returned :class:`Cluster` knows which node serves which slot, promotes and kills nodes,
and stops them all.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import redis

from threadjobs import JobStatus

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


@dataclass
class Cluster:
    """The node processes of one test cluster, by port."""

    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """A URL of the first node started (a master at the start)."""
        return f"redis://127.0.0.1:{next(iter(self.procs))}"

    def master_of(self, key: str) -> int:
        """The port of the master serving ``key``'s slot now, as the cluster says."""
        with redis.Redis(port=self._alive()) as client:
            slot = int(client.execute_command("CLUSTER KEYSLOT", key))
            for start, end, master, *_ in client.execute_command("CLUSTER SLOTS"):
                if start <= slot <= end:
                    return int(master[1])
        raise AssertionError(f"no node serves slot {slot}")

    def masters(self) -> list[int]:
        """The ports of the nodes that are masters now."""
        return [port for port in self.procs if self.role(port) == "master"]

    def replica_of(self, master: int) -> int:
        """The port of a replica of the master on port ``master``."""
        with redis.Redis(port=master) as client:
            info = client.info("replication")
        return int(info["slave0"]["port"])

    def role(self, port: int) -> str:
        with redis.Redis(port=port) as client:
            return str(client.info("replication")["role"])

    def move_slot(self, slot: int, source: int, target: int, batch: int = 10) -> int:
        """Move ``slot`` and its keys from the master on ``source`` to the one on
        ``target``, as ``redis-cli --cluster reshard`` does, ``batch`` keys per
        ``MIGRATE`` (small batches: clients meet the slot half moved for longer).
        Returns how many keys moved."""
        # Any: redis-py leaves execute_command untyped
        src: Any = redis.Redis(port=source)
        dst: Any = redis.Redis(port=target)
        try:
            src_id, dst_id = _node_id(src), _node_id(dst)
            dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
            src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
            moved = 0
            while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, batch):
                src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
                moved += len(keys)
            for port in self.procs:
                with redis.Redis(port=port) as client:
                    if client.info("replication")["role"] == "master":
                        client.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
            return moved
        finally:
            src.close()
            dst.close()

    def kill(self, port: int) -> None:
        """SIGKILL one node: no goodbye to its clients or its peers."""
        proc = self.procs.pop(port)
        proc.kill()
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            proc.wait(timeout=10)
        self.procs.clear()

    def _alive(self) -> int:
        return next(port for port, proc in self.procs.items() if proc.poll() is None)


def start_cluster(
    binary: str,
    workdir: Callable[[str], Path],
    free_port: Callable[[], int],
    masters: int = 3,
    replicas: int = 0,
    node_timeout_ms: int = 15000,
) -> Cluster:
    """Start and join a cluster; ``workdir(name)`` gives each node a directory."""
    ports: list[int] = []
    while len(ports) < masters * (1 + replicas):
        port = free_port()
        if port < 55000 and port not in ports:  # the cluster bus listens on port + 10000
            ports.append(port)
    cluster = Cluster()
    try:
        for port in ports:
            cluster.procs[port] = subprocess.Popen(
                [
                    binary, "--port", str(port), "--bind", "127.0.0.1",
                    "--dir", str(workdir(f"node{port}")),
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(node_timeout_ms),
                    # a replica may take over whatever its last contact with the master
                    "--cluster-replica-validity-factor", "0",
                    "--repl-diskless-sync-delay", "0",  # replicas sync at once
                    "--save", "", "--appendonly", "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        for port in ports:
            wait_until(partial(_ping, port), "the node to start")
        subprocess.run(
            [
                REDIS_CLI, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas", str(replicas), "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )  # fmt: skip
        for port in ports:
            wait_until(partial(cluster_ok, port), "the cluster to come up")
        if replicas:
            for port in ports:
                wait_until(partial(_synced, port), "the replicas to sync")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def replicated(master: int, replica: int) -> bool:
    """Whether the replica on ``replica`` has everything the master on ``master`` has
    written so far (any replication, Cluster or Sentinel)."""
    with redis.Redis(port=master) as client:
        written = int(client.info("replication")["master_repl_offset"])
    with redis.Redis(port=replica) as client:
        return int(client.info("replication")["slave_repl_offset"]) >= written


def completed(store: Any) -> int:
    """Jobs completed in ``store``, or -1 while it cannot be asked (a switch of masters)."""
    try:
        return int(store.counts()[JobStatus.COMPLETED])
    except Exception:
        return -1


def cluster_ok(port: int) -> bool:
    """Whether the node on ``port`` says every slot is served."""
    with redis.Redis(port=port) as client:
        info = client.execute_command("CLUSTER INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text or "'cluster_state': 'ok'" in text


def wait_until(ready: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    """Poll a condition of foreign processes (nodes starting, electing, syncing)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except redis.RedisError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _node_id(client: Any) -> str:
    node_id = client.execute_command("CLUSTER MYID")
    return node_id.decode() if isinstance(node_id, bytes) else str(node_id)


def _ping(port: int) -> bool:
    with redis.Redis(port=port) as client:
        return bool(client.ping())


def _synced(port: int) -> bool:
    with redis.Redis(port=port) as client:
        info = client.info("replication")
    return bool(info["role"] == "master" or info.get("master_link_status") == "up")
