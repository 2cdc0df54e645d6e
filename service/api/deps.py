"""What the service API's routes share: the context they work with, token checks as FastAPI
dependencies, the per-app types of connection and stream names, errors, conditional answers.

Auth: admin routes need `Authorization: Bearer <service.admin_token>` (401 without a token,
403 with a wrong one, 403 when none is configured: disabled, never open). The read API takes
the API token or the admin token; tokens are compared in constant time.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Depends, HTTPException, Request, Response
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, SecretStr, create_model
from sqlalchemy import Engine

from config import ConfigurationError, Settings
from connector.sources import SOURCES
from service.api.models import Problem, ResyncRequest
from service.jobs import Jobs
from service.scheduler import Scheduler

bearer = HTTPBearer(auto_error=False, description="service.admin_token (admin) or service.api_token (read)")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

# Text a query compares with stored text: no NUL byte (PostgreSQL cannot hold one: it would answer
# 500) and no other control character (no name, status or value funnelsync filters by has one).
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
# Run ids are INTEGER columns (PostgreSQL: 4 bytes); larger values cannot name a run.
MAX_ID = 2**31 - 1
RunId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    422: {"model": Problem},
}

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class ServiceContext:
    """What the routes work with, built once by `funnelsync serve` (or a test)."""

    settings: Settings
    jobs: Jobs
    scheduler: Scheduler | None
    started_at: datetime

    @property
    def engine(self) -> Engine:
        return self.jobs.engine

    def connection(self, name: str | None) -> Settings:
        """One connection's settings; 422 for a name that is not configured."""
        try:
            return self.settings.for_connection(name)
        except ConfigurationError as exc:
            raise problem(422, str(exc)) from None


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=detail, headers=headers)


# -- tokens -----------------------------------------------------------------------------------


def _matches(given: str, secret: SecretStr | None) -> bool:
    return secret is not None and hmac.compare_digest(given.encode(), secret.get_secret_value().encode())


Refusal = tuple[int, str, dict[str, str]]


def token_refusal(
    scheme: str | None, credentials: str | None, accepted: list[SecretStr | None], what: str
) -> Refusal | None:
    """(status, detail, headers) when the credentials do not open `what`; None when they do."""
    configured = [s for s in accepted if s is not None and s.get_secret_value()]
    if not configured:
        return 403, f"{what} disabled: no token is configured", {}
    if scheme is None or scheme.lower() != "bearer" or not credentials:
        return 401, "missing bearer token", {"WWW-Authenticate": "Bearer"}
    # Every configured token is compared, so the time taken says nothing about which matched.
    results = [_matches(credentials, s) for s in configured]
    if not any(results):
        return 403, "wrong token", {}
    return None


def check_token(
    creds: HTTPAuthorizationCredentials | None, accepted: list[SecretStr | None], what: str
) -> None:
    refusal = token_refusal(
        creds.scheme if creds else None, creds.credentials if creds else None, accepted, what
    )
    if refusal is not None:
        status, detail, headers = refusal
        raise problem(status, detail, headers or None)


def admin_refusal(settings: Settings) -> Callable[[str | None], Refusal | None]:
    """The admin routes' check of an `Authorization` header, for the guard (service/api/guard.py)
    to refuse a write before its body is read."""

    def check(header: str | None) -> Refusal | None:
        scheme, _, value = (header or "").partition(" ")
        return token_refusal(
            scheme or None, value.strip() or None, [settings.service.admin_token], "admin routes"
        )

    return check


@dataclass(frozen=True)
class Access:
    """The auth dependencies of one app: admin routes, the read API, /metrics. Open routes carry
    no auth dependency, so the OpenAPI document says they need none."""

    admin: list[Any]
    read: list[Any]
    metrics: list[Any]

    @classmethod
    def of(cls, settings: Settings) -> Access:
        service = settings.service

        def admin(creds: Credentials) -> None:
            check_token(creds, [service.admin_token], "admin routes")

        def reader(creds: Credentials) -> None:
            check_token(creds, [service.api_token, service.admin_token], "the read API")

        readers = [] if service.read_open else [Depends(reader)]
        return cls([Depends(admin)], readers, readers if not service.metrics_open else [])


# -- per-app types ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiTypes:
    """The document names the configured connections and the streams they can sync, so a client
    (and schemathesis) knows the valid values before asking."""

    connection: Any
    resync_body: Any

    @classmethod
    def of(cls, settings: Settings) -> ApiTypes:
        names = tuple(settings.connection_names())
        configured = [settings.for_connection(n) for n in names]
        sources = [s for s in SOURCES if any(c.has_source(s) for c in configured)] or ["hubspot"]
        connection_type: Any = Literal[names]
        stream_type: Any = Literal[tuple(name for s in sources for name in SOURCES[s].stream_names())]
        body = create_model(
            "ResyncRequest",
            __base__=ResyncRequest,
            connection=(
                connection_type | None,
                Field(default=None, description="Named connection (default: the only one)."),
            ),
            streams=(
                list[stream_type] | None,
                Field(default=None, max_length=20, description="Only these streams (default: every one)."),
            ),
        )
        return cls(connection_type, body)


def retyped(handler: F, **types: Any) -> F:
    """`handler` with the named parameters' types replaced: FastAPI reads a route's signature, and
    the per-app types above exist only once the app's settings are known."""
    hints = typing.get_type_hints(handler, include_extras=True)
    signature = inspect.signature(handler)
    parameters = [
        p.replace(annotation=types.get(p.name, hints.get(p.name, p.annotation)))
        for p in signature.parameters.values()
    ]

    @functools.wraps(handler)
    def endpoint(*args: Any, **kwargs: Any) -> Any:
        return handler(*args, **kwargs)

    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=hints.get("return", signature.return_annotation)
    )
    del endpoint.__wrapped__  # FastAPI must read the signature above, not the handler's
    return typing.cast(F, endpoint)


# -- conditional answers ----------------------------------------------------------------------


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _not_modified(request: Request, etag: str, modified: datetime) -> bool:
    """Whether the client's copy is current (If-None-Match wins over If-Modified-Since)."""
    match = request.headers.get("if-none-match")
    if match is not None:
        return etag in [tag.strip() for tag in match.split(",")] or match.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return modified.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def cached(request: Request, etag: str, modified: datetime, build: Callable[[], Response]) -> Response:
    """304 for a client holding the current copy (before anything is built), else the answer,
    with its validators."""
    headers = {"ETag": etag, "Last-Modified": _http_date(modified), "Cache-Control": "no-cache"}
    if _not_modified(request, etag, modified):
        return Response(status_code=304, headers=headers)
    response = build()
    response.headers.update(headers)
    return response


def file_response(request: Request, path: Path) -> Response:
    stat = path.stat()
    modified = datetime.fromtimestamp(stat.st_mtime, UTC)
    etag = f'"{hashlib.sha256(f"{stat.st_mtime_ns}-{stat.st_size}-{path.name}".encode()).hexdigest()[:24]}"'
    media = {".csv": "text/csv; charset=utf-8", ".json": "application/json"}.get(
        path.suffix, "application/octet-stream"
    )
    return cached(request, etag, modified, lambda: Response(path.read_bytes(), media_type=media))
