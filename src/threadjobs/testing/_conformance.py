"""The store conformance suite: what every JobStore must do, checked without pytest.

Run it on your own store::

    from threadjobs.testing import check_store

    check_store(lambda retention: MyStore(retention=retention))

Each check gets a fresh, empty store from the factory. A failed check raises
``AssertionError`` naming the check and what differed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

from .._models import AttemptError, JobStatus, Progress
from .._store import CancelOutcome, Finish, JobRecord, JobStore, LeaseState, NewJob, Retention

__all__ = ["CHECKS", "StoreFactory", "check_store", "new_job"]

StoreFactory = Callable[[Retention], JobStore]
"""Makes a fresh, empty store with the given retention."""

LONG = 3600.0  # a lease that cannot expire during a check
_seq = 0
_seq_lock = threading.Lock()


def new_job(**fields: object) -> NewJob:
    """A valid NewJob with a fresh time-ordered id; ``fields`` override the defaults."""
    global _seq
    with _seq_lock:
        _seq += 1
        stamp = time.time_ns() // 1000 * 1000 + _seq % 1000
    values: dict[str, object] = {
        "id": f"{stamp:016x}{_seq:08x}",
        "job_type": "demo",
        "account_id": 1,
        "params": {"n": 1},
        "priority": 5,
        "max_retries": 3,
        "timeout": None,
    }
    values.update(fields)
    return NewJob(**values)  # type: ignore[arg-type]


def _error(attempt: int) -> AttemptError:
    return AttemptError(
        attempt=attempt, type="RuntimeError", message="boom", at=datetime.now(timezone.utc)
    )


def _wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)  # waiting for the store's clock to pass a lease or due time


# -- the checks ------------------------------------------------------------------------


def check_create_and_get(store: JobStore) -> None:
    params = {"s": "héllo ✓", "i": 2**53 + 1, "f": 0.1, "l": [1, None, True], "d": {"x": {}}}
    job = new_job(params=params, account_id="acct-7", priority=9, timeout=2.5)
    assert store.create(job) == (job.id, True)
    rec = store.get(job.id)
    assert rec is not None
    assert rec.status is JobStatus.QUEUED
    assert rec.params == params, "params must round-trip exactly (JSON)"
    assert (rec.account_id, rec.priority, rec.timeout) == ("acct-7", 9, 2.5)
    assert rec.attempts == 0 and rec.errors == [] and rec.result is None
    assert abs(rec.created_at - store.now()) < 5
    assert store.get("0000000000000000nothere") is None


def check_dedup_key(store: JobStore) -> None:
    first = new_job(dedup_key="import-42")
    assert store.create(first) == (first.id, True)
    again = new_job(dedup_key="import-42")
    assert store.create(again) == (first.id, False), "a held dedup key returns the holder"
    assert store.get(again.id) is None
    rec = store.claim("w1", 1, LONG)[0]
    store.finish(rec.id, rec.attempts, Finish(JobStatus.COMPLETED))
    third = new_job(dedup_key="import-42")
    assert store.create(third) == (third.id, True), "a finished job releases its dedup key"


def check_claim_order(store: JobStore) -> None:
    low, high1, high2, mid = (new_job(priority=p) for p in (1, 9, 9, 5))
    for job in (low, high1, high2, mid):
        store.create(job)
    order = [store.claim("w1", 1, LONG)[0].id for _ in range(4)]
    assert order == [high1.id, high2.id, mid.id, low.id], "priority first, FIFO within it"
    assert store.claim("w1", 5, LONG) == []


def check_claim_batch_and_fields(store: JobStore) -> None:
    jobs = [new_job() for _ in range(5)]
    assert [r[1] for r in store.create_many(jobs)] == [True] * 5
    claimed = store.claim("worker-a", 3, LONG)
    assert [r.id for r in claimed] == [j.id for j in jobs[:3]]
    for rec in claimed:
        assert rec.status is JobStatus.RUNNING and rec.attempts == 1
        assert rec.worker_id == "worker-a" and rec.started_at is not None
        assert rec.lease_until is not None and rec.lease_until > store.now()
    assert store.counts()[JobStatus.RUNNING] == 3
    assert store.counts()[JobStatus.QUEUED] == 2


def check_delayed_job(store: JobStore) -> None:
    job = new_job(delay=0.3)
    store.create(job)
    assert store.claim("w1", 1, LONG) == [], "a delayed job must not start early"
    rec = store.get(job.id)
    assert rec is not None and rec.due_at >= rec.created_at + 0.29
    _wait_until(lambda: store.now() >= rec.due_at)
    # now() may run ahead of the store's own clock by up to one round trip (it is never
    # behind), so the job is due at the latest a moment later
    claimed: list[str] = []

    def claim() -> bool:
        claimed.extend(r.id for r in store.claim("w1", 1, LONG))
        return bool(claimed)

    _wait_until(claim)
    assert claimed == [job.id]


def check_concurrent_claims_take_each_job_once(store: JobStore) -> None:
    jobs = [new_job() for _ in range(200)]
    store.create_many(jobs)
    threads, barrier = 8, threading.Barrier(8)
    taken: list[list[str]] = [[] for _ in range(threads)]

    def worker(i: int) -> None:
        barrier.wait()
        while batch := store.claim(f"w{i}", 3, LONG):
            taken[i].extend(r.id for r in batch)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    every = [job_id for ids in taken for job_id in ids]
    assert sorted(every) == sorted(j.id for j in jobs), "each job claimed exactly once"


def check_complete_and_fencing(store: JobStore) -> None:
    job = new_job()
    store.create(job)
    rec = store.claim("w1", 1, LONG)[0]
    assert store.save_progress(job.id, rec.attempts + 1, Progress(percent=5)) is LeaseState.LOST
    assert store.finish(job.id, rec.attempts + 1, Finish(JobStatus.COMPLETED)) is None
    state = store.save_progress(job.id, rec.attempts, Progress(percent=42, message="m", step="s"))
    assert state is LeaseState.HELD
    done = store.finish(job.id, rec.attempts, Finish(JobStatus.COMPLETED, result={"rows": 3}))
    assert done is not None and done.status is JobStatus.COMPLETED
    assert done.result == {"rows": 3} and done.finished_at is not None
    assert done.progress.percent == 42 and done.progress.step == "s"
    again = store.finish(job.id, rec.attempts, Finish(JobStatus.FAILED, error=_error(1)))
    assert again is None, "a terminal job is never written again"
    final = store.get(job.id)
    assert final is not None and final.status is JobStatus.COMPLETED and final.errors == []


def check_finish_and_claim(store: JobStore) -> None:
    first, second, third = new_job(), new_job(), new_job()
    store.create_many([first, second, third])
    rec = store.claim("w1", 1, LONG)[0]
    done, more = store.finish_and_claim(
        first.id, rec.attempts, Finish(JobStatus.COMPLETED, result=1), "w1", 1, LONG
    )
    assert done is not None and done.status is JobStatus.COMPLETED and done.result == 1
    assert [r.id for r in more] == [second.id] and more[0].worker_id == "w1"
    rejected, more = store.finish_and_claim(
        first.id, rec.attempts, Finish(JobStatus.FAILED, error=_error(1)), "w2", 5, LONG
    )
    assert rejected is None, "a stale finish is refused"
    assert [r.id for r in more] == [third.id], "the claim happens anyway"
    done, more = store.finish_and_claim(second.id, 1, Finish(JobStatus.COMPLETED), "w1", 1, LONG)
    assert done is not None and more == []


def check_claim_waits_for_work(store: JobStore) -> None:
    assert store.claim("w1", 1, LONG, wait=0.05) == [], "nothing came: an empty claim"
    job = new_job()
    started = threading.Event()
    got: list[list[str]] = []

    def waiter() -> None:
        started.set()
        got.append([r.id for r in store.claim("w1", 1, LONG, wait=30.0)])

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    assert started.wait(10)
    store.create(job)  # before or during the wait: either way the waiter takes it
    thread.join(10)
    assert not thread.is_alive(), "a waiting claim wakes when a job is created"
    assert got == [[job.id]]


def check_finish_and_claim_reports_before_waiting(store: JobStore) -> None:
    first, second = new_job(), new_job()
    store.create(first)
    rec = store.claim("w1", 1, LONG)[0]
    reported = threading.Event()
    seen: list[JobRecord | None] = []
    result: list[tuple[JobRecord | None, list[JobRecord]]] = []

    def on_finished(updated: JobRecord | None) -> None:
        seen.append(updated)
        reported.set()

    def worker() -> None:
        finish = Finish(JobStatus.COMPLETED, result=2)
        result.append(
            store.finish_and_claim(first.id, rec.attempts, finish, "w1", 1, LONG, 30.0, on_finished)
        )

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    assert reported.wait(10), "on_finished is called before the wait, not after it"
    stored = store.get(first.id)
    assert stored is not None and stored.status is JobStatus.COMPLETED, "recorded already"
    assert len(seen) == 1 and seen[0] is not None and seen[0].result == 2
    store.create(second)
    thread.join(10)
    assert not thread.is_alive(), "the wait ends when a job is created"
    [(done, more)] = result
    assert done is not None and done.status is JobStatus.COMPLETED and len(seen) == 1
    assert [r.id for r in more] == [second.id] and more[0].attempts == 1


def check_jobs_without_account(store: JobStore) -> None:
    anonymous, owned = new_job(account_id=None), new_job(account_id=5)
    store.create(anonymous)
    store.create(owned)
    everyone, _ = store.list_jobs(None, None, 10, None)
    assert [r.id for r in everyone] == [owned.id, anonymous.id], "listed once each"
    assert store.counts()[JobStatus.QUEUED] == 2
    assert store.recent_counts()["demo"][JobStatus.QUEUED] == 2
    rec = store.get(anonymous.id)
    assert rec is not None and rec.account_id is None


def check_retry_and_release(store: JobStore) -> None:
    job = new_job()
    store.create(job)
    rec = store.claim("w1", 1, LONG)[0]
    retried = store.finish(job.id, 1, Finish(JobStatus.RETRYING, error=_error(1), retry_in=0.3))
    assert retried is not None and retried.status is JobStatus.RETRYING
    assert len(retried.errors) == 1 and retried.worker_id is None
    assert store.claim("w1", 1, LONG) == [], "a retry waits for its due time"
    _wait_until(lambda: store.now() >= retried.due_at)
    rec = store.claim("w2", 1, LONG)[0]
    assert rec.attempts == 2 and rec.worker_id == "w2"
    released = store.finish(job.id, 2, Finish(JobStatus.QUEUED))
    assert released is not None and released.status is JobStatus.QUEUED
    assert released.attempts == 2 and len(released.errors) == 1, "a release is not charged"
    assert store.claim("w1", 1, LONG)[0].attempts == 3, "attempts only grow"


def check_cancel(store: JobStore) -> None:
    waiting, running = new_job(), new_job()
    store.create(waiting)
    store.create(running)
    outcome, rec = store.cancel(waiting.id)
    assert outcome is CancelOutcome.CANCELLED and rec is not None
    assert rec.status is JobStatus.CANCELLED
    held = store.claim("w1", 5, LONG)
    assert [r.id for r in held] == [running.id], "a cancelled job never starts"
    outcome, rec = store.cancel(running.id)
    assert outcome is CancelOutcome.REQUESTED and rec is not None and rec.cancel_requested
    assert store.heartbeat("w1", {running.id: 1}, LONG) == {running.id: LeaseState.CANCEL_REQUESTED}
    assert store.save_progress(running.id, 1, Progress()) is LeaseState.CANCEL_REQUESTED
    done = store.finish(running.id, 1, Finish(JobStatus.CANCELLED))
    assert done is not None and done.status is JobStatus.CANCELLED
    assert store.cancel(running.id)[0] is CancelOutcome.ALREADY_FINISHED
    assert store.cancel("0000000000000000missing0")[0] is CancelOutcome.NOT_FOUND
    assert store.counts()[JobStatus.CANCELLED] == 2


def check_cancel_racing_completion(store: JobStore) -> None:
    for _ in range(20):
        job = new_job()
        store.create(job)
        rec = store.claim("w1", 1, LONG)[0]
        barrier = threading.Barrier(2)

        def complete(
            job_id: str = job.id, attempt: int = rec.attempts, barrier: threading.Barrier = barrier
        ) -> None:
            barrier.wait()
            store.finish(job_id, attempt, Finish(JobStatus.COMPLETED))

        def cancel(job_id: str = job.id, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            store.cancel(job_id)

        threads = [threading.Thread(target=complete), threading.Thread(target=cancel)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        final = store.get(job.id)
        assert final is not None and final.status is JobStatus.COMPLETED
        assert store.cancel(job.id)[0] is CancelOutcome.ALREADY_FINISHED


def check_heartbeat(store: JobStore) -> None:
    job = new_job()
    store.create(job)
    rec = store.claim("w1", 1, 0.5)[0]
    assert rec.lease_until is not None
    assert store.heartbeat("w1", {job.id: 1}, 10.0) == {job.id: LeaseState.HELD}
    renewed = store.get(job.id)
    assert renewed is not None and renewed.lease_until is not None
    assert renewed.lease_until > rec.lease_until + 5
    assert store.heartbeat("other", {job.id: 1}, 10.0) == {job.id: LeaseState.LOST}
    assert store.heartbeat("w1", {job.id: 2}, 10.0) == {job.id: LeaseState.LOST}


def check_recover_expired_leases(store: JobStore) -> None:
    job = new_job()
    store.create(job)
    store.claim("w1", 1, 0.2)
    assert store.recover(3) == [], "a live lease is not recovered"
    _wait_until(lambda: bool(store.recover(3)))
    rec = store.get(job.id)
    assert rec is not None and rec.status is JobStatus.QUEUED and rec.recoveries == 1
    assert store.finish(job.id, 1, Finish(JobStatus.COMPLETED)) is None, "zombie write rejected"
    for expected_attempt in (2, 3, 4):
        claimed = store.claim("w2", 1, 0.05)[0]
        assert claimed.attempts == expected_attempt
        _wait_until(lambda: bool(store.recover(3)))
    final = store.get(job.id)
    assert final is not None and final.status is JobStatus.FAILED, "recoveries are capped"
    assert final.errors and "lease" in final.errors[-1].message


def check_recover_cancel_requested(store: JobStore) -> None:
    job = new_job()
    store.create(job)
    store.claim("w1", 1, 0.2)
    store.cancel(job.id)
    _wait_until(lambda: bool(store.recover(3)))
    rec = store.get(job.id)
    assert rec is not None and rec.status is JobStatus.CANCELLED


def check_listing(store: JobStore) -> None:
    mine = [new_job(account_id=7) for _ in range(7)]
    theirs = [new_job(account_id="7") for _ in range(2)]
    for job in (mine[0], theirs[0], *mine[1:], theirs[1]):
        store.create(job)
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = store.list_jobs(7, None, 3, cursor)
        seen.extend(r.id for r in page)
        if cursor is None:
            break
    assert seen == [j.id for j in reversed(mine)], "newest first, every job once, int 7 != '7'"
    store.cancel(mine[2].id)
    page, _ = store.list_jobs(7, JobStatus.CANCELLED, 10, None)
    assert [r.id for r in page] == [mine[2].id]
    everyone, _ = store.list_jobs(None, None, 100, None)
    assert len(everyone) == 9
    counts = store.counts(7)
    assert counts[JobStatus.QUEUED] == 6 and counts[JobStatus.CANCELLED] == 1
    recent = store.recent_counts(7, 24)
    assert recent["demo"][JobStatus.QUEUED] == 7 and recent["demo"][JobStatus.CANCELLED] == 1


def check_purge_by_retention(store: JobStore) -> None:
    done, kept = new_job(), new_job()
    store.create(done)
    store.create(kept)
    rec = store.claim("w1", 1, LONG)[0]
    store.finish(rec.id, rec.attempts, Finish(JobStatus.COMPLETED))
    _wait_until(lambda: store.purge() >= 1 or store.get(done.id) is None)
    assert store.get(done.id) is None
    assert store.get(kept.id) is not None, "unfinished jobs are never purged"
    assert store.counts()[JobStatus.COMPLETED] == 0
    assert [r.id for r in store.list_jobs(1, None, 10, None)[0]] == [kept.id]


CHECKS: tuple[Callable[[JobStore], None], ...] = (
    check_create_and_get,
    check_dedup_key,
    check_claim_order,
    check_claim_batch_and_fields,
    check_delayed_job,
    check_concurrent_claims_take_each_job_once,
    check_complete_and_fencing,
    check_finish_and_claim,
    check_claim_waits_for_work,
    check_finish_and_claim_reports_before_waiting,
    check_jobs_without_account,
    check_retry_and_release,
    check_cancel,
    check_cancel_racing_completion,
    check_heartbeat,
    check_recover_expired_leases,
    check_recover_cancel_requested,
    check_listing,
    check_purge_by_retention,
)
"""Every check, in order. Each takes a fresh store."""

SHORT_RETENTION = Retention(completed=0.2, failed=0.2, cancelled=0.2)


def iter_checks(make_store: StoreFactory) -> Iterator[tuple[str, Callable[[], None]]]:
    """Yield ``(name, run)`` per check, for test runners that want one test per check."""
    for check in CHECKS:
        retention = SHORT_RETENTION if check is check_purge_by_retention else Retention()

        def run(
            check: Callable[[JobStore], None] = check, retention: Retention = retention
        ) -> None:
            store = make_store(retention)
            try:
                check(store)
            finally:
                store.close()

        yield check.__name__, run


def check_store(make_store: StoreFactory) -> None:
    """Run every check against fresh stores from ``make_store``; raise on the first failure."""
    for name, run in iter_checks(make_store):
        try:
            run()
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc
