"""Mailchimp credentials: an API key (HTTP Basic, its data centre in its suffix) or an OAuth
token (a bearer token whose data centre the metadata endpoint tells)."""

from __future__ import annotations

import base64
import re
from collections.abc import Generator

import httpx
from pydantic import SecretStr

from config import MailchimpSettings
from connector.auth import BearerAuth
from connector.errors import AuthenticationError, ConfigurationError
from connector.http import error_body

KEY_HINT = "Check FUNNELSYNC_MAILCHIMP__API_KEY: it ends with the account's data centre, e.g. -us6."
_DC = re.compile(r"^[a-z]+[0-9]+$")


def data_centre(key: str) -> str:
    """The data centre an API key belongs to: the text after its last `-` (`…-us6` → `us6`)."""
    _, sep, dc = key.rpartition("-")
    if not sep or not _DC.match(dc):
        raise ConfigurationError(f"The Mailchimp API key has no data-centre suffix. {KEY_HINT}")
    return dc


class MailchimpKeyAuth(httpx.Auth):
    """HTTP Basic with any user name and the API key as password (Mailchimp's documented form)."""

    def __init__(self, key: SecretStr) -> None:
        self._key = key

    def _basic(self) -> str:
        return base64.b64encode(f"funnelsync:{self._key.get_secret_value()}".encode()).decode()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Basic {self._basic()}"
        yield request

    @property
    def secrets(self) -> list[str]:
        """The encoded credential as it travels (the key itself is a configured secret)."""
        return [self._basic()]

    def __repr__(self) -> str:
        return "MailchimpKeyAuth(key=**********)"


def resolve_base_url(
    settings: MailchimpSettings, *, transport: httpx.BaseTransport | None = None
) -> tuple[str, httpx.Auth]:
    """The API root and the auth for the configured credentials: an API key names its data
    centre; an OAuth token is looked up at the metadata endpoint (one request)."""
    if settings.api_key is not None and settings.api_key.get_secret_value():
        dc = data_centre(settings.api_key.get_secret_value())
        return settings.base_url or f"https://{dc}.api.mailchimp.com/3.0", MailchimpKeyAuth(settings.api_key)
    if settings.access_token is None or not settings.access_token.get_secret_value():
        raise ConfigurationError(
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
    endpoint = error_body(response).get("api_endpoint") if response.status_code == 200 else None
    if not endpoint:
        # A bad token can even get a 200 without `api_endpoint`.
        raise AuthenticationError(
            "The Mailchimp OAuth token was refused by the metadata endpoint. Check "
            "FUNNELSYNC_MAILCHIMP__ACCESS_TOKEN or authorise the app again.",
            status=response.status_code,
            path=httpx.URL(settings.metadata_url).path,
        )
    return f"{str(endpoint).rstrip('/')}/3.0", auth
