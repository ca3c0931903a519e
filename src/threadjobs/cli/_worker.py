"""``threadjobs worker``: run jobs from a shared store until told to stop.

The first SIGTERM or SIGINT starts a graceful shutdown: no new jobs are claimed,
running ones get ``--grace`` seconds to finish, and those still running then are
stopped at a checkpoint and put back in the queue with their attempt not charged,
so another worker picks them up. A second signal exits at once; jobs still running
then are recovered by another worker when their lease expires.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from types import FrameType

from threadjobs import JobEvent, JobManager

from ._common import CliError, ExitCode
from ._handlers import load_handlers
from ._store_url import is_memory, open_store, redacted, store_url

__all__ = ["cmd_worker"]

log = logging.getLogger("threadjobs.worker")


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a worker process; returns once a signal has stopped it."""
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    url = store_url(args.store)
    store = open_store(url, queue=args.queue)
    manager = JobManager(store, max_workers=args.workers)
    try:
        for spec in args.handlers:
            load_handlers(spec, manager)
        job_types = manager.job_types
        if not job_types:
            raise CliError(f"--handlers {' '.join(args.handlers)}: no handler was registered")
        manager.add_listener(_log_event)
        stop = _install_signal_handlers()
        log.info(
            "worker %s: %d thread(s) on %s (queue %r), job types: %s",
            manager.worker_id,
            args.workers,
            redacted(url),
            args.queue,
            ", ".join(job_types),
        )
        if is_memory(url):
            log.warning(
                "the memory store is private to this process: no other process can submit "
                "jobs to this worker; use --store redis://..."
            )
        # a timeout keeps the main thread responsive to signals on every platform
        while not stop.wait(1.0):
            pass
        log.info("stopping: running jobs get %gs to finish", args.grace)
        manager.shutdown(timeout=args.grace)
        log.info("worker %s stopped", manager.worker_id)
        return ExitCode.OK
    finally:
        manager.shutdown(wait=False)
        store.close()


def _install_signal_handlers() -> threading.Event:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("second signal: exiting now; running jobs are recovered after their lease")
            sys.stderr.flush()
            os._exit(ExitCode.INTERRUPTED)
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def _log_event(event: JobEvent) -> None:
    job = event.job
    if job.status.is_terminal and job.last_error is not None and job.status.value == "failed":
        error = job.last_error
        log.warning("job %s (%s) failed: %s: %s", job.id, job.job_type, error.type, error.message)
    else:
        log.info("job %s (%s) %s", job.id, job.job_type, job.status.value)
