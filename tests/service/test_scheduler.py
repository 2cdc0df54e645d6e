"""The service's scheduler: jobs with fixed ids from the settings, and job errors and missed
starts written to the runs table."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config import load_settings
from service.jobs import Jobs
from service.scheduler import Scheduler
from storage.runs import recent_runs


def build(engine, tmp_path, **service):
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=engine.url.render_as_string(hide_password=False),
        connections={
            "north": {"hubspot": {"token": "north-token-1"}},
            "south": {"hubspot": {"token": "south-2"}},
        },
        service=service,
    )
    return Scheduler(Jobs(settings, engine))


@pytest.mark.parametrize(
    ("service", "sync_trigger", "reconcile"),
    [
        ({}, IntervalTrigger, True),
        ({"sync_cron": "*/15 7-19 * * 1-5"}, CronTrigger, True),
        ({"sync_interval_minutes": 0, "reconcile_cron": ""}, None, False),
    ],
)
@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_jobs_have_fixed_ids_from_the_settings(engine, tmp_path, service, sync_trigger, reconcile):
    scheduler = build(engine, tmp_path, **service)
    scheduler.scheduler.start(paused=True)  # job defaults apply when jobs are added to a started scheduler
    try:
        jobs = {job.id: job for job in scheduler.scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    expected = set()
    if sync_trigger is not None:
        expected |= {"sync:north", "sync:south"}
    if reconcile:
        expected |= {"reconcile:north", "reconcile:south"}
    assert set(jobs) == expected
    for job in jobs.values():
        assert job.coalesce and job.max_instances == 1 and job.misfire_grace_time == 900
        if job.id.startswith("sync:"):
            assert isinstance(job.trigger, sync_trigger)
            assert job.trigger.jitter == 60
        else:
            assert isinstance(job.trigger, CronTrigger)


def test_a_failing_job_is_logged_and_written_to_the_runs(engine, tmp_path):
    # No credentials for this connection: the job raises, the listener records it.
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=engine.url.render_as_string(hide_password=False),
        connections={"empty": {}},
        service={"reconcile_cron": "", "jitter_seconds": 0},
    )
    scheduler = Scheduler(Jobs(settings, engine))
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        # The listener writes the row, then closes it: wait for the closed one.
        while time.monotonic() < deadline:
            runs = [r for r in recent_runs(engine, connection="empty") if r.finished_at is not None]
            if runs:
                break
            time.sleep(0.1)
    finally:
        scheduler.shutdown(wait=True)
    (run,) = runs
    assert (run.source, run.stream, run.status, run.trigger) == ("scheduler", "sync", "failed", "schedule")
    error = run.error or ""
    assert "ConfigurationError" in error and "FUNNELSYNC_CONNECTIONS__EMPTY__HUBSPOT__TOKEN" in error


@pytest.mark.parametrize(
    ("code", "status", "needle"),
    [(EVENT_JOB_MISSED, "missed", "missed its start"), (EVENT_JOB_MAX_INSTANCES, "skipped", "still going")],
)
@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_missed_and_overlapping_starts_are_written_to_the_runs(engine, tmp_path, code, status, needle):
    scheduler = build(engine, tmp_path)
    event = JobEvent(code, "reconcile:south", "default")
    event.scheduled_run_time = datetime(2026, 1, 4, 3, 0, tzinfo=UTC)
    scheduler._on_event(event)
    (run,) = recent_runs(engine)
    assert (run.connection, run.stream, run.mode, run.status) == ("south", "reconcile", "full", status)
    assert needle in (run.error or "") and run.finished_at is not None
