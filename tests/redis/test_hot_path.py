"""The per-job hot path of RedisJobStore: one script per transition, few commands, tokens.

Runs on fakeredis and on the real redis-server, like test_store.py.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from threadjobs import StoreError
from threadjobs._models import JobStatus
from threadjobs._store import Finish
from threadjobs.stores._redis import RedisJobStore
from threadjobs.stores._redis_codec import config_values

from .test_store import error, new_job


def spy_scripts(store: RedisJobStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the name of every script the store runs."""
    names: list[str] = []
    real = store._script

    def spy(action: str, name: str, keys: list[Any], args: list[Any], **kw: Any) -> Any:
        names.append(name)
        return real(action, name, keys, args, **kw)

    monkeypatch.setattr(store, "_script", spy)
    return names


def test_finish_and_claim_is_one_script_call(
    store: RedisJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create_many([new_job(priority=1), new_job(priority=9)])
    [first] = store.claim("w", 1, 30)
    assert first.priority == 9
    names = spy_scripts(store, monkeypatch)
    done, [nxt] = store.finish_and_claim(
        first.id, 1, Finish(JobStatus.COMPLETED, result={"x": 1}), "w", 1, 30
    )
    assert names == ["FINISH_CLAIM"]
    assert done is not None and (done.status, done.result) == (JobStatus.COMPLETED, {"x": 1})
    assert (nxt.status, nxt.attempts, nxt.worker_id) == (JobStatus.RUNNING, 1, "w")
    assert store.counts()[JobStatus.RUNNING] == 1
    assert store.counts()[JobStatus.COMPLETED] == 1


def test_finish_and_claim_is_fenced_and_still_claims(store: RedisJobStore) -> None:
    store.create_many([new_job(), new_job()])
    [rec] = store.claim("w", 1, 30)
    # a stale attempt: nothing written, the claim still happens
    rejected, [other] = store.finish_and_claim(
        rec.id, 2, Finish(JobStatus.FAILED, error=error(2)), "w", 1, 30
    )
    assert rejected is None
    current = store.get(rec.id)
    assert current is not None and current.status is JobStatus.RUNNING and current.errors == []
    assert other.id != rec.id and other.status is JobStatus.RUNNING


def test_finish_and_claim_resent_after_a_lost_reply_answers_like_the_first(
    store: RedisJobStore,
) -> None:
    store.create(new_job())
    [rec] = store.claim("w", 1, 30)
    keys = store._job_keys(rec.id)
    args = [*store._common_args(), "1|completed|0|n1", '"r"', "", "1|30000|500|0|c1|w"]
    first = json.loads(store._script("test", "FINISH_CLAIM", keys, args))
    second = json.loads(store._script("test", "FINISH_CLAIM", keys, args))
    assert (first[2], second[2]) == ("1", "dup")
    assert first[3] == second[3]  # the same job values, answered twice
    args[1] = "1|completed|0|other"
    assert json.loads(store._script("test", "FINISH_CLAIM", keys, args))[2:4] == ["0", 0]


@pytest.mark.parametrize("name", ["CLAIM", "FINISH_CLAIM"])
def test_a_claim_resent_after_a_lost_reply_hands_back_the_same_jobs(
    store: RedisJobStore, name: str
) -> None:
    jobs = [new_job() for _ in range(5)]
    store.create_many(jobs)
    [held] = store.claim("w", 1, 30)
    keys = store._job_keys(held.id)
    head = [*store._common_args()]
    if name == "FINISH_CLAIM":
        head += ["1|completed|0|n7", '"r"', ""]
    sent = json.loads(store._script("t", name, keys, [*head, "2|30000|500|0|c7|w"]))
    # the reply was lost; the same call again, marked as a resend
    again = json.loads(store._script("t", name, keys, [*head, "2|30000|500|1|c7|w"]))
    assert [v[0] for v in sent[5:]] == [v[0] for v in again[5:]] == [j.id for j in jobs[1:3]]
    assert store.counts()[JobStatus.QUEUED] == 2, "the resend took no more jobs"
    # a resend whose first send never ran (or claimed nothing) claims as usual
    fresh = json.loads(
        store._script("t", "CLAIM", store._fixed, [*store._common_args(), "1|30000|500|1|c8|w"])
    )
    assert [v[0] for v in fresh[5:]] == [jobs[3].id]
    # a job since taken over by another worker is not handed back
    store._client.hset(store.keys.job(jobs[1].id), "worker", "other")
    again = json.loads(store._script("t", name, keys, [*head, "2|30000|500|1|c7|w"]))
    assert [v[0] for v in again[5:]] == [jobs[2].id]


def test_a_claim_that_empties_the_queue_drops_spare_wake_tokens(store: RedisJobStore) -> None:
    store.create_many([new_job() for _ in range(5)])
    client = store._client
    assert client.llen(store.keys.wake) == 5
    assert len(store.claim("w", 2, 30)) == 2  # jobs left: the tokens stay
    assert client.llen(store.keys.wake) == 5
    assert len(store.claim("w", 10, 30)) == 3  # the queue is empty: no token means work
    assert client.llen(store.keys.wake) == 0
    store.create(new_job())
    assert client.llen(store.keys.wake) == 1


def test_a_claim_that_finds_the_queue_empty_sends_no_token_cleanup(store: RedisJobStore) -> None:
    client = store._client
    client.lpush(store.keys.wake, "1")  # a token whose job was cancelled meanwhile
    assert store.claim("w", 4, 30) == []  # an idle poll: no DEL (a command per poll)
    assert client.llen(store.keys.wake) == 1


def test_ready_jobs_without_a_token_get_one(store: RedisJobStore) -> None:
    """A worker sends BLPOP right behind a finish or a claim: with jobs ready, a token must
    be there, or it would wait a whole poll interval with work in the queue."""
    client = store._client
    store.create_many([new_job() for _ in range(3)])
    client.delete(store.keys.wake)  # tokens lost: trimmed at the cap, or expired
    [first] = store.claim("w", 1, 30)
    assert client.llen(store.keys.wake) == 1  # jobs are left: one token announces them
    client.delete(store.keys.wake)
    assert store.finish(first.id, 1, Finish(JobStatus.COMPLETED)) is not None
    assert client.llen(store.keys.wake) == 1
    assert len(store.claim("w", 1, 30)) == 1
    assert client.llen(store.keys.wake) == 1  # one job left: still announced
    assert len(store.claim("w", 1, 30)) == 1
    assert client.llen(store.keys.wake) == 0  # the queue is empty: no token


def test_counters_stay_exact_through_batched_updates(store: RedisJobStore) -> None:
    jobs = [new_job(account_id="a" if i % 2 else None, job_type="t") for i in range(20)]
    store.create_many(jobs)
    recs = store.claim("w", 20, 30)
    done, more = store.finish_and_claim(recs[0].id, 1, Finish(JobStatus.COMPLETED), "w", 5, 30)
    assert done is not None and more == []
    for rec in recs[1:5]:
        store.finish(rec.id, 1, Finish(JobStatus.RETRYING, retry_in=0, error=error(1)))
    counts = store.counts()
    assert counts[JobStatus.COMPLETED] == 1
    assert counts[JobStatus.RETRYING] == 4
    assert counts[JobStatus.RUNNING] == 15
    assert (store.counts("a")[JobStatus.RUNNING], store.counts("a")[JobStatus.RETRYING]) == (8, 2)
    recent = store.recent_counts()["t"]
    assert recent[JobStatus.QUEUED] == 20 and recent[JobStatus.RUNNING] == 20
    assert recent[JobStatus.COMPLETED] == 1 and recent[JobStatus.RETRYING] == 4
    assert store.recent_counts("a")["t"][JobStatus.QUEUED] == 10


def test_maxmemory_policy_warning_is_logged_once(
    store: RedisJobStore, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        store._client, "config_get", lambda name: {name: "allkeys-lru"}, raising=False
    )
    with caplog.at_level(logging.WARNING, logger="threadjobs"):
        store.claim("w", 1, 30)
        store.claim("w", 1, 30)
    warnings = [r for r in caplog.records if "maxmemory-policy" in r.getMessage()]
    assert len(warnings) == 1 and "allkeys-lru" in warnings[0].getMessage()


def test_maxmemory_check_is_silent_when_config_is_refused(
    store: RedisJobStore, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(name: str) -> Any:
        raise PermissionError("NOPERM")

    monkeypatch.setattr(store._client, "config_get", refused, raising=False)
    with caplog.at_level(logging.DEBUG, logger="threadjobs"):
        assert store.claim("w", 1, 30) == []
    assert not [r for r in caplog.records if "maxmemory" in r.getMessage()]


def test_config_values_reads_standalone_and_cluster_replies() -> None:
    name = "maxmemory-policy"
    assert list(config_values({b"maxmemory-policy": b"noeviction"}, name)) == ["noeviction"]
    per_node = {"a:1": {name: "allkeys-lru"}, "b:2": {name: "noeviction"}}
    assert sorted(config_values(per_node, name)) == ["allkeys-lru", "noeviction"]
    assert list(config_values(None, name)) == []


def test_bulk_create_streams_chunks_and_survives_a_flushed_script_cache(
    store: RedisJobStore,
) -> None:
    store._client.script_flush()  # the first streamed call answers NOSCRIPT
    jobs = [new_job() for _ in range(620)]  # three CREATE calls on one connection
    jobs[400] = new_job(dedup_key="d")
    jobs[610] = new_job(dedup_key="d")
    out = store.create_many(jobs)
    assert out[:610] == [(job.id, True) for job in jobs[:610]]
    assert out[610] == (jobs[400].id, False)
    assert store.counts()[JobStatus.QUEUED] == 619
    assert store.create_many(jobs)[:2] == [(jobs[0].id, True), (jobs[1].id, True)]  # resend
    assert store.counts()[JobStatus.QUEUED] == 619


def test_bulk_create_sends_nothing_when_one_job_is_invalid(store: RedisJobStore) -> None:
    jobs = [new_job() for _ in range(600)]
    jobs[550] = new_job(params={"bad": object()})
    with pytest.raises(StoreError, match="JSON"):
        store.create_many(jobs)
    assert store.counts()[JobStatus.QUEUED] == 0
