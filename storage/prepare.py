"""The Python half of storing pages: a sync converts each fetched page for the driver
(`prepare_pages`) while another process may commit the previous ones (storage.write)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import SQLModel

from connector.records import Issue, Normalized
from storage.db import table_of
from storage.history import (
    Observation,
    first_versions,
    observe,
)
from storage.layout import ADDITIONS, CHILD_TABLES, OBSERVED, Scope
from storage.models import (
    ENTITY_TABLES,
)
from storage.sql import (
    Rows,
    RowValues,
    bind_rows,
    bind_values,
    row_plan,
)


@dataclass(frozen=True)
class PageWrite:
    """What one stored page counted."""

    read: int
    written: int
    rejected: int
    quarantined: int
    # Written by the first-load path (storage.bulk) rather than the ordinary one.
    bulk: bool = False


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
    rows: Rows | RowValues
    scope: Scope | None = None


@dataclass(frozen=True)
class PreparedPage:
    """A page converted for the driver, with what its commit needs besides the rows."""

    entities: Rows | RowValues
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
    # With a bulk batch: the records' first versions, bound (storage.bulk.first_versions).
    first_versions: RowValues | None = None


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
    # The records are expected to be new: try the first-load path (storage.bulk) first.
    bulk: bool = False


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
    bulk: bool = False,
) -> PreparedBatch:
    """Convert pages for `dialect` without touching the database (see `Rows`).

    `quarantine_empty`: the caller knows the stream has no quarantine rows, so a clean page has
    none to clear (saves a lookup per page on large syncs). `bulk`: the caller expects the
    records to be new (a first load), so their first versions are planned here, off the writer.
    """
    plan = _PagePlan(dialect, stream, connection, run_id, now, bulk=bulk)
    return PreparedBatch(
        connection=connection,
        source=source,
        stream=stream,
        run_id=run_id,
        now=now,
        request_delta=dict(request_delta or {}),
        quarantine_empty=quarantine_empty,
        pages=[plan.prepare(page) for page in pages],
        bulk=bulk,
    )


class _PagePlan:
    """How every page of one stream's batch is converted."""

    def __init__(
        self, dialect: str, stream: str, connection: str, run_id: int, now: datetime, *, bulk: bool
    ) -> None:
        self.dialect = dialect
        self.connection = connection
        self.run_id = run_id
        self.bulk = bulk
        self.stream = stream
        self.now = now
        self.model = ENTITY_TABLES[stream]
        self.meta = {"connection": connection, "synced_at": now, "run_id": run_id}
        self.owner_meta = {"connection": connection}
        self.observed = OBSERVED.get(stream)
        self.stamp = row_plan(dialect, self.model, ()).stamp
        self.tracks_deletes = "deleted_seen_at" in table_of(self.model).c
        # Timestamps converted for the driver, shared by the batch's tables (see `bind_rows`).
        self.memo: dict[Any, Any] = {}

    def prepare(self, page: PageInput) -> PreparedPage:
        normalized = page.normalized
        if self.tracks_deletes:
            # Written only when the row changes, so it keeps the time the archived version first came.
            for row in normalized.entities:
                row["deleted_seen_at"] = self.now if row.get("archived") else None
        versions = observe(self.stream, normalized.entities)
        return PreparedPage(
            versions=versions,
            first_versions=self._first_versions(versions),
            additions=self._additions(normalized),
            entities=self._bind(self.model, normalized.entities, self.meta),
            children=self._children(normalized),
            merges=[(row["id"], ids) for row in normalized.entities if (ids := _absorbed_ids(row))],
            observations=self._observations(normalized),
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

    def _bind(
        self, model: type[SQLModel], rows: list[dict[str, Any]], extra: dict[str, Any]
    ) -> Rows | RowValues:
        """Rows bound for the driver: positional for a bulk batch's inserts (storage.bulk)."""
        if self.bulk:
            return bind_values(self.dialect, model, rows, extra, memo=self.memo)
        return bind_rows(self.dialect, model, rows, extra, memo=self.memo)

    def _first_versions(self, versions: list[Observation]) -> RowValues | None:
        if not self.bulk:
            return None
        return first_versions(
            self.dialect,
            self.stream,
            versions,
            connection=self.connection,
            run_id=self.run_id,
            now=self.now,
            memo=self.memo,
        )

    def _observations(self, normalized: Normalized) -> list[tuple[str, str | None, Any]]:
        if self.observed is None:
            return []
        column, stamp, now = self.observed.stage_column, self.stamp, self.now
        return [
            (row["id"], row.get(column), stamp(row.get("lastmodifieddate") or now))
            for row in normalized.entities
        ]

    def _children(self, normalized: Normalized) -> tuple[Children, ...]:
        return tuple(
            Children(
                spec.owner_column,
                list(getattr(normalized, spec.owners_of)),
                self._bind(spec.model, getattr(normalized, spec.rows_of), self.owner_meta),
                spec.scope,
            )
            for spec in CHILD_TABLES.get(self.stream, ())
        )

    def _additions(self, normalized: Normalized) -> tuple[Rows, ...]:
        return tuple(
            bind_rows(self.dialect, target, getattr(normalized, rows_of), self.owner_meta, memo=self.memo)
            for target, rows_of in ADDITIONS.get(self.stream, ())
            if getattr(normalized, rows_of)
        )


def _absorbed_ids(row: dict[str, Any]) -> list[str]:
    """The ids a record says it absorbed (`hs_merged_object_ids`, `;`-separated)."""
    text = row.get("merged_object_ids")
    if not text:
        return []
    return [i.strip() for i in str(text).split(";") if i.strip() and i.strip() != row["id"]]
