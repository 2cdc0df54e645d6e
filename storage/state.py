"""Stream state and what the sync asks of the local copy: checkpoints, quarantine presence,
archived ids, row counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    func,
    select,
)

from storage.db import table_of
from storage.models import (
    ENTITY_TABLES,
    Quarantine,
    SyncState,
)
from storage.sql import upsert


def save_state(
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
