"""Forecast: the won revenue and new customers to expect in the coming periods, and how wrong the
same forecast was when made at past cut-offs (docs/kpis.md, "Forecast").

A cut-off sees the deals and the funnel as they were then: deals created by it and not closed by
it, with the stage and amount of their version valid then (storage.history) or else their stage
entries; contacts by their stage entries; and it learns only from what had happened by then,
within `forecast_history_days`.

- **Open deals** (kpi/forecast_deals.py): by the history of deals from the same stage, or by
  HubSpot's stage probability; both are computed and backtested.
- **Open funnel:** contacts at each stage from the MQL stage to the one before customer, × the
  chance that such a contact still becomes a customer given how long it has waited (a mixture
  model: conversion p, time to convert F), spread by F.
- **Not created yet:** deals and contacts that do not exist at the cut-off, from a run rate over
  the past cut-offs of the history window (`run_rate`).

Pure: the reads are in kpi/reader.py, kpi/read_contacts.py and kpi/read_deals.py.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kpi.definitions import DAY_SECONDS, open_stages
from kpi.forecast_deals import METHODS, DealBook, deal_outlook, utc_day
from kpi.grid import dim
from kpi.inputs import KpiInputs
from kpi.model import ALL, NO_BASE, NO_DATA, Dim, KpiValue, count, money, ratio
from kpi.periods import Period, period_containing, period_of_day


def local_day_offset(tz: ZoneInfo, at: datetime) -> int:
    """The reporting zone's UTC offset at `at` in seconds: local day numbers shift by it."""
    offset = at.astimezone(tz).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def day_number(at: datetime, offset: int) -> float:
    """Days since 1970-01-01 in the reporting zone (fractional; its floor is the local day)."""
    return (at.timestamp() + offset) / DAY_SECONDS


def _previous(period: Period, tz: ZoneInfo) -> Period:
    return period_of_day(period.kind, period.start.date() - timedelta(days=1), tz)


def _next(period: Period, tz: ZoneInfo) -> Period:
    return period_of_day(period.kind, period.end.date(), tz)


@dataclass(frozen=True)
class Plan:
    """The periods forecast now (`ahead[0]` is the current one), the past periods backtested
    (oldest first) and, for each horizon h, the cut-off each was forecast from: the start of the
    period h periods before it."""

    ahead: list[Period]
    past: list[Period]
    cutoffs: dict[tuple[Period, int], datetime]

    @property
    def earliest(self) -> datetime | None:
        return min(self.cutoffs.values(), default=None)


def plan(kind: str, tz: ZoneInfo, as_of: datetime, *, ahead: int, backtest: int) -> Plan:
    current = period_containing(kind, as_of, tz)
    future = [current]
    for _ in range(ahead):
        future.append(_next(future[-1], tz))
    past: list[Period] = []
    for _ in range(backtest):
        past.insert(0, _previous(past[0] if past else current, tz))
    cutoffs: dict[tuple[Period, int], datetime] = {}
    for period in past:
        start = period
        for h in range(ahead + 1):
            cutoffs[period, h] = start.start.astimezone(UTC)
            start = _previous(start, tz)
    return Plan(future, past, cutoffs)


def plan_for(
    periods: Sequence[Period], tz: ZoneInfo, as_of: datetime, *, ahead: int, backtest: int
) -> Plan | None:
    """The plan in the grid's period kind; None without a grid or periods ahead (no forecast)."""
    if not periods or ahead < 1:
        return None
    return plan(periods[0].kind, tz, as_of, ahead=ahead, backtest=backtest)


def history_since(plan_: Plan, as_of: datetime, history_days: int) -> datetime:
    """The earliest instant the forecast and its backtest learn from."""
    return min(plan_.earliest or as_of, as_of) - timedelta(days=history_days)


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / DAY_SECONDS


def _windows(at: datetime, periods: Sequence[Period]) -> list[tuple[float, float]]:
    """The periods as (from, to) days after `at` (the past part of a period left out)."""
    return [(max(0.0, _days(p.start_utc - at)), max(0.0, _days(p.end_utc - at))) for p in periods]


@dataclass
class Outlook:
    """What one cut-off expects per period: revenue and new customers by component (open deals
    under the configured method), and the open deals' revenue under every method."""

    revenue: dict[str, list[float]]
    customers: dict[str, list[float]]
    methods: dict[str, list[float]]
    left_out: Counter[str] = field(default_factory=Counter)

    def series(self, i: int) -> dict[str, float]:
        """Period i's totals: `revenue`, `customers` and `revenue:<method>`."""
        revenue = math.fsum(values[i] for values in self.revenue.values())
        out = {"revenue": revenue, "customers": math.fsum(values[i] for values in self.customers.values())}
        for method, values in self.methods.items():
            out[f"revenue:{method}"] = revenue - self.revenue["open_deals"][i] + values[i]
        return out


def funnel_outlook(
    paths: Sequence[tuple[int, int | None, int | None, int]],
    at: int,
    windows: Sequence[tuple[float, float]],
    history_days: int,
) -> list[float]:
    """Expected new customers per window from the contacts at one stage on local day `at` (its
    `paths`: day entered, day moved on, day became a customer, contacts; windows in days after
    the cut-off)."""
    cohort: list[tuple[float, int]] = []  # (age at the cut-off, contacts)
    converted: list[float] = []
    waiting: list[tuple[float, int]] = []
    for entered, moved, became, n in paths:
        if entered >= at or (became is not None and became < entered):
            continue
        if entered >= at - history_days:
            cohort.append((at - entered, n))
            if became is not None and became < at:
                converted.extend([float(became - entered)] * n)
        if moved is None or moved >= at:
            waiting.append((at - entered, n))
    return _expected_customers(sorted(converted), cohort, waiting, windows)


def _expected_customers(
    converted: list[float],
    cohort: list[tuple[float, int]],
    waiting: list[tuple[float, int]],
    windows: Sequence[tuple[float, float]],
) -> list[float]:
    """The mixture model: F = the converted contacts' days to convert; p = converted ÷ Σ F(age)
    over the cohort (what share of it had time to convert); a contact waiting `age` days converts
    in a window with p·(F(age + to) − F(age + from)) ÷ (1 − p·F(age))."""
    expected = [0.0] * len(windows)
    if not converted:
        return expected
    n = len(converted)

    def cdf(x: float) -> float:
        return bisect.bisect_left(converted, x) / n

    matured = sum(cdf(age) * k for age, k in cohort)
    p = min(1.0, n / matured) if matured > 0 else 0.0
    for age, k in waiting:
        still = 1.0 - p * cdf(age)
        if still <= 0:
            continue
        for i, (lo, hi) in enumerate(windows):
            expected[i] += k * p * (cdf(age + hi) - cdf(age + lo)) / still
    return expected


def run_rate(
    items: Sequence[tuple[float, float, float]],
    at: float,
    history_days: int,
    windows: Sequence[tuple[float, float]],
    *,
    half_life: float = 0.0,
) -> list[float]:
    """What is won in each window (days after `at`) from things that do not exist yet: the mean,
    over every past cut-off r in the history window whose window had passed by `at`, of the
    weight won in [r + from, r + to) by items that started after r. Items: (started, won,
    weight) in day numbers; each adds weight × the span of cut-offs it counts for. With
    `half_life` (days), a cut-off's weight halves every `half_life` days before the latest one,
    so a growing (or shrinking) business shows up sooner."""
    out = []
    for lo, hi in windows:
        first, last = at - history_days, at - hi
        if last <= first:
            out.append(0.0)
            continue

        def span(x0: float, x1: float, last: float = last) -> float:
            """The weighted length of the cut-offs in [x0, x1]."""
            if not half_life:
                return x1 - x0
            rate = math.log(2) / half_life
            return (math.exp(rate * (x1 - last)) - math.exp(rate * (x0 - last))) / rate

        total = 0.0
        for started, won, weight in items:
            x0, x1 = max(won - hi, first), min(won - lo, last, started)
            if x1 > x0:
                total += weight * span(x0, x1)
        out.append(total / span(first, last))
    return out


@dataclass
class Forecaster:
    """Everything a cut-off needs, indexed once per computation."""

    book: DealBook
    # Open stage → (day entered, day moved on, day became a customer, contacts).
    paths: dict[str, list[tuple[int, int | None, int | None, int]]]
    # (day became a customer, day first in the open funnel, contacts), by the first.
    customers: list[tuple[int, int, int]]
    customer_days: list[int]  # each of `customers`' first item, for bisecting
    offset: int
    history_days: int
    method: str = "history"
    recency_days: float = 0.0  # the run rates' half-life (0: every past cut-off counts the same)

    @classmethod
    def of(cls, inputs: KpiInputs) -> Forecaster:
        paths: dict[str, list[tuple[int, int | None, int | None, int]]] = {
            s: [] for s in open_stages(inputs.stages)
        }
        for (stage, entered, moved, became), n in inputs.contacts.paths.items():
            if stage in paths:
                paths[stage].append((entered, moved, became, n))
        customers = sorted(
            (became, became if first is None else min(first, became), n)
            for (first, became), n in inputs.contacts.customer_days.items()
        )
        return cls(
            book=DealBook.of(inputs),
            paths=paths,
            customers=customers,
            customer_days=[c[0] for c in customers],
            offset=inputs.day_offset,
            history_days=inputs.forecast_history_days,
            method=inputs.forecast_method,
            recency_days=inputs.forecast_recency_days,
        )

    def day(self, at: datetime) -> int:
        """The local day a cut-off starts counting from (an hour's slack for summer time: day
        numbers use one UTC offset)."""
        return math.ceil(day_number(at, self.offset) - 1 / 24)

    def customers_between(self, start: datetime, end: datetime) -> int:
        lo, hi = self.day(start), self.day(end)
        days = self.customer_days
        return sum(c[2] for c in self.customers[bisect.bisect_left(days, lo) : bisect.bisect_left(days, hi)])

    def revenue_between(self, start: datetime, end: datetime) -> float:
        return math.fsum(w.amount for w in self.book.won_between(utc_day(start), utc_day(end)))

    def outlook(self, at: datetime, periods: Sequence[Period]) -> Outlook:
        """What a forecast made at `at` expects in each of `periods`."""
        windows = _windows(at, periods)
        methods, left_out = deal_outlook(self.book, at, windows, self.history_days, method=self.method)
        day = self.day(at)
        customers = {
            stage: funnel_outlook(paths, day, windows, self.history_days)
            for stage, paths in self.paths.items()
        }
        now = utc_day(at)
        new_deals = [
            (w.created - now, w.closed - now, w.amount)
            for w in self.book.won_between(now - self.history_days, now)
        ]
        customers["new_contacts"] = run_rate(
            [
                (first - day, became - day, n)
                for became, first, n in self.customers
                if day - self.history_days <= became < day
            ],
            0.0,
            self.history_days,
            windows,
            half_life=self.recency_days,
        )
        revenue = {
            "open_deals": methods[self.method],
            "new_deals": run_rate(new_deals, 0.0, self.history_days, windows, half_life=self.recency_days),
        }
        return Outlook(revenue, customers, methods, left_out)


FORECASTS = (("revenue", "forecast_won_revenue"), ("customers", "forecast_new_customers"))


def forecast_kpis(inputs: KpiInputs) -> list[KpiValue]:
    """The current and coming periods' expected won revenue and new customers by component,
    each beside the error its horizon had over the backtested periods; the backtest itself; the
    open deals the forecast leaves out."""
    p = plan_for(
        inputs.periods,
        inputs.tz,
        inputs.as_of,
        ahead=inputs.forecast_periods,
        backtest=inputs.forecast_backtest_periods,
    )
    if p is None:
        return []
    f = Forecaster.of(inputs)
    f.book.index_open(utc_day(at) for at in (inputs.as_of, *p.cutoffs.values()))
    live = f.outlook(inputs.as_of, p.ahead)
    current, later = p.ahead[0], [0.0] * (len(p.ahead) - 1)
    live.revenue["won"] = [f.revenue_between(current.start_utc, inputs.as_of), *later]
    live.customers["won"] = [float(f.customers_between(current.start_utc, inputs.as_of)), *later]
    backtest = _backtest(f, p)
    out: list[KpiValue] = []
    for h, period in enumerate(p.ahead):
        where: dict[str, Any] = {"period": period, "stage": f"h{h}"}
        totals = live.series(h)
        for which, kpi in FORECASTS:
            parts = live.revenue if which == "revenue" else live.customers
            out.append(_value(kpi, totals[which], inputs.currency, **where))
            for component in sorted(parts):
                d = dim("component", component)
                out.append(_value(kpi, parts[component][h], inputs.currency, dim=d, **where))
            out.extend(_error_rows(kpi, backtest, p.past, (h, which, ALL), where))
        for method in METHODS:
            d, which = dim("method", method), f"revenue:{method}"
            out.append(_value("forecast_won_revenue", totals[which], inputs.currency, dim=d, **where))
            out.extend(_error_rows("forecast_won_revenue", backtest, p.past, (h, which, d), where))
    for period in p.past:
        out.extend(_backtest_rows(backtest, period, len(p.ahead), inputs.currency))
    for reason, n in sorted(live.left_out.items()):
        out.append(count("forecast_deals_left_out", n, dim=dim("reason", reason)))
    return out


# (period, horizon, series) → the forecast of a past period from the horizon's cut-off; horizon
# -1 holds what happened. Series: `revenue`, `customers`, `revenue:<method>`.
_Backtest = dict[tuple[Period, int, str], float]


def _backtest(f: Forecaster, p: Plan) -> _Backtest:
    """Each past period's forecast from each horizon's cut-off (one outlook per cut-off), and
    what happened in it (deals won, contacts that became customers)."""
    out: _Backtest = {}
    by_cutoff: dict[datetime, list[tuple[Period, int]]] = defaultdict(list)
    for (period, h), at in p.cutoffs.items():
        by_cutoff[at].append((period, h))
    for at, wanted in sorted(by_cutoff.items()):
        periods = sorted({period for period, _ in wanted})
        outlook = f.outlook(at, periods)
        for period, h in wanted:
            for series, value in outlook.series(periods.index(period)).items():
                out[period, h, series] = value
    for period in p.past:
        out[period, -1, "revenue"] = f.revenue_between(period.start_utc, period.end_utc)
        out[period, -1, "customers"] = float(f.customers_between(period.start_utc, period.end_utc))
    return out


def _actual(series: str) -> str:
    return series.partition(":")[0]


def _backtest_rows(backtest: _Backtest, period: Period, horizons: int, currency: str) -> list[KpiValue]:
    """A past period: what happened (`actual`) and each horizon's forecast of it, in total and
    for revenue under each method."""
    out: list[KpiValue] = []
    for which, kpi in FORECASTS:
        name = kpi.replace("forecast_", "forecast_backtest_")
        out.append(_value(name, backtest.get((period, -1, which)), currency, period=period, stage="actual"))
        dims = [(which, ALL)]
        if which == "revenue":
            dims += [(f"revenue:{m}", dim("method", m)) for m in METHODS]
        for h in range(horizons):
            for series, d in dims:
                value = backtest.get((period, h, series))
                out.append(_value(name, value, currency, period=period, stage=f"h{h}", dim=d))
    return out


def _value(kpi: str, value: float | None, currency: str, **where: Any) -> KpiValue:
    if "revenue" in kpi:
        return money(kpi, value, currency, reason=NO_DATA, **where)
    if value is None:
        return KpiValue(kpi, None, "count", reason=NO_DATA, **where)
    return count(kpi, value, **where)


def _error_rows(
    kpi: str, backtest: _Backtest, past: Sequence[Period], which: tuple[int, str, Dim], where: dict[str, Any]
) -> list[KpiValue]:
    """WAPE (Σ|forecast − actual| ÷ Σ actual) and bias (Σ(forecast − actual) ÷ Σ actual) of one
    horizon's forecasts of one series over the backtested periods."""
    h, series, d = which
    pairs = [
        (backtest[period, h, series], backtest[period, -1, _actual(series)])
        for period in past
        if (period, h, series) in backtest
    ]
    actual = math.fsum(a for _, a in pairs)
    reason = NO_BASE if pairs else NO_DATA
    return [
        ratio(
            kpi.replace("forecast_", "forecast_error_"),
            math.fsum(abs(f - a) for f, a in pairs),
            actual,
            reason_if_empty=reason,
            dim=d,
            **where,
        ),
        ratio(
            kpi.replace("forecast_", "forecast_bias_"),
            math.fsum(f - a for f, a in pairs),
            actual,
            reason_if_empty=reason,
            dim=d,
            **where,
        ),
    ]
