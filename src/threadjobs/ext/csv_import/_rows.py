"""The import's fast path: a row's cells validated to a named tuple, not a model.

The row models of ``_models`` are the public description of a valid row and
the source of every error message, but building a pydantic model instance
(plus a dict of its input and a Python after-validator) for each of a million
rows costs about a third of an import. So the importer validates the cells of
a row with one compiled pydantic-core *tuple* schema per file, made from the
models' own field validators, into a :class:`~typing.NamedTuple` with the same
fields; money is a plain ``(amount, currency)`` tuple (:data:`Amount`).

The fast path only has to *accept* what the model accepts. Any row it does
not accept (a bad cell, a missing key, a currency mismatch) is validated
again by the model, which raises the :class:`~pydantic.ValidationError` the
import report is made from, so error reports are exactly the model's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from operator import itemgetter
from typing import Any, NamedTuple

from pydantic import PlainValidator, StringConstraints
from pydantic.fields import FieldInfo
from pydantic_core import CoreSchema, SchemaValidator, ValidationError, core_schema

from ._models import RowModel, model_for
from ._types import ColumnMap, CsvType
from ._values import Amount, Money, parse_amount, parse_money

__all__ = [
    "CustomerValues",
    "ListingValues",
    "MessageValues",
    "OrderValues",
    "ProductValues",
    "RowValues",
    "compile_row_validator",
]

When = date | datetime


class OrderValues(NamedTuple):
    """A valid row of the Orders report; fields as in :class:`OrderRow`."""

    sales_record_number: str | None
    order_number: str | None
    buyer_username: str | None
    buyer_name: str | None
    buyer_email: str | None
    buyer_note: str | None
    ship_to_name: str | None
    ship_to_phone: str | None
    ship_to_address_1: str | None
    ship_to_address_2: str | None
    ship_to_city: str | None
    ship_to_state: str | None
    ship_to_zip: str | None
    ship_to_country: str | None
    item_number: str | None
    item_title: str | None
    custom_label: str | None
    quantity: int | None
    sold_for: Amount | None
    shipping_and_handling: Amount | None
    seller_collected_tax: Amount | None
    ebay_collected_tax: Amount | None
    total_price: Amount | None
    sale_date: When | None
    paid_on_date: When | None
    shipped_on_date: When | None
    shipping_service: str | None
    tracking_number: str | None
    transaction_id: str | None
    variation_details: str | None

    @property
    def order_key(self) -> str:
        """The order's natural key: the Order Number, else ``SRN-<Sales Record Number>``."""
        return self.order_number or f"SRN-{self.sales_record_number}"

    @property
    def is_item(self) -> bool:
        """Whether the row describes an item (it has an Item Number)."""
        return self.item_number is not None


class ListingValues(NamedTuple):
    """A valid row of the listings report; fields as in :class:`ListingRow`."""

    item_number: str | None
    title: str | None
    variation_details: str | None
    sku: str | None
    available_quantity: int | None
    format: str | None
    currency: str | None
    start_price: Amount | None
    buy_it_now_price: Amount | None
    reserve_price: Amount | None
    current_price: Amount | None
    sold_quantity: int | None
    watchers: int | None
    bids: int | None
    start_date: When | None
    end_date: When | None
    category_name: str | None
    category_number: str | None
    condition: str | None
    listing_site: str | None

    @property
    def variation_key(self) -> str:
        """Distinguishes a variation from its listing: SKU, else details, else ``""``."""
        return self.sku or self.variation_details or ""


class ProductValues(NamedTuple):
    """A valid row of the products download; fields as in :class:`ProductRow`."""

    sku: str | None
    action: str | None
    category_name: str | None
    item_number: str | None
    title: str | None
    listing_site: str | None
    currency: str | None
    start_price: Amount | None
    buy_it_now_price: Amount | None
    available_quantity: int | None
    relationship: str | None
    relationship_details: str | None


class CustomerValues(NamedTuple):
    """A valid row of the customers format; fields as in :class:`CustomerRow`."""

    buyer_username: str | None
    buyer_name: str | None
    buyer_email: str | None
    address_1: str | None
    address_2: str | None
    city: str | None
    state: str | None
    zip: str | None
    country: str | None
    phone: str | None
    first_order_date: When | None
    last_order_date: When | None
    orders_count: int | None
    total_spent: Amount | None


class MessageValues(NamedTuple):
    """A valid row of the messages format; fields as in :class:`MessageRow`."""

    message_id: str | None
    conversation_id: str | None
    sender_username: str | None
    recipient_username: str | None
    subject: str | None
    body: str | None
    created_date: When | None
    read_status: bool | None
    item_number: str | None
    order_number: str | None


RowValues = OrderValues | ListingValues | ProductValues | CustomerValues | MessageValues

VALUES: dict[CsvType, type[RowValues]] = {
    CsvType.ORDERS: OrderValues,
    CsvType.LISTINGS: ListingValues,
    CsvType.PRODUCTS: ProductValues,
    CsvType.CUSTOMERS: CustomerValues,
    CsvType.MESSAGES: MessageValues,
}


def _same_currency(currency: str | None, *amounts: Amount | None) -> bool:
    return not currency or all(a is None or not a[1] or a[1] == currency for a in amounts)


# The models' after-validators, as cheap yes/no checks on the values. A "no"
# sends the row to the model, which raises the error the report shows.
_CHECKS: dict[CsvType, Callable[[Any], bool]] = {
    CsvType.ORDERS: lambda v: v.order_number is not None or v.sales_record_number is not None,
    CsvType.LISTINGS: lambda v: (
        v.item_number is not None
        and _same_currency(
            v.currency, v.start_price, v.buy_it_now_price, v.reserve_price, v.current_price
        )
    ),
    CsvType.PRODUCTS: lambda v: (
        v.sku is not None and _same_currency(v.currency, v.start_price, v.buy_it_now_price)
    ),
    CsvType.CUSTOMERS: lambda v: v.buyer_username is not None,
    CsvType.MESSAGES: lambda v: v.message_id is not None,
}

# The fast path's replacements for parsers whose result type differs.
_FAST_PARSERS: dict[Callable[..., Any], Callable[..., Any]] = {parse_money: parse_amount}


def compile_row_validator(columns: ColumnMap) -> Callable[[list[str]], RowValues]:
    """Return a function turning a row's cells into the type's values tuple.

    The function raises the row model's :class:`~pydantic.ValidationError`
    for an invalid row.
    """
    model = model_for(columns.csv_type)
    values_type = VALUES[columns.csv_type]
    check = _CHECKS[columns.csv_type]
    fields = values_type._fields
    present = tuple(f for f in fields if f in columns.positions)
    positions = tuple(columns.positions[f] for f in present)
    width = max(positions) + 1
    get_cells = itemgetter(*positions)
    single = len(positions) == 1
    validate_cells = SchemaValidator(
        core_schema.tuple_schema([_cell_schema(model.model_fields[f]) for f in present])
    ).validate_python
    # Fields whose column is missing stay None: scatter the validated values
    # into place (rare; eBay's reports have every column of their type).
    slots = None if present == fields else tuple(fields.index(f) for f in present)
    make = tuple.__new__

    def validate(cells: list[str]) -> RowValues:
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        texts = (get_cells(cells),) if single else get_cells(cells)
        # Empty and blank cells become None, which the nullable schemas pass
        # through without calling a parser: empty is not zero, and most cells
        # of an Orders report are empty.
        cleaned = [t if t and not t.isspace() else None for t in texts]
        try:
            validated = validate_cells(cleaned)
        except ValidationError:
            return _by_model(model, values_type, present, texts)
        if slots is not None:
            full: list[object] = [None] * len(fields)
            for slot, value in zip(slots, validated, strict=True):
                full[slot] = value
            validated = full
        values: RowValues = make(values_type, validated)
        if not check(values):
            return _by_model(model, values_type, present, texts)
        return values

    return validate


def _cell_schema(field: FieldInfo) -> CoreSchema:
    """The core schema of one cell: the model field's validator, None passed through."""
    for meta in field.metadata:
        if isinstance(meta, PlainValidator):
            parse = _FAST_PARSERS.get(meta.func, meta.func)
            return core_schema.nullable_schema(core_schema.no_info_plain_validator_function(parse))
        if meta == StringConstraints(strip_whitespace=True):
            return core_schema.nullable_schema(core_schema.str_schema(strip_whitespace=True))
    raise TypeError(f"no fast-path schema for a field with metadata {field.metadata!r}")


def _by_model(
    model: type[RowModel],
    values_type: type[RowValues],
    fields: tuple[str, ...],
    texts: tuple[str, ...],
) -> RowValues:
    """Validate with the model: raises its ValidationError for an invalid row."""
    row = model.__pydantic_validator__.validate_python(
        {f: t for f, t in zip(fields, texts, strict=True) if t and not t.isspace()}
    )
    # Only reached if the fast path refused a row the model accepts.
    values: RowValues = tuple.__new__(
        values_type, [_plain(getattr(row, f)) for f in values_type._fields]
    )
    return values


def _plain(value: object) -> object:
    return (value.amount, value.currency) if isinstance(value, Money) else value
