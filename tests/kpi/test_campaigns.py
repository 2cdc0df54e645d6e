"""The campaigns family and the attribution family's campaign breakdown, computed by hand for a
small portal written into storage (both databases): spend spread over a campaign's dates, the
contacts and customers each campaign brought, its credited revenue, CAC, ROAS and ROI, HubSpot's
lifetime metrics, and a campaign in another currency left out of the money."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config import load_settings
from kpi.campaigns import campaign_spend_facts
from kpi.inputs import CampaignFact
from kpi.labels import Labels
from kpi.model import ALL, Dim
from kpi.periods import parse_period
from service.kpis import compute_kpis
from tests.kpi.portal import Portal, t

UTC = ZoneInfo("UTC")
JAN, FEB = (parse_period("month", m, UTC) for m in ("2025-01", "2025-02"))
A, B = Dim("campaign", "guid-a"), Dim("campaign", "guid-b")


def portal() -> Portal:
    p = Portal()
    # A: 15 Jan … 13 Feb (30 days), 30,000 spent: 17 days in January, 13 in February.
    p.campaign("guid-a", "Spring fair", start="2025-01-15", end="2025-02-13", budget=40_000,
               spend=[(20_000, "2025-01-10"), (10_000, "2025-02-01")], sessions=300)  # fmt: skip
    # B has no dates: its item counts on the day it was entered.
    p.campaign("guid-b", "Webinars", start=None, end=None, spend=[(5_000, "2025-02-03")], sessions=120,
               new_contacts_first_touch=4, new_contacts_last_touch=2, influenced_contacts=5)  # fmt: skip
    # C is in euros: its money stays out, its counts stay in.
    p.campaign("guid-c", "Berlin roadshow", start="2025-02-01", end="2025-02-28", currency="EUR",
               spend=[(9_000, "2025-02-01")], sessions=50)  # fmt: skip
    p.contact("c1", "2025-01-20", "customer", source="OTHER_CAMPAIGNS", first_campaign="guid-a",
              lead="2025-01-20", customer="2025-02-20")  # fmt: skip
    p.contact(
        "c2", "2025-02-05", "lead", source="OTHER_CAMPAIGNS", first_campaign="guid-a", lead="2025-02-05"
    )
    p.contact("c3", "2025-02-10", "customer", source="PAID_SEARCH", first_campaign="guid-b",
              latest="OTHER_CAMPAIGNS", latest_at="2025-02-15", last_campaign="guid-a",
              lead="2025-02-10", customer="2025-02-25")  # fmt: skip
    p.contact("c4", "2025-02-11", "lead", source="DIRECT_TRAFFIC", lead="2025-02-11")
    p.deal("d1", "2025-02-22", stage="won", amount=100_000, closed="2025-02-26", is_closed=True,
           is_won=True, source="OTHER_CAMPAIGNS")  # fmt: skip
    p.link("d1", "c1")
    p.link("d1", "c3")
    return p


def compute(engine, tmp_path: Path, **kpi):
    settings = load_settings(
        data_dir=tmp_path,
        database_url=str(engine.url.render_as_string(hide_password=False)),
        kpi={"periods_back": 3, "forecast_periods": 0, **kpi},
    )
    return compute_kpis(settings, engine, as_of=t("2025-03-15")).result


def test_campaign_kpis_by_hand(engine, tmp_path: Path):
    portal().save(engine)
    result = compute(engine, tmp_path)

    def value(kpi: str, d: Dim = ALL, period=FEB, stage: str = "") -> float | None:
        found = result.find(kpi, stage=stage, dim=d, period=period)
        assert found is not None, (kpi, d, period)
        number: float | None = found.value
        return number

    assert value("campaign_spend", A, JAN) == pytest.approx(17_000)
    assert value("campaign_spend", A) == pytest.approx(13_000)
    assert value("campaign_spend", B) == pytest.approx(5_000)
    assert value("campaign_spend") == pytest.approx(18_000)  # C's euros are not added
    assert value("campaign_contacts_created", A, JAN) == 1
    assert (value("campaign_contacts_created", A), value("campaign_contacts_created", B)) == (1, 1)
    assert value("campaign_contacts_created") == 2  # c4 came by no campaign
    assert (value("campaign_customers", A), value("campaign_customers", B), value("campaign_customers")) == (
        1,
        1,
        2,
    )
    # d1's first touch is c1's creation, which campaign A brought.
    assert value("campaign_won_revenue", A, stage="first_touch") == 100_000
    assert value("campaign_cac", A) == pytest.approx(13_000)
    assert value("campaign_cost_per_contact", B) == pytest.approx(5_000)
    assert value("campaign_roas", A) == pytest.approx(100_000 / 13_000)
    assert value("campaign_roi", A) == pytest.approx((100_000 - 13_000) / 13_000)
    assert value("campaign_roas", B) == 0
    # Lifetime figures (no period): HubSpot's metrics as synced, budget used.
    assert value("campaign_budget_used", A, None) == pytest.approx(0.75)
    assert value("campaign_sessions", B, None) == 120
    assert value("campaign_cost_per_new_contact", B, None) == pytest.approx(1_250)
    assert result.find("campaign_budget_used", dim=B).reason == "no_data"
    assert value("campaign_sessions", Dim("campaign", "guid-c"), None) == 50
    assert result.find("campaign_budget", dim=Dim("campaign", "guid-c")) is None
    assert value("campaign_spend_total", ALL, None) == pytest.approx(35_000)
    assert value("campaigns_excluded", ALL, None, stage="currency!=SEK") == 1
    # The spend family counts the campaigns' spend in its total (no channel of its own).
    assert value("spend") == pytest.approx(18_000)
    assert value("cac") == pytest.approx(9_000)  # 18,000 / c1 and c3


def test_attribution_credits_campaigns_and_each_model_adds_up(engine, tmp_path: Path):
    portal().save(engine)
    result = compute(engine, tmp_path, campaign_attribution_model="linear", campaign_spend=False)

    def credit(model: str, d: Dim) -> float:
        found = result.find("attributed_revenue", stage=model, dim=d, period=FEB)
        return found.value if found and found.value is not None else 0.0

    # d1's touches: c1 created (A), c3 created (B), c3's latest session (A), d1 created (none).
    assert credit("first_touch", A) == 100_000
    assert credit("linear", A) == pytest.approx(50_000)
    assert credit("linear", B) == pytest.approx(25_000)
    assert credit("linear", Dim("campaign", "none")) == pytest.approx(25_000)
    assert credit("last_touch", Dim("campaign", "none")) == 100_000
    for model in ("first_touch", "linear", "w_shaped", "time_decay", "full_path"):
        values = [
            v.value
            for v in result.values
            if v.kpi == "attributed_revenue"
            and v.stage == model
            and v.period == FEB
            and v.dim.name == "campaign"
        ]
        assert sum(values) == pytest.approx(credit(model, ALL))
    linear = result.find("campaign_won_revenue", stage="linear", dim=A, period=FEB)
    assert linear is not None and linear.value == pytest.approx(50_000)
    # Without campaign spend in the spend family, February has no spend there.
    spend = result.find("spend", period=FEB)
    assert spend is None or not spend.value


def test_spend_of_a_running_campaign_is_spread_up_to_today():
    running = CampaignFact("x", "Always on", date(2025, 1, 1), None, "SEK", spend_items=((3_100, None),))
    ending = CampaignFact(
        "y", "Ends later", date(2025, 1, 1), date(2025, 6, 30), "SEK", spend_items=((1, None),)
    )
    undated = CampaignFact("z", "No dates", None, None, "SEK", spend_items=((5, None), (7, date(2025, 1, 9))))
    facts = campaign_spend_facts([running, ending, undated], today=date(2025, 1, 31))
    assert [(f.campaign, f.start, f.end, f.amount) for f in facts] == [
        ("x", date(2025, 1, 1), date(2025, 1, 31), 3_100),
        ("y", date(2025, 1, 1), date(2025, 1, 31), 1),
        ("z", date(2025, 1, 9), date(2025, 1, 9), 7),  # an item without any date is left out
    ]
    assert {f.channel for f in facts} == {"all"}


def test_campaigns_have_names_people_read():
    labels = Labels(campaigns={"guid-a": "Spring fair"})
    assert labels.dimension("campaign", "guid-a") == "Spring fair"
    assert labels.dimension("campaign", "none") == "No campaign"
    assert labels.stage("campaigns", "w_shaped").startswith("W-shaped")
