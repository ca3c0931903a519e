"""Turn a store URL (``--store`` or ``THREADJOBS_STORE``) into a job store.

``memory`` is the in-process :class:`~threadjobs.MemoryJobStore`; ``redis://``,
``rediss://`` (TLS) and ``unix://`` URLs open a :class:`~threadjobs.stores.RedisJobStore`,
imported only then so the command line works without redis-py.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from threadjobs import JobStore, MemoryJobStore, MissingDependency

from ._common import CliError

__all__ = ["DEFAULT_STORE", "is_memory", "open_store", "redacted", "store_url"]

DEFAULT_STORE = "memory"
REDIS_SCHEMES = ("redis", "rediss", "unix")


def store_url(given: str | None) -> str:
    """The URL to use: ``--store``, else ``$THREADJOBS_STORE``, else ``memory``."""
    url = given if given is not None else os.environ.get("THREADJOBS_STORE", "")
    return url.strip() or DEFAULT_STORE


def is_memory(url: str) -> bool:
    """True for the in-process memory store."""
    return url in ("memory", "memory://")


def open_store(url: str, *, queue: str = "default") -> JobStore:
    """Open the store a URL names.

    Raises:
        CliError: the URL is not one threadjobs knows, or redis-py is missing.
    """
    if is_memory(url):
        return MemoryJobStore()
    scheme = urlsplit(url).scheme
    if scheme not in REDIS_SCHEMES:
        raise CliError(
            f"unknown store URL {redacted(url)!r}; use 'memory' or redis://HOST:PORT/DB "
            "(rediss:// for TLS)"
        )
    try:
        from threadjobs.stores import RedisJobStore

        return RedisJobStore.from_url(url, queue=queue)
    except MissingDependency as exc:
        raise CliError(str(exc)) from None
    except ValueError as exc:  # redis-py's URL parser
        raise CliError(f"bad store URL {redacted(url)!r}: {exc}") from None


def redacted(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
