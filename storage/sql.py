"""SQL the write path shares: rows converted for the driver once (`Rows`), native ON CONFLICT
upserts that rewrite a row only when a value differs, and statements compiled once per table and
column set with named parameters."""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Connection,
    or_,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import SQLModel

from storage.db import UTCDateTime, table_of, upsert_insert, utc_aware, utc_sqlite_text

# Columns that describe the write, not the record: they change only when the record does.
_WRITE_META = ("synced_at", "run_id", "deleted_seen_at")


@dataclass(frozen=True)
class Rows:
    """A table's rows in the form the driver takes: named parameters with converted values.

    Converting is Python work and executing is database work, so the two are separate steps: a
    sync can convert in one process while its writer process executes.
    """

    model: type[SQLModel]
    columns: tuple[str, ...]
    params: list[dict[str, Any]]

    def positional(self) -> RowValues:
        """The same rows as positional values (see `RowValues`)."""
        if not self.params:
            return RowValues(self.model, self.columns, (), [])
        names = tuple(self.params[0])
        pick = operator.itemgetter(*names)
        values = [pick(p) for p in self.params] if len(names) > 1 else [(pick(p),) for p in self.params]
        return RowValues(self.model, self.columns, names, values)


@dataclass(frozen=True)
class RowValues:
    """Rows as positional values (`names`, every column they fill, in order) for inserts that
    need no names: COPY and plain INSERT (storage.bulk). Half the size of named rows when a batch
    travels to the writer process, and faster for the driver. `columns`: the columns the rows
    stated (the rest are defaults), as in `Rows`."""

    model: type[SQLModel]
    columns: tuple[str, ...]
    names: tuple[str, ...]
    values: list[tuple[Any, ...]]

    def named(self) -> Rows:
        """The same rows with named parameters (for the upsert path)."""
        names = self.names
        return Rows(self.model, self.columns, [dict(zip(names, v, strict=True)) for v in self.values])


def named(rows: Rows | RowValues) -> Rows:
    return rows.named() if isinstance(rows, RowValues) else rows


def bind_rows(
    dialect: str,
    model: type[SQLModel],
    rows: Sequence[dict[str, Any]],
    extra: dict[str, Any] | None = None,
    *,
    memo: dict[Any, Any] | None = None,
) -> Rows:
    """Convert `rows` (plus the same `extra` values on every row) for `dialect`'s driver.

    Timestamps repeat within a page (synced_at on every row, createdAt equal to createdate, a
    record's stage date in its row, its stage-date rows and its version) and formatting one costs
    more than looking it up, so each distinct value is converted once per `memo` (a batch's
    tables share one; by default one per call)."""
    if not rows:
        return Rows(model, (), [])
    extra = extra or {}
    columns = (*rows[0], *(name for name in extra if name not in rows[0]))
    plan = row_plan(dialect, model, columns)
    stamps, stamp, converters, defaults = plan.stamps, plan.stamp, plan.converters, plan.defaults
    memo = {} if memo is None else memo
    params: list[dict[str, Any]] = []
    for row in rows:
        values = {**defaults, **row, **extra}
        for name in stamps:
            value = values[name]
            if value is not None:
                text = memo.get(value)
                if text is None:
                    text = memo[value] = stamp(value)
                values[name] = text
        for name, convert in converters:
            values[name] = convert(values[name])
        params.append(values)
    return Rows(model, columns, params)


def bind_values(
    dialect: str,
    model: type[SQLModel],
    rows: Sequence[dict[str, Any]],
    extra: dict[str, Any] | None = None,
    *,
    memo: dict[Any, Any] | None = None,
) -> RowValues:
    """`bind_rows` as positional values (see `RowValues`)."""
    return bind_rows(dialect, model, rows, extra, memo=memo).positional()


def execute_upsert(conn: Connection, rows: Rows) -> None:
    """Run the upsert for bound rows: one executemany with named parameters.

    The driver reads each dict in C, so only the columns that needed converting cost Python
    time per row.
    """
    if rows.params:
        conn.exec_driver_sql(_upsert_sql(conn.dialect, rows.model, rows.columns), rows.params)


def upsert(conn: Connection, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update by primary key with the dialect's native ON CONFLICT.

    An existing row is rewritten only when a value differs, so re-syncing unchanged data leaves
    the table (including synced_at and run_id) exactly as it was.
    """
    execute_upsert(conn, bind_rows(conn.dialect.name, model, rows))


Converter = Callable[[Any], Any]


def _json_text(value: Any) -> Any:
    """Compact JSON text: raw records are the bulk of every row, so no padding and no \\u escapes."""
    if value is None:
        return None
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        # orjson refuses integers beyond 64 bits; a malformed record may still carry one.
        return _JSON.encode(value)


_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


@dataclass(frozen=True)
class _RowPlan:
    """What a table's rows need before the driver takes them."""

    stamps: tuple[str, ...]  # timestamp columns, converted by `stamp`
    stamp: Converter
    converters: tuple[tuple[str, Converter], ...]  # other columns with a converter
    defaults: dict[str, Any]  # values of columns the INSERT names but the rows lack


@functools.lru_cache(maxsize=256)
def row_plan(dialect: str, model: type[SQLModel], columns: tuple[str, ...]) -> _RowPlan:
    """The converters do what the column types would (bulk pages bypass SQLAlchemy's per-row
    parameter processing, the sync's hottest path): UTC text for timestamps on SQLite, JSON
    text for JSON columns (PostgreSQL casts it to jsonb)."""
    table = table_of(model)
    stamps: list[str] = []
    converters: list[tuple[str, Converter]] = []
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, UTCDateTime):
            stamps.append(name)
        elif isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON):
            converters.append((name, _json_text))
    # Columns the INSERT names but the rows lack carry scalar Python defaults (e.g. archived=False).
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.name not in columns and column.default is not None and column.default.is_scalar:
            defaults[column.name] = getattr(column.default, "arg", None)
    return _RowPlan(
        stamps=tuple(stamps),
        stamp=utc_sqlite_text if dialect == "sqlite" else utc_aware,
        converters=tuple(converters),
        defaults=defaults,
    )


@functools.lru_cache(maxsize=256)
def _upsert_sql(dialect: Dialect, model: type[SQLModel], columns: tuple[str, ...]) -> str:
    """The upsert's SQL, compiled once per table and column set, with named parameters."""
    compiled = compile_named(_upsert_statement(dialect.name, model, frozenset(columns)), dialect, columns)
    defaults = row_plan(dialect.name, model, columns).defaults
    missing = [c for c in compiled.params if c not in columns and c not in defaults]
    if missing:
        raise ValueError(f"{table_of(model).name}: no value or default for {', '.join(missing)}")
    return str(compiled)


def _upsert_statement(dialect: str, model: type[SQLModel], given: frozenset[str]) -> Any:
    """ON CONFLICT upsert of the given columns (compiled and cached by `_upsert_sql`)."""
    table = table_of(model)
    keys = [c.name for c in table.primary_key.columns]
    stmt = upsert_insert(dialect, table)
    columns = [c.name for c in table.columns if c.name not in keys and c.name in given]
    if not columns:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    changed = or_(*(table.c[c].is_distinct_from(stmt.excluded[c]) for c in columns if c not in _WRITE_META))
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c: stmt.excluded[c] for c in columns},
        where=changed,
    )


@functools.lru_cache(maxsize=32)
def insert_sql(dialect: Dialect, model: type[SQLModel], columns: tuple[str, ...]) -> str:
    return str(compile_named(table_of(model).insert(), dialect, columns))


@functools.lru_cache(maxsize=32)
def insert_missing_sql(dialect: Dialect, model: type[SQLModel], columns: tuple[str, ...]) -> str:
    """INSERT that leaves existing keys alone, compiled with named parameters."""
    table = table_of(model)
    return str(compile_named(upsert_insert(dialect.name, table).on_conflict_do_nothing(), dialect, columns))


def compile_named(statement: Any, dialect: Dialect, columns: tuple[str, ...]) -> Any:
    """Compile for named parameters on every driver: sqlite3 too (not its default qmark style),
    so rows can be passed as dicts."""
    target = sqlite.dialect(paramstyle="named") if dialect.name == "sqlite" else dialect
    return statement.compile(dialect=target, column_keys=list(columns))
