"""Deal KPIs: open and weighted pipeline, deals created, won and lost, revenue, win rate,
average deal size and pipeline velocity."""

from __future__ import annotations

import math
from collections import defaultdict

from kpi import formulas
from kpi.definitions import DAY_SECONDS
from kpi.grid import dim, dim_order, grid_keys
from kpi.inputs import DealFact, KpiInputs
from kpi.model import ALL, NO_DATA, NON_POSITIVE_CYCLE, Dim, KpiValue, Where, count, money, ratio
from kpi.periods import Bucketer
from kpi.stats import mean


def deal_dims(deal: DealFact) -> tuple[Dim, ...]:
    return (
        ALL,
        dim("source", deal.source),
        dim("latest_source", deal.latest_source),
        dim("pipeline", deal.pipeline),
        dim("owner", deal.owner),
        *(dim(name, value) for name, value in deal.dims),
    )


def days_to_close(deal: DealFact) -> float | None:
    if deal.created is None or deal.closed is None:
        return None
    return (deal.closed - deal.created).total_seconds() / DAY_SECONDS


class _DealStats:
    """Per (period, dimension) accumulators for the deal KPIs."""

    def __init__(self) -> None:
        self.created = 0
        self.created_amount = 0.0
        self.created_missing = 0
        self.won = 0
        self.lost = 0
        self.won_amounts: list[float] = []
        self.won_missing = 0
        self.won_days: list[float] = []

    def add_created(self, deal: DealFact) -> None:
        self.created += 1
        if deal.amount is None:
            self.created_missing += 1
        else:
            self.created_amount += deal.amount

    def add_closed(self, deal: DealFact, days: float | None) -> None:
        if not deal.is_won:
            self.lost += 1
            return
        self.won += 1
        if deal.amount is None:
            self.won_missing += 1
        else:
            self.won_amounts.append(deal.amount)
        if days is not None and days >= 0:
            self.won_days.append(days)


def pipeline_kpis(inputs: KpiInputs) -> list[KpiValue]:
    bucket = Bucketer(inputs.periods)
    stats: dict[tuple[int, Dim], _DealStats] = defaultdict(_DealStats)
    open_now: dict[Dim, list[DealFact]] = defaultdict(list)
    for deal in inputs.deals:
        dims = deal_dims(deal)
        if not deal.is_closed:
            for d in dims:
                open_now[d].append(deal)
        c = bucket.index(deal.created)
        if c is not None:
            for d in dims:
                stats[c, d].add_created(deal)
        p = bucket.index(deal.closed) if deal.is_closed else None
        if p is not None:
            days = days_to_close(deal)
            for d in dims:
                stats[p, d].add_closed(deal, days)
    out = _open_pipeline(inputs, open_now)
    for i, d in grid_keys(inputs, stats):
        out.extend(_period_values(inputs, i, d, stats.get((i, d)) or _DealStats(), len(open_now.get(d, []))))
    return out


def _open_pipeline(inputs: KpiInputs, open_now: dict[Dim, list[DealFact]]) -> list[KpiValue]:
    """The deals open at as_of, their amount and their probability-weighted amount."""
    cur = inputs.currency
    out: list[KpiValue] = []
    for d in sorted(set(open_now) | {ALL}, key=dim_order):
        deals = open_now.get(d, [])
        amounts = [deal.amount for deal in deals if deal.amount is not None]
        weighted = [deal.amount * (deal.probability or 0.0) for deal in deals if deal.amount is not None]
        out.append(count("open_deals", len(deals), dim=d))
        out.append(money("open_pipeline", math.fsum(amounts), cur, dim=d))
        out.append(money("weighted_pipeline", math.fsum(weighted), cur, dim=d))
        out.append(count("deals_missing_amount", len(deals) - len(amounts), stage="open", dim=d))
    return out


def _period_values(inputs: KpiInputs, i: int, d: Dim, s: _DealStats, open_deals: int) -> list[KpiValue]:
    cur = inputs.currency
    where: Where = {"period": inputs.periods[i], "dim": d}
    win = ratio("win_rate", s.won, s.won + s.lost, **where)
    avg = mean(s.won_amounts)
    out = [
        count("deals_created", s.created, **where),
        money("pipeline_created", s.created_amount, cur, **where),
        count("deals_won", s.won, **where),
        count("deals_lost", s.lost, **where),
        money("closed_won_revenue", math.fsum(s.won_amounts), cur, **where),
        count("deals_missing_amount", s.won_missing, stage="won", period=inputs.periods[i], dim=d),
        win,
        KpiValue(
            "average_won_deal_size",
            avg,
            f"money:{cur}",
            numerator=math.fsum(s.won_amounts),
            denominator=len(s.won_amounts),
            reason=None if avg is not None else NO_DATA,
            **where,
        ),
    ]
    opportunities = s.created if inputs.velocity_opportunities == "created" else open_deals
    cycle = mean(s.won_days)
    velocity = formulas.pipeline_velocity(opportunities, win.value, avg, cycle)
    reason = None
    if velocity is None:
        reason = NON_POSITIVE_CYCLE if cycle is not None and cycle <= 0 else NO_DATA
    out.append(
        KpiValue(
            "pipeline_velocity",
            velocity,
            f"money_per_day:{cur}",
            numerator=opportunities,
            denominator=cycle,
            reason=reason,
            **where,
        )
    )
    return out
