"""Local snapshots of CRM and email data: SQLite by default, PostgreSQL in production."""

from __future__ import annotations

from storage.db import UTCDateTime, describe_error, make_engine, redact_url
from storage.prepare import PageInput, PageWrite, PreparedBatch, prepare_pages
from storage.runs import finish_run, get_run, interrupt_stale_runs, recent_runs, start_run
from storage.schema import SchemaError, migrate, require_current
from storage.sql import upsert
from storage.state import archived_ids, get_state, has_quarantine, row_counts
from storage.write import commit_pages, store_page, store_pages

__all__ = [
    "PageInput",
    "PageWrite",
    "PreparedBatch",
    "SchemaError",
    "UTCDateTime",
    "archived_ids",
    "commit_pages",
    "describe_error",
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
