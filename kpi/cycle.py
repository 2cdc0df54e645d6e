"""Cycle KPIs: days to close and time to customer, and per pipeline stage the conversion to the
next stage and the days spent in it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime

from kpi.definitions import DAY_SECONDS
from kpi.grid import contact_dims, dim, grid_keys
from kpi.inputs import KpiInputs, PipelineStage
from kpi.model import ALL, NO_DATA, Dim, KpiValue, Where, count, ratio
from kpi.periods import Bucketer
from kpi.pipeline import days_to_close
from kpi.stats import mean, median, quantile

# The summaries of a distribution of days, by the suffix of their KPI names.
SUMMARIES: tuple[tuple[str, Callable[[Sequence[float]], float | None]], ...] = (
    ("mean", mean),
    ("median", median),
    ("p90", lambda v: quantile(v, 0.9)),
)


def _distribution(
    prefix: str, values_by_key: dict[tuple[int, Dim], list[float]], inputs: KpiInputs
) -> list[KpiValue]:
    out: list[KpiValue] = []
    for i, d in grid_keys(inputs, values_by_key):
        values = values_by_key.get((i, d), [])
        where: Where = {"period": inputs.periods[i], "dim": d}
        for name, fn in SUMMARIES:
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
        days = days_to_close(deal)
        if p is None or days is None:
            continue
        dims = (ALL, dim("source", deal.source), dim("latest_source", deal.latest_source))
        custom = (dim(name, value) for name, value in deal.dims)
        for d in (*dims, dim("pipeline", deal.pipeline), *custom):
            if days < 0:
                invalid[p, d] += 1
            else:
                close_days[p, d].append(days)
    out = _distribution("days_to_close", close_days, inputs)
    for i, d in grid_keys(inputs, set(close_days) | set(invalid)):
        out.append(
            count("deals_closed_before_created", invalid.get((i, d), 0), period=inputs.periods[i], dim=d)
        )
    to_customer: dict[tuple[int, Dim], list[float]] = defaultdict(list)
    for fact in inputs.contacts.customers:
        p = bucket.index(fact.became)
        if p is None or fact.created is None:
            continue
        days = (fact.became - fact.created).total_seconds() / DAY_SECONDS
        if days < 0:
            continue
        for d in (*contact_dims(fact), *(dim(name, value) for name, value in fact.dims)):
            to_customer[p, d].append(days)
    out.extend(_distribution("time_to_customer", to_customer, inputs))
    return out


def _chains(stages: list[PipelineStage]) -> dict[str, list[str]]:
    """Each pipeline's stages in display order, without the closed-lost ones."""
    chains: dict[str, list[str]] = defaultdict(list)
    for st in sorted(stages, key=lambda s: (s.pipeline, s.order, s.stage)):
        if not (st.is_closed and not st.is_won):
            chains[st.pipeline].append(st.stage)
    return chains


def deal_stage_kpis(inputs: KpiInputs) -> list[KpiValue]:
    """Per pipeline: how many deals that entered a stage went on, and how long they stayed.

    The chain of a pipeline is its stages in display order without the closed-lost ones. A deal
    converts from A to B when, after entering A, it entered B or any later stage of the chain
    (stages may be skipped); it is counted in the period it entered A. Days in a stage run from
    the entry into it to the deal's next entry into any other stage (lost included), counted in
    the period of that exit; deals still in the stage are not counted.
    """
    chains = _chains(inputs.pipeline_stages)
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
            exit_p = bucket.index(min(later)) if later else None
            if exit_p is not None:
                stay[exit_p, pipeline, stage].append((min(later) - at).total_seconds() / DAY_SECONDS)
            p = bucket.index(at)
            if stage not in rank or rank[stage] + 1 >= len(chain) or p is None:
                continue
            cell = converted[p, pipeline, f"{stage}>{chain[rank[stage] + 1]}"]
            cell[1] += 1
            if any(rank.get(s, -1) > rank[stage] and t >= at for s, t in entered.items()):
                cell[0] += 1
    return _deal_stage_values(inputs, converted, stay)


def _deal_stage_values(
    inputs: KpiInputs,
    converted: dict[tuple[int, str, str], list[int]],
    stay: dict[tuple[int, str, str], list[float]],
) -> list[KpiValue]:
    out: list[KpiValue] = []
    for (p, pipeline, pair), (n, base) in sorted(converted.items()):
        where: Where = {"stage": pair, "period": inputs.periods[p], "dim": dim("pipeline", pipeline)}
        out.append(ratio("deal_stage_conversion", n, base, **where))
    for (p, pipeline, stage), values in sorted(stay.items()):
        where = {"period": inputs.periods[p], "dim": dim("pipeline", pipeline), "stage": stage}
        for name, fn in SUMMARIES:
            out.append(
                KpiValue(f"deal_stage_days_{name}", fn(values), "days", denominator=len(values), **where)
            )
    return out
