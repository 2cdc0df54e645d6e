"""Local snapshots of CRM and email data: SQLite by default, PostgreSQL in production."""

from __future__ import annotations

from storage.db import UTCDateTime, make_engine, redact_url
from storage.repo import (
    PageInput,
    PageWrite,
    PreparedBatch,
    archived_ids,
    commit_pages,
    finish_run,
    get_run,
    get_state,
    has_quarantine,
    interrupt_stale_runs,
    prepare_pages,
    recent_runs,
    row_counts,
    start_run,
    store_page,
    store_pages,
    upsert,
)
from storage.schema import SchemaError, migrate, require_current

__all__ = [
    "PageInput",
    "PageWrite",
    "PreparedBatch",
    "SchemaError",
    "UTCDateTime",
    "archived_ids",
    "commit_pages",
    "finish_run",
    "get_run",
    "get_state",
    "has_quarantine",
    "interrupt_stale_runs",
    "make_engine",
    "migrate",
    "prepare_pages",
    "recent_runs",
    "redact_url",
    "require_current",
    "row_counts",
    "start_run",
    "store_page",
    "store_pages",
    "upsert",
]
