"""Stopping code that never reaches a checkpoint: an exception injected into its thread.

CPython can raise an exception in another thread (``PyThreadState_SetAsyncExc``). It is
delivered at the thread's next bytecode, so it stops pure-Python loops and
``time.sleep`` (which returns early on this), but not a blocking C call: such a thread is
declared stuck by the manager, which stops waiting for it.

The injected exception derives from ``BaseException`` so that a handler's
``except Exception:`` cannot swallow it; the runner converts it back into the job's
outcome. Injection is only allowed while the thread is flagged as inside the handler
(see :meth:`JobContext.lock`), and any undelivered injection is withdrawn when the
handler returns, so a late exception can never hit the next job of that thread.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["HardInterrupt", "can_interrupt", "inject", "withdraw"]


class HardInterrupt(BaseException):
    """Raised inside a handler's thread to stop code that ignores checkpoints."""


_set_async_exc = getattr(ctypes.pythonapi, "PyThreadState_SetAsyncExc", None)
if _set_async_exc is not None:
    _set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
    _set_async_exc.restype = ctypes.c_int


def can_interrupt() -> bool:
    """True on interpreters that support injecting exceptions into threads (CPython)."""
    return _set_async_exc is not None and sys.implementation.name == "cpython"


def inject(thread_id: int) -> bool:
    """Schedule :class:`HardInterrupt` in the thread ``thread_id``; True if it was scheduled."""
    if not can_interrupt():
        return False
    assert _set_async_exc is not None
    return bool(_set_async_exc(ctypes.c_ulong(thread_id), ctypes.py_object(HardInterrupt)))


def withdraw(thread_id: int) -> None:
    """Cancel an injected exception that the thread has not raised yet."""
    if can_interrupt():
        assert _set_async_exc is not None
        # a NULL exception clears the pending one
        _set_async_exc(ctypes.c_ulong(thread_id), ctypes.py_object())
