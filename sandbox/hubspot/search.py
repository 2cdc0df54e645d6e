"""HubSpot's CRM search over the sandbox's records: the request's limits and errors, filter
groups (OR of ANDs) with HubSpot's operators typed by property, sorting, and the 10,000-result cap."""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sandbox.hubspot.catalogue import property_type
from sandbox.hubspot.data import Record
from sandbox.hubspot.model import SandboxError

SEARCH_OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}
RESULT_CAP = 10_000


@functools.lru_cache(maxsize=1 << 20)
def iso_ms(value: str) -> float | None:
    """An ISO instant (or epoch-ms text) as epoch milliseconds; None when it is neither."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp() * 1000


def filter_value(ptype: str, value: Any) -> float | str | None:
    """A filter operand in the property's domain: ms since epoch for datetimes, numbers, or text."""
    if value is None:
        return None
    if ptype == "datetime":
        text = str(value)
        return float(text) if text.lstrip("-").isdigit() else iso_ms(text)
    if ptype == "number":
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return str(value).lower()


def _invalid(message: str) -> SandboxError:
    return SandboxError(400, "VALIDATION_ERROR", message)


def filter_groups(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's filter groups (a bare `filters` list is one group), checked as HubSpot does."""
    groups = request.get("filterGroups")
    if not groups and request.get("filters"):
        groups = [{"filters": request["filters"]}]
    groups = groups or []
    if not isinstance(groups, list) or len(groups) > 5:
        raise _invalid("There can be at most 5 filterGroups in a search request.")
    total = 0
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list) or len(filters) > 10:
            raise _invalid("There can be at most 10 filters in a filterGroup.")
        total += len(filters)
        for flt in filters:
            if (
                not isinstance(flt, dict)
                or flt.get("operator") not in SEARCH_OPERATORS
                or not flt.get("propertyName")
            ):
                raise _invalid(f"Invalid filter: {flt!r}")
    if total > 25:
        raise _invalid("There can be at most 25 filters in a search request.")
    return groups


def page_bounds(request: dict[str, Any]) -> tuple[int, int]:
    """(limit, offset): at most 200 per page, and never past the 10,000th result."""
    limit = request.get("limit", 10)
    if not isinstance(limit, int) or limit < 1 or limit > 200:
        raise _invalid("limit must be a number between 1 and 200.")
    after_raw = request.get("after") or 0
    try:
        offset = int(after_raw)
    except (TypeError, ValueError):
        raise _invalid(f"Invalid after: {after_raw!r}") from None
    if offset + limit > RESULT_CAP:
        raise _invalid(
            "The search endpoints are limited to 10,000 total results for any given query. "
            "Attempting to page beyond 10,000 will result in a 400 error."
        )
    return limit, offset


def prop(record: Record, name: str) -> Any:
    if name == "hs_object_id":
        return record["id"]
    return record["properties"].get(name)


def _candidates(ids: list[int], groups: list[dict[str, Any]]) -> Iterable[int]:
    """Ids worth testing: narrowed by an id lower bound when every group has one."""
    floors = []
    for group in groups:
        floor = None
        for flt in group["filters"]:
            if flt["propertyName"] == "hs_object_id" and flt["operator"] in ("GT", "GTE"):
                try:
                    value = int(float(flt["value"]))
                except (TypeError, ValueError, KeyError):
                    continue
                floor = value + 1 if flt["operator"] == "GT" else value
        floors.append(floor)
    if floors and all(f is not None for f in floors):
        return ids[bisect.bisect_left(ids, min(f for f in floors if f is not None)) :]
    return ids


def matching(records: dict[int, Record], ids: list[int], groups: list[dict[str, Any]]) -> Iterator[Record]:
    """The live records (search never returns archived ones) that pass any group."""
    for record_id in _candidates(ids, groups):
        record = records[record_id]
        if record["archived"]:
            continue
        if not groups or any(all(passes(record, f) for f in g["filters"]) for g in groups):
            yield record


def passes(record: Record, flt: dict[str, Any]) -> bool:
    """Whether a record passes one filter (values compared in the property's type)."""
    name = flt["propertyName"]
    op = flt["operator"]
    raw = prop(record, name)
    if op == "HAS_PROPERTY":
        return raw not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return raw in (None, "")
    ptype = property_type(name)
    value = filter_value(ptype, raw)
    if op in ("IN", "NOT_IN"):
        values = {filter_value(ptype, v) for v in flt.get("values") or []}
        return (value in values) if op == "IN" else (value not in values)
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(flt.get("value", "")).lower().strip("*")
        found = raw is not None and token in str(raw).lower()
        return found if op == "CONTAINS_TOKEN" else not found
    operand = filter_value(ptype, flt.get("value"))
    if op == "EQ":
        return value == operand
    if op == "NEQ":
        return value != operand
    if value is None or operand is None:
        return False
    try:
        if op == "BETWEEN":
            high = filter_value(ptype, flt.get("highValue"))
            return high is not None and operand <= value <= high  # type: ignore[operator]
        return {
            "LT": value < operand,  # type: ignore[operator]
            "LTE": value <= operand,  # type: ignore[operator]
            "GT": value > operand,  # type: ignore[operator]
            "GTE": value >= operand,  # type: ignore[operator]
        }[op]
    except TypeError:
        return False


def sort(matches: list[Record], sorts: list[Any], id_order: str) -> None:
    """Sort in place by the first sort (HubSpot uses one); `id_order="lexicographic"` sorts
    hs_object_id as text ("10" before "9"), as HubSpot's search has been seen to do."""
    if not sorts:
        if id_order == "lexicographic":
            matches.sort(key=lambda r: str(r["id"]))
        return
    spec = sorts[0] if isinstance(sorts[0], dict) else {"propertyName": str(sorts[0])}
    name = str(spec.get("propertyName"))
    ptype = property_type(name)
    reverse = str(spec.get("direction", "ASCENDING")).upper() == "DESCENDING"
    as_text = id_order == "lexicographic" and name in ("hs_object_id", "id")

    def key(record: Record) -> tuple[int, Any, Any]:
        if as_text:
            return (0, str(record["id"]), 0)
        value = filter_value(ptype, prop(record, name))
        return (value is None, value if value is not None else 0, record["id"])

    matches.sort(key=key, reverse=reverse)
