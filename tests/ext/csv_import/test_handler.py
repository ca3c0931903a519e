"""The csv_import job: uploads, permissions, progress, cancellation, timeouts."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from threadjobs import JobCancelled, JobContext, JobManager, JobStatus, JobTimedOut
from threadjobs.ext.csv_import import (
    CsvImportHandler,
    CsvImportParams,
    CsvType,
    Outcome,
    Record,
    SinkSession,
    SqliteSink,
    SqliteUploadStore,
    UploadAccessDenied,
    UploadFileMissing,
    UploadNotFound,
    UploadStatus,
)

HEADER = '"Sales Record Number","Order Number","Buyer Username","Item Number","Sold For"'


def orders_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "orders.csv"
    lines = [HEADER] + [f'"{i}","04-{i:05d}","u{i}","1234567{i:05d}","$1.00"' for i in range(count)]
    path.write_text("\r\n".join(lines), encoding="utf-8")
    return path


def count_orders(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM ebay_orders").fetchone()[0])
    finally:
        conn.close()


class HookedSink:
    """A SQLite sink calling ``after_write(n)`` after each committed batch."""

    def __init__(self, db: Path, after_write: Callable[[int], None]) -> None:
        self.inner = SqliteSink(db)
        self.after_write = after_write
        self.writes = 0

    def open(self, account_id: str, csv_type: CsvType) -> SinkSession:
        session = self.inner.open(account_id, csv_type)
        sink = self

        class Session:
            def write(self, records: Sequence[Record]) -> list[Outcome]:
                outcomes = session.write(records)
                sink.writes += 1
                sink.after_write(sink.writes)
                return outcomes

            def close(self) -> None:
                session.close()

        return Session()


def context(account_id: int | str | None = 7) -> JobContext:
    return JobContext(
        job_id="job-1",
        job_type="csv_import",
        account_id=account_id,
        attempt=1,
        timeout=None,
        flush=lambda progress: None,
        flush_interval=0.0,
    )


def test_job_imports_the_upload_and_keeps_the_record_in_step(
    make_manager: Callable[..., JobManager], tmp_path: Path, db_path: Path
) -> None:
    uploads = SqliteUploadStore(db_path)
    upload = uploads.create(7, str(orders_file(tmp_path, 250)), batch_id="b-1")
    manager = make_manager(CsvImportHandler(SqliteSink(db_path), uploads))
    job = manager.wait(
        manager.submit("csv_import", account_id=7, params={"upload_id": upload.id}), timeout=30
    )
    assert job.status is JobStatus.COMPLETED
    assert job.result["csv_type"] == "orders"
    assert job.result["inserted_rows"] == 250
    assert job.progress.percent == 100.0
    done = uploads.get(upload.id)
    assert done is not None
    assert (done.status, done.csv_type, done.inserted_rows, done.job_id) == (
        UploadStatus.COMPLETED,
        CsvType.ORDERS,
        250,
        job.id,
    )
    assert done.started_at is not None
    assert done.finished_at is not None


def test_upload_of_another_account_is_refused_without_retry(
    make_manager: Callable[..., JobManager], tmp_path: Path, db_path: Path
) -> None:
    uploads = SqliteUploadStore(db_path)
    upload = uploads.create(8, str(orders_file(tmp_path, 3)))
    manager = make_manager(CsvImportHandler(SqliteSink(db_path), uploads))
    job = manager.wait(
        manager.submit("csv_import", account_id=7, params={"upload_id": upload.id}), timeout=30
    )
    assert job.status is JobStatus.FAILED
    assert job.attempts == 1
    assert count_orders(db_path) == 0


def test_missing_file_fails_clearly_without_retry(
    make_manager: Callable[..., JobManager], tmp_path: Path, db_path: Path
) -> None:
    uploads = SqliteUploadStore(db_path)
    upload = uploads.create(7, str(tmp_path / "gone.csv"))
    manager = make_manager(CsvImportHandler(SqliteSink(db_path), uploads))
    job = manager.wait(
        manager.submit("csv_import", account_id=7, params={"upload_id": upload.id}), timeout=30
    )
    assert job.status is JobStatus.FAILED
    assert job.attempts == 1
    record = uploads.get(upload.id)
    assert record is not None
    assert record.status is UploadStatus.FAILED
    assert "gone.csv" in (record.error_message or "")


@pytest.mark.parametrize(
    ("account", "upload_account", "error"),
    [(7, 8, UploadAccessDenied), (None, 7, UploadAccessDenied)],
)
def test_permission_errors_are_permission_errors(
    tmp_path: Path, db_path: Path, account: int | None, upload_account: int, error: type
) -> None:
    uploads = SqliteUploadStore(db_path)
    upload = uploads.create(upload_account, str(orders_file(tmp_path, 1)))
    handler = CsvImportHandler(SqliteSink(db_path), uploads)
    with pytest.raises(PermissionError) as info:
        handler.run(context(account), CsvImportParams(upload_id=upload.id))
    assert isinstance(info.value, error)


def test_unknown_upload_and_missing_file_are_file_not_found(tmp_path: Path, db_path: Path) -> None:
    uploads = SqliteUploadStore(db_path)
    handler = CsvImportHandler(SqliteSink(db_path), uploads)
    with pytest.raises(UploadNotFound):
        handler.run(context(), CsvImportParams(upload_id=99))
    upload = uploads.create(7, str(tmp_path / "nope.csv"))
    with pytest.raises(UploadFileMissing):
        handler.run(context(), CsvImportParams(upload_id=upload.id))
    assert issubclass(UploadFileMissing, FileNotFoundError)


@pytest.mark.parametrize(
    ("reason", "status"),
    [(JobCancelled, UploadStatus.CANCELLED), (JobTimedOut, UploadStatus.FAILED)],
)
def test_interruption_stops_at_a_batch_boundary_keeping_committed_rows(
    tmp_path: Path,
    db_path: Path,
    reason: type[JobCancelled] | type[JobTimedOut],
    status: UploadStatus,
) -> None:
    ctx = context()
    uploads = SqliteUploadStore(db_path)
    upload = uploads.create(7, str(orders_file(tmp_path, 1000)))

    def stop_after_three(writes: int) -> None:
        if writes == 3:
            ctx.request_stop(reason)

    handler = CsvImportHandler(HookedSink(db_path, stop_after_three), uploads, batch_size=100)
    with pytest.raises(reason):
        handler.run(ctx, CsvImportParams(upload_id=upload.id))
    record = uploads.get(upload.id)
    assert record is not None
    assert record.status is status
    assert record.inserted_rows == count_orders(db_path) == 300
    assert record.error_message


def test_cancelling_a_running_job_through_the_manager(
    make_manager: Callable[..., JobManager], tmp_path: Path, db_path: Path
) -> None:
    uploads = SqliteUploadStore(db_path)
    upload = uploads.create(7, str(orders_file(tmp_path, 2000)))
    contexts: list[JobContext] = []
    job_ids: list[str] = []
    ready = threading.Event()

    class Capturing(CsvImportHandler):
        def run(self, ctx: JobContext, params: CsvImportParams) -> dict[str, Any]:
            contexts.append(ctx)
            return super().run(ctx, params)

    def cancel_after_first(writes: int) -> None:
        if writes == 1:
            ready.wait(10)
            manager.cancel(job_ids[0])
            # Wait (bounded) until the manager has told the job to stop, so the
            # next checkpoint is guaranteed to see it.
            deadline = time.monotonic() + 10
            while not contexts[0].cancelled and time.monotonic() < deadline:
                threading.Event().wait(0.005)

    manager = make_manager(
        Capturing(HookedSink(db_path, cancel_after_first), uploads, batch_size=100)
    )
    job_ids.append(manager.submit("csv_import", account_id=7, params={"upload_id": upload.id}))
    ready.set()
    job = manager.wait(job_ids[0], timeout=30)
    assert job.status is JobStatus.CANCELLED
    record = uploads.get(upload.id)
    assert record is not None
    assert record.status is UploadStatus.CANCELLED
    assert record.inserted_rows == count_orders(db_path) == 100


def test_params_model_is_inferred_and_strict() -> None:
    assert CsvImportHandler.params_model is CsvImportParams
    assert CsvImportParams(upload_id=1, csv_type="listings").csv_type is CsvType.LISTINGS
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        CsvImportParams(upload_id=0)
