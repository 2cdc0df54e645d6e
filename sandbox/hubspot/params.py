"""Query parameters as HubSpot reads them, shared by the v3 and the legacy routes."""

from __future__ import annotations

from starlette.requests import Request

from sandbox.hubspot.store import SandboxError


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
