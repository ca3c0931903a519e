"""Key layout of :class:`~threadjobs.stores.RedisJobStore` and the account encoding.

Every key of one queue starts with ``<prefix>:{<queue>}:``. The part in braces is the
Redis Cluster *hash tag*, so all keys of a queue live in one slot and every Lua script
can touch all of them. Nothing here talks to Redis.

Per-account indexes are not separate keys: they are lexicographically sorted sets
(all scores 0) whose members are ``<account>|<job id>``. A page of one account's jobs
is then a ``ZREVRANGEBYLEX`` over the prefix ``<account>|``, so the key names stay
fixed and scripts never have to build a key name from data they read.
"""

from __future__ import annotations

import dataclasses

from .._models import JobStatus

__all__ = ["STATUS_ORDER", "QueueKeys", "decode_account", "encode_account"]

STATUS_ORDER: tuple[JobStatus, ...] = (
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
    JobStatus.RETRYING,
)
"""The order of the per-status index keys in a script's KEYS (the Lua side relies on it)."""

ALL_ACCOUNTS = "*"
"""The account key of counters that cover every account."""


def encode_account(account_id: int | str | None) -> str:
    """A prefix-free text form of an account id; ``""`` for no account.

    Ints and strings stay apart (``7`` is not ``"7"``). Strings carry their length
    (``s5:alice``) so that no account's encoding is a prefix of another's, whatever
    characters the id contains; that makes ``<account>|`` a safe range prefix.
    """
    if account_id is None:
        return ""
    if isinstance(account_id, bool):  # bool is an int subclass; keep True apart from 1
        raise TypeError("account_id must be an int, a str or None, not a bool")
    if isinstance(account_id, int):
        return f"i:{account_id}"
    raw = account_id.encode("utf-8")
    return f"s{len(raw)}:{account_id}"


def decode_account(text: str) -> int | str | None:
    """The inverse of :func:`encode_account`; raises ValueError on anything else."""
    if text == "":
        return None
    if text.startswith("i:"):
        return int(text[2:])
    if text.startswith("s"):
        length, sep, rest = text[1:].partition(":")
        if sep and length.isdigit() and len(rest.encode("utf-8")) == int(length):
            return rest
    raise ValueError(f"not an encoded account: {text!r}")


@dataclasses.dataclass(frozen=True)
class QueueKeys:
    """The names of one queue's keys.

    Args:
        prefix: the first part of every key (default ``threadjobs``).
        queue: the queue name; it becomes the hash tag.
    """

    prefix: str
    queue: str

    def __post_init__(self) -> None:
        for name, value in (("prefix", self.prefix), ("queue", self.queue)):
            if not value or any(c in value for c in "{}") or any(c.isspace() for c in value):
                raise ValueError(f"{name} must be non-empty, without braces or spaces: {value!r}")

    @property
    def base(self) -> str:
        """``<prefix>:{<queue>}:`` — the start of every key of this queue."""
        return f"{self.prefix}:{{{self.queue}}}:"

    def job(self, job_id: str) -> str:
        """The hash holding one job."""
        return f"{self.base}job:{job_id}"

    @property
    def fixed(self) -> list[str]:
        """Every queue-wide key (scripts name them from :attr:`base`; see _redis_scripts)."""
        b = self.base
        keys = [
            b + "ready",  # zset: score = -priority * 1e13 + due ms, FIFO within a priority
            b + "scheduled",  # zset: score = due ms (delayed jobs and retries)
            b + "running",  # zset: score = lease expiry ms
            b + "expiry",  # zset: score = end of retention ms; member status|id|account
            b + "dedup",  # hash: dedup key -> id of the unfinished job holding it
            b + "counts",  # hash: status|account -> jobs in that status now
            b + "recent",  # hash: account|hour|status|type -> entries into the status
            b + "recent:fields",  # zset, lex: the fields of `recent`, for range reads
            b + "recent:hours",  # zset: score = hour; the fields of `recent`, for trimming
            b + "wake",  # list: wake-up tokens for blocked workers
            b + "guard",  # never written (see guard)
            b + "idx:any",  # zset, lex: every job id
            b + "idx:any:acct",  # zset, lex: account|id of every job with an account
        ]
        for status in STATUS_ORDER:
            keys.append(f"{b}idx:{status.value}")
            keys.append(f"{b}idx:{status.value}:acct")
        return keys

    def index(self, status: JobStatus | None, *, per_account: bool) -> str:
        """The listing index for one status (or all, for None)."""
        name = "any" if status is None else status.value
        return f"{self.base}idx:{name}" + (":acct" if per_account else "")

    @property
    def counts(self) -> str:
        """The counters hash."""
        return self.base + "counts"

    @property
    def recent(self) -> str:
        """The hourly counters hash."""
        return self.base + "recent"

    @property
    def recent_fields(self) -> str:
        """The lex index of the hourly counters."""
        return self.base + "recent:fields"

    @property
    def ready(self) -> str:
        """The ready zset; the first key status-changing scripts declare in KEYS."""
        return self.base + "ready"

    @property
    def guard(self) -> str:
        """A key that never exists, the last one status-changing scripts declare.

        While Redis Cluster moves the queue's slot to another node, the keys move one by
        one. A script is checked against the keys it declares only, so one that opened a
        job hash already moved would fail halfway, its first writes kept. A declared key
        that is missing makes Redis refuse the whole call during the move (``TRYAGAIN``
        or ``ASK``), and this one is always missing: no script runs on a half-moved
        queue, and the store retries once the move is over.
        """
        return self.base + "guard"

    @property
    def running(self) -> str:
        """The running zset (lease expiry)."""
        return self.base + "running"

    @property
    def wake(self) -> str:
        """The wake-up list."""
        return self.base + "wake"
