"""Waiting for work: ``claim(wait=...)`` and ``finish_and_claim(wait=..., on_finished=...)``.

On the lane, a waiting claim is ``BLPOP`` + ``CLAIM`` in one write, and a finish that
waits for the next job is ``FINISH`` + ``BLPOP`` + ``CLAIM``. What must hold whatever
breaks: the finish is reported (once) before the wait, a connection lost anywhere in the
chain neither loses nor strands a job (the finish is idempotent, a resent claim hands
back what the first one took), and a flushed library or script cache is reloaded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from threadjobs._models import JobStatus
from threadjobs._store import Finish, JobRecord
from threadjobs.stores._redis import RedisJobStore
from threadjobs.stores._redis_lane import _Conn

from .conftest import RedisServer, redis
from .test_store import new_job


def blocked_in_blpop(store: RedisJobStore) -> bool:
    return any(c.get("cmd") == "blpop" for c in store._client.client_list())


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        done.wait(0.01)  # polling a condition Redis reports, not guessing a duration
    raise AssertionError("condition not reached")


def test_a_waiting_claim_blocks_in_redis_and_takes_the_job_created(
    store: RedisJobStore, backend: str
) -> None:
    got: list[list[JobRecord]] = []
    thread = threading.Thread(target=lambda: got.append(store.claim("w", 1, 30, wait=4.0)))
    thread.start()
    if backend != "fakeredis":  # fakeredis has no CLIENT LIST of blocked clients
        wait_until(lambda: blocked_in_blpop(store))
    job = new_job()
    store.create(job)
    thread.join(10)
    assert [[r.id for r in recs] for recs in got] == [[job.id]]
    assert store.get(job.id).status is JobStatus.RUNNING  # type: ignore[union-attr]


def test_a_finish_that_waits_reports_first_then_takes_the_next_job(
    store: RedisJobStore, backend: str
) -> None:
    first, second = new_job(), new_job()
    store.create(first)
    [rec] = store.claim("w", 1, 30)
    reports: list[JobRecord | None] = []
    out: list[tuple[JobRecord | None, list[JobRecord]]] = []

    def worker() -> None:
        out.append(
            store.finish_and_claim(
                rec.id, 1, Finish(JobStatus.COMPLETED), "w", 1, 30, 4.0, reports.append
            )
        )

    thread = threading.Thread(target=worker)
    thread.start()
    wait_until(lambda: bool(reports))
    if backend != "fakeredis":
        wait_until(lambda: blocked_in_blpop(store))
    store.create(second)
    thread.join(10)
    [(done, more)] = out
    assert len(reports) == 1 and reports[0] is not None and reports[0].id == first.id
    assert done is not None and done.status is JobStatus.COMPLETED
    assert [r.id for r in more] == [second.id]


def test_a_finish_that_waits_with_jobs_ready_does_not_wait(store: RedisJobStore) -> None:
    """Tokens were lost (expired, trimmed): the finish leaves one, so BLPOP returns at once."""
    jobs = [new_job() for _ in range(3)]
    store.create_many(jobs)
    [rec] = store.claim("w", 1, 30)
    store._client.delete(store.keys.wake)
    # a wait far longer than the test's timeout: were it not cut short, the test would hang
    done, more = store.finish_and_claim(rec.id, 1, Finish(JobStatus.COMPLETED), "w", 1, 30, 4.0)
    assert done is not None and [r.id for r in more] == [jobs[1].id]


@pytest.mark.parametrize("lost_at", [0, 1, 2])
def test_a_connection_lost_in_the_chain_loses_and_strands_nothing(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, lost_at: int
) -> None:
    """The connection breaks after Redis ran everything, but before the caller read reply
    ``lost_at`` (0: the finish's, 1: BLPOP's, 2: the claim's)."""
    store = RedisJobStore.from_url(redis_server.url, queue=f"chain{lost_at}")
    jobs = [new_job() for _ in range(3)]
    store.create_many(jobs)
    [rec] = store.claim("w", 1, 30)  # also loads the library
    real_read = _Conn.read
    reads: list[int] = []

    def lose_a_reply(self: _Conn) -> Any:
        reply = real_read(self)
        reads.append(1)
        if len(reads) == lost_at + 1:
            raise redis.exceptions.ConnectionError("connection reset")
        return reply

    reports: list[JobRecord | None] = []
    with monkeypatch.context() as patch:
        patch.setattr(_Conn, "read", lose_a_reply)
        done, more = store.finish_and_claim(
            rec.id, 1, Finish(JobStatus.COMPLETED, result=7), "w", 1, 30, 4.0, reports.append
        )
    assert done is not None and done.result == 7, "the resent finish answers like the first"
    assert len(reports) == 1 and reports[0] is not None and reports[0].result == 7
    assert [r.id for r in more] == [jobs[1].id], "the resent claim hands back what was taken"
    counts = store.counts()
    assert (counts[JobStatus.COMPLETED], counts[JobStatus.RUNNING]) == (1, 1)
    assert counts[JobStatus.QUEUED] == 1  # jobs[2]: nothing stranded
    store.close()


def test_a_flushed_library_in_the_chain_is_loaded_again(redis_server: RedisServer) -> None:
    store = RedisJobStore.from_url(redis_server.url, queue="chainflush")
    admin = redis.Redis.from_url(redis_server.url)
    jobs = [new_job() for _ in range(2)]
    store.create_many(jobs)
    [rec] = store.claim("w", 1, 30)
    admin.function_flush()
    admin.script_flush()
    # the chain's calls fail and its BLPOP waits (short here); then it goes again
    done, more = store.finish_and_claim(rec.id, 1, Finish(JobStatus.COMPLETED), "w", 1, 30, 0.2)
    assert done is not None and [r.id for r in more] == [jobs[1].id]
    assert store._calls.functions is None or store._calls.functions
    admin.function_flush()
    assert store.claim("w", 1, 30, wait=0.05) == []  # the waiting claim recovers too
    store.close()
    admin.close()


def test_behind_a_backlog_a_finish_claims_in_one_script_and_waits_only_when_dry(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With jobs left in the ready queue a wait would end at once, and FINISH + BLPOP +
    CLAIM cost Redis more than one FINISH_CLAIM: the store chains only when it ran dry."""
    store = RedisJobStore.from_url(redis_server.url, queue="backlog")
    jobs = [new_job() for _ in range(3)]
    store.create_many(jobs)
    chains: list[str] = []
    real_chain = store._finish_wait_claim

    def spy(job_id: str, *args: Any) -> Any:
        chains.append(job_id)
        return real_chain(job_id, *args)

    monkeypatch.setattr(store, "_finish_wait_claim", spy)
    [rec] = store.claim("w", 1, 30)
    assert store._backlog  # two jobs left
    done = Finish(JobStatus.COMPLETED)
    _, [second] = store.finish_and_claim(rec.id, 1, done, "w", 1, 30, 4.0)
    assert chains == [] and second.id == jobs[1].id and store._backlog  # one left
    _, [third] = store.finish_and_claim(second.id, 1, done, "w", 1, 30, 4.0)
    assert chains == [] and third.id == jobs[2].id and not store._backlog  # none left
    _, more = store.finish_and_claim(third.id, 1, done, "w", 1, 30, 0.2)
    assert chains == [third.id] and more == []  # dry: the chain, whose wait times out
    assert store.counts()[JobStatus.COMPLETED] == 3
    store.close()
