"""The HubSpot API client: the shared client base, proactive rate limiting (HubSpot's rolling ten
seconds and the search API's per-second limit), and HubSpot's error bodies turned into
exceptions classified by what the caller should do."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from config import HubSpotSettings, RetrySettings
from connector.client import ApiClient, classify_status, error_context, server_error_message
from connector.clock import Clock
from connector.errors import APIError, FatalAPIError, RateLimitDeferredError, RateLimitedError
from connector.http import error_body, parse_retry_after
from connector.hubspot.constants import BURST_INTERVAL_SECONDS
from connector.hubspot.endpoints import HubSpotPaths
from connector.ratelimit import RollingWindowLimiter

TOKEN_HINT = "Check FUNNELSYNC_HUBSPOT__TOKEN (a Service Key or private-app access token)."


def _header_int(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _next_midnight(now: datetime) -> datetime:
    # HubSpot resets the daily limit at midnight in the account's time zone; UTC is the safe guess.
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def _rate_limited(
    response: httpx.Response, body: dict[str, Any], message: str, where: dict[str, Any], now: datetime
) -> APIError:
    """A 429: the daily budget defers the run; a burst or per-second limit waits and retries."""
    policy = body.get("policyName")
    if policy == "DAILY":
        reset_at = _next_midnight(now)
        return RateLimitDeferredError(
            f"{message} The daily API limit is spent; the sync stops and resumes from its "
            f"checkpoint after the reset (expected {reset_at:%Y-%m-%d %H:%M} UTC).",
            reset_at=reset_at,
            **where,
        )
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
    if retry_after is None:
        if policy == "SECONDLY":
            retry_after = 1.0
        elif policy == "TEN_SECONDLY_ROLLING":
            interval_ms = _header_int(response, "X-HubSpot-RateLimit-Interval-Milliseconds")
            retry_after = interval_ms / 1000 if interval_ms else BURST_INTERVAL_SECONDS
    return RateLimitedError(message, policy=policy, retry_after=retry_after, **where)


def classify_error(response: httpx.Response, *, now: datetime, auth_hint: str = TOKEN_HINT) -> APIError:
    """The exception for an error answer; 429 and 5xx are retriable, DAILY defers, other 4xx are fatal."""
    body = error_body(response)
    where = error_context(
        response,
        category=body.get("category") or body.get("errorType"),
        correlation_id=body.get("correlationId") or response.headers.get("X-HubSpot-Correlation-Id"),
    )
    message = str(body.get("message") or response.reason_phrase or "error")
    status = response.status_code
    if status == 429:
        return _rate_limited(response, body, message, where, now)
    if status == 414:
        return FatalAPIError("request URI too long (414): too many properties in one request", **where)
    if status >= 500 and not body:
        message = server_error_message(response)
    return classify_status(
        message,
        where,
        auth_hint=auth_hint,
        retry_after=parse_retry_after(response.headers.get("Retry-After"), now),
        missing_scopes=missing_scopes(body),
    )


def missing_scopes(body: dict[str, Any]) -> list[str]:
    """The scopes a 403 names (any one of them would do). Real answers put them in
    `errors[].context.requiredGranularScopes`; some (schemas) in a top-level `context`."""
    details = body.get("errors")
    nested = [d.get("context") for d in details if isinstance(d, dict)] if isinstance(details, list) else []
    contexts = [body.get("context"), *nested]
    found: dict[str, None] = {}
    for context in contexts:
        if not isinstance(context, dict):
            continue
        for key in ("requiredGranularScopes", "requiredScopes"):
            values = context.get(key)
            if isinstance(values, list):
                found.update((str(v), None) for v in values if v)
    return list(found)


class HubSpotClient(ApiClient):
    """Sends requests to one HubSpot portal, paced under its rate limits."""

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        auth: httpx.Auth,
        retry: RetrySettings,
        clock: Clock,
        transport: httpx.BaseTransport | None = None,
        auth_hint: str = TOKEN_HINT,
    ) -> None:
        # The run's API family (settings.api_version): every stream builds its paths from it.
        self.paths = HubSpotPaths(settings.api_version)
        super().__init__(
            settings.base_url,
            auth=auth,
            timeout=settings.timeout_seconds,
            retry=retry,
            clock=clock,
            probe=(self.paths.path("owners"), {"limit": 1}),
            transport=transport,
        )
        self.settings = settings
        self.auth_hint = auth_hint
        self.limiter = RollingWindowLimiter(settings.rate_limit_per_10s, BURST_INTERVAL_SECONDS, clock)
        self.search_limiter = RollingWindowLimiter(settings.search_rate_per_second, 1.0, clock)

    def __enter__(self) -> HubSpotClient:
        return self

    def classify_error(self, response: httpx.Response) -> APIError:
        return classify_error(response, now=self.clock.now(), auth_hint=self.auth_hint)

    def _before_send(self, *, search: bool) -> float:
        waited = self.limiter.acquire()
        if search:
            waited += self.search_limiter.acquire()
        return waited

    def _observe(self, response: httpx.Response) -> None:
        self.limiter.observe_limit(_header_int(response, "X-HubSpot-RateLimit-Max"))
        if response.status_code < 400:
            self.limiter.observe_remaining(_header_int(response, "X-HubSpot-RateLimit-Remaining"))

    def _rate_limited(self, error: RateLimitedError) -> None:
        # Our count of the window was behind HubSpot's: treat the window as full.
        (self.search_limiter if error.policy == "SECONDLY" else self.limiter).saturate()
