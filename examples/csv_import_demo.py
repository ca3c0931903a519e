"""End-to-end demo: generate an eBay Orders report, import it as a job, print the report.

Runs in a few seconds with the defaults (20,000 rows) and needs nothing but
threadjobs itself::

    python examples/csv_import_demo.py
    python examples/csv_import_demo.py --rows 200000 --keep ./demo-out

It writes a realistic Orders report (multi-item orders, a bare-comma first
line, a padding row, a trailer and a few bad rows) into a temporary directory,
records it as an upload, runs a ``csv_import`` job on a JobManager with the
in-memory store, draws a live progress bar, and prints the import report and
what ended up in the SQLite database.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from threadjobs import JobManager, WaitTimeout
from threadjobs.ext.csv_import import CsvImportHandler, SqliteSink, SqliteUploadStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_orders_report import generate_orders_report

BAR_WIDTH = 40


def draw(percent: float, message: str) -> None:
    """Redraw the progress bar in place (carriage return, no newline)."""
    filled = int(BAR_WIDTH * percent / 100)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    sys.stdout.write(f"\r[{bar}] {percent:5.1f}%  {message[:50]:<50}")
    sys.stdout.flush()


def run(rows: int, seed: int, batch_size: int, workdir: Path) -> int:
    """Generate, import and report; return a process exit code."""
    csv_path = workdir / "eBay-OrdersReport-demo.csv"
    db_path = workdir / "shop.db"
    info = generate_orders_report(csv_path, rows, seed=seed)
    print(
        f"generated {csv_path.name}: {info.rows} rows, {info.orders} orders, "
        f"{sum(info.bad_rows.values())} bad rows on purpose"
    )

    uploads = SqliteUploadStore(db_path)
    upload = uploads.create(account_id=7, file_path=str(csv_path), batch_id="demo")
    with JobManager(max_workers=2) as manager:
        manager.register(CsvImportHandler(SqliteSink(db_path), uploads, batch_size=batch_size))
        job_id = manager.submit("csv_import", account_id=7, params={"upload_id": upload.id})
        while True:
            try:
                job = manager.wait(job_id, timeout=0.1)  # the bar's refresh tick
            except WaitTimeout:
                job = manager.get(job_id)
                draw(job.progress.percent, job.progress.message)
                continue
            draw(job.progress.percent, job.progress.message)
            print()
            break

    print(f"\njob {job.id}: {job.status.value}")
    if job.status.value != "completed":
        print(job.errors[-1].message if job.errors else "no error recorded")
        return 1
    from threadjobs.ext.csv_import import ImportReport

    report = ImportReport.model_validate(job.result)
    print(report.summary())
    record = uploads.get(upload.id)
    assert record is not None
    print(f"\nupload {record.id}: {record.status.value}, {record.inserted_rows} rows inserted")
    conn = sqlite3.connect(db_path)
    try:
        orders, items = (
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("ebay_orders", "ebay_order_items")
        )
        multi = conn.execute("SELECT count(*) FROM ebay_orders WHERE item_count > 1").fetchone()[0]
    finally:
        conn.close()
    print(f"database {db_path}: {orders} orders ({multi} multi-item), {items} line items")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description="threadjobs csv_import demo")
    parser.add_argument("--rows", type=int, default=20_000, help="rows to generate (20000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (1)")
    parser.add_argument("--batch-size", type=int, default=100, help="rows per transaction (100)")
    parser.add_argument("--keep", type=Path, help="write here and keep the files")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return run(args.rows, args.seed, args.batch_size, args.keep)
    workdir = Path(tempfile.mkdtemp(prefix="threadjobs-demo-"))
    try:
        return run(args.rows, args.seed, args.batch_size, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
