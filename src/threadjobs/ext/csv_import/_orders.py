"""Grouping the rows of the Orders report into orders with line items.

eBay writes a multi-item order as one *order-level row* (buyer, address,
``Sold For`` = the items' sum, shipping, tax, ``Total Price``; no Item Number)
followed by one row per item (Item Number, title, SKU, quantity, the item's
``Sold For``; no address, no totals), all sharing the Order Number. A
single-item order is one row that is both.

The order's money comes from the order-level row only and is never added to
the items' money: summing would count every multi-item order twice. Rows of
one order are adjacent in eBay's files; the grouper relies on that and holds
only the current order in memory.
"""

from __future__ import annotations

from typing import Any

from ._rows import OrderValues
from ._tables import Record, amount, currency_of

__all__ = ["OrderGrouper"]

_ORDER_TEXT_FIELDS = (
    "buyer_username",
    "buyer_name",
    "buyer_email",
    "buyer_note",
    "ship_to_name",
    "ship_to_phone",
    "ship_to_address_1",
    "ship_to_address_2",
    "ship_to_city",
    "ship_to_state",
    "ship_to_zip",
    "ship_to_country",
)


_FIELDS: tuple[str, ...] = OrderValues._fields


def _span(first: str, last: str) -> slice:
    fields = _FIELDS
    return slice(fields.index(first), fields.index(last) + 1)


# Runs of adjacent OrderValues fields copied into the tables' rows by slicing,
# which is much cheaper than a getattr per field on a million rows.
_TEXTS = _span(_ORDER_TEXT_FIELDS[0], _ORDER_TEXT_FIELDS[-1])
_MONEY = _span("sold_for", "total_price")
_DATES_TO_TRACKING = _span("sale_date", "tracking_number")
_ITEM_TO_QUANTITY = _span("item_number", "quantity")
assert _FIELDS[_TEXTS] == _ORDER_TEXT_FIELDS


class OrderGrouper:
    """Turn a stream of valid order rows into order records.

    Feed rows in file order with :meth:`add`; it returns the record of the
    order that is complete (a row of a different order arrived), else ``None``.
    Call :meth:`flush` at the end for the last order.
    """

    def __init__(self) -> None:
        self._key: str | None = None
        self._rows: list[tuple[int, OrderValues]] = []

    def add(self, line: int, row: OrderValues) -> Record | None:
        """Add a row; return the previous order's record if this row starts a new one."""
        key = row.order_key
        done = None
        if key != self._key and self._rows:
            done = build_order(self._rows)
            self._rows = []
        self._key = key
        self._rows.append((line, row))
        return done

    def flush(self) -> Record | None:
        """Return the record of the order being collected, if any, and reset."""
        done = build_order(self._rows) if self._rows else None
        self._rows = []
        self._key = None
        return done


def build_order(rows: list[tuple[int, OrderValues]]) -> Record:
    """Build one order record from the rows of one order, in file order."""
    if len(rows) == 1:
        return _single_row_order(*rows[0])
    models = [row for _, row in rows]
    items = [row for row in models if row.is_item]
    order_level = next((row for row in models if not row.is_item), models[0])
    # Only the order-level row (or the single row of a one-row order) carries
    # the order's money; item rows' Sold For is per item.
    money_row = order_level if (not order_level.is_item or len(models) == 1) else None

    def first(field: str) -> object:
        value = getattr(order_level, field)
        if value is None:
            value = next((v for r in models if (v := getattr(r, field)) is not None), None)
        return value

    money = (
        (
            money_row.sold_for,
            money_row.shipping_and_handling,
            money_row.seller_collected_tax,
            money_row.ebay_collected_tax,
            money_row.total_price,
        )
        if money_row is not None
        else (None, None, None, None, None)
    )
    key = order_level.order_key
    order = (
        key,
        first("order_number"),
        first("sales_record_number"),
        *(first(f) for f in _ORDER_TEXT_FIELDS),
        *(amount(m) for m in money),
        currency_of(None, *money, *(r.sold_for for r in items)),
        first("sale_date"),
        first("paid_on_date"),
        first("shipped_on_date"),
        first("shipping_service"),
        first("tracking_number"),
        len(items),
    )
    return Record((key,), tuple(line for line, _ in rows), ((order,), _item_rows(key, items)))


def _single_row_order(line: int, row: OrderValues) -> Record:
    """The common case, kept fast: one row that is both the order and its item."""
    key = row.order_number or f"SRN-{row.sales_record_number}"
    cells: tuple[Any, ...] = row
    money = cells[_MONEY]
    is_item = row.item_number is not None
    order = (
        key,
        row.order_number,
        row.sales_record_number,
        *cells[_TEXTS],
        *[None if m is None else m[0] for m in money],
        currency_of(None, *money),
        *cells[_DATES_TO_TRACKING],
        1 if is_item else 0,
    )
    items = (_item_row(key, row.transaction_id or str(row.item_number), row),) if is_item else ()
    return Record((key,), (line,), ((order,), items))


def _item_rows(order_key: str, items: list[OrderValues]) -> tuple[tuple[object, ...], ...]:
    seen: dict[str, int] = {}
    result = []
    for item in items:
        line_key = item.transaction_id or str(item.item_number)
        # The same item twice without a Transaction ID stays two lines, in a
        # stable way, so re-imports hit the same keys.
        seen[line_key] = seen.get(line_key, 0) + 1
        if seen[line_key] > 1:
            line_key = f"{line_key}#{seen[line_key]}"
        result.append(_item_row(order_key, line_key, item))
    return tuple(result)


def _item_row(order_key: str, line_key: str, item: OrderValues) -> tuple[object, ...]:
    sold_for = item.sold_for
    cells: tuple[Any, ...] = item
    return (
        order_key,
        line_key,
        *cells[_ITEM_TO_QUANTITY],
        None if sold_for is None else sold_for[0],
        None if sold_for is None else sold_for[1],
        item.transaction_id,
        item.variation_details,
        item.tracking_number,
    )
