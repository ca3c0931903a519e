"""The Redis store's reads: a job, a page of a listing, counts. Plain commands, no Lua
except for the hourly counts (one script, so a 24-hour window is one round trip).

Each function takes the store's ``call`` (or ``script``) so that every command still goes
through the store's one error-translating boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._models import JobStatus
from .._store import JobRecord
from ._redis_codec import record, text
from ._redis_keys import ALL_ACCOUNTS, QueueKeys, encode_account
from ._redis_scripts import FIELDS

__all__ = ["counts", "get_job", "list_page", "recent_counts"]

Call = Callable[[str, Callable[[], Any]], Any]
Script = Callable[[str, str, list[Any], list[Any]], Any]
_FIELDS = list(FIELDS)


def get_job(call: Call, client: Any, keys: QueueKeys, job_id: str) -> JobRecord | None:
    """The job, or None if it does not exist (or was purged)."""
    values = call("reading a job", lambda: client.hmget(keys.job(job_id), _FIELDS))
    if all(v is None for v in values):
        return None
    return record(values, job_id)


def list_page(
    call: Call,
    client: Any,
    keys: QueueKeys,
    account_id: int | str | None,
    status: JobStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[JobRecord], str | None]:
    """One page of a listing, newest first: one index range read, one pipelined HMGET each."""
    if limit <= 0:
        return [], None
    acct = encode_account(account_id)
    if acct:
        key = keys.index(status, per_account=True)
        high = f"({acct}|{cursor}" if cursor is not None else f"({acct}}}"
        low = f"[{acct}|"
    else:
        key = keys.index(status, per_account=False)
        high = f"({cursor}" if cursor is not None else "+"
        low = "-"

    def read() -> list[Any]:
        members = client.zrevrangebylex(key, high, low, start=0, num=limit + 1)
        ids = [text(m).rsplit("|", 1)[-1] for m in members]
        pipe = client.pipeline(transaction=False)
        for job_id in ids[:limit]:
            pipe.hmget(keys.job(job_id), _FIELDS)
        return [ids, pipe.execute()]

    ids, hashes = call("listing jobs", read)
    page = [
        record(values, job_id)
        for job_id, values in zip(ids, hashes, strict=False)
        if any(v is not None for v in values)  # purged between the two reads
    ]
    more = len(ids) > limit
    return page, (ids[limit - 1] if more else None)


def counts(
    call: Call, client: Any, keys: QueueKeys, account_id: int | str | None
) -> dict[JobStatus, int]:
    """Jobs per status now, from the counters the scripts keep (one HMGET)."""
    who = encode_account(account_id) or ALL_ACCOUNTS
    fields = [f"{status.value}|{who}" for status in JobStatus]
    values = call("reading counts", lambda: client.hmget(keys.counts, fields))
    return {status: int(v or 0) for status, v in zip(JobStatus, values, strict=False)}


def recent_counts(
    script: Script, keys: QueueKeys, account_id: int | str | None, hours: int
) -> dict[str, dict[JobStatus, int]]:
    """Per job type, entries into each status in the last ``hours`` hour buckets."""
    who = encode_account(account_id) or ALL_ACCOUNTS
    fields, values = script(
        "reading recent counts",
        "RECENT",
        [keys.recent, keys.recent_fields],
        [who, max(1, int(hours))],
    )
    out: dict[str, dict[JobStatus, int]] = {}
    skip = len(who) + 1 + 8 + 1  # "<who>|<hour>|"
    for field, value in zip(fields, values, strict=False):
        status, _, job_type = text(field)[skip:].partition("|")
        per_type = out.setdefault(job_type, {})
        per_type[JobStatus(status)] = per_type.get(JobStatus(status), 0) + int(value)
    return out
