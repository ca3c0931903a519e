"""Reading: encodings, line ends, quoting, header search, preambles and trailers."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadjobs.ext.csv_import import (
    CsvReader,
    CsvType,
    EncodingError,
    UnreadableCsv,
    UnrecognisedHeader,
)

from .conftest import WriteCsv

ORDERS_HEADER = '"Sales Record Number","Order Number","Buyer Username",Item Title,"Sold For"'


def rows(path: Path, csv_type: CsvType | None = None) -> list[tuple[int, list[str]]]:
    with CsvReader(path, csv_type) as reader:
        return [(row.line, row.cells) for row in reader]


def test_orders_layout_with_preamble_padding_and_trailer(write_csv: WriteCsv) -> None:
    path = write_csv(
        [
            ",,,,",
            ORDERS_HEADER,
            '"","","","",""',
            '"101","04-11111-22222","bob","Widget","$1.00"',
            "",
            "1,record(s) downloaded,",
            "Seller ID : someone",
        ]
    )
    with CsvReader(path) as reader:
        data = [(row.line, row.cells[1]) for row in reader]
        assert reader.columns.csv_type is CsvType.ORDERS
        assert reader.skipped_lines == 5
    assert data == [(4, "04-11111-22222")]


@pytest.mark.parametrize(
    "trailer",
    [
        '"38","record(s) downloaded",,,,',
        '"Seller ID : 2stackt",,,,',
        '"2 record(s) downloaded"',
        "45,record(s) downloaded,,,,,,,,,",
    ],
)
def test_trailer_variants_are_never_data(write_csv: WriteCsv, trailer: str) -> None:
    path = write_csv([ORDERS_HEADER, '"1","04-1","bob","x","$1.00"', trailer])
    assert [cells[1] for _, cells in rows(path)] == ["04-1"]


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_line_endings_and_line_breaks_inside_quotes(write_csv: WriteCsv, newline: str) -> None:
    path = write_csv(
        [ORDERS_HEADER, f'"1","04-1","bob","Title, with ""quotes""{newline}and a break","$1.00"'],
        newline=newline,
    )
    ((line, cells),) = rows(path)
    assert line == 2
    assert cells[3] == f'Title, with "quotes"{newline}and a break'


def test_line_numbers_count_physical_lines(write_csv: WriteCsv) -> None:
    path = write_csv(
        [ORDERS_HEADER, '"1","04-1","bob","two\nlines","$1"', '"2","04-2","ann","x","$1"']
    )
    assert [line for line, _ in rows(path)] == [2, 4]


def test_utf8_bom_is_stripped(write_csv: WriteCsv) -> None:
    path = write_csv([ORDERS_HEADER, '"1","04-1","bøb 🃏","x","$1"'], bom=True)
    with CsvReader(path) as reader:
        assert reader.encoding == "utf-8-sig"
        assert [row.cells[2] for row in reader] == ["bøb 🃏"]


def test_cp1252_fallback(write_csv: WriteCsv) -> None:
    title = "Caf\u00e9 \u2013 \u201cnice\u201d"  # characters cp1252 has and latin-1 lacks
    row = f'"1","04-1","Jos\u00e9","{title}","\u00a31.00"'
    path = write_csv([ORDERS_HEADER, row], encoding="cp1252")
    with CsvReader(path) as reader:
        assert reader.encoding == "cp1252"
        assert [row.cells[3] for row in reader] == [title]


def test_a_stray_cp1252_line_in_a_utf8_file_is_kept_with_a_warning(write_csv: WriteCsv) -> None:
    path = write_csv([ORDERS_HEADER, '"1","04-1","bøb","x","$1"'])
    with path.open("ab") as handle:
        handle.write('\r\n"2","04-2","Jos\xe9","x","$1"'.encode("latin-1"))
    with CsvReader(path) as reader:
        names = [row.cells[2] for row in reader]
        assert reader.warnings
    assert names == ["bøb", "José"]


def test_utf16_is_refused_with_instructions(write_csv: WriteCsv) -> None:
    path = write_csv([ORDERS_HEADER], encoding="utf-16")
    with pytest.raises(EncodingError, match="CSV UTF-8"):
        CsvReader(path)


def test_semicolon_delimiter(write_csv: WriteCsv) -> None:
    path = write_csv(["sep=;", "Sales Record Number;Order Number;Buyer Username", "1;04-1;bob"])
    assert rows(path) == [(3, ["1", "04-1", "bob"])]


def test_info_lines_before_the_header_are_skipped(write_csv: WriteCsv) -> None:
    path = write_csv(
        [
            "#INFO,Version=1.0.0,Template= eBay-active-revise-price-quantity-download_US,,,",
            "Action,Category name,Item number,Title,Listing site,Currency,Start price,"
            "Buy It Now price,Available quantity,Relationship,Relationship details,"
            "Custom label (SKU)",
            "Revise,Cards,257480000000,A card,US,USD,5.0,,3,,,SKU-1",
        ]
    )
    with CsvReader(path) as reader:
        assert reader.columns.csv_type is CsvType.PRODUCTS
        assert len(list(reader)) == 1


def test_unrecognised_header_says_what_was_expected(write_csv: WriteCsv) -> None:
    path = write_csv(["Name,Colour,Size", "a,b,c"])
    with pytest.raises(UnrecognisedHeader) as info:
        CsvReader(path)
    assert "Order Number" in str(info.value)
    assert info.value.found == ["Name", "Colour", "Size"]
    assert "orders" in info.value.expected


def test_explicit_type_overrides_detection(write_csv: WriteCsv) -> None:
    path = write_csv(["Order Number,Buyer Username,Sold For", "04-1,bob,$1"])
    with pytest.raises(UnrecognisedHeader):
        CsvReader(path)
    with CsvReader(path, CsvType.ORDERS) as reader:
        assert reader.columns.csv_type is CsvType.ORDERS


def test_unclosed_quote_is_a_clear_error(write_csv: WriteCsv) -> None:
    path = write_csv([ORDERS_HEADER, '"1","04-1","bob","x' + "y" * 200_000])
    with CsvReader(path) as reader, pytest.raises(UnreadableCsv, match="quote"):
        list(reader)


def test_progress_bytes_reach_the_file_size(write_csv: WriteCsv) -> None:
    path = write_csv([ORDERS_HEADER] + [f'"{i}","04-{i}","bob","x","$1"' for i in range(50)])
    with CsvReader(path) as reader:
        seen = []
        for _ in reader:
            seen.append(reader.bytes_read)
        assert seen == sorted(seen)
        assert reader.bytes_read == reader.size == path.stat().st_size


def test_chunked_decoding_matches_line_by_line_across_many_chunks(write_csv: WriteCsv) -> None:
    # The reader decodes ~32 KiB of lines at a time and falls back to line by
    # line for a chunk that is not UTF-8: a stray cp1252 line deep in a large
    # UTF-8 file, and quoted line breaks across chunk ends, must read the same.
    lines = [ORDERS_HEADER]
    lines += [f'"{i}","04-{i}","bøb {i}","two\r\nlines","$1"' for i in range(3000)]
    path = write_csv(lines)
    with path.open("ab") as handle:
        handle.write('\r\n"x","04-x","Jos\xe9","x","$1"'.encode("latin-1"))
    with CsvReader(path) as reader:
        data = [(row.line, row.cells[2]) for row in reader]
        assert reader.bytes_read == reader.size
        assert reader.warnings == ["1 line(s) were not valid UTF-8 and were read as cp1252"]
    assert len(data) == 3001
    assert data[0] == (2, "bøb 0")
    assert data[2999] == (2 + 2 * 2999, "bøb 2999")
    assert data[3000] == (2 + 2 * 3000, "Jos\u00e9")
