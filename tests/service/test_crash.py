"""kill -9 at random points of a large sync, several times, then a restart that finishes: the
database equals an uninterrupted sync of the same data, and the exports are whole (SQLite and
PostgreSQL, real processes against a real sandbox)."""

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

from sqlalchemy import select

from storage import make_engine, migrate
from storage.db import table_of
from storage.models import SyncRun
from tests.conftest import RUN_TABLES, WRITE_COLUMNS, dump_tables, fresh_database

KILLS = 3


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
    )
    return env


def test_kill_9_at_random_points_then_resume_equals_an_uninterrupted_sync(
    request, make_sandbox, dialect, db_url, tmp_path
):
    sandbox = make_sandbox(contacts=4_000, seed=23, malformed=3)
    rng = random.Random(2026)
    engine = make_engine(db_url)
    migrate(engine)
    env = sync_env(tmp_path, db_url, sandbox, "crashed")
    # Where the kills land: spread over the run (fetching, committing, computing KPIs, exporting).
    killed_at: list[float] = []
    for _ in range(KILLS):
        process = start_sync(env)
        delay = rng.uniform(0.8, 4.0)
        time.sleep(delay)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            killed_at.append(delay)
        process.wait()  # reaped: its pid is gone, so its leases are free at once
    assert killed_at, "every sync finished before its kill: make the portal larger"
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
    assert sum(len(rows) for rows in got.values()) > 5_000
    differing = [name for name in expected if got[name] != expected[name]]
    assert not differing, differing

    exports = tmp_path / "crashed" / "exports"
    manifest = json.loads((exports / "manifest.json").read_text())
    assert not [p.name for p in exports.iterdir() if p.name.startswith(".")]  # no temp file left
    for entry in manifest["files"]:
        assert hashlib.sha256((exports / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
