"""What every HubSpot sandbox route reads and answers with: HubSpot's error bodies, orjson answers,
query and body parameters as HubSpot reads them, the object type of a path."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse as _StarletteJSONResponse
from starlette.responses import Response

from sandbox.hubspot.model import OBJECT_TYPES, SandboxError

Handler = Callable[[Request], Awaitable[Response]]


class JSONResponse(_StarletteJSONResponse):
    """Starlette's JSON answer, encoded by orjson: the same compact UTF-8 text, a fraction of the
    CPU, so the sandbox stays light next to the sync it serves on the same machine."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(
    status: int,
    message: str,
    category: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """HubSpot's error body (status, message, correlationId, category, extras) and headers."""
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": str(uuid.uuid4())}
    if category:
        body["category"] = category
    body.update(extra)
    hdrs = {"X-HubSpot-Correlation-Id": body["correlationId"], **(headers or {})}
    return JSONResponse(body, status_code=status, headers=hdrs)


def object_type_of(request: Request) -> str:
    """The object type the path names (`contacts` or `0-1`); HubSpot's 400 for any other."""
    raw = request.path_params["object_type"]
    object_type = OBJECT_TYPES.get(raw)
    if object_type is None:
        raise SandboxError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {raw}")
    return object_type


async def read_json(request: Request) -> Any:
    """The request's JSON body ({} when empty); HubSpot's 400 when it is not JSON."""
    try:
        return json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        raise SandboxError(400, "VALIDATION_ERROR", "Invalid input JSON on line 1") from None


def flag(request: Request, name: str) -> bool:
    """A boolean query parameter (`archived=true`); absent is false."""
    return request.query_params.get(name, "false").lower() == "true"


def int_param(request: Request, name: str, default: int) -> int:
    """An integer parameter (absent or empty: `default`); anything else is HubSpot's 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SandboxError(
            400, "VALIDATION_ERROR", f"Unable to convert parameter '{name}' to an integer: {raw!r}"
        ) from None


def list_param(request: Request, name: str) -> list[str] | None:
    """A list parameter, comma-separated or repeated (`properties=a&properties=b`), or None."""
    values = request.query_params.getlist(name)
    if not values:
        return None
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def time_param(request: Request, name: str) -> datetime | None:
    """An ISO instant parameter (naive: UTC), or None; HubSpot's 400 when unreadable."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SandboxError(400, "VALIDATION_ERROR", f"Invalid {name}: {raw}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def after_param(request: Request) -> int:
    """The `after` cursor of listings that page by id or offset (absent: 0)."""
    after_raw = request.query_params.get("after") or "0"
    if not after_raw.isdigit():
        raise SandboxError(400, "VALIDATION_ERROR", f"Invalid after: {after_raw}")
    return int(after_raw)


async def page_signature(request: Request) -> tuple[str, str]:
    """What identifies "the same listing" across its pages (path and query, or search body,
    without the cursor), and the cursor: (listing, cursor)."""
    query = sorted((k, v) for k, v in request.query_params.multi_items() if k != "after")
    signature = f"{request.url.path}?{query}"
    cursor = [request.query_params.get("after", "")]
    if request.method == "POST":
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError:
            body = {}
        if isinstance(body, dict):
            cursor.append(str(body.pop("after", "")))
            cursor.extend(_keyset_cursor(body))
        signature += json.dumps(body, sort_keys=True)
    return signature, "|".join(cursor)


def _keyset_cursor(body: dict[str, Any]) -> list[str]:
    """Keyset paging moves its `hs_object_id > last` filter on every page: a cursor too. Taken
    out of the body's filters (so the listing's signature stays the same) and returned."""
    found = []
    for group in body.get("filterGroups") or []:
        if isinstance(group, dict) and isinstance(group.get("filters"), list):
            keep = []
            for f in group["filters"]:
                if (
                    isinstance(f, dict)
                    and f.get("propertyName") == "hs_object_id"
                    and f.get("operator") in ("GT", "GTE")
                ):
                    found.append(str(f.get("value")))
                else:
                    keep.append(f)
            group["filters"] = keep
    return found
