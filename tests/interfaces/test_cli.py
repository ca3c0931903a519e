"""The ``threadjobs`` command in a subprocess, on the memory store (no server needed)."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import WorkerProcess, run_cli

ORDERS_CSV = "\r\n".join(
    [
        '"Sales Record Number","Order Number","Buyer Username","Item Number","Item Title",'
        '"Quantity","Sold For","Total Price","Sale Date","Transaction ID"',
        '"120","04-14689-99999","ann","123456789014","Thing","2","$12.00","$24.00",'
        '"Mar-06-24","113"',
        '"121","04-14689-99998","bob","123456789015","Other","1","$5.00","$5.00","Mar-07-24","114"',
    ]
)


def assert_one_clean_error(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("threadjobs")]
    assert len(errors) == 1, result.stderr


def test_the_console_script_prints_help() -> None:
    script = shutil.which("threadjobs", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the threadjobs script is not installed next to python: pip install -e .")

    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=30)

    assert result.returncode == 0
    assert "watch" in result.stdout
    assert "Exit codes" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["list", "--limit", "0"],
        ["list", "--status", "lost"],
        ["watch"],
        ["list", "--store", "ftp://example.com"],
        ["import-csv", "missing.csv", "--db", "x.db", "--account", "1"],
        ["worker", "--handlers", "no_such_module_here"],
        ["worker", "--handlers", "tests.interfaces.handlers:nothing"],
    ],
)
def test_user_mistakes_exit_2_with_one_line(args: list[str]) -> None:
    result = run_cli(*args)

    assert result.returncode == 2
    assert_one_clean_error(result)


def test_an_unreachable_store_exits_6(free_tcp_port: int) -> None:
    pytest.importorskip("redis")

    result = run_cli("list", "--store", f"redis://127.0.0.1:{free_tcp_port}/0")

    assert result.returncode == 6
    assert_one_clean_error(result)
    assert "unavailable" in result.stderr


def test_list_on_the_memory_store_explains_why_it_is_empty() -> None:
    result = run_cli("list")

    assert result.returncode == 0
    assert result.stdout.strip() == "no jobs"
    assert "hint: the memory store lives inside one process" in result.stderr


def test_show_on_the_memory_store_is_not_found_with_the_hint() -> None:
    result = run_cli("show", "0123abcd", env_store="memory")

    assert result.returncode == 4
    assert_one_clean_error(result)
    assert "memory store" in result.stderr


def test_stats_json_is_a_job_stats_object() -> None:
    from threadjobs import JobStats

    result = run_cli("stats", "--json", "--account", "7")

    assert JobStats.model_validate_json(result.stdout).account_id == 7


def test_import_csv_runs_the_job_in_process_on_the_memory_store(tmp_path: Path) -> None:
    csv_file = tmp_path / "eBay-OrdersReport.csv"
    csv_file.write_text(ORDERS_CSV, encoding="utf-8")
    db = tmp_path / "shop.db"

    result = run_cli("import-csv", str(csv_file), "--db", str(db), "--account", "7")

    assert result.returncode == 0, result.stderr
    assert "orders: 2 rows read, 2 valid, 0 invalid; 2 inserted" in result.stdout
    with sqlite3.connect(db) as conn:
        orders = conn.execute("SELECT account_id, order_number FROM ebay_orders").fetchall()
        uploads = conn.execute("SELECT status, inserted_rows FROM csv_uploads").fetchall()
    assert sorted(orders) == [("7", "04-14689-99998"), ("7", "04-14689-99999")]
    assert uploads == [("completed", 2)]


def test_import_csv_of_a_file_that_is_not_csv_exits_1(tmp_path: Path) -> None:
    junk = tmp_path / "photo.csv"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)

    result = run_cli(
        "import-csv", str(junk), "--db", str(tmp_path / "shop.db"), "--account", "7", "--json"
    )

    assert result.returncode == 1
    assert '"status":"failed"' in result.stdout
    assert "Traceback" not in result.stderr


def test_import_csv_detach_needs_a_shared_store(tmp_path: Path) -> None:
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text(ORDERS_CSV, encoding="utf-8")

    result = run_cli(
        "import-csv", str(csv_file), "--db", str(tmp_path / "s.db"), "--account", "7", "--detach"
    )

    assert result.returncode == 2
    assert "shared store" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_idle_worker_stops_cleanly_on_a_signal(tmp_path: Path, signum: int) -> None:
    worker = WorkerProcess(
        ["--handlers", "tests.interfaces.handlers"],
        tmp_path / "worker.log",
        ready="job types: echo, fail, slow",
    )
    try:
        worker.proc.send_signal(signum)
        assert worker.proc.wait(timeout=30) == 0
    finally:
        worker.stop()
    text = worker.text()
    assert "stopped" in text
    assert "Traceback" not in text
