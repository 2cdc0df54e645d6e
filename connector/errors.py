"""Connector exceptions, grouped by what the caller should do.

    ConfigurationError            settings are wrong: fix the configuration, do not retry
                                  (config's one class: settings validation raises it too)
    ConnectorError
    ├── PaginationLoopError       the API handed back a cursor already followed: stop, do not loop
    ├── FatalAPIError             the API refused the request (4xx other than 429): do not retry
    │   ├── AuthenticationError   401: the token is wrong, expired or revoked
    │   ├── PermissionDeniedError 403: the token lacks scopes           ┐ the stream is unavailable
    │   └── NotFoundError         404/410: no such API/record, or retired ┘ (`unavailable`)
    ├── RetriableAPIError         transient: 429, 5xx, timeouts, connection errors, broken bodies
    │   ├── RateLimitedError      429 with a wait hint
    │   └── MalformedResponseError the body was not the JSON the API documents
    └── RateLimitDeferredError    the DAILY limit is spent: stop now, resume after `reset_at`

Messages never contain credentials: they carry the method, the path, the status and HubSpot's
own message and correlation id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from config import ConfigurationError


class ConnectorError(Exception):
    """Base class of every error the connectors raise about an API (bad settings raise
    `ConfigurationError`)."""


class PaginationLoopError(ConnectorError):
    """The API handed back a cursor we already followed: stop instead of looping forever."""


class APIError(ConnectorError):
    """An error answer (or no answer) from a vendor API."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        category: str | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.category = category
        self.correlation_id = correlation_id
        where = f"{method} {path}" if method and path else (path or "")
        parts = [p for p in (f"HTTP {status}" if status else None, where, category) if p]
        prefix = f"[{' '.join(parts)}] " if parts else ""
        suffix = f" (correlationId {correlation_id})" if correlation_id else ""
        super().__init__(f"{prefix}{message}{suffix}")
        self.detail = message


class FatalAPIError(APIError):
    """The request is wrong or not allowed; retrying cannot help."""


class AuthenticationError(FatalAPIError):
    """401: credentials missing, invalid or expired."""


class PermissionDeniedError(FatalAPIError):
    """403: the credentials lack a scope; `missing_scopes` names the ones the API said would do
    (any one of them)."""

    def __init__(self, message: str, *, missing_scopes: list[str] | None = None, **kwargs: Any) -> None:
        self.missing_scopes = missing_scopes or []
        if len(self.missing_scopes) == 1:
            message = f"{message} Missing scope: {self.missing_scopes[0]}."
        elif self.missing_scopes:
            message = f"{message} Missing scope, one of: {', '.join(self.missing_scopes)}."
        super().__init__(message, **kwargs)


class NotFoundError(FatalAPIError):
    """404: the path does not exist for this account (an API its products do not include), or the
    record asked for is gone."""


class LinkExpiredError(FatalAPIError):
    """A file link the API handed out (an export's download URL) is no longer valid: ask the API
    for a fresh one."""


def unavailable(error: BaseException) -> bool:
    """Whether an error says the account cannot read this at all (a missing scope, or an API it
    does not have), as opposed to a failure: the stream is then `unavailable`, not `failed`."""
    return isinstance(error, PermissionDeniedError | NotFoundError)


class RetriableAPIError(APIError):
    """A transient failure; `retry_after` (seconds) is the server's hint, if it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class RateLimitedError(RetriableAPIError):
    """429 for a short window (burst or per-second); `policy` is HubSpot's policyName."""

    def __init__(self, message: str, *, policy: str | None = None, **kwargs: Any) -> None:
        self.policy = policy
        super().__init__(message, **kwargs)


class MalformedResponseError(RetriableAPIError):
    """A 2xx answer whose body is not valid JSON of the documented shape (e.g. truncated)."""


class RateLimitDeferredError(APIError):
    """The daily request budget is spent; the run stops and resumes from its checkpoint later."""

    def __init__(self, message: str, *, reset_at: datetime | None = None, **kwargs: Any) -> None:
        self.reset_at = reset_at
        super().__init__(message, **kwargs)


__all__ = [
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "ConnectorError",
    "FatalAPIError",
    "LinkExpiredError",
    "MalformedResponseError",
    "PaginationLoopError",
    "PermissionDeniedError",
    "RateLimitDeferredError",
    "RateLimitedError",
    "RetriableAPIError",
]
