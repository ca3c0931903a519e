"""The import's fast paths: tuple validation and the background WAL checkpointer."""

from __future__ import annotations

import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from threadjobs.ext.csv_import import CsvType, SqliteSink, _checkpointer, _sqlite, import_csv
from threadjobs.ext.csv_import._models import model_for
from threadjobs.ext.csv_import._rows import VALUES, compile_row_validator
from threadjobs.ext.csv_import._types import detect_header

from .test_import import dump

LISTING_HEADER = [
    "Item Number",
    "Title",
    "Custom Label (SKU)",
    "Currency",
    "Start Price",
    "Available Quantity",
    "Start Date",
]


@pytest.mark.parametrize("csv_type", list(CsvType))
def test_values_tuples_have_the_models_fields(csv_type: CsvType) -> None:
    assert VALUES[csv_type]._fields == tuple(model_for(csv_type).model_fields)


def _listing_validator() -> object:
    columns = detect_header(LISTING_HEADER, CsvType.LISTINGS)
    assert columns is not None
    return compile_row_validator(columns)


def test_valid_row_gives_the_models_values_with_money_as_a_pair() -> None:
    validate = _listing_validator()
    cells = ["123456789012", "  Lens ", "", "USD", "$1,234.50", "3", "Mar-05-24"]
    values = validate(cells)  # type: ignore[operator]
    assert values.item_number == "123456789012"
    assert values.title == "Lens"
    assert values.sku is None  # empty is not ""
    assert values.start_price == (Decimal("1234.50"), "USD")
    assert values.available_quantity == 3
    assert values.buy_it_now_price is None  # no such column: stays empty


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        (["123", "Lens", "", "USD", "$1.2.3", "3", ""], "value_error"),
        (["", "Lens", "", "USD", "$1.00", "3", ""], "missing_key"),
        (["123", "Lens", "", "AUD", "$1.00", "3", ""], "currency_mismatch"),
    ],
)
def test_invalid_row_raises_the_models_own_error(cells: list[str], reason: str) -> None:
    validate = _listing_validator()
    with pytest.raises(ValidationError) as fast:
        validate(cells)  # type: ignore[operator]
    assert fast.value.title == "ListingRow"
    assert [e["type"] for e in fast.value.errors()] == [reason]


def _generated(tmp_path: Path, rows: int) -> Path:
    from generate_orders_report import generate_orders_report

    path: Path = generate_orders_report(tmp_path / "orders.csv", rows=rows, seed=9).path
    return path


def test_background_checkpoints_keep_the_wal_bounded_and_the_data_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _generated(tmp_path, 3000)
    expected_db = tmp_path / "expected.db"
    first = import_csv(path, SqliteSink(expected_db), 7, batch_size=20)
    # Tiny thresholds, so the thread and settle() run many times on a small file.
    monkeypatch.setattr(_checkpointer, "WAL_PAGES", 40)
    monkeypatch.setattr(_sqlite, "WAL_PAGES", 40)
    monkeypatch.setattr(_checkpointer, "COMMITS_PER_CHECKPOINT", 2)
    settled: list[bool] = []
    settle = _checkpointer.Checkpointer.settle
    monkeypatch.setattr(
        _checkpointer.Checkpointer,
        "settle",
        lambda self, conn: _record(settled, settle(self, conn)),
    )
    db = tmp_path / "shop.db"
    sink = SqliteSink(db)
    reports = [import_csv(path, sink, 7, batch_size=20) for _ in range(2)]
    assert any(settled)
    assert dump(db) == dump(expected_db)
    assert reports[0].inserted_rows == first.inserted_rows
    assert reports[1].updated_rows == first.inserted_rows
    assert not [t for t in threading.enumerate() if t.name == "threadjobs-csv-checkpoint"]


def test_a_failed_checkpoint_thread_hands_checkpoints_back_to_sqlite(db_path: Path) -> None:
    session = SqliteSink(db_path).open("7", CsvType.ORDERS)
    try:
        assert session._checkpointer is not None
        session._checkpointer.error = sqlite3.OperationalError("disk I/O error")
        session._committed()
        (pages,) = session._conn.execute("PRAGMA wal_autocheckpoint").fetchone()
        assert pages == _checkpointer.WAL_PAGES
        assert session._checkpointer is None
    finally:
        session.close()


def _record(seen: list[bool], value: bool) -> bool:
    seen.append(value)
    return value
