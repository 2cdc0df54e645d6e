"""HubSpot marketing campaigns as KPIs (docs/kpis.md, "Campaigns"): each campaign's spend per
period (its spend items spread over its dates), the contacts and customers it brought (first
converting touch), the won revenue credited to it by `kpi.campaign_attribution_model`, and from
those cost per contact, CAC, ROAS and ROI; beside them its lifetime budget, spend and HubSpot's
own metrics (sessions, new contacts first and last touch, influenced contacts). Pure: the reads
are in kpi/read_campaigns.py."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

from kpi.attribution import NO_CAMPAIGN, UNATTRIBUTED, credits, weights, won_journeys
from kpi.grid import dim
from kpi.inputs import CampaignFact, KpiInputs, SpendFact
from kpi.model import ALL, NO_DATA, NO_SPEND, Dim, KpiValue, Where, count, money, ratio, ratio_unit
from kpi.spend import roi_value

# Per-period counts and money, summed over campaigns into `all`.
_ADDITIVE = ("campaign_spend", "campaign_contacts_created", "campaign_customers", "campaign_won_revenue")


def campaign_spend_facts(campaigns: Iterable[CampaignFact], today: date) -> list[SpendFact]:
    """Each spend item over its campaign's dates (spend items carry no date of their own): from
    the start to the end, or to `today` while the campaign runs (what it spent so far is spent by
    now); an item of a campaign without a start date counts on the day it was entered."""
    out = []
    for c in campaigns:
        for amount, entered in c.spend_items:
            if c.currency is None or not amount:
                continue
            if c.start is not None:
                start = c.start
                end = max(start, min(c.end, today) if c.end is not None else today)
            elif entered is not None:
                start = end = entered
            else:
                continue
            out.append(SpendFact(start, end, "all", amount, c.currency, campaign=c.id))
    return out


def _revenue(inputs: KpiInputs) -> dict[tuple[int, str], float]:
    """(period, campaign) → won revenue credited under the configured model; touches without a
    campaign and deals without touches keep their share out of every campaign."""
    model = inputs.campaign_attribution_model
    out: dict[tuple[int, str], float] = defaultdict(float)
    for won in won_journeys(inputs):
        shares = weights(
            won.journey, model, event_at=won.closed, half_life_days=inputs.attribution_half_life_days
        )
        for touch, credit in zip(won.journey.touches, credits(won.amount, shares), strict=True):
            if touch.campaign not in (NO_CAMPAIGN, UNATTRIBUTED):
                out[won.period, touch.campaign] += credit
    return out


def _period_sums(inputs: KpiInputs, usable: set[str]) -> dict[tuple[str, int, Dim], float]:
    """(kpi, period, all or campaign) → the additive per-period values."""
    sums: dict[tuple[str, int, Dim], float] = defaultdict(float)
    known = {c.id for c in inputs.campaigns}

    def add(kpi: str, period: int, campaign: str, value: float) -> None:
        if campaign in known:
            sums[kpi, period, ALL] += value
            sums[kpi, period, dim("campaign", campaign)] += value

    facts = campaign_spend_facts(
        (c for c in inputs.campaigns if c.id in usable), inputs.as_of.astimezone(inputs.tz).date()
    )
    for i, period in enumerate(inputs.periods):
        first, after = period.start.date(), period.end.date()
        for fact in facts:
            days = (fact.end - fact.start).days + 1
            inside = (min(fact.end + timedelta(days=1), after) - max(fact.start, first)).days
            if inside > 0 and fact.campaign is not None:
                add("campaign_spend", i, fact.campaign, fact.amount * inside / days)
    for cell in inputs.campaign_cells:
        kpi = "campaign_contacts_created" if cell.event == "created" else "campaign_customers"
        add(kpi, cell.period, cell.campaign, cell.n)
    for (index, campaign), value in _revenue(inputs).items():
        if campaign in usable:
            add("campaign_won_revenue", index, campaign, value)
    return sums


def _period_values(inputs: KpiInputs, usable: set[str]) -> list[KpiValue]:
    cur = inputs.currency
    sums = _period_sums(inputs, usable)
    scopes = [ALL, *(dim("campaign", c.id) for c in sorted(inputs.campaigns, key=lambda c: c.id))]
    out: list[KpiValue] = []
    for i, period in enumerate(inputs.periods):
        for d in scopes:
            if d != ALL and not any(sums.get((k, i, d)) for k in _ADDITIVE):
                continue  # a campaign with nothing in this period
            where: Where = {"period": period, "dim": d}
            spend, contacts, customers, revenue = (sums.get((k, i, d), 0.0) for k in _ADDITIVE)
            out += [
                money("campaign_spend", spend, cur, **where),
                count("campaign_contacts_created", contacts, **where),
                count("campaign_customers", customers, **where),
                money("campaign_won_revenue", revenue, cur, stage=inputs.campaign_attribution_model, **where),
                ratio("campaign_cost_per_contact", spend, contacts, unit=f"money:{cur}", **where),
                ratio("campaign_cac", spend, customers, unit=f"money:{cur}", **where),
                ratio("campaign_roas", revenue, spend, reason_if_empty=NO_SPEND, **where),
                roi_value("campaign_roi", revenue, spend, **where),
            ]
    return out


def _counted(kpi: str, n: int | None, d: Dim) -> KpiValue:
    return KpiValue(
        kpi, None if n is None else float(n), "count", dim=d, reason=NO_DATA if n is None else None
    )


def _share(kpi: str, num: float | None, den: float | None, d: Dim, unit: str | None = None) -> KpiValue:
    if num is None or den is None:
        return KpiValue(kpi, None, unit or ratio_unit(kpi), dim=d, reason=NO_DATA)
    return ratio(kpi, num, den, unit=unit, dim=d)


def _lifetime(c: CampaignFact, cur: str, usable: bool) -> list[KpiValue]:
    """A campaign's totals as HubSpot states them now (no period); HubSpot's metrics are None
    (`no_data`) when they could not be read."""
    d = dim("campaign", c.id)
    out = [
        _counted("campaign_sessions", c.sessions, d),
        _counted("campaign_new_contacts_first_touch", c.new_contacts_first_touch, d),
        _counted("campaign_new_contacts_last_touch", c.new_contacts_last_touch, d),
        _counted("campaign_influenced_contacts", c.influenced_contacts, d),
    ]
    if usable:
        spend = c.spend_total
        out += [
            money("campaign_budget", c.budget_total, cur, reason=NO_DATA, dim=d),
            money("campaign_spend_total", spend, cur, reason=NO_DATA, dim=d),
            _share("campaign_budget_used", spend, c.budget_total, d),
            _share("campaign_cost_per_new_contact", spend, c.new_contacts_first_touch, d, f"money:{cur}"),
        ]
    return out


def campaign_kpis(inputs: KpiInputs) -> list[KpiValue]:
    """Nothing without campaigns; campaigns in another currency than the home currency keep
    their counts and leave the money KPIs (`campaigns_excluded`)."""
    if not inputs.campaigns:
        return []
    cur = inputs.currency
    usable = {c.id for c in inputs.campaigns if c.currency in (None, cur)}
    excluded = len(inputs.campaigns) - len(usable)
    out = [count("campaigns_excluded", excluded, stage=f"currency!={cur}")]
    out += _period_values(inputs, usable)
    for c in sorted(inputs.campaigns, key=lambda c: c.id):
        out += _lifetime(c, cur, c.id in usable)
    spent = [c.spend_total for c in inputs.campaigns if c.id in usable and c.spend_total is not None]
    out.append(money("campaign_spend_total", math.fsum(spent) if spent else None, cur, reason=NO_DATA))
    return out
