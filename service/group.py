"""One group of streams synced side by side: each fetches and parses in its own thread (sharing
the run's client, so its rate limiter), while this thread prepares their pages and hands them to
the one writer. Each stream has its own run row, checkpoint and outcome; one stream failing
leaves the others running. A storage failure ends every run of the group."""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine

from connector.client import ApiClient
from connector.errors import AuthenticationError, ConnectorError, RateLimitDeferredError, unavailable
from connector.http import RequestStats
from connector.records import Normalized
from connector.stream import Page, Stream
from service.control import Stop
from service.heap import bulk_collection
from service.prefetch import merge_batches
from service.runbook import RunBook, StreamOutcome
from service.writer import PageWriter, StorageWriteError
from storage import PageInput, PageWrite, has_quarantine, prepare_pages
from storage.bulk import first_load
from storage.reconcile import Census

log = logging.getLogger("funnelsync.sync")

# Pages fetched ahead of storage, and how many of those already waiting one commit may take.
# A commit costs about as much as writing a page, so a writer that falls behind catches up by
# committing the waiting pages together; each page's checkpoint still never precedes its rows.
PREFETCH_DEPTH = 8
MAX_PAGES_PER_COMMIT = 8


class SyncProgress(Protocol):
    """Who watches a sync (service/progress.py): each stream's start with what it expects to
    read, its committed totals, and its end: when its reading ends (`final=False`: pages may
    still be on their way to storage) and when its run row is closed (`final=True`)."""

    def started(self, stream: str, mode: str, expected: int | None) -> None: ...

    def expected(self, stream: str, expected: int) -> None: ...

    def advanced(self, stream: str, records: int, pages: int) -> None: ...

    def finished(self, stream: str, status: str, *, final: bool) -> None: ...


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0) for k in after}


@dataclass
class _StreamRun:
    """One stream inside a group: its outcome, its share of the requests, its quarantine state."""

    outcome: StreamOutcome
    quarantine_empty: bool
    # Whether its pages count toward the reconcile (a full read of the whole listing this run).
    counted: bool
    # Its records are expected to be new (a first load): stored by the bulk path (storage.bulk)
    # until a batch proves otherwise.
    bulk: bool = False
    stats: RequestStats = field(default_factory=RequestStats)
    last: dict[str, float] = field(default_factory=dict)


@dataclass
class GroupContext:
    """What every group of a source's sync shares."""

    engine: Engine
    book: RunBook
    client: ApiClient
    writer: PageWriter
    states: dict[str, dict[str, Any]]
    full: bool
    trigger: str
    stopping: Callable[[Sequence[int]], Stop | None]
    census: Census | None = None
    progress: SyncProgress | None = None
    # Whether first loads may write in bulk (settings.storage_bulk_load).
    bulk_load: bool = True


class GroupRun:
    """Sync `streams` side by side; `run()` returns their outcomes in the group's order."""

    def __init__(self, ctx: GroupContext, streams: dict[str, Stream[Any]]) -> None:
        self.ctx = ctx
        self.book = ctx.book
        self.streams = streams
        self.runs: dict[str, _StreamRun] = {}
        self.in_flight: deque[list[Any]] = deque()  # [stream, pages not yet confirmed] per batch

    def run(self) -> list[StreamOutcome]:
        sources = {name: self._open(name, stream) for name, stream in self.streams.items()}
        stopped: Stop | None = None
        try:
            run_ids = [run.outcome.run_id for run in self.runs.values()]

            def stop_when() -> bool:
                nonlocal stopped
                stopped = self.ctx.stopping(run_ids)
                return stopped is not None

            bulk = any(run.bulk for run in self.runs.values())
            # Closed here, in this thread, even when storing fails: left to the garbage collector,
            # the merge's clean-up could run in one of its own fetch threads and fail to join it.
            with (
                bulk_collection() if bulk else contextlib.nullcontext(),
                contextlib.closing(
                    merge_batches(
                        sources,
                        depth=PREFETCH_DEPTH,
                        batch=MAX_PAGES_PER_COMMIT,
                        name="fetch",
                        stop_when=stop_when,
                    )
                ) as merged,
            ):
                for name, item in merged:
                    self._take(name, item)
            # Pages fetched before a stream failed (or the sync was stopped) are committed
            # before its run is closed, so its checkpoint is where its data is.
            self._settle(self.ctx.writer.drain())
            if stopped is not None:
                for run in self.runs.values():
                    if run.outcome.status == "running":
                        run.outcome.status, run.outcome.error = stopped.status, stopped.reason
        except Exception as exc:
            self._fail_all(exc)
            raise
        self._close()
        return [self.runs[name].outcome for name in self.streams]

    def _open(self, name: str, stream: Stream[Any]) -> Iterator[tuple[Page, Normalized]]:
        """Start a stream's run row; its pages with their parsed rows, read in its fetch thread,
        which counts its requests (parsing there too overlaps it with the writer)."""
        ctx = self.ctx
        state = ctx.states[name]
        mode = stream.mode(state, full=ctx.full)
        run_id = self.book.start(name, mode, ctx.trigger)
        empty = not has_quarantine(
            ctx.engine, connection=self.book.connection, source=self.book.source, stream=name
        )
        # A resumed half-done full read read its first part in an earlier run: it cannot say what is gone.
        counted = ctx.census is not None and mode == "full" and not state.get("full")
        outcome = StreamOutcome(name, run_id, mode, "running", degradable=stream.degradable())
        bulk = (
            ctx.bulk_load
            and stream.bulk
            and mode == "full"
            and first_load(ctx.engine, connection=self.book.connection, source=self.book.source, stream=name)
        )
        run = self.runs[name] = _StreamRun(outcome, empty, counted, bulk)
        how = " (first load: bulk writes)" if bulk else ""
        log.info("sync %s: %s%s (run %d)", name, mode, how, run_id, extra=self.book.context(run_id, name))
        # Until the API says how many records the read brings: what the last such run read.
        expected = self.book.last_read(name, mode)
        if expected is not None:
            self.book.expect(run_id, expected)
        if ctx.progress is not None:
            ctx.progress.started(name, mode, expected)
        return self._parsed(stream, state, run.stats)

    def _parsed(
        self, stream: Stream[Any], state: dict[str, Any], stats: RequestStats
    ) -> Iterator[tuple[Page, Normalized]]:
        client = self.ctx.client
        with client.stats.scoped(stats):
            for page in stream.pages(client, state, full=self.ctx.full):
                yield page, stream.parse(page)

    def _take(self, name: str, item: list[tuple[Page, Normalized]] | BaseException | None) -> None:
        """One event of the merged fetch threads: a stream's end, its failure, or pages to store."""
        run = self.runs[name]
        if item is None:
            run.outcome.status = "succeeded"
        elif isinstance(item, BaseException):
            self._classify(run.outcome, item)
        else:
            self._store(name, run, item)
            return
        if self.ctx.progress is not None:
            self.ctx.progress.finished(name, run.outcome.status, final=False)

    def _store(self, name: str, run: _StreamRun, item: list[tuple[Page, Normalized]]) -> None:
        ctx = self.ctx
        stats = run.stats.snapshot()
        prepared = prepare_pages(
            ctx.engine.dialect.name,
            connection=self.book.connection,
            source=self.book.source,
            stream=name,
            run_id=run.outcome.run_id,
            pages=[PageInput(n, len(page.records), page.checkpoint) for page, n in item],
            now=self.book.clock.now(),
            request_delta=_delta(stats, run.last),
            quarantine_empty=run.quarantine_empty,
            bulk=run.bulk,
        )
        run.quarantine_empty = run.quarantine_empty and not any(n.issues for _, n in item)
        if ctx.census is not None and run.counted:
            for _, n in item:
                ctx.census.add(name, n.entity_ids)
                ctx.census.add(name, (i.record_id for i in n.issues if i.field == "*"))
        run.last = stats
        announced = next((page.expected for page, _ in item if page.expected is not None), None)
        if announced is not None:
            self.book.expect(run.outcome.run_id, announced)
            if ctx.progress is not None:
                ctx.progress.expected(name, announced)
        self.in_flight.append([name, len(item)])
        self._settle(ctx.writer.write(prepared))

    def _settle(self, writes: list[PageWrite]) -> None:
        """Count committed pages to their streams, in the order they were handed over."""
        for write in writes:
            head = self.in_flight[0]
            run = self.runs[head[0]]
            outcome = run.outcome
            if run.bulk and not write.bulk:
                log.info("sync %s: records are stored already; no more bulk writes this run", outcome.stream)
                run.bulk = False
            outcome.pages += 1
            outcome.read += write.read
            outcome.written += write.written
            outcome.rejected += write.rejected
            outcome.quarantined += write.quarantined
            if self.ctx.progress is not None:
                self.ctx.progress.advanced(outcome.stream, outcome.read, outcome.pages)
            head[1] -= 1
            if head[1] == 0:
                self.in_flight.popleft()

    def _classify(self, outcome: StreamOutcome, error: BaseException) -> None:
        """Record how a stream's fetching failed; errors that are not the API's surface."""
        if isinstance(error, RateLimitDeferredError):
            outcome.status, outcome.error = "deferred", self.book.safe(error)
        elif isinstance(error, AuthenticationError):
            outcome.status, outcome.error = "failed", self.book.safe(error)
            outcome.stops_run = True
        elif unavailable(error):
            # A missing scope or an API the account does not have: this stream only.
            outcome.status, outcome.error = "unavailable", self.book.safe(error)
        elif isinstance(error, ConnectorError):
            outcome.status, outcome.error = "failed", self.book.safe(error)
        else:
            outcome.status = "failed"
            raise error

    def _fail_all(self, exc: Exception) -> None:
        """A storage failure or a bug: every run still open is closed as failed (what was
        committed stays), and the error surfaces."""
        with contextlib.suppress(StorageWriteError):
            self._settle(self.ctx.writer.drain())
        message = self.book.safe(exc)
        for run in self.runs.values():
            if run.outcome.status in ("running", "succeeded"):
                run.outcome.status, run.outcome.error = "failed", message
            self.book.finish(run.outcome, "failed", _delta(run.stats.snapshot(), run.last))

    def _close(self) -> None:
        for run in self.runs.values():
            outcome = run.outcome
            if self.ctx.census is not None and run.counted and outcome.status == "succeeded":
                self.ctx.census.finish(outcome.stream)
            if outcome.error:
                log.log(
                    logging.WARNING if outcome.status == "unavailable" else logging.ERROR,
                    "sync %s %s: %s",
                    outcome.stream,
                    outcome.status,
                    outcome.error,
                    extra=self.book.context(outcome.run_id, outcome.stream),
                )
            self.book.finish(outcome, outcome.status, _delta(run.stats.snapshot(), run.last))
            if self.ctx.progress is not None:
                self.ctx.progress.finished(outcome.stream, outcome.status, final=True)
