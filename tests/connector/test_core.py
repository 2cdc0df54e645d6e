"""Connector plumbing on its own: pagination, retry waits, the rolling-window limiter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from config import RetrySettings
from connector.errors import PaginationLoopError, RateLimitedError, RetriableAPIError
from connector.http import RetryPolicy, ServerClock, parse_retry_after
from connector.pagination import CursorPaginator
from connector.ratelimit import RollingWindowLimiter
from tests.conftest import FakeClock


def test_cursor_paginator_follows_after_and_stops_without_paging():
    paginator = CursorPaginator()
    paginator.advance({"results": [], "paging": {"next": {"after": "101", "link": "x"}}})
    assert paginator.token == "101" and not paginator.finished
    paginator.advance({"results": []})
    assert paginator.finished and paginator.token is None


def test_cursor_paginator_detects_loops():
    paginator = CursorPaginator("5")
    with pytest.raises(PaginationLoopError):
        paginator.advance({"paging": {"next": {"after": "5"}}})


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("", None),
        (None, None),
        ("soon", None),
        ("-4", 0.0),
        ("Mon, 01 Jun 2026 12:00:30 GMT", 30.0),
    ],
)
def test_parse_retry_after(header, expected):
    assert parse_retry_after(header, now=datetime(2026, 6, 1, 12, 0, tzinfo=UTC)) == expected


@pytest.mark.parametrize(
    ("attempt", "error", "expected"),
    [
        (1, RetriableAPIError("x"), 0.5),
        (3, RetriableAPIError("x"), 2.0),
        (10, RetriableAPIError("x"), 60.0),
        (1, RateLimitedError("x", retry_after=7), 7.0),
        (1, RateLimitedError("x", retry_after=500), 60.0),
    ],
)
def test_retry_wait(attempt, error, expected):
    policy = RetryPolicy(
        RetrySettings(initial_wait_seconds=0.5, max_wait_seconds=60, jitter_seconds=0), FakeClock()
    )
    assert policy.wait_seconds(attempt, error) == expected


def test_retry_jitter_stays_within_bounds():
    import random

    policy = RetryPolicy(
        RetrySettings(initial_wait_seconds=1, jitter_seconds=0.5), FakeClock(), rng=random.Random(3)
    )
    waits = [policy.wait_seconds(1, RetriableAPIError("x")) for _ in range(50)]
    assert all(1.0 <= w <= 1.5 for w in waits) and len(set(waits)) > 1


def test_retry_policy_does_not_retry_other_errors():
    clock = FakeClock()
    calls = []

    def fails():
        calls.append(1)
        raise ValueError("bug")

    with pytest.raises(ValueError):
        RetryPolicy(RetrySettings(), clock).call(fails)
    assert len(calls) == 1 and clock.sleeps == []


def test_limiter_allows_a_burst_then_waits_for_the_window():
    clock = FakeClock()
    limiter = RollingWindowLimiter(3, 10.0, clock, margin=0.0)
    for _ in range(3):
        assert limiter.acquire() == 0
    waited = limiter.acquire()
    assert waited == pytest.approx(10.0)
    # The first three left the window as the fourth went: two more fit, then a full window again.
    assert limiter.wait_time() == 0
    assert limiter.acquire() == 0 and limiter.acquire() == 0
    assert limiter.wait_time() == pytest.approx(10.0)


def test_limiter_saturate_blocks_a_full_window():
    clock = FakeClock()
    limiter = RollingWindowLimiter(5, 10.0, clock, margin=0.0)
    limiter.acquire()
    limiter.saturate()
    assert limiter.wait_time() == pytest.approx(10.0)
    limiter.observe_limit(2)
    assert limiter.max_requests == 2
    limiter.observe_limit(50)
    assert limiter.max_requests == 2


def test_limiter_takes_the_servers_remaining_count_when_it_is_lower():
    clock = FakeClock()
    limiter = RollingWindowLimiter(10, 10.0, clock, margin=0.0)
    for _ in range(3):
        limiter.acquire()
    limiter.observe_remaining(7)  # agrees: nothing changes
    assert limiter.wait_time() == 0
    limiter.observe_remaining(9)  # the server has seen fewer (ours are still in flight): ignored
    limiter.observe_remaining(0)  # someone else spent the budget: wait for the window
    assert limiter.wait_time() == pytest.approx(10.0)
    limiter.observe_remaining(None)


@pytest.mark.parametrize(
    ("header", "offset"),
    [
        ("Mon, 01 Jun 2026 12:00:05 GMT", 5.0),
        ("Mon, 01 Jun 2026 11:59:00 -0000", -60.0),
        ("Mon, 01 Jun 2026 12:00:05", 5.0),  # no zone: read as UTC
        (None, None),
        ("", None),
        ("yesterday", None),
        ("Mon, 31 Feb 2026 12:00:00 GMT", None),  # no such day
        ("Mon, 01 Jun 2026 25:00:00 GMT", None),
    ],
    ids=["gmt", "minus-zero", "naive", "missing", "empty", "not-a-date", "bad-day", "bad-hour"],
)
def test_server_clock_reads_the_date_header_and_ignores_a_missing_or_bad_one(header, offset):
    local = FakeClock(None)  # 2026-06-01 12:00:00 UTC
    probes: list[int] = []
    server = ServerClock(local, lambda: probes.append(1))
    server.observe(header)
    expected = local.now() + timedelta(seconds=offset or 0)
    assert server.estimate() == expected  # a bad header leaves our own clock in use
    assert server.now() == expected
    # Without a usable header the first now() asks the server (the probe); if its answer has
    # none either, the local clock is used from then on (one probe per run, not one per call).
    assert probes == ([] if offset is not None else [1])
    server.now()
    assert probes == ([] if offset is not None else [1])
