"""Two funnelsync processes on one database never sync the same stream at the same time: the
second reports "already running" and moves on (real processes, real sandbox, SQLite and PostgreSQL)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from service.jobs import Jobs
from storage.db import table_of
from storage.models import SyncRun
from storage.runs import finish_run, start_run
from tests.service.procs import funnelsync, process_env

# Real processes or many syncs: left out of the quick tier (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow


def test_a_second_process_skips_streams_the_first_is_syncing(make_sandbox, engine, db_url, tmp_path):
    sandbox = make_sandbox(contacts=600)
    env = process_env(tmp_path, db_url, sandbox)
    # The portal holds the first sync's second page of each stream until the second process is done.
    sandbox.faults(
        *(
            {"kind": "hold", "skip": 1, "path_prefix": f"/crm/objects/2026-09/{t}", "method": "GET"}
            for t in ("contacts", "deals")
        )
    )
    first = funnelsync(env, "sync", "-s", "contacts", "-s", "deals")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sandbox.stats().get("fault:hold", 0) < 2:
        assert first.poll() is None, first.communicate()[0]
        time.sleep(0.05)
    assert _running(engine), "the first sync is not running"
    second = funnelsync(env, "sync", "-s", "contacts", "-s", "deals")
    second_out, _ = second.communicate(timeout=120)
    sandbox.admin("POST", "/_sandbox/release")
    first_out, _ = first.communicate(timeout=300)
    assert first.returncode == 0, first_out
    assert second.returncode == 6, second_out
    assert "already running" in second_out and "skipped" in second_out
    with engine.connect() as conn:
        runs = table_of(SyncRun)
        rows = conn.execute(select(runs).order_by(runs.c.id)).all()
    worked = {r.stream: r for r in rows if r.status == "succeeded"}
    skipped = {r.stream: r for r in rows if r.status == "skipped"}
    assert sorted(worked) == sorted(skipped) == ["contacts", "deals"] and len(rows) == 4
    for stream, row in skipped.items():
        assert f"(run {worked[stream].id}) holds {stream}" in row.error  # who held it, and which run
    # The lease is gone with its holder: the next process syncs.
    third = funnelsync(env, "sync", "--stream", "contacts")
    out, _ = third.communicate(timeout=120)
    assert third.returncode == 0, out


def _running(engine) -> bool:
    runs = table_of(SyncRun)
    with engine.connect() as conn:
        return conn.execute(select(runs.c.id).where(runs.c.status == "running")).first() is not None


def test_replicas_leave_out_streams_another_synced_within_the_interval(
    sandbox, make_settings, engine, db_url, clock
):
    """Every replica schedules every connection: a scheduled sync leaves out the streams another
    replica synced within the interval (30 minutes, less a tenth and the jitter), so the work is
    shared, not done once per replica; an admin's resync always syncs."""
    settings = make_settings(db_url)
    first, second = Jobs(settings, engine, clock=clock), Jobs(settings, engine, clock=clock)
    done = first.sync("default", trigger="schedule")
    assert done.succeeded and done.kpi_run_id is not None
    synced = {o.stream for o in done.outcomes if o.status == "succeeded"}
    assert {"contacts", "companies", "deals"} <= synced
    before = _run_count(engine)

    clock.sleep(10 * 60)  # the second replica's turn comes 10 minutes later: nothing to do
    idle = second.sync("default", trigger="schedule")
    assert idle.outcomes == [] and idle.kpi_run_id is None and _run_count(engine) == before

    # A stream whose latest run failed (or was interrupted) is not fresh: it is retried at once.
    now = clock.now()
    failed = start_run(
        engine, connection="default", source="hubspot", stream="owners", mode="incremental",
        trigger="admin", now=now,
    )  # fmt: skip
    finish_run(engine, run_id=failed, status="failed", now=now, error="HTTP 502")
    retried = second.sync("default", trigger="schedule")
    assert [(o.stream, o.status) for o in retried.outcomes] == [("owners", "succeeded")]

    clock.sleep(20 * 60)  # 30 minutes after the first sync: the streams are due again (owners,
    # synced 20 minutes ago, is not)
    again = second.sync("default", trigger="schedule")
    assert {o.stream for o in again.outcomes if o.status == "succeeded"} == synced - {"owners"}
    assert again.kpi_run_id is not None

    asked = first.sync("default", trigger="admin", streams=["contacts"])  # an admin's resync
    assert [o.status for o in asked.outcomes] == ["succeeded"]


def _run_count(engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(table_of(SyncRun).c.id)).all())
