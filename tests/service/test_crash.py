"""kill -9 at random points of a large sync, several times, then a restart that finishes: the
database equals an uninterrupted sync of the same data, and the exports are whole (SQLite and
PostgreSQL, real processes against a real sandbox).

The kills land by the sync's own progress, not by the clock: after a random number of pages the
process committed, and once all its streams ended (computing KPIs, writing exports), so a fast or
a slow machine kills at the same points."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.hubspot.source import HubSpotSource
from storage import make_engine, migrate
from storage.db import table_of
from storage.models import SyncRun
from tests.conftest import RUN_TABLES, WRITE_COLUMNS, dump_tables, fresh_database

# Real processes or many syncs: left out of the quick tier (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow

# How many pages each killed process commits before its kill (None: until its streams end).
KILL_AFTER_PAGES = ((2, 8), (3, 12), None)
PROGRESS_DEADLINE = 120.0
STREAMS = len(HubSpotSource.stream_types)


def start_sync(env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Its own process group: the kill takes the writer process with it, as a container stop would.
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("funnelsync")), "sync"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def sync_env(tmp_path: Path, db_url: str, sandbox, name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELSYNC_")}
    env.update(
        FUNNELSYNC_DATABASE_URL=db_url,
        FUNNELSYNC_DATA_DIR=str(tmp_path / name),
        FUNNELSYNC_HUBSPOT__BASE_URL=sandbox.url,
        FUNNELSYNC_HUBSPOT__TOKEN=sandbox.token,
        FUNNELSYNC_STORAGE_WRITER="process",
        FUNNELSYNC_HUBSPOT__ANALYTICS_DAYS="90",
    )
    return env


def _runs_of(engine, pid: int) -> list[tuple[str, int]]:
    """(status, committed pages) of the runs the process `pid` holds or held."""
    runs = table_of(SyncRun)
    with engine.connect() as conn:
        found = conn.execute(
            select(runs.c.status, runs.c.pages).where(runs.c.holder.like(f"%:{pid}:%"))
        ).all()
    return [(str(status), int(pages)) for status, pages in found]


def wait_for_progress(engine, process: subprocess.Popen[bytes], pages: int | None) -> bool:
    """Wait until the process committed `pages` pages (None: until every stream's run ended);
    False when it exited first."""
    deadline = time.monotonic() + PROGRESS_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        runs = _runs_of(engine, process.pid)
        if pages is not None and sum(p for _, p in runs) >= pages:
            return True
        if pages is None and len(runs) >= STREAMS and all(s not in ("running", "queued") for s, _ in runs):
            return True
        time.sleep(0.02)
    raise AssertionError(f"the sync made no progress for {PROGRESS_DEADLINE:.0f} s")


def test_kill_9_at_random_points_then_resume_equals_an_uninterrupted_sync(
    request, make_sandbox, dialect, db_url, tmp_path
):
    sandbox = make_sandbox(contacts=1_500, seed=23, malformed=3)
    rng = random.Random(2026)
    engine = make_engine(db_url)
    migrate(engine)
    env = sync_env(tmp_path, db_url, sandbox, "crashed")
    # Where the kills land: spread over the run (fetching, committing, computing KPIs, exporting).
    killed = 0
    for bounds in KILL_AFTER_PAGES:
        process = start_sync(env)
        if wait_for_progress(engine, process, rng.randint(*bounds) if bounds else None):
            os.killpg(process.pid, signal.SIGKILL)
            killed += 1
        process.wait()  # reaped: its pid is gone, so its leases are free at once
    assert killed >= 2, "the syncs finished before their kills: make the portal larger"
    final = subprocess.run(
        [str(Path(sys.executable).with_name("funnelsync")), "sync"], env=env, capture_output=True, timeout=300
    )
    assert final.returncode == 0, final.stderr.decode()[-3000:]

    with fresh_database(request, dialect, tmp_path, name="reference.db") as reference_url:
        reference = make_engine(reference_url)
        migrate(reference)
        clean = subprocess.run(
            [str(Path(sys.executable).with_name("funnelsync")), "sync"],
            env=sync_env(tmp_path, reference_url, sandbox, "reference"),
            capture_output=True,
            timeout=300,
        )
        assert clean.returncode == 0, clean.stderr.decode()[-3000:]
        expected = dump_tables(reference, exclude=RUN_TABLES, skip_columns=WRITE_COLUMNS)
        reference.dispose()
    got = dump_tables(engine, exclude=RUN_TABLES, skip_columns=WRITE_COLUMNS)
    with engine.connect() as conn:
        statuses = Counter(s for (s,) in conn.execute(select(table_of(SyncRun).c.status)))
    engine.dispose()
    # Killed runs are closed as interrupted by the next process; none is left "running". (A kill
    # during start-up, before any run row, interrupts nothing.)
    assert statuses["interrupted"] >= 1 and not statuses["running"], statuses
    assert sum(len(rows) for rows in got.values()) > 3_000
    differing = [name for name in expected if got[name] != expected[name]]
    assert not differing, differing

    exports = tmp_path / "crashed" / "exports"
    manifest = json.loads((exports / "manifest.json").read_text())
    assert not [p.name for p in exports.iterdir() if p.name.startswith(".")]  # no temp file left
    for entry in manifest["files"]:
        assert hashlib.sha256((exports / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
