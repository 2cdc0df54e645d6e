"""The run rows of one source's sync: one per stream, made (or a queued one claimed) when the
stream starts or is passed over, closed with its status, and its lease released the moment it is
closed (a resync asked for meanwhile must find the stream free)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from connector.clock import Clock
from connector.errors import AuthenticationError
from service.control import Stop
from service.logging import redact
from storage import finish_run, start_run
from storage.leases import Busy, note_run, release
from storage.runs import claim_run, expect_records, last_read

log = logging.getLogger("funnelsync.sync")


@dataclass
class StreamOutcome:
    """How one stream's sync ended."""

    stream: str
    run_id: int
    mode: str
    status: str  # succeeded | failed | unavailable | deferred | skipped | interrupted | cancelled
    pages: int = 0
    read: int = 0
    written: int = 0
    rejected: int = 0
    quarantined: int = 0
    error: str | None = None
    # True when the failure dooms every later stream too (bad credentials).
    stops_run: bool = False
    # The stream's data is optional or metadata: unavailable, it does not fail the run.
    degradable: bool = False

    @property
    def fails_run(self) -> bool:
        """A failure the exit code reports: `failed`, or a core stream `unavailable`."""
        return self.status == "failed" or (self.status == "unavailable" and not self.degradable)


def refreshes_kpis(outcomes: Sequence[StreamOutcome]) -> bool:
    """Whether the KPIs are recomputed after a sync: when any stream brought fresh data and the
    credentials held. Families whose inputs failed or are unavailable keep their last values,
    marked stale (service/kpis.py), so one failing stream never freezes the others."""
    return any(o.status == "succeeded" for o in outcomes) and not any(o.stops_run for o in outcomes)


class RunBook:
    """Run rows of one connection's source; `holder` is the lease holder while the sync runs."""

    def __init__(
        self,
        engine: Engine,
        *,
        connection: str,
        source: str,
        clock: Clock,
        secrets: Callable[[], list[str]],
    ) -> None:
        self.engine = engine
        self.connection = connection
        self.source = source
        self.clock = clock
        self.secrets = secrets
        self.holder: str | None = None
        # Run rows made when the sync was asked for (stream → run id), claimed as streams start.
        self.queued: dict[str, int] = {}

    def context(self, run_id: int, stream: str) -> dict[str, Any]:
        """The fields a JSON log line carries (service/logging.py)."""
        return {"run_id": run_id, "connection": self.connection, "stream": stream}

    def safe(self, error: BaseException) -> str:
        """An error's message with every secret the run knows of masked."""
        return redact(str(error) or type(error).__name__, self.secrets())

    def _new(self, stream: str, mode: str, trigger: str) -> int:
        """The stream's run row: the one queued for it when there is one, else a new one."""
        now = self.clock.now()
        queued = self.queued.pop(stream, None)
        if queued is not None and claim_run(
            self.engine, run_id=queued, mode=mode, holder=self.holder, now=now
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
            holder=self.holder,
        )

    def start(self, stream: str, mode: str, trigger: str) -> int:
        """A run row for a stream about to sync, named on the stream's lease."""
        run_id = self._new(stream, mode, trigger)
        if self.holder is not None:
            note_run(
                self.engine,
                connection=self.connection,
                source=self.source,
                stream=stream,
                holder=self.holder,
                run_id=run_id,
            )
        return run_id

    def last_read(self, stream: str, mode: str) -> int | None:
        """What the stream's last successful run of this mode read."""
        return last_read(
            self.engine, connection=self.connection, source=self.source, stream=stream, mode=mode
        )

    def expect(self, run_id: int, expected: int) -> None:
        """What the run expects to read, on its row (the admin API and `resync --follow` show it)."""
        expect_records(self.engine, run_id=run_id, expected=expected)

    def ended(self, stream: str, mode: str, status: str, message: str, trigger: str) -> int:
        """A run row for a stream that did not sync (failed before starting, or skipped)."""
        run_id = self._new(stream, mode, trigger)
        finish_run(self.engine, run_id=run_id, status=status, now=self.clock.now(), error=message)
        self.release(stream)
        return run_id

    def finish(self, outcome: StreamOutcome, status: str, request_delta: dict[str, float]) -> None:
        finish_run(
            self.engine,
            run_id=outcome.run_id,
            status=status,
            now=self.clock.now(),
            error=outcome.error,
            request_delta=request_delta,
        )
        self.release(outcome.stream)

    def release(self, stream: str) -> None:
        """Free a stream's lease once its run is closed, not when the whole sync ends."""
        if self.holder is not None:
            release(
                self.engine,
                connection=self.connection,
                source=self.source,
                holder=self.holder,
                stream=stream,
            )

    def failure(
        self, stream: str, mode: str, status: str, error: BaseException, trigger: str
    ) -> StreamOutcome:
        """A stream that could not start: its run row closed with the error."""
        message = self.safe(error)
        run_id = self.ended(stream, mode, status, message, trigger)
        stops = isinstance(error, AuthenticationError)
        return StreamOutcome(stream, run_id, mode, status, error=message, stops_run=stops)

    def passed_over(self, stream: str, mode: str, status: str, message: str, trigger: str) -> StreamOutcome:
        """A stream that did not run: its run row closed with `status` and why."""
        return StreamOutcome(
            stream, self.ended(stream, mode, status, message, trigger), mode, status, error=message
        )

    def busy(self, busy: Busy, mode: str, trigger: str) -> StreamOutcome:
        """A stream another process is syncing: skipped, with its run row saying why."""
        outcome = self.passed_over(busy.stream, mode, "skipped", busy.message(), trigger)
        log.warning(
            "sync %s skipped: %s", busy.stream, outcome.error, extra=self.context(outcome.run_id, busy.stream)
        )
        return outcome

    def unstarted(self, stream: str, mode: str, trigger: str, stop: Stop | None) -> StreamOutcome:
        """A stream asked for but never started: a stop, or an earlier stream's fatal error."""
        status, message = (
            (stop.status, stop.reason) if stop else ("skipped", "not run: an earlier stream ended the sync")
        )
        return self.passed_over(stream, mode, status, message, trigger)
