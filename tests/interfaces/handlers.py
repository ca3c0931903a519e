"""Handlers the interface tests submit, also imported by ``threadjobs worker`` subprocesses.

The worker finds them as ``tests.interfaces.handlers`` (``HANDLERS``) or
``tests.interfaces.handlers:register``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pydantic import BaseModel, Field

from threadjobs import Handler, JobContext, JobManager


class EchoParams(BaseModel):
    text: str
    times: int = Field(1, ge=1, le=10)


class EchoHandler(Handler[EchoParams]):
    """Completes at once with the text repeated."""

    job_type = "echo"

    def run(self, ctx: JobContext, params: EchoParams) -> str:
        ctx.progress(50, "echoing", step="echo")
        return params.text * params.times


class NoParams(BaseModel):
    pass


class FailHandler(Handler[NoParams]):
    """Fails at once, for good (ValueError is not retried)."""

    job_type = "fail"
    max_retries = 0

    def run(self, ctx: JobContext, params: NoParams) -> None:
        raise ValueError("this job always fails")


class SlowParams(BaseModel):
    seconds: float = Field(30.0, gt=0)


class SlowHandler(Handler[SlowParams]):
    """Reports progress for ``seconds``; stops at a checkpoint when asked to."""

    job_type = "slow"
    max_retries = 0

    def run(self, ctx: JobContext, params: SlowParams) -> dict[str, Any]:
        started = time.monotonic()
        pause = threading.Event()
        while (elapsed := time.monotonic() - started) < params.seconds:
            ctx.progress(100 * elapsed / params.seconds, "working", step="work")
            pause.wait(0.02)  # simulated work between checkpoints
        return {"slept": params.seconds}


HANDLERS = [EchoHandler(), FailHandler(), SlowHandler()]


def register(manager: JobManager) -> None:
    """Register every test handler (the ``module:register`` form of ``--handlers``)."""
    for handler in (EchoHandler(), FailHandler(), SlowHandler()):
        manager.register(handler)
