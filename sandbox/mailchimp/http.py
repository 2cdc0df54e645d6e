"""What every Mailchimp sandbox route reads and answers with: problem+json errors, Mailchimp's
times, `fields` / `exclude_fields`, `count` / `offset` paging, time filters."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse as _StarletteJSONResponse
from starlette.responses import Response

from sandbox.mailchimp.data import mc_time
from sandbox.mailchimp.state import MailchimpError

PAGE_MAX = 1000
ERROR_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/"
NOT_FOUND = "The requested resource could not be found."


class JSONResponse(_StarletteJSONResponse):
    """Starlette's JSON answer, encoded by orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def problem(status: int, title: str, detail: str) -> Response:
    """Mailchimp's error body (RFC 7807), with its request id echoed in `X-Request-Id`."""
    instance = str(uuid.uuid4())
    body = {"type": ERROR_TYPE, "title": title, "status": status, "detail": detail, "instance": instance}
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/problem+json; charset=utf-8",
        headers={"X-Request-Id": instance},
    )


def render(value: Any) -> Any:
    """Datetimes in Mailchimp's style; an unset time is the empty string, as Mailchimp sends it."""
    if isinstance(value, datetime):
        return mc_time(value)
    if isinstance(value, dict):
        return {
            k: ("" if v is None and k.endswith(("_time", "timestamp_signup")) else render(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [render(v) for v in value]
    return value


def select_fields(body: dict[str, Any], fields: str | None, exclude: str | None) -> dict[str, Any]:
    """`fields` / `exclude_fields`: comma-separated dot paths from the response root."""
    if fields and exclude:
        raise MailchimpError(400, "Bad Request", "fields and exclude_fields cannot be used together.")
    if fields:
        kept: dict[str, Any] = _keep(body, [p.split(".") for p in fields.split(",") if p])
        return kept
    if exclude:
        out = body
        for path in (p.split(".") for p in exclude.split(",") if p):
            out = _drop(out, path)
        return out
    return body


def _keep(value: Any, paths: list[list[str]]) -> Any:
    if isinstance(value, list):
        return [_keep(v, paths) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key in dict.fromkeys(p[0] for p in paths):
        if key not in value:
            continue
        rest = [p[1:] for p in paths if p[0] == key and len(p) > 1]
        whole = any(p[0] == key and len(p) == 1 for p in paths)
        out[key] = value[key] if whole or not rest else _keep(value[key], rest)
    return out


def _drop(value: Any, path: list[str]) -> Any:
    if isinstance(value, list):
        return [_drop(v, path) for v in value]
    if not isinstance(value, dict) or path[0] not in value:
        return value
    if len(path) == 1:
        return {k: v for k, v in value.items() if k != path[0]}
    return {**value, path[0]: _drop(value[path[0]], path[1:])}


def time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise MailchimpError(
            400, "Invalid Resource", f"The value of {name} is not a valid date-time."
        ) from None
    if value.tzinfo is None:
        raise MailchimpError(400, "Invalid Resource", f"{name} needs a time zone offset.")
    return value


def page(request: Request, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    try:
        count = int(request.query_params.get("count", 10))
        offset = int(request.query_params.get("offset", 0))
    except ValueError:
        raise MailchimpError(400, "Invalid Resource", "count and offset must be integers.") from None
    count = max(0, min(count, PAGE_MAX))  # larger counts are clamped, as Mailchimp does
    return items[max(0, offset) : max(0, offset) + count], len(items)


def between(value: datetime | None, since: datetime | None, before: datetime | None) -> bool:
    if since is None and before is None:
        return True
    if value is None:
        return False
    return (since is None or value >= since) and (before is None or value <= before)
