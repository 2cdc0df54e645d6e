"""The composition root of a sync: a source's streams → parsers → storage, one run row per stream.

Any source (connector/sources.py) runs the same way: its selected streams are leased, the run's
writer and client are opened, the streams are opened (a source may read something first), and
they run in groups (the parallel ones side by side). Nothing here knows a vendor or a stream by
name: each stream says its own mode and whether it is parallel or bulk.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Collection, Sequence
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine

from config import ConfigurationError, Settings
from connector.auth import TokenStore
from connector.clock import Clock, SystemClock
from connector.errors import AuthenticationError, ConnectorError, RateLimitDeferredError
from connector.source import Source, TokenStores
from connector.sources import SOURCES
from connector.stream import Stream
from service.control import Stop, StopSignal
from service.group import GroupContext, GroupRun, SyncProgress
from service.logging import add_secret_provider
from service.runbook import RunBook, StreamOutcome
from service.tokens import FileTokenStore
from service.writer import open_writer
from storage import archived_ids, get_state, interrupt_stale_runs, require_current
from storage.leases import leased
from storage.reconcile import Census
from storage.runs import cancel_requested, get_run, latest_runs

log = logging.getLogger("funnelsync.sync")

# How an unavailable stream's run row says it was not asked again (the reason comes first).
RESTING = " (unavailable: asked again after "


class UnknownStreamError(ValueError):
    """A stream name that the source does not have."""


class StorageView:
    """What a source may read of the local copy (connector.source.StoredView): stream states and
    archived ids."""

    def __init__(self, engine: Engine, *, connection: str, source: str) -> None:
        self.engine = engine
        self.connection = connection
        self.source = source

    def state(self, stream: str) -> dict[str, Any]:
        return get_state(self.engine, connection=self.connection, source=self.source, stream=stream)

    def archived_ids(self, stream: str) -> Collection[str]:
        return archived_ids(self.engine, connection=self.connection, stream=stream)


def token_files(settings: Settings) -> TokenStores:
    """OAuth tokens refreshed by a run survive in `<data_dir>/tokens/<source>-<connection>.json`,
    so the next run (or process) reuses them."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", settings.connection)

    def store(key: str, configured: SecretStr) -> TokenStore:
        return FileTokenStore(settings.data_dir / "tokens" / f"{key}-{safe}.json", configured)

    return store


class SourceSync:
    """Runs one source's streams into storage. Build one per run; it owns the run's client."""

    def __init__(
        self,
        source: type[Source[Any]],
        settings: Settings,
        engine: Engine,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        progress: SyncProgress | None = None,
        stop: StopSignal | None = None,
        census: Census | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.census = census
        self.clock = clock or SystemClock()
        self.progress = progress
        self.stop = stop
        self.connection = settings.connection
        self.source = source(
            settings,
            clock=self.clock,
            stored=StorageView(engine, connection=settings.connection, source=source.name),
            transport=transport,
            token_stores=token_files(settings),
        )
        self.book = RunBook(
            engine,
            connection=settings.connection,
            source=source.name,
            clock=self.clock,
            secrets=lambda: [*settings.secret_values(), *self.source.secrets()],
        )
        self._stopped: Stop | None = None
        self._polled = 0.0
        # Secrets the run learns (refreshed tokens, encoded credentials) are redacted from logs too.
        add_secret_provider(self.source.secrets)

    @property
    def stream_names(self) -> tuple[str, ...]:
        return self.source.stream_names()

    def mode(self, stream: str, state: dict[str, Any], full: bool) -> str:
        return self.source.stream_type(stream).mode(state, full=full)

    def run(
        self,
        *,
        streams: Sequence[str] | None = None,
        full: bool = False,
        trigger: str = "cli",
        queued: dict[str, int] | None = None,
    ) -> list[StreamOutcome]:
        """Sync the selected streams (all by default); failures are recorded, not raised, per stream.

        Each stream is leased first: one another process is syncing (on the same database) is
        skipped with an "already running" outcome and its run row, and the others go on.
        `queued`: run rows made when the sync was asked for (stream → run id), used instead of
        new ones; a stream whose queued run was cancelled meanwhile is left out.
        """
        if queued:
            self.book.queued = {s: i for s, i in queued.items() if _still_queued(self.engine, i)}
            if not self.book.queued:
                return []
            streams = list(self.book.queued)
        states = self._selected_states(streams)
        with leased(
            self.engine,
            connection=self.connection,
            source=self.source.name,
            streams=list(states),
            now=self.clock.now,
            ttl=timedelta(seconds=self.settings.lease_seconds),
        ) as (holder, held, busy):
            self.book.holder = holder
            if held:
                interrupt_stale_runs(
                    self.engine,
                    connection=self.connection,
                    source=self.source.name,
                    streams=held,
                    now=self.clock.now(),
                )
            skipped = [self.book.busy(b, self.mode(b.stream, states[b.stream], full), trigger) for b in busy]
            try:
                outcomes = (
                    self._run({name: states[name] for name in held}, full=full, trigger=trigger)
                    if held
                    else []
                )
            finally:
                self.book.holder = None
        # Streams asked for but never started (a stop, or an earlier stream's fatal error).
        unstarted = [
            self.book.unstarted(name, self.mode(name, states[name], full), trigger, self._stopped)
            for name in list(self.book.queued)
        ]
        order = list(states)
        return sorted([*skipped, *outcomes, *unstarted], key=lambda o: order.index(o.stream))

    def _selected_states(self, streams: Sequence[str] | None) -> dict[str, dict[str, Any]]:
        """The stored state of each selected stream (all by default), in run order; refuses a
        database whose schema is not current."""
        names = self.stream_names
        selected = list(streams) if streams else list(names)
        unknown = [s for s in selected if s not in names]
        if unknown:
            raise UnknownStreamError(
                f"unknown stream(s) {', '.join(unknown)}; choose from {', '.join(names)}"
            )
        require_current(self.engine)
        view = StorageView(self.engine, connection=self.connection, source=self.source.name)
        return {name: view.state(name) for name in names if name in selected}

    def _stopping(self, run_ids: Sequence[int]) -> Stop | None:
        """Why to stop now, if at all: the stop signal, or (polled once a second) an admin's cancel."""
        if self._stopped is None and self.stop is not None:
            self._stopped = self.stop.check()
        if self._stopped is None and run_ids and time.monotonic() - self._polled >= 1.0:
            self._polled = time.monotonic()
            if cancel_requested(self.engine, run_ids):
                self._stopped = Stop("cancelled", "cancelled by an admin")
        return self._stopped

    def _run(self, states: dict[str, dict[str, Any]], *, full: bool, trigger: str) -> list[StreamOutcome]:
        # A run that lists every record of a large stream stores in a writer process, started
        # first so that it is ready when the first pages are.
        large = any(
            self.source.stream_type(name).bulk and self.mode(name, state, full) == "full"
            for name, state in states.items()
        )
        with open_writer(self.engine, self.settings.storage_writer, large=large) as writer:
            try:
                client = self.source.connect()
            except (ConnectorError, ConfigurationError) as exc:
                return self._fail_every(states, exc, full=full, trigger=trigger)
            with client:
                resting = self._resting(states, full=full, trigger=trigger)
                states = {name: state for name, state in states.items() if name not in resting}
                if not states:
                    return list(resting.values())
                try:
                    streams = self.source.open_streams(client, list(states), full=full)
                except ConnectorError as exc:
                    return [*resting.values(), *self._fail_every(states, exc, full=full, trigger=trigger)]
                ctx = GroupContext(
                    self.engine,
                    self.book,
                    client,
                    writer,
                    states,
                    full,
                    trigger,
                    self._stopping,
                    self.census,
                    self.progress,
                    bulk_load=self.settings.storage_bulk_load,
                )
                return [*resting.values(), *self._run_groups(ctx, streams)]

    def _resting(
        self, states: dict[str, dict[str, Any]], *, full: bool, trigger: str
    ) -> dict[str, StreamOutcome]:
        """Streams found unavailable less than `recheck_minutes` ago: not asked again yet (a full
        sync always asks). Each gets an `unavailable` run row repeating why."""
        if full:
            return {}
        minutes = self.source.recheck_minutes
        latest = {
            r.stream: r
            for r in latest_runs(self.engine, connection=self.connection)
            if r.source == self.source.name and r.stream in states
        }
        now = self.clock.now()
        resting: dict[str, StreamOutcome] = {}
        for name, run in latest.items():
            if run.status != "unavailable" or run.finished_at is None:
                continue
            again = run.finished_at + timedelta(minutes=minutes)
            if now >= again:
                continue
            reason = (run.error or "unavailable").split(RESTING)[0]
            message = f"{reason}{RESTING}{again:%Y-%m-%d %H:%M} UTC)"
            mode = self.mode(name, states[name], full)
            run_id = self.book.ended(name, mode, "unavailable", message, trigger)
            degradable = self.source.stream_type(name).degradable()
            resting[name] = StreamOutcome(
                name, run_id, mode, "unavailable", error=message, degradable=degradable
            )
        return resting

    def _run_groups(self, ctx: GroupContext, streams: dict[str, Stream[Any]]) -> list[StreamOutcome]:
        outcomes: list[StreamOutcome] = []
        for group in self._groups(list(ctx.states)):
            results = GroupRun(ctx, {name: streams[name] for name in group}).run()
            outcomes.extend(results)
            if self._stopped or any(o.status == "deferred" or o.stops_run for o in results):
                break
        return outcomes

    def _fail_every(
        self, states: dict[str, dict[str, Any]], error: Exception, *, full: bool, trigger: str
    ) -> list[StreamOutcome]:
        """Nothing can run (no account to talk to, or what every stream needs is unreadable):
        the failure is recorded on every selected stream; a refused credential once, on the first,
        the others skipped pointing at it (one 401 is one problem, not one per stream)."""
        status = "deferred" if isinstance(error, RateLimitDeferredError) else "failed"
        modes = {name: self.mode(name, state, full) for name, state in states.items()}
        if not isinstance(error, AuthenticationError) or not modes:
            return [self.book.failure(name, mode, status, error, trigger) for name, mode in modes.items()]
        first_name, *rest = modes
        first = self.book.failure(first_name, modes[first_name], status, error, trigger)
        note = f"not run: the credential was refused (see {first_name}, run {first.run_id})"
        return [first, *(self.book.passed_over(n, modes[n], "skipped", note, trigger) for n in rest)]

    def _groups(self, names: list[str]) -> list[list[str]]:
        """Streams in order; the parallel ones together, `parallel_streams` at a time."""
        parallel = self.source.parallel_streams
        groups: list[list[str]] = []
        together: list[str] = []
        for name in names:
            if parallel > 1 and self.source.stream_type(name).parallel:
                together.append(name)
                if len(together) == parallel:
                    groups.append(together)
                    together = []
            else:
                groups.append([name])
        if together:
            groups.append(together)
        return groups


def _still_queued(engine: Engine, run_id: int) -> bool:
    run = get_run(engine, run_id)
    return run is not None and run.status == "queued"


def build_sync(source: str, settings: Settings, engine: Engine, **options: Any) -> SourceSync:
    """The sync of one source by its name (connector/sources.py); `options` as SourceSync takes."""
    return SourceSync(SOURCES[source], settings, engine, **options)
