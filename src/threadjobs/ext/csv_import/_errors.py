"""The exception tree of the csv_import extension.

Every error the extension raises on purpose derives from :class:`CsvImportError`,
itself a :class:`threadjobs.ThreadJobsError`::

    ThreadJobsError
    └── CsvImportError
        ├── UploadNotFound (FileNotFoundError)     no upload record with that id
        ├── UploadFileMissing (FileNotFoundError)  the upload's file is not on disk
        ├── UploadAccessDenied (PermissionError)   the upload belongs to another account
        ├── UnreadableCsv (ValueError)             the file cannot be read as CSV at all
        │   ├── EncodingError                      bytes in no supported encoding
        │   └── UnrecognisedHeader                 no header row of a known type found
        └── RecordsRejected                        the database refused a batch of records

The builtin second bases make the job framework's default ``non_retryable``
(``ValueError, PermissionError, FileNotFoundError``) do the right thing: a file
that is not there or not readable will not become readable on a retry.
Bad *rows* are not exceptions; they are counted in the :class:`ImportReport`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from threadjobs import ThreadJobsError

__all__ = [
    "CsvImportError",
    "EncodingError",
    "RecordsRejected",
    "UnreadableCsv",
    "UnrecognisedHeader",
    "UploadAccessDenied",
    "UploadFileMissing",
    "UploadNotFound",
]


class CsvImportError(ThreadJobsError):
    """Base class of every error the csv_import extension raises."""


class UploadNotFound(CsvImportError, FileNotFoundError):
    """No upload record exists with the requested id."""


class UploadFileMissing(CsvImportError, FileNotFoundError):
    """The upload record points at a file that does not exist."""


class UploadAccessDenied(CsvImportError, PermissionError):
    """The upload belongs to a different account than the job."""


class UnreadableCsv(CsvImportError, ValueError):
    """The file cannot be imported as a whole (as opposed to single bad rows)."""


class EncodingError(UnreadableCsv):
    """The file's bytes are not UTF-8, UTF-8 with BOM or cp1252."""


class UnrecognisedHeader(UnreadableCsv):
    """No row of the file's first lines looks like the header of a supported type.

    Attributes:
        expected: For each candidate type, the column names that identify it.
        found: The first non-empty row that was seen, as a list of cells.
    """

    def __init__(
        self,
        message: str,
        *,
        expected: Mapping[str, Sequence[str]] | None = None,
        found: Sequence[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.expected = dict(expected or {})
        self.found = list(found or [])


class RecordsRejected(CsvImportError):
    """The database refused the records of a write (a constraint, a bad value).

    The sink has rolled the transaction back. The importer retries the batch's
    records one at a time so that one bad record does not sink the others.
    Infrastructure failures (connection lost, database locked) are *not*
    wrapped in this class: they propagate so the job can be retried.
    """
