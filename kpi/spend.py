"""Spend KPIs (CAC, cost per lead and MQL, ROI, ROAS, pipe-to-spend) and CLV."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any

from kpi import formulas
from kpi.definitions import CLV_WINDOW, mql_stage
from kpi.grid import dim, rollup
from kpi.inputs import KpiInputs, SpendFact
from kpi.model import ALL, NO_DATA, NO_SPEND, Dim, KpiValue, Where, count, money, ratio, ratio_unit
from kpi.periods import Bucketer, Period
from kpi.stats import mean


def _overlap_days(start: date, end_inclusive: date, period: Period) -> int:
    lo = max(start, period.start.date())
    hi = min(end_inclusive + timedelta(days=1), period.end.date())
    return max((hi - lo).days, 0)


def spend_in_period(spend: Iterable[SpendFact], period: Period) -> dict[str, float]:
    """Spend per channel in the period; entries spanning periods are prorated by day."""
    out: dict[str, float] = defaultdict(float)
    for fact in spend:
        total_days = (fact.end - fact.start).days + 1
        days = _overlap_days(fact.start, fact.end, period)
        if days:
            out[fact.channel] += fact.amount * days / total_days
    return out


def _deal_money(inputs: KpiInputs) -> dict[tuple[int, Dim], list[float]]:
    """(period, all or source) → [won revenue closed in it, pipeline created in it]."""
    deal_money: dict[tuple[int, Dim], list[float]] = defaultdict(lambda: [0.0, 0.0])
    bucket = Bucketer(inputs.periods)
    for deal in inputs.deals:
        if deal.amount is None:
            continue
        for d in (ALL, dim("source", deal.source)):
            c = bucket.index(deal.created)
            if c is not None:
                deal_money[c, d][1] += deal.amount
            if deal.is_closed and deal.is_won:
                p = bucket.index(deal.closed)
                if p is not None:
                    deal_money[p, d][0] += deal.amount
    return deal_money


def roi_value(kpi: str, revenue: float, spend: float, **where: Any) -> KpiValue:
    """(revenue − spend) / spend with both parts kept; `no_spend` without spend."""
    return KpiValue(
        kpi,
        formulas.roi(revenue, spend),
        ratio_unit(kpi),
        numerator=revenue - spend,
        denominator=spend,
        reason=None if spend else NO_SPEND,
        **where,
    )


def spend_kpis(inputs: KpiInputs) -> list[KpiValue]:
    cur = inputs.currency
    usable = [s for s in inputs.spend if s.currency == cur]
    excluded = [s for s in inputs.spend if s.currency != cur]
    out = [count("spend_excluded", len(excluded), stage=f"currency!={cur}")]
    if not inputs.spend:
        return out
    bases = {
        "cac": rollup(inputs.contacts.entries.get(inputs.stages[-1], [])),
        "cost_per_lead": rollup(inputs.contacts.entries.get(inputs.stages[0], [])),
        "cost_per_mql": rollup(inputs.contacts.entries.get(mql_stage(inputs.stages), [])),
    }
    deal_money = _deal_money(inputs)
    for i, period in enumerate(inputs.periods):
        per_channel = spend_in_period(usable, period)
        scopes: list[tuple[Dim, float]] = [(ALL, math.fsum(per_channel.values()))]
        scopes += [(Dim("source", ch), amt) for ch, amt in sorted(per_channel.items()) if ch != "all"]
        for d, amount in scopes:
            where: Where = {"period": period, "dim": d}
            out.append(money("spend", amount, cur, **where))
            for kpi, cells in bases.items():
                out.append(ratio(kpi, amount, cells.get((i, d), (0, 0))[0], unit=f"money:{cur}", **where))
            revenue, pipeline = deal_money.get((i, d), [0.0, 0.0])
            out.append(roi_value("roi", revenue, amount, **where))
            out.append(ratio("roas", revenue, amount, reason_if_empty=NO_SPEND, **where))
            out.append(ratio("pipe_to_spend", pipeline, amount, reason_if_empty=NO_SPEND, **where))
    return out


def clv_kpis(inputs: KpiInputs) -> list[KpiValue]:
    """CLV over the 365 days before as_of: AOV × orders per year × years retained, with CAC on the side."""
    cur = inputs.currency
    window_start = inputs.as_of - CLV_WINDOW

    def in_window(t: datetime | None) -> bool:
        return t is not None and window_start <= t <= inputs.as_of

    won = [d for d in inputs.deals if d.is_closed and d.is_won and in_window(d.closed)]
    amounts = [d.amount for d in won if d.amount is not None]
    customers = {d.company or f"deal:{d.id}" for d in won}
    aov_given, orders_given = inputs.clv_average_order_value, inputs.clv_orders_per_year
    aov = aov_given if aov_given is not None else mean(amounts)
    orders = orders_given if orders_given is not None else formulas.safe_div(len(won), len(customers))
    years = inputs.clv_years_retained
    value = formulas.clv(aov, orders, years)
    out = [
        KpiValue(
            "clv_average_order_value",
            aov,
            f"money:{cur}",
            numerator=None if aov_given is not None else math.fsum(amounts),
            denominator=None if aov_given is not None else len(amounts),
            reason=None if aov is not None else NO_DATA,
        ),
        KpiValue(
            "clv_orders_per_year",
            orders,
            "count",
            numerator=None if orders_given is not None else len(won),
            denominator=None if orders_given is not None else len(customers),
            reason=None if orders is not None else NO_DATA,
        ),
        KpiValue("clv_years_retained", years, "years"),
        money("clv", value, cur, reason=NO_DATA),
    ]
    if inputs.gross_margin is not None:
        out.append(
            money("clv_gross_margin", formulas.margin_clv(value, inputs.gross_margin), cur, reason=NO_DATA)
        )
    out.append(_clv_roi(inputs, value, window_start, in_window))
    return out


def _clv_roi(
    inputs: KpiInputs,
    value: float | None,
    window_start: datetime,
    in_window: Callable[[datetime | None], bool],
) -> KpiValue:
    """CLV over the CAC of the same trailing year (spend in the window / customers won in it)."""
    usable = [s for s in inputs.spend if s.currency == inputs.currency]
    window = Period(window_start.astimezone(inputs.tz), inputs.as_of.astimezone(inputs.tz), "trailing_365d")
    spend = math.fsum(spend_in_period(usable, window).values())
    new_customers = sum(1 for c in inputs.contacts.customers if in_window(c.became))
    acquisition = formulas.cac(spend, new_customers) if spend else None
    return KpiValue(
        "clv_roi",
        formulas.clv_roi(value, acquisition),
        ratio_unit("clv_roi"),
        numerator=value,
        denominator=acquisition,
        reason=None if value is not None and acquisition else (NO_SPEND if not spend else NO_DATA),
    )
