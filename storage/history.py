"""Type-2 snapshot history: a new version of a record's tracked fields whenever one changes.

The CRM overwrites values; the versions keep what they were, so "what did the pipeline look like
at the end of last quarter" has an answer (see kpi.reader, `as_of`). A version is valid from the
record's own last-modified time (the tracked values cannot have changed since then) until the next
version starts. Unchanged records write nothing. The raw payload that a new version supersedes is
kept in `raw_versions` until `funnelsync prune` removes it; the typed versions are never pruned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, delete, func, select, update
from sqlmodel import SQLModel

from storage.db import table_of
from storage.models import ENTITY_TABLES, VERSION_TABLES, RawVersion, VersionBase

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


def record_versions(
    conn: Connection,
    stream: str,
    observations: Sequence[Observation],
    *,
    connection: str,
    run_id: int | None,
    now: datetime,
) -> int:
    """Write a version for each observed record whose tracked values differ from its current
    version (or that has none); returns how many. Runs in the page's transaction, before the
    page overwrites the records (the superseded raw payload is read from them)."""
    if not observations:
        return 0
    model = VERSION_TABLES[stream]
    table = table_of(model)
    fields = tracked_fields(stream)
    ids = [o.record_id for o in observations]
    current = {
        row[0]: (row[1], tuple(row[2:]))
        for row in conn.execute(
            select(table.c.record_id, table.c.valid_from, *(table.c[f] for f in fields)).where(
                table.c.connection == connection, table.c.record_id.in_(ids), table.c.valid_to.is_(None)
            )
        )
    }
    inserts: list[dict[str, Any]] = []
    closes: list[dict[str, Any]] = []
    for obs in observations:
        stored = current.get(obs.record_id)
        if stored is not None and stored[1] == obs.values:
            continue
        # A clock ahead of ours, or no last-change time: the version starts when we saw it.
        start = min(obs.changed_at or now, now)
        if stored is not None:
            start = max(start, stored[0] + _TICK)
            closes.append({"rid": obs.record_id, "vf": stored[0], "vt": start})
        inserts.append(
            {
                "connection": connection,
                "record_id": obs.record_id,
                "valid_from": start,
                "valid_to": None,
                "seen_at": now,
                "run_id": run_id,
                **dict(zip(fields, obs.values, strict=True)),
            }
        )
    if closes:
        _keep_superseded_raw(conn, stream, closes, connection=connection, run_id=run_id)
        conn.execute(
            update(table)
            .where(
                table.c.connection == connection,
                table.c.record_id == bindparam("rid"),
                table.c.valid_from == bindparam("vf"),
            )
            .values(valid_to=bindparam("vt")),
            closes,
        )
    if inserts:
        conn.execute(table.insert(), inserts)
    return len(inserts)


def _keep_superseded_raw(
    conn: Connection, stream: str, closes: list[dict[str, Any]], *, connection: str, run_id: int | None
) -> None:
    """Keep the stored raw payload of records about to get a new version: the last payload seen
    while the closing version was current."""
    entity = table_of(ENTITY_TABLES[stream])
    raws = dict(
        conn.execute(
            select(entity.c.id, entity.c.raw).where(
                entity.c.connection == connection, entity.c.id.in_([c["rid"] for c in closes])
            )
        ).all()
    )
    rows = [
        {
            "connection": connection,
            "stream": stream,
            "record_id": c["rid"],
            "valid_from": c["vf"],
            "valid_to": c["vt"],
            "run_id": run_id,
            "raw": raws[c["rid"]],
        }
        for c in closes
        if c["rid"] in raws
    ]
    if rows:
        conn.execute(table_of(RawVersion).insert(), rows)


def versions_of(engine: Engine, stream: str, record_id: str, *, connection: str) -> list[dict[str, Any]]:
    """Every version of one record, oldest first (for `funnelsync history` and tests)."""
    table = table_of(VERSION_TABLES[stream])
    with engine.connect() as conn:
        rows = conn.execute(
            select(table)
            .where(table.c.connection == connection, table.c.record_id == record_id)
            .order_by(table.c.valid_from)
        )
        return [dict(r._mapping) for r in rows]


def latest_seen(conn: Connection, model: type[SQLModel], *, connection: str) -> datetime | None:
    """When a sync last stored a version of `model`'s records (None: no history)."""
    table = table_of(model)
    value = conn.execute(select(func.max(table.c.seen_at)).where(table.c.connection == connection)).scalar()
    return value if isinstance(value, datetime) else None


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
