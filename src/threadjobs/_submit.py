"""Checking a submit before anything is stored, and making job ids.

Everything a user can get wrong at submit time is caught here, with an error that names
the field; the store only ever sees a valid, JSON-ready :class:`NewJob`.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic
import pydantic_core

from ._errors import InvalidParams, SubmitError, UnknownJobType
from ._handler import Handler
from ._models import JobStatus
from ._store import NewJob

__all__ = [
    "DEFAULT_PRIORITY",
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "IdMaker",
    "build_job",
    "build_jobs",
    "parse_status",
]

MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 0, 10, 5


def build_job(
    handlers: Mapping[str, Handler[Any]],
    job_id: str,
    job_type: str,
    *,
    account_id: int | str | None,
    params: Mapping[str, Any] | pydantic.BaseModel | None,
    priority: int,
    max_retries: int | None,
    timeout: float | None,
    delay: float,
    dedup_key: str | None,
) -> NewJob:
    """Validate one submit and return the job to store.

    Raises:
        UnknownJobType: no handler for ``job_type``.
        InvalidParams: params fail the handler's model or are not JSON-serialisable.
        SubmitError: another option is out of range; ``field`` names it.
    """
    handler = handlers.get(job_type) if isinstance(job_type, str) else None
    if handler is None:
        known = ", ".join(sorted(handlers)) or "none registered yet"
        raise UnknownJobType(
            f"unknown job type {job_type!r} (registered: {known}); "
            "call manager.register(YourHandler()) first",
            field="job_type",
        )
    if account_id is not None and (
        isinstance(account_id, bool) or not isinstance(account_id, (int, str))
    ):
        raise SubmitError("account_id must be an int, a str or None", field="account_id")
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not MIN_PRIORITY <= priority <= MAX_PRIORITY
    ):
        raise SubmitError(
            f"priority must be an int from {MIN_PRIORITY} (lowest) to {MAX_PRIORITY} "
            f"(highest), got {priority!r}",
            field="priority",
        )
    retries = handler.max_retries if max_retries is None else max_retries
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
        raise SubmitError(
            f"max_retries must be an int from 0 to 100, got {retries!r}", field="max_retries"
        )
    limit = handler.timeout if timeout is None else timeout
    if limit is not None and not _positive_number(limit):
        raise SubmitError(
            f"timeout must be a number of seconds > 0, got {limit!r}", field="timeout"
        )
    if not _non_negative_number(delay):
        raise SubmitError(f"delay must be a number of seconds >= 0, got {delay!r}", field="delay")
    if dedup_key is not None and not (isinstance(dedup_key, str) and 0 < len(dedup_key) <= 200):
        raise SubmitError(
            "dedup_key must be a non-empty str of at most 200 characters", field="dedup_key"
        )
    return NewJob(
        job_id,
        job_type,
        account_id,
        _validate_params(handler, params),
        priority,
        retries,
        None if limit is None else float(limit),
        float(delay),
        dedup_key,
    )


def build_jobs(
    handlers: Mapping[str, Handler[Any]],
    ids: IdMaker,
    job_type: str,
    params_list: Iterable[Mapping[str, Any] | pydantic.BaseModel | None],
    *,
    account_id: int | str | None,
    priority: int,
    max_retries: int | None,
    timeout: float | None,
    delay: float,
) -> list[NewJob]:
    """Validate a bulk submit: the shared options once, then each params.

    Raises:
        InvalidParams: some params fail; ``field`` names its position, as in
            ``params_list[3].upload_id``.
        UnknownJobType, SubmitError: as :func:`build_job`.
    """
    jobs: list[NewJob] = []
    first: NewJob | None = None
    handler: Handler[Any] | None = None
    for index, params in enumerate(params_list):
        try:
            if first is None:
                first = build_job(
                    handlers,
                    ids.next(),
                    job_type,
                    account_id=account_id,
                    params=params,
                    priority=priority,
                    max_retries=max_retries,
                    timeout=timeout,
                    delay=delay,
                    dedup_key=None,
                )
                handler = handlers[job_type]
                jobs.append(first)
            else:
                assert handler is not None
                # the options were checked with the first job: only the params differ
                jobs.append(
                    NewJob(
                        ids.next(),
                        job_type,
                        account_id,
                        _validate_params(handler, params),
                        first.priority,
                        first.max_retries,
                        first.timeout,
                        first.delay,
                        None,
                    )
                )
        except InvalidParams as exc:
            where = f"params_list[{index}]" + (exc.field[len("params") :] if exc.field else "")
            raise InvalidParams(f"{where}: {exc}", field=where, errors=exc.errors) from exc
    return jobs


def _validate_params(
    handler: Handler[Any], params: Mapping[str, Any] | pydantic.BaseModel | None
) -> dict[str, Any]:
    model = handler.params_model
    try:
        if isinstance(params, pydantic.BaseModel):
            value = model.model_validate(params.model_dump())
        else:
            # the model's validator itself: what model_validate calls, minus its wrapper
            value = model.__pydantic_validator__.validate_python(dict(params or {}))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = "params." + ".".join(str(p) for p in first["loc"]) if first["loc"] else "params"
        raise InvalidParams(
            f"{field}: {first['msg']} (job type {handler.job_type!r} expects "
            f"{model.__name__}); {exc.error_count()} error(s) in all",
            field=field,
            errors=[dict(e) for e in exc.errors(include_url=False)],
        ) from None
    except TypeError as exc:
        raise InvalidParams(
            f"params must be a mapping or a pydantic model: {exc}", field="params"
        ) from None
    try:
        # mode="json" refuses what JSON cannot hold, so the store never sees it
        # (what model_dump(mode="json") calls, minus its wrapper: this is the submit hot path)
        dumped: dict[str, Any] = value.__pydantic_serializer__.to_python(value, mode="json")
    except (pydantic_core.PydanticSerializationError, ValueError) as exc:
        raise InvalidParams(f"params are not JSON-serialisable: {exc}", field="params") from None
    return dumped


def parse_status(status: JobStatus | str | None) -> JobStatus | None:
    if status is None:
        return None
    try:
        return JobStatus(status)
    except ValueError:
        names = ", ".join(s.value for s in JobStatus)
        raise SubmitError(
            f"unknown status {status!r}; use one of {names}", field="status"
        ) from None


def _positive_number(value: object) -> bool:
    return _non_negative_number(value) and float(value) > 0  # type: ignore[arg-type]


def _non_negative_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


class IdMaker:
    """Time-ordered ids: sorting ids sorts jobs by submit time (listings rely on it).

    16 hex digits of microseconds since the epoch, made strictly increasing in this
    process, then 8 random hex digits so ids from different processes never collide.
    """

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()
        # uniqueness, not secrecy: seeded from os.urandom, far cheaper than secrets per id
        self._random = random.Random()

    def next(self) -> str:
        with self._lock:
            now = time.time_ns() // 1000
            self._last = now if now > self._last else self._last + 1
            stamp = self._last
            suffix = self._random.getrandbits(32)
        return f"{stamp:016x}{suffix:08x}"
