"""The terminal's views of a computation: the span a table covers says when its last period is
still running (its totals include a partial period)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from kpi.periods import period_grid
from service.report import span_of

TZ = ZoneInfo("Europe/Stockholm")


@pytest.mark.parametrize(
    ("as_of", "span"),
    [
        (datetime(2026, 12, 3, 16, 0, tzinfo=UTC), "2026-10 … 2026-12 (2026-12 to 3 Dec)"),
        # 23:30 UTC on 30 November is already 1 December in Stockholm: December has begun.
        (datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "2026-10 … 2026-12 (2026-12 to 1 Dec)"),
    ],
)
def test_the_span_marks_a_running_last_period(as_of, span):
    periods = period_grid("month", TZ, as_of=as_of, periods_back=3)
    assert span_of(periods, as_of) == span


def test_a_span_of_ended_periods_is_unmarked():
    as_of = datetime(2026, 12, 3, tzinfo=UTC)
    periods = period_grid("month", TZ, as_of=as_of, periods_back=3)[:-1]
    assert span_of(periods, as_of) == "2026-10 … 2026-11"
