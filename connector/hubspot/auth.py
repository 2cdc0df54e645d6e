"""HubSpot's OAuth 2.0 as httpx.Auth (tokens that do not expire use connector.auth.BearerAuth):
the credential is added per request, never stored in the client's headers, and never appears in
a repr, a log line or an error message."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Generator
from datetime import timedelta

import httpx
from pydantic import SecretStr

from connector.auth import MemoryTokenStore, OAuthToken, TokenStore
from connector.clock import Clock
from connector.errors import AuthenticationError, MalformedResponseError, RetriableAPIError
from connector.http import decode_json, error_body

log = logging.getLogger("funnelsync.connector.hubspot")

OAUTH_HINT = (
    "Check FUNNELSYNC_HUBSPOT__CLIENT_ID, __CLIENT_SECRET and __REFRESH_TOKEN, or authorise the app again."
)


class OAuthAuth(httpx.Auth):
    """OAuth 2.0 for a HubSpot public app: refresh before the access token expires (HubSpot's
    live 30 minutes), and once more when an answer says EXPIRED_AUTHENTICATION.

    Several threads share one instance. A refresh holds a lock; a thread that waited on it finds
    the token already new and uses it, so one expiry costs one refresh, never a burst of them.
    The refresh request goes through the same HTTP client (its timeouts and transport), to
    `token_path` on the API host.
    """

    requires_response_body = True

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: SecretStr,
        refresh_token: SecretStr,
        token_path: str,
        clock: Clock,
        store: TokenStore | None = None,
        margin_seconds: float = 300.0,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._token_path = token_path
        self._clock = clock
        self._store = store or MemoryTokenStore()
        self._margin = timedelta(seconds=margin_seconds)
        self._lock = threading.Lock()
        self._token = self._store.load()
        self._refresh_token = self._token.refresh_token if self._token else refresh_token
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"OAuthAuth(client_id={self._client_id!r}, tokens=**********)"

    @property
    def secrets(self) -> list[str]:
        """Every secret this auth holds now (for redaction)."""
        values = [self._client_secret.get_secret_value(), self._refresh_token.get_secret_value()]
        if self._token is not None:
            values.append(self._token.access_token.get_secret_value())
        return [v for v in values if v]

    def _fresh_enough(self, token: OAuthToken | None) -> bool:
        return token is not None and self._clock.now() < token.expires_at - self._margin

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._token
        if not self._fresh_enough(token):
            token = yield from self._refresh(request, stale=token)
        assert token is not None
        request.headers["Authorization"] = f"Bearer {token.access_token.get_secret_value()}"
        response = yield request
        if response.status_code == 401 and _category(response) == "EXPIRED_AUTHENTICATION":
            log.info("access token expired before its time; refreshing")
            token = yield from self._refresh(request, stale=token)
            request.headers["Authorization"] = f"Bearer {token.access_token.get_secret_value()}"
            yield request

    def _refresh(
        self, request: httpx.Request, *, stale: OAuthToken | None
    ) -> Generator[httpx.Request, httpx.Response, OAuthToken]:
        with self._lock:
            current = self._token
            if current is not None and current is not stale and self._fresh_enough(current):
                return current  # another request refreshed while this one waited
            response = yield httpx.Request(
                "POST",
                request.url.join(self._token_path),
                data={
                    "grant_type": "refresh_token",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret.get_secret_value(),
                    "refresh_token": self._refresh_token.get_secret_value(),
                },
                headers={"Accept": "application/json"},
            )
            token = self._parse(response)
            self._token = token
            self._refresh_token = token.refresh_token
            self.refreshes += 1
            self._store.save(token)
            return token

    def _parse(self, response: httpx.Response) -> OAuthToken:
        path = response.request.url.path
        body = error_body(response)
        if response.status_code == 429 or response.status_code >= 500:
            raise RetriableAPIError(
                f"token refresh failed with HTTP {response.status_code}",
                status=response.status_code,
                method="POST",
                path=path,
            )
        if response.status_code == 200 and not _json_object(response):
            # A proxy's page or a torn answer is not a refusal: the refresh is tried again.
            raise MalformedResponseError(
                f"token refresh answer is not a JSON object ({len(response.content)} bytes)",
                status=200,
                method="POST",
                path=path,
            )
        if response.status_code != 200 or not body.get("access_token"):
            # v1 answers {status, message}; the dated and v3 endpoints add RFC 6749's error fields.
            codes = [str(c) for c in (body.get("error"), body.get("status") or body.get("category")) if c]
            kind = f"{codes[0]} ({codes[1]})" if len(codes) == 2 else "".join(codes)
            reason = f"{kind}: {body.get('error_description') or body.get('message') or ''}"
            raise AuthenticationError(
                f"OAuth token refresh was refused ({reason.strip(': ') or 'no reason given'}). Check "
                "FUNNELSYNC_HUBSPOT__CLIENT_ID, FUNNELSYNC_HUBSPOT__CLIENT_SECRET and "
                "FUNNELSYNC_HUBSPOT__REFRESH_TOKEN, or authorise the app again.",
                status=response.status_code,
                method="POST",
                path=path,
            )
        lifetime = body.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) else 1800.0
        return OAuthToken(
            access_token=SecretStr(str(body["access_token"])),
            refresh_token=SecretStr(str(body.get("refresh_token") or self._refresh_token.get_secret_value())),
            expires_at=self._clock.now() + timedelta(seconds=seconds),
        )


def _json_object(response: httpx.Response) -> bool:
    try:
        return isinstance(decode_json(response.content), dict)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def _category(response: httpx.Response) -> str | None:
    category = error_body(response).get("category")
    return None if category is None else str(category)
