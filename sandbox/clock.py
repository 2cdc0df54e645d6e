"""The sandbox's clock: real time plus an offset that admin calls move forward, or frozen."""

from __future__ import annotations

import email.utils
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any


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


def http_date(value: datetime) -> str:
    return email.utils.format_datetime(value.replace(microsecond=0), usegmt=True)


class DateHeaderMiddleware:
    """Sets `Date` from the sandbox clock, so clients see the portal's (movable) time."""

    def __init__(self, app: Any, clock: Any) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                headers.append((b"date", http_date(self.clock.now()).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_date)
