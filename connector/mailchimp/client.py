"""The Mailchimp API client: the shared client base with at most 10 requests in flight for all
streams together (Mailchimp's limit per user), and problem+json errors turned into exceptions
classified by what the caller should do."""

from __future__ import annotations

import httpx

from config import MailchimpSettings, RetrySettings
from connector.client import ApiClient, classify_status, error_context, server_error_message
from connector.clock import Clock
from connector.errors import APIError, RateLimitedError, RetriableAPIError
from connector.http import error_body
from connector.mailchimp.auth import KEY_HINT


def classify_error(response: httpx.Response) -> APIError:
    """The exception for an error answer: 429, 5xx and body-less 403 (throttling at high volume)
    are retried; other 4xx are fatal, with Mailchimp's title and detail in the message."""
    body = error_body(response)
    status = response.status_code
    where = error_context(
        response,
        category=body.get("title"),
        correlation_id=body.get("instance") or response.headers.get("X-Request-Id"),
    )
    detail = str(body.get("detail") or response.reason_phrase or "error")
    if status == 429:
        return RateLimitedError(detail, policy="CONCURRENT_CONNECTIONS", **where)
    if status == 403 and not body:
        return RetriableAPIError(server_error_message(response), **where)
    if status >= 500 and not body:
        detail = server_error_message(response)
    return classify_status(detail, where, auth_hint=KEY_HINT)


class MailchimpClient(ApiClient):
    """Sends requests to one Mailchimp account; its connection limit is the `max_connections`
    requests in flight of the client base."""

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
        super().__init__(
            base_url.rstrip("/") + "/",
            auth=auth,
            timeout=settings.timeout_seconds,
            retry=retry,
            clock=clock,
            probe=("/ping", None),
            transport=transport,
            max_connections=settings.max_connections,
        )
        self.settings = settings

    def __enter__(self) -> MailchimpClient:
        return self

    def classify_error(self, response: httpx.Response) -> APIError:
        return classify_error(response)
