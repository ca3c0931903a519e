"""A worker process for the multi-process Redis tests (run as a script, not collected).

Usage: python redis_worker_proc.py URL QUEUE LEASE WORK_SECONDS [CLOCK_SKEW_SECONDS]

It runs a JobManager with 4 workers on a RedisJobStore, records every completion it
wrote (a listener, so only writes the store accepted) as a field ``<job id>|<random>`` of
the hash ``test:{QUEUE}:completions``, prints ``ready`` once running and stops on SIGTERM.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import threading
import time
from typing import Any

import redis
from pydantic import BaseModel

from threadjobs import Handler, JobContext, JobEvent, JobManager, JobStatus
from threadjobs.stores import RedisJobStore


class Work(BaseModel):
    n: int = 0


class WorkHandler(Handler[Work]):
    """Simulates work for WORK_SECONDS, then returns which process did it."""

    job_type = "work"
    max_retries = 0
    seconds = 0.0

    def run(self, ctx: JobContext, params: Work) -> Any:
        if self.seconds:
            time.sleep(self.seconds)  # simulated work, not synchronisation
        return {"pid": os.getpid(), "n": params.n}


def completions_key(queue: str) -> str:
    """The test's own hash of recorded completions, in the queue's slot."""
    return f"test:{{{queue}}}:completions"


def skew_clock(seconds: float) -> None:
    """Make this process's wall clock wrong by ``seconds`` (a machine with a bad clock):
    threadjobs must take every time that matters from Redis."""
    real = time.time
    time.time = lambda: real() + seconds


def main() -> None:
    url, queue, lease, work = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    if len(sys.argv) > 5:
        skew_clock(float(sys.argv[5]))
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
    WorkHandler.seconds = work
    counter = redis.Redis.from_url(url)
    store = RedisJobStore.from_url(url, queue=queue)
    manager = JobManager(
        store=store, max_workers=4, lease=lease, maintenance_interval=0.25, poll_interval=0.5
    )

    def count(event: JobEvent) -> None:
        # one field per event, so a write resent after a Redis restart is not counted twice
        field = f"{event.job.id}|{secrets.token_hex(4)}"
        for _ in range(50):  # the test may restart Redis under us
            try:
                counter.hset(completions_key(queue), field, 1)
                return
            except redis.RedisError:
                time.sleep(0.1)

    manager.add_listener(count, statuses=[JobStatus.COMPLETED])
    manager.register(WorkHandler())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    manager.shutdown(timeout=5)


if __name__ == "__main__":
    main()
