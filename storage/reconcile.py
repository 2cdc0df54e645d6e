"""The weekly reconcile: after a full listing, stored records the vendor no longer lists are
marked deleted (archived), with a version in the history like any other change.

Incremental syncs see archived records (HubSpot's archived listing, Mailchimp's whole lists),
but not records deleted for good (a GDPR delete, HubSpot's recycle bin after 90 days, a
deleted campaign). Only a complete listing can tell: the ids it returned are kept as 64-bit
hashes (8 bytes per record, so 1 M contacts cost 8 MB) and every stored live id is looked up.
A hash collision can only keep a deleted record alive, never mark a live one deleted.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from connector.records import Normalized
from storage.db import table_of
from storage.layout import stored_children
from storage.models import ENTITY_TABLES
from storage.state import get_state
from storage.write import store_page

# Streams whose full listing is complete: every record the vendor has, archived ones included.
RECONCILED = (
    "contacts",
    "companies",
    "deals",
    "meetings",
    "calls",
    "campaigns",
    "mailchimp_lists",
    "mailchimp_campaigns",
    "mailchimp_reports",
)
CHUNK = 1000


def _key(record_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(record_id.encode(), digest_size=8).digest(), "big", signed=True)


class Census:
    """The ids each stream's full listing returned in this run, and which listings completed."""

    def __init__(self) -> None:
        self._seen: dict[str, array[int]] = {}
        self.complete: set[str] = set()

    def add(self, stream: str, ids: Iterable[str]) -> None:
        if stream in RECONCILED:
            self._seen.setdefault(stream, array("q")).extend(_key(i) for i in ids)

    def finish(self, stream: str) -> None:
        """The stream's listing ran to its end in this run."""
        if stream in RECONCILED:
            self._seen.setdefault(stream, array("q"))
            self.complete.add(stream)

    def drop(self, stream: str) -> None:
        """Forget a listing that cannot be complete (a resumed half-done full sync)."""
        self._seen.pop(stream, None)

    def seen(self, stream: str) -> array[int]:
        return array("q", sorted(self._seen.get(stream, array("q"))))


def _contains(sorted_keys: array[int], key: int) -> bool:
    i = bisect_left(sorted_keys, key)
    return i < len(sorted_keys) and sorted_keys[i] == key


def _live_ids(engine: Engine, stream: str, connection: str) -> Iterator[list[str]]:
    """Stored ids of live records (not archived, not merged away), a chunk at a time."""
    table = table_of(ENTITY_TABLES[stream])
    after = ""
    while True:
        query = (
            select(table.c.id)
            .where(table.c.connection == connection, table.c.archived.is_(False), table.c.id > after)
            .order_by(table.c.id)
            .limit(CHUNK)
        )
        if "merged_into" in table.c:
            query = query.where(table.c.merged_into.is_(None))
        with engine.connect() as conn:
            ids = [r[0] for r in conn.execute(query)]
        if not ids:
            return
        yield ids
        after = ids[-1]


def missing_ids(engine: Engine, *, connection: str, stream: str, census: Census) -> list[str]:
    """Stored live ids the stream's complete listing did not return."""
    seen = census.seen(stream)
    return [
        i for chunk in _live_ids(engine, stream, connection) for i in chunk if not _contains(seen, _key(i))
    ]


def mark_deleted(
    engine: Engine,
    *,
    connection: str,
    source: str,
    stream: str,
    ids: list[str],
    run_id: int,
    now: datetime,
) -> int:
    """Mark records deleted: archived, archived at `now`, written through the usual page path
    (so the history gets a version and the raw payload of the live one is kept)."""
    table = table_of(ENTITY_TABLES[stream])
    state = get_state(engine, connection=connection, source=source, stream=stream)
    marked = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        with engine.connect() as conn:
            rows = [
                dict(r._mapping)
                for r in conn.execute(
                    select(table).where(table.c.connection == connection, table.c.id.in_(chunk))
                )
            ]
        entities: list[dict[str, Any]] = []
        for row in rows:
            for meta in ("connection", "synced_at", "run_id"):
                row.pop(meta, None)
            row["archived"] = True
            if "archived_at" in table.c:
                row["archived_at"] = now
            entities.append(row)
        # The records' child rows (stage dates, a report's unsubscribes) stay as they are.
        normalized = Normalized(entities=entities)
        for rows_of, children in stored_children(
            engine, stream=stream, connection=connection, owner_ids=chunk
        ).items():
            setattr(normalized, rows_of, children)
        store_page(
            engine,
            connection=connection,
            source=source,
            stream=stream,
            normalized=normalized,
            records_read=0,
            checkpoint=state,
            run_id=run_id,
            now=now,
        )
        marked += len(entities)
    return marked
