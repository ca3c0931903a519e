"""One warning per store outage, not one per retry.

While the store is down (Redis restarting, a Cluster electing a new master) every job
thread retries its claim, the supervisor its lease renewal and maintenance, each about
once a second: logging every failure would bury the one line that matters under dozens
per second. An :class:`OutageLog` per kind of call logs the first failure as a warning,
repeats at debug level, a reminder every ``remind_every`` seconds while it lasts, and
one line when the call works again, saying for how long and how often it failed.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["OutageLog"]

log = logging.getLogger("threadjobs")


class OutageLog:
    """Failures of one kind of store call (``what``: "claiming jobs"), shared by threads."""

    def __init__(self, what: str, remind_every: float = 60.0) -> None:
        self.what = what
        self.remind_every = remind_every
        self._lock = threading.Lock()
        self._failures = 0  # since the last success
        self._since = 0.0  # monotonic time of the first of them
        self._reminded = 0.0

    def failed(self, exc: BaseException, then: str = "will retry", trace: bool = False) -> None:
        """The call failed with ``exc``; ``then`` says what happens next; ``trace`` logs
        the traceback (for errors that are not the store's: a bug, so show where)."""
        now = time.monotonic()
        with self._lock:
            self._failures += 1
            failures, first = self._failures, self._failures == 1
            if first:
                self._since = self._reminded = now
            remind = not first and now - self._reminded >= self.remind_every
            if remind:
                self._reminded = now
            since = self._since
        if first or trace:
            log.warning("threadjobs: %s failed (%s); %s", self.what, exc, then, exc_info=trace)
        elif remind:
            log.warning(
                "threadjobs: %s still failing after %.0fs (%d failures; last: %s); %s",
                self.what, now - since, failures, exc, then,
            )  # fmt: skip
        else:
            log.debug("threadjobs: %s failed again (%s); %s", self.what, exc, then)

    def succeeded(self) -> None:
        """The call worked: if it had been failing, say it is back."""
        if not self._failures:  # the usual case, on every job: one attribute read
            return
        with self._lock:
            failures, since, self._failures = self._failures, self._since, 0
        if failures:
            log.warning(
                "threadjobs: %s works again after %.1fs (%d failed attempts)",
                self.what, time.monotonic() - since, failures,
            )  # fmt: skip
