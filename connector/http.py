"""The HTTP plumbing every connector shares: one client per run, one retry policy, request counters."""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import orjson
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from config import RetrySettings
from connector.clock import Clock
from connector.errors import FatalAPIError, RetriableAPIError

log = logging.getLogger("funnelsync.connector.http")

T = TypeVar("T")

USER_AGENT = "funnelsync/0.1"


def build_client(
    base_url: str,
    *,
    auth: httpx.Auth | None,
    timeout: float,
    transport: httpx.BaseTransport | None = None,
    max_connections: int = 10,
) -> httpx.Client:
    """The one httpx client of a run: base URL, auth, a timeout on every phase, bounded connections."""
    return httpx.Client(
        base_url=base_url,
        auth=auth,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        transport=transport,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
    )


def decode_json(content: bytes) -> Any:
    """A JSON body as Python values: orjson (several times faster than json on record pages),
    with the standard parser as the fallback so odd but valid JSON (NaN) still parses. orjson
    reads integers beyond 64 bits as floats; HubSpot sends property values as strings.

    Raises json.JSONDecodeError (or UnicodeDecodeError) when the body is not JSON.
    """
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def error_body(response: httpx.Response) -> dict[str, Any]:
    """An error answer's JSON object, or {} when its body is not one (an HTML proxy page)."""
    try:
        body = decode_json(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class RequestStats:
    """What a run cost: requests sent, retries, 429s, time spent waiting. Thread-safe increments.

    Streams that share one client count their own share with `scoped(child)`: while it is
    active in a thread, what that thread adds is added to the child too.
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    waited_seconds: float = 0.0
    # Files fetched from links the API handed out (not API requests: no rate limit applies).
    downloads: int = 0
    downloaded_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _scope: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)
        child = getattr(self._scope, "child", None)
        if child is not None:
            child.add(**deltas)

    @contextmanager
    def scoped(self, child: RequestStats) -> Iterator[RequestStats]:
        """Count this thread's requests in `child` as well, until the block ends."""
        previous = getattr(self._scope, "child", None)
        self._scope.child = child
        try:
            yield child
        finally:
            self._scope.child = previous

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "rate_limited": self.rate_limited,
                "server_errors": self.server_errors,
                "waited_seconds": self.waited_seconds,
                "downloads": self.downloads,
                "downloaded_bytes": self.downloaded_bytes,
            }


class RetryPolicy:
    """The single retry policy: retry only RetriableAPIError, bounded, Retry-After aware.

    The wait is the server's hint when it gave one (clamped to `max_wait_seconds`), else
    exponential backoff with jitter, capped. Sleeping goes through the injected clock.
    """

    def __init__(
        self,
        settings: RetrySettings,
        clock: Clock,
        *,
        stats: RequestStats | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.stats = stats or RequestStats()
        self._rng = rng or random.Random()

    def wait_seconds(self, attempt: int, error: BaseException | None) -> float:
        """How long to wait after failed attempt number `attempt` (1-based)."""
        s = self.settings
        hint = getattr(error, "retry_after", None)
        if hint is not None:
            return float(min(max(hint, 0.0), s.max_wait_seconds))
        backoff = min(s.max_wait_seconds, s.initial_wait_seconds * 2 ** (attempt - 1))
        return float(min(s.max_wait_seconds, backoff + self._rng.uniform(0, s.jitter_seconds)))

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        return self.wait_seconds(state.attempt_number, error)

    def _before_sleep(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self.stats.add(retries=1, waited_seconds=wait)
        log.warning(
            "retrying after %s: waiting %.2fs (attempt %d of %d)",
            error,
            wait,
            state.attempt_number + 1,
            self.settings.max_attempts,
        )

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn`, retrying transient failures; the last error propagates unchanged."""
        retrying = Retrying(
            retry=retry_if_exception_type(RetriableAPIError),
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=self._wait,
            sleep=self.clock.sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        return retrying(fn)


class ServerClock:
    """The API's clock, from the `Date` header of its latest answer (second resolution).

    Windows on modification times end at the server's "now", not ours, so a skewed local clock
    cannot make a sync skip records. Without any answer yet, `now()` runs the client's cheap
    `probe` request once (streams starting together share it).
    """

    def __init__(self, clock: Clock, probe: Callable[[], object]) -> None:
        self._clock = clock
        self._probe = probe
        self._offset: timedelta | None = None
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()

    def observe(self, date_header: str | None) -> None:
        if not date_header:
            return
        try:
            server = email.utils.parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            return
        if server.tzinfo is None:
            server = server.replace(tzinfo=UTC)
        with self._lock:
            self._offset = server - self._clock.now()

    def now(self) -> datetime:
        if self._offset is None:
            with self._probe_lock:
                if self._offset is None:
                    # A refusal (the probe's scope missing) still carries a Date header.
                    with contextlib.suppress(FatalAPIError):
                        self._probe()
                    if self._offset is None:  # a proxy that drops or mangles `Date`: ask once
                        log.warning("the API's answers carry no usable Date header; using the local clock")
                        self._offset = timedelta(0)
        return self.estimate()

    def estimate(self) -> datetime:
        """The server's clock if an answer has told it, else ours: for deciding whether something
        is due, where a few seconds of skew do not matter and a request to learn them would."""
        return self._clock.now() + (self._offset or timedelta(0))
