"""The HubSpot API client: one httpx client, the shared retry policy, proactive rate limiting, and
HubSpot's error bodies turned into exceptions classified by what the caller should do."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson

from config import HubSpotSettings, RetrySettings
from connector.clock import Clock
from connector.errors import (
    AuthenticationError,
    FatalAPIError,
    MalformedResponseError,
    PermissionDeniedError,
    RateLimitDeferredError,
    RateLimitedError,
    RetriableAPIError,
)
from connector.http import RequestStats, RetryPolicy, ServerClock, build_client, parse_retry_after
from connector.hubspot.constants import BURST_INTERVAL_SECONDS
from connector.ratelimit import RollingWindowLimiter

log = logging.getLogger("funnelsync.connector.hubspot")


def _header_int(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


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


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = decode_json(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _next_midnight(now: datetime) -> datetime:
    # HubSpot resets the daily limit at midnight in the account's time zone; UTC is the safe guess.
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


PRIVATE_APP_HINT = "Check FUNNELSYNC_HUBSPOT__TOKEN (private-app access token)."


def classify_error(
    response: httpx.Response, *, now: datetime, auth_hint: str = PRIVATE_APP_HINT
) -> Exception:
    """The exception for an error answer; 429 and 5xx are retriable, DAILY defers, other 4xx are fatal."""
    request = response.request
    where: dict[str, Any] = {
        "status": response.status_code,
        "method": request.method,
        "path": request.url.path,
    }
    body = _error_body(response)
    message = str(body.get("message") or response.reason_phrase or "error")
    where["category"] = body.get("category") or body.get("errorType")
    where["correlation_id"] = body.get("correlationId") or response.headers.get("X-HubSpot-Correlation-Id")
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now)

    if status == 429:
        policy = body.get("policyName")
        if policy == "DAILY":
            reset_at = _next_midnight(now)
            return RateLimitDeferredError(
                f"{message} The daily API limit is spent; the sync stops and resumes from its "
                f"checkpoint after the reset (expected {reset_at:%Y-%m-%d %H:%M} UTC).",
                reset_at=reset_at,
                **where,
            )
        if retry_after is None:
            if policy == "SECONDLY":
                retry_after = 1.0
            elif policy == "TEN_SECONDLY_ROLLING":
                interval_ms = _header_int(response, "X-HubSpot-RateLimit-Interval-Milliseconds")
                retry_after = interval_ms / 1000 if interval_ms else BURST_INTERVAL_SECONDS
        return RateLimitedError(message, policy=policy, retry_after=retry_after, **where)
    if status >= 500:
        if not body:
            message = f"server error ({response.headers.get('content-type', 'no content type')} body)"
        return RetriableAPIError(message, retry_after=retry_after, **where)
    if status == 401:
        return AuthenticationError(f"{message} {auth_hint}", **where)
    if status == 403:
        context = body.get("context") or {}
        scopes = context.get("requiredGranularScopes") or context.get("requiredScopes") or []
        return PermissionDeniedError(message, missing_scopes=[str(s) for s in scopes], **where)
    if status == 414:
        return FatalAPIError("request URI too long (414): too many properties in one request", **where)
    return FatalAPIError(message, **where)


class HubSpotClient:
    """Sends requests to one HubSpot portal. Thread-safe: streams may share it."""

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        auth: httpx.Auth,
        retry: RetrySettings,
        clock: Clock,
        transport: httpx.BaseTransport | None = None,
        auth_hint: str = PRIVATE_APP_HINT,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.stats = RequestStats()
        self.retry_policy = RetryPolicy(retry, clock, stats=self.stats)
        self.limiter = RollingWindowLimiter(settings.rate_limit_per_10s, BURST_INTERVAL_SECONDS, clock)
        self.search_limiter = RollingWindowLimiter(settings.search_rate_per_second, 1.0, clock)
        self.http = build_client(
            settings.base_url,
            auth=auth,
            timeout=settings.timeout_seconds,
            transport=transport,
        )
        self.auth_hint = auth_hint
        self.server_clock = ServerClock(clock, lambda: self.get("/crm/v3/owners", params={"limit": 1}))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> HubSpotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- time -------------------------------------------------------------------------------

    def server_now(self) -> datetime:
        """HubSpot's clock (see `ServerClock`); incremental windows end at it."""
        return self.server_clock.now()

    def now_estimate(self) -> datetime:
        """HubSpot's clock if an answer has told it, else ours, without a request."""
        return self.server_clock.estimate()

    # -- requests ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, params: Any, json_body: Any, search: bool) -> Any:
        waited = self.limiter.acquire()
        if search:
            waited += self.search_limiter.acquire()
        if waited:
            self.stats.add(waited_seconds=waited)
        self.stats.add(requests=1)
        try:
            response = self.http.request(method, path, params=params, json=json_body)
        except httpx.TimeoutException as exc:
            raise RetriableAPIError(f"timed out ({type(exc).__name__})", method=method, path=path) from None
        except httpx.TransportError as exc:
            raise RetriableAPIError(
                f"connection failed ({type(exc).__name__})", method=method, path=path
            ) from None
        self.server_clock.observe(response.headers.get("Date"))
        self.limiter.observe_limit(_header_int(response, "X-HubSpot-RateLimit-Max"))
        if response.status_code < 400:
            self.limiter.observe_remaining(_header_int(response, "X-HubSpot-RateLimit-Remaining"))
        if response.status_code >= 400:
            error = classify_error(response, now=self.clock.now(), auth_hint=self.auth_hint)
            if isinstance(error, RateLimitedError):
                self.stats.add(rate_limited=1)
                (self.search_limiter if error.policy == "SECONDLY" else self.limiter).saturate()
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
    ) -> Any:
        """One API call through the retry policy; returns the decoded JSON body."""
        return self.retry_policy.call(
            lambda: self._send(method, path, params=params, json_body=json_body, search=search)
        )

    def get(self, path: str, *, params: Any = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, *, json_body: Any, params: Any = None, search: bool = False) -> Any:
        return self.request("POST", path, params=params, json_body=json_body, search=search)
