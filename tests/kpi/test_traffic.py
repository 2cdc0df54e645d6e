"""Website and persona KPIs on hand-computed analytics rows, read from storage (SQLite and
PostgreSQL). Months in Stockholm time: January, February, March and April 2025; as_of 10 April."""

from __future__ import annotations

from datetime import date

import pytest

from config import load_settings
from kpi.engine import compute as compute_all
from kpi.inputs import KpiInputs, TrafficRow
from kpi.model import ALL, Dim, KpiResult
from kpi.traffic import DayGrid
from service.kpis import compute_kpis
from storage import upsert
from storage.models import HubSpotAnalyticsRow, HubSpotProperty
from tests.kpi.portal import Portal
from tests.kpi.test_engine import AS_OF, FEB, JAN, MAR, TZ, value

# Its tests share one module-scoped database per dialect: one xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("kpi_traffic")

APR_DAY = date(2025, 4, 3)


COUNTERS = ("visits", "visitors", "raw_views", "contacts", "leads", "customers", "submissions", "entrances")


def row(report: str, day: str, breakdown: str, meta: str | None = None, **counters: int) -> dict[str, object]:
    """A stored analytics row; counters not given are None (HubSpot did not send them)."""
    return {
        **dict.fromkeys(COUNTERS),
        "connection": "default",
        "day_id": f"{report}|{day}",
        "breakdown": breakdown,
        "report": report,
        "day": date.fromisoformat(day),
        "meta": meta,
        "raw": {},
        **counters,
    }


ROWS = [
    # The site: 10 January busy, 11 January no visits at all, one day in February.
    row("totals", "2025-01-10", "total", visits=1000, visitors=800, contacts=20, customers=2),
    row("totals", "2025-01-11", "total", visits=0, visitors=0, contacts=0, customers=0),
    row("totals", "2025-02-03", "total", visits=500, visitors=400, contacts=5, customers=0),
    row("sources", "2025-01-10", "ORGANIC_SEARCH", visits=600, visitors=500, contacts=12, customers=2),
    row("sources", "2025-01-10", "SOCIAL_MEDIA", visits=300, visitors=220, contacts=6, customers=0),
    row("sources", "2025-01-10", "DIRECT_TRAFFIC", visits=100, visitors=80, contacts=2, customers=0),
    row("sources", "2025-01-11", "ORGANIC_SEARCH", visits=0, visitors=0, contacts=0, customers=0),
    row("sources", "2025-02-03", "ORGANIC_SEARCH", visits=500, visitors=400, contacts=5, customers=0),
    row("sources:SOCIAL_MEDIA", "2025-01-10", "LinkedIn", visits=200, contacts=5, leads=5, customers=0),
    row("sources:SOCIAL_MEDIA", "2025-01-10", "Facebook", visits=100, contacts=1, leads=1, customers=0),
    # Landing pages in January: ebook 120 views / 54 submissions (45 %), demo 200 / 10 (5 %),
    # teaser 60 views and no form (0 %), tiny 10 / 9 (90 %, under the 50 views needed to rank).
    row(
        "landing-pages",
        "2025-01-10",
        "1",
        "/lp/ebook",
        raw_views=100,
        submissions=50,
        entrances=40,
        contacts=45,
    ),
    row(
        "landing-pages", "2025-01-11", "1", "/lp/ebook", raw_views=20, submissions=4, entrances=5, contacts=4
    ),
    row(
        "landing-pages",
        "2025-01-10",
        "2",
        "/lp/demo",
        raw_views=200,
        submissions=10,
        entrances=150,
        contacts=10,
    ),
    row(
        "landing-pages",
        "2025-01-10",
        "3",
        "/lp/teaser",
        raw_views=60,
        submissions=0,
        entrances=30,
        contacts=0,
    ),
    row("landing-pages", "2025-01-10", "4", "/lp/tiny", raw_views=10, submissions=9, entrances=2, contacts=9),
    row("standard-pages", "2025-01-10", "11", "/", raw_views=1300, entrances=500),
    row("standard-pages", "2025-01-10", "12", "/pricing", raw_views=200, entrances=90, contacts=3),
    row("standard-pages", "2025-01-10", "13", "/product", raw_views=150, entrances=70),
    row("standard-pages", "2025-01-10", "14", "/about", raw_views=40, entrances=20),
    row("blog-posts", "2025-01-10", "21", "/blog/mql", raw_views=180, entrances=100, contacts=2),
]


def build(engine) -> None:
    p = Portal()
    p.contact("c1", "2025-01-05", "customer", source="ORGANIC_SEARCH", persona="persona_1", lead="2025-01-05")
    p.contact("c2", "2025-01-06", "lead", source="PAID_SEARCH", persona="persona_2", lead="2025-01-06")
    p.contact("c3", "2025-01-07", "lead", source="ORGANIC_SEARCH", lead="2025-01-07")
    p.contact("c4", "2025-02-01", "lead", source="REFERRALS", persona="persona_1", lead="2025-02-01")
    p.contact("c5", "2025-02-02", "lead", source="REFERRALS", persona="persona_9", archived=True)
    p.save(engine)
    options = [
        {"value": "persona_2", "label": "Technical Tom", "displayOrder": 1},
        {"value": "persona_1", "label": "Operations Olivia", "displayOrder": 0},
        {"value": "persona_3", "label": "CFO Carl", "displayOrder": 2},
        {"value": "persona_old", "label": "Retired", "displayOrder": 3, "hidden": True},
    ]
    with engine.begin() as conn:
        upsert(conn, HubSpotAnalyticsRow, ROWS)
        upsert(
            conn,
            HubSpotProperty,
            [
                {
                    "connection": "default",
                    "id": "contacts/hs_persona",
                    "object_type": "contacts",
                    "name": "hs_persona",
                    "raw": {"name": "hs_persona", "options": options},
                }
            ],
        )


@pytest.fixture(scope="module")
def result(module_engine, tmp_path_factory) -> KpiResult:
    """Computed once per dialect: the tests below only read it."""
    engine = module_engine
    build(engine)
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("traffic"),
        database_url=str(engine.url.render_as_string(hide_password=False)),
        reporting_timezone="Europe/Stockholm",
        kpi={"periods_back": 4, "priority_personas": ["persona_1"]},
    )
    return compute_kpis(settings, engine, as_of=AS_OF).result


SOURCE = Dim("source", "ORGANIC_SEARCH")
LINKEDIN = Dim("social_network", "LinkedIn")


@pytest.mark.parametrize(
    ("kpi", "period", "dim", "expected"),
    [
        ("web_visits", JAN, ALL, 1000),
        ("web_visitors", JAN, ALL, 800),
        ("web_new_contacts", JAN, ALL, 20),
        ("web_customers", JAN, ALL, 2),
        ("visit_to_contact_rate", JAN, ALL, 20 / 1000),
        ("visitor_to_lead_rate", JAN, ALL, 20 / 800),
        ("web_contact_to_customer_rate", JAN, ALL, 2 / 20),
        ("visitors_per_customer", JAN, ALL, 800 / 2),
        ("web_visits", JAN, SOURCE, 600),
        ("visit_to_contact_rate", JAN, SOURCE, 12 / 600),
        ("visitors_per_customer", JAN, SOURCE, 500 / 2),
        ("traffic_share", JAN, SOURCE, 0.6),
        ("traffic_share", JAN, Dim("source", "SOCIAL_MEDIA"), 0.3),
        ("organic_traffic_share", JAN, ALL, 0.6),
        ("organic_traffic_share", FEB, ALL, 1.0),
        ("web_visits", JAN, LINKEDIN, 200),
        ("web_leads", JAN, LINKEDIN, 5),
        ("web_customers", JAN, LINKEDIN, 0),
        ("traffic_share", JAN, LINKEDIN, 0.2),
        ("visit_to_contact_rate", JAN, Dim("social_network", "Facebook"), 1 / 100),
        ("web_visits", FEB, ALL, 500),
        ("web_visits", MAR, ALL, 0),
        ("landing_page_views", JAN, ALL, 390),
        ("landing_page_submissions", JAN, ALL, 73),
        ("landing_page_conversion_rate", JAN, ALL, 73 / 390),
        ("landing_page_conversion_rate", JAN, Dim("landing_page", "/lp/ebook"), 54 / 120),
        ("landing_page_conversion_rate", JAN, Dim("landing_page", "/lp/teaser"), 0.0),
        ("contacts_created", JAN, Dim("persona", "persona_1"), 1),
        ("contacts_created", JAN, Dim("persona", "persona_2"), 1),
        ("contacts_created", JAN, Dim("persona", "persona_3"), 0),
        ("contacts_created", JAN, Dim("persona", "unknown"), 1),
        ("contacts_created", FEB, Dim("persona", "persona_1"), 1),
        ("priority_persona_share", JAN, ALL, 1 / 3),
        ("priority_persona_share", FEB, ALL, 1.0),
    ],
)
def test_hand_computed_values(result, kpi, period, dim, expected):
    assert value(result, kpi, period, dim=dim).value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kpi", "period", "dim"),
    [
        ("visit_to_contact_rate", MAR, ALL),  # no visits at all
        ("organic_traffic_share", MAR, ALL),
        ("visitors_per_customer", FEB, ALL),  # no customer to divide by
        ("landing_page_conversion_rate", FEB, ALL),  # no landing-page views
        ("priority_persona_share", MAR, ALL),  # nobody created
    ],
)
def test_nothing_to_divide_by_gives_no_value_and_a_reason(result, kpi, period, dim):
    found = value(result, kpi, period, dim=dim)
    assert found.value is None and found.reason == "no_base"


def test_best_and_worst_landing_pages_need_enough_views(result):
    best = value(
        result, "landing_page_conversion_rate", JAN, stage="best", dim=Dim("landing_page", "/lp/ebook")
    )
    worst = value(
        result, "landing_page_conversion_rate", JAN, stage="worst", dim=Dim("landing_page", "/lp/teaser")
    )
    assert best.value == pytest.approx(0.45) and worst.value == 0.0
    # /lp/tiny converts 90 % but has 10 views (< landing_page_min_views = 50): never ranked.
    ranked = [
        v for v in result.values if v.kpi == "landing_page_conversion_rate" and v.stage in ("best", "worst")
    ]
    assert {v.dim.value for v in ranked if v.period == JAN} == {"/lp/ebook", "/lp/teaser"}


def test_the_top_five_entry_pages_with_their_conversion(result):
    top = sorted(
        (v for v in result.values if v.kpi == "entry_page_entrances" and v.period == JAN),
        key=lambda v: v.stage,
    )
    assert [(v.stage, v.dim.value, v.value) for v in top] == [
        ("1", "/", 500),
        ("2", "/lp/demo", 150),
        ("3", "/blog/mql", 100),
        ("4", "/pricing", 90),
        ("5", "/product", 70),
    ]
    rate = value(result, "entry_page_conversion_rate", JAN, stage="2", dim=Dim("entry_page", "/lp/demo"))
    assert rate.value == pytest.approx(10 / 150) and (rate.numerator, rate.denominator) == (10, 150)


def test_personas_come_in_the_portals_order_without_hidden_or_deleted_ones(result):
    jan = [
        v.dim.value
        for v in result.values
        if v.kpi == "contacts_created" and v.dim.name == "persona" and v.period == JAN
    ]
    assert jan == ["persona_1", "persona_2", "persona_3", "unknown"]
    assert all(v.dim.value != "persona_9" for v in result.values)  # only an archived contact had it


def test_without_analytics_there_are_no_website_kpis():
    inputs = KpiInputs(
        as_of=AS_OF,
        tz=TZ,
        periods=[JAN, FEB],
        stages=["lead", "customer"],
        currency="SEK",
        contacts=__import__("kpi.inputs", fromlist=["ContactAggregates"]).ContactAggregates(),
        deals=[],
    )
    assert not [v for v in compute_all(inputs).values if v.family == "web"]
    inputs.traffic = [TrafficRow("sources", date(2025, 1, 31), "DIRECT_TRAFFIC", visits=3)]
    web = [v for v in compute_all(inputs).values if v.family == "web"]
    assert value(KpiResult(AS_OF, web), "web_visits", JAN).value == 3  # sources stand in for totals


def test_days_fall_in_the_period_of_their_calendar_date():
    grid = DayGrid([JAN, FEB, MAR])
    assert [grid.index(date(2025, m, d)) for m, d in ((1, 1), (1, 31), (2, 1), (3, 31))] == [0, 0, 1, 2]
    assert grid.index(date(2024, 12, 31)) is None and grid.index(APR_DAY) is None
