"""The service's APScheduler: jobs with fixed ids registered at start, one-off admin resyncs,
and a listener that writes job errors and missed runs into the runs table."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from service.jobs import Jobs
from service.logging import redact
from storage.runs import finish_run, start_run

log = logging.getLogger("funnelsync.scheduler")

SCHEDULER_SOURCE = "scheduler"


def sync_job_id(connection: str) -> str:
    return f"sync:{connection}"


def reconcile_job_id(connection: str) -> str:
    return f"reconcile:{connection}"


class Scheduler:
    """One BackgroundScheduler per process. Every job runs `Jobs`; overlapping runs of one job
    coalesce (max_instances=1), and the leases keep replicas from syncing a stream twice."""

    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs
        service = jobs.settings.service
        connections = jobs.settings.connection_names()
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            executors={"default": ThreadPoolExecutor(max_workers=2 * len(connections) + 2)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": service.misfire_grace_seconds,
            },
        )
        self.scheduler.add_listener(
            self._on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        )
        self._register(connections)

    def _register(self, connections: Sequence[str]) -> None:
        service = self.jobs.settings.service
        now = self.jobs.clock.now()
        jitter = service.jitter_seconds or None
        for name in connections:
            trigger: CronTrigger | IntervalTrigger | None = None
            if service.sync_cron:
                trigger = CronTrigger.from_crontab(service.sync_cron, timezone="UTC")
                trigger.jitter = jitter
            elif service.sync_interval_minutes:
                trigger = IntervalTrigger(
                    minutes=service.sync_interval_minutes, timezone="UTC", jitter=jitter
                )
            if trigger is not None:
                self.scheduler.add_job(
                    self.jobs.sync,
                    trigger,
                    id=sync_job_id(name),
                    name=f"incremental sync of {name}",
                    kwargs={"connection": name, "trigger": "schedule"},
                    # The first sync at start (spread by a second per connection).
                    next_run_time=now + timedelta(seconds=1 + connections.index(name))
                    if service.sync_on_start
                    else None,
                    replace_existing=True,
                )
            if service.reconcile_cron:
                cron = CronTrigger.from_crontab(service.reconcile_cron, timezone="UTC")
                cron.jitter = jitter
                self.scheduler.add_job(
                    self.jobs.reconcile,
                    cron,
                    id=reconcile_job_id(name),
                    name=f"full reconcile of {name}",
                    kwargs={"connection": name},
                    replace_existing=True,
                )

    def start(self) -> None:
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            log.info("job %s: next run %s", job.id, job.next_run_time)

    def submit(self, connection: str, queued: dict[str, int], *, full: bool, trigger: str) -> str:
        """Schedule a resync of queued runs to start now, in the scheduler's pool."""
        job_id = f"resync:{connection}:{min(queued.values())}"
        self.scheduler.add_job(
            self.jobs.sync,
            id=job_id,
            name=f"resync of {connection}",
            kwargs={"connection": connection, "full": full, "trigger": trigger, "queued": queued},
            next_run_time=self.jobs.clock.now(),
            misfire_grace_time=None,
        )
        return job_id

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self.scheduler.get_jobs()}

    def shutdown(self, *, wait: bool) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)

    def _on_event(self, event: JobExecutionEvent | JobSubmissionEvent) -> None:
        """Job errors, missed runs and runs skipped because the last is still going: logged and
        written as a closed run (source `scheduler`, stream = the job id) so they show in `runs`."""
        if event.code == EVENT_JOB_ERROR:
            assert isinstance(event, JobExecutionEvent)
            status = "failed"
            message = redact(
                f"{type(event.exception).__name__}: {event.exception}", self.jobs.settings.secret_values()
            )
        elif event.code == EVENT_JOB_MISSED:
            status, message = (
                "missed",
                f"missed its start at {event.scheduled_run_time:%Y-%m-%d %H:%M:%S} UTC",
            )
        else:
            status, message = "skipped", "its previous run was still going"
        job = event.job_id
        log.warning("job %s %s: %s", job, status, message)
        connection = job.split(":", 2)[1] if ":" in job else job
        try:
            now = self.jobs.clock.now()
            run_id = start_run(
                self.jobs.engine,
                connection=connection,
                source=SCHEDULER_SOURCE,
                stream=job.split(":", 1)[0],
                mode="full" if job.startswith("reconcile") else "incremental",
                trigger="schedule",
                now=now,
                holder=self.jobs.holder,
            )
            finish_run(self.jobs.engine, run_id=run_id, status=status, now=now, error=message[:2000])
        except Exception:  # the database may be what failed; the log line above stands
            log.exception("could not record job %s in the runs table", job)
