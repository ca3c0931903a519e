"""RedisJobStore behaves like the store contract says, on fakeredis and on real Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from threadjobs import CorruptJobData, StoreError, StoreUnavailable
from threadjobs._models import AttemptError, JobStatus, Progress
from threadjobs._store import CancelOutcome, Finish, JobRecord, LeaseState, NewJob, Retention
from threadjobs.stores._redis import RedisJobStore

_seq = iter(range(10**9))


def new_job(**overrides: Any) -> NewJob:
    """A NewJob with a fresh time-ordered id."""
    fields: dict[str, Any] = {
        "id": f"{time.time_ns() // 1000:016x}{next(_seq):08x}",
        "job_type": "echo",
        "account_id": None,
        "params": {"n": 1},
        "priority": 5,
        "max_retries": 2,
        "timeout": None,
    }
    fields.update(overrides)
    return NewJob(**fields)


def error(attempt: int) -> AttemptError:
    return AttemptError(
        attempt=attempt, type="ValueError", message="boom", at=datetime.now(timezone.utc)
    )


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for store time to pass (leases, delays); not for thread synchronisation."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_create_and_get_round_trip_keeps_json_exact(store: RedisJobStore) -> None:
    params = {"big": 2**70, "f": 0.1, "text": "žluťoučký 🐎", "nested": [None, True, {"x": 1e300}]}
    job = new_job(params=params, account_id="acme", timeout=2.5, dedup_key="d1")
    assert store.create(job) == (job.id, True)
    rec = store.get(job.id)
    assert rec is not None
    assert (rec.params, rec.account_id, rec.timeout, rec.dedup_key) == (params, "acme", 2.5, "d1")
    assert (rec.status, rec.attempts, rec.recoveries) == (JobStatus.QUEUED, 0, 0)
    assert abs(rec.created_at - store.now()) < 5
    assert store.get("0" * 24) is None


def test_dedup_key_returns_the_holder_until_it_finishes(store: RedisJobStore) -> None:
    first = new_job(dedup_key="once")
    assert store.create(first) == (first.id, True)
    assert store.create(new_job(dedup_key="once")) == (first.id, False)
    [rec] = store.claim("w", 1, 30)
    store.finish(rec.id, rec.attempts, Finish(JobStatus.COMPLETED, result=1))
    again = new_job(dedup_key="once")
    assert store.create(again) == (again.id, True)


def test_create_many_dedups_within_the_batch(store: RedisJobStore) -> None:
    # 1,100 jobs: several script calls (250 jobs each) in one pipeline
    jobs = [new_job(dedup_key="same" if i % 100 == 0 else None) for i in range(1100)]
    out = store.create_many(jobs)
    assert len(out) == 1100
    assert sum(created for _, created in out) == 1100 - 10
    assert out[0] == (jobs[0].id, True)
    assert out[100] == out[600] == out[1000] == (jobs[0].id, False)
    assert out[601] == (jobs[601].id, True)
    assert store.counts()[JobStatus.QUEUED] == 1090


def test_create_is_idempotent_when_resent(store: RedisJobStore) -> None:
    job = new_job()
    store.create(job)
    assert store.create(job) == (job.id, True)
    assert store.counts()[JobStatus.QUEUED] == 1


def test_claim_takes_highest_priority_first_fifo_within(store: RedisJobStore) -> None:
    low = [new_job(priority=1) for _ in range(3)]
    high = [new_job(priority=9) for _ in range(3)]
    store.create_many(low + high)
    claimed = store.claim("w", 4, 30)
    assert [r.id for r in claimed] == [j.id for j in high] + [low[0].id]
    for rec in claimed:
        assert (rec.status, rec.attempts, rec.worker_id) == (JobStatus.RUNNING, 1, "w")
        assert rec.lease_until is not None
        assert rec.started_at is not None
        assert 29 < rec.lease_until - rec.started_at < 31
    assert [r.id for r in store.claim("w", 10, 30)] == [j.id for j in low[1:]]
    assert store.claim("w", 10, 30) == []


def test_delayed_job_waits_for_its_due_time(store: RedisJobStore) -> None:
    job = new_job(delay=0.3)
    store.create(job)
    assert store.claim("w", 1, 30) == []
    rec = store.get(job.id)
    assert rec is not None
    assert rec.due_at - rec.created_at == pytest.approx(0.3, abs=0.002)
    wait_until(lambda: bool(store.claim("w", 1, 30)))


def test_heartbeat_is_fenced_by_worker_and_attempt(store: RedisJobStore) -> None:
    store.create(new_job())
    [rec] = store.claim("w1", 1, 30)
    assert store.heartbeat("w1", {rec.id: 1}, 60) == {rec.id: LeaseState.HELD}
    renewed = store.get(rec.id)
    assert renewed is not None
    assert renewed.lease_until is not None
    assert renewed.lease_until - store.now() > 55
    assert store.heartbeat("w2", {rec.id: 1}, 60) == {rec.id: LeaseState.LOST}
    assert store.heartbeat("w1", {rec.id: 2}, 60) == {rec.id: LeaseState.LOST}
    assert store.cancel(rec.id)[0] is CancelOutcome.REQUESTED
    assert store.heartbeat("w1", {rec.id: 1}, 60) == {rec.id: LeaseState.CANCEL_REQUESTED}
    assert store.save_progress(rec.id, 1, Progress(percent=5)) is LeaseState.CANCEL_REQUESTED


def test_stale_attempt_is_rejected_after_lease_recovery(store: RedisJobStore) -> None:
    store.create(new_job())
    [zombie] = store.claim("w1", 1, 0.05)
    wait_until(lambda: bool(store.recover(3)))
    [fresh] = store.claim("w2", 1, 30)
    assert (fresh.id, fresh.attempts, fresh.recoveries) == (zombie.id, 2, 1)
    assert store.save_progress(zombie.id, 1, Progress(percent=99)) is LeaseState.LOST
    assert store.finish(zombie.id, 1, Finish(JobStatus.COMPLETED, result="zombie")) is None
    assert store.heartbeat("w1", {zombie.id: 1}, 30) == {zombie.id: LeaseState.LOST}
    done = store.finish(fresh.id, 2, Finish(JobStatus.COMPLETED, result="fresh"))
    assert done is not None
    assert done.result == "fresh"
    # exactly one terminal record: nothing can write over it
    assert store.finish(fresh.id, 2, Finish(JobStatus.FAILED, error=error(2))) is None
    final = store.get(fresh.id)
    assert final is not None
    assert (final.status, final.result) == (JobStatus.COMPLETED, "fresh")


def test_progress_is_saved_for_the_holder(store: RedisJobStore) -> None:
    store.create(new_job())
    [rec] = store.claim("w", 1, 30)
    progress = Progress(
        percent=42.5, message="parsing", step="csv", updated_at=datetime.now(timezone.utc)
    )
    assert store.save_progress(rec.id, 1, progress) is LeaseState.HELD
    got = store.get(rec.id)
    assert got is not None
    assert got.progress == progress


def test_retry_then_fail_records_every_error(store: RedisJobStore) -> None:
    store.create(new_job())
    [rec] = store.claim("w", 1, 30)
    retry = store.finish(rec.id, 1, Finish(JobStatus.RETRYING, error=error(1), retry_in=0.2))
    assert retry is not None
    assert retry.status is JobStatus.RETRYING
    assert retry.worker_id is None
    assert store.claim("w", 1, 30) == []
    wait_until(lambda: store.get(rec.id) is not None and bool(store.claim("w", 1, 30)))
    failed = store.finish(rec.id, 2, Finish(JobStatus.FAILED, error=error(2)))
    assert failed is not None
    assert [e.attempt for e in failed.errors] == [1, 2]
    assert failed.status is JobStatus.FAILED
    assert failed.finished_at is not None


def test_release_at_shutdown_requeues_without_charging(store: RedisJobStore) -> None:
    store.create(new_job())
    [rec] = store.claim("w", 1, 30)
    released = store.finish(rec.id, 1, Finish(JobStatus.QUEUED))
    assert released is not None
    assert (released.status, released.failures) == (JobStatus.QUEUED, 0)
    [again] = store.claim("w2", 1, 30)
    assert again.attempts == 2


def test_cancel_outcomes(store: RedisJobStore) -> None:
    waiting, running, done = new_job(priority=1), new_job(priority=9), new_job(priority=8)
    store.create_many([waiting, running, done])
    run_rec, done_rec = store.claim("w", 2, 30)
    store.finish(done_rec.id, 1, Finish(JobStatus.COMPLETED))
    assert store.cancel("nope")[0] is CancelOutcome.NOT_FOUND
    outcome, rec = store.cancel(waiting.id)
    assert outcome is CancelOutcome.CANCELLED
    assert rec is not None
    assert rec.status is JobStatus.CANCELLED
    assert rec.finished_at is not None
    assert store.claim("w", 5, 30) == []  # a cancelled waiting job never starts
    outcome, rec = store.cancel(run_rec.id)
    assert outcome is CancelOutcome.REQUESTED
    assert rec is not None
    assert rec.cancel_requested
    assert store.cancel(done.id)[0] is CancelOutcome.ALREADY_FINISHED
    ended = store.finish(run_rec.id, 1, Finish(JobStatus.CANCELLED))
    assert ended is not None
    assert not ended.cancel_requested


def test_recover_requeues_then_fails_lost_jobs(store: RedisJobStore) -> None:
    store.create(new_job())
    [rec] = store.claim("w", 1, 0.02)
    wait_until(lambda: bool(store.recover(1)))
    requeued = store.get(rec.id)
    assert requeued is not None
    assert (requeued.status, requeued.recoveries) == (JobStatus.QUEUED, 1)
    [rec] = store.claim("w", 1, 0.02)
    wait_until(lambda: bool(store.recover(1)))
    final = store.get(rec.id)
    assert final is not None
    assert (final.status, final.recoveries, final.attempts) == (JobStatus.FAILED, 1, 2)
    assert final.errors[-1].type == "threadjobs.LostWorker"
    assert "2 times" in final.errors[-1].message


def test_recover_cancels_a_job_whose_cancel_was_requested(store: RedisJobStore) -> None:
    store.create(new_job())
    [rec] = store.claim("w", 1, 0.02)
    store.cancel(rec.id)
    wait_until(lambda: bool(store.recover(3)))
    final = store.get(rec.id)
    assert final is not None
    assert final.status is JobStatus.CANCELLED


def test_list_jobs_pages_newest_first_per_account_and_status(store: RedisJobStore) -> None:
    jobs = [new_job(account_id=acct) for acct in [7, "7", 7, "7|x", 7, None]]
    store.create_many(jobs)
    store.claim("w", 1, 30)  # takes jobs[0]
    ids = [j.id for j in jobs]

    def pages(account: Any, status: JobStatus | None, size: int) -> list[list[str]]:
        out, cursor = [], None
        while True:
            page, cursor = store.list_jobs(account, status, size, cursor)
            out.append([r.id for r in page])
            if cursor is None:
                return out

    assert pages(None, None, 4) == [ids[::-1][:4], ids[::-1][4:]]
    assert pages(7, None, 2) == [[ids[4], ids[2]], [ids[0]]]
    assert pages("7", None, 5) == [[ids[1]]]
    assert pages("7|x", None, 5) == [[ids[3]]]
    assert pages(7, JobStatus.RUNNING, 5) == [[ids[0]]]
    assert pages(7, JobStatus.QUEUED, 1) == [[ids[4]], [ids[2]]]
    assert pages("nobody", None, 3) == [[]]


def test_counts_and_recent_counts(store: RedisJobStore) -> None:
    store.create_many(
        [new_job(account_id="a"), new_job(account_id="a", job_type="other"), new_job(account_id=3)]
    )
    [rec] = store.claim("w", 1, 30)
    store.finish(rec.id, 1, Finish(JobStatus.COMPLETED))
    assert store.counts()[JobStatus.QUEUED] == 2
    assert store.counts()[JobStatus.COMPLETED] == 1
    assert store.counts("a") == {
        **dict.fromkeys(JobStatus, 0),
        JobStatus.QUEUED: 1,
        JobStatus.COMPLETED: 1,
    }
    assert store.recent_counts("a") == {
        "echo": {JobStatus.QUEUED: 1, JobStatus.RUNNING: 1, JobStatus.COMPLETED: 1},
        "other": {JobStatus.QUEUED: 1},
    }
    assert store.recent_counts()["echo"][JobStatus.QUEUED] == 2
    assert store.recent_counts(3) == {"echo": {JobStatus.QUEUED: 1}}


def test_purge_removes_expired_jobs_and_their_traces(
    make_store: Callable[..., RedisJobStore], short_retention: Retention
) -> None:
    store = make_store(retention=short_retention)
    store.create_many([new_job(account_id="a", dedup_key="k"), new_job(account_id=1)])
    for rec in store.claim("w", 2, 30):
        store.finish(rec.id, 1, Finish(JobStatus.COMPLETED))
    wait_until(lambda: store.purge() > 0 or store.counts()[JobStatus.COMPLETED] == 0)
    store.purge()
    assert store.counts() == dict.fromkeys(JobStatus, 0)
    assert store.list_jobs(None, None, 10, None) == ([], None)
    client = store._client
    left = {k.decode() for k in client.keys(store.keys.base + "*")}
    # only the hourly stats (trimmed after 48 h) and unused wake-up tokens (10 s TTL) remain
    names = ("recent", "recent:fields", "recent:hours", "wake")
    assert left <= {store.keys.base + name for name in names}
    assert client.pttl(store.keys.wake) <= 10_000


def test_corrupt_job_hash_raises_corrupt_job_data(store: RedisJobStore) -> None:
    job = new_job()
    store.create(job)
    store._client.hset(store.keys.job(job.id), "params", "{not json")
    with pytest.raises(CorruptJobData, match=job.id):
        store.get(job.id)


def test_claim_with_wait_wakes_on_create_from_another_thread(store: RedisJobStore) -> None:
    got: list[list[JobRecord]] = []
    started = threading.Event()

    def waiter() -> None:
        started.set()
        got.append(store.claim("w", 1, 30, wait=4.0))

    thread = threading.Thread(target=waiter)
    thread.start()
    started.wait()
    time.sleep(0.05)  # let the waiter enter BLPOP; a late entry only makes the test pass later
    t0 = time.monotonic()
    job = new_job()
    store.create(job)
    thread.join(3.0)
    assert [[rec.id for rec in recs] for recs in got] == [[job.id]]
    assert time.monotonic() - t0 < 1.0


def test_finish_resent_after_a_lost_reply_answers_like_the_first(store: RedisJobStore) -> None:
    store.create(new_job())
    [rec] = store.claim("w", 1, 30)
    keys = store._job_keys(rec.id)
    args = [*store._common_args(), "1|completed|0|nonce1", '"r"', ""]
    first = store._script("test", "FINISH", keys, args)
    second = store._script("test", "FINISH", keys, args)
    assert first[0] == second[0] == b"1"
    args[1] = "1|completed|0|other"
    assert store._script("test", "FINISH", keys, args) == [b"0"]


def test_every_script_call_uses_keys_of_one_cluster_slot(
    store: RedisJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.crc import key_slot

    seen: list[tuple[str, list[Any]]] = []
    real = store._script

    def spy(action: str, name: str, keys: list[Any], args: list[Any], **kw: Any) -> Any:
        seen.append((name, keys))
        return real(action, name, keys, args, **kw)

    monkeypatch.setattr(store, "_script", spy)
    store.now()
    store.create_many([new_job(account_id="a", dedup_key="x"), new_job(delay=10)])
    [rec] = store.claim("w", 1, 30)
    store.heartbeat("w", {rec.id: 1}, 30)
    store.save_progress(rec.id, 1, Progress())
    store.finish(rec.id, 1, Finish(JobStatus.COMPLETED))
    store.create(new_job(account_id="a"))
    [nxt] = store.claim("w", 1, 30)
    store.create(new_job(account_id="a"))
    done, [third] = store.finish_and_claim(
        nxt.id, 1, Finish(JobStatus.RETRYING, retry_in=5, error=error(1)), "w", 1, 30
    )
    assert done is not None and done.status is JobStatus.RETRYING and third.attempts == 1
    store.cancel(rec.id)
    store.recover(3)
    store.purge()
    store.recent_counts("a")
    assert {name for name, _ in seen} >= {
        "TIME",
        "CREATE",
        "CLAIM",
        "HEARTBEAT",
        "PROGRESS",
        "FINISH",
        "FINISH_CLAIM",
        "CANCEL",
        "RECOVER",
        "PURGE",
        "RECENT",
    }
    slots = {key_slot(k if isinstance(k, bytes) else k.encode()) for _, ks in seen for k in ks}
    assert slots == {key_slot(store.keys.job("x").encode())}
    # the scripts name the other queue keys from the base in their first argument
    base = store._common_args()[0].rsplit(b"|", 1)[1]
    assert base == store.keys.base.encode()
    assert {key_slot(k.encode()) for k in store.keys.fixed} == slots
    # the status-changing scripts declare the guard last, and nothing ever writes it
    changing = {"CREATE", "CLAIM", "FINISH", "FINISH_CLAIM", "CANCEL", "RECOVER", "PURGE"}
    guard = store.keys.guard.encode()
    assert all(keys[-1] == guard for name, keys in seen if name in changing)
    assert not store._client.exists(guard)


def test_a_script_call_without_the_guard_key_is_refused_before_it_writes(
    store: RedisJobStore,
) -> None:
    store.create(new_job())
    args = [*store._common_args(), store._args.claim("w", 1, 30)[0]]
    with pytest.raises(StoreError, match="guard key"):
        store._script("claiming jobs", "CLAIM", [store.keys.ready], args)
    assert store.counts()[JobStatus.QUEUED] == 1
    assert len(store.claim("w", 1, 30)) == 1


def test_unreachable_redis_raises_store_unavailable(unused_port: int) -> None:
    store = RedisJobStore.from_url(f"redis://127.0.0.1:{unused_port}/0", socket_connect_timeout=0.2)
    with pytest.raises(StoreUnavailable) as info:
        store.create(new_job())
    assert isinstance(info.value, StoreError)
    assert info.value.__cause__ is not None
    t0 = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.claim("w", 1, 30, wait=0.2)
    assert time.monotonic() - t0 < 2
