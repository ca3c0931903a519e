"""The database tables the importer writes, and records: what a sink writes.

The tables are described once here, backend-neutral, and both sinks (stdlib
sqlite3, SQLAlchemy) create and fill them from this description. Every table
starts with ``account_id`` and its natural key is ``account_id`` plus the
key columns, so two sellers can have the same SKU.

A :class:`Record` is one thing that is written or refused as a whole: a
listing, a product, a customer, a message, or an order *with* its line items.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._rows import CustomerValues, ListingValues, MessageValues, ProductValues, RowValues
from ._types import CsvType
from ._values import Amount

__all__ = ["TABLES", "Column", "Record", "Table", "record_from_row"]

ColumnKind = Literal["text", "int", "money", "date", "datetime", "bool"]


@dataclass(frozen=True)
class Column:
    """A column: its name and the kind of value it holds.

    ``money`` holds a :class:`~decimal.Decimal` (TEXT in SQLite, NUMERIC in
    PostgreSQL, never a float); ``date`` and ``datetime`` hold
    :mod:`datetime` values (ISO 8601 TEXT in SQLite).
    """

    name: str
    kind: ColumnKind = "text"


@dataclass(frozen=True)
class Table:
    """A table: name, key columns (after ``account_id``) and value columns.

    ``columns`` includes the key columns, in the order of a record's row tuples.
    """

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        """The column names in row-tuple order."""
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True, slots=True)
class Record:
    """One unit of writing: refused or stored as a whole.

    Attributes:
        key: The natural key in the type's first table (without ``account_id``).
        lines: The file lines the record came from (several for an order).
        rows: For each table of the type, in order, the rows to upsert as
            tuples in the table's column order (without ``account_id``).
    """

    key: tuple[str, ...]
    lines: tuple[int, ...]
    rows: tuple[tuple[tuple[object, ...], ...], ...]


def _t(name: str, *kinds: ColumnKind) -> list[Column]:
    return [Column(n, kinds[0] if kinds else "text") for n in name.split()]


ORDERS = Table(
    "ebay_orders",
    ("order_key",),
    tuple(
        _t("order_key order_number sales_record_number buyer_username buyer_name buyer_email")
        + _t("buyer_note ship_to_name ship_to_phone ship_to_address_1 ship_to_address_2")
        + _t("ship_to_city ship_to_state ship_to_zip ship_to_country")
        + _t("subtotal shipping_and_handling seller_collected_tax ebay_collected_tax", "money")
        + _t("total_price", "money")
        + _t("currency")
        + _t("sale_date paid_on_date shipped_on_date", "date")
        + _t("shipping_service tracking_number")
        + _t("item_count", "int")
    ),
)
ORDER_ITEMS = Table(
    "ebay_order_items",
    ("order_key", "line_key"),
    tuple(
        _t("order_key line_key item_number item_title custom_label")
        + _t("quantity", "int")
        + _t("sold_for", "money")
        + _t("currency transaction_id variation_details tracking_number")
    ),
)
LISTINGS = Table(
    "ebay_listings",
    ("item_number", "variation_key"),
    tuple(
        _t("item_number variation_key title variation_details sku")
        + _t("available_quantity", "int")
        + _t("format currency")
        + _t("start_price buy_it_now_price reserve_price current_price", "money")
        + _t("sold_quantity watchers bids", "int")
        + _t("start_date end_date", "datetime")
        + _t("category_name category_number condition listing_site")
    ),
)
PRODUCTS = Table(
    "ebay_products",
    ("sku",),
    tuple(
        _t("sku item_number title action category_name listing_site currency")
        + _t("start_price buy_it_now_price", "money")
        + _t("available_quantity", "int")
        + _t("relationship relationship_details")
    ),
)
CUSTOMERS = Table(
    "ebay_customers",
    ("buyer_username",),
    tuple(
        _t("buyer_username buyer_name buyer_email address_1 address_2 city state zip country")
        + _t("phone")
        + _t("first_order_date last_order_date", "date")
        + _t("orders_count", "int")
        + _t("total_spent", "money")
        + _t("currency")
    ),
)
MESSAGES = Table(
    "ebay_messages",
    ("message_id",),
    tuple(
        _t("message_id conversation_id sender_username recipient_username subject body")
        + _t("created_at", "datetime")
        + _t("is_read", "bool")
        + _t("item_number order_number")
    ),
)

#: The tables of each type; the first one holds the record's key.
TABLES: dict[CsvType, tuple[Table, ...]] = {
    CsvType.ORDERS: (ORDERS, ORDER_ITEMS),
    CsvType.LISTINGS: (LISTINGS,),
    CsvType.PRODUCTS: (PRODUCTS,),
    CsvType.CUSTOMERS: (CUSTOMERS,),
    CsvType.MESSAGES: (MESSAGES,),
}


def amount(money: Amount | None) -> object:
    """The Decimal of a money value, ``None`` for an empty cell."""
    return None if money is None else money[0]


def currency_of(declared: str | None, *amounts: Amount | None) -> str | None:
    """The row's currency: its Currency column, else the first marked amount."""
    if declared:
        return declared
    for money in amounts:
        if money is not None and money[1]:
            return money[1]
    return None


def record_from_row(row: RowValues, line: int) -> Record:
    """Build the record of a single-row type (everything but orders)."""
    if isinstance(row, ListingValues):
        prices = (row.start_price, row.buy_it_now_price, row.reserve_price, row.current_price)
        key: tuple[str, ...] = (str(row.item_number), row.variation_key)
        values: tuple[object, ...] = (
            *key,
            row.title,
            row.variation_details,
            row.sku,
            row.available_quantity,
            row.format,
            currency_of(row.currency, *prices),
            *(amount(p) for p in prices),
            row.sold_quantity,
            row.watchers,
            row.bids,
            row.start_date,
            row.end_date,
            row.category_name,
            row.category_number,
            row.condition,
            row.listing_site,
        )
    elif isinstance(row, ProductValues):
        key = (str(row.sku),)
        values = (
            *key,
            row.item_number,
            row.title,
            row.action,
            row.category_name,
            row.listing_site,
            currency_of(row.currency, row.start_price, row.buy_it_now_price),
            amount(row.start_price),
            amount(row.buy_it_now_price),
            row.available_quantity,
            row.relationship,
            row.relationship_details,
        )
    elif isinstance(row, CustomerValues):
        key = (str(row.buyer_username),)
        values = (
            *key,
            row.buyer_name,
            row.buyer_email,
            row.address_1,
            row.address_2,
            row.city,
            row.state,
            row.zip,
            row.country,
            row.phone,
            row.first_order_date,
            row.last_order_date,
            row.orders_count,
            amount(row.total_spent),
            currency_of(None, row.total_spent),
        )
    elif isinstance(row, MessageValues):
        key = (str(row.message_id),)
        values = (
            *key,
            row.conversation_id,
            row.sender_username,
            row.recipient_username,
            row.subject,
            row.body,
            row.created_date,
            row.read_status,
            row.item_number,
            row.order_number,
        )
    else:  # pragma: no cover - orders go through _orders.OrderGrouper
        raise TypeError(f"no single-row record for {type(row).__name__}")
    return Record(key, (line,), ((values,),))
