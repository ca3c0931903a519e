"""A tour of threadjobs in one screen: progress, a retry, a timeout and a cancel.

Run it with ``python examples/quickstart.py``. Everything runs in this process on the
in-memory store; swap in ``RedisJobStore.from_url(...)`` to share the queue.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from pydantic import BaseModel

from threadjobs import Handler, JobContext, JobEvent, JobManager, RetryPolicy


class ReportParams(BaseModel):
    rows: int


class BuildReport(Handler[ReportParams]):
    """Pretends to build a report, reporting progress as it goes."""

    job_type = "build_report"

    def run(self, ctx: JobContext, params: ReportParams) -> dict[str, Any]:
        for row in range(params.rows):
            time.sleep(0.002)  # stands in for real work on one row
            # a checkpoint too: a cancelled job stops here
            ctx.progress(100 * (row + 1) / params.rows, f"row {row + 1}/{params.rows}", "rows")
        return {"rows": params.rows}


class FlakyUpload(Handler[ReportParams]):
    """Fails on its first attempt, as a flaky network call would."""

    job_type = "flaky_upload"
    retry_policy = RetryPolicy(base=0.1)

    def run(self, ctx: JobContext, params: ReportParams) -> str:
        if ctx.attempt == 1:
            raise ConnectionError("upload server said 503")
        return f"uploaded on attempt {ctx.attempt}"


class Forever(Handler[ReportParams]):
    """Never checks in: only the timeout's injected exception can stop it."""

    job_type = "forever"
    max_retries = 0

    def run(self, ctx: JobContext, params: ReportParams) -> None:
        while True:
            pass


def bar(percent: float, width: int = 24) -> str:
    """A text progress bar."""
    filled = int(width * percent / 100)
    return "#" * filled + "-" * (width - filled)


def main() -> int:
    """Submit a few jobs, draw their progress live, print how each ended."""
    with JobManager(max_workers=4) as manager:
        for handler in (BuildReport(), FlakyUpload(), Forever()):
            manager.register(handler)
        printed = threading.Lock()

        def on_change(event: JobEvent) -> None:
            if event.status.value in ("retrying", "failed", "cancelled"):
                with printed:
                    error = event.job.last_error
                    why = f" ({error.type}: {error.message})" if error else ""
                    print(f"\n  event: {event.job.job_type} -> {event.status.value}{why}")

        manager.add_listener(on_change)
        jobs = {
            "report A": manager.submit("build_report", account_id=1, params={"rows": 400}),
            "report B": manager.submit("build_report", account_id=2, params={"rows": 800}),
            "upload": manager.submit("flaky_upload", account_id=1, params={"rows": 1}),
            "runaway": manager.submit("forever", account_id=1, params={"rows": 0}, timeout=0.5),
        }
        cancel_at = time.monotonic() + 0.6
        while True:
            snapshots = {name: manager.get(job_id) for name, job_id in jobs.items()}
            line = "  ".join(
                f"{name} [{bar(job.progress.percent, 12)}] {job.status.value:<9}"
                for name, job in snapshots.items()
                if name.startswith("report")
            )
            with printed:
                sys.stdout.write("\r" + line)
                sys.stdout.flush()
            if time.monotonic() >= cancel_at and not snapshots["report B"].is_terminal:
                manager.cancel(jobs["report B"])
                cancel_at = float("inf")
            if all(job.is_terminal for job in snapshots.values()):
                break
            time.sleep(0.05)  # redraw rate of the progress line
        print("\n")
        for name, job_id in jobs.items():
            job = manager.get(job_id)
            print(f"{name:<9} {job.status.value:<10} attempts={job.attempts} result={job.result}")
        counts = {s.value: n for s, n in manager.stats().by_status.items() if n}
        print(f"\nstats: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
