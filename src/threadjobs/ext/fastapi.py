"""A FastAPI router that lets an application's users submit, follow and cancel their jobs.

The application keeps authentication: it passes a dependency that returns the
current account's id, and every endpoint only ever sees that account's jobs::

    from fastapi import FastAPI, Header
    from threadjobs import JobManager
    from threadjobs.ext.fastapi import job_router

    manager = JobManager(max_workers=4)

    def current_account(x_account_id: int = Header()) -> int:
        return x_account_id  # a real app checks a session or a token here

    app = FastAPI()
    app.include_router(job_router(manager, current_account))

Endpoints (under ``prefix``, default ``/jobs``): ``POST`` create, ``GET`` list,
``GET /stats``, ``GET /{job_id}``, ``POST /{job_id}/cancel`` and ``DELETE /{job_id}``.
Errors of the core are translated here, at one boundary, into status codes: 400
unknown job type, 404 no such job *for this account*, 409 already finished, 422
invalid input naming the field, 503 store unavailable (with ``Retry-After``).
See ``docs/http-api.md``.

Not for: authentication, rate limiting, or running the workers (a web process
usually holds a producer-only ``JobManager(store, max_workers=0)``).
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoints' annotations at
# runtime, and the ``Account`` dependency alias is local to ``job_router``.

import json
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_jsonable_python

from threadjobs import (
    InvalidParams,
    Job,
    JobAlreadyFinished,
    JobManager,
    JobNotFound,
    JobPage,
    JobStats,
    JobStatus,
    ManagerClosed,
    MissingDependency,
    StoreUnavailable,
    SubmitError,
    UnknownJobType,
)

try:
    from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without fastapi
    raise MissingDependency(
        "threadjobs.ext.fastapi needs FastAPI: pip install 'threadjobs[fastapi]'"
    ) from exc

__all__ = ["ErrorResponse", "JobCreate", "job_router"]

#: Seconds a client is told to wait (``Retry-After``) when the store is unavailable:
#: long enough for a Redis failover, short enough that a user retrying by hand is not annoyed.
RETRY_AFTER_SECONDS = 5
#: The most jobs one list page returns; pages are rendered in one response, so keep them small.
MAX_PAGE_SIZE = 100
#: Longer job ids and cursors are refused before they reach the store (ours are 24 characters).
MAX_ID_LENGTH = 128

AccountId = int | str
JobId = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH, description="The job's id.")]


class JobCreate(BaseModel):
    """The body of ``POST /jobs``: what to run and how."""

    model_config = ConfigDict(extra="forbid")

    job_type: str = Field(min_length=1, max_length=200, description="A registered job type.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Validated against the job type's params model."
    )
    priority: int = Field(5, ge=0, le=10, description="0 (lowest) to 10 (highest).")
    max_retries: int | None = Field(
        None, ge=0, le=100, description="Retries after the first attempt (default: the handler's)."
    )
    timeout: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Seconds one attempt may run (default: the handler's).",
    )


class ErrorResponse(BaseModel):
    """The body of every 400, 404, 409 and 503 answer."""

    detail: str = Field(description="What went wrong, in one sentence.")


def job_router(
    manager: JobManager,
    current_account: Callable[..., Any],
    *,
    prefix: str = "/jobs",
    tags: list[str] | None = None,
    allowed_job_types: Collection[str] | None = None,
    expose_tracebacks: bool = False,
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> APIRouter:
    """Build the job endpoints for one application.

    Args:
        manager: Where jobs are submitted and looked up. In a web process this is
            usually producer-only (``max_workers=0``) on a shared store; it must have
            every handler registered that users may submit, since params are validated
            against the handler's model before anything is stored.
        current_account: A FastAPI dependency (sync or async, may take its own
            dependencies) that returns the caller's account id, an ``int`` or ``str``.
            It should raise ``HTTPException(401)`` itself for anonymous callers.
        prefix: Where the endpoints live, e.g. ``"/api/jobs"``.
        tags: OpenAPI tags of the endpoints (default ``["jobs"]``).
        allowed_job_types: The job types users may create through HTTP (default: every
            registered type). Internal job types stay out of reach this way.
        expose_tracebacks: Include the tracebacks of failed attempts in responses.
            Off by default: tracebacks show file paths and code to end users.
        responses: Extra OpenAPI responses of every endpoint, e.g. the 401 your
            ``current_account`` dependency raises, so the schema documents it.

    Returns:
        An ``APIRouter`` to pass to ``app.include_router``.
    """
    if not prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"prefix must start and not end with '/', e.g. '/jobs'; got {prefix!r}")
    allowed = None if allowed_job_types is None else frozenset(allowed_job_types)
    router = APIRouter(prefix=prefix, tags=list(tags or ["jobs"]), responses=responses)
    Account = Annotated[Any, Depends(current_account)]
    common: dict[int | str, dict[str, Any]] = {
        503: {"model": ErrorResponse, "description": "The job store is unavailable; retry later."},
    }
    not_found: dict[int | str, dict[str, Any]] = {
        404: {"model": ErrorResponse, "description": "No such job for this account."},
    }

    def public(job: Job) -> Job:
        if expose_tracebacks or not any(error.traceback for error in job.errors):
            return job
        errors = tuple(error.model_copy(update={"traceback": ""}) for error in job.errors)
        return job.model_copy(update={"errors": errors})

    def owned_job(job_id: str, account: AccountId) -> Job:
        try:
            job: Job | None = manager.get(job_id)
        except JobNotFound:
            job = None
        # Another account's job answers exactly like a missing one, word for word: a 403
        # (or any difference) would confirm that the id exists to someone probing ids.
        if job is None or not _same_account(job.account_id, account):
            raise JobNotFound(f"no job with id {job_id!r}")
        return job

    @router.post(
        "",
        status_code=201,
        response_model=Job,
        summary="Submit a job",
        responses={
            400: {"model": ErrorResponse, "description": "Unknown job type."},
            **common,
        },
    )
    def create_job(body: JobCreate, request: Request, response: Response, account: Account) -> Job:
        """Validate and queue a job for the current account; answers the new job."""
        account_id = _account_id(account)
        with _translated():
            try:
                if allowed is not None and body.job_type not in allowed:
                    raise UnknownJobType(body.job_type, field="job_type")
                _require_json(body.params)
                job_id = manager.submit(
                    body.job_type,
                    account_id=account_id,
                    params=body.params,
                    priority=body.priority,
                    max_retries=body.max_retries,
                    timeout=body.timeout,
                )
            except UnknownJobType:
                # The core's message lists every registered type and how to register one:
                # useful to a developer, noise (and a disclosure) to an API client.
                known = f"; use one of: {', '.join(sorted(allowed))}" if allowed else ""
                raise HTTPException(400, f"unknown job type {body.job_type!r}{known}") from None
            job = manager.get(job_id)
        response.headers["Location"] = str(request.url_for(get_job.__name__, job_id=job_id))
        return public(job)

    @router.get("", response_model=JobPage, summary="List the account's jobs", responses=common)
    def list_jobs(
        account: Account,
        status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 50,
        cursor: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=MAX_ID_LENGTH,
                description="`next_cursor` of the previous page.",
            ),
        ] = None,
    ) -> JobPage:
        """One page of the current account's jobs, newest first."""
        account_id = _account_id(account)
        with _translated():
            page = manager.list_jobs(account_id, status, limit, cursor)
        # The store already filters by account; checking again costs nothing and keeps
        # a store bug from ever showing one account's jobs to another.
        jobs = tuple(public(j) for j in page.jobs if _same_account(j.account_id, account_id))
        return JobPage(jobs=jobs, next_cursor=page.next_cursor)

    @router.get(
        "/stats", response_model=JobStats, summary="The account's job counts", responses=common
    )
    def job_stats(account: Account) -> JobStats:
        """Counts of the current account's jobs by status, and per type over 24 hours."""
        account_id = _account_id(account)
        with _translated():
            return manager.stats(account_id)

    @router.get(
        "/{job_id}", response_model=Job, summary="Get one job", responses={**not_found, **common}
    )
    def get_job(job_id: JobId, account: Account) -> Job:
        """The job as the store last recorded it, progress included."""
        with _translated():
            return public(owned_job(job_id, _account_id(account)))

    def cancel(job_id: str, account: Any) -> Job:
        with _translated():
            owned_job(job_id, _account_id(account))
            return public(manager.cancel(job_id))

    cancel_responses: dict[int | str, dict[str, Any]] = {
        **not_found,
        409: {"model": ErrorResponse, "description": "The job already finished."},
        **common,
    }
    cancel_doc = (
        "A waiting job is cancelled at once; a running one stops at its next checkpoint "
        "and is answered still `running` with `cancel_requested` set."
    )

    @router.post(
        "/{job_id}/cancel",
        response_model=Job,
        summary="Cancel a job",
        description=cancel_doc,
        responses=cancel_responses,
    )
    def cancel_job(job_id: JobId, account: Account) -> Job:
        return cancel(job_id, account)

    @router.delete(
        "/{job_id}",
        response_model=Job,
        summary="Cancel a job (same as POST /{job_id}/cancel)",
        description=cancel_doc,
        responses=cancel_responses,
    )
    def delete_job(job_id: JobId, account: Account) -> Job:
        return cancel(job_id, account)

    return router


@contextmanager
def _translated() -> Iterator[None]:
    """Turn the core's exceptions into HTTP answers; the one place that does."""
    try:
        yield
    except UnknownJobType as exc:
        raise HTTPException(400, detail=str(exc)) from None
    except InvalidParams as exc:
        raise HTTPException(422, detail=_params_detail(exc)) from None
    except SubmitError as exc:
        loc = ["body", *(exc.field or "body").split(".")]
        detail = [{"type": "value_error", "loc": loc, "msg": str(exc)}]
        raise HTTPException(422, detail=detail) from None
    except JobNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except JobAlreadyFinished as exc:
        raise HTTPException(409, detail=str(exc)) from None
    except (StoreUnavailable, ManagerClosed) as exc:
        raise HTTPException(
            503,
            detail=f"the job store is unavailable, try again later ({exc})",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None


def _params_detail(exc: InvalidParams) -> list[dict[str, Any]]:
    """pydantic's errors of the params model, located in the request body as FastAPI does."""
    if not exc.errors:
        loc = ["body", *(exc.field or "params").split(".")]
        return [{"type": "value_error", "loc": loc, "msg": str(exc)}]
    detail = []
    for error in exc.errors:
        item: dict[str, Any] = {
            "type": error.get("type", "value_error"),
            "loc": ["body", "params", *_as_list(error.get("loc"))],
            "msg": error.get("msg", str(exc)),
        }
        # the input is echoed to help the caller, but only if it is plain JSON
        item["input"] = to_jsonable_python(error.get("input"), fallback=lambda _: None)
        detail.append(item)
    return detail


def _require_json(params: dict[str, Any]) -> None:
    """Refuse NaN and Infinity: Python's JSON parser accepts them, JSON does not."""
    try:
        json.dumps(params, allow_nan=False)
    except ValueError:
        raise InvalidParams(
            "params: NaN and Infinity are not valid JSON numbers", field="params"
        ) from None


def _account_id(value: Any) -> AccountId:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(
            f"the current_account dependency must return an int or a str, got {value!r}; "
            "raise HTTPException(401) in it for anonymous callers"
        )
    return value


def _same_account(owner: AccountId | None, account: AccountId) -> bool:
    # Exact: 7 and "7" are different accounts, as they are in the stores.
    return type(owner) is type(account) and owner == account


def _as_list(loc: object) -> list[str | int]:
    if isinstance(loc, (list, tuple)):
        return [p if isinstance(p, (str, int)) else str(p) for p in loc]
    return []
