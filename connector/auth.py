"""Credentials every vendor shares, as httpx.Auth: added per request, never stored in the client's
headers, never shown in a repr, a log line or an error message."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx
from pydantic import SecretStr


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer <token>` for tokens that do not expire: HubSpot Service Keys and
    private-app tokens, Mailchimp OAuth tokens."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(token=**********)"


@dataclass(frozen=True)
class OAuthToken:
    """An access token, when it expires, and the refresh token that goes with it (which the vendor
    may return changed: whatever comes back is kept)."""

    access_token: SecretStr
    refresh_token: SecretStr
    expires_at: datetime


class TokenStore(Protocol):
    """Where the latest token survives between runs (the service chooses; the connector does
    not touch files or databases)."""

    def load(self) -> OAuthToken | None: ...

    def save(self, token: OAuthToken) -> None: ...


class MemoryTokenStore:
    """Keeps the token for the life of the process only."""

    def __init__(self) -> None:
        self._token: OAuthToken | None = None

    def load(self) -> OAuthToken | None:
        return self._token

    def save(self, token: OAuthToken) -> None:
        self._token = token
