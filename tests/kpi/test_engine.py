"""Every KPI on a hand-computed snapshot (SQLite and PostgreSQL), Stockholm reporting time.

Months: January = period 0, February = 1, March = 2; as_of 2025-04-10. The expected numbers are
worked out in the comments next to each record.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config import load_settings
from kpi.model import ALL, Dim, KpiResult
from kpi.periods import parse_period
from service.kpis import compute_kpis
from tests.kpi.portal import Portal, t

# Its tests share one module-scoped database per dialect: one xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("kpi_engine")

TZ = ZoneInfo("Europe/Stockholm")
AS_OF = t("2025-04-10")
JAN, FEB, MAR = (parse_period("month", m, TZ) for m in ("2025-01", "2025-02", "2025-03"))
MQL, SQL, OPP = "marketingqualifiedlead", "salesqualifiedlead", "opportunity"


def build_portal() -> Portal:
    p = Portal()
    # c1 walks the whole funnel: lead Jan, MQL Jan, SQL Jan, opportunity Feb, customer Feb (41 days).
    p.contact(
        "c1",
        "2025-01-05",
        "customer",
        source="ORGANIC_SEARCH",
        lead="2025-01-05",
        marketingqualifiedlead="2025-01-10",
        salesqualifiedlead="2025-01-20",
        opportunity="2025-02-01",
        customer="2025-02-15",
    )
    # c2 skips MQL, SQL and opportunity: lead Jan, customer March (54 days).
    p.contact("c2", "2025-01-06", "customer", source="PAID_SEARCH", lead="2025-01-06", customer="2025-03-01")
    # c3 became an MQL, then was moved back to lead.
    p.contact(
        "c3",
        "2025-01-07",
        "lead",
        source="ORGANIC_SEARCH",
        lead="2025-01-07",
        marketingqualifiedlead="2025-01-08",
    )
    # c4 was imported as a customer (customer date only), February.
    p.contact("c4", "2025-02-01", "customer", source="REFERRALS", customer="2025-02-01")
    # c5: 22:30 UTC on 31 January is 23:30 in Stockholm (January); its MQL at 23:30 UTC on
    # 28 February is 00:30 on 1 March in Stockholm (March).
    p.contact(
        "c5",
        "2025-01-31T22:30",
        MQL,
        source="ORGANIC_SEARCH",
        lead="2025-01-31T22:30",
        marketingqualifiedlead="2025-02-28T23:30",
    )
    # c6: no source; its MQL date lies after as_of and is ignored.
    p.contact("c6", "2025-03-10", "lead", lead="2025-03-10", marketingqualifiedlead="2025-04-20")
    # c7 is archived (deleted in HubSpot): never counted.
    p.contact("c7", "2025-01-02", "lead", source="ORGANIC_SEARCH", archived=True, lead="2025-01-02")
    # c8: two properties date its lead entry (15th and 9th): the first entry is the 9th, so its MQL
    # on the 12th counts as converted.
    p.contact(
        "c8",
        "2025-01-09",
        MQL,
        source="DIRECT_TRAFFIC",
        lead=["2025-01-15", "2025-01-09"],
        marketingqualifiedlead="2025-01-12",
    )
    # c9 stays a lead.
    p.contact("c9", "2025-01-20", "lead", source="DIRECT_TRAFFIC", lead="2025-01-20")

    # d1 won in Feb after exactly 31 days; d2 lost in Feb; d3 won in Feb without an amount (10 days).
    p.deal(
        "d1",
        "2025-01-10",
        stage="won",
        amount=100_000,
        closed="2025-02-10",
        is_closed=True,
        is_won=True,
        source="ORGANIC_SEARCH",
        company="co1",
    )
    p.deal(
        "d2",
        "2025-01-15",
        stage="lost",
        amount=50_000,
        closed="2025-02-20",
        is_closed=True,
        is_won=False,
        source="PAID_SEARCH",
        owner="o2",
    )
    p.deal(
        "d3",
        "2025-02-01",
        stage="won",
        amount=None,
        closed="2025-02-11",
        is_closed=True,
        is_won=True,
        source="ORGANIC_SEARCH",
        company="co1",
    )
    # d4, d5 open (d5 without an amount); d4 weighted at 20 %.
    p.deal("d4", "2025-02-05", stage="open", amount=200_000, source="REFERRALS")
    p.deal("d5", "2025-02-05", stage="open", amount=None, source="REFERRALS")
    # d6 closed (won, 20 Feb) before it was created (1 March): excluded from days to close, counted.
    p.deal(
        "d6",
        "2025-03-01",
        stage="won",
        amount=30_000,
        closed="2025-02-20",
        is_closed=True,
        is_won=True,
        source="REFERRALS",
        company="co2",
    )
    # d7 was reopened: HubSpot says open again, its old close date stays.
    p.deal(
        "d7",
        "2025-01-20",
        stage="open",
        amount=10_000,
        closed="2025-02-25",
        is_closed=False,
        is_won=False,
        source="ORGANIC_SEARCH",
    )
    # d8 closes won after as_of: at as_of it was still open (weighted at its stage's 100 %).
    p.deal(
        "d8",
        "2025-03-20",
        stage="won",
        amount=5_000,
        closed="2025-04-20",
        is_closed=True,
        is_won=True,
        source="ORGANIC_SEARCH",
    )

    p.add_spend("2025-02-01", "2025-02-28", "all", 50_000)
    p.add_spend("2025-02-01", "2025-02-28", "ORGANIC_SEARCH", 10_000)
    p.add_spend("2025-01-01", "2025-03-31", "PAID_SEARCH", 9_000)  # 90 days: 3,100 / 2,800 / 3,100
    p.add_spend("2025-02-01", "2025-02-28", "EVENTS", 99_999, currency="USD")  # not the home currency
    return p


def compute(engine, tmp_path: Path, **kpi) -> KpiResult:
    build_portal().save(engine)
    settings = load_settings(
        data_dir=tmp_path,
        database_url=str(engine.url.render_as_string(hide_password=False)),
        reporting_timezone="Europe/Stockholm",
        kpi={"periods_back": 4, **kpi},
    )
    return compute_kpis(settings, engine, as_of=AS_OF).result


@pytest.fixture(scope="module")
def result(module_engine, tmp_path_factory) -> KpiResult:
    """Computed once per dialect: the tests that take it only read it."""
    return compute(module_engine, tmp_path_factory.mktemp("engine"))


def value(result: KpiResult, kpi: str, period=None, *, stage: str = "", dim: Dim = ALL):
    found = result.find(kpi, stage=stage, dim=dim, period=period)
    assert found is not None, (kpi, stage, dim, period)
    return found


def test_currency_is_inferred(result):
    assert result.currency == "SEK"


def test_current_stage_counts(result):
    counts = {v.stage: v.value for v in result.values if v.kpi == "stage_count" and v.dim == ALL}
    assert counts["lead"] == 3 and counts[MQL] == 2 and counts["customer"] == 3
    assert counts[SQL] == 0 and counts[OPP] == 0


def test_missing_stage_dates(result):
    # c4 is a customer with no lead date; c2 and c4 have no MQL, SQL or opportunity date.
    assert [
        value(result, "stage_dates_missing", stage=s).value for s in ("lead", MQL, SQL, OPP, "customer")
    ] == [1, 2, 2, 2, 0]


@pytest.mark.parametrize(
    ("stage", "jan", "feb", "mar"),
    [("lead", 6, 0, 1), (MQL, 3, 0, 1), (SQL, 1, 0, 0), (OPP, 0, 1, 0), ("customer", 0, 2, 1)],
)
def test_entries_per_period(result, stage, jan, feb, mar):
    got = [value(result, "stage_entries", p, stage=stage).value for p in (JAN, FEB, MAR)]
    assert got == [jan, feb, mar]


@pytest.mark.parametrize(
    ("step", "period", "converted", "base"),
    [
        ("lead>" + MQL, JAN, 5, 6),  # c2 skipped MQL but passed it; c9 did not
        (MQL + ">" + SQL, JAN, 1, 3),
        (MQL + ">" + SQL, MAR, 0, 1),
        (OPP + ">customer", FEB, 1, 1),
        ("lead>customer", JAN, 2, 6),
    ],
)
def test_cohort_conversion_reached_or_passed(result, step, period, converted, base):
    rate = value(result, "stage_conversion", period, stage=step)
    assert (rate.numerator, rate.denominator) == (converted, base)
    assert rate.value == pytest.approx(converted / base)
    assert value(result, "stage_conversion_open", period, stage=step).value == base - converted


def test_strict_mode_needs_every_stage_in_order(engine, tmp_path):
    strict = compute(engine, tmp_path, conversion_mode="strict")
    assert value(strict, "stage_conversion", JAN, stage="lead>" + MQL).numerator == 4  # not c2, c9
    assert value(strict, "stage_conversion", JAN, stage="lead>customer").numerator == 1  # only c1


def test_zero_base_gives_none_and_a_reason(result):
    rate = value(result, "stage_conversion", FEB, stage="lead>" + MQL)
    assert rate.value is None and rate.reason == "no_base" and rate.denominator == 0


def test_volume_ratio_and_leads_per_customer(result):
    ratio = value(result, "stage_volume_ratio", JAN, stage="lead>" + MQL)
    assert (ratio.numerator, ratio.denominator) == (3, 6)
    assert value(result, "leads_per_customer", JAN, stage="lead>customer").value == pytest.approx(3.0)


def test_breakdown_by_source(result):
    organic = Dim("source", "ORGANIC_SEARCH")
    rate = value(result, "stage_conversion", JAN, stage="lead>" + MQL, dim=organic)
    assert (rate.numerator, rate.denominator) == (3, 3)  # c1, c3, c5
    assert value(result, "stage_entries", MAR, stage="lead", dim=Dim("source", "unknown")).value == 1  # c6


def test_contacts_created_and_contact_to_customer(result):
    assert [value(result, "contacts_created", p).value for p in (JAN, FEB, MAR)] == [6, 1, 1]
    rate = value(result, "contact_to_customer_rate", JAN, stage="created>customer")
    assert (rate.numerator, rate.denominator) == (2, 6)


def test_time_to_customer(result):
    assert value(result, "time_to_customer_mean", FEB).value == pytest.approx(20.5)  # 41 and 0 days
    assert value(result, "time_to_customer_median", MAR).value == pytest.approx(54.0)


def test_win_rate_revenue_and_deal_size(result):
    win = value(result, "win_rate", FEB)
    assert (win.numerator, win.denominator) == (3, 4)  # d1, d3, d6 won; d2 lost
    assert value(result, "closed_won_revenue", FEB).value == 130_000
    size = value(result, "average_won_deal_size", FEB)
    assert (size.value, size.denominator) == (65_000, 2)  # d3 has no amount
    assert value(result, "deals_missing_amount", FEB, stage="won").value == 1
    assert value(result, "win_rate", JAN).value is None


def test_days_to_close(result):
    assert value(result, "days_to_close_mean", FEB).value == pytest.approx(20.5)  # 31 and 10 days
    assert value(result, "days_to_close_median", FEB).value == pytest.approx(20.5)
    assert value(result, "deals_closed_before_created", FEB).value == 1  # d6


def test_pipeline_snapshot(result):
    # Open at as_of: d4, d5, d7 (reopened), d8 (closes after as_of).
    assert value(result, "open_deals").value == 4
    assert value(result, "open_pipeline").value == 215_000
    assert value(result, "weighted_pipeline").value == pytest.approx(47_000)
    assert value(result, "deals_missing_amount", stage="open").value == 1


def test_deals_created_and_velocity(result):
    assert [value(result, "deals_created", p).value for p in (JAN, FEB, MAR)] == [3, 3, 2]
    assert value(result, "pipeline_created", JAN).value == 160_000
    velocity = value(result, "pipeline_velocity", FEB)
    assert velocity.value == pytest.approx(3 * 0.75 * 65_000 / 20.5)
    assert velocity.unit == "money_per_day:SEK"
    assert value(result, "pipeline_velocity", JAN).reason == "no_data"


def test_spend_kpis(result):
    spend = value(result, "spend", FEB)
    assert spend.value == pytest.approx(62_800)  # 50,000 + 10,000 + 2,800 (USD excluded)
    cac = value(result, "cac", FEB)
    assert (cac.value, cac.denominator) == (pytest.approx(31_400), 2)
    roi = value(result, "roi", FEB)
    assert roi.value == pytest.approx((130_000 - 62_800) / 62_800)
    organic = Dim("source", "ORGANIC_SEARCH")
    assert value(result, "cac", FEB, dim=organic).value == pytest.approx(10_000)
    assert value(result, "roi", FEB, dim=organic).value == pytest.approx(9.0)
    assert value(result, "spend", JAN, dim=Dim("source", "PAID_SEARCH")).value == pytest.approx(3_100)
    assert value(result, "cost_per_lead", MAR).value == pytest.approx(3_100)  # c6
    assert value(result, "spend_excluded", stage="currency!=SEK").value == 1
    assert value(result, "cac", JAN).reason == "no_base"


def test_clv(result):
    assert value(result, "clv_average_order_value").value == 65_000
    assert value(result, "clv_orders_per_year").value == pytest.approx(1.5)  # 3 won deals, 2 companies
    assert value(result, "clv").value == pytest.approx(65_000 * 1.5 * 3)
    # CAC over the trailing year: 69,000 spend / 3 new customers = 23,000.
    assert value(result, "clv_roi").value == pytest.approx((292_500 - 23_000) / 23_000)


def test_clv_overrides_and_margin(engine, tmp_path):
    res = compute(
        engine,
        tmp_path,
        clv_average_order_value=100_000,
        clv_orders_per_year=3,
        clv_years_retained=2,
        gross_margin=0.5,
    )
    assert value(res, "clv").value == 600_000
    assert value(res, "clv_gross_margin").value == 300_000


def test_earlier_as_of_sees_less(engine, tmp_path):
    build_portal().save(engine)
    settings = load_settings(
        data_dir=tmp_path, reporting_timezone="Europe/Stockholm", kpi={"periods_back": 2}
    )
    settings.database_url = engine.url.render_as_string(hide_password=False)
    early = compute_kpis(settings, engine, as_of=datetime.fromisoformat("2025-02-12T00:00+00:00")).result
    feb = parse_period("month", "2025-02", TZ)
    assert value(early, "stage_entries", feb, stage="customer").value == 1  # c4 only; c1 on the 15th
    assert value(early, "deals_won", feb).value == 2  # d1, d3


def test_funnel_read_in_two_halves_adds_up_to_the_whole(engine, tmp_path):
    """Large portals are read in two halves of the contact ids in parallel; the cells must add up."""
    from kpi.engine import compute as compute_all
    from kpi.periods import period_grid
    from kpi.reader import read_inputs

    build_portal().save(engine)
    settings = load_settings(data_dir=tmp_path, kpi={"periods_back": 4})
    periods = period_grid("month", TZ, as_of=AS_OF, periods_back=4)
    results = [
        compute_all(
            read_inputs(
                engine,
                connection="default",
                settings=settings.kpi,
                periods=periods,
                as_of=AS_OF,
                tz=TZ,
                split_above=split,
            )
        )
        for split in (10_000, 1)
    ]
    whole, halves = ({(v.key(), v.value, v.numerator, v.denominator) for v in r.values} for r in results)
    assert whole == halves


def test_days_to_close_by_latest_source(result):
    # d1 and d3 have no latest source of their own: they fall back to the original (ORGANIC_SEARCH).
    organic = Dim("latest_source", "ORGANIC_SEARCH")
    assert value(result, "days_to_close_median", FEB, dim=organic).value == pytest.approx(20.5)


def test_merged_contacts_count_once_and_lend_their_history_to_the_survivor(engine, tmp_path):
    base = compute(engine, tmp_path)
    merged = Portal()
    # m1 was merged into c6 (lead on March 10): m1 became a lead on January 20, so the survivor's
    # first lead entry moves to January; m1 itself is never counted.
    merged.contact("m1", "2025-01-20", "lead", source="PAID_SEARCH", merged_into="c6", lead="2025-01-20")
    merged.save(engine)
    after = compute(engine, tmp_path)
    assert (
        value(after, "stage_entries", JAN, stage="lead").value
        == value(base, "stage_entries", JAN, stage="lead").value + 1
    )
    assert (
        value(after, "stage_entries", MAR, stage="lead").value
        == value(base, "stage_entries", MAR, stage="lead").value - 1
    )
    assert [value(after, "contacts_created", p).value for p in (JAN, FEB, MAR)] == [6, 1, 1]
    leads_now = after.find("stage_count", stage="lead")
    assert leads_now is not None and leads_now == base.find("stage_count", stage="lead")
    paid = Dim("source", "PAID_SEARCH")
    paid_created = after.find("contacts_created", period=JAN, dim=paid)
    assert paid_created is not None and paid_created == base.find("contacts_created", period=JAN, dim=paid)


def test_deal_stage_conversion_and_days_in_stage(engine, tmp_path):
    p = Portal()
    # Pipeline "default": open → won (lost is not part of the chain).
    p.deal("a", "2025-01-05", stage="won", amount=100, closed="2025-02-04", is_closed=True, is_won=True)
    p.deal_stage("a", "open", "2025-01-05")
    p.deal_stage("a", "won", "2025-02-04", source="history")  # 30 days in open, left in February
    p.deal("b", "2025-01-10", stage="lost", amount=100, closed="2025-01-20", is_closed=True, is_won=False)
    p.deal_stage("b", "open", "2025-01-10")
    p.deal_stage("b", "lost", "2025-01-20", source="observed")  # 10 days, left in January, lost
    p.deal("c", "2025-01-15", stage="open", amount=100)
    p.deal_stage("c", "open", "2025-01-15")  # still open: in the base, no stay yet
    p.deal("d", "2025-02-01", stage="won", amount=100, closed="2025-02-11", is_closed=True, is_won=True)
    p.deal_stage("d", "open", "2025-02-01")
    p.deal_stage("d", "won", "2025-02-11")  # 10 days
    p.save(engine)
    settings = load_settings(
        data_dir=tmp_path, reporting_timezone="Europe/Stockholm", kpi={"periods_back": 4}
    )
    result = compute_kpis(settings, engine, as_of=AS_OF).result
    pipeline = Dim("pipeline", "default")
    jan = value(result, "deal_stage_conversion", JAN, stage="open>won", dim=pipeline)
    feb = value(result, "deal_stage_conversion", FEB, stage="open>won", dim=pipeline)
    assert (jan.numerator, jan.denominator, feb.numerator, feb.denominator) == (1, 3, 1, 1)
    assert value(result, "deal_stage_days_mean", JAN, stage="open", dim=pipeline).value == pytest.approx(10)
    feb_days = value(result, "deal_stage_days_mean", FEB, stage="open", dim=pipeline)
    assert (feb_days.value, feb_days.denominator) == (pytest.approx(20), 2)
    assert value(result, "deal_stage_days_median", FEB, stage="open", dim=pipeline).value == pytest.approx(20)
    assert value(result, "deal_stage_conversion", JAN, stage="open>won", dim=pipeline).family == "deal_stages"


def test_email_rates_are_sums_over_sums_per_period_and_platform(engine, tmp_path):
    """The reference's P5 example split over two January sends, plus a February send with more
    clickers than openers (clamped for click-to-open) and one sent after as_of (not counted)."""
    p = Portal()
    # P5: sent 10,000; unique opens 2,150; unique clicks 430; hard bounces 150; unsubscribes 26.
    p.email(
        "e1",
        "2025-01-10",
        sent=6_000,
        delivered=5_900,
        unique_opens=1_300,
        unique_clicks=250,
        bounces=100,
        unsubscribes=16,
        spam_reports=1,
    )
    p.email(
        "e2",
        "2025-01-20",
        sent=4_000,
        delivered=3_950,
        unique_opens=850,
        unique_clicks=180,
        bounces=50,
        unsubscribes=10,
        spam_reports=0,
    )
    # delivered missing: derived as sent - bounces = 90.
    p.email("e3", "2025-02-03", sent=100, unique_opens=5, unique_clicks=8, bounces=10)
    p.email("later", "2025-04-20", sent=50, delivered=50, unique_opens=50, unique_clicks=50, bounces=0)
    p.save(engine)
    settings = load_settings(
        data_dir=tmp_path, reporting_timezone="Europe/Stockholm", kpi={"periods_back": 4}
    )
    result = compute_kpis(settings, engine, as_of=AS_OF).result
    jan = {
        k: value(result, k, JAN)
        for k in (
            "emails_sent",
            "email_delivered",
            "email_delivery_rate",
            "email_open_rate",
            "email_click_rate",
            "email_click_to_open_rate",
            "email_bounce_rate",
            "email_unsubscribe_rate",
        )
    }
    assert jan["emails_sent"].value == 2 and jan["email_delivered"].value == 9_850
    assert jan["email_delivery_rate"].value == pytest.approx(0.985)
    assert jan["email_open_rate"].value == pytest.approx(0.2183, abs=1e-4)
    assert jan["email_click_rate"].value == pytest.approx(0.0437, abs=1e-4)
    assert jan["email_click_to_open_rate"].value == pytest.approx(0.20)
    assert jan["email_bounce_rate"].value == pytest.approx(0.015)
    assert jan["email_unsubscribe_rate"].value == pytest.approx(0.00264, abs=1e-5)
    hubspot = value(result, "email_open_rate", JAN, dim=Dim("platform", "hubspot"))
    assert (hubspot.numerator, hubspot.denominator) == (2_150, 9_850)
    feb = value(result, "email_click_to_open_rate", FEB)
    assert (feb.numerator, feb.denominator, feb.value) == (5, 5, 1.0)
    assert value(result, "email_delivered", FEB).value == 90
    # March has no send: zeros and rates without a base, so charts have no gaps.
    assert value(result, "emails_sent", MAR).value == 0
    assert value(result, "email_open_rate", MAR).reason == "no_base"
    assert value(result, "email_open_rate", JAN).family == "email"
    # Each send has its own rows in the period it went out, with the open basis recorded.
    e1 = value(result, "email_open_rate", JAN, dim=Dim("email", "hubspot:e1"))
    assert (e1.numerator, e1.denominator, e1.basis) == (1_300, 5_900, "bot_filtered")
    assert value(result, "email_click_rate", JAN, dim=Dim("email", "hubspot:e1")).basis == ""
    assert value(result, "emails_sent", FEB, dim=Dim("email", "hubspot:e3")).value == 1
    assert all(
        v.dim != Dim("email", "hubspot:e1") for v in result.values if v.period is not None and v.period != JAN
    )


def test_list_growth_and_the_audience_funnel_link():
    """Hand-made member cells (the read buckets members by the period of opt-in and of leaving:
    tests/service/test_mailchimp.py checks it against the sandbox's members)."""
    from kpi.email import audience_kpis
    from kpi.inputs import AudienceLink, ContactAggregates, KpiInputs, MemberCell

    members = [
        MemberCell("Newsletter", "subscribed", 0, None, 1),
        MemberCell("Newsletter", "subscribed", 1, None, 1),
        MemberCell("Newsletter", "unsubscribed", 0, 1, 1),  # joins Jan, leaves Feb
        MemberCell("Newsletter", "cleaned", 1, 2, 1),
        MemberCell("Events", "pending", None, None, 1),  # not opted in: no join
        MemberCell("Events", "subscribed", 2, None, 1),
        MemberCell("Events", "subscribed", None, None, 1),  # after as_of
    ]
    inputs = KpiInputs(
        as_of=AS_OF,
        tz=TZ,
        periods=[JAN, FEB, MAR],
        stages=["lead", MQL, SQL, OPP, "customer"],
        currency="SEK",
        contacts=ContactAggregates(),
        deals=[],
        members=members,
        audience_link=AudienceLink(
            subscribed=40,
            subscribed_mql=10,
            not_subscribed=60,
            not_subscribed_mql=6,
            engaged=20,
            engaged_mql=8,
        ),
    )
    out = {(v.kpi, v.period.label if v.period else "", v.dim.value): v for v in audience_kpis(inputs)}
    assert [out["list_new_subscribers", p.label, "all"].value for p in (JAN, FEB, MAR)] == [2, 2, 1]
    assert [out["list_unsubscribes", p.label, "all"].value for p in (JAN, FEB, MAR)] == [0, 1, 0]
    assert [out["list_cleaned", p.label, "all"].value for p in (JAN, FEB, MAR)] == [0, 0, 1]
    assert [out["list_net_growth", p.label, "all"].value for p in (JAN, FEB, MAR)] == [2, 1, 0]
    assert out["list_new_subscribers", MAR.label, "Events"].value == 1
    assert out["contacts_in_audience", "", "all"].value == 40
    assert out["mql_share_subscribed", "", "all"].value == pytest.approx(0.25)
    assert out["mql_share_not_subscribed", "", "all"].value == pytest.approx(0.10)
    assert out["mql_share_engaged", "", "all"].value == pytest.approx(0.40)
    assert out["mql_share_not_engaged", "", "all"].value == pytest.approx(8 / 80)
    assert out["list_net_growth", JAN.label, "all"].family == "audience"


@pytest.mark.parametrize(
    ("sent", "delivered", "opens", "clicks", "expected"),
    [
        # P6: recipients 10,000, delivered 8,500, opened 3,060, clicked 400.
        (
            10_000,
            8_500,
            3_060,
            400,
            {
                "email_delivery_rate": 0.85,
                "email_bounce_rate": 0.15,
                "email_open_rate": 0.36,
                "email_click_rate": 0.0471,
                "email_click_to_open_rate": 0.1307,
            },
        ),
        # P7: delivered 1,000, opens 250, clicks 30.
        (1_000, 1_000, 250, 30, {"email_open_rate": 0.25, "email_click_rate": 0.03}),
    ],
    ids=["P6", "P7"],
)
def test_public_email_examples(sent, delivered, opens, clicks, expected):
    from kpi.email import email_kpis
    from kpi.inputs import ContactAggregates, EmailFact, KpiInputs

    fact = EmailFact(
        "mailchimp",
        "c1",
        t("2025-02-10"),
        "regular",
        sent,
        delivered,
        opens,
        clicks,
        bounces=sent - delivered,
        unsubscribes=0,
        spam_reports=0,
        open_basis="raw",
    )
    inputs = KpiInputs(
        as_of=AS_OF,
        tz=TZ,
        periods=[JAN, FEB, MAR],
        stages=["lead", "customer"],
        currency="SEK",
        contacts=ContactAggregates(),
        deals=[],
        emails=[fact],
    )
    rows = email_kpis(inputs)
    for dim in (ALL, Dim("email", "mailchimp:c1")):
        values = {v.kpi: v for v in rows if v.period == FEB and v.dim == dim}
        for kpi, value in expected.items():
            assert values[kpi].value == pytest.approx(value, abs=5e-5), kpi
        assert values["email_open_rate"].basis == "raw"


def test_sums_over_sends_counted_differently_name_every_basis():
    from kpi.email import email_kpis
    from kpi.inputs import ContactAggregates, EmailFact, KpiInputs

    def send(platform: str, basis: str) -> EmailFact:
        return EmailFact(platform, basis, t("2025-02-10"), "regular", 100, 100, 30, 5, 0, 0, 0, basis)

    inputs = KpiInputs(
        as_of=AS_OF,
        tz=TZ,
        periods=[FEB],
        stages=["lead", "customer"],
        currency="SEK",
        contacts=ContactAggregates(),
        deals=[],
        emails=[
            send("hubspot", "bot_filtered"),
            send("mailchimp", "proxy_excluded"),
            send("mailchimp", "raw"),
        ],
    )
    bases = {(v.kpi, v.dim.value): v.basis for v in email_kpis(inputs) if v.kpi.startswith("email_")}
    assert bases["email_open_rate", "all"] == "bot_filtered+proxy_excluded+raw"
    assert bases["email_click_to_open_rate", "mailchimp"] == "proxy_excluded+raw"
    assert bases["email_open_rate", "hubspot"] == "bot_filtered"
    assert bases["email_click_rate", "all"] == ""


def test_every_value_has_its_kpis_declared_unit(result):
    """The unit contract: one unit per KPI (kpi.model.KPI_UNITS), money with its currency."""
    from kpi.model import KPI_UNITS

    assert result.values
    for v in result.values:
        kind, _, currency = v.unit.partition(":")
        assert kind == KPI_UNITS[v.kpi], v
        assert (currency == "SEK") == kind.startswith("money"), v
        if kind == "share" and v.value is not None:
            assert 0.0 <= v.value <= 1.0, v
