"""The embedded default: a sink and an upload store on the stdlib ``sqlite3``.

Each import session opens its own connection (sqlite3 connections must not be
shared between threads) in WAL mode, so readers are not blocked while an
import writes and concurrent imports wait for each other (``busy_timeout``)
instead of failing. Money is stored as TEXT (``"1234.56"``) because SQLite's
NUMERIC affinity would turn it into a float.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from operator import methodcaller
from typing import Any, TypeVar

from ._checkpointer import WAL_PAGES, Checkpointer
from ._errors import RecordsRejected, UploadNotFound
from ._sinks import Outcome, Upload, UploadChanges
from ._tables import TABLES, Record, Table
from ._types import CsvType

__all__ = ["SqliteSink", "SqliteUploadStore"]

_T = TypeVar("_T")

#: Seconds a writer waits for another writer's transaction before failing.
BUSY_TIMEOUT = 30.0

_SQL_TYPES = {
    "text": "TEXT",
    "int": "INTEGER",
    "money": "TEXT",
    "date": "TEXT",
    "datetime": "TEXT",
    "bool": "INTEGER",
}


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves, so a
    # batch is exactly one transaction and takes the write lock up front.
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives an application crash; only an OS
    # crash may lose the last transactions, which a re-import restores.
    conn.execute("PRAGMA synchronous=NORMAL")
    # Checkpoint the WAL every ~40 MB instead of every ~4 MB: each checkpoint
    # syncs the database file, and an import of random order numbers dirties
    # pages all over the key index. Measured: +50 % write throughput. An
    # import session checkpoints on a thread instead (see _checkpointer).
    conn.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
    return conn


def create_table_sql(table: Table) -> str:
    """The ``CREATE TABLE IF NOT EXISTS`` statement of a table."""
    columns = ", ".join(f"{c.name} {_SQL_TYPES[c.kind]}" for c in table.columns)
    key = ", ".join(("account_id", *table.key))
    return (
        f"CREATE TABLE IF NOT EXISTS {table.name} "
        f"(account_id TEXT NOT NULL, {columns}, PRIMARY KEY ({key}))"
    )


class SqliteSink:
    """Write imported records into a SQLite database file.

    Args:
        path: The database file (created if missing).
        create_tables: Create the ``ebay_*`` tables if they do not exist.

    Example::

        sink = SqliteSink("shop.db")
        handler = CsvImportHandler(sink, SqliteUploadStore("shop.db"))
    """

    def __init__(self, path: str | os.PathLike[str], *, create_tables: bool = True) -> None:
        self.path = os.fspath(path)
        if create_tables:
            conn = _connect(self.path)
            try:
                for tables in TABLES.values():
                    for table in tables:
                        conn.execute(create_table_sql(table))
            finally:
                conn.close()

    def open(self, account_id: str, csv_type: CsvType) -> SqliteSession:
        """Open a session writing ``csv_type`` records for ``account_id``."""
        conn = _connect(self.path)
        try:
            checkpointer = Checkpointer(lambda: _connect(self.path))
        except BaseException:
            conn.close()
            raise
        return SqliteSession(conn, account_id, TABLES[csv_type], checkpointer)


def _converter(kind: str) -> Callable[[Any], object] | None:
    if kind == "money":
        return str
    if kind in ("date", "datetime"):
        return _isoformat
    if kind == "bool":
        return int
    return None


_isoformat = methodcaller("isoformat")


def _row_adapter(account_id: str, table: Table) -> Callable[[tuple[object, ...]], list[object]]:
    """Return a function turning a record's row into the statement's parameters."""
    # Only non-text columns need converting; most are text and pass through.
    # Position i + 1: the parameters start with account_id.
    conversions = tuple(
        (i + 1, convert)
        for i, column in enumerate(table.columns)
        if (convert := _converter(column.kind)) is not None
    )

    def adapt(row: tuple[object, ...]) -> list[object]:
        values = [account_id, *row]
        for i, convert in conversions:
            value = values[i]
            if value is not None:
                values[i] = convert(value)
        return values

    return adapt


class SqliteSession:
    """One import's connection; see :class:`~threadjobs.ext.csv_import.SinkSession`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        account_id: str,
        tables: tuple[Table, ...],
        checkpointer: Checkpointer | None = None,
    ) -> None:
        self._conn = conn
        self._checkpointer = checkpointer
        if checkpointer is not None:
            conn.execute("PRAGMA wal_autocheckpoint=0")
        self._account_id = account_id
        self._upserts = [_upsert_sql(t) for t in tables]
        self._adapters = [_row_adapter(account_id, t) for t in tables]
        primary = tables[0]
        self._existing_sql = (
            f"SELECT {', '.join(primary.key)} FROM {primary.name} "
            f"WHERE account_id = ? AND {primary.key[0]} IN "
        )

    def write(self, records: Sequence[Record]) -> list[Outcome]:
        """Upsert the records in one transaction; see ``SinkSession.write``."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            existing = self._existing_keys(records)
            outcomes: list[Outcome] = []
            for record in records:
                outcomes.append("updated" if record.key in existing else "inserted")
                existing.add(record.key)
            for index, upsert in enumerate(self._upserts):
                adapt = self._adapters[index]
                rows = [adapt(row) for r in records for row in r.rows[index]]
                if rows:
                    conn.executemany(upsert, rows)
            conn.execute("COMMIT")
            self._committed()
        except (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError) as exc:
            conn.execute("ROLLBACK")
            raise RecordsRejected(f"the database refused the data: {exc}") from exc
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes

    def close(self) -> None:
        """Close the connection."""
        try:
            if self._checkpointer is not None:
                self._checkpointer.close()
        finally:
            self._conn.close()

    def _committed(self) -> None:
        checkpointer = self._checkpointer
        if checkpointer is None:
            return
        if checkpointer.error is not None:
            # The thread stopped: let SQLite checkpoint in COMMIT again.
            self._conn.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
            self._checkpointer = None
            checkpointer.close()
        elif checkpointer.wal_pages >= WAL_PAGES:
            checkpointer.settle(self._conn)
        else:
            checkpointer.committed()

    def _existing_keys(self, records: Sequence[Record]) -> set[tuple[str, ...]]:
        firsts = list({r.key[0] for r in records})
        found: set[tuple[str, ...]] = set()
        # SQLite allows 32766 parameters; batches are far smaller, but a
        # caller may pass a big one.
        for start in range(0, len(firsts), 500):
            chunk = firsts[start : start + 500]
            sql = self._existing_sql + f"({', '.join('?' * len(chunk))})"
            found.update(tuple(row) for row in self._conn.execute(sql, (self._account_id, *chunk)))
        return found


def _upsert_sql(table: Table) -> str:
    names = ("account_id", *table.column_names)
    key = ("account_id", *table.key)
    updates = ", ".join(f"{n} = excluded.{n}" for n in names if n not in key)
    return (
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


_UPLOADS_SQL = """
CREATE TABLE IF NOT EXISTS csv_uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    file_path TEXT NOT NULL,
    batch_id TEXT,
    csv_type TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    job_id TEXT,
    total_rows INTEGER NOT NULL DEFAULT 0,
    valid_rows INTEGER NOT NULL DEFAULT 0,
    invalid_rows INTEGER NOT NULL DEFAULT 0,
    inserted_rows INTEGER NOT NULL DEFAULT 0,
    updated_rows INTEGER NOT NULL DEFAULT 0,
    failed_rows INTEGER NOT NULL DEFAULT 0,
    error_message TEXT,
    created_at TEXT,
    started_at TEXT,
    finished_at TEXT
)
"""
_UPLOAD_COLUMNS = tuple(Upload.model_fields)


class SqliteUploadStore:
    """Upload records in a SQLite table ``csv_uploads`` (created if missing).

    Thread-safe: every call uses a short-lived connection of its own.

    Args:
        path: The database file; may be the sink's file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._run(lambda conn: conn.execute(_UPLOADS_SQL).close())

    def create(
        self,
        account_id: int | str,
        file_path: str,
        *,
        batch_id: str | None = None,
        csv_type: CsvType | None = None,
    ) -> Upload:
        """Record a new upload in status ``pending`` and return it."""
        now = datetime.now(timezone.utc).isoformat()
        upload_id = self._run(
            lambda conn: (
                conn.execute(
                    "INSERT INTO csv_uploads "
                    "(account_id, file_path, batch_id, csv_type, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (str(account_id), file_path, batch_id, csv_type and csv_type.value, now),
                ).lastrowid
            )
        )
        upload = self.get(int(upload_id or 0))
        assert upload is not None  # just inserted
        return upload

    def get(self, upload_id: int) -> Upload | None:
        """Return the upload, or ``None`` if there is none with that id."""
        row = self._run(
            lambda conn: conn.execute(
                f"SELECT {', '.join(_UPLOAD_COLUMNS)} FROM csv_uploads WHERE id = ?", (upload_id,)
            ).fetchone()
        )
        return (
            None
            if row is None
            else Upload.model_validate(dict(zip(_UPLOAD_COLUMNS, row, strict=True)))
        )

    def update(self, upload_id: int, changes: UploadChanges) -> Upload:
        """Apply the fields set in ``changes`` and return the updated upload."""
        values = changes.model_dump(mode="json", exclude_unset=True)
        if values:
            assignments = ", ".join(f"{name} = ?" for name in values)
            self._run(
                lambda conn: conn.execute(
                    f"UPDATE csv_uploads SET {assignments} WHERE id = ?",
                    (*values.values(), upload_id),
                )
            )
        upload = self.get(upload_id)
        if upload is None:
            raise UploadNotFound(f"no upload with id {upload_id}")
        return upload

    def _run(self, action: Callable[[sqlite3.Connection], _T]) -> _T:
        conn = _connect(self.path)
        try:
            with conn:
                return action(conn)
        finally:
            conn.close()
