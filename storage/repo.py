"""Data access: keyword-only functions that take an engine or connection.

The central promise: `store_page` writes a page's rows, its quarantine findings, the run's
counters and the stream's checkpoint in one transaction. A crash loses at most the page in
flight, and the next run resumes from the checkpoint.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Integer,
    String,
    and_,
    bindparam,
    delete,
    func,
    null,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import SQLModel

from connector.records import Issue, Normalized
from storage.db import UTCDateTime, id_in, table_of, upsert_insert, utc_aware, utc_sqlite_text
from storage.history import Observation, current_versions, observe, plan_versions, tracked_fields
from storage.models import (
    ENTITY_TABLES,
    VERSION_TABLES,
    HubSpotAnalyticsRow,
    HubSpotCompany,
    HubSpotContact,
    HubSpotContactAssociation,
    HubSpotContactStageDate,
    HubSpotContactStageTransition,
    HubSpotDealAssociation,
    HubSpotDealStageDate,
    HubSpotDealStageTransition,
    HubSpotPipelineStage,
    MailchimpUnsubscribe,
    Quarantine,
    RawVersion,
    SyncRun,
    SyncState,
)

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


def bind_rows(
    dialect: str, model: type[SQLModel], rows: Sequence[dict[str, Any]], extra: dict[str, Any] | None = None
) -> Rows:
    """Convert `rows` (plus the same `extra` values on every row) for `dialect`'s driver."""
    if not rows:
        return Rows(model, (), [])
    extra = extra or {}
    columns = (*rows[0], *(name for name in extra if name not in rows[0]))
    plan = _row_plan(dialect, model, columns)
    stamps, stamp, converters, defaults = plan.stamps, plan.stamp, plan.converters, plan.defaults
    # Timestamps repeat within a page (synced_at on every row, createdAt equal to createdate) and
    # formatting one costs more than looking it up, so each distinct value is converted once.
    memo: dict[Any, Any] = {}
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
def _row_plan(dialect: str, model: type[SQLModel], columns: tuple[str, ...]) -> _RowPlan:
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
    compiled = _compile_named(_upsert_statement(dialect.name, model, frozenset(columns)), dialect, columns)
    defaults = _row_plan(dialect.name, model, columns).defaults
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


def _replace_children(
    conn: Connection, children: Children, *, connection: str, existing: Collection[str] | None = None
) -> None:
    """Make the child rows of the owners exactly the given rows.

    Delete-then-insert inside the page's transaction: the rows have no surrogate keys, so the
    table ends up identical when nothing changed, and it is cheaper than diffing. `existing`:
    the owners already stored (only they can have rows to delete; None: assume all).
    """
    owners = children.owner_ids if existing is None else [i for i in children.owner_ids if i in existing]
    if owners:
        _delete_children(conn, children, owners, connection=connection)
    execute_upsert(conn, children.rows)


def _delete_children(conn: Connection, children: Children, owners: list[str], *, connection: str) -> None:
    table = table_of(children.rows.model)
    owner = table.c[children.owner_column]
    where = [table.c.connection == connection, owner.in_(owners)]
    if children.scope is not None:
        column = table.c[children.scope.column]
        values = list(children.scope.values)
        where.append(column.in_(values) if children.scope.inside else column.not_in(values))
    conn.execute(delete(table).where(*where))


def _write_versions(
    conn: Connection,
    stream: str,
    observations: Sequence[Observation],
    *,
    stored: Collection[str],
    connection: str,
    run_id: int,
    now: datetime,
) -> int:
    """Record the page's changes in the snapshot history (storage.history), before the page
    overwrites the records: the raw payload each ended version leaves behind is copied from them.
    Returns how many versions started. `stored`: the page's records already stored (only they
    can have versions; a first load reads none)."""
    known = [o.record_id for o in observations if o.record_id in stored]
    current = current_versions(conn, stream, known, connection=connection) if known else {}
    plan = plan_versions(observations, current, now=now)
    model = VERSION_TABLES[stream]
    dialect = conn.dialect
    if plan.ends:
        stamp = _row_plan(dialect.name, model, ()).stamp
        ends = [
            {"c": connection, "s": stream, "rid": rid, "vf": stamp(start), "vt": stamp(end), "run": run_id}
            for rid, start, end in plan.ends
        ]
        conn.exec_driver_sql(_keep_raw_sql(dialect, stream), ends)
        conn.exec_driver_sql(_end_version_sql(dialect, model), ends)
    if plan.starts:
        fields = tracked_fields(stream)
        rows = [
            {
                "connection": connection,
                "record_id": obs.record_id,
                "valid_from": start,
                "valid_to": None,
                "seen_at": now,
                "run_id": run_id,
                **dict(zip(fields, obs.values, strict=True)),
            }
            for obs, start in plan.starts
        ]
        bound = bind_rows(dialect.name, model, rows)
        conn.exec_driver_sql(_insert_sql(dialect, model, bound.columns), bound.params)
    return len(plan.starts)


_VERSION_PARAMS = ("c", "s", "rid", "vf", "vt", "run")


@functools.lru_cache(maxsize=16)
def _keep_raw_sql(dialect: Dialect, stream: str) -> str:
    """Copy a record's stored raw payload into raw_versions as the one its ending version had."""
    entity = table_of(ENTITY_TABLES[stream])
    raw = table_of(RawVersion)
    chosen = select(
        bindparam("c", type_=String()),
        bindparam("s", type_=String()),
        entity.c.id,
        bindparam("vf", type_=raw.c.valid_from.type),
        bindparam("vt", type_=raw.c.valid_to.type),
        bindparam("run", type_=Integer()),
        entity.c.raw,
    ).where(entity.c.connection == bindparam("c"), entity.c.id == bindparam("rid"))
    statement = raw.insert().from_select(
        ["connection", "stream", "record_id", "valid_from", "valid_to", "run_id", "raw"], chosen
    )
    return str(_compile_named(statement, dialect, _VERSION_PARAMS))


@functools.lru_cache(maxsize=16)
def _end_version_sql(dialect: Dialect, model: type[SQLModel]) -> str:
    table = table_of(model)
    statement = (
        update(table)
        .where(
            table.c.connection == bindparam("c"),
            table.c.record_id == bindparam("rid"),
            table.c.valid_from == bindparam("vf"),
        )
        .values(valid_to=bindparam("vt"))
    )
    return str(_compile_named(statement, dialect, _VERSION_PARAMS))


@functools.lru_cache(maxsize=32)
def _insert_sql(dialect: Dialect, model: type[SQLModel], columns: tuple[str, ...]) -> str:
    return str(_compile_named(table_of(model).insert(), dialect, columns))


def _stored_records(
    conn: Connection, page: PreparedPage, observed: _Observed | None, connection: str
) -> dict[str, Any]:
    """The page's records that are stored already, with their stage when the stream has one."""
    entity = table_of(page.entities.model)
    if not page.record_ids:
        return {}
    stage = entity.c[observed.stage_column] if observed is not None else null()
    query = select(entity.c.id, stage).where(
        entity.c.connection == connection, id_in(conn, entity.c.id, page.record_ids)
    )
    return dict(conn.execute(query).all())


def _observe_changes(
    conn: Connection, observed: _Observed, page: PreparedPage, stored: dict[str, Any], *, connection: str
) -> None:
    """Record stage changes between the stored rows and the page's (before the page overwrites
    them): a transition and a stage date, both with origin `observed`, dated by the record's
    last-modified time. They are only ever added; a stage entered again keeps its first date."""
    changes = [
        (record_id, stored[record_id], stage, at)
        for record_id, stage, at in page.observations
        if stage and record_id in stored and stored[record_id] is not None and stored[record_id] != stage
    ]
    if not changes:
        return
    owner = observed.owner_column
    transitions = [
        {
            "connection": connection,
            owner: record_id,
            "at": at,
            "to_stage": stage,
            "origin": "observed",
            "from_stage": old,
            "source_type": "OBSERVED",
        }
        for record_id, old, stage, at in changes
    ]
    dates = [
        {"connection": connection, owner: record_id, "stage": stage, "source": "observed", "entered_at": at}
        for record_id, _, stage, at in changes
    ]
    for model, rows in ((observed.transitions, transitions), (observed.stage_dates, dates)):
        conn.exec_driver_sql(_insert_missing_sql(conn.dialect, model, tuple(rows[0])), rows)


@functools.lru_cache(maxsize=32)
def _insert_missing_sql(dialect: Dialect, model: type[SQLModel], columns: tuple[str, ...]) -> str:
    """INSERT that leaves existing keys alone, compiled with named parameters."""
    table = table_of(model)
    return str(_compile_named(upsert_insert(dialect.name, table).on_conflict_do_nothing(), dialect, columns))


def _compile_named(statement: Any, dialect: Dialect, columns: tuple[str, ...]) -> Any:
    """Compile for named parameters on every driver: sqlite3 too (not its default qmark style),
    so rows can be passed as dicts."""
    target = sqlite.dialect(paramstyle="named") if dialect.name == "sqlite" else dialect
    return statement.compile(dialect=target, column_keys=list(columns))


def _absorbed_ids(row: dict[str, Any]) -> list[str]:
    """The ids a record says it absorbed (`hs_merged_object_ids`, `;`-separated)."""
    text = row.get("merged_object_ids")
    if not text:
        return []
    return [i.strip() for i in str(text).split(";") if i.strip() and i.strip() != row["id"]]


def _fold_merged(
    conn: Connection, model: type[SQLModel], connection: str, survivor: str, absorbed: list[str]
) -> None:
    """Mark the records `survivor` absorbed as merged into it (rows for ids never stored: none).

    Their own rows and stage dates stay as they were: KPIs count the survivor only and take its
    stage history from both. Associations other records hold to an absorbed id now point at the
    survivor, as they do in HubSpot (whose merge does not mark those records modified, so no
    incremental read would tell).
    """
    table = table_of(model)
    conn.execute(
        update(table)
        .where(
            table.c.connection == connection,
            table.c.id.in_(absorbed),
            or_(table.c.merged_into.is_(None), table.c.merged_into != survivor),
        )
        .values(merged_into=survivor)
    )
    to_type = _ASSOCIATION_TYPE.get(model)
    for holder, owner in _HELD_ASSOCIATIONS.get(to_type or "", ()):
        links = table_of(holder)
        pointing = and_(
            links.c.connection == connection, links.c.to_type == to_type, links.c.to_id.in_(absorbed)
        )
        owners = dict.fromkeys(r[0] for r in conn.execute(select(links.c[owner]).where(pointing)))
        if not owners:
            continue
        moved = [{"connection": connection, owner: o, "to_type": to_type, "to_id": survivor} for o in owners]
        conn.exec_driver_sql(_insert_missing_sql(conn.dialect, holder, tuple(moved[0])), moved)
        conn.execute(delete(links).where(pointing))


# The association type name of an object, and the association tables that can point at it.
_ASSOCIATION_TYPE: dict[type[SQLModel], str] = {HubSpotContact: "contact", HubSpotCompany: "company"}
_HELD_ASSOCIATIONS: dict[str, tuple[tuple[type[SQLModel], str], ...]] = {
    "contact": ((HubSpotDealAssociation, "deal_id"),),
    "company": ((HubSpotDealAssociation, "deal_id"), (HubSpotContactAssociation, "contact_id")),
}


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


@dataclass(frozen=True)
class Scope:
    """Which of an owner's child rows a page states: those whose `column` is (or, with
    `inside=False`, is not) one of `values`. Rows outside the scope are left alone."""

    column: str
    values: tuple[str, ...]
    inside: bool = True


@dataclass(frozen=True)
class _ChildSpec:
    model: type[SQLModel]
    owner_column: str
    rows_of: str  # Normalized attribute with the rows
    owners_of: str  # Normalized attribute with the owners whose rows the page states
    scope: Scope | None = None


# Stage dates from history and from our own observations are not in the stage-date properties,
# so a page's properties replace only the property-sourced rows; history replaces history rows
# of records that came with history; observed rows are only ever added.
_DERIVED_SOURCES = ("history", "observed")


def _stage_children(model: type[SQLModel], transitions: type[SQLModel], owner: str) -> tuple[_ChildSpec, ...]:
    return (
        _ChildSpec(
            model, owner, "stage_dates", "entity_ids", Scope("source", _DERIVED_SOURCES, inside=False)
        ),
        _ChildSpec(model, owner, "history_stage_dates", "history_owner_ids", Scope("source", ("history",))),
        _ChildSpec(transitions, owner, "transitions", "history_owner_ids", Scope("origin", ("history",))),
    )


# Child tables whose rows a page states completely, per stream.
_CHILD_TABLES: dict[str, tuple[_ChildSpec, ...]] = {
    "contacts": (
        *_stage_children(HubSpotContactStageDate, HubSpotContactStageTransition, "contact_id"),
        _ChildSpec(HubSpotContactAssociation, "contact_id", "associations", "association_owner_ids"),
    ),
    "deals": (
        *_stage_children(HubSpotDealStageDate, HubSpotDealStageTransition, "deal_id"),
        _ChildSpec(HubSpotDealAssociation, "deal_id", "associations", "association_owner_ids"),
    ),
    "pipelines": (_ChildSpec(HubSpotPipelineStage, "pipeline_id", "children", "entity_ids"),),
    "web_analytics": (_ChildSpec(HubSpotAnalyticsRow, "day_id", "children", "entity_ids"),),
    "mailchimp_reports": (_ChildSpec(MailchimpUnsubscribe, "campaign_id", "children", "entity_ids"),),
}


def stored_children(
    engine: Engine, *, stream: str, connection: str, owner_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The child rows a page of `stream` would state for these records, as stored (Normalized
    attribute → rows): a page that rewrites records without their children carries these."""
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for spec in _CHILD_TABLES.get(stream, ()):
            if spec.owners_of != "entity_ids":
                continue
            table = table_of(spec.model)
            query = select(table).where(
                table.c.connection == connection, table.c[spec.owner_column].in_(owner_ids)
            )
            if spec.scope is not None:
                inside = table.c[spec.scope.column].in_(spec.scope.values)
                query = query.where(inside if spec.scope.inside else ~inside)
            rows = [dict(r._mapping) for r in conn.execute(query)]
            for row in rows:
                row.pop("connection", None)
            out.setdefault(spec.rows_of, []).extend(rows)
    return out


# Rows a stream's pages add to other records' tables (insert if missing, never replace): deal
# links to contacts read back after a restore (the deals themselves do not change).
_ADDITIONS: dict[str, tuple[tuple[type[SQLModel], str], ...]] = {
    "contacts": ((HubSpotDealAssociation, "held_links"),),
}


@dataclass(frozen=True)
class _Observed:
    """How a stream's stage changes between our own snapshots are recorded."""

    stage_column: str
    owner_column: str
    transitions: type[SQLModel]
    stage_dates: type[SQLModel]


_OBSERVED: dict[str, _Observed] = {
    "contacts": _Observed(
        "lifecyclestage", "contact_id", HubSpotContactStageTransition, HubSpotContactStageDate
    ),
    "deals": _Observed("dealstage", "deal_id", HubSpotDealStageTransition, HubSpotDealStageDate),
}


@dataclass(frozen=True)
class PageWrite:
    """What one stored page counted."""

    read: int
    written: int
    rejected: int
    quarantined: int


@dataclass(frozen=True)
class PageInput:
    """One fetched page on its way to storage."""

    normalized: Normalized
    records_read: int
    checkpoint: dict[str, Any]


@dataclass(frozen=True)
class Children:
    """Child rows that a page states completely for its owners (see `_replace_children`)."""

    owner_column: str
    owner_ids: list[str]
    rows: Rows
    scope: Scope | None = None


@dataclass(frozen=True)
class PreparedPage:
    """A page converted for the driver, with what its commit needs besides the rows."""

    entities: Rows
    children: tuple[Children, ...]
    # (survivor id, ids it absorbed) for records that report merges (`hs_merged_object_ids`).
    merges: list[tuple[str, list[str]]]
    # (id, incoming stage, when it changed, in driver form) for streams whose stage changes we
    # observe between snapshots (see `_observe_changes`).
    observations: list[tuple[str, str | None, Any]]
    record_ids: list[str]
    issues: list[Issue]
    fields_quarantined: int
    checkpoint: dict[str, Any]
    write: PageWrite
    # Rows other records' tables gain, inserted when missing (links to a restored record).
    additions: tuple[Rows, ...] = ()
    # Tracked values of streams with snapshot history (see storage.history).
    versions: list[Observation] = field(default_factory=list)


@dataclass(frozen=True)
class PreparedBatch:
    """Consecutive prepared pages of one stream's run, committed in one transaction."""

    connection: str
    source: str
    stream: str
    run_id: int
    now: datetime
    request_delta: dict[str, float]
    quarantine_empty: bool
    pages: list[PreparedPage]


def prepare_pages(
    dialect: str,
    *,
    connection: str,
    source: str,
    stream: str,
    pages: Sequence[PageInput],
    run_id: int,
    now: datetime,
    request_delta: dict[str, float] | None = None,
    quarantine_empty: bool = False,
) -> PreparedBatch:
    """Convert pages for `dialect` without touching the database (see `Rows`).

    `quarantine_empty`: the caller knows the stream has no quarantine rows, so a clean page has
    none to clear (saves a lookup per page on large syncs).
    """
    model = ENTITY_TABLES[stream]
    meta = {"connection": connection, "synced_at": now, "run_id": run_id}
    owner_meta = {"connection": connection}
    observed = _OBSERVED.get(stream)
    stamp = _row_plan(dialect, model, ()).stamp
    tracks_deletes = "deleted_seen_at" in table_of(model).c
    prepared: list[PreparedPage] = []
    for page in pages:
        normalized = page.normalized
        if tracks_deletes:
            # Written only when the row changes, so it keeps the time the archived version first came.
            for row in normalized.entities:
                row["deleted_seen_at"] = now if row.get("archived") else None
        merges = [(row["id"], ids) for row in normalized.entities if (ids := _absorbed_ids(row))]
        observations: list[tuple[str, str | None, Any]] = []
        if observed is not None:
            observations = [
                (row["id"], row.get(observed.stage_column), stamp(row.get("lastmodifieddate") or now))
                for row in normalized.entities
            ]
        children = tuple(
            Children(
                spec.owner_column,
                list(getattr(normalized, spec.owners_of)),
                bind_rows(dialect, spec.model, getattr(normalized, spec.rows_of), owner_meta),
                spec.scope,
            )
            for spec in _CHILD_TABLES.get(stream, ())
        )
        additions = tuple(
            bind_rows(dialect, target, getattr(normalized, rows_of), owner_meta)
            for target, rows_of in _ADDITIONS.get(stream, ())
            if getattr(normalized, rows_of)
        )
        prepared.append(
            PreparedPage(
                versions=observe(stream, normalized.entities),
                additions=additions,
                entities=bind_rows(dialect, model, normalized.entities, meta),
                children=children,
                merges=merges,
                observations=observations,
                record_ids=normalized.entity_ids,
                issues=normalized.issues,
                fields_quarantined=sum(1 for i in normalized.issues if i.field != "*"),
                checkpoint=page.checkpoint,
                write=PageWrite(
                    read=page.records_read,
                    written=len(normalized.entities),
                    rejected=normalized.rejected,
                    quarantined=len(normalized.issues),
                ),
            )
        )
    return PreparedBatch(
        connection=connection,
        source=source,
        stream=stream,
        run_id=run_id,
        now=now,
        request_delta=dict(request_delta or {}),
        quarantine_empty=quarantine_empty,
        pages=prepared,
    )


def commit_pages(engine: Engine, batch: PreparedBatch) -> list[PageWrite]:
    """Persist prepared pages in one transaction, with the last page's checkpoint.

    Each page is written exactly as on its own (in order, so a record on two pages ends as the
    later one says); only the commit, the checkpoint and the run counters are shared, so the
    checkpoint never runs ahead of the committed rows.
    """
    if not batch.pages:
        return []
    connection, now, quarantine_empty = batch.connection, batch.now, batch.quarantine_empty
    with engine.begin() as conn:
        observed = _OBSERVED.get(batch.stream)
        for page in batch.pages:
            # What is stored already for the page's records: stage changes are observed against
            # it, records seen for the first time have no child rows to replace and no version.
            needs_stored = page.children or observed or page.versions
            stored = _stored_records(conn, page, observed, connection) if needs_stored else {}
            if observed is not None and page.observations:
                _observe_changes(conn, observed, page, stored, connection=connection)
            if page.versions:
                _write_versions(
                    conn,
                    batch.stream,
                    page.versions,
                    stored=stored.keys(),
                    connection=connection,
                    run_id=batch.run_id,
                    now=now,
                )
            execute_upsert(conn, page.entities)
            for survivor, absorbed in page.merges:
                _fold_merged(
                    conn, page.entities.model, connection=connection, survivor=survivor, absorbed=absorbed
                )
            for children in page.children:
                _replace_children(conn, children, connection=connection, existing=stored.keys())
            for added in page.additions:
                conn.exec_driver_sql(
                    _insert_missing_sql(conn.dialect, added.model, added.columns), added.params
                )
            if page.issues or not quarantine_empty:
                _sync_quarantine(
                    conn,
                    connection=connection,
                    source=batch.source,
                    stream=batch.stream,
                    record_ids=page.record_ids,
                    issues=page.issues,
                    run_id=batch.run_id,
                    now=now,
                )
            quarantine_empty = quarantine_empty and not page.issues
        _save_state(
            conn,
            connection=connection,
            source=batch.source,
            stream=batch.stream,
            state=batch.pages[-1].checkpoint,
            run_id=batch.run_id,
            now=now,
        )
        delta = batch.request_delta
        runs = table_of(SyncRun)
        conn.execute(
            update(runs)
            .where(runs.c.id == batch.run_id)
            .values(
                pages=runs.c.pages + len(batch.pages),
                records_read=runs.c.records_read + sum(p.write.read for p in batch.pages),
                records_written=runs.c.records_written + sum(p.write.written for p in batch.pages),
                records_rejected=runs.c.records_rejected + sum(p.write.rejected for p in batch.pages),
                fields_quarantined=runs.c.fields_quarantined + sum(p.fields_quarantined for p in batch.pages),
                requests=runs.c.requests + int(delta.get("requests", 0)),
                retries=runs.c.retries + int(delta.get("retries", 0)),
                rate_limited=runs.c.rate_limited + int(delta.get("rate_limited", 0)),
            )
        )
    if engine.dialect.name == "postgresql":
        _refresh_statistics(engine, batch.stream)
    return [page.write for page in batch.pages]


def _stream_tables(stream: str) -> list[str]:
    models: list[type[SQLModel]] = [ENTITY_TABLES[stream]]
    models += [spec.model for spec in _CHILD_TABLES.get(stream, ())]
    if stream in VERSION_TABLES:
        models.append(VERSION_TABLES[stream])
    return sorted({table_of(m).name for m in models})


def _refresh_statistics(engine: Engine, stream: str) -> None:
    """ANALYZE a stream's tables on PostgreSQL once they have grown past what the planner last saw.

    A large first sync fills empty tables faster than autovacuum looks at them; planned with the
    empty table's statistics, each page's lookup by id becomes a scan of every row stored so far
    (quadratic in the sync). Re-analysing whenever the changes since the last ANALYZE outnumber
    the rows it saw keeps the plans right at a logarithmic number of ANALYZEs per load.
    """
    with engine.begin() as conn:
        stale = [
            name
            for name, changed, live in conn.execute(
                text(
                    "SELECT relname, n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables "
                    "WHERE schemaname = current_schema() AND relname = ANY(:names)"
                ),
                {"names": _stream_tables(stream)},
            )
            if changed >= 2_000 and changed > max(live - changed, 0)
        ]
        for name in stale:
            conn.exec_driver_sql(f'ANALYZE "{name}"')


def store_pages(
    engine: Engine,
    *,
    connection: str,
    source: str,
    stream: str,
    pages: Sequence[PageInput],
    run_id: int,
    now: datetime,
    request_delta: dict[str, float] | None = None,
    quarantine_empty: bool = False,
) -> list[PageWrite]:
    """Persist consecutive pages of one stream in one transaction (`prepare_pages` + `commit_pages`)."""
    batch = prepare_pages(
        engine.dialect.name,
        connection=connection,
        source=source,
        stream=stream,
        pages=pages,
        run_id=run_id,
        now=now,
        request_delta=request_delta,
        quarantine_empty=quarantine_empty,
    )
    return commit_pages(engine, batch)


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
    """Persist one page, its quarantine findings, the run counters and the checkpoint atomically."""
    return store_pages(
        engine,
        connection=connection,
        source=source,
        stream=stream,
        pages=[PageInput(normalized, records_read, checkpoint)],
        run_id=run_id,
        now=now,
        request_delta=request_delta,
        quarantine_empty=quarantine_empty,
    )[0]


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


def archived_ids(engine: Engine, *, connection: str, stream: str) -> set[str]:
    """Ids of the stream's records stored as archived (deleted in the CRM)."""
    table = table_of(ENTITY_TABLES[stream])
    with engine.connect() as conn:
        rows = conn.execute(
            select(table.c.id).where(table.c.connection == connection, table.c.archived.is_(True))
        )
        return {str(r) for (r,) in rows}


def get_state(engine: Engine, *, connection: str, source: str, stream: str) -> dict[str, Any]:
    table = table_of(SyncState)
    with engine.connect() as conn:
        value = conn.execute(
            select(table.c.state).where(
                table.c.connection == connection, table.c.source == source, table.c.stream == stream
            )
        ).scalar_one_or_none()
    return dict(value) if isinstance(value, dict) else {}


def row_counts(engine: Engine, *, connection: str) -> dict[str, int]:
    """Live rows per entity table (not archived, not merged away), plus quarantine rows."""
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for stream, model in ENTITY_TABLES.items():
            table = table_of(model)
            query = select(func.count()).select_from(table).where(table.c.connection == connection)
            if "archived" in table.c:
                query = query.where(table.c.archived.is_(False))
            if "merged_into" in table.c:
                query = query.where(table.c.merged_into.is_(None))
            out[stream] = int(conn.execute(query).scalar_one())
        q = table_of(Quarantine)
        out["quarantine"] = int(
            conn.execute(select(func.count()).select_from(q).where(q.c.connection == connection)).scalar_one()
        )
    return out
