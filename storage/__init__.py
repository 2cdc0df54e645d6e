"""Local snapshots of CRM and email data: SQLite by default, PostgreSQL in production."""

from __future__ import annotations

from storage.db import UTCDateTime, make_engine, redact_url
from storage.repo import (
    PageWrite,
    finish_run,
    get_run,
    get_state,
    has_quarantine,
    init_db,
    recent_runs,
    row_counts,
    start_run,
    store_page,
    upsert,
)

__all__ = [
    "PageWrite",
    "UTCDateTime",
    "finish_run",
    "get_run",
    "get_state",
    "has_quarantine",
    "init_db",
    "make_engine",
    "recent_runs",
    "redact_url",
    "row_counts",
    "start_run",
    "store_page",
    "upsert",
]
