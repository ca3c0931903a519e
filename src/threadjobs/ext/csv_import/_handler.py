"""The ``csv_import`` job: import an uploaded eBay CSV file, keeping its upload record in step.

The handler checks that the upload exists, belongs to the job's account and
its file is on disk, then runs a :class:`CsvImport`. After every committed
batch it reports progress (from bytes read), which is also the checkpoint
where a cancelled or timed-out job stops: everything committed stays, the
upload record gets the counts so far and the reason, and the interruption is
re-raised so the job ends ``cancelled`` or ``failed``.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timezone
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from threadjobs import (
    Handler,
    JobCancelled,
    JobContext,
    JobTimedOut,
    WorkerShuttingDown,
)

from ._errors import UploadAccessDenied, UploadFileMissing, UploadNotFound
from ._pipeline import DEFAULT_BATCH_SIZE, BatchDone, CsvImport
from ._report import ImportReport
from ._sinks import RowSink, Upload, UploadChanges, UploadStatus, UploadStore
from ._types import CsvType

__all__ = ["CsvImportHandler", "CsvImportParams"]


class CsvImportParams(BaseModel):
    """Parameters of a ``csv_import`` job.

    Attributes:
        upload_id: The upload to import (see :class:`UploadStore`).
        csv_type: Read the file as this type; by default it is detected from
            the header (or taken from the upload record).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    upload_id: int = Field(ge=1)
    csv_type: CsvType | None = None


class CsvImportHandler(Handler[CsvImportParams]):
    """Job handler that imports an uploaded eBay CSV export.

    Args:
        sink: Where imported records are written.
        uploads: Where upload records are kept.
        batch_size: Rows per transaction.

    Example::

        manager = JobManager(max_workers=4)
        manager.register(CsvImportHandler(SqliteSink("shop.db"), SqliteUploadStore("shop.db")))
        upload = uploads.create(7, "/srv/uploads/eBay-OrdersReport.csv")
        job_id = manager.submit("csv_import", account_id=7, params={"upload_id": upload.id})

    The job's result is the :class:`ImportReport` as JSON. Re-running a job
    (a retry after a crash) re-imports the file; upserts by natural key make
    the database end up exactly as after one run.
    """

    job_type: ClassVar[str] = "csv_import"
    max_retries: ClassVar[int] = 3

    def __init__(
        self, sink: RowSink, uploads: UploadStore, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.sink = sink
        self.uploads = uploads
        self.batch_size = batch_size

    def run(self, ctx: JobContext, params: CsvImportParams) -> dict[str, Any]:
        """Import the upload's file and return the report as JSON.

        Raises:
            UploadNotFound: No upload has ``params.upload_id`` (not retried).
            UploadAccessDenied: The upload belongs to another account (not retried).
            UploadFileMissing: The upload's file is gone (not retried).
            UnreadableCsv: The file is not a supported CSV (not retried).
            threadjobs.JobInterrupted: The job was cancelled or timed out at a batch boundary.
        """
        upload = self._authorised_upload(ctx, params.upload_id)
        csv_type = params.csv_type or upload.csv_type
        self._update(
            upload.id,
            status=UploadStatus.PROCESSING,
            job_id=ctx.job_id,
            started_at=_now(),
            finished_at=None,
            error_message=None,
        )
        if not os.path.isfile(upload.file_path):
            error = UploadFileMissing(
                f"upload {upload.id}: the file {upload.file_path!r} does not exist; "
                "upload the file again"
            )
            self._update(
                upload.id, status=UploadStatus.FAILED, error_message=str(error), finished_at=_now()
            )
            raise error
        importer = CsvImport(
            upload.file_path,
            self.sink,
            upload.account_id,
            csv_type=csv_type,
            batch_size=self.batch_size,
        )
        ctx.progress(0.0, "reading header", step="csv_parsing")

        def on_batch(done: BatchDone) -> None:
            written = done.report.inserted_rows + done.report.updated_rows
            message = f"{done.rows_read} rows read, {written} written"
            ctx.progress(min(done.percent, 99.9), message, step="importing")

        try:
            report = importer.run(on_batch)
        except BaseException as exc:
            # Cancellation, timeout, shutdown or a real error: what was
            # committed stays; the upload record says how far it got and why.
            self._record_stop(upload.id, importer.report, exc)
            raise
        self._record_counts(upload.id, report, UploadStatus.COMPLETED, None)
        ctx.progress(100.0, report.summary().splitlines()[0], step="done")
        return report.model_dump(mode="json")

    def _authorised_upload(self, ctx: JobContext, upload_id: int) -> Upload:
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise UploadNotFound(
                f"no upload with id {upload_id}; create it with the upload store first"
            )
        if ctx.account_id is None or str(ctx.account_id) != upload.account_id:
            raise UploadAccessDenied(
                f"upload {upload_id} belongs to another account than the job's "
                f"(account_id={ctx.account_id!r}); submit the job for the upload's account"
            )
        return upload

    def _record_stop(self, upload_id: int, report: ImportReport | None, exc: BaseException) -> None:
        if isinstance(exc, WorkerShuttingDown):
            # The job goes back to the queue and will start over.
            status, message = UploadStatus.PENDING, "interrupted by a shutdown; queued again"
        elif isinstance(exc, JobCancelled):
            status, message = UploadStatus.CANCELLED, "cancelled; rows written so far are kept"
        elif isinstance(exc, JobTimedOut):
            status, message = UploadStatus.FAILED, "timed out; rows written so far are kept"
        else:
            status, message = UploadStatus.FAILED, f"{type(exc).__name__}: {exc}"
        # Never hide the original error behind a bookkeeping one.
        with contextlib.suppress(Exception):
            self._record_counts(upload_id, report, status, message)

    def _record_counts(
        self, upload_id: int, report: ImportReport | None, status: UploadStatus, error: str | None
    ) -> None:
        counts: dict[str, Any] = {}
        if report is not None:
            counts = {
                "csv_type": report.csv_type,
                "total_rows": report.total_rows,
                "valid_rows": report.valid_rows,
                "invalid_rows": report.invalid_rows,
                "inserted_rows": report.inserted_rows,
                "updated_rows": report.updated_rows,
                "failed_rows": report.failed_rows,
            }
        self._update(upload_id, status=status, error_message=error, finished_at=_now(), **counts)

    def _update(self, upload_id: int, **changes: Any) -> None:
        self.uploads.update(upload_id, UploadChanges(**changes))


def _now() -> datetime:
    return datetime.now(timezone.utc)
