"""Sync bookkeeping: checkpoints, runs, leases and the quarantine."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from storage.db import JSONType, UTCDateTime


class SyncState(SQLModel, table=True):
    """The checkpoint of one stream, written in the same transaction as the page it follows."""

    __tablename__ = "sync_state"

    connection: str = Field(primary_key=True, max_length=100)
    source: str = Field(primary_key=True, max_length=40)
    stream: str = Field(primary_key=True, max_length=60)
    state: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class SyncRun(SQLModel, table=True):
    """One stream's sync in one run: what it did and how it ended."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_stream", "connection", "source", "stream", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    connection: str = Field(max_length=100)
    source: str = Field(max_length=40)
    stream: str = Field(max_length=60)
    mode: str = Field(max_length=20)  # full | incremental
    trigger: str = Field(max_length=20)  # cli | schedule | admin | demo
    # queued | running | cancelling | succeeded | failed | deferred | skipped | interrupted |
    # cancelled | missed (see storage/runs.py)
    status: str = Field(default="running", max_length=20)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    pages: int = 0
    records_read: int = 0
    # What the run expects to read (the API's count, or the last such run's): progress and ETA.
    records_expected: int | None = None
    records_written: int = 0
    records_rejected: int = 0
    fields_quarantined: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    error: str | None = None
    # host:pid:random of the process that queued or runs it (see storage/leases.py).
    holder: str | None = Field(default=None, max_length=200)


class SyncLease(SQLModel, table=True):
    """Who is syncing a stream right now: one row per (connection, source, stream), taken with
    an expiry and renewed while the sync runs, so two processes on one database never sync the
    same stream at once and a crashed holder's lease runs out."""

    __tablename__ = "sync_leases"

    connection: str = Field(primary_key=True, max_length=100)
    source: str = Field(primary_key=True, max_length=40)
    stream: str = Field(primary_key=True, max_length=60)
    holder: str = Field(max_length=200)  # host:pid:random of the process holding it
    run_id: int | None = None
    acquired_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class Quarantine(SQLModel, table=True):
    """A value (or whole record, field "*") that could not be parsed, with the reason.

    Keyed by record and field so re-syncing the same bad data changes nothing; cleared when the
    record comes back clean.
    """

    __tablename__ = "quarantine"

    connection: str = Field(primary_key=True, max_length=100)
    source: str = Field(primary_key=True, max_length=40)
    stream: str = Field(primary_key=True, max_length=60)
    record_id: str = Field(primary_key=True, max_length=60)
    field: str = Field(primary_key=True, max_length=200)
    raw_value: str | None = None
    reason: str
    run_id: int | None = None
    detected_at: datetime = Field(sa_type=UTCDateTime)
