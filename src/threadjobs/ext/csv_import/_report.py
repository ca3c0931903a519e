"""The import report: what happened to every row, in numbers and examples.

:class:`ReportBuilder` collects while the import runs (it is not thread-safe:
one import, one thread); :meth:`ReportBuilder.build` freezes it into an
:class:`ImportReport`, a pydantic model whose ``model_dump(mode="json")`` is
the job's result.

Memory stays bounded whatever the file: errors are *counted* by reason, and
only the first ``max_examples`` are kept as examples.
"""

from __future__ import annotations

import time
from collections import Counter

from pydantic import BaseModel, ConfigDict, Field

from ._types import CsvType

__all__ = ["ImportReport", "ReportBuilder", "RowError"]

#: Example values are cut to this length: enough to recognise, not a data dump.
MAX_VALUE_CHARS = 80


class RowError(BaseModel):
    """One example of a row that was not imported.

    Attributes:
        line: The 1-based line of the file where the row starts.
        column: The column as the file names it, or ``None`` for the whole row.
        reason: The stable reason code (``"invalid_money"``, ``"write_failed"``...).
        message: What was wrong, for a human.
        value: The offending cell's text, shortened.
    """

    model_config = ConfigDict(frozen=True)

    line: int
    column: str | None
    reason: str
    message: str
    value: str | None = None


class ImportReport(BaseModel):
    """What an import did.

    Row counts add up: ``total_rows == valid_rows + invalid_rows`` and
    ``valid_rows == inserted_rows + updated_rows + failed_rows`` for a finished
    import (an interrupted one has valid rows not written yet). Rows of a
    multi-item order count once each. ``updated`` means the record already
    existed (for instance from an earlier run of the same file), whether or not
    a value changed.

    Attributes:
        csv_type: The type the file was read as.
        encoding: The encoding the file was read in.
        total_rows: Data rows read (preamble, padding and trailer lines excluded).
        valid_rows: Rows that passed validation.
        invalid_rows: Rows rejected by validation.
        inserted_rows: Valid rows whose record was new.
        updated_rows: Valid rows whose record already existed.
        failed_rows: Valid rows the database refused.
        records_written: Records (orders, listings...) inserted or updated.
        skipped_lines: Lines that were neither header nor data.
        errors_by_reason: Errors counted by reason code (a row may have several).
        examples: The first errors, with line, column and reason.
        warnings: Things about the whole file worth knowing.
        duration_seconds: Wall time of the import.
        completed: ``False`` when the import was interrupted (cancelled, timed out).
    """

    model_config = ConfigDict(frozen=True)

    csv_type: CsvType
    encoding: str
    total_rows: int = 0
    valid_rows: int = 0
    invalid_rows: int = 0
    inserted_rows: int = 0
    updated_rows: int = 0
    failed_rows: int = 0
    records_written: int = 0
    skipped_lines: int = 0
    errors_by_reason: dict[str, int] = Field(default_factory=dict)
    examples: list[RowError] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    duration_seconds: float = 0.0
    completed: bool = True

    def summary(self) -> str:
        """Return a few human-readable lines describing the import."""
        lines = [
            f"{self.csv_type.value}: {self.total_rows} rows read, {self.valid_rows} valid, "
            f"{self.invalid_rows} invalid; {self.inserted_rows} inserted, "
            f"{self.updated_rows} updated, {self.failed_rows} failed "
            f"({self.records_written} records) in {self.duration_seconds:.2f} s"
        ]
        if self.errors_by_reason:
            reasons = ", ".join(f"{k}={v}" for k, v in sorted(self.errors_by_reason.items()))
            lines.append(f"errors by reason: {reasons}")
        lines.extend(
            f"  line {e.line}, {e.column or 'row'}: {e.reason}: {e.message}" for e in self.examples
        )
        lines.extend(f"warning: {w}" for w in self.warnings)
        if not self.completed:
            lines.append("the import was interrupted; the counts cover what was done")
        return "\n".join(lines)


class ReportBuilder:
    """Mutable counters for one running import.

    Args:
        csv_type: The type being imported.
        encoding: The encoding the file is read in.
        max_examples: How many error examples to keep.
    """

    def __init__(self, csv_type: CsvType, encoding: str, max_examples: int = 50) -> None:
        self.csv_type = csv_type
        self.encoding = encoding
        self.max_examples = max_examples
        self.total_rows = 0
        self.valid_rows = 0
        self.invalid_rows = 0
        self.inserted_rows = 0
        self.updated_rows = 0
        self.failed_rows = 0
        self.records_written = 0
        self.skipped_lines = 0
        self.reasons: Counter[str] = Counter()
        self.examples: list[RowError] = []
        self.warnings: list[str] = []
        self._started = time.monotonic()

    def error(
        self,
        line: int,
        column: str | None,
        reason: str,
        message: str,
        value: object = None,
    ) -> None:
        """Count one error and keep it as an example while there is room."""
        self.reasons[reason] += 1
        if len(self.examples) < self.max_examples:
            shown = None if value is None else str(value)
            if shown is not None and len(shown) > MAX_VALUE_CHARS:
                shown = shown[: MAX_VALUE_CHARS - 1] + "…"
            self.examples.append(
                RowError(line=line, column=column, reason=reason, message=message, value=shown)
            )

    def warn(self, message: str) -> None:
        """Add a warning about the file (kept once; at most 20 distinct)."""
        if message not in self.warnings and len(self.warnings) < 20:
            self.warnings.append(message)

    def build(self, *, completed: bool = True) -> ImportReport:
        """Freeze the counters into an :class:`ImportReport`."""
        return ImportReport(
            csv_type=self.csv_type,
            encoding=self.encoding,
            total_rows=self.total_rows,
            valid_rows=self.valid_rows,
            invalid_rows=self.invalid_rows,
            inserted_rows=self.inserted_rows,
            updated_rows=self.updated_rows,
            failed_rows=self.failed_rows,
            records_written=self.records_written,
            skipped_lines=self.skipped_lines,
            errors_by_reason=dict(sorted(self.reasons.items())),
            examples=list(self.examples),
            warnings=list(self.warnings),
            duration_seconds=round(time.monotonic() - self._started, 3),
            completed=completed,
        )
