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

from ._models import OrderRow
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


class OrderGrouper:
    """Turn a stream of valid order rows into order records.

    Feed rows in file order with :meth:`add`; it returns the record of the
    order that is complete (a row of a different order arrived), else ``None``.
    Call :meth:`flush` at the end for the last order.
    """

    def __init__(self) -> None:
        self._key: str | None = None
        self._rows: list[tuple[int, OrderRow]] = []

    @property
    def pending_rows(self) -> int:
        """Rows of the order still being collected."""
        return len(self._rows)

    def add(self, line: int, row: OrderRow) -> Record | None:
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


def build_order(rows: list[tuple[int, OrderRow]]) -> Record:
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


def _single_row_order(line: int, row: OrderRow) -> Record:
    """The common case, kept fast: one row that is both the order and its item."""
    key = row.order_key
    money = (
        row.sold_for,
        row.shipping_and_handling,
        row.seller_collected_tax,
        row.ebay_collected_tax,
        row.total_price,
    )
    order = (
        key,
        row.order_number,
        row.sales_record_number,
        *(getattr(row, f) for f in _ORDER_TEXT_FIELDS),
        *(None if m is None else m.amount for m in money),
        currency_of(None, *money),
        row.sale_date,
        row.paid_on_date,
        row.shipped_on_date,
        row.shipping_service,
        row.tracking_number,
        1 if row.is_item else 0,
    )
    items = _item_rows(key, [row]) if row.is_item else ()
    return Record((key,), (line,), ((order,), items))


def _item_rows(order_key: str, items: list[OrderRow]) -> tuple[tuple[object, ...], ...]:
    seen: dict[str, int] = {}
    result = []
    for item in items:
        line_key = item.transaction_id or str(item.item_number)
        # The same item twice without a Transaction ID stays two lines, in a
        # stable way, so re-imports hit the same keys.
        seen[line_key] = seen.get(line_key, 0) + 1
        if seen[line_key] > 1:
            line_key = f"{line_key}#{seen[line_key]}"
        result.append(
            (
                order_key,
                line_key,
                item.item_number,
                item.item_title,
                item.custom_label,
                item.quantity,
                amount(item.sold_for),
                currency_of(None, item.sold_for),
                item.transaction_id,
                item.variation_details,
                item.tracking_number,
            )
        )
    return tuple(result)
