"""Submitting: validation before storage, dedup keys, bulk submit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

import threadjobs
from threadjobs import (
    ConfigurationError,
    Handler,
    InvalidParams,
    JobContext,
    JobManager,
    JobStatus,
    ManagerClosed,
    MemoryJobStore,
    SubmitError,
    UnknownJobType,
)

from .handlers import Echo, NParams


class AnyParams(BaseModel):
    payload: Any = None


class AnyHandler(Handler[AnyParams]):
    job_type = "any"

    def run(self, ctx: JobContext, params: AnyParams) -> None:
        return None


def _stored(store: MemoryJobStore) -> int:
    return sum(store.counts().values())


@pytest.fixture
def store() -> MemoryJobStore:
    return MemoryJobStore()


@pytest.fixture
def manager(make_manager: Callable[..., JobManager], store: MemoryJobStore) -> JobManager:
    # a producer-only manager: nothing runs, so what was stored stays visible
    return make_manager(Echo(), AnyHandler(), store=store, max_workers=0)


def test_unknown_job_type_names_the_registered_ones(
    manager: JobManager, store: MemoryJobStore
) -> None:
    with pytest.raises(UnknownJobType, match=r"'nope'.*any, echo") as info:
        manager.submit("nope")
    assert info.value.field == "job_type"
    assert isinstance(info.value, KeyError)
    assert _stored(store) == 0


def test_invalid_params_name_the_field(manager: JobManager, store: MemoryJobStore) -> None:
    with pytest.raises(InvalidParams, match=r"params\.n") as info:
        manager.submit("echo", params={"n": "many"})
    assert info.value.field == "params.n"
    assert info.value.errors[0]["type"] == "int_parsing"
    assert _stored(store) == 0


def test_params_that_are_not_json_are_refused(manager: JobManager, store: MemoryJobStore) -> None:
    with pytest.raises(InvalidParams, match="JSON"):
        manager.submit("any", params={"payload": object()})
    assert _stored(store) == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"priority": 11}, "priority"),
        ({"priority": -1}, "priority"),
        ({"priority": True}, "priority"),
        ({"priority": 2.5}, "priority"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": "10"}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 101}, "max_retries"),
        ({"delay": -0.5}, "delay"),
        ({"delay": float("nan")}, "delay"),
        ({"dedup_key": ""}, "dedup_key"),
        ({"account_id": 1.5}, "account_id"),
    ],
)
def test_bad_options_name_the_field(
    manager: JobManager, store: MemoryJobStore, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(SubmitError) as info:
        manager.submit("echo", **kwargs)
    assert info.value.field == field
    assert field in str(info.value)
    assert _stored(store) == 0


def test_params_are_stored_normalised(manager: JobManager) -> None:
    job_id = manager.submit("echo", account_id=7, params={"n": "42"}, priority=9, timeout=3)
    job = manager.get(job_id)
    assert job.params == {"n": 42}
    assert (job.account_id, job.priority, job.timeout, job.status) == (7, 9, 3.0, JobStatus.QUEUED)
    assert job.max_retries == Echo.max_retries


def test_params_may_be_the_model_itself(manager: JobManager) -> None:
    job_id = manager.submit("echo", params=NParams(n=3))
    assert manager.get(job_id).params == {"n": 3}


def test_dedup_key_returns_the_unfinished_job(manager: JobManager, store: MemoryJobStore) -> None:
    first = manager.submit("echo", dedup_key="upload-42")
    assert manager.submit("echo", dedup_key="upload-42") == first
    assert _stored(store) == 1
    manager.cancel(first)
    assert manager.submit("echo", dedup_key="upload-42") != first


def test_submit_many_validates_everything_first(manager: JobManager, store: MemoryJobStore) -> None:
    with pytest.raises(InvalidParams, match=r"params_list\[2\]\.n"):
        manager.submit_many("echo", [{"n": 1}, {"n": 2}, {"n": "x"}])
    assert _stored(store) == 0
    ids = manager.submit_many("echo", [{"n": i} for i in range(5)], account_id=3)
    assert len(set(ids)) == 5
    assert [j.params["n"] for j in manager.list_jobs(3).jobs] == [4, 3, 2, 1, 0]


def test_ids_sort_in_submit_order(manager: JobManager) -> None:
    ids = [manager.submit("echo") for _ in range(50)]
    assert ids == sorted(ids)


def test_register_rejects_mistakes(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(max_workers=0)
    with pytest.raises(ConfigurationError, match="instance"):
        manager.register(Echo)  # type: ignore[arg-type]

    class NoType(Handler[NParams]):
        def run(self, ctx: JobContext, params: NParams) -> None:
            return None

    with pytest.raises(ConfigurationError, match="job_type"):
        manager.register(NoType())

    class NoModel(Handler):
        job_type = "no_model"

        def run(self, ctx: JobContext, params: NParams) -> None:  # type: ignore[override]
            return None

    with pytest.raises(ConfigurationError, match="params model"):
        manager.register(NoModel())

    class BadTimeout(Echo):
        timeout = -1

    with pytest.raises(ConfigurationError, match="timeout"):
        manager.register(BadTimeout())
    manager.register(Echo())
    with pytest.raises(ConfigurationError, match="already registered"):
        manager.register(Echo())
    assert manager.job_types == ["echo"]


def test_manager_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="max_workers"):
        JobManager(max_workers=-1)
    with pytest.raises(ConfigurationError, match="heartbeat_interval"):
        JobManager(lease=1, heartbeat_interval=2)


def test_a_closed_manager_refuses_work(make_manager: Callable[..., JobManager]) -> None:
    manager = make_manager(Echo())
    manager.shutdown()
    with pytest.raises(ManagerClosed):
        manager.submit("echo")


def test_every_error_is_a_threadjobs_error() -> None:
    errors = [
        obj
        for name in threadjobs.__all__
        if isinstance(obj := getattr(threadjobs, name), type) and issubclass(obj, BaseException)
    ]
    assert len(errors) > 10
    assert all(issubclass(e, threadjobs.ThreadJobsError) for e in errors)
