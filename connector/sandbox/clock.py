"""The sandbox's clock: real time plus an offset that admin calls move forward, or frozen."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """`now()` for record timestamps and the Date header; `monotonic()` for rate-limit windows.

    Advancing the clock moves both, so a test can age a rate-limit window or simulate days of
    CRM activity without waiting. A frozen clock only moves when advanced.
    """

    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        self._frozen = frozen
        self._start_wall = start or datetime.now(UTC)
        self._start_mono = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def _elapsed(self) -> float:
        return (0.0 if self._frozen else time.monotonic() - self._start_mono) + self._offset

    def now(self) -> datetime:
        with self._lock:
            return self._start_wall + timedelta(seconds=self._elapsed())

    def monotonic(self) -> float:
        with self._lock:
            return self._start_mono + self._elapsed()

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()

    @property
    def frozen(self) -> bool:
        return self._frozen
