"""Readable terminal views of a KPI computation (rich tables), for `funnelsync kpis` and the demo."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from rich.table import Table

from kpi.definitions import funnel_steps, step
from kpi.model import ALL, FAMILIES, Dim, KpiValue
from kpi.periods import Period
from service.kpis import KpiReport

# The KPIs `funnelsync kpis` shows per period, in this order (stage "" = not stage-specific).
PERIOD_ROWS: tuple[tuple[str, str], ...] = (
    ("contacts_created", ""),
    ("stage_entries", "*"),
    ("stage_conversion", "*"),
    ("contact_to_customer_rate", "*"),
    ("deals_created", ""),
    ("pipeline_created", ""),
    ("deals_won", ""),
    ("deals_lost", ""),
    ("win_rate", ""),
    ("closed_won_revenue", ""),
    ("average_won_deal_size", ""),
    ("days_to_close_median", ""),
    ("days_to_close_mean", ""),
    ("time_to_customer_median", ""),
    ("pipeline_velocity", ""),
    ("spend", ""),
    ("cac", ""),
    ("cost_per_lead", ""),
    ("roi", ""),
    ("roas", ""),
    ("emails_sent", ""),
    ("email_open_rate", ""),
    ("email_click_rate", ""),
)
SNAPSHOT_ROWS = (
    "open_deals",
    "open_pipeline",
    "weighted_pipeline",
    *(kpi for kpi, family in FAMILIES.items() if family == "clv"),
)


def fmt(value: float | None, unit: str) -> str:
    """A value the way a reader expects it: 23.4 %, 1,234, 12.5 d, 1.2M SEK."""
    if value is None:
        return "–"
    if unit in ("share", "rate"):
        return f"{value * 100:.1f} %"
    if unit == "multiple":
        return f"{value:,.2f}×"
    if unit == "days":
        return f"{value:.1f} d"
    if unit in ("count", "years"):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    if not unit.startswith(("money:", "money_per_day:")):
        raise ValueError(f"unknown unit {unit!r} (kpi.model.UNITS)")
    code = unit.split(":", 1)[1]
    suffix = "/day" if unit.startswith("money_per_day") else ""
    for limit, scale, letter in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= limit:
            return f"{value / scale:,.1f}{letter} {code}{suffix}"
    return f"{value:,.0f} {code}{suffix}"


def index_of(values: Iterable[KpiValue]) -> dict[tuple[str, str, Dim, str], KpiValue]:
    return {(v.kpi, v.stage, v.dim, v.period.label if v.period else ""): v for v in values}


def span_of(periods: Sequence[Period], as_of: datetime) -> str:
    """The grid's span as a table title says it, the running period marked: `2026-01 … 2026-12
    (2026-12 to 3 Dec)`: totals over it include a partial period."""
    first, last = periods[0], periods[-1]
    span = f"{first.label} … {last.label}"
    if last.end > as_of:
        local = as_of.astimezone(last.start.tzinfo)
        span += f" ({last.label} to {local.day} {local:%b})"
    return span


def kpi_table(report: KpiReport, *, dim: Dim = ALL, last: int = 6) -> Table:
    """KPIs as rows and the last `last` periods as columns, for one breakdown."""
    periods = report.periods[-last:]
    index = index_of(report.result.values)
    label = "all contacts and deals" if dim == ALL else f"{dim.name} = {dim.value}"
    table = Table(title=f"KPIs by {periods[0].kind} ({label}, {report.result.currency})")
    table.add_column("kpi", no_wrap=True)
    as_of = report.result.as_of
    for period in periods:
        # A period still running when the KPIs were computed is marked: its values are partial.
        title = period.label if period.end <= as_of else f"{period.label} (partial)"
        table.add_column(title, justify="right", no_wrap=True)
    stages = stages_of(report)
    steps = [step(x, y) for x, y in funnel_steps(stages)]
    for kpi, stage in PERIOD_ROWS:
        if stage == "*":
            names = stages if kpi == "stage_entries" else steps
            if kpi == "contact_to_customer_rate":
                names = [step("created", stages[-1])]
        else:
            names = [stage]
        for name in names:
            cells = [index.get((kpi, name, dim, p.label)) for p in periods]
            if all(c is None for c in cells):
                continue
            unit = next(c.unit for c in cells if c is not None)
            title = f"{kpi} {report.labels.stage('funnel', name)}".strip()
            table.add_row(title, *(fmt(c.value if c else None, unit) for c in cells))
    return table


def snapshot_table(report: KpiReport, *, dim: Dim = ALL) -> Table:
    table = Table(title=f"Now (as of {report.result.as_of:%Y-%m-%d %H:%M} UTC)")
    table.add_column("kpi", no_wrap=True)
    table.add_column("value", justify="right")
    index = index_of(report.result.values)
    for kpi in SNAPSHOT_ROWS:
        value = index.get((kpi, "", dim, ""))
        if value is not None:
            table.add_row(kpi, fmt(value.value, value.unit))
    for v in report.result.values:
        if v.kpi == "stage_count" and v.dim == dim:
            table.add_row(f"contacts now in {report.labels.stage('funnel', v.stage)}", fmt(v.value, v.unit))
    return table


def stages_of(report: KpiReport) -> list[str]:
    seen: list[str] = []
    for v in report.result.values:
        if v.kpi == "stage_entries" and v.stage not in seen:
            seen.append(v.stage)
    return seen


def sum_over(values: Iterable[KpiValue], kpi: str, *, stage: str = "", dim: Dim = ALL) -> tuple[float, float]:
    """Σ numerator and Σ denominator over the grid: rates re-aggregate, they are never averaged."""
    num = den = 0.0
    for v in values:
        if v.kpi == kpi and v.stage == stage and v.dim == dim and v.period is not None:
            num += v.numerator or 0.0
            den += v.denominator or 0.0
    return num, den


def total_of(values: Iterable[KpiValue], kpi: str, *, stage: str = "", dim: Dim = ALL) -> float:
    return math.fsum(
        v.value or 0.0
        for v in values
        if v.kpi == kpi and v.stage == stage and v.dim == dim and v.period is not None
    )


def rate(num: float, den: float) -> float | None:
    return num / den if den else None
