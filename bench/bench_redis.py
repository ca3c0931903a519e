"""Benchmark: threadjobs on Redis beside Huey's thread consumer, on one local redis-server.

Not a test. Run from an environment with the bench-only extra (``pip install huey``):

    python bench/bench_redis.py [--jobs 10000] [--workers 4] [--repeat 3] [--skip-huey]

It starts its own redis-server (``--save '' --appendonly no``) on a free loopback port,
so nothing else on the machine is touched, and prints one table. Measured:

* enqueue rate: single submits, one after another, from one thread;
* bulk enqueue rate: one ``submit_many`` call (Huey has no bulk enqueue);
* drain rate: the N queued jobs run by workers started afterwards (a backlog);
* end to end: N no-op jobs submitted one by one while the workers run, until the last
  has finished (the full lifecycle recorded: queued, running, completed, counters);
* enqueue-to-start latency p50/p99, from the submit call to the handler starting;
* Redis commands per job (INFO commandstats; commands run inside Lua scripts count too),
  and script calls and ``BLPOP`` per job (a job thread writes a finish, a ``BLPOP`` and a
  claim together: three calls, one round trip);
* idle Redis commands per second of one process with workers and nothing to do, from
  2 s after the last job (threads that just ran jobs wait up to ``poll_interval`` = 1 s
  in Redis before they fall back to the idle rota);
* CPU per job in the end-to-end phase, user and system apart, of this process (both
  libraries run their workers in it) and of the redis-server.

Where the processes run decides the result (docs/benchmarks-redis.md): on two free cores
every round trip crosses cores, which costs ~45 us each way on the bench VM; pinned to one
core (``taskset -c 0 python bench/bench_redis.py``: redis-server inherits it) a round trip
is cheap and the end-to-end rate is one over the total CPU per job.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis
from pydantic import BaseModel

from threadjobs import Handler, JobContext, JobManager, JobStatus
from threadjobs.stores import RedisJobStore


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
         "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)  # waiting for the server process to listen
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def commandstats(client: redis.Redis) -> dict[str, int]:
    """Calls per command since the last CONFIG RESETSTAT."""
    info = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()}


class CpuMeter:
    """CPU seconds, user and system, of this process and of the redis-server.

    Both libraries run their workers in this process, so its CPU time is the client's.
    The split matters: this machine's two speed regimes differ mostly in what system
    calls and thread switches cost (docs/benchmarks-redis.md), while user CPU moves less.
    """

    def __init__(self, admin: redis.Redis) -> None:
        self.admin = admin
        self.start = self.read()

    def read(self) -> tuple[float, float, float, float]:
        own = os.times()
        cpu = self.admin.info("cpu")
        return own.user, own.system, float(cpu["used_cpu_user"]), float(cpu["used_cpu_sys"])

    def per_job(self, out: dict[str, float], jobs: int) -> None:
        names = ("client user", "client sys", "redis user", "redis sys")
        for name, a, b in zip(names, self.start, self.read(), strict=True):
            out[f"{name} µs/job"] = (b - a) / jobs * 1e6


def end_to_end(
    out: dict[str, float],
    jobs: int,
    elapsed: float,
    latencies: list[float],
    admin: redis.Redis,
    cpu: CpuMeter,
) -> dict[str, int]:
    """Record the end-to-end figures both libraries report; return the command counts."""
    cpu.per_job(out, jobs)
    stats = commandstats(admin)
    out["end-to-end/s"] = jobs / elapsed
    out["start p50 ms"] = statistics.median(latencies) * 1000
    out["start p99 ms"] = pct(latencies, 0.99) * 1000
    out["redis cmds/job"] = sum(stats.values()) / jobs
    return stats


def idle_commands_per_second(admin: redis.Redis) -> float:
    """Commands Redis ran in 5 s of an idle process, after 2 s to settle (minus INFO)."""
    time.sleep(2.0)
    admin.config_resetstat()
    time.sleep(5.0)
    return sum(commandstats(admin).values()) / 5.0 - 1 / 5.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- threadjobs ------------------------------------------------------------------------


class Noop(BaseModel):
    sent: float = 0.0


def bench_threadjobs(url: str, jobs: int, workers: int) -> dict[str, float]:
    admin = redis.Redis.from_url(url)
    latencies: list[float] = []
    done = threading.Event()
    lock = threading.Lock()

    class NoopHandler(Handler[Noop]):
        job_type = "noop"

        def run(self, ctx: JobContext, params: Noop) -> None:
            started = time.time()
            with lock:
                latencies.append(started - params.sent)
                if len(latencies) == jobs:
                    done.set()

    out: dict[str, float] = {}

    # enqueue rate: a producer-only manager, nothing consumes
    producer = JobManager(store=RedisJobStore.from_url(url, queue="enq"), max_workers=0)
    producer.register(NoopHandler())
    t0 = time.perf_counter()
    for _ in range(jobs):
        producer.submit("noop", params={"sent": 0.0})
    out["enqueue/s"] = jobs / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    producer2 = JobManager(store=RedisJobStore.from_url(url, queue="bulk"), max_workers=0)
    producer2.register(NoopHandler())
    t0 = time.perf_counter()
    producer2.submit_many("noop", [{"sent": 0.0}] * jobs)
    out["bulk enqueue/s"] = jobs / (time.perf_counter() - t0)
    out["bulk / single enqueue"] = out["bulk enqueue/s"] / out["enqueue/s"]
    producer.shutdown()
    producer2.shutdown()

    # drain: workers started on the backlog the bulk submit left
    class Drain(Handler[Noop]):
        job_type = "noop"

        def run(self, ctx: JobContext, params: Noop) -> None:
            return None

    bulk_store = RedisJobStore.from_url(url, queue="bulk")
    drainer = JobManager(store=bulk_store, max_workers=workers)
    t0 = time.perf_counter()
    drainer.register(Drain())
    while bulk_store.counts()[JobStatus.COMPLETED] < jobs:
        time.sleep(0.002)
    out["drain/s"] = jobs / (time.perf_counter() - t0)
    drainer.shutdown()

    # end to end: workers running while jobs are submitted one by one
    store = RedisJobStore.from_url(url, queue="e2e")
    manager = JobManager(store=store, max_workers=workers)
    manager.register(NoopHandler())
    time.sleep(0.5)  # let the idle workers settle into their wait before measuring
    admin.config_resetstat()
    cpu = CpuMeter(admin)
    t0 = time.perf_counter()
    for _ in range(jobs):
        manager.submit("noop", params={"sent": time.time()})
    assert done.wait(300), "jobs did not finish"
    # the handler has started the last job; wait for its completion to be recorded
    while store.counts()[JobStatus.COMPLETED] < jobs:
        time.sleep(0.001)
    elapsed = time.perf_counter() - t0
    stats = end_to_end(out, jobs, elapsed, latencies, admin, cpu)
    # script or function calls (and any plain reads) per job, and the BLPOPs between them
    calls = stats.get("fcall", 0) + stats.get("evalsha", 0) + stats.get("hgetall", 0)
    out["script calls/job"] = calls / jobs
    out["blpop/job"] = stats.get("blpop", 0) / jobs

    # idle: the same manager, nothing to do
    out["idle cmds/s"] = idle_commands_per_second(admin)
    manager.shutdown()
    admin.close()
    return out


# -- huey -------------------------------------------------------------------------------


def bench_huey(url: str, jobs: int, workers: int) -> dict[str, float]:
    from huey import RedisHuey
    from huey.consumer import Consumer

    admin = redis.Redis.from_url(url)
    admin.flushdb()
    huey = RedisHuey("bench", url=url, results=False)
    latencies: list[float] = []
    done = threading.Event()
    lock = threading.Lock()

    @huey.task()
    def noop(sent: float) -> None:
        started = time.time()
        with lock:
            latencies.append(started - sent)
            if len(latencies) == jobs:
                done.set()

    out: dict[str, float] = {}
    t0 = time.perf_counter()
    for _ in range(jobs):
        noop(0.0)
    out["enqueue/s"] = jobs / (time.perf_counter() - t0)

    # drain: the consumer started on the backlog just enqueued
    consumer = Consumer(huey, workers=workers, worker_type="thread", periodic=False)
    consumer._set_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=consumer.run, daemon=True)
    t0 = time.perf_counter()
    thread.start()
    assert done.wait(300), "huey did not drain"
    out["drain/s"] = jobs / (time.perf_counter() - t0)
    latencies.clear()
    done.clear()
    time.sleep(0.5)
    admin.config_resetstat()
    cpu = CpuMeter(admin)
    t0 = time.perf_counter()
    for _ in range(jobs):
        noop(time.time())
    assert done.wait(300), "huey did not finish"
    elapsed = time.perf_counter() - t0
    end_to_end(out, jobs, elapsed, latencies, admin, cpu)
    out["idle cmds/s"] = idle_commands_per_second(admin)
    logging.getLogger("huey").setLevel(logging.CRITICAL)  # its threads outlive the server
    consumer.stop(graceful=False)
    admin.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--repeat", type=int, default=1, help="alternate the libraries this many times each"
    )
    parser.add_argument("--skip-huey", action="store_true")
    args = parser.parse_args()
    runs: list[tuple[str, Callable[[str, int, int], dict[str, float]]]] = [
        ("threadjobs", bench_threadjobs)
    ]
    if not args.skip_huey:
        runs.append(("huey", bench_huey))
    # the machine's speed drifts between runs (see docs/benchmarks-redis.md): alternate
    # the libraries and compare each threadjobs run with the Huey run right after it
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in runs}
    for _ in range(args.repeat):
        for name, bench in runs:
            with redis_server() as url:
                results[name].append(bench(url, args.jobs, args.workers))
    print(f"{args.jobs} no-op jobs, {args.workers} worker threads, one process, local Redis")
    names = list(results)
    if args.repeat > 1:
        print("medians of", args.repeat, "alternating runs; ratio: median of the paired ratios")
    metrics: list[str] = []
    for res in results.values():
        metrics += [m for m in res[0] if m not in metrics]
    paired = len(names) == 2
    print(f"| metric | {' | '.join(names)} |" + (" ratio | paired ratios |" if paired else ""))
    print("| --- |" + " --- |" * (len(names) + 2 * paired))
    for metric in metrics:
        cells = []
        for name in names:
            values = [run[metric] for run in results[name] if metric in run]
            cells.append(f"{statistics.median(values):,.2f}" if values else "—")
        line = f"| {metric} | {' | '.join(cells)} |"
        if paired:
            ratios = [
                a[metric] / b[metric]
                for a, b in zip(results[names[0]], results[names[1]], strict=True)
                if metric in a and metric in b and b[metric]
            ]
            if ratios:
                listed = ", ".join(f"{r:.2f}" for r in ratios)
                line += f" {statistics.median(ratios):.2f} | {listed} |"
            else:
                line += " — | — |"
        print(line)


if __name__ == "__main__":
    main()
