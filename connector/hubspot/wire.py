"""HubSpot's wire formats: ISO-8601 instants ending in Z, epoch milliseconds in search filters,
and listings whose records sit in `results`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from connector.client import ApiClient, items


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


def ms(value: datetime) -> str:
    return str(int(value.timestamp() * 1000))


def results(body: Any, path: str) -> list[dict[str, Any]]:
    """A HubSpot listing's records; a body without a `results` list is malformed (retried)."""
    return items(body, "results", path)


def due(client: ApiClient, last: str | None, minutes: int, *, full: bool) -> bool:
    """Whether something last read at `last` (ISO) is read again: on every full sync, when never
    read, else once `minutes` have passed on the vendor's clock (0: every sync)."""
    if full or not last:
        return True
    return client.now_estimate() - parse_iso(last) >= timedelta(minutes=minutes)
