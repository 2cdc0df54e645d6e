"""The few numbers a metrics scrape shows, summed from a computation's rows.

Rates over the whole period grid are Σ numerators / Σ denominators (never an average of the
periods' rates), as docs/kpis.md defines them; snapshot KPIs are taken as they are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FunnelStep:
    stage: str
    contacts_now: float | None
    entered: float
    next_stage: str | None
    converted: float
    conversion_rate: float | None


@dataclass
class Headline:
    """Stage counts and step conversions, pipeline, win rate, days to close."""

    funnel: list[FunnelStep] = field(default_factory=list)
    stage_counts: dict[str, float] = field(default_factory=dict)
    open_deals: float | None = None
    open_pipeline: float | None = None
    weighted_pipeline: float | None = None
    win_rate: float | None = None
    days_to_close_mean: float | None = None
    lead_to_customer_rate: float | None = None


def _rate(num: float, den: float) -> float | None:
    return num / den if den else None


@dataclass
class _Sums:
    """Long-format rows gathered: per (kpi, stage) over the grid Σ value, Σ numerator,
    Σ denominator, Σ value × denominator; the snapshot values."""

    grid: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0] * 4))
    snapshot: dict[tuple[str, str], float | None] = field(default_factory=dict)


def _gather(rows: Iterable[Mapping[str, Any]]) -> _Sums:
    out = _Sums()
    sums, snapshot = out.grid, out.snapshot
    for row in rows:
        kpi, stage = str(row["kpi"]), str(row.get("stage") or "")
        value, num, den = row.get("value"), row.get("numerator"), row.get("denominator")
        if row["dimension"] != "all":
            continue
        if row.get("period_start") is None:
            snapshot[(kpi, stage)] = value
            continue
        total = sums[(kpi, stage)]
        total[0] += value or 0
        total[1] += num or 0
        total[2] += den or 0
        total[3] += (value or 0) * (den or 0)
    return out


def headline(rows: Iterable[Mapping[str, Any]], stages: Sequence[str]) -> Headline:
    """Headline numbers from long-format KPI rows (export rows or stored history rows)."""
    gathered = _gather(rows)
    sums, snapshot = gathered.grid, gathered.snapshot
    result = Headline()
    result.stage_counts = {
        stage: v for (kpi, stage), v in snapshot.items() if kpi == "stage_count" and v is not None
    }
    for i, stage in enumerate(stages):
        nxt = stages[i + 1] if i + 1 < len(stages) else None
        converted, base = sums[("stage_conversion", f"{stage}>{nxt}")][1:3] if nxt else (0.0, 0.0)
        result.funnel.append(
            FunnelStep(
                stage,
                result.stage_counts.get(stage),
                sums[("stage_entries", stage)][0],
                nxt,
                converted,
                _rate(converted, base),
            )
        )
    if len(stages) >= 2:
        won, leads = sums[("stage_conversion", f"{stages[0]}>{stages[-1]}")][1:3]
        result.lead_to_customer_rate = _rate(won, leads)
    result.open_deals = snapshot.get(("open_deals", ""))
    result.open_pipeline = snapshot.get(("open_pipeline", ""))
    result.weighted_pipeline = snapshot.get(("weighted_pipeline", ""))
    won, closed = sums[("win_rate", "")][1:3]
    result.win_rate = _rate(won, closed)
    # A mean has no numerator: the periods' means weighted by their deal counts.
    deals, days = sums[("days_to_close_mean", "")][2:4]
    result.days_to_close_mean = _rate(days, deals)
    return result
