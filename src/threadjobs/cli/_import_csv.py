"""``threadjobs import-csv FILE``: record an upload, submit a ``csv_import`` job, watch it.

The upload record goes in the SQLite database of ``--db`` (the csv_import
extension's :class:`SqliteUploadStore`), which is also where the rows are written.
On the memory store the job runs in this process. On a shared store (Redis) it is
only submitted here, and a ``threadjobs worker`` whose handlers include a
``CsvImportHandler`` on the same database file runs it; the file must be readable
by that worker at the same path.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from threadjobs import JobManager, JobStatus, ThreadJobsError

from ._common import CliError, ExitCode, parse_account
from ._store_url import is_memory, open_store, store_url
from ._watch import exit_code_for, follow, outcome_line

__all__ = ["CSV_TYPES", "cmd_import_csv"]

CSV_TYPES = ("orders", "listings", "products", "customers", "messages")


def cmd_import_csv(args: argparse.Namespace) -> int:
    """Import one eBay CSV file as a job; the exit code says how the job ended."""
    try:
        from threadjobs.ext.csv_import import (
            CsvImportHandler,
            CsvType,
            ImportReport,
            SqliteSink,
            SqliteUploadStore,
        )
    except ImportError as exc:
        raise CliError(f"the csv_import extension cannot be loaded: {exc}") from None
    path = Path(args.file).expanduser().resolve()
    if not path.is_file():
        raise CliError(f"no such file: {args.file}")
    url = store_url(args.store)
    in_process = is_memory(url)
    if in_process and args.detach:
        raise CliError(
            "--detach needs a shared store: on the memory store the job runs in this process"
        )
    account = parse_account(args.account)
    csv_type = CsvType(args.type) if args.type else None
    uploads = SqliteUploadStore(args.db)
    store = open_store(url, queue=args.queue)
    # in-process: one worker thread runs the job; shared store: validate and submit only
    manager = JobManager(store, max_workers=1 if in_process else 0)
    try:
        manager.register(CsvImportHandler(SqliteSink(args.db), uploads))
        upload = uploads.create(account, str(path), csv_type=csv_type)
        params = {"upload_id": upload.id, "csv_type": args.type}
        job_id = manager.submit("csv_import", account_id=account, params=params)
        if args.detach:
            print(job_id)
            return ExitCode.OK
        print(f"importing {path.name} as upload {upload.id}, job {job_id}", file=sys.stderr)
        try:
            job = follow(manager, job_id, sys.stderr if args.json else sys.stdout)
        except KeyboardInterrupt:
            if in_process:
                with contextlib.suppress(ThreadJobsError):  # it may have just finished
                    manager.cancel(job_id)
                    manager.wait(job_id, timeout=10)
                print(f"job {job_id} cancelled; rows written so far are kept", file=sys.stderr)
            else:
                print(f"job {job_id} keeps running; 'threadjobs watch {job_id}'", file=sys.stderr)
            return ExitCode.INTERRUPTED
        if args.json:
            print(job.model_dump_json())
        elif job.status is JobStatus.COMPLETED:
            print(ImportReport.model_validate(job.result).summary())
        else:
            print(outcome_line(job))
        return exit_code_for(job)
    finally:
        manager.shutdown(timeout=5)
        store.close()
