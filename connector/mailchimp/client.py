"""The Mailchimp API client: the account's data centre from the key (or the OAuth metadata), at most
10 requests in flight for all streams together, the shared retry policy, and problem+json errors
turned into exceptions classified by what the caller should do."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Generator
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from config import MailchimpSettings, RetrySettings
from connector.clock import Clock
from connector.errors import (
    AuthenticationError,
    ConfigError,
    FatalAPIError,
    MalformedResponseError,
    PermissionDeniedError,
    RateLimitedError,
    RetriableAPIError,
)
from connector.http import RequestStats, RetryPolicy, ServerClock, build_client

KEY_HINT = "Check FUNNELSYNC_MAILCHIMP__API_KEY: it ends with the account's data centre, e.g. -us6."
_DC = re.compile(r"^[a-z]+[0-9]+$")


def data_centre(key: str) -> str:
    """The data centre an API key belongs to: the text after its last `-` (`…-us6` → `us6`)."""
    _, sep, dc = key.rpartition("-")
    if not sep or not _DC.match(dc):
        raise ConfigError(f"The Mailchimp API key has no data-centre suffix. {KEY_HINT}")
    return dc


class MailchimpKeyAuth(httpx.Auth):
    """HTTP Basic with any user name and the API key as password (Mailchimp's documented form)."""

    def __init__(self, key: SecretStr) -> None:
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = base64.b64encode(f"funnelsync:{self._key.get_secret_value()}".encode()).decode()
        request.headers["Authorization"] = f"Basic {token}"
        yield request

    def __repr__(self) -> str:
        return "MailchimpKeyAuth(key=**********)"


class BearerAuth(httpx.Auth):
    """An OAuth access token (Mailchimp's never expire)."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(token=**********)"


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def classify_error(response: httpx.Response) -> Exception:
    """The exception for an error answer: 429, 5xx and body-less 403 (throttling at high volume)
    are retried; other 4xx are fatal, with Mailchimp's title and detail in the message."""
    body = _problem(response)
    status = response.status_code
    where: dict[str, Any] = {
        "status": status,
        "method": response.request.method,
        "path": response.request.url.path,
        "category": body.get("title"),
        "correlation_id": body.get("instance") or response.headers.get("X-Request-Id"),
    }
    detail = str(body.get("detail") or response.reason_phrase or "error")
    if status == 429:
        return RateLimitedError(detail, policy="CONCURRENT_CONNECTIONS", **where)
    if status >= 500 or (status == 403 and not body):
        if not body:
            detail = f"server error ({response.headers.get('content-type', 'no content type')} body)"
        return RetriableAPIError(detail, **where)
    if status == 401:
        return AuthenticationError(f"{detail} {KEY_HINT}", **where)
    if status == 403:
        return PermissionDeniedError(detail, **where)
    return FatalAPIError(detail, **where)


def resolve_base_url(
    settings: MailchimpSettings, *, transport: httpx.BaseTransport | None = None
) -> tuple[str, httpx.Auth]:
    """The API root and the auth for the configured credentials: an API key names its data
    centre; an OAuth token is looked up at the metadata endpoint (one request)."""
    if settings.api_key is not None and settings.api_key.get_secret_value():
        dc = data_centre(settings.api_key.get_secret_value())
        return settings.base_url or f"https://{dc}.api.mailchimp.com/3.0", MailchimpKeyAuth(settings.api_key)
    if settings.access_token is None or not settings.access_token.get_secret_value():
        raise ConfigError(
            "No Mailchimp credentials: set FUNNELSYNC_MAILCHIMP__API_KEY (or __ACCESS_TOKEN for OAuth)."
        )
    auth = BearerAuth(settings.access_token)
    if settings.base_url:
        return settings.base_url, auth
    with httpx.Client(timeout=settings.timeout_seconds, transport=transport) as probe:
        response = probe.get(
            settings.metadata_url,
            headers={"Authorization": f"OAuth {settings.access_token.get_secret_value()}"},
        )
    endpoint = (_problem(response) or {}).get("api_endpoint") if response.status_code == 200 else None
    if not endpoint:
        # A bad token can even get a 200 without `api_endpoint`.
        raise AuthenticationError(
            "The Mailchimp OAuth token was refused by the metadata endpoint. Check "
            "FUNNELSYNC_MAILCHIMP__ACCESS_TOKEN or authorise the app again.",
            status=response.status_code,
            path=httpx.URL(settings.metadata_url).path,
        )
    return f"{str(endpoint).rstrip('/')}/3.0", auth


class MailchimpClient:
    """Sends requests to one Mailchimp account. Thread-safe: all streams share it and its
    connection limit (a semaphore of `max_connections`, Mailchimp's 10 at most)."""

    def __init__(
        self,
        settings: MailchimpSettings,
        *,
        base_url: str,
        auth: httpx.Auth,
        retry: RetrySettings,
        clock: Clock,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.stats = RequestStats()
        self.retry_policy = RetryPolicy(retry, clock, stats=self.stats)
        self._slots = threading.BoundedSemaphore(settings.max_connections)
        self.server_clock = ServerClock(clock, lambda: self.get("/ping"))
        self.http = build_client(
            base_url.rstrip("/") + "/",
            auth=auth,
            timeout=settings.timeout_seconds,
            transport=transport,
            max_connections=settings.max_connections,
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> MailchimpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def server_now(self) -> datetime:
        """Mailchimp's clock (see `ServerClock`): windows on `last_changed` end at it."""
        return self.server_clock.now()

    def _send(self, path: str, params: Any) -> Any:
        self.stats.add(requests=1)
        with self._slots:
            try:
                response = self.http.get(path.lstrip("/"), params=params)
            except httpx.TimeoutException as exc:
                raise RetriableAPIError(
                    f"timed out ({type(exc).__name__})", method="GET", path=path
                ) from None
            except httpx.TransportError as exc:
                raise RetriableAPIError(
                    f"connection failed ({type(exc).__name__})", method="GET", path=path
                ) from None
        self.server_clock.observe(response.headers.get("Date"))
        if response.status_code >= 400:
            error = classify_error(response)
            if isinstance(error, RateLimitedError):
                self.stats.add(rate_limited=1)
            elif isinstance(error, RetriableAPIError):
                self.stats.add(server_errors=1)
            raise error
        try:
            return json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise MalformedResponseError(
                f"response body is not valid JSON ({len(response.content)} bytes)",
                status=response.status_code,
                method="GET",
                path=path,
            ) from None

    def get(self, path: str, *, params: Any = None) -> Any:
        """One GET through the retry policy; returns the decoded JSON body."""
        return self.retry_policy.call(lambda: self._send(path, params))
