"""The memory store's lock, taken in a way that avoids lock convoys under the GIL."""

from __future__ import annotations

import threading
import time

__all__ = ["Guard"]

_SPINS = 100  # tries before blocking; each waits a GIL turn, not a busy loop


class Guard:
    """The store's one lock, taken so that it is never handed to a sleeping thread.

    Why not ``with lock:``: a thread blocked in ``Lock.acquire`` is woken when the lock
    is released and takes it at once, on another core, but must then wait for the GIL
    (up to the 5 ms switch interval) before it can use it. Every other thread that wants
    the lock meanwhile blocks too, and each acquisition becomes a GIL hand-off plus a
    context switch (a lock convoy): with four job threads and a submitting thread this
    halved the end-to-end rate. A thread that finds the lock taken instead gives up the
    GIL (``sleep(0)``), so the holder, which needs the GIL to finish its short critical
    section, can run, and tries again; only after ``_SPINS`` failed tries does it block.
    Mutual exclusion is the plain lock's: this only changes how a thread waits for it.
    """

    __slots__ = ("lock",)

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        lock = self.lock
        if lock.acquire(False):
            return
        for _ in range(_SPINS):
            time.sleep(0)  # release the GIL so the holder can finish; not a timed wait
            if lock.acquire(False):
                return
        lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.lock.release()
