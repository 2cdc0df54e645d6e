"""Every KPI, computed from `KpiInputs` by pure functions (definitions: docs/kpis.md)."""

from __future__ import annotations

import functools
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from kpi import formulas
from kpi.inputs import CustomerFact, DealFact, EmailFact, KpiInputs, PeriodCell, SpendFact, StageCell
from kpi.model import (
    ALL,
    NO_BASE,
    NO_DATA,
    NO_SPEND,
    NON_POSITIVE_CYCLE,
    Dim,
    KpiResult,
    KpiValue,
    Where,
    count,
    money,
    ratio,
)
from kpi.periods import Bucketer, Period
from kpi.stats import mean, median, quantile
from kpi.traffic import persona_kpis, traffic_kpis

DAY_SECONDS = 86_400.0
# CLV (and the CAC beside it) look back this far from as_of, whatever the grid.
CLV_WINDOW = timedelta(days=365)
CONTACT_DIMS = ("source", "latest_source")
DEAL_DIMS = ("source", "latest_source", "pipeline", "owner")


def step(x: str, y: str) -> str:
    """The `stage` label of a conversion step."""
    return f"{x}>{y}"


def funnel_steps(stages: list[str]) -> list[tuple[str, str]]:
    """Each adjacent pair, then first → last (computed directly, never as a product of steps)."""
    pairs = list(itertools.pairwise(stages))
    if len(stages) > 2:
        pairs.append((stages[0], stages[-1]))
    return pairs


def compute(inputs: KpiInputs) -> KpiResult:
    result = KpiResult(as_of=inputs.as_of, currency=inputs.currency)
    result.extend(funnel_kpis(inputs))
    result.extend(source_kpis(inputs))
    result.extend(pipeline_kpis(inputs))
    result.extend(cycle_kpis(inputs))
    result.extend(deal_stage_kpis(inputs))
    result.extend(email_kpis(inputs))
    result.extend(audience_kpis(inputs))
    result.extend(spend_kpis(inputs))
    result.extend(clv_kpis(inputs))
    result.extend(traffic_kpis(inputs))
    result.extend(persona_kpis(inputs))
    return result


# -- contacts: funnel and sources --------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _dim(name: str, value: str) -> Dim:
    """Shared Dim objects: hundreds of thousands of records name a few dozen breakdowns."""
    return Dim(name, value)


def _contact_dims(item: PeriodCell | StageCell | CustomerFact) -> tuple[Dim, ...]:
    """`all`, the original source and the latest source of contact cells and facts."""
    return (ALL, _dim("source", item.source), _dim("latest_source", item.latest_source))


def rollup(cells: Iterable[PeriodCell]) -> dict[tuple[int, Dim], tuple[int, int]]:
    """(period, dimension) → (n, hits), summing cells into `all`, per source and per latest source."""
    out: dict[tuple[int, Dim], list[int]] = defaultdict(lambda: [0, 0])
    for cell in cells:
        for dim in _contact_dims(cell):
            acc = out[cell.period, dim]
            acc[0] += cell.n
            acc[1] += cell.hits
    return {k: (v[0], v[1]) for k, v in out.items()}


def _dim_order(dim: Dim) -> tuple[bool, str, str]:
    return (dim != ALL, dim.name, dim.value)


def _grid_keys(inputs: KpiInputs, found: Iterable[tuple[int, Dim]]) -> list[tuple[int, Dim]]:
    """Every period for `all` (zeros included, so charts have no gaps) plus each seen breakdown."""
    keys = {(i, ALL) for i in range(len(inputs.periods))} | set(found)
    return sorted(keys, key=lambda k: (k[0], *_dim_order(k[1])))


def funnel_kpis(inputs: KpiInputs) -> list[KpiValue]:
    agg = inputs.contacts
    out: list[KpiValue] = []
    # Current stage counts (a snapshot): every funnel stage for `all`, plus stages seen per source.
    current: dict[tuple[str, Dim], int] = defaultdict(int)
    for cell in agg.stage_counts:
        for dim in _contact_dims(cell):
            current[cell.stage, dim] += cell.n
    for stage in inputs.stages:
        current.setdefault((stage, ALL), 0)
    for (stage, dim), n in sorted(
        current.items(), key=lambda kv: (kv[0][1] != ALL, kv[0][1].name, kv[0][1].value, kv[0][0])
    ):
        out.append(count("stage_count", n, stage=stage, dim=dim))
    for stage in inputs.stages:
        out.append(count("stage_dates_missing", agg.missing_dates.get(stage, 0), stage=stage))

    entries = {stage: rollup(agg.entries.get(stage, [])) for stage in inputs.stages}
    for stage in inputs.stages:
        for i, dim in _grid_keys(inputs, entries[stage]):
            n, _ = entries[stage].get((i, dim), (0, 0))
            out.append(count("stage_entries", n, stage=stage, period=inputs.periods[i], dim=dim))

    for x, y in funnel_steps(inputs.stages):
        cells = rollup(agg.conversions.get((x, y), []))
        label = step(x, y)
        for i, dim in _grid_keys(inputs, cells):
            base, converted = cells.get((i, dim), (0, 0))
            where: Where = {"stage": label, "period": inputs.periods[i], "dim": dim}
            rate = ratio("stage_conversion", converted, base, **where)
            out.append(rate)
            out.append(count("stage_conversion_open", base - converted, **where))
            if x == inputs.stages[0] and y == inputs.stages[-1]:
                per = formulas.leads_per_customer(rate.value)
                out.append(
                    KpiValue(
                        "leads_per_customer",
                        per,
                        "count",
                        numerator=base,
                        denominator=converted,
                        reason=None if per is not None else NO_BASE,
                        **where,
                    )
                )
            # Volume ratio: entries(Y) / entries(X) in the same period, different people; may exceed 1.
            ex, _ = entries[x].get((i, dim), (0, 0))
            ey, _ = entries[y].get((i, dim), (0, 0))
            out.append(ratio("stage_volume_ratio", ey, ex, **where))
    return out


def source_kpis(inputs: KpiInputs) -> list[KpiValue]:
    cells = rollup(inputs.contacts.created)
    out: list[KpiValue] = []
    for i, dim in _grid_keys(inputs, cells):
        created, customers = cells.get((i, dim), (0, 0))
        where: Where = {"period": inputs.periods[i], "dim": dim}
        out.append(count("contacts_created", created, **where))
        out.append(
            ratio(
                "contact_to_customer_rate",
                customers,
                created,
                stage=step("created", inputs.stages[-1]),
                **where,
            )
        )
    return out


# -- deals: pipeline, win rate, velocity -----------------------------------------------------


def _deal_dims(deal: DealFact) -> tuple[Dim, ...]:
    return (
        ALL,
        _dim("source", deal.source),
        _dim("latest_source", deal.latest_source),
        _dim("pipeline", deal.pipeline),
        _dim("owner", deal.owner),
    )


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


def _days(deal: DealFact) -> float | None:
    if deal.created is None or deal.closed is None:
        return None
    return (deal.closed - deal.created).total_seconds() / DAY_SECONDS


def pipeline_kpis(inputs: KpiInputs) -> list[KpiValue]:
    cur = inputs.currency
    bucket = Bucketer(inputs.periods)
    stats: dict[tuple[int, Dim], _DealStats] = defaultdict(_DealStats)
    open_now: dict[Dim, list[DealFact]] = defaultdict(list)
    for deal in inputs.deals:
        dims = _deal_dims(deal)
        if not deal.is_closed:
            for dim in dims:
                open_now[dim].append(deal)
        c = bucket.index(deal.created)
        if c is not None:
            for dim in dims:
                s = stats[c, dim]
                s.created += 1
                if deal.amount is None:
                    s.created_missing += 1
                else:
                    s.created_amount += deal.amount
        if deal.is_closed:
            p = bucket.index(deal.closed)
            if p is None:
                continue
            days = _days(deal)
            for dim in dims:
                s = stats[p, dim]
                if deal.is_won:
                    s.won += 1
                    if deal.amount is None:
                        s.won_missing += 1
                    else:
                        s.won_amounts.append(deal.amount)
                    if days is not None and days >= 0:
                        s.won_days.append(days)
                else:
                    s.lost += 1

    out: list[KpiValue] = []
    open_dims = sorted(set(open_now) | {ALL}, key=_dim_order)
    for dim in open_dims:
        deals = open_now.get(dim, [])
        amounts = [d.amount for d in deals if d.amount is not None]
        weighted = [d.amount * (d.probability or 0.0) for d in deals if d.amount is not None]
        out.append(count("open_deals", len(deals), dim=dim))
        out.append(money("open_pipeline", math.fsum(amounts), cur, dim=dim))
        out.append(money("weighted_pipeline", math.fsum(weighted), cur, dim=dim))
        out.append(count("deals_missing_amount", len(deals) - len(amounts), stage="open", dim=dim))

    for i, dim in _grid_keys(inputs, stats):
        s = stats.get((i, dim)) or _DealStats()
        where: Where = {"period": inputs.periods[i], "dim": dim}
        out.append(count("deals_created", s.created, **where))
        out.append(money("pipeline_created", s.created_amount, cur, **where))
        out.append(count("deals_won", s.won, **where))
        out.append(count("deals_lost", s.lost, **where))
        out.append(money("closed_won_revenue", math.fsum(s.won_amounts), cur, **where))
        out.append(
            count("deals_missing_amount", s.won_missing, stage="won", period=inputs.periods[i], dim=dim)
        )
        win = ratio("win_rate", s.won, s.won + s.lost, **where)
        out.append(win)
        avg = mean(s.won_amounts)
        out.append(
            KpiValue(
                "average_won_deal_size",
                avg,
                f"currency:{cur}",
                numerator=math.fsum(s.won_amounts),
                denominator=len(s.won_amounts),
                reason=None if avg is not None else NO_DATA,
                **where,
            )
        )
        opportunities = (
            s.created if inputs.velocity_opportunities == "created" else len(open_now.get(dim, []))
        )
        cycle = mean(s.won_days)
        velocity = formulas.pipeline_velocity(opportunities, win.value, avg, cycle)
        reason = None
        if velocity is None:
            reason = NON_POSITIVE_CYCLE if cycle is not None and cycle <= 0 else NO_DATA
        out.append(
            KpiValue(
                "pipeline_velocity",
                velocity,
                f"currency_per_day:{cur}",
                numerator=opportunities,
                denominator=cycle,
                reason=reason,
                **where,
            )
        )
    return out


# -- cycle: days to close and time to customer -------------------------------------------------


def _distribution(
    prefix: str, values_by_key: dict[tuple[int, Dim], list[float]], inputs: KpiInputs
) -> list[KpiValue]:
    out: list[KpiValue] = []
    for i, dim in _grid_keys(inputs, values_by_key):
        values = values_by_key.get((i, dim), [])
        where: Where = {"period": inputs.periods[i], "dim": dim}
        for name, fn in (
            ("mean", mean),
            ("median", median),
            ("p90", lambda v: quantile(v, 0.9)),
        ):
            value = fn(values)
            out.append(
                KpiValue(
                    f"{prefix}_{name}",
                    value,
                    "days",
                    denominator=len(values),
                    reason=None if value is not None else NO_DATA,
                    **where,
                )
            )
    return out


def cycle_kpis(inputs: KpiInputs) -> list[KpiValue]:
    bucket = Bucketer(inputs.periods)
    close_days: dict[tuple[int, Dim], list[float]] = defaultdict(list)
    invalid: dict[tuple[int, Dim], int] = defaultdict(int)
    for deal in inputs.deals:
        if not (deal.is_closed and deal.is_won):
            continue
        p = bucket.index(deal.closed)
        days = _days(deal)
        if p is None or days is None:
            continue
        for dim in (
            ALL,
            _dim("source", deal.source),
            _dim("latest_source", deal.latest_source),
            _dim("pipeline", deal.pipeline),
        ):
            if days < 0:
                invalid[p, dim] += 1
            else:
                close_days[p, dim].append(days)
    out = _distribution("days_to_close", close_days, inputs)
    for i, dim in _grid_keys(inputs, set(close_days) | set(invalid)):
        out.append(
            count("deals_closed_before_created", invalid.get((i, dim), 0), period=inputs.periods[i], dim=dim)
        )
    to_customer: dict[tuple[int, Dim], list[float]] = defaultdict(list)
    for fact in inputs.contacts.customers:
        p = bucket.index(fact.became)
        if p is None or fact.created is None:
            continue
        days = (fact.became - fact.created).total_seconds() / DAY_SECONDS
        if days < 0:
            continue
        for dim in _contact_dims(fact):
            to_customer[p, dim].append(days)
    out.extend(_distribution("time_to_customer", to_customer, inputs))
    return out


# -- deal stages: stage-to-stage conversion and days in stage ---------------------------------------


def deal_stage_kpis(inputs: KpiInputs) -> list[KpiValue]:
    """Per pipeline: how many deals that entered a stage went on, and how long they stayed.

    The chain of a pipeline is its stages in display order without the closed-lost ones. A deal
    converts from A to B when, after entering A, it entered B or any later stage of the chain
    (stages may be skipped); it is counted in the period it entered A. Days in a stage run from
    the entry into it to the deal's next entry into any other stage (lost included), counted in
    the period of that exit; deals still in the stage are not counted.
    """
    chains: dict[str, list[str]] = defaultdict(list)
    for st in sorted(inputs.pipeline_stages, key=lambda s: (s.pipeline, s.order, s.stage)):
        if not (st.is_closed and not st.is_won):
            chains[st.pipeline].append(st.stage)
    # Only deals with facts count (live ones: not archived, not merged away); they give the pipeline.
    pipeline_of = {deal.id: deal.pipeline for deal in inputs.deals}
    entries: dict[tuple[str, str], dict[str, datetime]] = defaultdict(dict)
    for e in inputs.deal_stage_entries:
        pipeline = pipeline_of.get(e.deal_id)
        if pipeline is not None and e.at <= inputs.as_of:
            entries[pipeline, e.deal_id][e.stage] = e.at
    bucket = Bucketer(inputs.periods)
    converted: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0, 0])
    stay: dict[tuple[int, str, str], list[float]] = defaultdict(list)
    for (pipeline, _deal), entered in entries.items():
        chain = chains.get(pipeline, [])
        rank = {stage: i for i, stage in enumerate(chain)}
        for stage, at in entered.items():
            later = [t for s, t in entered.items() if s != stage and t > at]
            if later:
                exit_at = min(later)
                p = bucket.index(exit_at)
                if p is not None:
                    stay[p, pipeline, stage].append((exit_at - at).total_seconds() / DAY_SECONDS)
            if stage not in rank or rank[stage] + 1 >= len(chain):
                continue
            p = bucket.index(at)
            if p is None:
                continue
            cell = converted[p, pipeline, f"{stage}>{chain[rank[stage] + 1]}"]
            cell[1] += 1
            if any(rank.get(s, -1) > rank[stage] and t >= at for s, t in entered.items()):
                cell[0] += 1
    out: list[KpiValue] = []
    for (p, pipeline, pair), (n, base) in sorted(converted.items()):
        out.append(
            ratio(
                "deal_stage_conversion",
                n,
                base,
                stage=pair,
                period=inputs.periods[p],
                dim=_dim("pipeline", pipeline),
            )
        )
    for (p, pipeline, stage), values in sorted(stay.items()):
        where: Where = {"period": inputs.periods[p], "dim": _dim("pipeline", pipeline), "stage": stage}
        for name, fn in (("mean", mean), ("median", median), ("p90", lambda v: quantile(v, 0.9))):
            out.append(
                KpiValue(f"deal_stage_days_{name}", fn(values), "days", denominator=len(values), **where)
            )
    return out


# -- email ------------------------------------------------------------------------------------


@dataclass
class _EmailSums:
    sends: int = 0
    sent: int = 0
    delivered: int = 0
    bounces: int = 0
    opens: int = 0
    clicks: int = 0
    openers_who_clicked: int = 0
    unsubscribes: int = 0
    spam_reports: int = 0
    open_bases: set[str] = field(default_factory=set)

    def add(self, email: EmailFact) -> None:
        delivered = email.delivered if email.delivered is not None else max(0, email.sent - email.bounces)
        self.sends += 1
        self.sent += email.sent
        self.delivered += delivered
        self.bounces += email.bounces
        self.opens += email.unique_opens
        self.clicks += email.unique_clicks
        # A click counts as an open on both platforms; clamped so click-to-open stays <= 1.
        self.openers_who_clicked += min(email.unique_clicks, email.unique_opens)
        self.unsubscribes += email.unsubscribes
        self.spam_reports += email.spam_reports
        self.open_bases.add(email.open_basis)

    @property
    def open_basis(self) -> str:
        """What the opens count, recorded with every value built on them."""
        return "+".join(sorted(self.open_bases))


def email_kpis(inputs: KpiInputs) -> list[KpiValue]:
    """Email performance per period of the send time: overall, per platform, per email type and
    per send (dimension `email`, `<platform>:<id>`).

    Rates over several emails are sums over sums (never averages of rates): opens, clicks,
    unsubscribes and spam reports per delivered email, bounces and deliveries per sent email,
    click-to-open = unique clickers / unique openers.
    """
    bucket = Bucketer(inputs.periods)
    sums: dict[tuple[int, Dim], _EmailSums] = defaultdict(_EmailSums)
    for email in inputs.emails:
        p = bucket.index(email.sent_at)
        if p is None or email.sent <= 0 or email.sent_at > inputs.as_of:
            continue
        for dim in (
            ALL,
            _dim("platform", email.platform),
            _dim("email_type", email.email_type),
            Dim("email", f"{email.platform}:{email.email_id}"),
        ):
            sums[p, dim].add(email)
    out: list[KpiValue] = []
    for p, dim in _grid_keys(inputs, sums):
        s = sums.get((p, dim)) or _EmailSums()
        where: Where = {"period": inputs.periods[p], "dim": dim}
        out.append(count("emails_sent", s.sends, **where))
        out.append(count("email_sent", s.sent, **where))
        out.append(count("email_delivered", s.delivered, **where))
        out.append(ratio("email_delivery_rate", s.delivered, s.sent, **where))
        out.append(ratio("email_bounce_rate", s.bounces, s.sent, **where))
        opened = {"basis": s.open_basis}
        out.append(ratio("email_open_rate", s.opens, s.delivered, **where, **opened))
        out.append(ratio("email_click_rate", s.clicks, s.delivered, **where))
        out.append(ratio("email_click_to_open_rate", s.openers_who_clicked, s.opens, **where, **opened))
        out.append(ratio("email_unsubscribe_rate", s.unsubscribes, s.delivered, **where))
        out.append(ratio("email_spam_rate", s.spam_reports, s.delivered, **where))
    return out


def audience_kpis(inputs: KpiInputs) -> list[KpiValue]:
    """List growth per period (overall and per audience) and the link between the audience and
    the funnel (a snapshot at as_of).

    A member joins in the period of its opt-in (`timestamp_opt`; pending members have not opted
    in); an unsubscribed or cleaned member leaves in the period of its last change, Mailchimp's
    only time for it (other edits move it too, so leaving is dated at the latest change).
    """
    bucket = Bucketer(inputs.periods)
    moves: dict[tuple[int, Dim], list[int]] = defaultdict(lambda: [0, 0, 0])  # joined, left, cleaned
    for member in inputs.members:
        dims = (ALL, _dim("audience", member.audience))
        joined = bucket.index(member.opted_at) if member.status != "pending" else None
        if joined is not None and member.opted_at is not None and member.opted_at <= inputs.as_of:
            for dim in dims:
                moves[joined, dim][0] += 1
        if member.status in ("unsubscribed", "cleaned"):
            left = bucket.index(member.changed_at)
            if left is not None and member.changed_at is not None and member.changed_at <= inputs.as_of:
                for dim in dims:
                    moves[left, dim][1 if member.status == "unsubscribed" else 2] += 1
    out: list[KpiValue] = []
    if inputs.members:
        for p, dim in _grid_keys(inputs, moves):
            joined, left, cleaned = moves.get((p, dim), [0, 0, 0])
            where: Where = {"period": inputs.periods[p], "dim": dim}
            out.append(count("list_new_subscribers", joined, **where))
            out.append(count("list_unsubscribes", left, **where))
            out.append(count("list_cleaned", cleaned, **where))
            out.append(count("list_net_growth", joined - left - cleaned, **where))
    link = inputs.audience_link
    if link is not None and (link.subscribed or link.not_subscribed):
        out.append(count("contacts_in_audience", link.subscribed))
        out.append(ratio("mql_share_subscribed", link.subscribed_mql, link.subscribed))
        out.append(ratio("mql_share_not_subscribed", link.not_subscribed_mql, link.not_subscribed))
        out.append(ratio("mql_share_engaged", link.engaged_mql, link.engaged))
        not_engaged = link.subscribed + link.not_subscribed - link.engaged
        not_engaged_mql = link.subscribed_mql + link.not_subscribed_mql - link.engaged_mql
        out.append(ratio("mql_share_not_engaged", not_engaged_mql, not_engaged))
    return out


# -- spend: CAC, cost per lead / MQL, ROI, ROAS, pipe-to-spend -------------------------------------


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


def mql_stage(stages: list[str]) -> str:
    return "marketingqualifiedlead" if "marketingqualifiedlead" in stages else stages[1]


def spend_kpis(inputs: KpiInputs) -> list[KpiValue]:
    cur = inputs.currency
    usable = [s for s in inputs.spend if s.currency == cur]
    out: list[KpiValue] = []
    excluded = [s for s in inputs.spend if s.currency != cur]
    out.append(count("spend_excluded", len(excluded), stage=f"currency!={cur}"))
    if not inputs.spend:
        return out
    leads = rollup(inputs.contacts.entries.get(inputs.stages[0], []))
    mqls = rollup(inputs.contacts.entries.get(mql_stage(inputs.stages), []))
    customers = rollup(inputs.contacts.entries.get(inputs.stages[-1], []))
    deal_money: dict[tuple[int, Dim], list[float]] = defaultdict(lambda: [0.0, 0.0])
    bucket = Bucketer(inputs.periods)
    for deal in inputs.deals:
        if deal.amount is None:
            continue
        for dim in (ALL, _dim("source", deal.source)):
            c = bucket.index(deal.created)
            if c is not None:
                deal_money[c, dim][1] += deal.amount
            if deal.is_closed and deal.is_won:
                p = bucket.index(deal.closed)
                if p is not None:
                    deal_money[p, dim][0] += deal.amount
    for i, period in enumerate(inputs.periods):
        per_channel = spend_in_period(usable, period)
        scopes: list[tuple[Dim, float]] = [(ALL, math.fsum(per_channel.values()))]
        scopes += [(Dim("source", ch), amt) for ch, amt in sorted(per_channel.items()) if ch != "all"]
        for dim, amount in scopes:
            where: Where = {"period": period, "dim": dim}
            out.append(money("spend", amount, cur, **where))
            revenue, pipeline = deal_money.get((i, dim), [0.0, 0.0])
            per_unit = f"currency:{cur}"
            for kpi, base in (
                ("cac", customers.get((i, dim), (0, 0))[0]),
                ("cost_per_lead", leads.get((i, dim), (0, 0))[0]),
                ("cost_per_mql", mqls.get((i, dim), (0, 0))[0]),
            ):
                out.append(ratio(kpi, amount, base, unit=per_unit, **where))
            no_spend = NO_SPEND
            out.append(
                KpiValue(
                    "roi",
                    formulas.roi(revenue, amount),
                    "ratio",
                    numerator=revenue - amount,
                    denominator=amount,
                    reason=None if amount else no_spend,
                    **where,
                )
            )
            out.append(ratio("roas", revenue, amount, reason_if_empty=no_spend, **where))
            out.append(ratio("pipe_to_spend", pipeline, amount, reason_if_empty=no_spend, **where))
    return out


# -- CLV -------------------------------------------------------------------------------------------


def clv_kpis(inputs: KpiInputs) -> list[KpiValue]:
    """CLV over the 365 days before as_of: AOV × orders per year × years retained, with CAC on the side."""
    cur = inputs.currency
    window_start = inputs.as_of - CLV_WINDOW

    def in_window(t: datetime | None) -> bool:
        return t is not None and window_start <= t <= inputs.as_of

    won = [d for d in inputs.deals if d.is_closed and d.is_won and in_window(d.closed)]
    amounts = [d.amount for d in won if d.amount is not None]
    customers = {d.company or f"deal:{d.id}" for d in won}
    aov = inputs.clv_average_order_value if inputs.clv_average_order_value is not None else mean(amounts)
    orders = (
        inputs.clv_orders_per_year
        if inputs.clv_orders_per_year is not None
        else formulas.safe_div(len(won), len(customers))
    )
    years = inputs.clv_years_retained
    value = formulas.clv(aov, orders, years)
    out = [
        KpiValue(
            "clv_average_order_value",
            aov,
            f"currency:{cur}",
            numerator=None if inputs.clv_average_order_value is not None else math.fsum(amounts),
            denominator=None if inputs.clv_average_order_value is not None else len(amounts),
            reason=None if aov is not None else NO_DATA,
        ),
        KpiValue(
            "clv_orders_per_year",
            orders,
            "count",
            numerator=None if inputs.clv_orders_per_year is not None else len(won),
            denominator=None if inputs.clv_orders_per_year is not None else len(customers),
            reason=None if orders is not None else NO_DATA,
        ),
        KpiValue("clv_years_retained", years, "years"),
        money("clv", value, cur, reason=NO_DATA),
    ]
    if inputs.gross_margin is not None:
        margin_value = None if value is None else value * inputs.gross_margin
        out.append(money("clv_gross_margin", margin_value, cur, reason=NO_DATA))
    usable = [s for s in inputs.spend if s.currency == cur]
    window = Period(window_start.astimezone(inputs.tz), inputs.as_of.astimezone(inputs.tz), "trailing_365d")
    spend = math.fsum(spend_in_period(usable, window).values())
    new_customers = sum(1 for c in inputs.contacts.customers if in_window(c.became))
    acquisition = formulas.cac(spend, new_customers) if spend else None
    out.append(
        KpiValue(
            "clv_roi",
            formulas.clv_roi(value, acquisition),
            "ratio",
            numerator=value,
            denominator=acquisition,
            reason=None if value is not None and acquisition else (NO_SPEND if not spend else NO_DATA),
        )
    )
    return out
