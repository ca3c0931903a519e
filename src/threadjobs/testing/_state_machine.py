"""A hypothesis state machine over a JobStore: random operations, invariants after each.

It drives create / claim / renew / progress / finish and finish-and-claim (with current
and stale attempts, with and without a wait) / cancel / crash (a lease that lapses) /
recover, keeps a model of what each job should be, and checks after every step:

* every job is in exactly one state, and the store's counters agree with the model;
* terminal states are final;
* attempts only grow;
* a running job is held by exactly one worker and attempt, and writes from any other
  attempt are rejected.

Use it from a test module::

    TestMyStore = make_state_machine(lambda: MyStore()).TestCase
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .._errors import MissingDependency
from .._models import AttemptError, JobStatus, Progress
from .._store import CancelOutcome, Finish, JobRecord, JobStore, LeaseState
from ._conformance import new_job

__all__ = ["make_state_machine"]

LONG = 3600.0
_RUN_ENDINGS = (
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.RETRYING,
    JobStatus.QUEUED,
    JobStatus.CANCELLED,
)


@dataclasses.dataclass
class _Expected:
    status: JobStatus = JobStatus.QUEUED
    attempts: int = 0
    holder: str | None = None
    expired: bool = False  # claimed with a lease that has already lapsed
    cancel_requested: bool = False
    failures: int = 0


def make_state_machine(make_store: Callable[[], JobStore]) -> Any:
    """Build a ``RuleBasedStateMachine`` class checking stores from ``make_store``.

    Raises:
        MissingDependency: hypothesis is not installed.
    """
    try:
        from hypothesis import strategies as st
        from hypothesis.stateful import (
            Bundle,
            RuleBasedStateMachine,
            invariant,
            rule,
        )
    except ImportError as exc:  # pragma: no cover - hypothesis is in the dev extra
        raise MissingDependency(
            "the store state machine needs hypothesis: pip install hypothesis"
        ) from exc

    def error(attempt: int) -> AttemptError:
        return AttemptError(attempt=attempt, type="E", message="x", at=datetime.now(timezone.utc))

    class StoreStateMachine(RuleBasedStateMachine):
        jobs = Bundle("jobs")

        def __init__(self) -> None:
            super().__init__()
            self.store = make_store()
            self.model: dict[str, _Expected] = {}

        def teardown(self) -> None:
            self.store.close()

        @rule(target=jobs, priority=st.integers(0, 10))
        def create(self, priority: int) -> str:
            job = new_job(priority=priority, max_retries=2)
            job_id, created = self.store.create(job)
            assert created and job_id == job.id
            self.model[job_id] = _Expected()
            return job_id

        @rule(worker=st.sampled_from(["w1", "w2"]), limit=st.integers(1, 3), crash=st.booleans())
        def claim(self, worker: str, limit: int, crash: bool) -> None:
            # a "crash" claims with an already-lapsed lease, as if the worker died at once
            self._took(worker, self.store.claim(worker, limit, 0.0 if crash else LONG), crash)

        def _took(self, worker: str, claimed: list[JobRecord], crash: bool) -> None:
            for rec in claimed:
                expected = self.model[rec.id]
                assert expected.status in (JobStatus.QUEUED, JobStatus.RETRYING)
                assert rec.attempts == expected.attempts + 1
                expected.status, expected.attempts = JobStatus.RUNNING, rec.attempts
                expected.holder, expected.expired = worker, crash
                expected.cancel_requested = False

        @rule(job_id=jobs, stale=st.booleans(), status=st.sampled_from(_RUN_ENDINGS))
        def finish(self, job_id: str, stale: bool, status: JobStatus) -> None:
            attempt, outcome = self._ending(job_id, stale, status)
            self._ended(job_id, stale, status, self.store.finish(job_id, attempt, outcome))

        @rule(
            job_id=jobs,
            stale=st.booleans(),
            status=st.sampled_from(_RUN_ENDINGS),
            worker=st.sampled_from(["w1", "w2"]),
            wait=st.sampled_from([0.0, 0.001]),
        )
        def finish_and_claim(
            self, job_id: str, stale: bool, status: JobStatus, worker: str, wait: float
        ) -> None:
            attempt, outcome = self._ending(job_id, stale, status)
            reported: list[JobRecord | None] = []
            result, claimed = self.store.finish_and_claim(
                job_id, attempt, outcome, worker, 1, LONG, wait, reported.append
            )
            assert reported == [result], "on_finished is called once, with the finish's result"
            self._ended(job_id, stale, status, result)
            assert len(claimed) <= 1
            self._took(worker, claimed, crash=False)

        def _ending(self, job_id: str, stale: bool, status: JobStatus) -> tuple[int, Finish]:
            expected = self.model[job_id]
            attempt = expected.attempts - 1 if stale else expected.attempts
            failing = status in (JobStatus.FAILED, JobStatus.RETRYING)
            return attempt, Finish(status, error=error(attempt) if failing else None, retry_in=LONG)

        def _ended(
            self, job_id: str, stale: bool, status: JobStatus, result: JobRecord | None
        ) -> None:
            expected = self.model[job_id]
            attempt = expected.attempts - 1 if stale else expected.attempts
            failing = status in (JobStatus.FAILED, JobStatus.RETRYING)
            held = expected.status is JobStatus.RUNNING and not stale
            if not held:
                assert result is None, f"write from attempt {attempt} accepted on {expected}"
                return
            if result is None:
                # the lease lapsed and another path got there first: not allowed here,
                # since only recover() moves lapsed jobs and it has not run
                raise AssertionError(f"current holder rejected for {job_id}")
            expected.status, expected.holder = status, None
            expected.failures += failing
            expected.cancel_requested = False

        @rule(job_id=jobs)
        def cancel(self, job_id: str) -> None:
            expected = self.model[job_id]
            outcome, _ = self.store.cancel(job_id)
            if expected.status.is_terminal:
                assert outcome is CancelOutcome.ALREADY_FINISHED
            elif expected.status is JobStatus.RUNNING:
                assert outcome is CancelOutcome.REQUESTED
                expected.cancel_requested = True
            else:
                assert outcome is CancelOutcome.CANCELLED
                expected.status = JobStatus.CANCELLED

        @rule(job_id=jobs, stale=st.booleans())
        def progress(self, job_id: str, stale: bool) -> None:
            expected = self.model[job_id]
            attempt = expected.attempts - 1 if stale else expected.attempts
            state = self.store.save_progress(job_id, attempt, Progress(percent=50))
            if expected.status is not JobStatus.RUNNING or stale:
                assert state is LeaseState.LOST
            else:
                want = LeaseState.CANCEL_REQUESTED if expected.cancel_requested else LeaseState.HELD
                assert state is want

        @rule(job_id=jobs)
        def heartbeat(self, job_id: str) -> None:
            expected = self.model[job_id]
            if expected.status is not JobStatus.RUNNING or expected.expired:
                return  # a dead worker sends no heartbeats
            assert expected.holder is not None
            state = self.store.heartbeat(expected.holder, {job_id: expected.attempts}, LONG)
            assert state[job_id] is not LeaseState.LOST

        @rule()
        def recover(self) -> None:
            changed = {rec.id: rec for rec in self.store.recover(max_recoveries=1)}
            for job_id, expected in self.model.items():
                if expected.status is JobStatus.RUNNING and expected.expired:
                    assert job_id in changed, f"lapsed lease of {job_id} not recovered"
                    expected.status = changed[job_id].status
                    assert expected.status in (
                        JobStatus.QUEUED,
                        JobStatus.FAILED,
                        JobStatus.CANCELLED,
                    )
                    if expected.cancel_requested:
                        assert expected.status is JobStatus.CANCELLED
                    expected.holder, expected.expired = None, False
                else:
                    assert job_id not in changed, f"live job {job_id} was recovered"

        @invariant()
        def store_matches_model(self) -> None:
            counts = self.store.counts()
            for status in JobStatus:
                want = sum(1 for e in self.model.values() if e.status is status)
                assert counts[status] == want, f"{status.value}: store {counts[status]} != {want}"
            for job_id, expected in self.model.items():
                rec = self.store.get(job_id)
                assert rec is not None
                assert rec.status is expected.status, f"{job_id}: {rec.status} != {expected}"
                assert rec.attempts == expected.attempts, "attempts only grow, one per claim"
                if expected.status is JobStatus.RUNNING:
                    assert rec.worker_id == expected.holder, "one holder per running job"
                else:
                    assert rec.worker_id is None

    return StoreStateMachine
