"""The composition root of a sync: connector pages → parsers → storage, one run row per stream."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine

from config import Settings
from connector.clock import Clock, SystemClock
from connector.errors import AuthenticationError, ConnectorError, RateLimitDeferredError
from connector.hubspot.auth import OAuthAuth, PrivateAppAuth
from connector.hubspot.client import PRIVATE_APP_HINT, HubSpotClient
from connector.hubspot.normalize import Normalized, normalize_records
from connector.hubspot.streams import STREAM_NAMES, Page, build_streams, discover_schema
from connector.pagination import PaginationLoopError
from service.logging import redact
from service.prefetch import prefetch_batches
from service.tokens import FileTokenStore
from service.writer import PageWriter, StorageWriteError, open_writer
from storage import (
    PageInput,
    PageWrite,
    archived_ids,
    finish_run,
    get_state,
    has_quarantine,
    init_db,
    prepare_pages,
    start_run,
)

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
    status: str  # succeeded | failed | deferred
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
    return (
        "incremental" if stream in RESUMABLE and state.get("watermark") and not state.get("full") else "full"
    )


def _normalize(stream: str, page: Page, known_stages: set[str]) -> Normalized:
    return normalize_records(stream, page.records, known_stages=known_stages, stated=page.associations)


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


class HubSpotSync:
    """Runs HubSpot streams into storage. Build one per run; it owns the run's HTTP client."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock or SystemClock()
        self.transport = transport
        self.progress = progress
        self.connection = settings.connection
        self._auth, self._auth_hint = build_hubspot_auth(settings, self.clock)

    def _safe(self, error: BaseException) -> str:
        secrets = [*self.settings.secret_values(), *getattr(self._auth, "secrets", [])]
        return redact(str(error) or type(error).__name__, secrets)

    def run(
        self, *, streams: Sequence[str] | None = None, full: bool = False, trigger: str = "cli"
    ) -> list[StreamOutcome]:
        """Sync the selected streams (all by default); failures are recorded, not raised, per stream."""
        selected = list(streams) if streams else list(STREAM_NAMES)
        unknown = [s for s in selected if s not in STREAM_NAMES]
        if unknown:
            raise UnknownStreamError(
                f"unknown stream(s) {', '.join(unknown)}; choose from {', '.join(STREAM_NAMES)}"
            )
        init_db(self.engine)
        hub = self.settings.hubspot
        outcomes: list[StreamOutcome] = []
        states = {
            name: get_state(self.engine, connection=self.connection, source=SOURCE, stream=name)
            for name in STREAM_NAMES
            if name in selected
        }
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
                schema = discover_schema(client, hub)
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
            for name, state in states.items():
                outcome = self._run_stream(
                    client, writer, name, available[name], state, known_stages, full=full, trigger=trigger
                )
                outcomes.append(outcome)
                if outcome.status == "deferred" or outcome.stops_run:
                    break
        return outcomes

    def _archived_ids(self, stream: str) -> set[str]:
        return archived_ids(self.engine, connection=self.connection, stream=stream)

    def _start_run(self, stream: str, mode: str, trigger: str) -> int:
        return start_run(
            self.engine,
            connection=self.connection,
            source=SOURCE,
            stream=stream,
            mode=mode,
            trigger=trigger,
            now=self.clock.now(),
        )

    def _record_failure(
        self, stream: str, mode: str, status: str, error: BaseException, trigger: str
    ) -> StreamOutcome:
        now = self.clock.now()
        run_id = self._start_run(stream, mode, trigger)
        message = self._safe(error)
        finish_run(self.engine, run_id=run_id, status=status, now=now, error=message)
        return StreamOutcome(
            stream, run_id, mode, status, error=message, stops_run=isinstance(error, AuthenticationError)
        )

    def _run_stream(
        self,
        client: HubSpotClient,
        writer: PageWriter,
        name: str,
        stream: Any,
        state: dict[str, Any],
        known_stages: set[str],
        *,
        full: bool,
        trigger: str,
    ) -> StreamOutcome:
        mode = _mode(name, state, full)
        run_id = self._start_run(name, mode, trigger)
        outcome = StreamOutcome(name, run_id, mode, "running")
        last = client.stats.snapshot()
        quarantine_empty = not has_quarantine(
            self.engine, connection=self.connection, source=SOURCE, stream=name
        )
        log.info("sync %s: %s (run %d)", name, mode, run_id, extra={"run_id": run_id, "stream": name})
        try:
            # Parsing runs in the fetch thread too, overlapping with the writer.
            parsed = (
                (
                    page,
                    normalize_records(
                        name, page.records, known_stages=known_stages, stated=page.associations
                    ),
                )
                for page in stream.pages(client, state, full=full)
            )
            batch: list[tuple[Page, Normalized]]
            for batch in prefetch_batches(
                parsed, depth=PREFETCH_DEPTH, batch=MAX_PAGES_PER_COMMIT, name=f"fetch-{name}"
            ):
                stats = client.stats.snapshot()
                prepared = prepare_pages(
                    self.engine.dialect.name,
                    connection=self.connection,
                    source=SOURCE,
                    stream=name,
                    run_id=run_id,
                    pages=[PageInput(n, len(page.records), page.checkpoint) for page, n in batch],
                    now=self.clock.now(),
                    request_delta=_delta(stats, last),
                    quarantine_empty=quarantine_empty,
                )
                quarantine_empty = quarantine_empty and not any(n.issues for _, n in batch)
                last = stats
                self._count(outcome, writer.write(prepared))
            self._count(outcome, writer.drain())
            outcome.status = "succeeded"
        except RateLimitDeferredError as exc:
            outcome.status, outcome.error = "deferred", self._safe(exc)
        except AuthenticationError as exc:
            outcome.status, outcome.error = "failed", self._safe(exc)
            outcome.stops_run = True
        except (ConnectorError, PaginationLoopError) as exc:
            outcome.status, outcome.error = "failed", self._safe(exc)
        except Exception as exc:
            # A bug or a database failure: record it on the run, then let it surface.
            with contextlib.suppress(StorageWriteError):
                writer.drain()  # pages in flight settle before the run is closed
            self._finish(run_id, "failed", self._safe(exc), _delta(client.stats.snapshot(), last))
            raise
        if outcome.status != "succeeded":
            # The pages fetched before the failure are committed before the run is closed.
            try:
                self._count(outcome, writer.drain())
            except StorageWriteError as exc:
                self._finish(run_id, "failed", self._safe(exc), _delta(client.stats.snapshot(), last))
                raise
        if outcome.error:
            log.error(
                "sync %s %s: %s",
                name,
                outcome.status,
                outcome.error,
                extra={"run_id": run_id, "stream": name},
            )
        self._finish(run_id, outcome.status, outcome.error, _delta(client.stats.snapshot(), last))
        return outcome

    def _finish(self, run_id: int, status: str, error: str | None, request_delta: dict[str, float]) -> None:
        finish_run(
            self.engine,
            run_id=run_id,
            status=status,
            now=self.clock.now(),
            error=error,
            request_delta=request_delta,
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
