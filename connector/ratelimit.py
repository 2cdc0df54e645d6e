"""Client-side rolling-window limiter: stay under the vendor's ceiling instead of bouncing off it."""

from __future__ import annotations

import threading
from collections import deque

from connector.clock import Clock


class RollingWindowLimiter:
    """At most `max_requests` sends in any `interval` seconds, as HubSpot counts them.

    `acquire()` blocks (through the injected clock) until a send is allowed. `margin` absorbs
    the gap between when we count a request and when the server does: with several streams
    sending at once, a request counted early can reach the server after later ones.
    """

    def __init__(self, max_requests: int, interval: float, clock: Clock, *, margin: float = 0.25) -> None:
        if max_requests < 1 or interval <= 0:
            raise ValueError("max_requests must be >= 1 and interval > 0")
        self.max_requests = max_requests
        self.interval = interval
        self.margin = margin
        self._clock = clock
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        horizon = now - self.interval - self.margin
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()

    def wait_time(self) -> float:
        """Seconds until the next send is allowed (0 when it is allowed now)."""
        with self._lock:
            now = self._clock.monotonic()
            self._prune(now)
            if len(self._sent) < self.max_requests:
                return 0.0
            oldest = self._sent[len(self._sent) - self.max_requests]
            return max(0.0, oldest + self.interval + self.margin - now)

    def acquire(self) -> float:
        """Wait for a slot and take it; returns the seconds spent waiting."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock.monotonic()
                self._prune(now)
                if len(self._sent) < self.max_requests:
                    self._sent.append(now)
                    return waited
                oldest = self._sent[len(self._sent) - self.max_requests]
                delay = max(0.001, oldest + self.interval + self.margin - now)
            self._clock.sleep(delay)
            waited += delay

    def observe_limit(self, max_requests: int | None) -> None:
        """Adopt the ceiling the server reports (X-HubSpot-RateLimit-Max), never raising it above config."""
        if max_requests is not None and 0 < max_requests < self.max_requests:
            with self._lock:
                self.max_requests = max_requests

    def observe_remaining(self, remaining: int | None) -> None:
        """Adopt the server's count when it has seen more requests than we have counted
        (X-HubSpot-RateLimit-Remaining): other clients of the same app and portal, or requests
        that reached it in another order. The window only ever gets fuller, never emptier."""
        if remaining is None or remaining < 0:
            return
        with self._lock:
            now = self._clock.monotonic()
            self._prune(now)
            room = self.max_requests - len(self._sent)
            for _ in range(room - remaining):
                self._sent.append(now)

    def saturate(self) -> None:
        """The server said 429: treat the window as full from now on."""
        with self._lock:
            now = self._clock.monotonic()
            self._prune(now)
            while len(self._sent) < self.max_requests:
                self._sent.append(now)
