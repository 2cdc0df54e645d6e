"""`funnelsync serve`: the scheduler and the HTTP API in one process, stopped gracefully.

On SIGTERM or SIGINT the process stops taking jobs, asks every sync to stop (each commits the
pages in flight, so its checkpoint is where its data is, and closes its runs as
`interrupted`), stops the HTTP server and exits within `service.shutdown_seconds` plus a
moment. A sync that cannot stop in time (a request stuck in a retry wait) has its runs closed
for it; the next start resumes from the checkpoints.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import FrameType

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, delete, update

from config import Settings
from connector.clock import Clock, SystemClock
from service.api import ServiceContext, guarded_app
from service.control import StopSignal
from service.exitcodes import EXIT_BIND
from service.jobs import Jobs
from service.scheduler import Scheduler
from storage import make_engine, require_current
from storage.db import table_of
from storage.leases import process_prefix
from storage.models import SyncLease, SyncRun
from storage.runs import ACTIVE, cancel_queued, interrupt_orphaned_queue

log = logging.getLogger("funnelsync.serve")

SHUTDOWN_REASON = "the service shut down before the sync finished (it resumes from its checkpoint)"
QUEUED_REASON = "the service shut down before the queued sync started (ask again with a resync)"


class _Server(uvicorn.Server):
    """uvicorn's server, whose signal handling also stops the syncs and exits normally
    (uvicorn re-raises the signal after shutting down, which would end the process with it)."""

    def __init__(self, config: uvicorn.Config, shutdown: StopSignal) -> None:
        super().__init__(config)
        self.shutdown_signal = shutdown

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(sig).name)
        self.shutdown_signal.set("interrupted", SHUTDOWN_REASON)
        self.should_exit = True


def stop_jobs(scheduler: Scheduler, engine: Engine) -> int:
    """Let the running jobs end, then close this process's queued runs that never started as
    cancelled (another replica must not take them for active). Returns how many it closed."""
    scheduler.shutdown(wait=True)
    cancelled = cancel_queued(
        engine, holder_prefix=process_prefix(), now=datetime.now(UTC), reason=QUEUED_REASON
    )
    if cancelled:
        log.info("closed %d queued run(s) that had not started as cancelled", cancelled)
    return cancelled


def _close_own_runs(engine: Engine, now: datetime) -> int:
    """Close the runs and leases this process still holds (its syncs did not stop in time): the
    queued ones as cancelled, the others as interrupted."""
    prefix = process_prefix()
    cancel_queued(engine, holder_prefix=prefix, now=now, reason=QUEUED_REASON)
    runs, leases = table_of(SyncRun), table_of(SyncLease)
    with engine.begin() as conn:
        closed = conn.execute(
            update(runs)
            .where(runs.c.holder.startswith(prefix), runs.c.status.in_(ACTIVE))
            .values(status="interrupted", finished_at=now, error=SHUTDOWN_REASON)
        ).rowcount
        conn.execute(delete(leases).where(leases.c.holder.startswith(prefix)))
    return int(closed)


def build_service(settings: Settings, engine: Engine, *, clock: Clock | None = None) -> ServiceContext:
    """Jobs, scheduler and context of one service process (the scheduler is not started)."""
    clock = clock or SystemClock()
    jobs = Jobs(settings, engine, clock=clock, shutdown=StopSignal())
    return ServiceContext(settings=settings, jobs=jobs, scheduler=Scheduler(jobs), started_at=clock.now())


def _listened(server: _Server, host: str, port: int) -> bool:
    """Run the server to its end; False when it could not listen (the port is taken, or the
    address is not this host's: uvicorn exits with its startup-failure code)."""
    try:
        server.run()
    except SystemExit:
        if server.started:
            raise
        log.error("could not listen on %s:%s (in use, or not an address of this host)", host, port)
        return False
    return True


def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code. Refuses a schema that is not current."""
    engine = make_engine(settings.db_url)
    try:
        require_current(engine)
        orphans = interrupt_orphaned_queue(engine, now=datetime.now(UTC))
        if orphans:
            log.info("closed %d queued run(s) of a process that is gone", orphans)
        ctx = build_service(settings, engine)
        scheduler = ctx.scheduler
        assert scheduler is not None
        service = settings.service
        stopped = threading.Event()

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            scheduler.start()
            log.info(
                "serving on %s (connections: %s)",
                service.service_url(),
                ", ".join(settings.connection_names()),
            )
            yield
            ctx.jobs.shutdown.set("interrupted", SHUTDOWN_REASON)

            def wait_for_jobs() -> None:
                stop_jobs(scheduler, engine)
                stopped.set()

            waiter = threading.Thread(target=wait_for_jobs, daemon=True)
            waiter.start()
            waiter.join(timeout=service.shutdown_seconds)

        guard = guarded_app(ctx)
        app = guard.app
        assert isinstance(app, FastAPI)
        app.router.lifespan_context = lifespan
        config = uvicorn.Config(
            guard,
            host=service.host,
            port=service.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
            lifespan="on",
        )
        server = _Server(config, ctx.jobs.shutdown)
        if not _listened(server, service.host, service.port):
            return EXIT_BIND
        if not stopped.is_set():
            closed = _close_own_runs(engine, datetime.now(UTC))
            log.warning("%d run(s) did not stop in time and were closed as interrupted", closed)
            engine.dispose()
            logging.shutdown()
            # Job threads still waiting on the network would hold the interpreter open.
            os._exit(0)
        return 0 if server.started else 1
    finally:
        engine.dispose()
