"""The formulas against the seeds' worked examples and the public examples (kpi-definitions §8.1)."""

from __future__ import annotations

import itertools

import pytest

from kpi import formulas
from kpi.stats import mean, median, quantile


@pytest.mark.parametrize(
    ("revenue", "spend", "expected"),
    [
        (290_000, 50_000, 4.8),  # seed: (290 000 − 50 000) / 50 000 = 4,8 = 480 %
        (25_000, 10_000, 1.5),  # P11: ROI 150 %
        (20_000, 5_000, 3.0),  # P12: ROI 300 %
        (10_000, 10_000, 0.0),
    ],
)
def test_roi(revenue, spend, expected):
    assert formulas.roi(revenue, spend) == pytest.approx(expected)


def test_roas_and_zero_spend():
    assert formulas.roas(25_000, 10_000) == pytest.approx(2.5)  # P11
    assert formulas.roi(25_000, 0) is None
    assert formulas.roas(25_000, 0) is None


@pytest.mark.parametrize(
    ("aov", "orders", "years", "expected"),
    [
        (100_000, 3, 2, 600_000),  # seed: 100 000 × 3 × 2 = 600 000
        (100_000, 3, 3, 900_000),  # seed: 100 000 × 3 × 3 = 900 000
        (75, 3, 2.5, 562.5),  # P10
        (None, 3, 2, None),
    ],
)
def test_clv(aov, orders, years, expected):
    assert formulas.clv(aov, orders, years) == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("clv", "margin", "expected"),
    [
        (562.5, 0.6, 337.5),  # P10 margin CLV: 75 × 3 × 2.5 = 562.5 of revenue, 60 % margin
        (None, 0.6, None),
        (562.5, None, None),
    ],
)
def test_clv_gross_margin_variant(clv, margin, expected):
    assert formulas.margin_clv(clv, margin) == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("spend", "customers", "expected"),
    [
        (250_000, 4, 62_500),  # seed: 250 000 / 4 = 62 500
        (10_000, 100, 100),  # P8
        (10_000 + 5_000, 30, 500),  # P9
        (10_000, 0, None),
    ],
)
def test_cac(spend, customers, expected):
    assert formulas.cac(spend, customers) == expected


def test_roi_on_clv():
    # seed: (600 000 − 62 500) / 62 500 = 8,6 = 860 %
    assert formulas.clv_roi(600_000, 62_500) == pytest.approx(8.6)
    assert formulas.clv_roi(600_000, None) is None


def test_leads_per_customer():
    # seed: with 1,4 % of leads becoming customers you need about 70 leads per customer
    assert formulas.leads_per_customer(0.014) == pytest.approx(71.43, abs=0.01)
    assert round(formulas.leads_per_customer(0.014) or 0, -1) == 70
    assert formulas.leads_per_customer(0.0) is None


@pytest.mark.parametrize(
    ("opps", "win", "avg", "days", "expected"),
    [
        (50, 0.25, 10_000, 30, 4166.67),  # P2
        (50, 0.25, 25_000, 60, 5208.33),  # P3
        (50, 0.25, 25_000, 0, None),  # a 0-day cycle gives no velocity, never 0 or infinity
        (50, None, 25_000, 60, None),
    ],
)
def test_pipeline_velocity(opps, win, avg, days, expected):
    value = formulas.pipeline_velocity(opps, win, avg, days)
    assert value == (pytest.approx(expected, abs=0.01) if expected is not None else None)


def test_sales_cycle_mean_and_median():
    days = [30, 40, 35, 25, 20]  # P4
    assert mean(days) == 30
    assert median(days) == 30
    assert quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == pytest.approx(9.1)
    assert mean([]) is None and median([]) is None


@pytest.mark.parametrize(
    ("counts", "rates"),
    [
        ([5_000, 500, 200, 100, 25], [0.10, 0.40, 0.50, 0.25]),  # P13
        ([10_000, 300, 90, 36, 27, 6], [0.03, 0.30, 0.40, 0.75, 6 / 27]),  # P14
    ],
)
def test_funnel_step_rates(counts, rates):
    got = [formulas.safe_div(b, a) for a, b in itertools.pairwise(counts)]
    assert got == pytest.approx(rates)


def test_p13_lead_to_customer():
    assert formulas.safe_div(25, 500) == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (  # P5: delivered = sent − hard bounces
            {"sent": 10_000, "unique_opens": 2_150, "unique_clicks": 430, "bounces": 150, "unsubscribes": 26},
            {
                "delivered": 9_850,
                "open_rate": 0.2183,
                "click_rate": 0.0437,
                "click_to_open_rate": 0.2,
                "bounce_rate": 0.015,
                "unsubscribe_rate": 0.00264,
                "delivery_rate": 0.985,
            },
        ),
        (  # P6
            {"sent": 10_000, "delivered": 8_500, "unique_opens": 3_060, "unique_clicks": 400},
            {
                "delivery_rate": 0.85,
                "bounce_rate": 0.15,
                "open_rate": 0.36,
                "click_rate": 0.0471,
                "click_to_open_rate": 0.1307,
            },
        ),
        (  # P7
            {"sent": 1_000, "delivered": 1_000, "unique_opens": 250, "unique_clicks": 30},
            {"open_rate": 0.25, "click_rate": 0.03},
        ),
    ],
)
def test_email_rates(kwargs, expected):
    rates = formulas.email_rates(**kwargs)
    for name, value in expected.items():
        assert rates[name] == pytest.approx(value, abs=5e-5), name


def test_email_rates_zero_delivered():
    rates = formulas.email_rates(sent=0, unique_opens=0, unique_clicks=0)
    assert rates["open_rate"] is None and rates["click_to_open_rate"] is None


def test_landing_page_and_close_rate():
    assert formulas.submission_rate(250, 5_000) == pytest.approx(0.05)  # P15
    assert formulas.close_rate(10, 40) == pytest.approx(0.25)  # P16


def test_every_kpi_family_names_the_streams_it_reads():
    """Freshness (service/kpis.py) knows each family's inputs: a family left out would never go stale."""
    from connector.sources import SOURCES
    from kpi.definitions import FAMILY_INPUTS, stale_families
    from kpi.model import FAMILIES

    streams = {name for source in SOURCES.values() for name in source.stream_names()}
    assert set(FAMILY_INPUTS) == set(FAMILIES.values())
    assert {s for inputs in FAMILY_INPUTS.values() for s in inputs} <= streams
    assert stale_families({"web_analytics"}) == {"web"}
    assert stale_families({"deals"}) == {
        "sources",
        "web",
        "pipeline",
        "deal_stages",
        "cycle",
        "spend",
        "clv",
        "attribution",
        "campaigns",
        "forecast",
    }
    # spend and attribution use the last stored campaigns as they are: an optional stream gone
    # stale must not freeze the families that stand on deals and contacts.
    assert stale_families({"campaigns"}) == {"campaigns"}
