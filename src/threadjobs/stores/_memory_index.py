"""Indexes of the memory store: listings and counters per account.

Each account (and "every account") has one :class:`_Account` holding its listings (sorted
job ids, all jobs and per status) and its current count per status, so a status change
looks the account up once. Entries into each status are also counted per hour for
``recent_counts``.

Job ids are time-ordered, so a sorted list of ids is a list in submit order and a
page "newest first, before cursor" is a bisect plus a walk backwards.

Removal is lazy: when a job leaves a status (or is purged) its id stays in that list
and is skipped when read; a list is compacted once more than half of it is stale.
Deleting from the front of a long Python list is a memmove of the whole list, and the
oldest queued job, the one claimed next, is exactly at the front.

Running jobs have no listing and no counter here: the store's ``running`` dict already
holds exactly them, and it is small (bounded by the workers claiming), so listing and
counting them from it costs less than maintaining two more indexes on every claim and
every finish.
"""

from __future__ import annotations

import bisect
from collections import Counter

from .._models import JobStatus
from .._store import JobRecord

__all__ = ["Index"]

_COMPACT_AT = 64  # below this many stale ids a list is never worth rebuilding
_HOUR = 3600.0
_RUNNING = JobStatus.RUNNING
_INDEXED = tuple(s for s in JobStatus if s is not _RUNNING)

Account = int | str | None
_RecentKey = tuple[Account, str, JobStatus]


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


class _Account:
    __slots__ = ("by_status", "counts", "jobs")

    def __init__(self) -> None:
        self.jobs = _Ids()
        self.by_status = {s: _Ids() for s in _INDEXED}
        self.counts = dict.fromkeys(_INDEXED, 0)


class Index:
    """Every listing and counter of one memory store. The caller holds the store's lock.

    Accounts are keyed by the account id itself (``7`` and ``"7"`` are different keys);
    ``None`` is the key of jobs submitted without an account, and queries with
    ``account_id=None`` mean every account.
    """

    def __init__(self, jobs: dict[str, JobRecord], running: dict[str, JobRecord]) -> None:
        self._jobs = jobs
        self._running = running
        self._all = _Account()
        self._accounts: dict[Account, _Account] = {}
        self._recent: dict[int, Counter[_RecentKey]] = {}
        self._hour = -1  # the hour bucket last written, cached for the hot path
        self._hour_counts: Counter[_RecentKey] = Counter()

    # -- updates --------------------------------------------------------------------------

    def created(self, rec: JobRecord, now: float) -> None:
        """Index a new job under its account and under every account."""
        acct = self._accounts.get(rec.account_id)
        if acct is None:
            acct = self._accounts[rec.account_id] = _Account()
        job_id, status = rec.id, rec.status
        for a in (self._all, acct):
            a.jobs.add(job_id)
            a.by_status[status].add(job_id)
            a.counts[status] += 1
        self._entered(rec, status, now)

    def moved(self, rec: JobRecord, old: JobStatus, now: float) -> None:
        """Re-index a job whose status changed from ``old`` to ``rec.status``."""
        new, job_id = rec.status, rec.id
        for a in (self._all, self._accounts[rec.account_id]):
            if old is not _RUNNING:
                a.counts[old] -= 1
                entry = a.by_status[old]
                entry.stale += 1  # _went_stale inlined: this runs twice per claim
                if entry.stale > _COMPACT_AT and entry.stale * 2 > len(entry.ids):
                    self._compact(entry, old)
            if new is not _RUNNING:
                a.counts[new] += 1
                a.by_status[new].add(job_id)
        hour = int(now // _HOUR)
        if hour != self._hour:
            self._entered(rec, new, now)
        else:
            self._hour_counts[(rec.account_id, rec.job_type, new)] += 1

    def removed(self, rec: JobRecord) -> None:
        """Forget a purged (terminal) job, already gone from the jobs dict."""
        for a in (self._all, self._accounts[rec.account_id]):
            a.counts[rec.status] -= 1
            self._went_stale(a.jobs, None)
            self._went_stale(a.by_status[rec.status], rec.status)

    def _entered(self, rec: JobRecord, status: JobStatus, now: float) -> None:
        hour = int(now // _HOUR)
        if hour != self._hour:
            self._hour = hour
            self._hour_counts = self._recent.setdefault(hour, Counter())
        self._hour_counts[(rec.account_id, rec.job_type, status)] += 1

    # -- queries ----------------------------------------------------------------------------

    def counts(self, account_id: Account) -> dict[JobStatus, int]:
        """Current number of jobs per status, of one account or (None) of all."""
        acct = self._all if account_id is None else self._accounts.get(account_id)
        running = self._running_of(account_id)
        return {
            s: len(running) if s is _RUNNING else (acct.counts[s] if acct is not None else 0)
            for s in JobStatus
        }

    def recent(self, account_id: Account, first_hour: int) -> dict[str, dict[JobStatus, int]]:
        """Per job type, entries into each status from ``first_hour`` on."""
        out: dict[str, dict[JobStatus, int]] = {}
        for hour, counter in self._recent.items():
            if hour < first_hour:
                continue
            for (acct, job_type, status), n in counter.items():
                if account_id is None or _same_account(acct, account_id):
                    per_type = out.setdefault(job_type, {})
                    per_type[status] = per_type.get(status, 0) + n
        return out

    def forget_hours_before(self, hour: int) -> None:
        """Drop hourly counters older than ``hour`` (they are never read again)."""
        for old in [h for h in self._recent if h < hour]:
            del self._recent[old]

    def page(
        self, account_id: Account, status: JobStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[JobRecord], str | None]:
        """Up to ``limit`` jobs older than ``cursor``, newest first, and the next cursor."""
        if status is _RUNNING:
            running = sorted(self._running_of(account_id), key=lambda r: r.id, reverse=True)
            if cursor is not None:
                running = [r for r in running if r.id < cursor]
            more = len(running) > limit
            page = running[:limit]
            return page, (page[-1].id if more and page else None)
        acct = self._all if account_id is None else self._accounts.get(account_id)
        if acct is None:
            return [], None
        ids = (acct.jobs if status is None else acct.by_status[status]).ids
        i = bisect.bisect_left(ids, cursor) if cursor is not None else len(ids)
        page = []
        while i > 0:
            i -= 1
            rec = self._valid(ids[i], status)
            if rec is None:
                continue
            if len(page) == limit:
                return page, page[-1].id  # one more exists: there is a next page
            page.append(rec)
        return page, None

    # -- helpers --------------------------------------------------------------------------

    def _running_of(self, account_id: Account) -> list[JobRecord]:
        if account_id is None:
            return list(self._running.values())
        return [r for r in self._running.values() if _same_account(r.account_id, account_id)]

    def _valid(self, job_id: str, status: JobStatus | None) -> JobRecord | None:
        rec = self._jobs.get(job_id)
        if rec is None or (status is not None and rec.status is not status):
            return None
        return rec

    def _went_stale(self, entry: _Ids, status: JobStatus | None) -> None:
        entry.stale += 1
        if entry.stale > _COMPACT_AT and entry.stale * 2 > len(entry.ids):
            self._compact(entry, status)

    def _compact(self, entry: _Ids, status: JobStatus | None) -> None:
        entry.ids = [i for i in entry.ids if self._valid(i, status) is not None]
        entry.stale = 0


def _same_account(a: Account, b: Account) -> bool:
    # ints and strs are kept apart: "7" is not 7
    return a == b and type(a) is type(b)
