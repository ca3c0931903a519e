"""The import itself: read, validate, group, write in batches, report.

This module knows nothing about jobs. :class:`CsvImport` can run in any
thread; the job handler (``_handler``) wraps it, turning batch callbacks into
progress and checkpoints. Use :func:`import_csv` to import a file directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from ._errors import RecordsRejected
from ._models import error_reason
from ._orders import OrderGrouper
from ._reader import CsvReader
from ._report import ImportReport, ReportBuilder
from ._rows import compile_row_validator
from ._sinks import Outcome, RowSink, SinkSession
from ._tables import Record, record_from_row
from ._types import ColumnMap, CsvType

__all__ = ["BatchDone", "CsvImport", "import_csv"]

#: Rows per transaction. Small enough that a failed batch is cheap to retry
#: row by row and a cancellation stops quickly; large enough that commits do
#: not dominate.
DEFAULT_BATCH_SIZE = 100


@dataclass(frozen=True, slots=True)
class BatchDone:
    """Passed to the ``on_batch`` callback after each committed batch.

    Attributes:
        bytes_read: Bytes of the file read so far.
        total_bytes: The file's size.
        rows_read: Data rows read so far.
        report: A snapshot of the counts so far.
    """

    bytes_read: int
    total_bytes: int
    rows_read: int
    report: ImportReport

    @property
    def percent(self) -> float:
        """Progress through the file, 0-100, from bytes read."""
        return (
            100.0
            if not self.total_bytes
            else min(100.0, 100.0 * self.bytes_read / self.total_bytes)
        )


class CsvImport:
    """One import of one file into one sink, for one account.

    Args:
        path: The CSV file.
        sink: Where records go.
        account_id: The account whose data this is (part of every natural key).
        csv_type: Read the file as this type instead of detecting it.
        batch_size: Rows per transaction (an order is never split, so a batch
            may hold a few more).
        max_examples: Error examples kept in the report.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sink: RowSink,
        account_id: int | str,
        *,
        csv_type: CsvType | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_examples: int = 50,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.path = os.fspath(path)
        self.sink = sink
        self.account_id = str(account_id)
        self.csv_type = csv_type
        self.batch_size = batch_size
        self.max_examples = max_examples
        self._builder: ReportBuilder | None = None

    @property
    def report(self) -> ImportReport | None:
        """The counts so far (``completed=False``), or ``None`` before the header was read.

        After an interruption (a cancelled job, an exception from ``on_batch``)
        this is what was done: every counted write was committed.
        """
        return None if self._builder is None else self._builder.build(completed=False)

    def run(self, on_batch: Callable[[BatchDone], None] | None = None) -> ImportReport:
        """Import the file.

        Args:
            on_batch: Called after each committed batch. An exception it raises
                (a job's cancellation, say) stops the import right there, with
                every batch so far committed.

        Returns:
            The final report.

        Raises:
            FileNotFoundError: The file does not exist.
            UnreadableCsv: The file is not a CSV of a supported type (see subclasses).
        """
        with CsvReader(self.path, self.csv_type) as reader:
            builder = self._builder = ReportBuilder(
                reader.columns.csv_type, reader.encoding, self.max_examples
            )
            missing = reader.columns.missing
            if missing:
                builder.warn(f"columns not in the file, left empty: {', '.join(missing)}")
            session = self.sink.open(self.account_id, reader.columns.csv_type)
            try:
                for batch in self._batches(reader, builder):
                    self._write(session, batch, builder)
                    builder.skipped_lines = reader.skipped_lines
                    if on_batch is not None:
                        on_batch(
                            BatchDone(
                                reader.bytes_read,
                                reader.size,
                                builder.total_rows,
                                builder.build(completed=False),
                            )
                        )
            finally:
                session.close()
            builder.skipped_lines = reader.skipped_lines
            for warning in reader.warnings:
                builder.warn(warning)
        return builder.build()

    def _batches(self, reader: CsvReader, builder: ReportBuilder) -> Iterator[list[Record]]:
        """Validate rows and yield lists of records holding about ``batch_size`` rows."""
        # The hot loop of the import: it runs once per row, so it binds what
        # it calls to locals and does no work a row does not need.
        columns = reader.columns
        validate = compile_row_validator(columns)
        grouper = OrderGrouper() if columns.csv_type is CsvType.ORDERS else None
        group = None if grouper is None else grouper.add
        batch_size = self.batch_size
        batch: list[Record] = []
        append = batch.append
        rows_in_batch = 0
        for line, cells in reader.iter_cells():
            builder.total_rows += 1
            try:
                values = validate(cells)
            except ValidationError as exc:
                self._count_invalid(builder, columns, line, cells, exc)
                continue
            builder.valid_rows += 1
            if group is not None:
                # A finished order comes out when the first row of the next
                # one goes in; until then its rows wait in the grouper.
                record = group(line, values)  # type: ignore[arg-type]  # orders give OrderValues
                if record is None:
                    continue
            else:
                record = record_from_row(values, line)
            append(record)
            rows_in_batch += len(record.lines)
            if rows_in_batch >= batch_size:
                yield batch
                batch, rows_in_batch = [], 0
                append = batch.append
        if grouper is not None and (last := grouper.flush()) is not None:
            batch.append(last)
        if batch:
            yield batch

    def _write(self, session: SinkSession, batch: Sequence[Record], builder: ReportBuilder) -> None:
        try:
            outcomes = session.write(batch)
        except RecordsRejected:
            # One bad record must not sink the others: retry them one by one.
            for record in batch:
                try:
                    (outcome,) = session.write([record])
                except RecordsRejected as exc:
                    builder.failed_rows += len(record.lines)
                    for line in record.lines:
                        builder.error(line, None, "write_failed", str(exc))
                else:
                    _count(builder, record, outcome)
        else:
            for record, outcome in zip(batch, outcomes, strict=True):
                _count(builder, record, outcome)

    @staticmethod
    def _count_invalid(
        builder: ReportBuilder,
        columns: ColumnMap,
        line: int,
        cells: list[str],
        exc: ValidationError,
    ) -> None:
        builder.invalid_rows += 1
        for error in exc.errors(include_url=False):
            loc = error.get("loc") or ()
            context: dict[str, Any] = error.get("ctx") or {}
            field = str(loc[0]) if loc else context.get("field")
            position = columns.positions.get(field) if field else None
            value = cells[position] if position is not None and position < len(cells) else None
            column = columns.names.get(field, field) if field else None
            reason, message = error_reason(error)
            builder.error(line, column, reason, message, value)


def _count(builder: ReportBuilder, record: Record, outcome: Outcome) -> None:
    builder.records_written += 1
    if outcome == "inserted":
        builder.inserted_rows += len(record.lines)
    else:
        builder.updated_rows += len(record.lines)


def import_csv(
    path: str | os.PathLike[str],
    sink: RowSink,
    account_id: int | str,
    *,
    csv_type: CsvType | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[BatchDone], None] | None = None,
) -> ImportReport:
    """Import an eBay CSV export into a sink, outside any job.

    Args:
        path: The CSV file.
        sink: Where records go, e.g. :class:`SqliteSink`.
        account_id: The account whose data this is.
        csv_type: Read the file as this type instead of detecting it.
        batch_size: Rows per transaction.
        on_batch: Called after each committed batch (progress).

    Returns:
        The :class:`ImportReport`.

    Example::

        report = import_csv("eBay-OrdersReport.csv", SqliteSink("shop.db"), account_id=7)
        print(report.summary())
    """
    job = CsvImport(path, sink, account_id, csv_type=csv_type, batch_size=batch_size)
    return job.run(on_batch)
