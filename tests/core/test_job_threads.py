"""How job threads get work: each claims its own; idle ones take turns waiting on the store.

What must hold: a finished job is reported before its thread waits for the next one; an
idle manager keeps one wait open on the store whatever its thread count; a burst of jobs
still reaches every thread (the one waiting hands its turn on when it takes a job).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

from threadjobs import Handler, JobContext, JobManager, JobStatus, MemoryJobStore

from .handlers import Echo, NParams


class CountingStore(MemoryJobStore):
    """Counts claims that may wait, and how many wait at once."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.waiting = self.most_waiting = self.waits = 0
        self.waits_seen = threading.Condition(self.lock)

    def claim(self, worker_id: str, limit: int, lease: float, wait: float = 0.0) -> Any:
        if wait <= 0:
            return super().claim(worker_id, limit, lease, wait)
        with self.lock:
            self.waiting += 1
            self.most_waiting = max(self.most_waiting, self.waiting)
        try:
            return super().claim(worker_id, limit, lease, wait)
        finally:
            with self.lock:
                self.waiting -= 1
                self.waits += 1
                self.waits_seen.notify_all()

    def wait_for_waits(self, count: int) -> None:
        with self.lock:
            assert self.waits_seen.wait_for(lambda: self.waits >= count, timeout=30)


def shutdown_now(manager: JobManager, store: MemoryJobStore) -> None:
    """Shut down without sitting out a long poll_interval: once the pool stops, wake the
    threads waiting in the store (shutdown waits for them, up to poll_interval)."""
    stopper = threading.Thread(target=manager.shutdown, kwargs={"timeout": 0})
    stopper.start()
    pool = manager._pool
    assert pool is not None and pool._stopping.wait(10)
    while stopper.is_alive():
        with store._work:
            store._work.notify_all()
        stopper.join(0.05)  # until shutdown has seen every waiting thread come back


def test_a_finished_job_is_reported_before_its_thread_waits_for_more() -> None:
    completed = threading.Event()
    store = MemoryJobStore()
    # a long poll: were the completion reported after the wait, it would come 60 s late
    manager = JobManager(store=store, max_workers=2, poll_interval=60)
    manager.register(Echo())
    manager.add_listener(lambda event: completed.set(), statuses=[JobStatus.COMPLETED])
    manager.submit("echo")
    assert completed.wait(10)
    shutdown_now(manager, store)


def test_an_idle_manager_keeps_one_wait_open_whatever_its_threads() -> None:
    store = CountingStore()
    manager = JobManager(store=store, max_workers=8, poll_interval=0.02)
    manager.register(Echo())
    store.wait_for_waits(25)  # the threads have settled into the rota many times over
    with store.lock:
        assert store.most_waiting == 1
    manager.shutdown(timeout=5)


def test_a_burst_reaches_every_thread() -> None:
    threads = 4
    barrier = threading.Barrier(threads, timeout=10)

    class Meet(Handler[NParams]):
        job_type = "meet"

        def run(self, ctx: JobContext, params: NParams) -> int:
            # passes only when `threads` jobs run at once, one on each thread
            return barrier.wait()

    store = MemoryJobStore()
    # a long poll: the threads waiting for their turn must not depend on polling
    manager = JobManager(store=store, max_workers=threads, poll_interval=60)
    manager.register(Meet())
    ids = [manager.submit("meet") for _ in range(threads)]
    jobs = [manager.wait(job_id, timeout=20) for job_id in ids]
    shutdown_now(manager, store)
    assert all(job.status is JobStatus.COMPLETED for job in jobs)
    assert sorted(job.result for job in jobs) == list(range(threads))


EXIT_WITHOUT_SHUTDOWN = """
import threading
from pydantic import BaseModel
from threadjobs import Handler, JobManager, JobStatus

class P(BaseModel):
    pass

class H(Handler[P]):
    job_type = "h"

    def run(self, ctx, params):
        return 1

manager = JobManager(max_workers=4)
manager.register(H())
done = threading.Event()
manager.add_listener(lambda event: done.set(), statuses=[JobStatus.COMPLETED])
manager.submit("h")
assert done.wait(10)
print("leaving without shutdown")
"""


def test_a_process_that_never_shuts_its_manager_down_still_exits() -> None:
    """Job threads are the executor's, which the interpreter joins at exit: they must stop
    claiming then, or the process would never end."""
    proc = subprocess.run(
        [sys.executable, "-c", EXIT_WITHOUT_SHUTDOWN], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "leaving without shutdown"
