"""Plain-text rendering: tables, a progress bar, durations, one job in detail.

Only ASCII, so the output survives any terminal encoding, log file or pipe.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone

from threadjobs import Job, JobStats, JobStatus

__all__ = ["bar", "duration", "elapsed", "job_details", "job_table", "stats_tables", "table"]

#: Cells longer than this are cut with "...", so one long message cannot wreck a table.
MAX_CELL = 48


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, with a header row."""
    cells = [[_cut(str(c)) for c in row] for row in [list(headers), *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def bar(percent: float, width: int = 24) -> str:
    """``[#########---------------]`` filled to ``percent`` (0 to 100)."""
    filled = round(width * max(0.0, min(percent, 100.0)) / 100)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def duration(seconds: float) -> str:
    """``0.4s``, ``12s``, ``3m05s``, ``2h04m``: short, and exact enough for a human."""
    if seconds < 10:
        return f"{max(seconds, 0.0):.1f}s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def elapsed(job: Job, now: datetime | None = None) -> float:
    """Seconds the job has run (until it finished), or waited if it never started."""
    start = job.started_at or job.created_at
    end = job.finished_at or now or datetime.now(timezone.utc)
    # Store times may come from another machine's clock: never show a negative time.
    return max(0.0, (end - start).total_seconds())


def job_table(jobs: Sequence[Job]) -> str:
    """One line per job: id, type, account, status, progress, attempts, age."""
    rows = [
        [
            job.id,
            job.job_type,
            "-" if job.account_id is None else str(job.account_id),
            _status(job),
            f"{job.progress.percent:.0f}%",
            str(job.attempts),
            _when(job.created_at),
        ]
        for job in jobs
    ]
    return table(["ID", "TYPE", "ACCOUNT", "STATUS", "PROGRESS", "TRIES", "CREATED"], rows)


def job_details(job: Job) -> str:
    """Every field of one job worth reading, one per line; result and errors last."""
    progress = job.progress
    lines = [
        f"id:          {job.id}",
        f"type:        {job.job_type}",
        f"account:     {'-' if job.account_id is None else job.account_id}",
        f"status:      {_status(job)}",
        f"progress:    {bar(progress.percent)} {progress.percent:.1f}%"
        + (f"  {progress.step}" if progress.step else "")
        + (f"  {progress.message}" if progress.message else ""),
        f"priority:    {job.priority}",
        f"attempts:    {job.attempts} (retries allowed: {job.max_retries})",
        f"timeout:     {'none' if job.timeout is None else duration(job.timeout)}",
        f"created:     {_when(job.created_at)}",
        f"started:     {_when(job.started_at)}",
        f"finished:    {_when(job.finished_at)}",
        f"elapsed:     {duration(elapsed(job))}",
        f"params:      {json.dumps(job.params, sort_keys=True)}",
    ]
    if job.status is JobStatus.COMPLETED:
        lines.append(f"result:      {json.dumps(job.result, sort_keys=True, default=str)}")
    for error in job.errors:
        lines.append(f"error #{error.attempt}:    {error.type}: {error.message}")
    return "\n".join(lines)


def stats_tables(stats: JobStats) -> str:
    """Jobs by status now, then per job type over the last 24 hours."""
    now = table(["STATUS", "JOBS"], [[s.value, str(stats.by_status.get(s, 0))] for s in JobStatus])
    statuses = list(JobStatus)
    recent = table(
        ["TYPE (24h)", *(s.value.upper() for s in statuses)],
        [
            [job_type, *(str(counts.get(s, 0)) for s in statuses)]
            for job_type, counts in sorted(stats.last_24h.items())
        ],
    )
    who = "all accounts" if stats.account_id is None else f"account {stats.account_id}"
    parts = [f"jobs of {who}", now, "", recent if stats.last_24h else "no jobs in the last 24h"]
    if stats.stuck_threads:
        parts.append(f"stuck worker threads: {stats.stuck_threads}")
    return "\n".join(parts)


def _status(job: Job) -> str:
    if job.cancel_requested and not job.is_terminal:
        return f"{job.status.value} (cancelling)"
    return job.status.value


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 3] + "..."
