"""Follow one job until it ends, drawing a live progress line.

On a terminal the line is redrawn in place; into a pipe or a file a new line is
written only when the status, whole percent, step or message changes, so logs stay short.
"""

from __future__ import annotations

import json
import shutil
import time
from typing import TextIO

from threadjobs import Job, JobManager, JobNotFound, JobStatus, WaitTimeout

from ._common import CliError, ExitCode
from ._render import bar, duration, elapsed

__all__ = ["exit_code_for", "follow", "outcome_line"]

_EXIT_CODES = {
    JobStatus.COMPLETED: ExitCode.OK,
    JobStatus.FAILED: ExitCode.FAILED,
    JobStatus.CANCELLED: ExitCode.CANCELLED,
}


def follow(
    manager: JobManager,
    job_id: str,
    out: TextIO,
    *,
    interval: float = 0.25,
    timeout: float | None = None,
) -> Job:
    """Draw the job's progress on ``out`` until it completes, fails or is cancelled.

    Args:
        manager: A manager on the job's store.
        job_id: The job to follow.
        out: Where the progress line goes.
        interval: The longest time between two looks at the store.
        timeout: Give up after this many seconds (``None``: never).

    Returns:
        The job in its terminal state.

    Raises:
        CliError: No such job (``NOT_FOUND``), or ``timeout`` passed (``TIMEOUT``).
    """
    tty = out.isatty()
    deadline = None if timeout is None else time.monotonic() + timeout
    shown: tuple[object, ...] | None = None
    while True:
        try:
            # wait() returns as soon as the job ends (at once for jobs run in this
            # process) and otherwise gives us a regular tick to redraw the elapsed time
            job = manager.wait(job_id, timeout=interval)
        except WaitTimeout:
            job = _get(manager, job_id)
        except JobNotFound:
            raise _not_found(job_id) from None
        key = (job.status, int(job.progress.percent), job.progress.step, job.progress.message)
        if tty:
            width = shutil.get_terminal_size().columns - 1
            out.write("\r" + progress_line(job)[:width] + "\x1b[K")
        elif key != shown:
            out.write(progress_line(job) + "\n")
        out.flush()
        shown = key
        if job.is_terminal:
            if tty:
                out.write("\n")
            return job
        if deadline is not None and time.monotonic() >= deadline:
            if tty:
                out.write("\n")
            raise CliError(
                f"job {job_id} is still {job.status.value} after {timeout:g}s",
                ExitCode.TIMEOUT,
                hint=f"it keeps going; run 'threadjobs watch {job_id}' to follow it again",
            )


def progress_line(job: Job) -> str:
    """``[######------]  45.0%  running  csv_parsing  Parsing CSV data  0:12``."""
    progress = job.progress
    percent = 100.0 if job.status is JobStatus.COMPLETED else progress.percent
    parts = [f"{bar(percent)} {percent:5.1f}%", job.status.value]
    parts += [p for p in (progress.step, progress.message) if p]
    parts.append(duration(elapsed(job)))
    return "  ".join(parts)


def outcome_line(job: Job) -> str:
    """One line saying how the job ended."""
    took = duration(elapsed(job))
    if job.status is JobStatus.COMPLETED:
        result = json.dumps(job.result, sort_keys=True, default=str)
        shown = result if len(result) <= 200 else result[:197] + "..."
        return f"job {job.id} completed in {took}: {shown}"
    if job.status is JobStatus.FAILED:
        error = job.last_error
        why = f"{error.type}: {error.message}" if error else "no error recorded"
        return f"job {job.id} failed after {job.attempts} attempt(s) in {took}: {why}"
    return f"job {job.id} {job.status.value} after {took}"


def exit_code_for(job: Job) -> ExitCode:
    """0 completed, 1 failed, 3 cancelled."""
    return _EXIT_CODES.get(job.status, ExitCode.INTERNAL)


def _get(manager: JobManager, job_id: str) -> Job:
    try:
        return manager.get(job_id)
    except JobNotFound:
        raise _not_found(job_id) from None


def _not_found(job_id: str) -> CliError:
    return CliError(f"no job with id {job_id!r}", ExitCode.NOT_FOUND)
