"""Contact KPIs: the funnel (stage counts, entries, conversions) and contacts by source."""

from __future__ import annotations

from collections import defaultdict

from kpi import formulas
from kpi.definitions import funnel_steps, step
from kpi.grid import contact_dims, dim_rollup, grid_keys, rollup
from kpi.grid import dim as shared_dim
from kpi.inputs import KpiInputs
from kpi.model import ALL, NO_BASE, Dim, KpiValue, Where, count, ratio


def funnel_kpis(inputs: KpiInputs) -> list[KpiValue]:
    agg = inputs.contacts
    entries = {
        stage: {**rollup(agg.entries.get(stage, [])), **dim_rollup(agg.custom_entries.get(stage, []))}
        for stage in inputs.stages
    }
    out = _current_stages(inputs)
    for stage in inputs.stages:
        for i, dim in grid_keys(inputs, entries[stage]):
            n, _ = entries[stage].get((i, dim), (0, 0))
            out.append(count("stage_entries", n, stage=stage, period=inputs.periods[i], dim=dim))
    for x, y in funnel_steps(inputs.stages):
        out.extend(_conversions(inputs, x, y, entries))
    return out


def _current_stages(inputs: KpiInputs) -> list[KpiValue]:
    """Current stage counts (a snapshot): every funnel stage for `all`, plus stages seen per
    source; then the contacts at or past each stage without its entry date."""
    agg = inputs.contacts
    current: dict[tuple[str, Dim], int] = defaultdict(int)
    for cell in agg.stage_counts:
        for dim in contact_dims(cell):
            current[cell.stage, dim] += cell.n
    for custom in agg.custom_stage_counts:
        current[custom.stage, shared_dim(custom.dimension, custom.value)] += custom.n
    for stage in inputs.stages:
        current.setdefault((stage, ALL), 0)
    out: list[KpiValue] = []
    for (stage, dim), n in sorted(
        current.items(), key=lambda kv: (kv[0][1] != ALL, kv[0][1].name, kv[0][1].value, kv[0][0])
    ):
        out.append(count("stage_count", n, stage=stage, dim=dim))
    for stage in inputs.stages:
        out.append(count("stage_dates_missing", agg.missing_dates.get(stage, 0), stage=stage))
    return out


def _conversions(
    inputs: KpiInputs, x: str, y: str, entries: dict[str, dict[tuple[int, Dim], tuple[int, int]]]
) -> list[KpiValue]:
    """One funnel step X → Y per period and breakdown: the rate, the open rest, leads per
    customer (first → last only) and the volume ratio."""
    out: list[KpiValue] = []
    agg = inputs.contacts
    cells = {**rollup(agg.conversions.get((x, y), [])), **dim_rollup(agg.custom_conversions.get((x, y), []))}
    label = step(x, y)
    for i, dim in grid_keys(inputs, cells):
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
    cells = {**rollup(inputs.contacts.created), **dim_rollup(inputs.contacts.custom_created)}
    out: list[KpiValue] = []
    for i, dim in grid_keys(inputs, cells):
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
    prop = inputs.self_reported_source
    if prop:
        for cell in sorted(inputs.contacts.reported, key=lambda c: (c.period, c.answer, c.source)):
            out.append(
                count(
                    "reported_vs_tracked_contacts",
                    cell.n,
                    period=inputs.periods[cell.period],
                    dim=shared_dim(prop, cell.answer),
                    stage=cell.source,
                )
            )
    return out
