"""Running one claimed job: call the handler, turn what happened into a :class:`Finish`.

Nothing here touches the queue: the worker pool claims, the runner executes, the
worker pool records. Keeping the decision ("how did this attempt end?") in one pure-ish
place makes the rules easy to read and to test:

* the handler returned            -> completed (its result, made JSON-safe)
* it stopped because of a cancel  -> cancelled (never retried)
* ... because of shutdown         -> queued again, the attempt not charged
* ... because of its deadline     -> a JobTimedOut failure
* it raised anything else         -> a failure
* a failure is retried when the handler's ``should_retry`` agrees and retries remain.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import random
import threading
import traceback
from datetime import datetime, timezone
from typing import Any, NamedTuple

import pydantic
import pydantic_core

from . import _interrupt
from ._context import JobContext
from ._errors import (
    CorruptJobData,
    JobCancelled,
    JobInterrupted,
    JobTimedOut,
    WorkerShuttingDown,
)
from ._handler import Handler
from ._models import AttemptError, JobStatus
from ._store import Finish, JobRecord

__all__ = ["Run", "attempt_error", "decide", "execute"]


@dataclasses.dataclass(eq=False)
class Run:
    """One attempt of one job inside this process."""

    record: JobRecord
    ctx: JobContext
    handler: Handler[Any] | None
    #: set by whichever of the job's thread or the supervisor records the outcome first
    closed: bool = False
    #: the supervisor gave up on the thread and recorded the outcome itself
    abandoned: bool = False
    #: the store says this process no longer holds the job
    lost: bool = False
    #: the outcome was written (or refused) and reported; the run is forgotten
    recorded: bool = False
    stop_requested_at: float | None = None
    interrupted: bool = False
    loop: asyncio.AbstractEventLoop | None = None
    task: asyncio.Task[Any] | None = None

    @property
    def job_id(self) -> str:
        return self.record.id

    @property
    def attempt(self) -> int:
        return self.record.attempts

    def interrupt(self) -> None:
        """Best-effort hard stop: cancel the asyncio task, or inject into the thread."""
        with self.ctx.lock:
            if self.closed:
                return
            self.interrupted = True
            if self.loop is not None and self.task is not None:
                self.loop.call_soon_threadsafe(self.task.cancel)
            elif self.ctx.thread_id is not None:
                _interrupt.inject(self.ctx.thread_id)


class Outcome(NamedTuple):
    """What the handler call produced: a result, or the exception it ended with."""

    # a NamedTuple, not a frozen dataclass: one is built per job, and a frozen
    # dataclass's __init__ costs several times more

    result: Any = None
    exc: BaseException | None = None


def execute(run: Run) -> Outcome:
    """Call the handler of ``run`` in this thread and return what happened."""
    handler = run.handler
    if handler is None:
        return Outcome(
            exc=CorruptJobData(
                f"no handler is registered for job type {run.record.job_type!r} in this "
                "process; register it on every worker that shares this store"
            )
        )
    try:
        # the model's validator itself: what model_validate calls, minus its wrapper
        params = handler.params_model.__pydantic_validator__.validate_python(run.record.params)
    except pydantic.ValidationError as exc:
        return Outcome(exc=CorruptJobData(f"stored params no longer validate: {exc}"))
    try:
        return _call(run, handler, params)
    except _interrupt.HardInterrupt:
        # delivered late, just after the handler returned: the stop request stands
        return Outcome(exc=_stop_exception(run))


def _call(run: Run, handler: Handler[Any], params: Any) -> Outcome:
    ctx = run.ctx
    with ctx.lock:
        ctx.thread_id = threading.get_ident()
    try:
        value = handler.run(ctx, params)
        if type(value) not in _PLAIN_RESULTS and inspect.isawaitable(value):
            value = asyncio.run(_await(run, value))
        return Outcome(result=value)
    except _interrupt.HardInterrupt:
        return Outcome(exc=_stop_exception(run))
    except asyncio.CancelledError:
        return Outcome(exc=_stop_exception(run))
    except BaseException as exc:
        # SystemExit and friends from a handler end that attempt, not the worker thread
        return Outcome(exc=exc)
    finally:
        with ctx.lock:
            thread_id, ctx.thread_id = ctx.thread_id, None
            run.loop = run.task = None
        if thread_id is not None and run.interrupted:
            _interrupt.withdraw(thread_id)


_PLAIN_RESULTS = frozenset({type(None), dict, list, str, int, float, bool})


async def _await(run: Run, awaitable: Any) -> Any:
    task: asyncio.Task[Any] = asyncio.ensure_future(awaitable)
    with run.ctx.lock:
        # the event loop, not an injected exception, is how async handlers are stopped
        run.ctx.thread_id = None
        run.loop, run.task = asyncio.get_running_loop(), task
        stop_now = run.interrupted
    if stop_now:
        task.cancel()
    return await task


def _stop_exception(run: Run) -> JobInterrupted:
    reason = run.ctx.stop_reason or JobCancelled
    return reason(run.ctx.stop_message(reason))


def decide(run: Run, outcome: Outcome, rng: random.Random, now: float) -> Finish:
    """Turn the outcome of an attempt into what the store should record."""
    reason = run.ctx.stop_reason
    if outcome.exc is None:
        if outcome.result is None:
            return _COMPLETED_EMPTY  # the no-result case needs no JSON conversion
        try:
            result = pydantic_core.to_jsonable_python(outcome.result)
        except pydantic_core.PydanticSerializationError as bad:
            error = CorruptJobData(
                f"the handler's result is not JSON-serialisable ({bad}); return dicts, lists, "
                "strings, numbers, booleans, None, or pydantic models"
            )
            return Finish(JobStatus.FAILED, error=attempt_error(run.attempt, error, now))
        return Finish(JobStatus.COMPLETED, result=result)
    # Once a stop was requested, whatever the handler raised on its way out (our
    # interrupt, or an error it caused) ends the job the way the stop asked for.
    if reason is JobCancelled:
        return Finish(JobStatus.CANCELLED)
    if reason is WorkerShuttingDown:
        return Finish(JobStatus.QUEUED)
    exc = outcome.exc
    if reason is JobTimedOut and not isinstance(exc, JobTimedOut):
        exc = JobTimedOut(f"job {run.job_id} passed its timeout ({type(exc).__name__}: {exc})")
    return failure(run, exc, rng, now)


_COMPLETED_EMPTY = Finish(JobStatus.COMPLETED)  # frozen, so one instance serves every job


def failure(run: Run, exc: BaseException, rng: random.Random, now: float) -> Finish:
    """A failed attempt: retrying with backoff, or failed for good."""
    error = attempt_error(run.attempt, exc, now)
    rec, handler = run.record, run.handler
    retries_used = rec.failures  # failures before this one
    if (
        handler is not None
        and not isinstance(exc, CorruptJobData)
        and retries_used < rec.max_retries
        and _should_retry(handler, exc, run.attempt)
    ):
        delay = handler.retry_policy.delay(retries_used + 1, rng)
        return Finish(JobStatus.RETRYING, error=error, retry_in=delay)
    return Finish(JobStatus.FAILED, error=error)


def _should_retry(handler: Handler[Any], exc: BaseException, attempt: int) -> bool:
    try:
        return bool(handler.should_retry(exc, attempt))
    except Exception:
        # a broken hook must not leave the job unrecorded; not retrying is the safe answer
        return False


def attempt_error(attempt: int, exc: BaseException, now: float) -> AttemptError:
    """Record an exception as the error of one attempt."""
    cls = type(exc)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    if name.startswith("threadjobs._errors."):
        name = "threadjobs." + cls.__qualname__
    tb = "".join(traceback.format_exception(exc)) if exc.__traceback__ is not None else ""
    return AttemptError(
        attempt=attempt,
        type=name,
        message=str(exc),
        traceback=tb,
        at=datetime.fromtimestamp(now, tz=timezone.utc),
    )
