"""Turn a store URL (``--store`` or ``THREADJOBS_STORE``) into a job store.

``memory`` is the in-process :class:`~threadjobs.MemoryJobStore`; ``redis://``,
``rediss://`` (TLS) and ``unix://`` URLs open a :class:`~threadjobs.stores.RedisJobStore`,
imported only then so the command line works without redis-py;
``redis+cluster://`` (``rediss+cluster://``) names any node of a Redis Cluster, and
``redis+sentinel://[:password@]host:port[,host:port...]/service[/db]`` the sentinels
and the master's name.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from threadjobs import JobStore, MemoryJobStore, MissingDependency

from ._common import CliError

__all__ = [
    "DEFAULT_STORE",
    "is_memory",
    "open_store",
    "parse_sentinel_url",
    "redacted",
    "store_url",
]

DEFAULT_STORE = "memory"
REDIS_SCHEMES = ("redis", "rediss", "unix")
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
SENTINEL_SCHEME = "redis+sentinel"


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
    if scheme not in (*REDIS_SCHEMES, *CLUSTER_SCHEMES, SENTINEL_SCHEME):
        raise CliError(
            f"unknown store URL {redacted(url)!r}; use 'memory', redis://HOST:PORT/DB "
            "(rediss:// for TLS), redis+cluster://NODE:PORT or "
            "redis+sentinel://HOST:PORT[,HOST:PORT]/SERVICE[/DB]"
        )
    try:
        from threadjobs.stores import RedisJobStore

        if scheme == SENTINEL_SCHEME:
            sentinels, service, options = parse_sentinel_url(url)
            return RedisJobStore.from_sentinel(sentinels, service, queue=queue, **options)
        if scheme in CLUSTER_SCHEMES:
            plain = CLUSTER_SCHEMES[scheme] + url[len(scheme) :]
            return RedisJobStore.from_url(plain, queue=queue, cluster=True)
        return RedisJobStore.from_url(url, queue=queue)
    except MissingDependency as exc:
        raise CliError(str(exc)) from None
    except ValueError as exc:  # redis-py's URL parser, or ours
        raise CliError(f"bad store URL {redacted(url)!r}: {exc}") from None


def parse_sentinel_url(url: str) -> tuple[list[tuple[str, int]], str, dict[str, Any]]:
    """``redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]``: the
    sentinels, the master's name, and redis-py options for the master's connections.

    Raises:
        ValueError: the URL names no sentinel, no service, or a bad port or db.
    """
    rest = url.split("://", 1)[1]
    netloc, _, path = rest.partition("/")
    options: dict[str, Any] = {}
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        user, _, password = auth.partition(":")
        if user:
            options["username"] = unquote(user)
        if password:
            options["password"] = unquote(password)
    sentinels = []
    for part in filter(None, netloc.split(",")):
        host, _, port = part.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"sentinel {part!r} is not HOST:PORT")
        sentinels.append((host.removeprefix("[").removesuffix("]"), int(port)))  # [::1]
    if not sentinels:
        raise ValueError("no sentinel given (HOST:PORT before the service name)")
    service, _, db = path.split("?", 1)[0].partition("/")
    if not service:
        raise ValueError("no service name (the master's name in the sentinels' config)")
    if db:
        if not db.isdigit():
            raise ValueError(f"db {db!r} is not a number")
        options["db"] = int(db)
    return sentinels, unquote(service), options


def redacted(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
