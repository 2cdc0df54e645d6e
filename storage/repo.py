"""Data access: keyword-only functions that take an engine or connection.

The central promise: `store_page` writes a page's rows, its quarantine findings, the run's
counters and the stream's checkpoint in one transaction. A crash loses at most the page in
flight, and the next run resumes from the checkpoint.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, Engine, Table, and_, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import SQLModel

from connector.hubspot.normalize import Issue, Normalized
from storage.db import UTCDateTime, utc_aware, utc_sqlite_text
from storage.models import (
    ENTITY_TABLES,
    HubSpotContactStageDate,
    HubSpotDealAssociation,
    HubSpotDealStageDate,
    HubSpotPipelineStage,
    Quarantine,
    SyncRun,
    SyncState,
)

# Columns that describe the write, not the record: they change only when the record does.
_WRITE_META = ("synced_at", "run_id")


def table_of(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def init_db(engine: Engine) -> None:
    """Create missing tables (a fresh database)."""
    import storage.models  # noqa: F401  (registers the tables)

    SQLModel.metadata.create_all(engine)


def upsert(conn: Connection, model: type[SQLModel], rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update by primary key with the dialect's native ON CONFLICT.

    An existing row is rewritten only when a value differs, so re-syncing unchanged data leaves
    the table (including synced_at and run_id) exactly as it was.
    """
    if not rows:
        return
    columns = tuple(rows[0])
    sql, order, converters, defaults = _bulk_upsert(conn.dialect, model, columns)
    if order is None:
        # Named parameters (psycopg): dicts with converted values, plus column defaults.
        named = [{**defaults, **{c: (f(row[c]) if f else row[c]) for c, f in converters}} for row in rows]
        conn.exec_driver_sql(sql, named)
        return
    # Positional parameters (sqlite3): tuples in the compiled order; defaults fill the gaps.
    index = dict(converters)
    plan = [(c, index.get(c), c in index, defaults.get(c)) for c in order]
    conn.exec_driver_sql(
        sql,
        [
            tuple((f(row[c]) if f else row[c]) if given else default for c, f, given, default in plan)
            for row in rows
        ],
    )


Converter = Callable[[Any], Any] | None


_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def _json_text(value: Any) -> Any:
    """Compact JSON text: raw records are the bulk of every row, so no padding and no \\u escapes."""
    return None if value is None else _JSON.encode(value)


@functools.lru_cache(maxsize=256)
def _bulk_upsert(
    dialect: Dialect, model: type[SQLModel], columns: tuple[str, ...]
) -> tuple[str, tuple[str, ...] | None, tuple[tuple[str, Converter], ...], dict[str, Any]]:
    """The upsert compiled once per table and column set, with a value converter per column.

    Bulk pages bypass SQLAlchemy's per-row parameter processing (the sync's hottest path) and go
    to the driver's executemany; the converters do what the column types would: UTC text for
    timestamps on SQLite, JSON text for JSON columns (PostgreSQL casts it to jsonb).
    """
    table = table_of(model)
    statement = _upsert_statement(dialect.name, model, frozenset(columns))
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    converters: list[tuple[str, Converter]] = []
    for name in columns:
        column_type = table.c[name].type
        converter: Converter = None
        if isinstance(column_type, UTCDateTime):
            converter = utc_sqlite_text if dialect.name == "sqlite" else utc_aware
        elif isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON):
            converter = _json_text
        converters.append((name, converter))
    # Columns the INSERT names but the rows lack carry scalar Python defaults (e.g. archived=False).
    defaults: dict[str, Any] = {}
    for column in table.columns:
        if column.name not in columns and column.default is not None and column.default.is_scalar:
            defaults[column.name] = getattr(column.default, "arg", None)
    order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
    if order is not None:
        missing = [c for c in order if c not in columns and c not in defaults]
        if missing:
            raise ValueError(f"{table.name}: no value or default for {', '.join(missing)}")
    return str(compiled), order, tuple(converters), defaults


def _upsert_statement(dialect: str, model: type[SQLModel], given: frozenset[str]) -> Any:
    """ON CONFLICT upsert of the given columns (compiled and cached by `_bulk_upsert`)."""
    table = table_of(model)
    keys = [c.name for c in table.primary_key.columns]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    columns = [c.name for c in table.columns if c.name not in keys and c.name in given]
    if not columns:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    changed = or_(*(table.c[c].is_distinct_from(stmt.excluded[c]) for c in columns if c not in _WRITE_META))
    return stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c: stmt.excluded[c] for c in columns},
        where=changed,
    )


def _replace_children(
    conn: Connection,
    model: type[SQLModel],
    *,
    connection: str,
    owner_column: str,
    owner_ids: Sequence[str],
    rows: Sequence[dict[str, Any]],
) -> None:
    """Make the child rows of `owner_ids` exactly `rows`.

    Delete-then-insert inside the page's transaction: the rows have no surrogate keys, so the
    table ends up identical when nothing changed, and it is cheaper than diffing.
    """
    if not owner_ids:
        return
    table = table_of(model)
    conn.execute(
        delete(table).where(table.c.connection == connection, table.c[owner_column].in_(list(owner_ids)))
    )
    upsert(conn, model, rows)


def _sync_quarantine(
    conn: Connection,
    *,
    connection: str,
    source: str,
    stream: str,
    record_ids: Iterable[str],
    issues: Sequence[Issue],
    run_id: int | None,
    now: datetime,
) -> None:
    """Quarantine exactly the current findings for these records; identical findings stay untouched."""
    table = table_of(Quarantine)
    scope = and_(table.c.connection == connection, table.c.source == source, table.c.stream == stream)
    ids = sorted({*record_ids, *(i.record_id for i in issues)})
    if not ids:
        return
    current = {(i.record_id, i.field): i for i in issues}
    existing = {
        (r.record_id, r.field): (r.raw_value, r.reason)
        for r in conn.execute(
            select(table.c.record_id, table.c.field, table.c.raw_value, table.c.reason).where(
                scope, table.c.record_id.in_(ids)
            )
        )
    }
    gone = [key for key in existing if key not in current]
    if gone:
        conn.execute(delete(table).where(scope, tuple_(table.c.record_id, table.c.field).in_(gone)))
    fresh = [
        {
            "connection": connection,
            "source": source,
            "stream": stream,
            "record_id": issue.record_id,
            "field": issue.field,
            "raw_value": issue.raw_value,
            "reason": issue.reason,
            "run_id": run_id,
            "detected_at": now,
        }
        for key, issue in current.items()
        if existing.get(key) != (issue.raw_value, issue.reason)
    ]
    upsert(conn, Quarantine, fresh)


# Child tables whose rows a page states completely, per stream:
# (table, owner column, Normalized attribute with the rows, Normalized attribute with their owners).
_CHILD_TABLES: dict[str, tuple[tuple[type[SQLModel], str, str, str], ...]] = {
    "contacts": ((HubSpotContactStageDate, "contact_id", "stage_dates", "entity_ids"),),
    "deals": (
        (HubSpotDealStageDate, "deal_id", "stage_dates", "entity_ids"),
        (HubSpotDealAssociation, "deal_id", "associations", "association_owner_ids"),
    ),
    "pipelines": ((HubSpotPipelineStage, "pipeline_id", "children", "entity_ids"),),
}


@dataclass(frozen=True)
class PageWrite:
    """What one stored page counted."""

    read: int
    written: int
    rejected: int
    quarantined: int


def store_page(
    engine: Engine,
    *,
    connection: str,
    source: str,
    stream: str,
    normalized: Normalized,
    records_read: int,
    checkpoint: dict[str, Any],
    run_id: int,
    now: datetime,
    request_delta: dict[str, float] | None = None,
    quarantine_empty: bool = False,
) -> PageWrite:
    """Persist one page, its quarantine findings, the run counters and the checkpoint atomically.

    `quarantine_empty`: the caller knows the stream has no quarantine rows, so a clean page has
    none to clear (saves a lookup per page on large syncs).
    """
    model = ENTITY_TABLES[stream]
    rows = [
        {**row, "connection": connection, "synced_at": now, "run_id": run_id} for row in normalized.entities
    ]
    ids = normalized.entity_ids
    with engine.begin() as conn:
        upsert(conn, model, rows)
        for model_, owner_column, rows_of, owners_of in _CHILD_TABLES.get(stream, ()):
            _replace_children(
                conn,
                model_,
                connection=connection,
                owner_column=owner_column,
                owner_ids=getattr(normalized, owners_of),
                rows=[{**r, "connection": connection} for r in getattr(normalized, rows_of)],
            )
        if normalized.issues or not quarantine_empty:
            _sync_quarantine(
                conn,
                connection=connection,
                source=source,
                stream=stream,
                record_ids=ids,
                issues=normalized.issues,
                run_id=run_id,
                now=now,
            )
        _save_state(
            conn,
            connection=connection,
            source=source,
            stream=stream,
            state=checkpoint,
            run_id=run_id,
            now=now,
        )
        delta = request_delta or {}
        runs = table_of(SyncRun)
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(
                pages=runs.c.pages + 1,
                records_read=runs.c.records_read + records_read,
                records_written=runs.c.records_written + len(rows),
                records_rejected=runs.c.records_rejected + normalized.rejected,
                fields_quarantined=runs.c.fields_quarantined
                + sum(1 for i in normalized.issues if i.field != "*"),
                requests=runs.c.requests + int(delta.get("requests", 0)),
                retries=runs.c.retries + int(delta.get("retries", 0)),
                rate_limited=runs.c.rate_limited + int(delta.get("rate_limited", 0)),
            )
        )
    return PageWrite(
        read=records_read,
        written=len(rows),
        rejected=normalized.rejected,
        quarantined=len(normalized.issues),
    )


def _save_state(
    conn: Connection,
    *,
    connection: str,
    source: str,
    stream: str,
    state: dict[str, Any],
    run_id: int | None,
    now: datetime,
) -> None:
    upsert(
        conn,
        SyncState,
        [
            {
                "connection": connection,
                "source": source,
                "stream": stream,
                "state": state,
                "updated_at": now,
                "run_id": run_id,
            }
        ],
    )


def has_quarantine(engine: Engine, *, connection: str, source: str, stream: str) -> bool:
    """Whether any quarantine row exists for the stream."""
    table = table_of(Quarantine)
    with engine.connect() as conn:
        found = conn.execute(
            select(table.c.record_id)
            .where(table.c.connection == connection, table.c.source == source, table.c.stream == stream)
            .limit(1)
        ).first()
    return found is not None


def get_state(engine: Engine, *, connection: str, source: str, stream: str) -> dict[str, Any]:
    table = table_of(SyncState)
    with engine.connect() as conn:
        value = conn.execute(
            select(table.c.state).where(
                table.c.connection == connection, table.c.source == source, table.c.stream == stream
            )
        ).scalar_one_or_none()
    return dict(value) if isinstance(value, dict) else {}


def start_run(
    engine: Engine, *, connection: str, source: str, stream: str, mode: str, trigger: str, now: datetime
) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            table_of(SyncRun)
            .insert()
            .values(
                connection=connection,
                source=source,
                stream=stream,
                mode=mode,
                trigger=trigger,
                status="running",
                started_at=now,
            )
        )
        run_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    assert isinstance(run_id, int)
    return run_id


def finish_run(
    engine: Engine,
    *,
    run_id: int,
    status: str,
    now: datetime,
    error: str | None = None,
    request_delta: dict[str, float] | None = None,
) -> None:
    """Close a run; requests made after its last page (e.g. a failing one) are added here."""
    runs = table_of(SyncRun)
    delta = request_delta or {}
    with engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(
                status=status,
                finished_at=now,
                error=error,
                requests=runs.c.requests + int(delta.get("requests", 0)),
                retries=runs.c.retries + int(delta.get("retries", 0)),
                rate_limited=runs.c.rate_limited + int(delta.get("rate_limited", 0)),
            )
        )


def get_run(engine: Engine, run_id: int) -> SyncRun | None:
    runs = table_of(SyncRun)
    with engine.connect() as conn:
        row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
    return SyncRun.model_validate(dict(row)) if row else None


def recent_runs(engine: Engine, *, limit: int = 20, connection: str | None = None) -> list[SyncRun]:
    runs = table_of(SyncRun)
    query = select(runs).order_by(runs.c.id.desc()).limit(limit)
    if connection is not None:
        query = query.where(runs.c.connection == connection)
    with engine.connect() as conn:
        return [SyncRun.model_validate(dict(r)) for r in conn.execute(query).mappings()]


def row_counts(engine: Engine, *, connection: str) -> dict[str, int]:
    """Live (non-archived) rows per entity table, plus quarantine rows."""
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for stream, model in ENTITY_TABLES.items():
            table = table_of(model)
            query = select(func.count()).select_from(table).where(table.c.connection == connection)
            if "archived" in table.c:
                query = query.where(table.c.archived.is_(False))
            out[stream] = int(conn.execute(query).scalar_one())
        q = table_of(Quarantine)
        out["quarantine"] = int(
            conn.execute(select(func.count()).select_from(q).where(q.c.connection == connection)).scalar_one()
        )
    return out
