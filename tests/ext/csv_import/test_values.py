"""Cell parsers: money, dates, IDs, counts."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadjobs.ext.csv_import._values import (
    InvalidValue,
    Money,
    parse_bool,
    parse_count,
    parse_date,
    parse_id,
    parse_item_number,
    parse_money,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1,234.56", Money(Decimal("1234.56"), "USD")),
        ("US $12.99", Money(Decimal("12.99"), "USD")),
        ("AU $3,000.00", Money(Decimal("3000.00"), "AUD")),
        ("£4.50", Money(Decimal("4.50"), "GBP")),
        ("EUR 90,00", Money(Decimal("90.00"), "EUR")),
        ("1 234,50 €", Money(Decimal("1234.50"), "EUR")),
        ("65.0", Money(Decimal("65.0"), None)),
        ("-$5.00", Money(Decimal("-5.00"), "USD")),
        ("($5.00)", Money(Decimal("-5.00"), "USD")),
        ("$0.00", Money(Decimal("0.00"), "USD")),
    ],
)
def test_money_formats_parse_to_exact_decimals(text: str, expected: Money) -> None:
    assert parse_money(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "--"])
def test_empty_money_is_none_not_zero(text: str) -> None:
    assert parse_money(text) is None


@pytest.mark.parametrize("text", ["$12.3.4", "abc", "$", "1,23,4", "1.2.3,4"])
def test_bad_money_is_rejected_with_a_reason(text: str) -> None:
    with pytest.raises(InvalidValue) as info:
        parse_money(text)
    assert info.value.reason == "invalid_money"


@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False))
def test_money_round_trips_through_ebay_formatting(amount: Decimal) -> None:
    money = parse_money(f"${amount:,.2f}")
    assert money == Money(amount, "USD")
    assert isinstance(money.amount, Decimal)


@given(st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False))
def test_decimal_comma_round_trips(amount: Decimal) -> None:
    text = f"{amount:,.2f}".replace(",", " ").replace(".", ",")
    assert parse_money(f"{text} €") == Money(amount, "EUR")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mar-05-24", date(2024, 3, 5)),
        ("26-May-26", date(2026, 5, 26)),
        ("Oct 2, 2026", date(2026, 10, 2)),
        ("2024-03-05", date(2024, 3, 5)),
        (
            "Mar-05-24 10:00:00 PST",
            datetime(2024, 3, 5, 10, tzinfo=timezone(timedelta(hours=-8))),
        ),
        (
            "Apr-29-26 17:02:34 PDT",
            datetime(2026, 4, 29, 17, 2, 34, tzinfo=timezone(timedelta(hours=-7))),
        ),
        ("2024-03-05T17:42:10.000Z", datetime(2024, 3, 5, 17, 42, 10, tzinfo=timezone.utc)),
    ],
)
def test_ebay_dates_parse(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["Feb-30-24", "31-Apr-24", "2024-02-30", "Mar-05-24 25:00:00 PST"])
def test_impossible_dates_are_rejected(text: str) -> None:
    with pytest.raises(InvalidValue) as info:
        parse_date(text)
    assert info.value.reason == "impossible_date"


@pytest.mark.parametrize("text", ["yesterday", "Foo-05-24", "Mar-05-24 10:00:00 XYZ"])
def test_unreadable_dates_are_rejected(text: str) -> None:
    with pytest.raises(InvalidValue) as info:
        parse_date(text)
    assert info.value.reason == "invalid_date"


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2068, 12, 31)))
def test_month_first_dates_round_trip(day: date) -> None:
    assert parse_date(day.strftime("%b-%d-%y")) == day
    assert parse_date(day.strftime("%d-%b-%y")) == day


@pytest.mark.parametrize("text", ["2.26105E+11", "9.40011E+21", "1e5"])
def test_scientific_notation_ids_are_flagged_as_damaged(text: str) -> None:
    with pytest.raises(InvalidValue) as info:
        parse_id(text)
    assert info.value.reason == "damaged_id"
    assert "Excel" in str(info.value)


def test_ids_stay_text_with_leading_zeros() -> None:
    assert parse_id(" 04-14689-12345 ") == "04-14689-12345"
    assert parse_id("0012345") == "0012345"
    assert parse_item_number("257480000000") == "257480000000"


def test_item_numbers_must_be_digits() -> None:
    with pytest.raises(InvalidValue) as info:
        parse_item_number("record(s) downloaded")
    assert info.value.reason == "invalid_id"


def test_counts_keep_zero_and_empty_apart() -> None:
    assert parse_count("0") == 0
    assert parse_count("") is None
    with pytest.raises(InvalidValue):
        parse_count("-1")
    with pytest.raises(InvalidValue):
        parse_count("1.5")


def test_booleans() -> None:
    assert parse_bool("true") is True
    assert parse_bool("No") is False
    assert parse_bool("") is None
    with pytest.raises(InvalidValue):
        parse_bool("maybe")
