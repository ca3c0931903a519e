"""The two small interfaces the importer writes through: sinks and upload stores.

A :class:`RowSink` is where imported records go (the application's database);
an :class:`UploadStore` keeps the *upload* records: which file a seller
uploaded, for which account, and how its import went. Both ship in a stdlib
sqlite3 flavour (``_sqlite``) and a SQLAlchemy flavour (``_sqlalchemy``);
an application can implement them on anything else.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from ._tables import Record
from ._types import CsvType

__all__ = [
    "Outcome",
    "RowSink",
    "SinkSession",
    "Upload",
    "UploadChanges",
    "UploadStatus",
    "UploadStore",
]

#: What happened to a record: it was new, or it existed and was overwritten.
Outcome = Literal["inserted", "updated"]


class SinkSession(Protocol):
    """A connection to the sink for one import run, used from one thread."""

    def write(self, records: Sequence[Record]) -> list[Outcome]:
        """Upsert the records in *one* transaction.

        Args:
            records: Records of the session's type; a key may repeat (the
                later record wins).

        Returns:
            One outcome per record, in order.

        Raises:
            RecordsRejected: The database refused the data (constraint,
                bad value); the transaction was rolled back. Any other
                exception means the database itself failed.
        """
        ...

    def close(self) -> None:
        """Release the connection. Committed writes stay."""
        ...


class RowSink(Protocol):
    """Where imported records are written. Must be safe to share between threads."""

    def open(self, account_id: str, csv_type: CsvType) -> SinkSession:
        """Open a session writing ``csv_type`` records of one account."""
        ...


class UploadStatus(str, enum.Enum):
    """The processing state of an upload."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Upload(BaseModel):
    """A file a seller uploaded, and how its import went.

    Attributes:
        id: The upload's id (the job's ``upload_id`` parameter).
        account_id: The account that owns it; only its jobs may import it.
        file_path: Where the file is on disk.
        batch_id: Groups uploads made together (the application's choice).
        csv_type: The type, given at upload or found by the import.
        status: Where processing is.
        job_id: The last job that processed it.
        total_rows: Data rows read.
        valid_rows: Rows that passed validation.
        invalid_rows: Rows that did not.
        inserted_rows: Rows whose record was new.
        updated_rows: Rows whose record already existed.
        failed_rows: Valid rows the database refused.
        error_message: Why processing failed or stopped.
        created_at: When the upload was recorded (UTC).
        started_at: When the last import began (UTC).
        finished_at: When it ended (UTC).
    """

    model_config = ConfigDict(frozen=True)

    id: int
    account_id: str
    file_path: str
    batch_id: str | None = None
    csv_type: CsvType | None = None
    status: UploadStatus = UploadStatus.PENDING
    job_id: str | None = None
    total_rows: int = 0
    valid_rows: int = 0
    invalid_rows: int = 0
    inserted_rows: int = 0
    updated_rows: int = 0
    failed_rows: int = 0
    error_message: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class UploadChanges(BaseModel):
    """A partial update of an :class:`Upload`: only the fields that were set apply."""

    model_config = ConfigDict(frozen=True)

    csv_type: CsvType | None = None
    status: UploadStatus | None = None
    job_id: str | None = None
    total_rows: int | None = None
    valid_rows: int | None = None
    invalid_rows: int | None = None
    inserted_rows: int | None = None
    updated_rows: int | None = None
    failed_rows: int | None = None
    error_message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class UploadStore(Protocol):
    """Keeps upload records. Must be safe to share between threads."""

    def create(
        self,
        account_id: int | str,
        file_path: str,
        *,
        batch_id: str | None = None,
        csv_type: CsvType | None = None,
    ) -> Upload:
        """Record a new upload in status ``pending`` and return it."""
        ...

    def get(self, upload_id: int) -> Upload | None:
        """Return the upload, or ``None`` if there is none with that id."""
        ...

    def update(self, upload_id: int, changes: UploadChanges) -> Upload:
        """Apply the fields set in ``changes`` and return the updated upload.

        Raises:
            UploadNotFound: No upload has that id.
        """
        ...
