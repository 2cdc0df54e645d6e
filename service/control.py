"""Asking a running sync to stop: a shutdown, a deadline or an admin's cancel.

A sync checks between batches of pages; once asked, it commits the pages in flight (so the
checkpoint is where the data is), closes its runs with the stop's status and returns. The next
run resumes from that checkpoint.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Stop:
    """Why a sync stopped early, and the status its unfinished runs get."""

    status: str  # interrupted | cancelled
    reason: str


class StopSignal:
    """A flag a sync polls; `parent` (the process's shutdown signal) stops every child too."""

    def __init__(
        self,
        *,
        parent: StopSignal | None = None,
        timeout_seconds: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._parent = parent
        self._monotonic = monotonic
        self._deadline = monotonic() + timeout_seconds if timeout_seconds else None
        self._timeout = timeout_seconds
        self._stop: Stop | None = None
        self._event = threading.Event()
        self._lock = threading.Lock()

    def set(self, status: str, reason: str) -> None:
        """Ask to stop; the first reason given is kept."""
        with self._lock:
            if self._stop is None:
                self._stop = Stop(status, reason)
                self._event.set()

    def check(self) -> Stop | None:
        """The stop asked for, if any (a passed deadline asks now)."""
        if self._stop is None and self._deadline is not None and self._monotonic() >= self._deadline:
            self.set("interrupted", f"timed out after {self._timeout:g} s (service.sync_timeout_minutes)")
        if self._stop is None and self._parent is not None:
            inherited = self._parent.check()
            if inherited is not None:
                self.set(inherited.status, inherited.reason)
        return self._stop

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early when asked to stop (this signal's own asks)."""
        return self._event.wait(seconds)
