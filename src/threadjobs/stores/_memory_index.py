"""Listing indexes of the memory store: sorted job ids per (account, status).

Job ids are time-ordered, so a sorted list of ids is a list in submit order and a
page "newest first, before cursor" is a bisect plus a walk backwards.

Removal is lazy: when a job leaves a status (or is purged) its id stays in that list
and is skipped when read; a list is compacted once more than half of it is stale.
Deleting from the front of a long Python list is a memmove of the whole list, and the
oldest queued job, the one claimed next, is exactly at the front.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable

from .._models import JobStatus
from .._store import JobRecord

__all__ = ["ALL", "Listings"]

ALL = "*"  # the account key meaning "every account"
_COMPACT_AT = 64  # below this many stale ids a list is never worth rebuilding


class _Ids:
    __slots__ = ("ids", "stale")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.stale = 0

    def add(self, job_id: str) -> None:
        ids = self.ids
        if not ids or ids[-1] < job_id:
            ids.append(job_id)  # the common case: the newest job
            return
        i = bisect.bisect_left(ids, job_id)
        if i < len(ids) and ids[i] == job_id:
            self.stale -= 1  # a stale entry of this very job becomes valid again
        else:
            ids.insert(i, job_id)


class Listings:
    """Every listing index of one memory store. The caller holds the store's lock."""

    def __init__(self, jobs: dict[str, JobRecord], account_key: Callable[[JobRecord], Hashable]):
        self._jobs = jobs
        self._account_key = account_key
        self._lists: dict[tuple[Hashable, JobStatus | None], _Ids] = {}

    def created(self, rec: JobRecord) -> None:
        """Index a new job under its account and status, and under 'every account'."""
        acct = self._account_key(rec)
        for key in ((ALL, None), (acct, None), (ALL, rec.status), (acct, rec.status)):
            self._list(key).add(rec.id)

    def moved(self, rec: JobRecord, old: JobStatus) -> None:
        """Re-index a job whose status changed from ``old`` to ``rec.status``."""
        acct = self._account_key(rec)
        self._went_stale((ALL, old))
        self._went_stale((acct, old))
        self._list((ALL, rec.status)).add(rec.id)
        self._list((acct, rec.status)).add(rec.id)

    def removed(self, rec: JobRecord) -> None:
        """Forget a purged job (already gone from the jobs dict)."""
        acct = self._account_key(rec)
        for key in ((ALL, None), (acct, None), (ALL, rec.status), (acct, rec.status)):
            self._went_stale(key)

    def page(
        self, acct: Hashable, status: JobStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[JobRecord], str | None]:
        """Up to ``limit`` jobs older than ``cursor``, newest first, and the next cursor."""
        entry = self._lists.get((acct, status))
        if entry is None:
            return [], None
        ids = entry.ids
        i = bisect.bisect_left(ids, cursor) if cursor is not None else len(ids)
        page: list[JobRecord] = []
        while i > 0:
            i -= 1
            rec = self._valid(ids[i], status)
            if rec is None:
                continue
            if len(page) == limit:
                return page, page[-1].id  # one more exists: there is a next page
            page.append(rec)
        return page, None

    def _valid(self, job_id: str, status: JobStatus | None) -> JobRecord | None:
        rec = self._jobs.get(job_id)
        if rec is None or (status is not None and rec.status is not status):
            return None
        return rec

    def _list(self, key: tuple[Hashable, JobStatus | None]) -> _Ids:
        entry = self._lists.get(key)
        if entry is None:
            entry = self._lists[key] = _Ids()
        return entry

    def _went_stale(self, key: tuple[Hashable, JobStatus | None]) -> None:
        entry = self._lists[key]  # a job leaves only lists it was added to
        entry.stale += 1
        if entry.stale > _COMPACT_AT and entry.stale * 2 > len(entry.ids):
            status = key[1]
            entry.ids = [i for i in entry.ids if self._valid(i, status) is not None]
            entry.stale = 0
