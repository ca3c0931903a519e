"""The SQLAlchemy sink and upload store, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from threadjobs.ext.csv_import import (
    SqlAlchemySink,
    SqlAlchemyUploadStore,
    UploadChanges,
    UploadStatus,
    import_csv,
)

from .conftest import WriteCsv

sqlalchemy = pytest.importorskip("sqlalchemy")

HEADER = (
    '"Sales Record Number","Order Number","Buyer Username","Item Number","Item Title","Quantity",'
    '"Sold For","Total Price","Sale Date","Transaction ID"'
)
ROWS = [
    '"119","04-1","bob","","","","$28.00","$33.00","Mar-05-24",""',
    '"119","04-1","bob","123456789012","Widget","1","$13.00","","Mar-05-24","111"',
    '"119","04-1","bob","123456789012","Widget","1","$15.00","","Mar-05-24",""',
    '"120","04-2","ann","123456789014","Thing","2","$1,234.56","$1,234.56","Mar-06-24","113"',
]
LISTING = [
    "Item number,Title,Available quantity,Currency,Start price,Start date",
    '"257480000000",Card,"1","USD",55.0,"Apr-29-26 17:06:04 PDT"',
    '"257480000001",Card,"0","USD",0.1,"May-24-11"',
]


def dump(engine: Any) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        names = [n for n in sqlalchemy.inspect(conn).get_table_names() if n.startswith("ebay_")]
        return {
            n: sorted(tuple(r) for r in conn.execute(sqlalchemy.text(f"SELECT * FROM {n}")))
            for n in names
        }


def test_orders_upsert_idempotently(engine: Any, write_csv: WriteCsv) -> None:
    sink = SqlAlchemySink(engine)
    path = write_csv([HEADER, *ROWS])
    first = import_csv(path, sink, 7)
    once = dump(engine)
    second = import_csv(path, sink, 7)
    assert dump(engine) == once
    assert (first.inserted_rows, second.updated_rows, second.inserted_rows) == (4, 4, 0)
    with engine.connect() as conn:
        items = conn.execute(
            sqlalchemy.text("SELECT line_key, sold_for FROM ebay_order_items ORDER BY line_key")
        ).all()
        total = conn.execute(
            sqlalchemy.text("SELECT total_price FROM ebay_orders WHERE order_key = '04-1'")
        ).scalar_one()
    # Text SQL skips SQLAlchemy's type processing: SQLite gives the stored text.
    assert [(r[0], Decimal(str(r[1]))) for r in items] == [
        ("111", Decimal("13.00")),
        ("113", Decimal("1234.56")),
        ("123456789012", Decimal("15.00")),
    ]
    assert Decimal(str(total)) == Decimal("33.00")


def test_money_is_numeric_not_float(engine: Any, write_csv: WriteCsv) -> None:
    sink = SqlAlchemySink(engine)
    import_csv(write_csv(LISTING), sink, 7)
    with engine.connect() as conn:
        rows = conn.execute(
            sqlalchemy.select(sink.tables["ebay_listings"].c.start_price).order_by("item_number")
        ).all()
    assert [r[0] for r in rows] == [Decimal("55.0"), Decimal("0.1")]


def test_aware_datetimes_keep_their_offset(engine: Any, write_csv: WriteCsv) -> None:
    sink = SqlAlchemySink(engine)
    import_csv(write_csv(LISTING), sink, 7)
    with engine.connect() as conn:
        value = conn.execute(
            sqlalchemy.select(sink.tables["ebay_listings"].c.start_date).where(
                sink.tables["ebay_listings"].c.item_number == "257480000000"
            )
        ).scalar_one()
    assert isinstance(value, datetime)
    assert value.timestamp() == datetime.fromisoformat("2026-04-29T17:06:04-07:00").timestamp()


def test_refused_rows_are_retried_one_by_one(engine: Any, write_csv: WriteCsv) -> None:
    sink = SqlAlchemySink(engine)
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "ALTER TABLE ebay_order_items ADD CONSTRAINT no_bad CHECK (item_title <> 'BAD')"
                if engine.dialect.name == "postgresql"
                else "CREATE TRIGGER no_bad BEFORE INSERT ON ebay_order_items "
                "WHEN NEW.item_title = 'BAD' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    rows = [
        f'"{i}","04-{i}","u","1234567{i:05d}","{"BAD" if i == 2 else "ok"}","1","$1.00","$1.00",'
        f'"Mar-05-24","{i}"'
        for i in range(6)
    ]
    report = import_csv(write_csv([HEADER, *rows]), sink, 7, batch_size=3)
    assert (report.inserted_rows, report.failed_rows) == (5, 1)


def test_upload_store_round_trip(engine: Any, tmp_path: Path) -> None:
    uploads = SqlAlchemyUploadStore(engine)
    upload = uploads.create(7, str(tmp_path / "x.csv"), batch_id="b")
    assert upload.status is UploadStatus.PENDING
    assert uploads.get(upload.id) == upload
    changed = uploads.update(
        upload.id, UploadChanges(status=UploadStatus.COMPLETED, inserted_rows=3, error_message=None)
    )
    assert (changed.status, changed.inserted_rows, changed.account_id) == (
        UploadStatus.COMPLETED,
        3,
        "7",
    )
    assert uploads.get(upload.id + 100) is None
