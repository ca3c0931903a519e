"""Parsers for the cell values of eBay CSV exports: money, dates, IDs, counts.

Each parser takes the raw cell text and returns a Python value, ``None`` for an
empty cell (empty is never zero), or raises :class:`InvalidValue` with a short
stable ``reason`` code that the import report counts by. They know nothing
about pydantic or the CSV layout; the row models in ``_models`` wrap them.

The hot parsers are cached: a 1,000,000-row report has a few hundred distinct
dates and a few thousand distinct prices, so most cells are a dict lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache

__all__ = [
    "Amount",
    "InvalidValue",
    "Money",
    "parse_amount",
    "parse_bool",
    "parse_count",
    "parse_date",
    "parse_id",
    "parse_item_number",
    "parse_money",
    "parse_text",
]


class InvalidValue(ValueError):
    """A cell's text is not a valid value of its column's kind.

    Attributes:
        reason: A short stable code (``"invalid_money"``, ``"impossible_date"``,
            ``"damaged_id"``...) that reports count by.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Money:
    """An amount of money: an exact Decimal and its ISO 4217 currency code.

    Attributes:
        amount: The amount, exactly as written (``Decimal("65.0")`` stays ``65.0``).
        currency: ``"USD"``, ``"AUD"``, ``"GBP"``, ``"EUR"``... or ``None`` when the
            cell had no currency mark (bare ``65.0``) and the row gave none either.
    """

    amount: Decimal
    currency: str | None


#: An amount of money as the import pipeline carries it: (amount, currency).
#: A plain tuple, because a 1,000,000-row report holds about 3,000,000 amounts
#: and building a frozen dataclass for each costs more than parsing it.
Amount = tuple[Decimal, str | None]

# Longest first, so "AU $" wins over "$". A bare "$" is USD: the US site is
# where eBay writes "$" alone; AU and CA reports prefix it ("AU $3,000.00").
_CURRENCY_MARKS: tuple[tuple[str, str], ...] = (
    ("US $", "USD"),
    ("AU $", "AUD"),
    ("CA $", "CAD"),
    ("NZ $", "NZD"),
    ("HK $", "HKD"),
    ("C $", "CAD"),
    ("S $", "SGD"),
    ("USD", "USD"),
    ("AUD", "AUD"),
    ("CAD", "CAD"),
    ("GBP", "GBP"),
    ("EUR", "EUR"),
    ("CHF", "CHF"),
    ("$", "USD"),
    ("£", "GBP"),
    ("€", "EUR"),
)
# The shapes eBay writes most ("$1,234.56", "AU $3,000.00", "65.0"), parsed
# in one regex match; anything else takes the general path.
_FAST_MONEY = re.compile(r"(US \$|AU \$|\$|£|)((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)\Z")
_FAST_MARKS: dict[str, str | None] = {
    "US $": "USD",
    "AU $": "AUD",
    "$": "USD",
    "£": "GBP",
    "": None,
}
_NUMBER = re.compile(r"\d[\d.,' \u00a0\u202f]*\Z")
_THOUSANDS_GROUPS = re.compile(r"\d{1,3}(?:,\d{3})+\Z")


def parse_text(text: str) -> str | None:
    """Return the stripped text, or ``None`` for an empty cell."""
    stripped = text.strip()
    return stripped or None


def parse_money(text: str) -> Money | None:
    """Parse an eBay money cell.

    Accepts ``$1,234.56``, ``US $12.99``, ``AU $3,000.00``, ``£4.50``,
    ``EUR 90,00``, ``1 234,50 €``, bare ``65.0``, negatives as ``-$5.00`` or
    ``($5.00)``. ``--`` (the transaction report's "not applicable") and an empty
    cell give ``None``.

    Raises:
        InvalidValue: ``invalid_money`` when the text is not an amount.
    """
    parsed = parse_amount(text)
    return None if parsed is None else Money(*parsed)


@lru_cache(maxsize=16384)
def parse_amount(text: str) -> Amount | None:
    """Like :func:`parse_money`, but return a plain ``(amount, currency)`` tuple.

    Raises:
        InvalidValue: ``invalid_money`` when the text is not an amount.
    """
    fast = _FAST_MONEY.match(text)
    if fast is not None:
        mark, digits = fast.group(1, 2)
        return Decimal(digits.replace(",", "")), _FAST_MARKS[mark]
    s = text.strip()
    if not s or s in ("--", "-"):
        return None
    negative = False
    if s.startswith("(") and s.endswith(")"):
        negative, s = True, s[1:-1].strip()
    if s.startswith("-"):
        negative, s = True, s[1:].lstrip()
    currency, s = _take_currency(s, prefix=True)
    if s.startswith("-"):
        negative, s = True, s[1:].lstrip()
    if currency is None:
        currency, s = _take_currency(s, prefix=False)
    if not _NUMBER.match(s):
        raise InvalidValue("invalid_money", f"{text!r} is not an amount of money")
    try:
        amount = Decimal(_normalise_number(s, text))
    except InvalidOperation:  # pragma: no cover - _NUMBER already rules this out
        raise InvalidValue("invalid_money", f"{text!r} is not an amount of money") from None
    return -amount if negative else amount, currency


def _take_currency(s: str, *, prefix: bool) -> tuple[str | None, str]:
    for mark, code in _CURRENCY_MARKS:
        if prefix and s.startswith(mark):
            return code, s[len(mark) :].lstrip()
        if not prefix and s.endswith(mark):
            return code, s[: -len(mark)].rstrip()
    return None, s


def _normalise_number(s: str, original: str) -> str:
    """Turn ``1.234,50`` / ``1,234.50`` / ``1 234,50`` into ``1234.50``."""
    for space in (" ", "\u00a0", "\u202f", "'"):
        s = s.replace(space, "")
    comma, dot = s.rfind(","), s.rfind(".")
    if comma >= 0 and dot >= 0:
        # Both present: the one written last is the decimal separator.
        thousands, decimal_sep = (",", ".") if dot > comma else (".", ",")
        integer, _, fraction = s.rpartition(decimal_sep)
        if thousands in fraction or not _THOUSANDS_GROUPS.match(integer.replace(thousands, ",")):
            raise InvalidValue("invalid_money", f"{original!r} has misplaced separators")
        return integer.replace(thousands, "") + "." + fraction
    if comma >= 0:
        # "90,00" (decimal comma, as in "EUR 90,00") vs "1,234" (thousands).
        if s.count(",") == 1 and len(s) - comma - 1 in (1, 2):
            return s.replace(",", ".")
        if not _THOUSANDS_GROUPS.match(s):
            raise InvalidValue("invalid_money", f"{original!r} has misplaced separators")
        return s.replace(",", "")
    if s.count(".") > 1:
        if not _THOUSANDS_GROUPS.match(s.replace(".", ",")):
            raise InvalidValue("invalid_money", f"{original!r} has misplaced separators")
        return s.replace(".", "")
    return s


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
# The zones eBay prints after listing times; offsets fixed because the
# abbreviation already says whether daylight saving applies.
_ZONES = {
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "BST": 1,
    "CET": 1,
    "CEST": 2,
    "PST": -8,
    "PDT": -7,
    "MST": -7,
    "MDT": -6,
    "CST": -6,
    "CDT": -5,
    "EST": -5,
    "EDT": -4,
    "AEST": 10,
    "AEDT": 11,
}
_TIME = r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([A-Za-z]{1,5}))?)?"
_MONTH_FIRST = re.compile(r"([A-Za-z]{3,9})-(\d{1,2})-(\d{4}|\d{2})" + _TIME + r"\Z")
_DAY_FIRST = re.compile(r"(\d{1,2})-([A-Za-z]{3,9})-(\d{4}|\d{2})" + _TIME + r"\Z")
_LONG_FORM = re.compile(r"([A-Za-z]{3,9})\.? (\d{1,2}), (\d{4})" + _TIME + r"\Z")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


@lru_cache(maxsize=16384)
def parse_date(text: str) -> date | datetime | None:
    """Parse the date and time formats found in eBay exports.

    ``Mar-05-24`` and ``26-May-26`` give a :class:`~datetime.date`;
    ``Mar-05-24 10:00:00 PST`` gives an aware :class:`~datetime.datetime`
    (UTC-8); ``Oct 2, 2026`` a date; ISO 8601 (``2024-03-05``,
    ``2024-03-05T17:42:10.000Z``) a date or datetime. Two-digit years follow
    :func:`time.strptime` (``00``-``68`` are 20xx).

    Raises:
        InvalidValue: ``impossible_date`` for ``Feb-30-24`` or ``13:61:00``,
            ``invalid_date`` for text in no known format or an unknown zone.
    """
    s = text.strip()
    if not s:
        return None
    if _ISO.match(s):
        return _parse_iso(s, text)
    match = _MONTH_FIRST.match(s) or _LONG_FORM.match(s)
    if match:
        month_name, day, year = match.group(1), match.group(2), match.group(3)
    elif match := _DAY_FIRST.match(s):
        day, month_name, year = match.group(1), match.group(2), match.group(3)
    else:
        raise InvalidValue("invalid_date", f"{text!r} is not a date eBay writes")
    month = _MONTHS.get(month_name.lower())
    if month is None:
        raise InvalidValue("invalid_date", f"{text!r} has an unknown month name")
    full_year = int(year) if len(year) == 4 else _century(int(year))
    hour, minute, second, zone = match.group(4, 5, 6, 7)
    try:
        day_value = date(full_year, month, int(day))
        if hour is None:
            return day_value
        moment = datetime(full_year, month, int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        raise InvalidValue("impossible_date", f"{text!r} is not a real date or time") from None
    if zone is None:
        return moment
    offset = _ZONES.get(zone.upper())
    if offset is None:
        raise InvalidValue("invalid_date", f"{text!r} has an unknown time zone {zone!r}")
    return moment.replace(tzinfo=timezone(timedelta(hours=offset)))


def _century(two_digit_year: int) -> int:
    return 2000 + two_digit_year if two_digit_year < 69 else 1900 + two_digit_year


def _parse_iso(s: str, original: str) -> date | datetime:
    try:
        if len(s) == 10:
            return date.fromisoformat(s)
        # Python 3.10's fromisoformat does not know the "Z" suffix.
        return datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith("Z") else s)
    except ValueError:
        month_day = s[5:10]
        reason = "impossible_date" if re.fullmatch(r"\d{2}-\d{2}", month_day) else "invalid_date"
        raise InvalidValue(reason, f"{original!r} is not a valid ISO 8601 date") from None


# Excel turns long numbers into "2.26105E+11" or "9.40011E+21"; the digits are gone.
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+\Z")


def parse_id(text: str) -> str | None:
    """Return an identifier (order, tracking or transaction number) as text.

    Raises:
        InvalidValue: ``damaged_id`` when a spreadsheet rewrote the number in
            scientific notation, which loses digits for good.
    """
    s = text.strip()
    if not s:
        return None
    # Scientific notation needs an "e": most IDs (digits, dashes) skip the regex.
    if ("e" in s or "E" in s) and _SCIENTIFIC.match(s):
        raise InvalidValue(
            "damaged_id",
            f"{s!r} is an ID a spreadsheet rewrote in scientific notation; its digits are "
            "lost. Download the report from eBay again and upload it without opening it in Excel",
        )
    return s


def parse_item_number(text: str) -> str | None:
    """Return an eBay item number (digits only) as text.

    Raises:
        InvalidValue: ``damaged_id`` for scientific notation, ``invalid_id``
            for anything that is not all digits.
    """
    s = parse_id(text)
    if s is not None and not s.isdigit():
        raise InvalidValue("invalid_id", f"{s!r} is not an eBay item number (digits only)")
    return s


@lru_cache(maxsize=4096)
def parse_count(text: str) -> int | None:
    """Parse a quantity or counter: a whole number, zero or more.

    Raises:
        InvalidValue: ``invalid_quantity`` for negatives, fractions or text.
    """
    s = text.strip()
    if not s:
        return None
    if not s.isdigit() or not s.isascii():
        raise InvalidValue("invalid_quantity", f"{text!r} is not a whole number of zero or more")
    return int(s)


_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})


def parse_bool(text: str) -> bool | None:
    """Parse ``true``/``false``, ``Yes``/``No`` or ``1``/``0`` (any case).

    Raises:
        InvalidValue: ``invalid_boolean`` for anything else.
    """
    s = text.strip().lower()
    if not s:
        return None
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise InvalidValue("invalid_boolean", f"{text!r} is not true/false or yes/no")
