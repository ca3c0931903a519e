"""Fixtures of the csv_import tests: CSV files, SQLite paths and a real PostgreSQL.

The PostgreSQL server is started once per test session from the binaries in
``/usr/lib/postgresql/*/bin`` (or on PATH), on a free loopback port with its
socket in a temporary directory, and stopped at the end. Without binaries the
tests that need it are skipped, except when ``CI`` is set: then they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

WriteCsv = Callable[..., Path]


@pytest.fixture
def write_csv(tmp_path: Path) -> WriteCsv:
    """Write CSV lines to a file: ``write_csv(lines, encoding=..., bom=..., newline=...)``."""
    counter = iter(range(1_000_000))

    def write(
        lines: list[str],
        *,
        encoding: str = "utf-8",
        bom: bool = False,
        newline: str = "\r\n",
        name: str | None = None,
    ) -> Path:
        path = tmp_path / (name or f"upload-{next(counter)}.csv")
        data = newline.join(lines).encode(encoding)
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
        return path

    return write


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh SQLite database path."""
    return tmp_path / "shop.db"


def _pg_bindir() -> str | None:
    found = shutil.which("pg_ctl")
    if found:
        return str(Path(found).resolve().parent)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return str(Path(candidates[-1]).parent) if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Start a throwaway PostgreSQL server; yield its SQLAlchemy URL (psycopg 3)."""
    bindir = _pg_bindir()
    if bindir is None:
        message = "PostgreSQL binaries (initdb, pg_ctl) not found; install postgresql to run these"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    base = Path(tempfile.mkdtemp(prefix="threadjobs-pg-"))
    data, sockets, log = base / "data", base / "sock", base / "server.log"
    sockets.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        # PostgreSQL refuses to run as root: hand the directory to "nobody".
        os.chmod(base, 0o755)
        for path in (base, sockets):
            shutil.chown(path, "nobody", "nogroup")
        prefix = ["runuser", "-u", "nobody", "--"]
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, cwd=base)

    run(f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(
        f"{bindir}/pg_ctl",
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(log),
        "-w",
        "-t",
        "60",
        "start",
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            cwd=base,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A SQLAlchemy engine on SQLite and on the real PostgreSQL; tables dropped after."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sa.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = sqlalchemy.create_engine(url)
    try:
        yield engine
    finally:
        with engine.begin() as conn:
            for table in sqlalchemy.inspect(conn).get_table_names():
                if table.startswith("ebay_") or table == "csv_uploads":
                    conn.execute(sqlalchemy.text(f'DROP TABLE "{table}"'))
        engine.dispose()
