"""Handlers used across the core tests."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from pydantic import BaseModel

from threadjobs import Handler, JobContext, RetryPolicy

FAST_RETRY = RetryPolicy(base=0.01, max_delay=0.05)


class NParams(BaseModel):
    n: int = 0


class Echo(Handler[NParams]):
    """Returns its params; counts runs per job."""

    job_type = "echo"

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()
        self.lock = threading.Lock()

    def run(self, ctx: JobContext, params: NParams) -> dict[str, Any]:
        with self.lock:
            self.runs[ctx.job_id] += 1
        return {"n": params.n, "attempt": ctx.attempt}


class Gate(Handler[NParams]):
    """Signals `started`, then waits for `release`, checking in while it waits."""

    job_type = "gate"
    max_retries = 0

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.order: list[int] = []

    def run(self, ctx: JobContext, params: NParams) -> int:
        self.order.append(params.n)
        self.started.set()
        while not self.release.wait(0.01):
            ctx.check()
        return params.n


class Flaky(Handler[NParams]):
    """Fails `n` times with RuntimeError, then succeeds."""

    job_type = "flaky"
    retry_policy = FAST_RETRY

    def run(self, ctx: JobContext, params: NParams) -> str:
        if ctx.attempt <= params.n:
            raise RuntimeError(f"transient failure {ctx.attempt}")
        return "ok"
