"""Encoding jobs for, and decoding them from, :class:`~threadjobs.stores.RedisJobStore`.

Scripts return a job as the values of :data:`~._redis_scripts.FIELDS` in that order
(``HMGET``, sometimes inside one JSON reply), so decoding is positional: no field names
to parse, no dict to build. This runs twice per job on the worker's hot path (claim,
finish), so it avoids pydantic where the value is absent (a shared empty ``Progress``,
an empty error list). It also reads the odd reply that is not a job (CONFIG GET, client
options).

Everything here is JSON or text; nothing is unpickled or imported.
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Iterator, Sequence
from typing import Any

import pydantic
import pydantic_core

from .._errors import CorruptJobData, StoreError
from .._models import AttemptError, JobStatus, Progress
from .._store import Finish, JobRecord, NewJob, Retention
from ._redis_keys import decode_account, encode_account
from ._redis_scripts import FIELDS

__all__ = [
    "ScriptArgs",
    "config_values",
    "dumps",
    "job_args",
    "ms",
    "record",
    "resp_command",
    "socket_timeout",
    "text",
]

_ERRORS = pydantic.TypeAdapter(list[AttemptError])
_NO_PROGRESS = Progress()  # frozen, so one instance can stand for "no progress yet"
_STATUS = {s.value: s for s in JobStatus} | {s.value.encode(): s for s in JobStatus}
assert FIELDS[:3] == ("id", "type", "acct") and FIELDS[-1] == "finished"


def ms(seconds: float) -> int:
    """Whole milliseconds, never negative."""
    return max(0, round(seconds * 1000))


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON; anything not serialisable is a StoreError naming the problem.

    pydantic-core's encoder, not ``json.dumps``: 0.15 us instead of 2 us for small params,
    on every create and finish. The manager hands the store params and results already
    reduced to JSON types by pydantic; ``NaN`` and infinities are written as ``json`` writes
    (and reads) them.
    """
    try:
        return pydantic_core.to_json(value, inf_nan_mode="constants")
    except (TypeError, ValueError) as exc:
        raise StoreError(f"a value to store is not JSON-serialisable: {exc}") from exc


def job_args(job: NewJob) -> list[Any]:
    """The 6 ARGV entries of one job in the CREATE script.

    The four numbers travel as one ``prio|maxr|timeout|delay`` string: every argument
    costs redis-py about 0.6 us to pack, and bulk create sends thousands.
    """
    if "|" in job.id:
        raise StoreError(f"job ids may not contain '|': {job.id!r}")
    timeout = "" if job.timeout is None else repr(float(job.timeout))
    return [
        job.id,
        job.job_type,
        encode_account(job.account_id),
        dumps(job.params),
        f"{int(job.priority)}|{int(job.max_retries)}|{timeout}|{ms(job.delay)}",
        job.dedup_key if job.dedup_key is not None else "",
    ]


# the TTL safety net of a terminal job's hash outlives retention by an hour, for a late purge()
GRACE_MS = 3_600_000


class ScriptArgs:
    """The arguments of the status-changing scripts, for one queue.

    Few and mostly cached bytes: every argument costs the client to pack and Redis to
    hand to Lua. The numbers of a call travel together in one ``|``-separated string.
    """

    def __init__(self, retention: Retention, base: str, wake_cap: int, promote_limit: int) -> None:
        numbers = (ms(retention.completed), ms(retention.failed), ms(retention.cancelled))
        common = "|".join([*map(str, (*numbers, GRACE_MS, wake_cap)), base])
        self._common = common.encode()
        self._promote_limit = promote_limit
        self._claims: dict[tuple[str, int, float], bytes] = {}  # arg heads
        # unique per call: a random per-store prefix and a counter (os.urandom per job was
        # a measurable syscall on the hot path); next() is atomic in CPython
        self._nonce_prefix = secrets.token_hex(8)
        self._nonces = itertools.count()

    def common(self) -> list[Any]:
        """The first ARGV: ``completed ms|failed ms|cancelled ms|grace ms|wake cap|base``."""
        return [self._common]

    def finish(self, attempt: int, finish: Finish) -> list[Any]:
        """FINISH's ARGV after the common one: ``attempt|status|delay ms|nonce``, result, error.

        The nonce makes a resent finish answer like the first one (see the Lua).
        """
        result = dumps(finish.result) if finish.status is JobStatus.COMPLETED else ""
        error = finish.error.model_dump_json() if finish.error is not None else ""
        nonce = f"{self._nonce_prefix}{next(self._nonces)}"
        head = f"{int(attempt)}|{finish.status.value}|{ms(finish.retry_in)}|{nonce}"
        return [head.encode(), result, error]

    def claim(self, worker_id: str, limit: int, lease: float) -> tuple[bytes, bytes]:
        """CLAIM's one argument, ``limit|lease ms|promote limit|resend|nonce|worker``.

        Returns it twice: as first sent (``resend`` 0) and as it must be sent again after
        a lost reply (``resend`` 1, same nonce), when the script hands back the jobs the
        first send took instead of taking more.
        """
        key = (worker_id, limit, lease)
        head = self._claims.get(key)
        if head is None:
            if len(self._claims) > 256:  # worker ids and leases are few; stay bounded
                self._claims.clear()
            head = self._claims[key] = (
                f"{max(0, int(limit))}|{ms(lease)}|{self._promote_limit}|".encode()
            )
        tail = f"|{self._nonce_prefix}c{next(self._nonces)}|{worker_id}".encode()
        return head + b"0" + tail, head + b"1" + tail


def resp_command(args: Sequence[bytes | str | int], encoding: str = "utf-8") -> bytes:
    """One command in RESP, as redis-py's ``pack_command`` would write it, for str/bytes/int.

    Bulk create packs thousands of arguments per call; redis-py's general packer (any
    type, buffer cut-offs, memoryviews) spent about 4 us per job of it, this ~1 us.
    """
    parts = [b"*%d\r\n" % len(args)]
    append = parts.append
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode(encoding)
        append(b"$%d\r\n" % len(data))
        append(data)
        append(b"\r\n")
    return b"".join(parts)


def text(value: Any) -> str:
    """A reply element as str (clients may or may not decode responses)."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# a missing field is None in a RESP reply and false in a JSON one (cjson turns Lua's false
# into false, not null): both mean "absent" below


def _opt(value: Any) -> str | None:
    return None if value is None or value is False else text(value)


def _seconds(value: Any) -> float | None:
    return None if value is None or value is False else int(value) / 1000.0


def record(values: Sequence[Any], job_id: str | None = None) -> JobRecord:
    """A JobRecord from a job's :data:`FIELDS` values; malformed data raises CorruptJobData."""
    try:
        (
            jid, jtype, acct, params, prio, maxr, timeout, status, created, due, dedup, att,
            recov, worker, lease, cancel, progress, result, errors, started, finished,
        ) = values  # fmt: skip
        params_obj = json.loads(params)
        if not isinstance(params_obj, dict):
            raise ValueError("params are not a JSON object")
        return JobRecord(
            id=text(jid),
            job_type=text(jtype),
            account_id=decode_account(text(acct)),
            params=params_obj,
            priority=int(prio),
            max_retries=int(maxr),
            timeout=float(timeout) if timeout else None,
            status=_STATUS[status],
            created_at=int(created) / 1000.0,
            due_at=int(due) / 1000.0,
            dedup_key=_opt(dedup),
            attempts=int(att),
            recoveries=int(recov),
            worker_id=_opt(worker),
            lease_until=_seconds(lease),
            cancel_requested=cancel in (b"1", "1"),
            progress=Progress.model_validate_json(progress) if progress else _NO_PROGRESS,
            result=json.loads(result) if result else None,
            errors=_ERRORS.validate_json(errors) if errors else [],
            started_at=_seconds(started),
            finished_at=_seconds(finished),
        )
    except (KeyError, ValueError, TypeError, pydantic.ValidationError) as exc:
        which = job_id or (text(values[0]) if values and values[0] is not None else "?")
        raise CorruptJobData(
            f"job {which} in Redis is malformed ({exc!r}); it was not used"
        ) from exc


def config_values(reply: Any, name: str) -> Iterator[str]:
    """The values of ``name`` in a CONFIG GET reply: a dict, or one dict per node (cluster)."""
    if isinstance(reply, dict):
        for key, value in reply.items():
            if isinstance(value, dict):
                yield from config_values(value, name)
            elif text(key) == name:
                yield text(value)


def socket_timeout(client: Any) -> float | None:
    """The socket timeout a redis-py client was configured with, if it says."""
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None) or {}
    value = kwargs.get("socket_timeout")
    return float(value) if value is not None else None
