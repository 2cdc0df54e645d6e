"""What every platform's parsers produce: typed rows plus data-quality issues, and the helpers
that parse one field at a time without ever raising (bad values become None and an `Issue`)."""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

_EPOCH_RE = re.compile(r"^-?\d{9,}$")


@dataclass(frozen=True)
class Issue:
    """One data-quality finding, destined for the quarantine table."""

    record_id: str
    field: str
    raw_value: str | None
    reason: str


@dataclass
class Normalized:
    """The typed rows of one page, plus what could not be parsed."""

    entities: list[dict[str, Any]] = field(default_factory=list)
    stage_dates: list[dict[str, Any]] = field(default_factory=list)
    associations: list[dict[str, Any]] = field(default_factory=list)
    # Ids whose associations this page states completely (so stored ones not listed are gone).
    association_owner_ids: list[str] = field(default_factory=list)
    children: list[dict[str, Any]] = field(default_factory=list)
    # From `propertiesWithHistory`: every stage change, the earliest entry per stage from it, and
    # the records whose page states their history completely.
    transitions: list[dict[str, Any]] = field(default_factory=list)
    history_stage_dates: list[dict[str, Any]] = field(default_factory=list)
    history_owner_ids: list[str] = field(default_factory=list)
    # Links other records hold to this page's records, when the page says so (a restored contact
    # read with its deals): rows of the deals' association table, added if missing.
    held_links: list[dict[str, Any]] = field(default_factory=list)
    # Values of the properties named in `kpi.dimensions`, and the records whose values the page
    # states completely (none when no dimension is configured: nothing to replace).
    dimension_values: list[dict[str, Any]] = field(default_factory=list)
    dimension_owner_ids: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    rejected: int = 0

    @property
    def entity_ids(self) -> list[str]:
        return [row["id"] for row in self.entities]


class Fields:
    """Collects issues for one record while its fields are parsed."""

    def __init__(self, record_id: str, issues: list[Issue]) -> None:
        self.record_id = record_id
        self.issues = issues

    def flag(self, name: str, raw: Any, reason: str) -> None:
        self.issues.append(Issue(self.record_id, name, None if raw is None else str(raw), reason))

    def text(self, props: dict[str, Any], name: str) -> str | None:
        value = props.get(name)
        if value is None:
            return None
        text = str(value)
        return text if text != "" else None

    def timestamp(self, props: dict[str, Any], name: str) -> datetime | None:
        value = props.get(name)
        parsed, reason = parse_timestamp(value)
        if reason is not None:
            self.flag(name, value, reason)
        return parsed

    def number(self, props: dict[str, Any], name: str, *, label: str = "number") -> float | None:
        value = props.get(name)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return None
        try:
            number = float(str(value).replace(",", "").strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            self.flag(name, value, f"non-numeric {label}")
            return None
        if not math.isfinite(number):
            self.flag(name, value, f"non-finite {label}")
            return None
        return number

    def integer(self, props: dict[str, Any], name: str) -> int | None:
        number = self.number(props, name)
        return int(number) if number is not None else None

    def boolean(self, props: dict[str, Any], name: str) -> bool | None:
        value = props.get(name)
        if value is None or value == "":
            return None
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        self.flag(name, value, "not a boolean")
        return None


def parse_timestamp(value: Any) -> tuple[datetime | None, str | None]:
    """An ISO-8601 timestamp or date as an aware UTC datetime; (None, reason) when it is not one."""
    if value is None:
        return None, None
    if not isinstance(value, str):
        return None, f"expected ISO-8601 text, got {type(value).__name__}"
    if len(value) > 19 and value[-1] == "Z" and value[4] == "-":
        # HubSpot's own form ("2025-03-04T10:11:12.345Z"): one C call, already UTC.
        try:
            return datetime.fromisoformat(value), None
        except ValueError:
            pass
    text = value.strip()
    if text == "":
        return None, None  # HubSpot and Mailchimp send "" for a cleared or unset date: no value
    if _EPOCH_RE.match(text):
        return None, "epoch milliseconds where ISO-8601 text was expected"
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC), None
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None, "unparseable date"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC), None


def record_key(record: Any) -> str:
    """A stable id for a record that has none, so its quarantine row is idempotent."""
    blob = json.dumps(record, sort_keys=True, default=str)
    return "?" + hashlib.sha1(blob.encode()).hexdigest()[:16]


def raw_text(record: Any, limit: int = 2000) -> str:
    blob = json.dumps(record, sort_keys=True, default=str)
    return blob if len(blob) <= limit else blob[:limit] + "…"
