"""Handlers: the code that runs one type of job, with typed parameters.

A handler is a subclass of :class:`Handler` parametrised with a pydantic model. It
sets ``job_type`` and implements ``run`` (sync or ``async def``); everything else has
a default and is configured by class attributes::

    class ImportParams(BaseModel):
        upload_id: int

    class ImportHandler(Handler[ImportParams]):
        job_type = "csv_import"
        max_retries = 5
        timeout = 600

        def run(self, ctx: JobContext, params: ImportParams) -> dict[str, Any]:
            ctx.progress(30, "Parsing CSV data", step="csv_parsing")
            ...
"""

from __future__ import annotations

import dataclasses
import random
import typing
from collections.abc import Awaitable
from typing import Any, ClassVar, Generic, Literal

from pydantic import BaseModel
from typing_extensions import TypeVar

from ._errors import ConfigurationError

if typing.TYPE_CHECKING:
    from ._context import JobContext

__all__ = ["DEFAULT_NON_RETRYABLE", "Handler", "RetryPolicy"]

P = TypeVar("P", bound=BaseModel, default=BaseModel)

DEFAULT_NON_RETRYABLE: tuple[type[BaseException], ...] = (
    ValueError,
    PermissionError,
    FileNotFoundError,
)
"""Errors that retrying cannot fix: bad input, missing rights, missing files."""


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff between attempts, with jitter and a cap.

    The n-th retry waits ``min(max_delay, base * factor ** (n - 1))`` seconds, spread by
    ``jitter``: ``"equal"`` (the default) waits between half and all of it, so retries of
    many jobs that failed together do not hit a recovering service at the same instant;
    ``"full"`` waits anywhere from 0 to all of it; ``"none"`` waits exactly that long.
    With the defaults the waits are about 1, 2, 4, 8 ... seconds, never more than 5 minutes.
    """

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0
    jitter: Literal["equal", "full", "none"] = "equal"

    def __post_init__(self) -> None:
        if self.base < 0 or self.max_delay < 0:
            raise ConfigurationError("RetryPolicy.base and max_delay must be >= 0 seconds")
        if self.factor < 1:
            raise ConfigurationError("RetryPolicy.factor must be >= 1")
        if self.jitter not in ("equal", "full", "none"):
            raise ConfigurationError("RetryPolicy.jitter must be 'equal', 'full' or 'none'")

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        if retry < 1:
            raise ValueError("retry numbers start at 1")
        try:
            raw = self.base * self.factor ** (retry - 1)
        except OverflowError:  # late retries of a fast-growing policy: the cap decides
            raw = float("inf") if self.base > 0 else 0.0
        ceiling = min(self.max_delay, raw)
        uniform = (rng or random).uniform
        if self.jitter == "full":
            return uniform(0.0, ceiling)
        if self.jitter == "equal":
            return uniform(ceiling / 2, ceiling)
        return ceiling


class Handler(Generic[P]):
    """Base class of job handlers. Subclass it once per job type.

    Class attributes (all optional except ``job_type``):

    * ``job_type`` - the name jobs are submitted under.
    * ``max_retries`` - retries after the first attempt (default 3); a submit may override.
    * ``timeout`` - seconds one attempt may run (default None: no limit); a submit may override.
    * ``retry_policy`` - the :class:`RetryPolicy` between attempts.
    * ``non_retryable`` - exception types that fail the job at once
      (default ``ValueError``, ``PermissionError``, ``FileNotFoundError``).

    The params model is taken from the generic argument (``Handler[ImportParams]``); set
    ``params_model`` explicitly to override it.
    """

    job_type: ClassVar[str]
    params_model: ClassVar[type[BaseModel]] = BaseModel
    max_retries: ClassVar[int] = 3
    timeout: ClassVar[float | None] = None
    retry_policy: ClassVar[RetryPolicy] = RetryPolicy()
    non_retryable: ClassVar[tuple[type[BaseException], ...]] = DEFAULT_NON_RETRYABLE

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "params_model" in cls.__dict__:
            return
        for base in getattr(cls, "__orig_bases__", ()):
            if typing.get_origin(base) is Handler:
                (arg,) = typing.get_args(base)
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    cls.params_model = arg
                    return

    def run(self, ctx: JobContext, params: P) -> Any | Awaitable[Any]:
        """Do the job. Return a JSON-serialisable result (or None).

        May be ``async def``. Call ``ctx.progress(...)`` or ``ctx.check()`` now and then:
        those are the points where a cancelled or timed-out job stops cleanly.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement run(ctx, params)")

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """Whether a failed attempt may be retried (the retry budget is checked separately).

        The default refuses the ``non_retryable`` types. Override it for finer rules, e.g.
        retry HTTP 503 but not 404.
        """
        return not isinstance(exc, self.non_retryable)

    @classmethod
    def _check_config(cls) -> None:
        """Raise ConfigurationError if the class attributes are unusable."""
        name = cls.__name__
        job_type = getattr(cls, "job_type", None)
        if not isinstance(job_type, str) or not job_type.strip():
            raise ConfigurationError(
                f"{name}.job_type must be a non-empty string, e.g. 'csv_import'"
            )
        if not (isinstance(cls.max_retries, int) and 0 <= cls.max_retries <= 100):
            raise ConfigurationError(f"{name}.max_retries must be an int from 0 to 100")
        if cls.timeout is not None and not (
            isinstance(cls.timeout, (int, float)) and cls.timeout > 0
        ):
            raise ConfigurationError(f"{name}.timeout must be None or a number of seconds > 0")
        if not isinstance(cls.retry_policy, RetryPolicy):
            raise ConfigurationError(f"{name}.retry_policy must be a threadjobs.RetryPolicy")
        if cls.run is Handler.run:
            raise ConfigurationError(f"{name} must implement run(self, ctx, params)")
        model = cls.params_model
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or model is BaseModel:
            raise ConfigurationError(
                f"{name} has no params model: declare one as `class {name}(Handler[MyParams])` "
                "(an empty `class MyParams(BaseModel): pass` for a job without params)"
            )
