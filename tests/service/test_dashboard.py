"""The status page's view of a computation: the period it picks, partial periods, coarser grains
combined the way each KPI is defined, labels, rankings and stale families."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kpi.model import KPI_UNITS
from service.dashboard import TREND_LENGTH, build_dashboard

STAGES = ["lead", "marketingqualifiedlead", "customer"]
STAGE_LABELS = {"lead": "Lead", "marketingqualifiedlead": "Marketing Qualified Lead", "customer": "Customer"}


def month(year: int, m: int) -> tuple[datetime, datetime]:
    end = datetime(year + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    return datetime(year, m, 1, tzinfo=UTC), end


def row(
    kpi: str, when: tuple[datetime, datetime] | None, value: float | None, **extra: Any
) -> dict[str, Any]:
    start, end = when if when else (None, datetime(2026, 6, 15, tzinfo=UTC))
    stage = extra.pop("stage", "")
    stage_label = " → ".join(STAGE_LABELS.get(s, s) for s in stage.split(">")) if stage else ""
    return {
        "kpi": kpi,
        "family": extra.pop("family", "funnel"),
        "stage": stage,
        "stage_label": stage_label,
        "period_start": start.isoformat() if start else None,
        "period_end": end.isoformat(),
        "period_label": f"{start:%Y-%m}" if start else "",
        "complete": extra.pop("complete", True),
        "dimension": extra.pop("dimension", "all"),
        "dimension_value": extra.pop("dimension_value", "all"),
        "dimension_label": extra.pop("dimension_label", "all"),
        "value": value,
        "numerator": extra.pop("numerator", None),
        "denominator": extra.pop("denominator", None),
        "stale_since": extra.pop("stale_since", None),
        # As export rows carry it: the KPI's unit, money in the portal's currency.
        "unit": f"{KPI_UNITS[kpi]}:SEK" if KPI_UNITS[kpi].startswith("money") else KPI_UNITS[kpi],
    }


def portal(months: int = 6, *, first: tuple[int, int] = (2026, 1)) -> list[dict[str, Any]]:
    """`months` monthly periods from `first` (year, month), the last one still running."""
    rows = [row("open_pipeline", None, 1_250_000.0, family="pipeline")]
    for i in range(months):
        year, m = first[0] + (first[1] - 1 + i) // 12, (first[1] - 1 + i) % 12 + 1
        when, running = month(year, m), i == months - 1
        base = {"complete": not running}
        rows += [
            row("contacts_created", when, 100.0 + m, **base, family="sources"),
            row("stage_entries", when, 40.0 + m, stage="lead", **base),
            row("stage_entries", when, 10.0 + m, stage="marketingqualifiedlead", **base),
            row("stage_entries", when, float(m), stage="customer", **base),
            row("stage_conversion", when, m / 40, stage="lead>customer", numerator=m, denominator=40, **base),
            row("win_rate", when, m / 10, numerator=m, denominator=10, family="pipeline", **base),
            row("days_to_close_mean", when, 10.0 * m, denominator=m, family="cycle", **base),
            row("days_to_close_median", when, 9.0 * m, family="cycle", **base),
            row("closed_won_revenue", when, 1000.0 * m, family="pipeline", **base),
            row("contacts_created", when, 60.0, dimension="source", dimension_value="ORGANIC_SEARCH",
                dimension_label="Organic Search", family="sources", **base),
            row("stage_entries", when, 1.0, stage="customer", dimension="source",
                dimension_value="ORGANIC_SEARCH", dimension_label="Organic Search", **base),
            row("contacts_created", when, 40.0 + m, dimension="source", dimension_value="PAID_SOCIAL",
                dimension_label="Paid Social", family="sources", **base),
            row("stage_entries", when, float(m), stage="customer", dimension="source",
                dimension_value="PAID_SOCIAL", dimension_label="Paid Social", **base),
            # Won revenue 1000 m: first touch all organic, last touch all paid social, linear half each.
            *(
                row("attributed_revenue", when, share * 1000.0 * m, stage=model, dimension="source",
                    dimension_value=code, dimension_label=name, family="attribution", **base)
                for model, shares in (("first_touch", (1, 0)), ("last_touch", (0, 1)), ("linear", (0.5, 0.5)),
                                      ("w_shaped", (0.7, 0.3)))
                for share, (code, name) in zip(shares, (("ORGANIC_SEARCH", "Organic Search"),
                                                        ("PAID_SOCIAL", "Paid Social")), strict=True)
            ),
        ]  # fmt: skip
    return rows


def board(rows: list[dict[str, Any]], **kwargs: Any):
    return build_dashboard(
        rows, connection="default", currency="SEK", tz=ZoneInfo("UTC"), grid="month", stages=STAGES, **kwargs
    )


def tile(b, kpi: str):
    return next(t for t in b.tiles if t.kpi == kpi)


def test_it_shows_the_latest_complete_period_and_marks_the_running_one_partial():
    b = board(portal())
    assert [(o.label, o.complete) for o in b.periods][-2:] == [("2026-05", True), ("2026-06", False)]
    assert b.selected is not None and b.selected.label == "2026-05" and b.notice == ""
    assert tile(b, "contacts_created").value == 105.0
    trend = tile(b, "contacts_created").trend
    assert [p.label for p in trend] == [f"2026-{m:02d}" for m in range(1, 6)] and trend[-1].value == 105.0
    running = board(portal(), period="2026-06")
    assert running.selected is not None and running.selected.complete is False
    assert [t.title for t in b.tiles][:3] == [
        "New contacts",
        "New: Marketing Qualified Lead",
        "New: Customer",
    ]
    assert [(s.label, s.entered) for s in b.funnel] == [
        ("Lead", 45.0),
        ("Marketing Qualified Lead", 15.0),
        ("Customer", 5.0),
    ]
    assert [o.title for o in b.snapshots] == ["Open pipeline", "Open deals"]
    assert b.snapshots[0].value == 1_250_000.0 and b.snapshots[1].value is None


def test_a_quarter_combines_its_months_the_way_each_kpi_is_defined():
    b = board(portal(), grain="quarter", period="2026-Q1")
    assert b.grain == "quarter" and b.grains == ("month", "quarter", "year")
    assert [(o.label, o.complete) for o in b.periods] == [("2026-Q1", True), ("2026-Q2", False)]
    months = (1, 2, 3)
    assert tile(b, "contacts_created").value == sum(100.0 + m for m in months)  # a flow: summed
    assert tile(b, "win_rate").value == pytest.approx(sum(months) / 30)  # Σ won / Σ closed
    assert tile(b, "stage_conversion").value == pytest.approx(sum(months) / 120)
    # A mean weighted by its deals: Σ (10 m × m) / Σ m.
    assert tile(b, "days_to_close_mean").value == pytest.approx(sum(10 * m * m for m in months) / sum(months))
    assert "days_to_close_median" not in {t.kpi for t in b.tiles}
    # Attribution: each model's credit summed over the quarter's months (Σ 1000 m = 6000).
    credit = {line.label: line.values for line in b.attribution}
    assert credit == {
        "Organic Search": (6000.0, 3000.0, 4200.0, 0.0),
        "Paid Social": (0.0, 3000.0, 1800.0, 6000.0),
    }
    assert [line.label for line in b.attribution] == ["Organic Search", "Paid Social"]  # by linear, then name
    by_source = {line.label: line.values for line in b.sources}
    assert by_source["Paid Social"][:2] == (sum(40.0 + m for m in months), float(sum(months)))
    assert [line.label for line in b.sources] == ["Paid Social", "Organic Search"]  # most customers first


def test_a_quarter_the_grid_covers_only_in_part_is_not_complete():
    b = board(portal(5, first=(2026, 2)), grain="quarter")  # February … June: Q1 lacks January
    assert [(o.label, o.complete) for o in b.periods] == [("2026-Q1", False), ("2026-Q2", False)]
    assert b.selected is not None and b.selected.label == "2026-Q2"  # none complete: the newest


@pytest.mark.parametrize(
    ("kwargs", "notice"),
    [
        ({"grain": "week"}, "week is not available on a month grid; showing months."),
        ({"period": "2025-13"}, "No month 2025-13 in this computation; showing the latest complete month."),
    ],
)
def test_an_unknown_choice_falls_back_and_says_so(kwargs, notice):
    b = board(portal(), **kwargs)
    assert b.notice == notice and b.selected is not None and b.selected.label == "2026-05"


def test_trends_hold_at_most_twelve_periods_ending_at_the_selected_one():
    b = board(portal(15, first=(2025, 10)), period="2026-11")
    trend = tile(b, "contacts_created").trend
    assert len(trend) == TREND_LENGTH and trend[0].label == "2025-12" and trend[-1].label == "2026-11"
    assert all(p.complete for p in trend)


def test_stale_families_are_named_with_their_tiles():
    rows = [
        r | {"stale_since": "2026-05-20T08:00:00+00:00"} if r["family"] == "cycle" else r for r in portal()
    ]
    b = board(rows)
    assert b.stale == {"cycle": "2026-05-20T08:00:00+00:00"}
    assert tile(b, "days_to_close_mean").stale_since == "2026-05-20T08:00:00+00:00"
    assert tile(b, "win_rate").stale_since is None


def test_no_periods_yet_gives_snapshots_only():
    b = board([row("open_pipeline", None, 5.0, family="pipeline")])
    assert b.selected is None and b.tiles == [] and b.snapshots[0].value == 5.0


def test_the_forecast_is_a_line_of_its_own_not_periods_to_choose():
    rows = portal()
    for h, m in enumerate((6, 7, 8)):
        when, base = month(2026, m), {"complete": False, "family": "forecast", "stage": f"h{h}"}
        rows += [
            row("forecast_won_revenue", when, 5_000.0 * (h + 1), **base),
            row("forecast_won_revenue", when, 100.0, dimension="component", dimension_value="won", **base),
            row("forecast_error_won_revenue", when, 0.25, numerator=1, denominator=4, **base),
            row("forecast_new_customers", when, 3.4, **base),
            row("forecast_error_new_customers", when, None, **base),
        ]
    b = board(rows)
    assert b.selected is not None and b.selected.label == "2026-05"
    assert [o.label for o in b.periods][-1] == "2026-06"  # the forecast's months are not choices
    assert [
        (o.label, o.horizon, o.revenue, o.revenue_error, o.customers, o.customers_error) for o in b.forecast
    ] == [
        ("2026-06", "h0", 5_000.0, 0.25, 3.4, None),
        ("2026-07", "h1", 10_000.0, 0.25, 3.4, None),
        ("2026-08", "h2", 15_000.0, 0.25, 3.4, None),
    ]
