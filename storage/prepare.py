"""The Python half of storing pages: a sync converts each fetched page for the driver
(`prepare_pages`) while another process may commit the previous ones (storage.write)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.records import Issue, Normalized
from storage.db import table_of
from storage.history import (
    Observation,
    observe,
)
from storage.layout import ADDITIONS, CHILD_TABLES, OBSERVED, Scope
from storage.models import (
    ENTITY_TABLES,
)
from storage.sql import (
    Rows,
    bind_rows,
    row_plan,
)


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
    observed = OBSERVED.get(stream)
    stamp = row_plan(dialect, model, ()).stamp
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
            for spec in CHILD_TABLES.get(stream, ())
        )
        additions = tuple(
            bind_rows(dialect, target, getattr(normalized, rows_of), owner_meta)
            for target, rows_of in ADDITIONS.get(stream, ())
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


def _absorbed_ids(row: dict[str, Any]) -> list[str]:
    """The ids a record says it absorbed (`hs_merged_object_ids`, `;`-separated)."""
    text = row.get("merged_object_ids")
    if not text:
        return []
    return [i.strip() for i in str(text).split(";") if i.strip() and i.strip() != row["id"]]
