"""Core benchmarks on the in-memory store, side by side with a bare ThreadPoolExecutor.

    python bench/bench_core.py [--jobs 10000] [--repeat 3]

Prints, for one run on this machine:

* end-to-end rate of N no-op jobs with 4 workers (submit all, wait for all), beside the
  same callables on ``ThreadPoolExecutor(4)``, and the ratio;
* enqueue-to-start latency p50/p99 on an idle manager (one job at a time);
* the cost of ``ctx.progress`` called 100,000 times inside a handler doing small units of
  work, as a ratio to the same handler without progress calls.

Figures are medians of ``--repeat`` runs. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from pydantic import BaseModel

from threadjobs import Handler, JobContext, JobManager, JobStatus


class Empty(BaseModel):
    """No parameters."""


class NoOp(Handler[Empty]):
    job_type = "noop"

    def __init__(self, done: threading.Semaphore | None = None) -> None:
        self.done = done

    def run(self, ctx: JobContext, params: Empty) -> None:
        return None


class Stamp(Handler[Empty]):
    job_type = "stamp"

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.event = threading.Event()

    def run(self, ctx: JobContext, params: Empty) -> None:
        self.started[ctx.job_id] = time.perf_counter()
        self.event.set()


class WorkParams(BaseModel):
    units: int
    progress: bool


def unit_of_work() -> int:
    """About 10 µs of pure-Python work: roughly what validating one CSV row costs."""
    total = 0
    for i in range(250):
        total += i * i
    return total


class Worker(Handler[WorkParams]):
    job_type = "work"

    def run(self, ctx: JobContext, params: WorkParams) -> float:
        start = time.perf_counter()
        units = params.units
        if params.progress:
            for i in range(units):
                unit_of_work()
                ctx.progress(100 * i / units, "working", "rows")
        else:
            for _ in range(units):
                unit_of_work()
        return time.perf_counter() - start


def bare_executor(n: int) -> float:
    def noop() -> None:
        return None

    start = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        wait([pool.submit(noop) for _ in range(n)])
    return n / (time.perf_counter() - start)


def manager_rate(n: int) -> float:
    with JobManager(max_workers=4) as manager:
        manager.register(NoOp())
        start = time.perf_counter()
        ids = [manager.submit("noop") for _ in range(n)]
        manager.wait(ids[-1], timeout=300)
        # the last job submitted may end before an earlier one: count completions (O(1))
        while manager.store.counts()[JobStatus.COMPLETED] < n:
            time.sleep(0.0005)
        return n / (time.perf_counter() - start)


def latency(samples: int) -> tuple[float, float]:
    stamp = Stamp()
    gaps: list[float] = []
    with JobManager(max_workers=4) as manager:
        manager.register(stamp)
        for _ in range(50):  # warm up threads and code paths
            stamp.event.clear()
            manager.submit("stamp")
            stamp.event.wait(5)
        for _ in range(samples):
            stamp.event.clear()
            t0 = time.perf_counter()
            job_id = manager.submit("stamp")
            stamp.event.wait(5)
            gaps.append(stamp.started[job_id] - t0)
            time.sleep(0.001)  # let the manager go idle again between samples
    gaps.sort()
    return gaps[len(gaps) // 2] * 1e3, gaps[int(len(gaps) * 0.99)] * 1e3


def progress_overhead(units: int) -> float:
    with JobManager(max_workers=1) as manager:
        manager.register(Worker())
        times = {}
        for flag in (False, True, False, True):
            job = manager.wait(
                manager.submit("work", params={"units": units, "progress": flag}), timeout=300
            )
            times.setdefault(flag, []).append(float(job.result))
    return min(times[True]) / min(times[False])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    bare, ours = [], []
    for _ in range(args.repeat):
        bare.append(bare_executor(args.jobs))
        ours.append(manager_rate(args.jobs))
    b, o = statistics.median(bare), statistics.median(ours)
    p50, p99 = latency(1000)
    ratio = progress_overhead(100_000)
    results: dict[str, Any] = {
        "bare ThreadPoolExecutor(4), no-op jobs/s": f"{b:,.0f}",
        "JobManager(4) memory store, no-op jobs/s": f"{o:,.0f}",
        "ratio manager / bare": f"{o / b:.2f}x",
        "enqueue-to-start p50 (idle manager)": f"{p50:.3f} ms",
        "enqueue-to-start p99 (idle manager)": f"{p99:.3f} ms",
        "100,000 progress calls: time with / without": f"{ratio:.3f}x",
    }
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
