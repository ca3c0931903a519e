"""Importing into SQLite: types, multi-item orders, validation report, batches, upserts."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from threadjobs.ext.csv_import import CsvType, SqliteSink, import_csv

from .conftest import WriteCsv

ORDERS_HEADER = (
    '"Sales Record Number","Order Number","Buyer Username","Buyer Name",Ship To City,'
    '"Item Number","Item Title","Quantity","Sold For","Shipping And Handling","Total Price",'
    '"Sale Date","Transaction ID"'
)
MULTI_ITEM_ORDER = [
    '"119","04-14689-12345","bob","Bob Example","Salem","","","","$28.00","$5.00","$33.00",'
    '"Mar-05-24",""',
    '"119","04-14689-12345","bob","","","123456789012","Widget","1","$13.00","","","Mar-05-24","111"',
    '"119","04-14689-12345","bob","","","123456789013","Gadget","1","$15.00","","","Mar-05-24","112"',
]
SINGLE_ORDER = (
    '"120","04-14689-99999","ann","Ann Example","Fairview","123456789014","Thing","2",'
    '"$1,234.56","$0.00","$1,234.56","Mar-06-24","113"'
)


def dump(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: sorted(conn.execute(f"SELECT * FROM {n}").fetchall()) for n in names}


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_multi_item_order_becomes_one_order_with_items(write_csv: WriteCsv, db_path: Path) -> None:
    path = write_csv(["", ORDERS_HEADER, *MULTI_ITEM_ORDER, SINGLE_ORDER])
    report = import_csv(path, SqliteSink(db_path), account_id=7)
    assert (report.total_rows, report.valid_rows, report.inserted_rows) == (4, 4, 4)
    assert report.records_written == 2
    orders = query(
        db_path,
        "SELECT order_key, subtotal, total_price, item_count, buyer_name "
        "FROM ebay_orders ORDER BY order_key",
    )
    assert orders == [
        ("04-14689-12345", "28.00", "33.00", 2, "Bob Example"),
        ("04-14689-99999", "1234.56", "1234.56", 1, "Ann Example"),
    ]
    items = query(
        db_path, "SELECT order_key, item_number, sold_for FROM ebay_order_items ORDER BY line_key"
    )
    assert items == [
        ("04-14689-12345", "123456789012", "13.00"),
        ("04-14689-12345", "123456789013", "15.00"),
        ("04-14689-99999", "123456789014", "1234.56"),
    ]
    # Order-level money is not added to the items' money.
    assert sum(Decimal(str(i[2])) for i in items[:2]) == Decimal("28.00")


def test_money_is_stored_as_exact_text_never_real(write_csv: WriteCsv, db_path: Path) -> None:
    import_csv(write_csv([ORDERS_HEADER, SINGLE_ORDER]), SqliteSink(db_path), 7)
    assert query(db_path, "SELECT typeof(subtotal), subtotal FROM ebay_orders") == [
        ("text", "1234.56")
    ]


def test_rerun_leaves_the_database_exactly_as_one_run(write_csv: WriteCsv, db_path: Path) -> None:
    path = write_csv([ORDERS_HEADER, *MULTI_ITEM_ORDER, SINGLE_ORDER])
    sink = SqliteSink(db_path)
    first = import_csv(path, sink, 7)
    once = dump(db_path)
    second = import_csv(path, sink, 7)
    assert dump(db_path) == once
    assert (first.inserted_rows, first.updated_rows) == (4, 0)
    assert (second.inserted_rows, second.updated_rows) == (0, 4)


def test_same_keys_in_two_accounts_do_not_collide(write_csv: WriteCsv, db_path: Path) -> None:
    path = write_csv([ORDERS_HEADER, SINGLE_ORDER])
    sink = SqliteSink(db_path)
    import_csv(path, sink, 7)
    assert import_csv(path, sink, 8).inserted_rows == 1
    assert query(db_path, "SELECT count(*) FROM ebay_orders") == [(2,)]


def test_invalid_rows_are_reported_and_do_not_stop_the_import(
    write_csv: WriteCsv, db_path: Path
) -> None:
    bad = [
        '"121","04-1-1","cid","","","2.26105E+11","X","1","$1.00","","","Mar-06-24","114"',
        '"122","04-1-2","dan","","","123456789015","X","1","$1.00","","","Feb-30-24","115"',
        '"","","eve","","","123456789016","X","1","$1.00","","","Mar-06-24","116"',
    ]
    report = import_csv(write_csv([ORDERS_HEADER, *bad, SINGLE_ORDER]), SqliteSink(db_path), 7)
    assert (report.total_rows, report.valid_rows, report.invalid_rows) == (4, 1, 3)
    assert report.errors_by_reason == {"damaged_id": 1, "impossible_date": 1, "missing_key": 1}
    assert [(e.line, e.column, e.reason) for e in report.examples] == [
        (2, "Item Number", "damaged_id"),
        (3, "Sale Date", "impossible_date"),
        (4, "Order Number", "missing_key"),
    ]
    assert report.examples[0].value == "2.26105E+11"


def test_examples_are_bounded_but_totals_are_not(write_csv: WriteCsv, db_path: Path) -> None:
    bad = [
        f'"{i}","04-{i}","x","","","123","T","1","$1.0.0","","","Mar-06-24","{i}"'
        for i in range(80)
    ]
    report = import_csv(write_csv([ORDERS_HEADER, *bad]), SqliteSink(db_path), 7)
    assert report.errors_by_reason == {"invalid_money": 80}
    assert len(report.examples) == 50


def test_order_without_order_number_falls_back_to_sales_record_number(
    write_csv: WriteCsv, db_path: Path
) -> None:
    row = '"123","","fay","","","123456789017","X","1","$2.00","","$2.00","Mar-06-24","117"'
    import_csv(write_csv([ORDERS_HEADER, row]), SqliteSink(db_path), 7)
    assert query(db_path, "SELECT order_key, order_number FROM ebay_orders") == [("SRN-123", None)]


def test_a_failing_batch_is_retried_row_by_row(write_csv: WriteCsv, db_path: Path) -> None:
    sink = SqliteSink(db_path)
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON ebay_order_items WHEN NEW.item_title = 'BAD' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the application'); END"
        )
    rows = [
        f'"{i}","04-{i:05d}","u","","","1234567{i:05d}","{"BAD" if i == 5 else "ok"}","1",'
        f'"$1.00","","$1.00","Mar-06-24","{i}"'
        for i in range(10)
    ]
    report = import_csv(write_csv([ORDERS_HEADER, *rows]), sink, 7, batch_size=4)
    assert (report.inserted_rows, report.failed_rows) == (9, 1)
    assert report.errors_by_reason == {"write_failed": 1}
    assert report.examples[0].line == 7
    assert query(db_path, "SELECT count(*) FROM ebay_orders") == [(9,)]


def test_columns_are_matched_by_name_whatever_their_order(
    write_csv: WriteCsv, db_path: Path
) -> None:
    header = "Extra Column,Total Price,Order Number,Sales Record Number,Postage And Handling"
    path = write_csv([header, 'x,"AU $3,000.00",04-1,"1",AU $5.00'])
    report = import_csv(path, SqliteSink(db_path), 7)
    assert report.valid_rows == 1
    assert query(
        db_path, "SELECT total_price, shipping_and_handling, currency FROM ebay_orders"
    ) == [("3000.00", "5.00", "AUD")]
    assert any("Buyer Username" in w for w in report.warnings)


LISTINGS = [
    "Item number,Title,Variation details,Custom label (SKU),Available quantity,Format,Currency,"
    "Start price,Auction Buy It Now price,Reserve price,Current price,Sold quantity,Watchers,Bids,"
    "Start date,End date,eBay category 1 name,eBay category 1 number,Condition,Listing site",
    '"257480000000",2025 Example Card Auto /98,,,"1","FIXED_PRICE","USD",55.0,,,55.0,"0","1",'
    '"0","Apr-29-26 17:06:04 PDT","May-29-26 17:06:04 PDT","Trading Card Singles","261328",'
    '"Ungraded","US"',
    '"257480000001","Card, ""special"" 🃏",Card=A;B,,"0","FIXED_PRICE","USD",65.0,,,65.0,"2",'
    '"","","Apr-29-26 17:06:04 PDT","","Cards","261328","Used","US"',
    '"257480000001","Card, ""special"" 🃏",Card=A,SKU-A,"0","FIXED_PRICE","USD",65.0,,,65.0,'
    '"1","","",'
    '"Apr-29-26 17:06:04 PDT","","Cards","261328","Used","US"',
]


def test_listings_with_variations_and_empty_not_zero(write_csv: WriteCsv, db_path: Path) -> None:
    report = import_csv(write_csv(LISTINGS, newline="\n", bom=True), SqliteSink(db_path), 7)
    assert report.csv_type is CsvType.LISTINGS
    assert report.inserted_rows == 3
    rows = query(
        db_path,
        "SELECT item_number, variation_key, watchers, available_quantity, start_price, start_date "
        "FROM ebay_listings ORDER BY item_number, variation_key",
    )
    assert rows == [
        ("257480000000", "", 1, 1, "55.0", "2026-04-29T17:06:04-07:00"),
        ("257480000001", "Card=A;B", None, 0, "65.0", "2026-04-29T17:06:04-07:00"),
        ("257480000001", "SKU-A", None, 0, "65.0", "2026-04-29T17:06:04-07:00"),
    ]


@pytest.mark.parametrize(
    ("lines", "csv_type", "table", "count"),
    [
        (
            [
                "#INFO,Version=1.0.0,Template= eBay-active-revise-price-quantity-download_US,,",
                "Action,Category name,Item number,Title,Listing site,Currency,Start price,"
                "Buy It Now price,Available quantity,Relationship,Relationship details,"
                "Custom label (SKU)",
                "Revise,Cards,257480000000,Card,US,USD,5.0,,3,,,SKU-1",
                "Revise,Cards,257480000001,Shirt,US,USD,9.5,,0,Variation,Color=Navy,SKU-2",
                "Revise,Cards,257480000002,No SKU,US,USD,9.5,,0,,,",
            ],
            CsvType.PRODUCTS,
            "ebay_products",
            2,
        ),
        (
            [
                "Buyer Username,Buyer Name,Buyer Email,Buyer Address 1,Buyer Address 2,"
                "Buyer City,Buyer State,Buyer Zip,Buyer Country,Ship To Phone,First Order Date,"
                "Last Order Date,Orders Count,Total Spent",
                "bob,Bob Example,bob@example.com,1 Example St,,Salem,OR,01234,US,,Mar-05-24,"
                'Jun-01-24,3,"$1,234.56"',
            ],
            CsvType.CUSTOMERS,
            "ebay_customers",
            1,
        ),
        (
            [
                '"Message ID","Conversation ID","Sender Username","Recipient Username","Subject",'
                '"Message Body","Created Date","Read Status","Item Number","Order Number"',
                '"1001","c1","bob","seller","Hello","Line one\r\nline two, with comma",'
                '"2024-03-05T17:42:10.000Z","true","257480000000","04-1"',
            ],
            CsvType.MESSAGES,
            "ebay_messages",
            1,
        ),
    ],
)
def test_other_types_are_detected_and_imported(
    write_csv: WriteCsv, db_path: Path, lines: list[str], csv_type: CsvType, table: str, count: int
) -> None:
    report = import_csv(write_csv(lines), SqliteSink(db_path), 7)
    assert report.csv_type is csv_type
    assert query(db_path, f"SELECT count(*) FROM {table}") == [(count,)]


def test_customers_keep_zip_leading_zeros(write_csv: WriteCsv, db_path: Path) -> None:
    lines = [
        "Buyer Username,Buyer Zip,Orders Count,Total Spent",
        'bob,01234,3,"$1,234.56"',
    ]
    import_csv(write_csv(lines), SqliteSink(db_path), 7)
    assert query(db_path, "SELECT zip, total_spent, currency FROM ebay_customers") == [
        ("01234", "1234.56", "USD")
    ]


def test_generated_report_imports_with_exactly_its_bad_rows(tmp_path: Path, db_path: Path) -> None:
    from generate_orders_report import generate_orders_report

    info = generate_orders_report(tmp_path / "orders.csv", rows=3000, seed=3, bad_every=200)
    report = import_csv(info.path, SqliteSink(db_path), 7)
    assert report.total_rows == info.rows
    assert report.invalid_rows == sum(info.bad_rows.values())
    assert sorted({e.line for e in report.examples}) == sorted(info.bad_lines)[:50]
    assert report.valid_rows == report.inserted_rows
    assert report.skipped_lines == 5  # bare commas, padding row, blank line, 2 trailer lines
