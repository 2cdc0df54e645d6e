"""Engines and column types. Engines come from a function, never a module global."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    String,
    Table,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.url import make_url
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import SQLModel

JSONType = JSON().with_variant(JSONB(), "postgresql")


def utc_aware(value: datetime | None) -> datetime | None:
    """`value` in UTC; naive datetimes are refused, they are always a bug."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: funnelsync stores aware UTC datetimes only")
    return value.astimezone(UTC)


def utc_sqlite_text(value: datetime | None) -> str | None:
    """How UTCDateTime stores `value` on SQLite: zone-less UTC text, sortable."""
    if value is not None and value.tzinfo is UTC:
        # The common case (parsed HubSpot text): format once and drop the "+00:00".
        return value.isoformat(sep=" ", timespec="microseconds")[:26]
    aware = utc_aware(value)
    return None if aware is None else aware.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend.

    PostgreSQL keeps the zone (timestamptz). SQLite has no zone type and hands back naive values,
    so UTC is stored naive and re-attached on read. Naive input is refused: it is always a bug.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # On SQLite the text is written here directly (the same "YYYY-MM-DD HH:MM:SS.ffffff" form
        # SQLAlchemy uses, so ordering and SQLite's date functions work) instead of via DATETIME's
        # slower Python processor: bulk upserts bind thousands of timestamps per page.
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteUTCText())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        return utc_sqlite_text(value) if dialect.name == "sqlite" else utc_aware(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return utc_instant(value)


def utc_instant(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime: SQLite's UTC text or the driver's datetime.
    SQLite's text is parsed with its zone in one C call (`.replace(tzinfo=UTC)` costs six times
    the parse, and KPI reads parse millions of them)."""
    if value is None:
        return None
    parsed: datetime
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value + "+00:00")
        except ValueError:  # text that states its own offset
            parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is UTC:
            return parsed
    else:
        assert isinstance(value, datetime)
        parsed = value
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class _SQLiteUTCText(String):
    """SQLite storage of UTCDateTime: DDL says DATETIME, values are ISO text without a zone."""

    def get_col_spec(self) -> str:
        return "DATETIME"

    __visit_name__ = "DATETIME"


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a SQLModel table class."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def upsert_insert(dialect: str, table: Table) -> Any:
    """INSERT of `table` with ON CONFLICT clauses: both supported dialects have them."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def id_in(conn: Connection, column: ColumnElement[Any], ids: Sequence[str]) -> ColumnElement[bool]:
    """`column` is one of `ids`: one array parameter on PostgreSQL (one prepared statement for
    any number of ids), an IN list elsewhere."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(String())))
    return column.in_(list(ids))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the admin API, `funnelsync kpis`) read while a sync writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _private_file(path: Path) -> None:
    """Create the SQLite database file (and its directory) readable by its owner only: it holds
    contacts' names and emails. SQLite gives its `-wal` and `-shm` files the database file's mode;
    a stricter umask is kept (it applies to the mode asked for). An existing file is left as is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url`; for SQLite the file's directory is created and pragmas set."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            _private_file(Path(database).expanduser())
        engine = create_engine(url, echo=echo, connect_args={"timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


def redact_url(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def describe_error(error: Exception) -> str:
    """One line naming the error; a database error without its statement and parameters (which
    may hold customer data)."""
    cause = getattr(error, "orig", None) or error
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
