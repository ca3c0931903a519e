"""Job stores: where jobs live and how workers share them.

:class:`MemoryJobStore` is the default (one process). :class:`RedisJobStore` shares one
queue between many processes and machines; it needs ``pip install 'threadjobs[redis]'``
and is imported only when used, so ``import threadjobs`` works without redis-py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._memory import MemoryJobStore as MemoryJobStore

if TYPE_CHECKING:
    from ._redis import RedisJobStore as RedisJobStore

__all__ = ["MemoryJobStore", "RedisJobStore"]


def __getattr__(name: str) -> Any:
    if name == "RedisJobStore":
        from ._redis import RedisJobStore

        return RedisJobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
