"""Generate a realistic eBay Seller Hub Orders report, reproducibly.

The file has the shape of a real US export (see docs/csv-import.md): a first
line of bare commas, the 82-column header with its odd mixed quoting, a
padding row of empty fields, every data cell quoted, single-item orders and
multi-item orders (an order-level row followed by one row per item), a few
deliberately bad rows, then a blank line and the two trailer lines. All names
are invented; e-mails are ``@example.com``.

As a module::

    from generate_orders_report import generate_orders_report
    info = generate_orders_report("orders.csv", rows=20_000, seed=1)

As a command::

    python examples/generate_orders_report.py orders.csv --rows 20000 --seed 1
"""

from __future__ import annotations

import argparse
import csv
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

HEADER = (
    '"Sales Record Number","Order Number","Buyer Username","Buyer Name","Buyer Email",'
    '"Buyer Note",Buyer Address 1,Buyer Address 2,Buyer City,"Buyer State","Buyer Zip",'
    '"Buyer Country","Buyer Tax Identifier Name","Buyer Tax Identifier Value",Ship To Name,'
    '"Ship To Phone",Ship To Address 1,Ship To Address 2,Ship To City,"Ship To State",'
    '"Ship To Zip","Ship To Country","Item Number","Item Title",Custom Label,'
    '"Sold Via Promoted Listings","Quantity","Sold For","Shipping And Handling",'
    'Item Location,"Item Zip Code","Item Country","eBay Collect And Remit Tax Rate",'
    '"eBay Collect And Remit Tax Type","eBay Reference Name",eBay Reference Value,Tax Status,'
    '"Seller Collected Tax","eBay Collected Tax","Electronic Waste Recycling Fee",'
    '"Mattress Recycling Fee","Battery Recycling Fee","White Goods Disposal Tax",'
    '"Tire Recycling Fee","Additional Fee","Lumber Fee","Prepaid Wireless Fee",'
    '"Road Improvement And Food Delivery Fee","eBay Collected Charges","Total Price",'
    '"eBay Collected Tax and Fees Included in Total","Payment Method","Sale Date",'
    '"Paid On Date","Ship By Date","Minimum Estimated Delivery Date",'
    '"Maximum Estimated Delivery Date","Shipped On Date","Feedback Left","Feedback Received",'
    '"My Item Note","PayPal Transaction ID","Shipping Service","Tracking Number",'
    '"Transaction ID",Variation Details,"Global Shipping Program",'
    '"Global Shipping Reference ID","Click And Collect","Click And Collect Reference Number",'
    '"eBay Plus","Authenticity Verification Program","Authenticity Verification Status",'
    '"Authenticity Verification Outcome Reason","PSA Vault Program","Vault Fulfillment Type",'
    '"eBay Fulfillment Program",Tax City,"Tax State","Tax Zip","Tax Country",'
    '"eBay International Shipping"'
)
COLUMNS = next(csv.reader([HEADER]))
_INDEX = {name: i for i, name in enumerate(COLUMNS)}

_FIRST = ["Alex", "Sam", "Jo", "Riley", "Casey", "Morgan", "Jamie", "Taylor", "Drew", "Quinn"]
_LAST = ["Example", "Sample", "Tester", "Placeholder", "Demo", "Fictive", "Mock", "Dummy"]
_CITIES = [
    ("Springfield", "IL", "62701"),
    ("Riverton", "WY", "82501"),
    ("Fairview", "TX", "75069"),
    ("Georgetown", "KY", "40324"),
    ("Salem", "OR", "97301"),
    ("Madison", "WI", "53703"),
]
_THINGS = [
    "Trading Card",
    "Vintage Lens",
    "Phone Case",
    "Knee Brace",
    "Saucer",
    "Comic Book",
    "Watch Strap",
    "LEGO Minifigure",
    "Vinyl Record",
    "Camera Strap",
]
_ADJECTIVES = ["Rare", "New", "Used", "Boxed", "Signed", "Mint", "Lot of 3", "Graded"]
_SERVICES = ["USPS Ground Advantage", "USPS Priority Mail", "UPS Ground", "eBay Standard Envelope"]
_BAD_KINDS = ("impossible_date", "damaged_id", "invalid_money", "missing_key", "invalid_quantity")


@dataclass
class GeneratedReport:
    """What was written.

    Attributes:
        path: The file.
        rows: Data rows written (bad rows included; preamble, padding, trailer excluded).
        orders: Distinct orders among the good rows.
        items: Item rows among the good rows (single-item orders count one).
        bad_rows: Rows made invalid on purpose, by reason.
        bad_lines: Their line numbers in the file.
    """

    path: Path
    rows: int = 0
    orders: int = 0
    items: int = 0
    bad_rows: dict[str, int] = field(default_factory=dict)
    bad_lines: list[int] = field(default_factory=list)


def _money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _date(day: date) -> str:
    return day.strftime("%b-%d-%y")


def generate_orders_report(
    path: str | Path,
    rows: int = 20_000,
    *,
    seed: int = 1,
    bad_every: int = 1_000,
    multi_item_share: float = 0.2,
    crlf: bool = True,
) -> GeneratedReport:
    """Write an Orders report with about ``rows`` data rows.

    Args:
        path: Where to write.
        rows: Data rows to write (the last order may add up to 3 more).
        seed: Same seed, same file.
        bad_every: About one row in this many is made invalid (0 for none).
        multi_item_share: Share of orders with 2-4 items.
        crlf: End lines with CRLF (else LF).

    Returns:
        A :class:`GeneratedReport` describing the file.
    """
    rng = random.Random(seed)
    info = GeneratedReport(Path(path))
    newline = "\r\n" if crlf else "\n"
    start = date(2024, 1, 2)
    record_number = 10_000
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("," * (len(COLUMNS) - 1) + newline)
        handle.write(HEADER + newline)
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator=newline)
        writer.writerow([""] * len(COLUMNS))
        line = 3  # bare commas, header, padding row
        while info.rows < rows:
            record_number += 1
            sale_day = start + timedelta(days=rng.randrange(700))
            order = _order(rng, record_number, sale_day)
            item_count = rng.randint(2, 4) if rng.random() < multi_item_share else 1
            items = [_item(rng) for _ in range(item_count)]
            bad = bad_every and rng.randrange(bad_every) < item_count
            kind = rng.choice(_BAD_KINDS) if bad else None
            for cells in _order_rows(order, items):
                start_line = line + 1
                # Line breaks inside quoted cells (addresses) take physical lines.
                line += 1 + sum(cell.count("\n") for cell in cells)
                if kind is not None and cells[_INDEX["Item Number"]]:
                    _spoil(cells, kind)
                    info.bad_rows[kind] = info.bad_rows.get(kind, 0) + 1
                    info.bad_lines.append(start_line)
                    kind = None
                elif cells[_INDEX["Item Number"]]:
                    info.items += 1
                writer.writerow(cells)
                info.rows += 1
            info.orders += 1
        handle.write(newline)
        handle.write(f"{info.orders},record(s) downloaded,{newline}")
        handle.write(f"Seller ID : example_seller{newline}")
    return info


def _order(rng: random.Random, record_number: int, sale_day: date) -> dict[str, str]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    buyer = f"{first.lower()}_{last.lower()}{rng.randrange(5000)}"
    city, state, zip_code = rng.choice(_CITIES)
    shipped = sale_day + timedelta(days=rng.randint(1, 4))
    return {
        "Sales Record Number": str(record_number),
        "Order Number": f"{rng.randint(1, 27):02d}-{rng.randrange(10**5):05d}"
        f"-{rng.randrange(10**5):05d}",
        "Buyer Username": buyer,
        "Buyer Name": f"{first} {last}",
        "Buyer Email": f"{buyer}@example.com",
        "Buyer Note": rng.choice(
            ["", "", "", "Please ship fast, thanks!", 'Gift, "no" invoice please']
        ),
        "Ship To Name": f"{first} {last}",
        "Ship To Phone": f"+1 555 01{rng.randrange(100):02d}",
        "Ship To Address 1": f"{rng.randint(1, 9999)} Example Street",
        "Ship To Address 2": rng.choice(["", "", "Apt 4B", "Suite 100\nBack door"]),
        "Ship To City": city,
        "Ship To State": state,
        "Ship To Zip": zip_code,
        "Ship To Country": "United States",
        "Sale Date": _date(sale_day),
        "Paid On Date": _date(sale_day),
        "Shipped On Date": _date(shipped),
        "Shipping Service": rng.choice(_SERVICES),
        "Tracking Number": "9400" + "".join(str(rng.randrange(10)) for _ in range(18)),
    }


def _item(rng: random.Random) -> dict[str, str]:
    title = f"{rng.choice(_ADJECTIVES)} {rng.choice(_THINGS)}, #{rng.randrange(1000)}"
    price = Decimal(rng.randrange(199, 150_000)) / 100
    return {
        "Item Number": str(rng.randrange(10**11, 4 * 10**11)),
        "Item Title": title,
        "Custom Label": f"SKU-{rng.randrange(10**5):05d}",
        "Quantity": str(rng.choice([1, 1, 1, 2, 3])),
        "Sold For": _money(price),
        "Transaction ID": str(rng.randrange(10**12, 10**13)),
    }


def _order_rows(order: dict[str, str], items: list[dict[str, str]]) -> list[list[str]]:
    """The rows of one order, in eBay's layout."""
    subtotal = sum(
        (Decimal(i["Sold For"].strip("$").replace(",", "")) * int(i["Quantity"]) for i in items),
        Decimal(0),
    )
    shipping = Decimal("4.95") if subtotal < 50 else Decimal(0)
    tax = (subtotal * Decimal("0.07")).quantize(Decimal("0.01"))
    totals = {
        "Sold For": _money(subtotal),
        "Shipping And Handling": _money(shipping),
        "eBay Collected Tax": _money(tax),
        "Total Price": _money(subtotal + shipping + tax),
        "eBay Collected Tax and Fees Included in Total": "Yes",
    }
    if len(items) == 1:
        return [_cells({**order, **items[0], **totals})]
    shared = {
        k: order[k] for k in ("Sales Record Number", "Order Number", "Buyer Username", "Sale Date")
    }
    rows = [_cells({**order, **totals})]
    rows.extend(_cells({**shared, **item}) for item in items)
    return rows


def _cells(values: dict[str, str]) -> list[str]:
    cells = [""] * len(COLUMNS)
    for name, value in values.items():
        cells[_INDEX[name]] = value
    return cells


def _spoil(cells: list[str], kind: str) -> None:
    if kind == "impossible_date":
        cells[_INDEX["Sale Date"]] = "Feb-30-24"
    elif kind == "damaged_id":
        cells[_INDEX["Item Number"]] = "2.26105E+11"
    elif kind == "invalid_money":
        cells[_INDEX["Sold For"]] = "$12.3.4"
    elif kind == "missing_key":
        cells[_INDEX["Order Number"]] = ""
        cells[_INDEX["Sales Record Number"]] = ""
    else:
        cells[_INDEX["Quantity"]] = "-1"


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("path", help="the CSV file to write")
    parser.add_argument("--rows", type=int, default=20_000, help="data rows (default 20000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--bad-every", type=int, default=1_000, help="one bad row in N (0: none)")
    parser.add_argument("--lf", action="store_true", help="LF line ends instead of CRLF")
    args = parser.parse_args(argv)
    info = generate_orders_report(
        args.path, args.rows, seed=args.seed, bad_every=args.bad_every, crlf=not args.lf
    )
    print(
        f"wrote {info.path}: {info.rows} rows, {info.orders} orders, "
        f"{sum(info.bad_rows.values())} bad rows {info.bad_rows}"
    )


if __name__ == "__main__":
    main()
