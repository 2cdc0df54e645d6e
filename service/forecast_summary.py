"""The demo summary's forecast tables: the coming periods with each horizon's backtested error,
and the backtest itself (docs/kpis.md, "Forecast")."""

from __future__ import annotations

from rich.table import Table

from kpi.model import ALL, Dim, KpiValue
from service.report import fmt, index_of

STAGE_PROBABILITY = Dim("method", "stage_probability")


def forecast_tables(values: list[KpiValue], currency: str) -> list[Table]:
    """Nothing when the forecast is off (kpi.forecast_periods = 0)."""
    by_key = index_of(v for v in values if v.family == "forecast")
    ahead = [v for v in values if v.kpi == "forecast_won_revenue" and v.dim == ALL and v.period is not None]
    if not ahead:
        return []
    money = f"money:{currency}"

    def cell(kpi: str, stage: str, label: str, unit: str, d: Dim = ALL) -> str:
        found = by_key.get((kpi, stage, d, label))
        return fmt(found.value if found else None, unit)

    table = Table(title="Forecast (error: how far off the same forecast was over the backtested periods)")
    for column in (
        "period",
        "won revenue",
        "won so far",
        "error",
        "new customers",
        "error",
        "by stage prob.",
        "error",
    ):
        table.add_column(column, justify="left" if column == "period" else "right", no_wrap=True)
    for v in ahead:
        assert v.period is not None
        label, h = v.period.label, v.stage
        table.add_row(
            f"{label} ({h})",
            fmt(v.value, money),
            cell("forecast_won_revenue", h, label, money, Dim("component", "won")),
            cell("forecast_error_won_revenue", h, label, "rate"),
            cell("forecast_new_customers", h, label, "count"),
            cell("forecast_error_new_customers", h, label, "rate"),
            cell("forecast_won_revenue", h, label, money, STAGE_PROBABILITY),
            cell("forecast_error_won_revenue", h, label, "rate", STAGE_PROBABILITY),
        )
    past = sorted({v.period.label for v in values if v.kpi == "forecast_backtest_won_revenue" and v.period})
    if not past:
        return [table]
    backtest = Table(
        title="Backtest: each past period's forecast made at its start (h0) or a period before (h1)"
    )
    for column in ("period", "won revenue", "h0", "h1", "new customers", "h0", "h1"):
        backtest.add_column(column, justify="left" if column == "period" else "right", no_wrap=True)
    for label in past:
        backtest.add_row(
            label,
            *(cell("forecast_backtest_won_revenue", s, label, money) for s in ("actual", "h0", "h1")),
            *(cell("forecast_backtest_new_customers", s, label, "count") for s in ("actual", "h0", "h1")),
        )
    return [table, backtest]
