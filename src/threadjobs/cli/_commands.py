"""The commands that look at and control jobs: list, show, cancel, stats, watch.

Each opens the store with a producer-only ``JobManager`` (``max_workers=0``): it reads
and writes job records but never runs a job.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from threadjobs import JobAlreadyFinished, JobManager, JobNotFound

from ._common import MEMORY_HINT, CliError, ExitCode, parse_account
from ._render import job_details, job_table, stats_tables
from ._store_url import is_memory, open_store, store_url
from ._watch import exit_code_for, follow, outcome_line

__all__ = ["cmd_cancel", "cmd_list", "cmd_show", "cmd_stats", "cmd_watch", "producer"]


@contextmanager
def producer(args: argparse.Namespace) -> Iterator[JobManager]:
    """A manager that runs nothing, on the store of ``--store``; closed afterwards."""
    store = open_store(store_url(args.store), queue=args.queue)
    manager = JobManager(store, max_workers=0)
    try:
        yield manager
    except JobNotFound as exc:
        # a missing job in a fresh memory store is expected: say why in the same breath
        hint = MEMORY_HINT if is_memory(store_url(args.store)) else ""
        raise CliError(str(exc), ExitCode.NOT_FOUND, hint=hint) from None
    finally:
        manager.shutdown()
        store.close()


def cmd_list(args: argparse.Namespace) -> int:
    """``threadjobs list``: one page of jobs, newest first."""
    account = None if args.account is None else parse_account(args.account)
    with producer(args) as manager:
        page = manager.list_jobs(account, args.status, args.limit, args.cursor)
    if args.json:
        print(page.model_dump_json())
    elif page.jobs:
        print(job_table(page.jobs))
        if page.next_cursor:
            print(f"more: threadjobs list --cursor {page.next_cursor}")
    else:
        print("no jobs")
    _memory_hint(args)
    return ExitCode.OK


def cmd_show(args: argparse.Namespace) -> int:
    """``threadjobs show JOB_ID``: every field of one job."""
    with producer(args) as manager:
        job = manager.get(args.job_id)
    print(job.model_dump_json() if args.json else job_details(job))
    return ExitCode.OK


def cmd_cancel(args: argparse.Namespace) -> int:
    """``threadjobs cancel JOB_ID``: cancel a waiting job, or ask a running one to stop."""
    with producer(args) as manager:
        try:
            job = manager.cancel(args.job_id)
        except JobAlreadyFinished as exc:
            raise CliError(str(exc), ExitCode.CONFLICT) from None
    if args.json:
        print(job.model_dump_json())
    elif job.is_terminal:
        print(f"job {job.id} cancelled")
    else:
        print(f"job {job.id} is {job.status.value}; it stops at its next checkpoint")
    return ExitCode.OK


def cmd_stats(args: argparse.Namespace) -> int:
    """``threadjobs stats``: job counts by status, and per type over 24 hours."""
    account = None if args.account is None else parse_account(args.account)
    with producer(args) as manager:
        stats = manager.stats(account)
    print(stats.model_dump_json() if args.json else stats_tables(stats))
    _memory_hint(args)
    return ExitCode.OK


def cmd_watch(args: argparse.Namespace) -> int:
    """``threadjobs watch JOB_ID``: a live progress line; the exit code says how it ended."""
    with producer(args) as manager:
        job = follow(
            manager,
            args.job_id,
            sys.stderr if args.json else sys.stdout,
            interval=args.interval,
            timeout=args.timeout,
        )
    print(job.model_dump_json() if args.json else outcome_line(job))
    return exit_code_for(job)


def _memory_hint(args: argparse.Namespace) -> None:
    if is_memory(store_url(args.store)):
        print(f"hint: {MEMORY_HINT}", file=sys.stderr)
