"""HubSpot authentication as an httpx.Auth: the token is added per request, never stored in headers."""

from __future__ import annotations

from collections.abc import Generator

import httpx
from pydantic import SecretStr


class PrivateAppAuth(httpx.Auth):
    """`Authorization: Bearer <private-app token>`; private-app tokens do not expire."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
        yield request

    def __repr__(self) -> str:
        return "PrivateAppAuth(token=**********)"
