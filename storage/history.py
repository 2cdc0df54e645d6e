"""Type-2 snapshot history: a new version of a record's tracked fields whenever one changes.

The CRM overwrites values; the versions keep what they were, so "what did the pipeline look like
at the end of last quarter" has an answer (see kpi.reader, `as_of`). A version is valid from the
record's own last-modified time (the tracked values cannot have changed since then) until the next
version starts. Unchanged records write nothing. The raw payload that a new version supersedes is
kept in `raw_versions` until `funnelsync prune` removes it; the typed versions are never pruned.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Integer, String, and_, bindparam, delete, func, select, update
from sqlalchemy.engine import Dialect
from sqlmodel import SQLModel

from storage.db import id_in, table_of
from storage.models import ENTITY_TABLES, VERSION_TABLES, RawVersion, VersionBase
from storage.sql import RowValues, bind_rows, bind_values, compile_named, insert_sql, row_plan

_VERSION_META = frozenset(VersionBase.model_fields)
# The record's own last-change times, per stream: a version starts at the latest of them. (A
# deletion sets HubSpot's archivedAt and updatedAt but not the last-modified property.)
_CRM_CHANGED_AT = ("lastmodifieddate", "updated_at", "archived_at")
_CHANGED_AT = {"mailchimp_members": ("last_changed",)}
_TICK = timedelta(microseconds=1)


def tracked_fields(stream: str) -> tuple[str, ...]:
    """The fields whose change makes a new version (the version table's own columns)."""
    model = VERSION_TABLES[stream]
    return tuple(name for name in model.model_fields if name not in _VERSION_META)


@dataclass(frozen=True)
class Observation:
    """A record's tracked values as a page brings them, and when the record last changed."""

    record_id: str
    values: tuple[Any, ...]
    changed_at: datetime | None


def observe(stream: str, rows: Sequence[dict[str, Any]]) -> list[Observation]:
    """The page's observations (native values, before they are bound for a driver); the last
    occurrence of a record wins, as it does for the record's row."""
    if stream not in VERSION_TABLES:
        return []
    fields = tracked_fields(stream)
    model = VERSION_TABLES[stream]
    defaults = {name: info.default for name, info in model.model_fields.items() if name in fields}
    changed = _CHANGED_AT.get(stream, _CRM_CHANGED_AT)
    latest: dict[str, Observation] = {}
    for row in rows:
        values = tuple(row.get(name, defaults[name]) for name in fields)
        times = [t for name in changed if isinstance(t := row.get(name), datetime)]
        latest[row["id"]] = Observation(row["id"], values, max(times) if times else None)
    return list(latest.values())


def current_versions(
    conn: Connection, stream: str, ids: Sequence[str], *, connection: str
) -> dict[str, tuple[datetime, tuple[Any, ...]]]:
    """The current version (start, tracked values) of each of `ids` that has one."""
    table = table_of(VERSION_TABLES[stream])
    query = select(
        table.c.record_id, table.c.valid_from, *(table.c[f] for f in tracked_fields(stream))
    ).where(table.c.connection == connection, id_in(conn, table.c.record_id, ids), table.c.valid_to.is_(None))
    return {row[0]: (row[1], tuple(row[2:])) for row in conn.execute(query)}


@dataclass(frozen=True)
class VersionPlan:
    """What a page changes in the history: versions to start and current versions to end."""

    starts: list[tuple[Observation, datetime]]
    ends: list[tuple[str, datetime, datetime]]  # (record id, its valid_from, its new valid_to)


def plan_versions(
    observations: Sequence[Observation],
    current: dict[str, tuple[datetime, tuple[Any, ...]]],
    *,
    now: datetime,
) -> VersionPlan:
    """A new version for each record whose tracked values differ from its current version (or
    that has none), starting at its last change, kept after the version it ends and not after `now`."""
    starts: list[tuple[Observation, datetime]] = []
    ends: list[tuple[str, datetime, datetime]] = []
    for obs in observations:
        stored = current.get(obs.record_id)
        if stored is not None and stored[1] == obs.values:
            continue
        # A clock ahead of ours, or no last-change time: the version starts when we saw it.
        start = min(obs.changed_at or now, now)
        if stored is not None:
            start = max(start, stored[0] + _TICK)
            ends.append((obs.record_id, stored[0], start))
        starts.append((obs, start))
    return VersionPlan(starts, ends)


def versions_of(engine: Engine, stream: str, record_id: str, *, connection: str) -> list[dict[str, Any]]:
    """Every version of one record, oldest first (for inspection and tests)."""
    table = table_of(VERSION_TABLES[stream])
    with engine.connect() as conn:
        rows = conn.execute(
            select(table)
            .where(table.c.connection == connection, table.c.record_id == record_id)
            .order_by(table.c.valid_from)
        )
        return [dict(r._mapping) for r in rows]


@dataclass(frozen=True)
class PruneResult:
    raw_versions: int
    cutoff: datetime


def prune_raw_versions(
    engine: Engine,
    *,
    older_than: timedelta,
    now: datetime,
    connection: str | None = None,
    dry_run: bool = False,
) -> PruneResult:
    """Delete superseded raw payloads whose version ended before `now - older_than`; the typed
    versions stay (the as-of KPIs need them)."""
    table = table_of(RawVersion)
    cutoff = now - older_than
    where = [table.c.valid_to < cutoff]
    if connection is not None:
        where.append(table.c.connection == connection)
    with engine.begin() as conn:
        if dry_run:
            count = conn.execute(select(func.count()).select_from(table).where(and_(*where))).scalar_one()
        else:
            count = conn.execute(delete(table).where(*where)).rowcount
    return PruneResult(int(count), cutoff)


def write_versions(
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
        stamp = row_plan(dialect.name, model, ()).stamp
        ends = [
            {"c": connection, "s": stream, "rid": rid, "vf": stamp(start), "vt": stamp(end), "run": run_id}
            for rid, start, end in plan.ends
        ]
        conn.exec_driver_sql(_keep_raw_sql(dialect, stream), ends)
        conn.exec_driver_sql(_end_version_sql(dialect, model), ends)
    if plan.starts:
        rows = _version_rows(stream, plan, connection=connection, run_id=run_id, now=now)
        bound = bind_rows(dialect.name, model, rows)
        conn.exec_driver_sql(insert_sql(dialect, model, bound.columns), bound.params)
    return len(plan.starts)


def first_versions(
    dialect: str,
    stream: str,
    observations: Sequence[Observation],
    *,
    connection: str,
    run_id: int,
    now: datetime,
    memo: dict[Any, Any] | None = None,
) -> RowValues | None:
    """The versions a first load starts (its records have none yet), bound for `dialect`: planned
    while a page is prepared, so the writer only inserts them (storage.bulk). `memo`: see
    `bind_rows`."""
    if stream not in VERSION_TABLES or not observations:
        return None
    plan = plan_versions(observations, {}, now=now)
    rows = _version_rows(stream, plan, connection=connection, run_id=run_id, now=now)
    return bind_values(dialect, VERSION_TABLES[stream], rows, memo=memo)


def _version_rows(
    stream: str, plan: VersionPlan, *, connection: str, run_id: int, now: datetime
) -> list[dict[str, Any]]:
    fields = tracked_fields(stream)
    return [
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
    return str(compile_named(statement, dialect, _VERSION_PARAMS))


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
    return str(compile_named(statement, dialect, _VERSION_PARAMS))
