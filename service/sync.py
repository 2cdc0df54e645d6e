"""The composition root of a sync: connector pages → parsers → storage, one run row per stream."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Engine

from config import Settings
from connector.clock import Clock, SystemClock
from connector.errors import AuthenticationError, ConnectorError, RateLimitDeferredError
from connector.http import RequestStats
from connector.hubspot.auth import OAuthAuth, PrivateAppAuth
from connector.hubspot.client import PRIVATE_APP_HINT, HubSpotClient
from connector.hubspot.normalize import normalize_records
from connector.hubspot.streams import STREAM_NAMES, build_streams, cached_schema, discover_schema
from connector.pagination import Page, PaginationLoopError
from connector.records import Normalized
from service.control import Stop, StopSignal
from service.logging import redact
from service.prefetch import merge_batches
from service.tokens import FileTokenStore
from service.writer import PageWriter, StorageWriteError, open_writer
from storage import (
    PageInput,
    PageWrite,
    archived_ids,
    finish_run,
    get_state,
    has_quarantine,
    interrupt_stale_runs,
    prepare_pages,
    require_current,
    start_run,
)
from storage.leases import Busy, leased, note_run, release
from storage.reconcile import Census
from storage.runs import cancel_requested, claim_run, get_run

log = logging.getLogger("funnelsync.sync")

SOURCE = "hubspot"

# Pages fetched ahead of storage, and how many of those already waiting one commit may take.
# A commit costs about as much as writing a page, so a writer that falls behind catches up by
# committing the waiting pages together; each page's checkpoint still never precedes its rows.
PREFETCH_DEPTH = 8
MAX_PAGES_PER_COMMIT = 8

ProgressCallback = Callable[[str, str, PageWrite], None]


class UnknownStreamError(ValueError):
    """A stream name that HubSpot sync does not have."""


@dataclass
class StreamOutcome:
    """How one stream's sync ended."""

    stream: str
    run_id: int
    mode: str
    status: str  # succeeded | failed | deferred | skipped | interrupted | cancelled
    pages: int = 0
    read: int = 0
    written: int = 0
    rejected: int = 0
    quarantined: int = 0
    error: str | None = None
    # True when the failure dooms every later stream too (bad credentials).
    stops_run: bool = False


RESUMABLE = ("contacts", "companies", "deals")


def _mode(stream: str, state: dict[str, Any], full: bool) -> str:
    """Incremental when the stream supports it and a finished full sync left a watermark (for
    marketing emails: a time of the last read, after which only recent sends are read again)."""
    if full:
        return "full"
    if stream == "marketing_emails":
        return "incremental" if state.get("checked_at") else "full"
    if stream == "mailchimp_members":
        return "incremental" if state.get("lists") else "full"
    if stream == "web_analytics":
        return "incremental" if state.get("through") else "full"
    if stream == "mailchimp_reports":
        return "incremental" if state.get("all_read_at") else "full"
    return (
        "incremental" if stream in RESUMABLE and state.get("watermark") and not state.get("full") else "full"
    )


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0) for k in after}


OAUTH_HINT = (
    "Check FUNNELSYNC_HUBSPOT__CLIENT_ID, __CLIENT_SECRET and __REFRESH_TOKEN, or authorise the app again."
)


def build_hubspot_auth(settings: Settings, clock: Clock) -> tuple[httpx.Auth, str]:
    """The run's HubSpot auth and the hint a 401 should give: a private-app token, or OAuth whose
    refreshed tokens are kept in `<data_dir>/tokens/` so the next run (or process) reuses them."""
    hub = settings.hubspot
    if settings.require_hubspot_auth() == "private_app":
        assert hub.token is not None
        return PrivateAppAuth(hub.token), PRIVATE_APP_HINT
    assert hub.client_id and hub.client_secret and hub.refresh_token
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", settings.connection)
    store = FileTokenStore(settings.data_dir / "tokens" / f"hubspot-{name}.json", hub.refresh_token)
    auth = OAuthAuth(
        client_id=hub.client_id,
        client_secret=hub.client_secret,
        refresh_token=hub.refresh_token,
        token_path=hub.token_path,
        clock=clock,
        store=store,
    )
    return auth, OAUTH_HINT


# Streams that run side by side (each a long listing); the small ones run first, alone.
PARALLEL = ("companies", "contacts", "deals", "marketing_emails")


@dataclass
class _StreamRun:
    """One stream inside a group: its outcome, its share of the requests, its quarantine state."""

    outcome: StreamOutcome
    quarantine_empty: bool
    stats: RequestStats = field(default_factory=RequestStats)
    last: dict[str, float] = field(default_factory=dict)


Normalize = Callable[[str, Page], Normalized]


def _parsed(
    client: Any,
    stats: RequestStats,
    name: str,
    stream: Any,
    state: dict[str, Any],
    full: bool,
    normalize: Normalize,
) -> Iterator[tuple[Page, Normalized]]:
    """A stream's pages with their parsed rows. Runs in the stream's fetch thread, which counts
    its requests in `stats` (parsing there too overlaps it with the writer)."""
    with client.stats.scoped(stats):
        for page in stream.pages(client, state, full=full):
            yield page, normalize(name, page)


class SourceSync:
    """What syncing any source shares: stream leases, run rows, groups of streams side by side
    through one writer, outcomes. Subclasses set `source` and `stream_names` and implement `_run`."""

    source = ""
    stream_names: tuple[str, ...] = ()

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        progress: ProgressCallback | None = None,
        stop: StopSignal | None = None,
        census: Census | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.census = census
        self.clock = clock or SystemClock()
        self.transport = transport
        self.progress = progress
        self.stop = stop
        self.connection = settings.connection
        self._holder: str | None = None
        self._queued: dict[str, int] = {}
        self._stopped: Stop | None = None
        self._polled = 0.0

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
            self._queued = {s: i for s, i in queued.items() if _still_queued(self.engine, i)}
            if not self._queued:
                return []
            streams = list(self._queued)
        states = self._selected_states(streams, self.stream_names)
        with leased(
            self.engine,
            connection=self.connection,
            source=self.source,
            streams=list(states),
            now=self.clock.now,
            ttl=timedelta(seconds=self.settings.lease_seconds),
        ) as (holder, held, busy):
            self._holder = holder
            if held:
                interrupt_stale_runs(
                    self.engine,
                    connection=self.connection,
                    source=self.source,
                    streams=held,
                    now=self.clock.now(),
                )
            skipped = [self._record_busy(b, states[b.stream], full, trigger) for b in busy]
            try:
                outcomes = (
                    self._run({name: states[name] for name in held}, full=full, trigger=trigger)
                    if held
                    else []
                )
            finally:
                self._holder = None
        # Streams asked for but never started (a stop, or an earlier stream's fatal error).
        unstarted = [self._close_unstarted(name, states[name], full, trigger) for name in list(self._queued)]
        order = list(states)
        return sorted([*skipped, *outcomes, *unstarted], key=lambda o: order.index(o.stream))

    def _close_unstarted(self, stream: str, state: dict[str, Any], full: bool, trigger: str) -> StreamOutcome:
        stop = self._stopped
        status, message = (
            (stop.status, stop.reason) if stop else ("skipped", "not run: an earlier stream ended the sync")
        )
        mode = _mode(stream, state, full)
        return StreamOutcome(
            stream, self._ended_run(stream, mode, status, message, trigger), mode, status, error=message
        )

    def _stopping(self, run_ids: Sequence[int]) -> bool:
        """Whether to stop now: the stop signal, or (polled once a second) an admin's cancel."""
        if self._stopped is None and self.stop is not None:
            self._stopped = self.stop.check()
        if self._stopped is None and run_ids and time.monotonic() - self._polled >= 1.0:
            self._polled = time.monotonic()
            if cancel_requested(self.engine, run_ids):
                self._stopped = Stop("cancelled", "cancelled by an admin")
        return self._stopped is not None

    def _run(self, states: dict[str, dict[str, Any]], *, full: bool, trigger: str) -> list[StreamOutcome]:
        raise NotImplementedError

    def _record_busy(self, busy: Busy, state: dict[str, Any], full: bool, trigger: str) -> StreamOutcome:
        mode = _mode(busy.stream, state, full)
        message = busy.message()
        run_id = self._ended_run(busy.stream, mode, "skipped", message, trigger)
        log.warning("sync %s skipped: %s", busy.stream, message, extra=self._context(run_id, busy.stream))
        return StreamOutcome(busy.stream, run_id, mode, "skipped", error=message)

    def _secrets(self) -> list[str]:
        return self.settings.secret_values()

    def _context(self, run_id: int, stream: str) -> dict[str, Any]:
        """The fields a JSON log line carries (service/logging.py)."""
        return {"run_id": run_id, "connection": self.connection, "stream": stream}

    def _safe(self, error: BaseException) -> str:
        return redact(str(error) or type(error).__name__, self._secrets())

    def _selected_states(
        self, streams: Sequence[str] | None, names: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """The stored state of each selected stream (all of `names` by default), in run order;
        refuses a database whose schema is not current."""
        selected = list(streams) if streams else list(names)
        unknown = [s for s in selected if s not in names]
        if unknown:
            raise UnknownStreamError(
                f"unknown stream(s) {', '.join(unknown)}; choose from {', '.join(names)}"
            )
        require_current(self.engine)
        return {
            name: get_state(self.engine, connection=self.connection, source=self.source, stream=name)
            for name in names
            if name in selected
        }

    def _new_run(self, stream: str, mode: str, trigger: str) -> int:
        """The stream's run row: the one queued for it when there is one, else a new one."""
        now = self.clock.now()
        queued = self._queued.pop(stream, None)
        if queued is not None and claim_run(
            self.engine, run_id=queued, mode=mode, holder=self._holder, now=now
        ):
            return queued
        return start_run(
            self.engine,
            connection=self.connection,
            source=self.source,
            stream=stream,
            mode=mode,
            trigger=trigger,
            now=now,
            holder=self._holder,
        )

    def _ended_run(self, stream: str, mode: str, status: str, message: str, trigger: str) -> int:
        """A run row for a stream that did not sync (failed before starting, or skipped)."""
        run_id = self._new_run(stream, mode, trigger)
        finish_run(self.engine, run_id=run_id, status=status, now=self.clock.now(), error=message)
        self._release(stream)
        return run_id

    def _start_run(self, stream: str, mode: str, trigger: str) -> int:
        """A run row for a stream about to sync, named on the stream's lease."""
        run_id = self._new_run(stream, mode, trigger)
        if self._holder is not None:
            note_run(
                self.engine,
                connection=self.connection,
                source=self.source,
                stream=stream,
                holder=self._holder,
                run_id=run_id,
            )
        return run_id

    def _record_failure(
        self, stream: str, mode: str, status: str, error: BaseException, trigger: str
    ) -> StreamOutcome:
        message = self._safe(error)
        run_id = self._ended_run(stream, mode, status, message, trigger)
        return StreamOutcome(
            stream, run_id, mode, status, error=message, stops_run=isinstance(error, AuthenticationError)
        )

    def _run_group(
        self,
        client: Any,
        writer: PageWriter,
        group: list[str],
        available: dict[str, Any],
        states: dict[str, dict[str, Any]],
        normalize: Normalize,
        *,
        full: bool,
        trigger: str,
    ) -> list[StreamOutcome]:
        """Sync the streams of `group` side by side: each fetches and parses in its own thread
        (sharing the client, so its rate limiter), while this thread prepares their pages and
        hands them to the one writer. Each stream has its own run row, checkpoint and outcome;
        one stream failing leaves the others running. A storage failure ends every run."""
        runs: dict[str, _StreamRun] = {}
        sources: dict[str, Iterator[tuple[Page, Normalized]]] = {}
        for name in group:
            mode = _mode(name, states[name], full)
            run_id = self._start_run(name, mode, trigger)
            run = _StreamRun(
                StreamOutcome(name, run_id, mode, "running"),
                quarantine_empty=not has_quarantine(
                    self.engine, connection=self.connection, source=self.source, stream=name
                ),
            )
            runs[name] = run
            log.info("sync %s: %s (run %d)", name, mode, run_id, extra=self._context(run_id, name))
            sources[name] = _parsed(client, run.stats, name, available[name], states[name], full, normalize)
        in_flight: deque[list[Any]] = deque()  # [stream, pages not yet confirmed] per batch
        # Streams whose whole listing this run reads, for the reconcile (a resumed half-done
        # full sync read its first part in an earlier run: it cannot say what is gone).
        counted = {
            name
            for name, run in runs.items()
            if self.census is not None and run.outcome.mode == "full" and not states[name].get("full")
        }

        def settle(writes: list[PageWrite]) -> None:
            for write in writes:
                head = in_flight[0]
                self._count(runs[head[0]].outcome, [write])
                head[1] -= 1
                if head[1] == 0:
                    in_flight.popleft()

        try:
            run_ids = [run.outcome.run_id for run in runs.values()]
            for name, item in merge_batches(
                sources,
                depth=PREFETCH_DEPTH,
                batch=MAX_PAGES_PER_COMMIT,
                name="fetch",
                stop_when=lambda: self._stopping(run_ids),
            ):
                run = runs[name]
                if item is None:
                    run.outcome.status = "succeeded"
                elif isinstance(item, BaseException):
                    self._classify(run.outcome, item)
                else:
                    stats = run.stats.snapshot()
                    prepared = prepare_pages(
                        self.engine.dialect.name,
                        connection=self.connection,
                        source=self.source,
                        stream=name,
                        run_id=run.outcome.run_id,
                        pages=[PageInput(n, len(page.records), page.checkpoint) for page, n in item],
                        now=self.clock.now(),
                        request_delta=_delta(stats, run.last),
                        quarantine_empty=run.quarantine_empty,
                    )
                    run.quarantine_empty = run.quarantine_empty and not any(n.issues for _, n in item)
                    if self.census is not None and name in counted:
                        for _, n in item:
                            self.census.add(name, n.entity_ids)
                            self.census.add(name, (i.record_id for i in n.issues if i.field == "*"))
                    run.last = stats
                    in_flight.append([name, len(item)])
                    settle(writer.write(prepared))
            # Pages fetched before a stream failed (or the sync was stopped) are committed
            # before its run is closed, so its checkpoint is where its data is.
            settle(writer.drain())
            if self._stopped is not None:
                for run in runs.values():
                    if run.outcome.status == "running":
                        run.outcome.status, run.outcome.error = self._stopped.status, self._stopped.reason
        except Exception as exc:
            # A storage failure or a bug: every run still open is closed as failed, then it surfaces.
            with contextlib.suppress(StorageWriteError):
                settle(writer.drain())
            message = self._safe(exc)
            for run in runs.values():
                if run.outcome.status in ("running", "succeeded"):
                    run.outcome.status, run.outcome.error = "failed", message
                self._finish(run.outcome, "failed", _delta(run.stats.snapshot(), run.last))
            raise
        for run in runs.values():
            outcome = run.outcome
            if self.census is not None and outcome.stream in counted and outcome.status == "succeeded":
                self.census.finish(outcome.stream)
            if outcome.error:
                log.error(
                    "sync %s %s: %s",
                    outcome.stream,
                    outcome.status,
                    outcome.error,
                    extra=self._context(outcome.run_id, outcome.stream),
                )
            self._finish(outcome, outcome.status, _delta(run.stats.snapshot(), run.last))
        return [runs[name].outcome for name in group]

    def _classify(self, outcome: StreamOutcome, error: BaseException) -> None:
        """Record how a stream's fetching failed; errors that are not the API's surface."""
        if isinstance(error, RateLimitDeferredError):
            outcome.status, outcome.error = "deferred", self._safe(error)
        elif isinstance(error, AuthenticationError):
            outcome.status, outcome.error = "failed", self._safe(error)
            outcome.stops_run = True
        elif isinstance(error, ConnectorError | PaginationLoopError):
            outcome.status, outcome.error = "failed", self._safe(error)
        else:
            outcome.status = "failed"
            raise error

    def _finish(self, outcome: StreamOutcome, status: str, request_delta: dict[str, float]) -> None:
        finish_run(
            self.engine,
            run_id=outcome.run_id,
            status=status,
            now=self.clock.now(),
            error=outcome.error,
            request_delta=request_delta,
        )
        self._release(outcome.stream)

    def _release(self, stream: str) -> None:
        """Free a stream's lease once its run is closed, not when the whole sync ends: a resync
        asked for meanwhile must find it free (its run says it ended)."""
        if self._holder is not None:
            release(
                self.engine,
                connection=self.connection,
                source=self.source,
                holder=self._holder,
                stream=stream,
            )

    def _count(self, outcome: StreamOutcome, writes: list[PageWrite]) -> None:
        """Add committed pages to the outcome and report them."""
        for write in writes:
            outcome.pages += 1
            outcome.read += write.read
            outcome.written += write.written
            outcome.rejected += write.rejected
            outcome.quarantined += write.quarantined
            if self.progress is not None:
                self.progress(outcome.stream, outcome.mode, write)


def _still_queued(engine: Engine, run_id: int) -> bool:
    run = get_run(engine, run_id)
    return run is not None and run.status == "queued"


class HubSpotSync(SourceSync):
    """Runs HubSpot streams into storage. Build one per run; it owns the run's HTTP client."""

    source = SOURCE
    stream_names = STREAM_NAMES

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        progress: ProgressCallback | None = None,
        stop: StopSignal | None = None,
        census: Census | None = None,
    ) -> None:
        super().__init__(
            settings, engine, clock=clock, transport=transport, progress=progress, stop=stop, census=census
        )
        self._auth, self._auth_hint = build_hubspot_auth(settings, self.clock)

    def _secrets(self) -> list[str]:
        return [*self.settings.secret_values(), *getattr(self._auth, "secrets", [])]

    def _run(self, states: dict[str, dict[str, Any]], *, full: bool, trigger: str) -> list[StreamOutcome]:
        hub = self.settings.hubspot
        outcomes: list[StreamOutcome] = []
        # A run that lists every record of a large stream stores in a writer process, started
        # first so that it is ready when the first pages are.
        large = any(_mode(name, state, full) == "full" for name, state in states.items() if name in RESUMABLE)
        with (
            open_writer(self.engine, self.settings.storage_writer, large=large) as writer,
            HubSpotClient(
                hub,
                auth=self._auth,
                auth_hint=self._auth_hint,
                retry=self.settings.retry,
                clock=self.clock,
                transport=self.transport,
            ) as client,
        ):
            try:
                cached = get_state(
                    self.engine, connection=self.connection, source=SOURCE, stream="properties"
                )
                schema = cached_schema(client, hub, cached, full=full) or discover_schema(client, hub)
            except ConnectorError as exc:
                # Nothing can run without the schema: record the failure on every selected stream.
                status = "deferred" if isinstance(exc, RateLimitDeferredError) else "failed"
                for name, state in states.items():
                    outcomes.append(
                        self._record_failure(name, _mode(name, state, full), status, exc, trigger)
                    )
                return outcomes
            available = build_streams(
                hub,
                schema,
                known_archived=lambda name: archived_ids(
                    self.engine, connection=self.connection, stream=name
                ),
            )
            known_stages = set(schema.lifecycle_stages)

            def normalize(name: str, page: Page) -> Normalized:
                return normalize_records(
                    name, page.records, known_stages=known_stages, stated=page.associations
                )

            for group in self._groups(list(states)):
                results = self._run_group(
                    client, writer, group, available, states, normalize, full=full, trigger=trigger
                )
                outcomes.extend(results)
                if self._stopped or any(o.status == "deferred" or o.stops_run for o in results):
                    break
        return outcomes

    def _groups(self, names: list[str]) -> list[list[str]]:
        """Streams in order; the large ones together, `hubspot.parallel_streams` at a time."""
        parallel = self.settings.hubspot.parallel_streams
        groups: list[list[str]] = []
        together: list[str] = []
        for name in names:
            if parallel > 1 and name in PARALLEL:
                together.append(name)
                if len(together) == parallel:
                    groups.append(together)
                    together = []
            else:
                groups.append([name])
        if together:
            groups.append(together)
        return groups

    def _archived_ids(self, stream: str) -> set[str]:
        return archived_ids(self.engine, connection=self.connection, stream=stream)
