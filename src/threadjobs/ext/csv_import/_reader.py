"""Streaming reader for eBay CSV exports.

It finds the encoding (UTF-8 with or without BOM, cp1252 fallback), the
delimiter and the header row (skipping preambles, ``#INFO`` lines, rows of bare
commas and padding rows of empty fields), then yields the data rows one at a
time with their line numbers while keeping count of the bytes read, so callers
can report progress. Trailer lines (``43,record(s) downloaded,``,
``Seller ID : someone``) are skipped, never yielded. Memory stays flat: the
file is read line by line, only a bounded sample is read up front.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO

from ._errors import EncodingError, UnreadableCsv, UnrecognisedHeader
from ._types import ColumnMap, CsvType, detect_header, expected_columns

__all__ = ["CsvReader", "DataRow"]

#: Bytes read up front to choose the encoding and the delimiter. Preambles are
#: a dozen short lines at most, so the header is well inside.
SAMPLE_BYTES = 256 * 1024
#: Rows looked at before giving up on finding a header.
MAX_HEADER_SEARCH_ROWS = 200
#: Bytes of whole lines decoded at a time while streaming.
READ_CHUNK_BYTES = 32 * 1024
_DELIMITERS = (",", ";", "\t")
_TRAILER_COUNT = re.compile(r"\s*\d+\s*(record\(s\) downloaded.*)?\Z", re.IGNORECASE)
_TRAILER_TEXT = re.compile(r"\s*record\(s\) downloaded", re.IGNORECASE)
_SELLER_ID = re.compile(r"\s*seller id\s*:", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DataRow:
    """One data row of the file.

    Attributes:
        line: The 1-based physical line where the row starts.
        cells: The row's cells, as text.
    """

    line: int
    cells: list[str]


class CsvReader:
    """Open an eBay CSV export and iterate over its data rows.

    Use as a context manager::

        with CsvReader(path) as reader:
            print(reader.columns.csv_type, reader.encoding)
            for row in reader:
                ...

    Attributes:
        path: The file.
        size: Its size in bytes.
        encoding: ``"utf-8"``, ``"utf-8-sig"`` or ``"cp1252"``.
        delimiter: The field delimiter found.
        columns: The recognised header.
        bytes_read: How far the reader has got, for progress.
        skipped_lines: Rows that were neither header nor data (preamble,
            padding, trailer).
        warnings: Things worth telling the user that are not row errors.
    """

    def __init__(self, path: str | os.PathLike[str], csv_type: CsvType | None = None) -> None:
        """Open the file and find its encoding, delimiter and header.

        Args:
            path: The CSV file.
            csv_type: Read the file as this type instead of detecting it.

        Raises:
            FileNotFoundError: The file does not exist.
            EncodingError: The bytes are UTF-16, binary or in no supported encoding.
            UnrecognisedHeader: No header of a supported type in the first rows.
        """
        self.path = os.fspath(path)
        self.warnings: list[str] = []
        self.skipped_lines = 0
        self._file: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        try:
            self.size = os.fstat(self._file.fileno()).st_size
            sample = self._file.read(SAMPLE_BYTES)
            self.encoding, self._start = _sniff_encoding(sample, len(sample) < SAMPLE_BYTES)
            # Old Mac-style files end lines with a lone CR.
            self._newline = b"\r" if b"\r" in sample and b"\n" not in sample else b"\n"
            self.delimiter, self.columns, self._header_index = _find_header(
                sample, self.encoding, self._start, self._newline, csv_type
            )
        except BaseException:
            self._file.close()
            raise
        self.bytes_read = self._start
        self._fallback_lines = 0
        self._utf8_lines = 0

    def __enter__(self) -> CsvReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __iter__(self) -> Iterator[DataRow]:
        """Yield the data rows after the header, skipping blank and trailer rows.

        Raises:
            UnreadableCsv: The CSV structure is broken beyond repair (e.g. an
                unterminated quote swallowing the rest of the file).
        """
        for line, cells in self.iter_cells():
            yield DataRow(line, cells)

    def iter_cells(self) -> Iterator[tuple[int, list[str]]]:
        """Like iterating the reader, but yield plain ``(line, cells)`` tuples.

        The importer's hot loop uses this: a tuple costs a fraction of a
        frozen dataclass instance, and a 1,000,000-row file makes a million.

        Raises:
            UnreadableCsv: As when iterating the reader.
        """
        self._file.seek(self._start)
        self.bytes_read = self._start
        reader = csv.reader(self._lines(), delimiter=self.delimiter)
        header_index = self._header_index
        previous_end = 0
        try:
            for index, cells in enumerate(reader):
                line = previous_end + 1
                previous_end = reader.line_num
                if index <= header_index:
                    self.skipped_lines += index < header_index
                    continue
                first = cells[0] if cells else ""
                if first.isdecimal():
                    # The common case (a sales record number), decided with
                    # one regex instead of four: of the skipped rows only a
                    # "43,record(s) downloaded" trailer starts with digits.
                    if len(cells) > 1 and _TRAILER_TEXT.match(cells[1]):
                        self.skipped_lines += 1
                        continue
                    yield line, cells
                    continue
                # A non-blank first cell rules out a blank row without
                # looking at the other 80 cells; the other checks read only
                # the first two cells.
                if (
                    ((not first or first.isspace()) and _is_blank(cells))
                    or _is_info(cells)
                    or _is_trailer(cells)
                ):
                    self.skipped_lines += 1
                    continue
                yield line, cells
        except csv.Error as exc:
            raise UnreadableCsv(
                f"line {reader.line_num}: the CSV structure is broken ({exc}); a quote is "
                "probably not closed. Download the report from eBay again"
            ) from exc
        if self._fallback_lines and self._utf8_lines:
            self.warnings.append(
                f"{self._fallback_lines} line(s) were not valid UTF-8 and were read as cp1252"
            )

    def _lines(self) -> Iterator[str]:
        if self._newline != b"\n":
            yield from self._decode_lines(_split_cr(self._file))
            return
        # Decoding ~32 KiB of whole lines at once is several times cheaper
        # than a decode call per line, and gives the same text: a UTF-8
        # multi-byte sequence never contains the byte of "\n". A chunk that
        # is not valid UTF-8 is decoded line by line, as before. Progress
        # (bytes_read) runs at most one chunk ahead of the rows yielded.
        while raw_lines := self._file.readlines(READ_CHUNK_BYTES):
            block = b"".join(raw_lines)
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError:
                yield from self._decode_lines(raw_lines)
                continue
            self.bytes_read += len(block)
            self._utf8_lines += not block.isascii()
            yield from _split_lines(text, "\n")

    def _decode_lines(self, raw_lines: Iterable[bytes]) -> Iterator[str]:
        # Every line is tried as UTF-8 first, then cp1252: ASCII lines read
        # the same either way, and a UTF-8 file with one stray cp1252 line
        # (text pasted from a Windows program) keeps that row.
        for raw in raw_lines:
            self.bytes_read += len(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                self._fallback_lines += 1
                yield _decode_cp1252(raw, self.bytes_read)
            else:
                self._utf8_lines += not raw.isascii()
                yield line


def _split_cr(file: BinaryIO) -> Iterator[bytes]:
    pending = b""
    while chunk := file.read(65536):
        *complete, pending = (pending + chunk).split(b"\r")
        for line in complete:
            yield line + b"\r"
    if pending:
        yield pending


def _split_lines(text: str, newline: str) -> list[str]:
    """Split like the streaming pass does: on ``newline`` only, keeping it."""
    parts = text.split(newline)
    lines = [part + newline for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _decode_line(latin1: str) -> str:
    raw = latin1.encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _decode_cp1252(raw: bytes, offset: int) -> str:
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise EncodingError(
            f"bytes near offset {offset} are neither UTF-8 nor cp1252 ({exc.reason}); "
            "save the file as 'CSV UTF-8' and upload it again"
        ) from exc


def _sniff_encoding(sample: bytes, complete: bool) -> tuple[str, int]:
    """Return (encoding, offset of the first byte after any BOM)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", len(codecs.BOM_UTF8)
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in sample[:4096]:
        hint = "an Excel workbook" if sample.startswith(b"PK\x03\x04") else "UTF-16 text"
        raise EncodingError(
            f"the file looks like {hint}, not a CSV file in UTF-8 or cp1252; "
            "open it and save it as 'CSV UTF-8 (Comma delimited)'"
        )
    if sample.startswith(b"PK\x03\x04"):
        raise EncodingError(
            "the file is an Excel workbook; save it as 'CSV UTF-8 (Comma delimited)'"
        )
    try:
        # final=False: the sample may end in the middle of a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=complete)
    except UnicodeDecodeError:
        _decode_cp1252(sample, 0)  # raises when not cp1252 either
        return "cp1252", 0
    return "utf-8", 0


def _find_header(
    sample: bytes, encoding: str, start: int, newline: bytes, csv_type: CsvType | None
) -> tuple[str, ColumnMap, int]:
    lines = [
        _decode_line(raw)
        for raw in _split_lines(sample[start:].decode("latin-1"), newline.decode())
    ]
    if len(sample) >= SAMPLE_BYTES and len(lines) > 1:
        lines.pop()  # the last line of a truncated sample is incomplete
    first_row: list[str] | None = None
    for delimiter in _declared_delimiter(lines) or _DELIMITERS:
        try:
            for number, cells in enumerate(csv.reader(lines, delimiter=delimiter)):
                if number >= MAX_HEADER_SEARCH_ROWS:
                    break
                if first_row is None and not _is_blank(cells):
                    first_row = cells
                columns = detect_header(cells, csv_type)
                if columns is not None:
                    return delimiter, columns, number
        except csv.Error:
            continue
    expected = expected_columns(csv_type)
    wanted = "; ".join(f"{name}: {', '.join(cols)}" for name, cols in expected.items())
    seen = ", ".join(first_row[:8]) if first_row else "nothing (the file is empty)"
    raise UnrecognisedHeader(
        f"no header row found in the first {MAX_HEADER_SEARCH_ROWS} rows. Expected a row with "
        f"these columns ({wanted}); the first non-empty row was: {seen}. Upload an eBay "
        "export of a supported type, or pass csv_type if the type is known",
        expected=dict(expected),
        found=first_row,
    )


def _declared_delimiter(lines: list[str]) -> tuple[str, ...]:
    # Excel writes "sep=;" as the first line when asked to.
    first = lines[0].strip() if lines else ""
    if first.lower().startswith("sep=") and len(first) == 5:
        return (first[4],)
    return ()


def _is_blank(cells: list[str]) -> bool:
    return not any(c.strip() for c in cells)


def _is_info(cells: list[str]) -> bool:
    first = cells[0].lstrip() if cells else ""
    return first.startswith("#INFO") or first == "Info"


def _is_trailer(cells: list[str]) -> bool:
    first = cells[0]
    if _SELLER_ID.match(first):
        return True
    if _TRAILER_COUNT.match(first) is None:
        return False
    return bool(_TRAILER_TEXT.search(first)) or (
        len(cells) > 1 and bool(_TRAILER_TEXT.match(cells[1]))
    )
