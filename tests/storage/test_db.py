from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage.db import utc_sqlite_text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "2025-01-02 03:04:05.000000"),
        (
            datetime(2025, 1, 2, 3, 4, 5, 612000, tzinfo=timezone(timedelta(hours=2))),
            "2025-01-02 01:04:05.612000",
        ),
        (None, None),
    ],
)
def test_sqlite_text_is_zone_less_utc(value, expected):
    assert utc_sqlite_text(value) == expected


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        utc_sqlite_text(datetime(2025, 1, 2))
