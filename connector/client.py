"""What every vendor's API client shares: one httpx client per run, the retry policy, request
counters, the vendor's clock from its `Date` header, transport errors and bodies turned into
the exceptions of connector/errors.py. A vendor adds how its error answers read
(`classify_error`) and, if it has one, its own pacing (`_before_send`, `_observe`)."""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any

import httpx

from config import RetrySettings
from connector.clock import Clock
from connector.errors import (
    APIError,
    AuthenticationError,
    FatalAPIError,
    LinkExpiredError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RetriableAPIError,
)
from connector.http import RequestStats, RetryPolicy, ServerClock, build_client, decode_json


def error_context(response: httpx.Response, *, category: Any, correlation_id: Any) -> dict[str, Any]:
    """The keyword arguments every APIError of an error answer carries."""
    return {
        "status": response.status_code,
        "method": response.request.method,
        "path": response.request.url.path,
        "category": category,
        "correlation_id": correlation_id,
    }


def server_error_message(response: httpx.Response) -> str:
    """What to say of an error answer without a JSON body (a proxy's HTML page)."""
    return f"server error ({response.headers.get('content-type', 'no content type')} body)"


def classify_status(
    message: str,
    where: dict[str, Any],
    *,
    auth_hint: str,
    retry_after: float | None = None,
    missing_scopes: list[str] | None = None,
) -> APIError:
    """The exception for an error status once a vendor's own cases are handled: 5xx retriable,
    401 authentication (with the hint naming the setting to check), 403 permissions, other fatal."""
    status = int(where["status"])
    if status >= 500:
        return RetriableAPIError(message, retry_after=retry_after, **where)
    if status == 401:
        return AuthenticationError(f"{message} {auth_hint}", **where)
    if status == 403:
        return PermissionDeniedError(message, missing_scopes=missing_scopes, **where)
    if status in (404, 410):
        # 410 Gone: an API the vendor retired (HubSpot's analytics v2 after September 2027).
        return NotFoundError(message, **where)
    return FatalAPIError(message, **where)


class ApiClient(ABC):
    """Sends requests to one vendor account. Thread-safe: a run's streams share it, its retry
    policy, its counters and at most `max_connections` requests in flight."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None,
        timeout: float,
        retry: RetrySettings,
        clock: Clock,
        probe: tuple[str, dict[str, Any] | None],
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 10,
    ) -> None:
        self.clock = clock
        self.stats = RequestStats()
        self.retry_policy = RetryPolicy(retry, clock, stats=self.stats)
        self._slots = threading.BoundedSemaphore(max_connections)
        self.http = build_client(
            base_url, auth=auth, timeout=timeout, transport=transport, max_connections=max_connections
        )
        probe_path, probe_params = probe
        self.server_clock = ServerClock(clock, lambda: self.get(probe_path, params=probe_params))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- time -------------------------------------------------------------------------------

    def server_now(self) -> datetime:
        """The vendor's clock (see `ServerClock`): incremental windows end at it."""
        return self.server_clock.now()

    def now_estimate(self) -> datetime:
        """The vendor's clock if an answer has told it, else ours, without a request."""
        return self.server_clock.estimate()

    # -- the vendor's part ------------------------------------------------------------------

    @abstractmethod
    def classify_error(self, response: httpx.Response) -> APIError:
        """The exception for an error answer (status >= 400)."""

    def _before_send(self, *, search: bool) -> float:
        """Pace a request before it goes; returns the seconds spent waiting."""
        return 0.0

    def _observe(self, response: httpx.Response) -> None:
        """Learn from an answer (rate-limit headers); nothing by default."""
        return None

    def _rate_limited(self, error: RateLimitedError) -> None:
        """React to a 429 beyond the retry policy's wait; nothing by default."""
        return None

    # -- requests ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, params: Any, json_body: Any, search: bool) -> Any:
        waited = self._before_send(search=search)
        if waited:
            self.stats.add(waited_seconds=waited)
        self.stats.add(requests=1)
        with self._slots:
            try:
                response = self.http.request(method, path, params=params, json=json_body)
            except httpx.TimeoutException as exc:
                raise RetriableAPIError(
                    f"timed out ({type(exc).__name__})", method=method, path=path
                ) from None
            except httpx.TransportError as exc:
                raise RetriableAPIError(
                    f"connection failed ({type(exc).__name__})", method=method, path=path
                ) from None
        self.server_clock.observe(response.headers.get("Date"))
        self._observe(response)
        if response.status_code >= 400:
            error = self.classify_error(response)
            if isinstance(error, RateLimitedError):
                self.stats.add(rate_limited=1)
                self._rate_limited(error)
            elif isinstance(error, RetriableAPIError):
                self.stats.add(server_errors=1)
            raise error
        try:
            return decode_json(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise MalformedResponseError(
                f"response body is not valid JSON ({len(response.content)} bytes)",
                status=response.status_code,
                method=method,
                path=path,
            ) from None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        search: bool = False,
        retry: bool = True,
    ) -> Any:
        """One API call through the retry policy; returns the decoded JSON body. `retry=False`:
        one attempt, for a call that starts something (a second attempt could start it twice)."""
        send: Callable[[], Any] = lambda: self._send(  # noqa: E731
            method, path, params=params, json_body=json_body, search=search
        )
        return self.retry_policy.call(send) if retry else send()

    def download(self, url: str, sink: IO[bytes]) -> int:
        """Stream the file at a link the API handed out (an export's) into `sink`; returns its
        size. No credentials go with it: the link is the credential, and its host is not the
        API's. The link is never put in an error or a log line. Transport failures and 5xx are
        retried from the start; 403/404/410 raise LinkExpiredError."""
        return self.retry_policy.call(lambda: self._fetch(url, sink))

    def _fetch(self, url: str, sink: IO[bytes]) -> int:
        sink.seek(0)
        sink.truncate()
        size = 0
        method, path = "GET", "<export file>"
        try:
            with self._slots, self.http.stream(method, url, auth=None, headers={"Accept": "*/*"}) as answer:
                status = answer.status_code
                if status in (403, 404, 410):
                    message = "the download link expired or is unknown"
                    raise LinkExpiredError(message, status=status, method=method, path=path)
                if status >= 500 or status == 429:
                    raise RetriableAPIError("the file host failed", status=status, method=method, path=path)
                if status >= 400:
                    message = "the file host refused the download"
                    raise FatalAPIError(message, status=status, method=method, path=path)
                for chunk in answer.iter_bytes(1 << 20):
                    sink.write(chunk)
                    size += len(chunk)
        except httpx.TransportError as exc:
            message = f"download failed ({type(exc).__name__})"
            raise RetriableAPIError(message, method=method, path=path) from None
        self.stats.add(downloads=1, downloaded_bytes=size)
        return size

    def get(self, path: str, *, params: Any = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, *, json_body: Any, params: Any = None, search: bool = False) -> Any:
        return self.request("POST", path, params=params, json_body=json_body, search=search)


def items(body: Any, key: str, path: str) -> list[dict[str, Any]]:
    """The list under `key` of a listing's body; a body without one is malformed (retried)."""
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise MalformedResponseError(f"response has no '{key}' list", path=path)
    return list(body[key])
