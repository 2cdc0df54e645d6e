"""Reporting periods: weeks, months, quarters and years as half-open intervals in a time zone.

Boundaries are local midnights in the reporting time zone, converted to UTC instants before they
are compared with stored (UTC) timestamps, so a close at 23:30 local on 31 March counts in March
even when that is already April in UTC.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

PeriodKind = Literal["week", "month", "quarter", "year"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("week", "month", "quarter", "year")


class PeriodError(ValueError):
    """A period reference that cannot be read."""


@dataclass(frozen=True, order=True)
class Period:
    """[start, end) with both ends as aware datetimes in the reporting time zone."""

    start: datetime
    end: datetime
    kind: str

    @property
    def label(self) -> str:
        d = self.start.date()
        if self.kind == "week":
            year, week, _ = d.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return f"{d.year}-{d.month:02d}"
        if self.kind == "quarter":
            return f"{d.year}-Q{(d.month - 1) // 3 + 1}"
        return str(d.year)

    @property
    def start_utc(self) -> datetime:
        return self.start.astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return self.end.astimezone(UTC)

    def contains(self, instant: datetime) -> bool:
        return self.start_utc <= instant < self.end_utc


def _first_day(kind: str, day: date) -> date:
    if kind == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    if kind == "month":
        return day.replace(day=1)
    if kind == "quarter":
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    if kind == "year":
        return date(day.year, 1, 1)
    raise PeriodError(f"unknown period {kind!r}; choose from {', '.join(PERIOD_KINDS)}")


def _next_first_day(kind: str, first: date) -> date:
    if kind == "week":
        return first + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[kind]
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def period_of_day(kind: str, day: date, tz: ZoneInfo) -> Period:
    first = _first_day(kind, day)
    return Period(_local_midnight(first, tz), _local_midnight(_next_first_day(kind, first), tz), kind)


def period_containing(kind: str, instant: datetime, tz: ZoneInfo) -> Period:
    """The period an instant falls in, judged by the local calendar date in `tz`."""
    return period_of_day(kind, instant.astimezone(tz).date(), tz)


def next_period(period: Period, tz: ZoneInfo) -> Period:
    return period_of_day(period.kind, period.end.date(), tz)


_REF = re.compile(
    r"^(?P<year>\d{4})(?:-(?:Q(?P<quarter>[1-4])|W(?P<week>\d{2})|(?P<month>\d{2})(?:-(?P<day>\d{2}))?))?$"
)


def parse_period(kind: str, text: str, tz: ZoneInfo) -> Period:
    """The period of `kind` that a reference names: 2025, 2025-Q1, 2025-03, 2025-W07 or 2025-03-14."""
    match = _REF.match(text.strip())
    if match is None:
        raise PeriodError(f"cannot read period {text!r}: use 2025, 2025-Q1, 2025-03, 2025-W07 or 2025-03-14")
    year = int(match["year"])
    try:
        if match["quarter"]:
            day = date(year, (int(match["quarter"]) - 1) * 3 + 1, 1)
        elif match["week"]:
            day = date.fromisocalendar(year, int(match["week"]), 1)
        elif match["month"]:
            day = date(year, int(match["month"]), int(match["day"] or 1))
        else:
            day = date(year, 1, 1)
    except ValueError as exc:
        raise PeriodError(f"cannot read period {text!r}: {exc}") from exc
    return period_of_day(kind, day, tz)


def period_grid(
    kind: str,
    tz: ZoneInfo,
    *,
    as_of: datetime,
    periods_back: int = 12,
    first: str | None = None,
    last: str | None = None,
) -> list[Period]:
    """Consecutive periods: `first`..`last` when given, else the `periods_back` periods up to as_of."""
    end = parse_period(kind, last, tz) if last else period_containing(kind, as_of, tz)
    if first:
        start = parse_period(kind, first, tz)
        if start > end:
            raise PeriodError(f"--from {first} is after --to {last or end.label}")
    else:
        start = end
        for _ in range(periods_back - 1):
            start = period_of_day(kind, start.start.date() - timedelta(days=1), tz)
    periods = [start]
    while periods[-1] != end:
        periods.append(next_period(periods[-1], tz))
        if len(periods) > 10_000:
            raise PeriodError("period range too long (more than 10,000 periods)")
    return periods


class Bucketer:
    """Maps UTC instants to the index of the period they fall in (None outside the grid)."""

    def __init__(self, periods: list[Period]) -> None:
        self.periods = periods
        self.bounds = [p.start_utc for p in periods] + ([periods[-1].end_utc] if periods else [])

    def index(self, instant: datetime | None) -> int | None:
        if instant is None or not self.periods:
            return None
        i = bisect.bisect_right(self.bounds, instant) - 1
        return i if 0 <= i < len(self.periods) else None
