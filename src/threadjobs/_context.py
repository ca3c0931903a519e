"""JobContext: what a running handler sees of its job, and its checkpoints."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from ._errors import JobCancelled, JobInterrupted, JobTimedOut
from ._models import Progress

__all__ = ["JobContext"]


class JobContext:
    """Handed to :meth:`Handler.run`: the job's identity, progress reporting and checkpoints.

    ``progress()`` and ``check()`` are *checkpoints*: they raise :class:`JobCancelled`
    when the job was cancelled and :class:`JobTimedOut` when it passed its deadline, so
    a handler that checks in now and then stops cleanly between two units of work.
    Both are cheap enough to call in a tight loop: progress is kept in memory and
    written to the store at most every ``progress_interval`` seconds.
    """

    __slots__ = (
        "_deadline",
        "_dirty",
        "_flush",
        "_flush_interval",
        "_last_flush",
        "_message",
        "_percent",
        "_step",
        "_stop",
        "_updated",
        "account_id",
        "attempt",
        "job_id",
        "job_type",
        "lock",
        "thread_id",
    )

    def __init__(
        self,
        *,
        job_id: str,
        job_type: str,
        account_id: int | str | None,
        attempt: int,
        timeout: float | None,
        flush: Callable[[Progress], None],
        flush_interval: float,
        progress: Progress | None = None,
    ) -> None:
        #: The job's id.
        self.job_id = job_id
        #: The job's type, as registered.
        self.job_type = job_type
        #: The account the job was submitted for.
        self.account_id = account_id
        #: 1 for the first run, 2 for the first retry, ...
        self.attempt = attempt
        self._deadline = time.monotonic() + timeout if timeout is not None else None
        self._stop: type[JobInterrupted] | None = None
        start = progress or Progress()
        self._percent = start.percent
        self._message = start.message
        self._step = start.step
        self._updated = start.updated_at
        self._dirty = False
        self._flush = flush
        self._flush_interval = flush_interval
        self._last_flush = 0.0
        # guards the hand-over between the job's thread and the supervisor (interrupts)
        self.lock = threading.Lock()
        self.thread_id: int | None = None

    # -- for handlers -------------------------------------------------------------------

    def progress(self, percent: float, message: str = "", step: str = "") -> None:
        """Report progress (clamped to 0-100) and check whether the job must stop.

        Raises:
            JobCancelled: the job was cancelled.
            JobTimedOut: the job passed its deadline.
        """
        # check() inlined: this is the call handlers make in their tightest loops
        now = time.monotonic()
        if self._stop is not None or (self._deadline is not None and now >= self._deadline):
            self.check()
        percent = float(percent)
        self._percent = 0.0 if percent < 0.0 or percent != percent else min(percent, 100.0)
        self._message = message if type(message) is str else str(message)
        self._step = step if type(step) is str else str(step)
        self._updated = None
        self._dirty = True
        if now - self._last_flush >= self._flush_interval:
            self.flush(now)

    def check(self) -> None:
        """A checkpoint without progress: raise if the job was cancelled or timed out."""
        if self._stop is not None:
            raise self._stop(self.stop_message(self._stop))
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self._stop = JobTimedOut
            raise JobTimedOut(self.stop_message(JobTimedOut))

    @property
    def cancelled(self) -> bool:
        """True once the job was asked to stop (cancelled, timed out or shutting down)."""
        return self._stop is not None

    def time_remaining(self) -> float | None:
        """Seconds left before the deadline, or None when the job has no timeout."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    # -- for the manager ------------------------------------------------------------------

    def current_progress(self) -> Progress:
        """The latest progress reported, flushed to the store or not."""
        if self._updated is None:
            self._updated = datetime.now(timezone.utc)
        return Progress(
            percent=self._percent, message=self._message, step=self._step, updated_at=self._updated
        )

    def flush(self, now: float | None = None) -> None:
        """Write pending progress to the store."""
        if not self._dirty:
            return
        self._dirty = False
        self._last_flush = time.monotonic() if now is None else now
        self._flush(self.current_progress())

    @property
    def dirty(self) -> bool:
        """True when progress was reported but not yet written."""
        return self._dirty

    @property
    def deadline(self) -> float | None:
        """The ``time.monotonic()`` value at which the job times out, or None."""
        return self._deadline

    @property
    def stop_reason(self) -> type[JobInterrupted] | None:
        """Why the job was asked to stop, if it was."""
        return self._stop

    def request_stop(self, reason: type[JobInterrupted]) -> bool:
        """Ask the job to stop at its next checkpoint. The first reason wins."""
        if self._stop is None:
            self._stop = reason
            return True
        return False

    def stop_message(self, reason: type[JobInterrupted]) -> str:
        """Why the job stops, in words: the message of the checkpoint's exception."""
        if reason is JobCancelled:
            return f"job {self.job_id} was cancelled"
        if reason is JobTimedOut:
            return f"job {self.job_id} passed its timeout"
        return f"job {self.job_id} stopped because its worker is shutting down"

    def __repr__(self) -> str:
        return f"<JobContext {self.job_type} {self.job_id} attempt={self.attempt}>"
