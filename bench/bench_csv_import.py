"""Benchmark of the csv_import extension against a floor and the original design.

Three measurements on a generated eBay Orders report (examples/generate_orders_report.py):

* ``import``: :func:`threadjobs.ext.csv_import.import_csv` into SQLite
  (streaming, validation, multi-item grouping, upserts, batches of 100).
* ``floor``: bare ``csv.reader`` + ``sqlite3.executemany`` of the raw cells,
  no validation, commit per 100 rows, same PRAGMAs. Nothing can be faster.
* ``row_at_a_time``: the original design: per row a SELECT, then an INSERT or
  an UPDATE, commit per 100 rows (on fewer rows: it is slow).

Each measurement runs in its own process so its peak RSS is its own::

    python bench/bench_csv_import.py                # 1,000,000 rows; 100,000 row-at-a-time
    python bench/bench_csv_import.py --rows 100000 --slow-rows 20000
    python bench/bench_csv_import.py --repeat 3     # medians of 3 interleaved runs
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "examples"))
sys.path.insert(0, str(HERE.parent / "src"))

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA wal_autocheckpoint=10000",
)


def _connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


def _data_rows(path: Path, limit: int | None) -> tuple[list[str], object]:
    handle = open(path, newline="", encoding="utf-8")  # noqa: SIM115 - closed with the process
    reader = csv.reader(handle)
    next(reader)  # the bare-comma first line
    header = next(reader)
    width = len(header)

    def rows() -> object:
        count = 0
        for row in reader:
            if len(row) != width or not row[1]:
                continue  # padding row, blank line, trailer, rows without order number
            yield row
            count += 1
            if limit is not None and count >= limit:
                return

    return header, rows()


def run_import(path: Path, db: Path, limit: int | None) -> int:
    """Our importer."""
    from threadjobs.ext.csv_import import SqliteSink, import_csv

    report = import_csv(path, SqliteSink(db), account_id=7)
    return report.total_rows


def run_floor(path: Path, db: Path, limit: int | None) -> int:
    """Bare csv.reader + executemany, no validation."""
    header, rows = _data_rows(path, limit)
    conn = _connect(db)
    columns = ", ".join(f"c{i} TEXT" for i in range(len(header)))
    conn.execute(f"CREATE TABLE raw ({columns})")
    sql = f"INSERT INTO raw VALUES ({', '.join('?' * len(header))})"
    batch: list[list[str]] = []
    count = 0
    for row in rows:  # type: ignore[attr-defined]
        batch.append(row)
        if len(batch) == 100:
            conn.execute("BEGIN")
            conn.executemany(sql, batch)
            conn.execute("COMMIT")
            count += len(batch)
            batch = []
    if batch:
        conn.execute("BEGIN")
        conn.executemany(sql, batch)
        conn.execute("COMMIT")
        count += len(batch)
    conn.close()
    return count


def run_row_at_a_time(path: Path, db: Path, limit: int | None) -> int:
    """The original design: SELECT, then INSERT or UPDATE, per row; commit per 100."""
    header, rows = _data_rows(path, limit)
    index = {name: i for i, name in enumerate(header)}
    fields = [
        "Order Number",
        "Buyer Username",
        "Item Number",
        "Item Title",
        "Quantity",
        "Sold For",
        "Total Price",
        "Sale Date",
    ]
    conn = _connect(db)
    conn.execute(
        "CREATE TABLE orders (account_id TEXT, order_number TEXT, buyer TEXT, item_number TEXT, "
        "title TEXT, quantity TEXT, sold_for TEXT, total TEXT, sale_date TEXT)"
    )
    conn.execute("CREATE INDEX orders_key ON orders (account_id, order_number, item_number)")
    count = 0
    conn.execute("BEGIN")
    for row in rows:  # type: ignore[attr-defined]
        values = [row[index[f]] for f in fields]
        found = conn.execute(
            "SELECT 1 FROM orders WHERE account_id = ? AND order_number = ? AND item_number = ?",
            ("7", values[0], values[2]),
        ).fetchone()
        if found:
            conn.execute(
                "UPDATE orders SET buyer = ?, title = ?, quantity = ?, sold_for = ?, total = ?, "
                "sale_date = ? WHERE account_id = ? AND order_number = ? AND item_number = ?",
                (values[1], *values[3:], "7", values[0], values[2]),
            )
        else:
            conn.execute("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ("7", *values))
        count += 1
        if count % 100 == 0:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    conn.execute("COMMIT")
    conn.close()
    return count


SCENARIOS = {"import": run_import, "floor": run_floor, "row_at_a_time": run_row_at_a_time}


def child(scenario: str, path: Path, limit: int | None) -> None:
    """Run one scenario in this process and print its figures as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        rows = SCENARIOS[scenario](path, Path(tmp) / "bench.db", limit)
        seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "scenario": scenario,
                "rows": rows,
                "seconds": seconds,
                "rows_per_s": rows / seconds,
                "peak_rss_mb": peak_kb / 1024,
            }
        )
    )


def measure(scenario: str, path: Path, limit: int | None) -> dict[str, float]:
    """Run a scenario in a fresh process."""
    command = [sys.executable, __file__, "--child", scenario, "--file", str(path)]
    if limit is not None:
        command += ["--limit", str(limit)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def _median(results: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median rate, with the largest peak RSS of all runs."""
    ranked = sorted(results, key=lambda r: r["rows_per_s"])
    median = dict(ranked[(len(ranked) - 1) // 2])
    median["rows_per_s"] = statistics.median(r["rows_per_s"] for r in results)
    median["peak_rss_mb"] = max(r["peak_rss_mb"] for r in results)
    return median


def main() -> None:
    """Generate the report once, run the three scenarios, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--slow-rows", type=int, default=100_000)
    parser.add_argument("--child", choices=sorted(SCENARIOS))
    parser.add_argument("--file", type=Path)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario (median)")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.file, args.limit)
        return
    from generate_orders_report import generate_orders_report

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.csv"
        started = time.perf_counter()
        info = generate_orders_report(path, args.rows, seed=42)
        size_mb = path.stat().st_size / 2**20
        print(
            f"generated {info.rows} rows ({size_mb:.0f} MB) in "
            f"{time.perf_counter() - started:.1f} s; python {sys.version.split()[0]}, "
            f"sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs"
        )
        # Interleaved, so a burst of load from other processes hits every
        # scenario alike; the median run of each is reported.
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in SCENARIOS}
        for _ in range(args.repeat):
            runs["import"].append(measure("import", path, None))
            runs["floor"].append(measure("floor", path, None))
            runs["row_at_a_time"].append(measure("row_at_a_time", path, args.slow_rows))
    ours, floor, slow = (_median(runs[name]) for name in ("import", "floor", "row_at_a_time"))
    for result in (ours, floor, slow):
        rates = ", ".join(f"{r['rows_per_s']:,.0f}" for r in runs[str(result["scenario"])])
        print(
            f"{result['scenario']:<14} {result['rows']:>9.0f} rows {result['seconds']:8.2f} s "
            f"{result['rows_per_s']:>10,.0f} rows/s  peak RSS {result['peak_rss_mb']:6.1f} MB"
            f"  (runs: {rates})"
        )
    print(
        f"import / floor         = {ours['rows_per_s'] / floor['rows_per_s']:.2f} (target >= 0.5)"
    )
    print(f"import / row-at-a-time = {ours['rows_per_s'] / slow['rows_per_s']:.1f} (target >= 20)")


if __name__ == "__main__":
    main()
