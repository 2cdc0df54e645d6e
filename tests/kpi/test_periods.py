from __future__ import annotations

import itertools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from kpi.periods import Bucketer, PeriodError, parse_period, period_containing, period_grid

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("kind", "text", "label", "start"),
    [
        ("month", "2025-03", "2025-03", "2025-03-01"),
        ("quarter", "2025-Q2", "2025-Q2", "2025-04-01"),
        ("quarter", "2025-05", "2025-Q2", "2025-04-01"),
        ("year", "2025", "2025", "2025-01-01"),
        ("week", "2025-W07", "2025-W07", "2025-02-10"),
        ("week", "2025-02-13", "2025-W07", "2025-02-10"),
    ],
)
def test_parse_period(kind, text, label, start):
    period = parse_period(kind, text, STOCKHOLM)
    assert period.label == label
    assert period.start.date().isoformat() == start
    assert period.start.tzinfo == STOCKHOLM


@pytest.mark.parametrize("text", ["2025-13", "March", "2025-Q5", ""])
def test_bad_period(text):
    with pytest.raises(PeriodError):
        parse_period("month", text, STOCKHOLM)


def test_month_boundaries_are_local_midnights():
    march = parse_period("month", "2025-03", STOCKHOLM)
    # 1 March is CET (+01:00); 1 April is CEST (+02:00) after the DST change on 30 March.
    assert march.start_utc == datetime(2025, 2, 28, 23, 0, tzinfo=UTC)
    assert march.end_utc == datetime(2025, 3, 31, 22, 0, tzinfo=UTC)
    # 23:30 local on 31 March is still March, though it is already 31 March 21:30 UTC… and
    # 00:30 local on 1 April (22:30 UTC on 31 March) is April.
    assert march.contains(datetime(2025, 3, 31, 21, 30, tzinfo=UTC))
    assert not march.contains(datetime(2025, 3, 31, 22, 30, tzinfo=UTC))


def test_west_of_utc_a_utc_midnight_is_the_previous_day():
    instant = datetime(2025, 4, 1, 2, 0, tzinfo=UTC)  # 22:00 on 31 March in New York
    assert period_containing("month", instant, NEW_YORK).label == "2025-03"
    assert period_containing("month", instant, ZoneInfo("UTC")).label == "2025-04"


def test_grid_from_to_and_back():
    grid = period_grid(
        "month", STOCKHOLM, as_of=datetime(2025, 6, 15, tzinfo=UTC), first="2025-01", last="2025-12"
    )
    assert [p.label for p in grid][:3] == ["2025-01", "2025-02", "2025-03"] and len(grid) == 12
    back = period_grid("quarter", STOCKHOLM, as_of=datetime(2025, 6, 15, tzinfo=UTC), periods_back=4)
    assert [p.label for p in back] == ["2024-Q3", "2024-Q4", "2025-Q1", "2025-Q2"]
    assert all(a.end == b.start for a, b in itertools.pairwise(back))
    with pytest.raises(PeriodError):
        period_grid(
            "month", STOCKHOLM, as_of=datetime(2025, 6, 15, tzinfo=UTC), first="2025-12", last="2025-01"
        )


def test_bucketer():
    grid = period_grid("month", STOCKHOLM, as_of=datetime(2025, 3, 15, tzinfo=UTC), periods_back=3)
    bucket = Bucketer(grid)
    assert bucket.index(datetime(2025, 1, 1, 0, 30, tzinfo=STOCKHOLM)) == 0
    assert bucket.index(datetime(2024, 12, 31, 23, 30, tzinfo=STOCKHOLM)) is None
    assert bucket.index(datetime(2025, 3, 31, 23, 59, tzinfo=STOCKHOLM)) == 2
    assert bucket.index(datetime(2025, 4, 1, 0, 0, tzinfo=STOCKHOLM)) is None
    assert bucket.index(None) is None
