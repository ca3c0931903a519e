"""A sink and an upload store on SQLAlchemy Core, for PostgreSQL and SQLite.

SQLAlchemy is an optional extra: this module imports it only when a class is
instantiated, and a missing install raises :class:`threadjobs.MissingDependency`
naming the extra. Upserts use the dialects' ``INSERT ... ON CONFLICT DO
UPDATE``. Money is ``NUMERIC`` on PostgreSQL and exact TEXT on SQLite (whose
NUMERIC would round-trip through a float); aware datetimes keep their offset on
both.

Database errors are translated at one place (:meth:`SqlAlchemySession.write`):
constraint and data errors become :class:`RecordsRejected` so the importer
retries row by row; connection and operational errors propagate so the job is
retried.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime, time, timezone
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any

from threadjobs import MissingDependency

from ._errors import RecordsRejected, UploadNotFound
from ._sinks import Outcome, Upload, UploadChanges
from ._tables import TABLES, Table
from ._types import CsvType

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection, Engine

    from ._tables import Record

__all__ = ["SqlAlchemySession", "SqlAlchemySink", "SqlAlchemyUploadStore"]


def _sqlalchemy() -> ModuleType:
    try:
        import sqlalchemy
    except ImportError as exc:
        raise MissingDependency(
            "the SQLAlchemy sink needs SQLAlchemy 2: pip install 'threadjobs[sqlalchemy]'"
        ) from exc
    return sqlalchemy


@functools.lru_cache(maxsize=1)
def _types() -> dict[str, Any]:
    """Column types by kind, built once SQLAlchemy is known to be there."""
    sa = _sqlalchemy()

    class DecimalText(sa.types.TypeDecorator):  # type: ignore[name-defined,misc]
        """Decimal stored as exact text (for SQLite)."""

        impl = sa.String
        cache_ok = True

        def process_bind_param(self, value: Any, dialect: Any) -> str | None:
            return None if value is None else str(value)

        def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
            return None if value is None else Decimal(value)

    class IsoDateTimeText(sa.types.TypeDecorator):  # type: ignore[name-defined,misc]
        """Datetime stored as ISO 8601 text, offset included (for SQLite)."""

        impl = sa.String
        cache_ok = True

        def process_bind_param(self, value: Any, dialect: Any) -> str | None:
            return None if value is None else value.isoformat()

        def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value)

    return {
        "text": sa.Text(),
        "int": sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        "money": sa.Numeric(asdecimal=True).with_variant(DecimalText(), "sqlite"),
        "date": sa.Date(),
        "datetime": sa.DateTime(timezone=True).with_variant(IsoDateTimeText(), "sqlite"),
        "bool": sa.Boolean(),
    }


def _define(metadata: sa.MetaData, table: Table) -> sa.Table:
    lib = _sqlalchemy()
    kinds = _types()
    columns = [lib.Column("account_id", lib.Text(), primary_key=True, nullable=False)]
    for column in table.columns:
        is_key = column.name in table.key
        columns.append(
            lib.Column(column.name, kinds[column.kind], primary_key=is_key, nullable=not is_key)
        )
    result: sa.Table = lib.Table(table.name, metadata, *columns)
    return result


def _engine(engine: Engine | str) -> Engine:
    sa = _sqlalchemy()
    return sa.create_engine(engine) if isinstance(engine, str) else engine


class SqlAlchemySink:
    """Write imported records through SQLAlchemy Core (PostgreSQL or SQLite).

    Args:
        engine: An :class:`~sqlalchemy.engine.Engine` or a database URL
            (``"postgresql+psycopg://user@host/shop"``, ``"sqlite:///shop.db"``).
        create_tables: Create the ``ebay_*`` tables if they do not exist.

    Raises:
        MissingDependency: SQLAlchemy is not installed.
        ValueError: The database is neither PostgreSQL nor SQLite.
    """

    def __init__(self, engine: Engine | str, *, create_tables: bool = True) -> None:
        sa = _sqlalchemy()
        self.engine = _engine(engine)
        if self.engine.dialect.name not in ("postgresql", "sqlite"):
            raise ValueError(
                f"SqlAlchemySink supports PostgreSQL and SQLite, not {self.engine.dialect.name}"
            )
        self.metadata = sa.MetaData()
        self.tables = {
            t.name: _define(self.metadata, t) for tables in TABLES.values() for t in tables
        }
        if create_tables:
            self.metadata.create_all(self.engine)

    def open(self, account_id: str, csv_type: CsvType) -> SqlAlchemySession:
        """Open a session writing ``csv_type`` records for ``account_id``."""
        specs = TABLES[csv_type]
        return SqlAlchemySession(
            self.engine.connect(), account_id, specs, [self.tables[t.name] for t in specs]
        )


class SqlAlchemySession:
    """One import's connection; see :class:`~threadjobs.ext.csv_import.SinkSession`."""

    def __init__(
        self, conn: Connection, account_id: str, specs: tuple[Table, ...], tables: list[sa.Table]
    ) -> None:
        self._conn = conn
        self._account_id = account_id
        self._specs = specs
        self._tables = tables
        self._upserts = [
            _upsert(conn.dialect.name, spec, table)
            for spec, table in zip(specs, tables, strict=True)
        ]

    def write(self, records: Sequence[Record]) -> list[Outcome]:
        """Upsert the records in one transaction; see ``SinkSession.write``."""
        sa = _sqlalchemy()
        try:
            with self._conn.begin():
                existing = self._existing_keys(records)
                outcomes: list[Outcome] = []
                for record in records:
                    outcomes.append("updated" if record.key in existing else "inserted")
                    existing.add(record.key)
                for index, (spec, upsert) in enumerate(
                    zip(self._specs, self._upserts, strict=True)
                ):
                    rows = self._rows(spec, [row for r in records for row in r.rows[index]])
                    if rows:
                        self._conn.execute(upsert, rows)
        except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
            raise RecordsRejected(f"the database refused the data: {exc.orig}") from exc
        except sa.exc.StatementError as exc:
            if isinstance(exc, sa.exc.DBAPIError):
                raise  # connection lost, database locked...: the job retries
            raise RecordsRejected(f"a value could not be sent to the database: {exc.orig}") from exc
        return outcomes

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def _existing_keys(self, records: Sequence[Record]) -> set[tuple[str, ...]]:
        sa = _sqlalchemy()
        spec, table = self._specs[0], self._tables[0]
        key_columns = [table.c[name] for name in spec.key]
        firsts = list({r.key[0] for r in records})
        query = sa.select(*key_columns).where(
            table.c.account_id == self._account_id, key_columns[0].in_(firsts)
        )
        return {tuple(row) for row in self._conn.execute(query)}

    def _rows(self, spec: Table, rows: list[tuple[object, ...]]) -> list[dict[str, object]]:
        names = spec.column_names
        datetimes = [i for i, c in enumerate(spec.columns) if c.kind == "datetime"]
        by_key: dict[tuple[object, ...], dict[str, object]] = {}
        key_positions = [names.index(k) for k in spec.key]
        for row in rows:
            values = list(row)
            for i in datetimes:
                if isinstance(values[i], date) and not isinstance(values[i], datetime):
                    values[i] = datetime.combine(values[i], time())  # type: ignore[arg-type]
            # PostgreSQL refuses to upsert the same key twice in one statement;
            # the later row wins, as it would in two statements.
            by_key[tuple(values[p] for p in key_positions)] = {
                "account_id": self._account_id,
                **dict(zip(names, values, strict=True)),
            }
        return list(by_key.values())


def _upsert(dialect: str, spec: Table, table: sa.Table) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    module: Any = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(table)
    key = ("account_id", *spec.key)
    return statement.on_conflict_do_update(
        index_elements=list(key),
        set_={name: statement.excluded[name] for name in spec.column_names if name not in key},
    )


class SqlAlchemyUploadStore:
    """Upload records in a ``csv_uploads`` table through SQLAlchemy Core.

    Args:
        engine: An Engine or a database URL (PostgreSQL or SQLite).
        create_tables: Create the table if it does not exist.

    Raises:
        MissingDependency: SQLAlchemy is not installed.
    """

    def __init__(self, engine: Engine | str, *, create_tables: bool = True) -> None:
        sa = _sqlalchemy()
        kinds = _types()
        self.engine = _engine(engine)
        self.metadata = sa.MetaData()
        counts = [
            sa.Column(name, sa.Integer(), nullable=False, server_default="0")
            for name in (
                "total_rows",
                "valid_rows",
                "invalid_rows",
                "inserted_rows",
                "updated_rows",
                "failed_rows",
            )
        ]
        self.table = sa.Table(
            "csv_uploads",
            self.metadata,
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("account_id", sa.Text(), nullable=False),
            sa.Column("file_path", sa.Text(), nullable=False),
            sa.Column("batch_id", sa.Text()),
            sa.Column("csv_type", sa.Text()),
            sa.Column("status", sa.Text(), nullable=False, server_default="pending"),
            sa.Column("job_id", sa.Text()),
            *counts,
            sa.Column("error_message", sa.Text()),
            *(sa.Column(n, kinds["datetime"]) for n in ("created_at", "started_at", "finished_at")),
        )
        if create_tables:
            self.metadata.create_all(self.engine)

    def create(
        self,
        account_id: int | str,
        file_path: str,
        *,
        batch_id: str | None = None,
        csv_type: CsvType | None = None,
    ) -> Upload:
        """Record a new upload in status ``pending`` and return it."""
        with self.engine.begin() as conn:
            result = conn.execute(
                self.table.insert().values(
                    account_id=str(account_id),
                    file_path=file_path,
                    batch_id=batch_id,
                    csv_type=csv_type and csv_type.value,
                    created_at=datetime.now(timezone.utc),
                )
            )
            (upload_id,) = result.inserted_primary_key or (0,)
        upload = self.get(int(upload_id))
        assert upload is not None  # just inserted
        return upload

    def get(self, upload_id: int) -> Upload | None:
        """Return the upload, or ``None`` if there is none with that id."""
        with self.engine.connect() as conn:
            row = conn.execute(self.table.select().where(self.table.c.id == upload_id)).first()
        return None if row is None else Upload.model_validate(dict(row._mapping))

    def update(self, upload_id: int, changes: UploadChanges) -> Upload:
        """Apply the fields set in ``changes`` and return the updated upload."""
        values = changes.model_dump(exclude_unset=True)
        for name in ("csv_type", "status"):
            if values.get(name) is not None:
                values[name] = values[name].value
        if values:
            with self.engine.begin() as conn:
                conn.execute(
                    self.table.update().where(self.table.c.id == upload_id).values(**values)
                )
        upload = self.get(upload_id)
        if upload is None:
            raise UploadNotFound(f"no upload with id {upload_id}")
        return upload
