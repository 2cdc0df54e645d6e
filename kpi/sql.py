"""SQL pieces every KPI read shares: instants bound and read back as UTC, a record table seen as
of an instant through its type-2 versions (storage.history), grid periods as a CASE tree, id
ranges, and a connection tuned for large aggregations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    FromClause,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.types import NullType

from kpi.periods import Period
from storage.db import UTCDateTime, table_of, utc_instant
from storage.models import SyncRun

T = TypeVar("T")


def on_connection(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run `work` on a connection of its own. SQLite keeps its defaults: its temporary tables
    and GROUP BY sorters go to temporary files that the OS caches, with a 2 MB page cache per
    connection. Measured at a million contacts (docs/benchmarks.md), temporary tables in memory
    and 64 MB caches cost 520 MB more at the peak and saved no time."""
    with engine.connect() as conn:
        return work(conn)


def streamed(conn: Connection) -> Connection:
    """`conn` with results streamed in batches: PostgreSQL's client otherwise holds a query's
    whole result (hundreds of thousands of rows) before the first is read."""
    return conn.execution_options(stream_results=True, yield_per=10_000)


@dataclass(frozen=True)
class AsOf:
    """A record table seen as of an instant through its version table (see the module doc)."""

    source: FromClause
    pick: Callable[[str], ColumnElement[Any]]
    live: ColumnElement[bool]


def as_of_view(records: Table, versions: Table, as_of: datetime) -> AsOf:
    """The version of each record valid at `as_of`, else (none reaches back that far) its
    current values."""
    at = bound(as_of)
    covering = and_(
        versions.c.connection == records.c.connection,
        versions.c.record_id == records.c.id,
        versions.c.valid_from <= at,
        or_(versions.c.valid_to.is_(None), versions.c.valid_to > at),
    )
    has = versions.c.record_id.is_not(None)

    def pick(name: str) -> ColumnElement[Any]:
        return case((has, versions.c[name]), else_=records.c[name])

    # Deleted after as_of: still live then.
    live = case(
        (has, versions.c.archived == false()),
        else_=or_(records.c.archived == false(), records.c.archived_at > at),
    )
    return AsOf(records.outerjoin(versions, covering), pick, live == true())


def history_applies(conn: Connection, stream: str, *, connection: str, as_of: datetime) -> bool:
    """Whether a sync of `stream` may have stored a version after `as_of`: one that ended after
    it or has not ended (if none did, the current values are the values at `as_of`). Asked of
    the runs table, by its index, not of the versions (millions of rows)."""
    runs = table_of(SyncRun)
    later = select(runs.c.id).where(
        runs.c.connection == connection,
        runs.c.source == "hubspot",
        runs.c.stream == stream,
        or_(runs.c.finished_at.is_(None), runs.c.finished_at > bound(as_of)),
    )
    return conn.execute(later.limit(1)).first() is not None


def id_range(column: ColumnElement[Any], ids: tuple[str | None, str | None]) -> list[ColumnElement[bool]]:
    low, high = ids
    return ([column >= low] if low is not None else []) + ([column < high] if high is not None else [])


def raw(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A timestamp column without per-row type processing (hundreds of thousands of rows); `instant`
    reads what the driver returns instead."""
    return type_coerce(column, NullType())


# SQLite's stored UTC text or the driver's datetime, as an aware UTC datetime: what UTCDateTime
# reads, for timestamp columns selected `raw`.
instant = utc_instant


def local_day(column: ColumnElement[Any], offset: int, dialect: str) -> ColumnElement[Any]:
    """The day number (days since 1970-01-01) of a timestamp in a zone `offset` seconds ahead
    of UTC, computed by the database (grouping by day keeps the rows read few)."""
    if dialect == "sqlite":
        seconds = cast(func.round((func.julianday(column) - 2440587.5) * 86400.0), Integer)
        return (seconds + offset) // 86400
    return cast(func.floor((func.extract("epoch", column) + offset) / 86400.0), Integer)


def least(columns: Sequence[ColumnElement[Any]], dialect: str, *, missing: int) -> ColumnElement[Any]:
    """The smallest non-NULL of integer `columns` (NULL when all are); `missing` is larger than
    any value (SQLite's min() of several arguments is NULL when one is)."""
    if len(columns) == 1:
        return columns[0]
    if dialect == "sqlite":
        return func.nullif(func.min(*(func.coalesce(c, missing) for c in columns)), missing)
    return func.least(*columns)


def bound(value: datetime) -> ColumnElement[Any]:
    return bindparam(None, value, type_=UTCDateTime())


def period_index(column: ColumnElement[Any], periods: Sequence[Period]) -> ColumnElement[Any]:
    """The grid index of the period `column` falls in (NULL outside), as a binary CASE tree."""
    bounds = [p.start_utc for p in periods] + [periods[-1].end_utc]

    def tree(lo: int, hi: int) -> ColumnElement[Any]:
        # Index in [lo, hi) for a value known to lie in [bounds[lo], bounds[hi]).
        if hi - lo == 1:
            return literal(lo, Integer)
        mid = (lo + hi) // 2
        return case((column < bound(bounds[mid]), tree(lo, mid)), else_=tree(mid, hi))

    inside = and_(column >= bound(bounds[0]), column < bound(bounds[-1]))
    return case((inside, tree(0, len(periods))), else_=None)
