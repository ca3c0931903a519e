"""One pydantic model per CSV type: a validated, cleaned row.

The models take the raw cell text keyed by field name (see ``_types``) and
turn it into typed values with the parsers of ``_values``. A failing cell
raises a pydantic error whose ``type`` is the parser's reason code, so the
import report can count errors by reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, PlainValidator, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from ._types import CsvType, column_title
from ._values import (
    InvalidValue,
    Money,
    parse_bool,
    parse_count,
    parse_date,
    parse_id,
    parse_item_number,
    parse_money,
)

__all__ = [
    "CustomerRow",
    "ListingRow",
    "MessageRow",
    "OrderRow",
    "ProductRow",
    "RowModel",
    "error_reason",
    "model_for",
]

# The parsers are the validators. Pydantic reports their InvalidValue as a
# "value_error" whose ctx["error"] is the exception; the importer reads the
# reason code from there. No wrapper: one Python call per non-empty cell.
# Text needs no Python at all: the importer drops empty and blank cells
# before validation and pydantic strips whitespace.
Text = Annotated[str | None, StringConstraints(strip_whitespace=True)]
Id = Annotated[str | None, PlainValidator(parse_id)]
ItemNumber = Annotated[str | None, PlainValidator(parse_item_number)]
Count = Annotated[int | None, PlainValidator(parse_count)]
Flag = Annotated[bool | None, PlainValidator(parse_bool)]
Amount = Annotated[Money | None, PlainValidator(parse_money)]
When = Annotated[date | datetime | None, PlainValidator(parse_date)]


def error_reason(error: Mapping[str, Any]) -> tuple[str, str]:
    """Return (reason code, message) of one pydantic error of a row model."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, InvalidValue):
        return cause.reason, str(cause)
    return str(error["type"]), str(error["msg"])


class RowModel(BaseModel):
    """Base of the row models: frozen, ignores columns it does not know."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    #: The CSV type the model reads.
    csv_type: ClassVar[CsvType]

    def _require(self, *fields: str) -> None:
        if all(getattr(self, f) is None for f in fields):
            names = " or ".join(column_title(self.csv_type, f) for f in fields)
            raise PydanticCustomError(
                "missing_key",
                "{fields} is empty; rows are stored by it, so a row without it cannot be imported",
                {"fields": names, "field": fields[0]},
            )

    def _check_currency(self, currency: str | None, *amounts: Money | None) -> None:
        for amount in amounts:
            if amount is not None and amount.currency and currency and amount.currency != currency:
                raise PydanticCustomError(
                    "currency_mismatch",
                    "an amount in {found} on a row whose Currency column says {currency}",
                    {"found": amount.currency, "currency": currency, "field": "currency"},
                )


class OrderRow(RowModel):
    """A row of the Seller Hub Orders report: an order, an order's item, or both."""

    csv_type: ClassVar[CsvType] = CsvType.ORDERS

    sales_record_number: Id = None
    order_number: Id = None
    buyer_username: Text = None
    buyer_name: Text = None
    buyer_email: Text = None
    buyer_note: Text = None
    ship_to_name: Text = None
    ship_to_phone: Text = None
    ship_to_address_1: Text = None
    ship_to_address_2: Text = None
    ship_to_city: Text = None
    ship_to_state: Text = None
    ship_to_zip: Id = None
    ship_to_country: Text = None
    item_number: ItemNumber = None
    item_title: Text = None
    custom_label: Text = None
    quantity: Count = None
    sold_for: Amount = None
    shipping_and_handling: Amount = None
    seller_collected_tax: Amount = None
    ebay_collected_tax: Amount = None
    total_price: Amount = None
    sale_date: When = None
    paid_on_date: When = None
    shipped_on_date: When = None
    shipping_service: Text = None
    tracking_number: Id = None
    transaction_id: Id = None
    variation_details: Text = None

    @model_validator(mode="after")
    def _has_key(self) -> OrderRow:
        # Real files have rows without an Order Number; the Sales Record
        # Number then identifies the order.
        self._require("order_number", "sales_record_number")
        return self

    @property
    def order_key(self) -> str:
        """The order's natural key: the Order Number, else ``SRN-<Sales Record Number>``."""
        return self.order_number or f"SRN-{self.sales_record_number}"

    @property
    def is_item(self) -> bool:
        """Whether the row describes an item (it has an Item Number)."""
        return self.item_number is not None


class ListingRow(RowModel):
    """A row of the active listings report: a listing or one of its variations."""

    csv_type: ClassVar[CsvType] = CsvType.LISTINGS

    item_number: ItemNumber = None
    title: Text = None
    variation_details: Text = None
    sku: Text = None
    available_quantity: Count = None
    format: Text = None
    currency: Text = None
    start_price: Amount = None
    buy_it_now_price: Amount = None
    reserve_price: Amount = None
    current_price: Amount = None
    sold_quantity: Count = None
    watchers: Count = None
    bids: Count = None
    start_date: When = None
    end_date: When = None
    category_name: Text = None
    category_number: Id = None
    condition: Text = None
    listing_site: Text = None

    @model_validator(mode="after")
    def _checks(self) -> ListingRow:
        self._require("item_number")
        self._check_currency(
            self.currency,
            self.start_price,
            self.buy_it_now_price,
            self.reserve_price,
            self.current_price,
        )
        return self

    @property
    def variation_key(self) -> str:
        """Distinguishes a variation from its listing: SKU, else details, else ``""``."""
        return self.sku or self.variation_details or ""


class ProductRow(RowModel):
    """A row of the revise price & quantity download, keyed by SKU."""

    csv_type: ClassVar[CsvType] = CsvType.PRODUCTS

    sku: Text = None
    action: Text = None
    category_name: Text = None
    item_number: ItemNumber = None
    title: Text = None
    listing_site: Text = None
    currency: Text = None
    start_price: Amount = None
    buy_it_now_price: Amount = None
    available_quantity: Count = None
    relationship: Text = None
    relationship_details: Text = None

    @model_validator(mode="after")
    def _checks(self) -> ProductRow:
        self._require("sku")
        self._check_currency(self.currency, self.start_price, self.buy_it_now_price)
        return self


class CustomerRow(RowModel):
    """A row of the customers format (designed: the Orders report's buyer columns)."""

    csv_type: ClassVar[CsvType] = CsvType.CUSTOMERS

    buyer_username: Text = None
    buyer_name: Text = None
    buyer_email: Text = None
    address_1: Text = None
    address_2: Text = None
    city: Text = None
    state: Text = None
    zip: Id = None
    country: Text = None
    phone: Text = None
    first_order_date: When = None
    last_order_date: When = None
    orders_count: Count = None
    total_spent: Amount = None

    @model_validator(mode="after")
    def _checks(self) -> CustomerRow:
        self._require("buyer_username")
        return self


class MessageRow(RowModel):
    """A row of the messages format (designed on eBay's Commerce Message API)."""

    csv_type: ClassVar[CsvType] = CsvType.MESSAGES

    message_id: Id = None
    conversation_id: Id = None
    sender_username: Text = None
    recipient_username: Text = None
    subject: Text = None
    body: Text = None
    created_date: When = None
    read_status: Flag = None
    item_number: ItemNumber = None
    order_number: Id = None

    @model_validator(mode="after")
    def _checks(self) -> MessageRow:
        self._require("message_id")
        return self


_MODELS: dict[CsvType, type[RowModel]] = {
    CsvType.ORDERS: OrderRow,
    CsvType.LISTINGS: ListingRow,
    CsvType.PRODUCTS: ProductRow,
    CsvType.CUSTOMERS: CustomerRow,
    CsvType.MESSAGES: MessageRow,
}


def model_for(csv_type: CsvType) -> type[RowModel]:
    """Return the row model class of a CSV type."""
    return _MODELS[csv_type]
