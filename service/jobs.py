"""What the service runs: a connection's sync (every source it has credentials for), then its
KPIs and exports. The scheduler, the admin API and `funnelsync resync --local` all come here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine

from config import ConfigurationError, Settings
from connector.clock import Clock, SystemClock
from connector.sources import SOURCES
from service.control import StopSignal
from service.kpis import run_kpis
from service.runbook import StreamOutcome, refreshes_kpis
from service.sync import build_sync
from storage import get_state
from storage.leases import this_holder
from storage.reconcile import Census, mark_deleted, missing_ids
from storage.runs import active_runs, finish_run, fresh_starts, start_run

log = logging.getLogger("funnelsync.service")


def source_of(stream: str) -> str:
    """The source a stream belongs to (HubSpot for a name no source has: its error names the
    streams there are)."""
    return next((name for name, s in SOURCES.items() if stream in s.stream_names()), "hubspot")


def sources_for(settings: Settings, source: str | None, streams: Sequence[str] | None) -> list[str]:
    """Which sources a sync runs: the chosen one; those the streams belong to; else every source
    with credentials (HubSpot when none has: its error names what to set)."""
    if source is not None:
        return [source]
    if streams:
        return [s for s in SOURCES if any(source_of(name) == s for name in streams)]
    return [s for s in SOURCES if settings.has_source(s)] or ["hubspot"]


class AlreadyRunning(Exception):
    """A selected stream is queued or syncing already (in this process or another)."""

    def __init__(self, connection: str, stream: str, run_id: int) -> None:
        super().__init__(f"{connection}/{stream} is already running (run {run_id})")
        self.connection = connection
        self.stream = stream
        self.run_id = run_id


@dataclass
class SyncResult:
    """One connection's sync: its stream outcomes and the KPI computation that followed."""

    connection: str
    outcomes: list[StreamOutcome] = field(default_factory=list)
    kpi_run_id: int | None = None

    @property
    def succeeded(self) -> bool:
        """Every stream read completely (unavailable optional data and metadata do not count)."""
        return bool(self.outcomes) and all(
            o.status == "succeeded" or (o.status == "unavailable" and o.degradable) for o in self.outcomes
        )


class Jobs:
    """Runs syncs for the service; one per process, holding the shutdown signal every sync watches."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Clock | None = None,
        shutdown: StopSignal | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock or SystemClock()
        self.shutdown = shutdown or StopSignal()
        self.holder = this_holder()
        self._queue_lock = threading.Lock()

    def connection(self, name: str | None) -> Settings:
        return self.settings.for_connection(name)

    def check_streams(self, settings: Settings, streams: Sequence[str] | None) -> list[str]:
        """The streams a sync of `settings`' connection covers: `streams` when all are known to a
        source with credentials, else every stream of those sources. Raises ConfigurationError."""
        sources = [s for s in SOURCES if settings.has_source(s)]
        if not sources:
            raise ConfigurationError(f"connection {settings.connection!r} has no credentials configured")
        known = [name for s in sources for name in SOURCES[s].stream_names()]
        if not streams:
            return known
        unknown = [s for s in streams if s not in known]
        if unknown:
            raise ConfigurationError(
                f"unknown stream(s) {', '.join(unknown)} for connection {settings.connection!r}; "
                f"choose from {', '.join(known)}"
            )
        return list(dict.fromkeys(streams))

    def queue(
        self, connection: str, streams: Sequence[str] | None, *, full: bool, trigger: str
    ) -> dict[str, int]:
        """Run rows (status `queued`) for a sync about to be scheduled, stream → run id; raises
        AlreadyRunning when one of the streams is queued or syncing already."""
        settings = self.connection(connection)
        selected = self.check_streams(settings, streams)
        now = self.clock.now()
        ttl = timedelta(seconds=self.settings.lease_seconds)
        with self._queue_lock:
            for source in SOURCES:
                mine = [s for s in selected if source_of(s) == source]
                if not mine:
                    continue
                busy = active_runs(
                    self.engine, connection=settings.connection, source=source, streams=mine, now=now, ttl=ttl
                )
                if busy:
                    stream, run_id = next(iter(busy.items()))
                    raise AlreadyRunning(settings.connection, stream, run_id)
            queued: dict[str, int] = {}
            for stream in selected:
                source = source_of(stream)
                state = get_state(self.engine, connection=settings.connection, source=source, stream=stream)
                queued[stream] = start_run(
                    self.engine,
                    connection=settings.connection,
                    source=source,
                    stream=stream,
                    mode=SOURCES[source].stream_type(stream).mode(state, full=full),
                    trigger=trigger,
                    now=now,
                    status="queued",
                    holder=self.holder,
                )
        return queued

    def sync(
        self,
        connection: str,
        *,
        streams: Sequence[str] | None = None,
        full: bool = False,
        trigger: str = "schedule",
        queued: dict[str, int] | None = None,
        census: Census | None = None,
    ) -> SyncResult:
        """Sync one connection (each source in turn), then compute and export its KPIs when any
        stream brought fresh data (families whose inputs did not are kept, marked stale). Stops
        early, keeping what was committed, on shutdown or after `service.sync_timeout_minutes`.
        With a `census`, records gone from the vendor's complete listings are marked deleted
        before the KPIs are computed."""
        settings = self.connection(connection)
        result = SyncResult(settings.connection)
        stop = StopSignal(
            parent=self.shutdown, timeout_seconds=self.settings.service.sync_timeout_minutes * 60
        )
        wanted = list(queued) if queued else list(streams or [])
        fresh = self._fresh(settings) if trigger == "schedule" and not full and not wanted else set()
        for source in sources_for(settings, None, wanted or None):
            mine = [s for s in wanted if source_of(s) == source] or None
            runner = build_sync(source, settings, self.engine, clock=self.clock, stop=stop, census=census)
            if fresh:
                stale: list[str] = [s for s in runner.stream_names if s not in fresh]
                if not stale:
                    continue
                mine = stale
            result.outcomes += runner.run(
                streams=mine,
                full=full,
                trigger=trigger,
                queued={s: queued[s] for s in mine or []} if queued else None,
            )
            if stop.check() is not None:
                break
        self._log(result)
        if census is not None and result.succeeded:
            result.outcomes += self._mark_deleted(settings, census, trigger)
        if refreshes_kpis(result.outcomes):
            report = run_kpis(
                settings,
                self.engine,
                trigger=trigger,
                clock=self.clock,
                sync_run_ids=[o.run_id for o in result.outcomes],
            )
            result.kpi_run_id = report.run_id
        return result

    def _fresh(self, settings: Settings) -> set[str]:
        """Streams whose latest sync succeeded and started less than the scheduling interval (less
        a tenth and the jitter) ago, by this process or another replica: a scheduled sync leaves
        them out, so replicas that all schedule every connection share the work instead of each
        syncing it once per interval (docs/operations.md, "Several processes"). None with a
        cron schedule, whose period is not one number."""
        service = self.settings.service
        if service.sync_cron or not service.sync_interval_minutes:
            return set()
        window = service.sync_interval_minutes * 60 * 0.9 - service.jitter_seconds
        if window <= 0:
            return set()
        now = self.clock.now()
        starts = fresh_starts(self.engine, connection=settings.connection)
        fresh = {stream for (_, stream), at in starts.items() if (now - at).total_seconds() < window}
        if fresh:
            log.info(
                "%s: %d stream(s) synced less than %.0f s ago are left out of this scheduled sync",
                settings.connection,
                len(fresh),
                window,
            )
        return fresh

    def reconcile(self, connection: str) -> SyncResult:
        """The periodic full reconcile: everything listed again, records the vendor no longer
        has marked deleted (see storage/reconcile.py), then KPIs and exports."""
        return self.sync(connection, full=True, trigger="reconcile", census=Census())

    def _mark_deleted(self, settings: Settings, census: Census, trigger: str) -> list[StreamOutcome]:
        outcomes = []
        for stream in sorted(census.complete):
            source = source_of(stream)
            conn = settings.connection
            missing = missing_ids(self.engine, connection=conn, stream=stream, census=census)
            if not missing:
                continue
            if not len(census.seen(stream)):
                # An empty listing against stored records is more likely an API or account
                # mix-up than every record deleted: nothing is marked.
                log.warning(
                    "reconcile %s: the listing returned nothing, %d stored records left as they are",
                    stream,
                    len(missing),
                    extra={"connection": conn, "stream": stream},
                )
                continue
            now = self.clock.now()
            run_id = start_run(
                self.engine,
                connection=conn,
                source=source,
                stream=stream,
                mode="reconcile",
                trigger=trigger,
                now=now,
                holder=self.holder,
            )
            marked = mark_deleted(
                self.engine,
                connection=conn,
                source=source,
                stream=stream,
                ids=missing,
                run_id=run_id,
                now=now,
            )
            finish_run(self.engine, run_id=run_id, status="succeeded", now=self.clock.now())
            log.info(
                "reconcile %s: %d record(s) gone from the vendor marked deleted",
                stream,
                marked,
                extra={"run_id": run_id, "connection": conn, "stream": stream},
            )
            outcomes.append(StreamOutcome(stream, run_id, "reconcile", "succeeded", written=marked))
        return outcomes

    def _log(self, result: SyncResult) -> None:
        for o in result.outcomes:
            level = logging.INFO if o.status == "succeeded" else logging.WARNING
            log.log(
                level,
                "%s %s: %s, %d records read, %d written%s",
                o.stream,
                o.mode,
                o.status,
                o.read,
                o.written,
                f" ({o.error})" if o.error else "",
                extra={"run_id": o.run_id, "connection": result.connection, "stream": o.stream},
            )
