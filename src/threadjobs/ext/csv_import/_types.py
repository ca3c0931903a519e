"""The five CSV types, their columns, and how a header row is recognised.

Columns are matched by *name*, never by position: eBay renames, adds and
removes columns between report versions and sites (``Postage And Handling`` on
eBay AU, ``Post to name`` on eBay UK, the legacy File Exchange names). Each
field of a type lists every column name known to carry it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "ColumnMap",
    "CsvType",
    "TypeSpec",
    "column_title",
    "detect_header",
    "expected_columns",
    "normalise_column",
    "spec_for",
]


class CsvType(str, enum.Enum):
    """The kinds of eBay CSV file the importer understands."""

    ORDERS = "orders"
    LISTINGS = "listings"
    PRODUCTS = "products"
    CUSTOMERS = "customers"
    MESSAGES = "messages"


@dataclass(frozen=True)
class TypeSpec:
    """What the importer knows about one CSV type.

    Attributes:
        csv_type: The type.
        fields: Field name -> the normalised column names that carry it.
        signature: Fields that must *all* be present for the header to be
            recognised as this type when no type is given.
        key_fields: Fields one of which must be present when the type is given
            explicitly (the natural key: without it nothing can be upserted).
        forbidden: Fields whose presence means "this is another type".
    """

    csv_type: CsvType
    fields: Mapping[str, tuple[str, ...]]
    signature: tuple[str, ...]
    key_fields: tuple[str, ...]
    forbidden: tuple[str, ...] = ()

    def describe(self) -> list[str]:
        """Return the eBay column names of the signature, for error messages."""
        return [_title(self.fields[name][0]) for name in self.signature]


@dataclass(frozen=True)
class ColumnMap:
    """Where each known field sits in a recognised header.

    Attributes:
        csv_type: The recognised type.
        positions: Field name -> column index, for the fields present.
        names: Field name -> the column name exactly as the file wrote it.
        header_width: The number of cells in the header row.
    """

    csv_type: CsvType
    positions: Mapping[str, int]
    names: Mapping[str, str]
    header_width: int

    @property
    def missing(self) -> list[str]:
        """Columns of the type that the header does not have, by their eBay names."""
        fields = spec_for(self.csv_type).fields
        return [_title(aliases[0]) for f, aliases in fields.items() if f not in self.positions]


def normalise_column(name: str) -> str:
    """Lower-case, trim, collapse spaces, drop the template's ``*required`` mark.

    ``Action(SiteID=US|...)`` becomes ``action``.
    """
    s = " ".join(name.replace("\ufeff", "").strip().strip('"').split()).lower()
    s = s.lstrip("*")
    if s.startswith("action(") and s.endswith(")"):
        return "action"
    return s


def _title(normalised: str) -> str:
    return " ".join(word if "(" in word else word.capitalize() for word in normalised.split())


_ORDER_FIELDS: dict[str, tuple[str, ...]] = {
    "sales_record_number": ("sales record number", "sales record no."),
    "order_number": ("order number", "order id"),
    "buyer_username": ("buyer username", "user id"),
    "buyer_name": ("buyer name", "buyer fullname"),
    "buyer_email": ("buyer email",),
    "buyer_note": ("buyer note",),
    "ship_to_name": ("ship to name", "post to name"),
    "ship_to_phone": ("ship to phone", "post to phone", "buyer phone number"),
    "ship_to_address_1": ("ship to address 1", "post to address 1"),
    "ship_to_address_2": ("ship to address 2", "post to address 2"),
    "ship_to_city": ("ship to city", "post to city"),
    "ship_to_state": ("ship to state", "post to county", "post to state"),
    "ship_to_zip": ("ship to zip", "post to postcode", "ship to postcode"),
    "ship_to_country": ("ship to country", "post to country"),
    "item_number": ("item number", "item id"),
    "item_title": ("item title",),
    "custom_label": ("custom label", "custom label (sku)"),
    "quantity": ("quantity",),
    "sold_for": ("sold for", "sale price"),
    "shipping_and_handling": ("shipping and handling", "postage and handling"),
    "seller_collected_tax": ("seller collected tax", "sales tax"),
    "ebay_collected_tax": ("ebay collected tax",),
    "total_price": ("total price",),
    "sale_date": ("sale date",),
    "paid_on_date": ("paid on date",),
    "shipped_on_date": ("shipped on date",),
    "shipping_service": ("shipping service", "postage service"),
    "tracking_number": ("tracking number",),
    "transaction_id": ("transaction id",),
    "variation_details": ("variation details",),
}
_LISTING_FIELDS: dict[str, tuple[str, ...]] = {
    "item_number": ("item number", "item id"),
    "title": ("title", "item title"),
    "variation_details": ("variation details",),
    "sku": ("custom label (sku)", "custom label"),
    "available_quantity": ("available quantity", "quantity available"),
    "format": ("format",),
    "currency": ("currency",),
    "start_price": ("start price", "price"),
    "buy_it_now_price": ("auction buy it now price", "buy it now price"),
    "reserve_price": ("reserve price",),
    "current_price": ("current price",),
    "sold_quantity": ("sold quantity", "purchases"),
    "watchers": ("watchers",),
    "bids": ("bids",),
    "start_date": ("start date",),
    "end_date": ("end date",),
    "category_name": ("ebay category 1 name", "category leaf name"),
    "category_number": ("ebay category 1 number", "category number"),
    "condition": ("condition",),
    "listing_site": ("listing site", "site listed"),
}
_PRODUCT_FIELDS: dict[str, tuple[str, ...]] = {
    "sku": ("custom label (sku)", "custom label"),
    "action": ("action",),
    "category_name": ("category name",),
    "item_number": ("item number", "item id"),
    "title": ("title",),
    "listing_site": ("listing site",),
    "currency": ("currency",),
    "start_price": ("start price",),
    "buy_it_now_price": ("buy it now price",),
    "available_quantity": ("available quantity",),
    "relationship": ("relationship",),
    "relationship_details": ("relationship details",),
}
_CUSTOMER_FIELDS: dict[str, tuple[str, ...]] = {
    "buyer_username": ("buyer username",),
    "buyer_name": ("buyer name",),
    "buyer_email": ("buyer email",),
    "address_1": ("buyer address 1",),
    "address_2": ("buyer address 2",),
    "city": ("buyer city",),
    "state": ("buyer state",),
    "zip": ("buyer zip",),
    "country": ("buyer country",),
    "phone": ("ship to phone", "buyer phone number"),
    "first_order_date": ("first order date",),
    "last_order_date": ("last order date",),
    "orders_count": ("orders count",),
    "total_spent": ("total spent",),
}
_MESSAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "message_id": ("message id",),
    "conversation_id": ("conversation id",),
    "sender_username": ("sender username",),
    "recipient_username": ("recipient username",),
    "subject": ("subject",),
    "body": ("message body",),
    "created_date": ("created date",),
    "read_status": ("read status",),
    "item_number": ("item number", "item id"),
    "order_number": ("order number",),
}

# Detection order matters: a customers file also has "Buyer Username", a
# products file also has "Item number" and "Title".
_SPECS: tuple[TypeSpec, ...] = (
    TypeSpec(CsvType.MESSAGES, _MESSAGE_FIELDS, ("message_id", "created_date"), ("message_id",)),
    TypeSpec(
        CsvType.CUSTOMERS,
        _CUSTOMER_FIELDS,
        ("buyer_username", "orders_count"),
        ("buyer_username",),
        forbidden=("order_number",),
    ),
    TypeSpec(
        CsvType.ORDERS,
        _ORDER_FIELDS,
        ("sales_record_number", "order_number"),
        ("order_number", "sales_record_number"),
    ),
    TypeSpec(CsvType.PRODUCTS, _PRODUCT_FIELDS, ("action", "item_number", "sku"), ("sku",)),
    TypeSpec(
        CsvType.LISTINGS,
        _LISTING_FIELDS,
        ("item_number", "title", "available_quantity"),
        ("item_number",),
        forbidden=("action",),
    ),
)
_BY_TYPE = {spec.csv_type: spec for spec in _SPECS}


def spec_for(csv_type: CsvType) -> TypeSpec:
    """Return the :class:`TypeSpec` of a type."""
    return _BY_TYPE[csv_type]


def column_title(csv_type: CsvType, field: str) -> str:
    """The eBay column name of a field, e.g. ``"Order Number"`` for ``order_number``."""
    return _title(_BY_TYPE[csv_type].fields[field][0])


def expected_columns(csv_type: CsvType | None) -> dict[str, list[str]]:
    """Return, per candidate type, the column names that identify it."""
    specs = _SPECS if csv_type is None else (_BY_TYPE[csv_type],)
    return {spec.csv_type.value: spec.describe() for spec in specs}


def detect_header(cells: Sequence[str], csv_type: CsvType | None = None) -> ColumnMap | None:
    """Return the column map if ``cells`` is the header row of a known type.

    Args:
        cells: One parsed CSV row.
        csv_type: When given, only this type is considered and the header needs
            only one of the type's key columns plus one other known column.

    Returns:
        The :class:`ColumnMap`, or ``None`` when the row is not a header.
    """
    normalised = [normalise_column(c) for c in cells]
    index: dict[str, int] = {}
    for position, name in enumerate(normalised):
        index.setdefault(name, position)
    specs = _SPECS if csv_type is None else (_BY_TYPE[csv_type],)
    for spec in specs:
        positions = {
            field: next(index[a] for a in aliases if a in index)
            for field, aliases in spec.fields.items()
            if any(a in index for a in aliases)
        }
        if csv_type is None:
            matches = all(f in positions for f in spec.signature) and not any(
                f in positions for f in spec.forbidden
            )
        else:
            matches = any(f in positions for f in spec.key_fields) and len(positions) >= 2
        if matches:
            names = {
                field: cells[pos].replace("\ufeff", "").strip() for field, pos in positions.items()
            }
            return ColumnMap(spec.csv_type, positions, names, len(cells))
    return None
