"""Forecast: the won revenue and new customers to expect in the coming periods, and how wrong the
same forecast was when made at past cut-offs (docs/kpis.md, "Forecast").

A cut-off sees the deals and the funnel as they were then: deals created by it and not closed by
it, with the stage and amount of their version valid then (storage.history) or else their stage
entries; contacts by their stage entries; and it learns only from what had happened by then,
within `forecast_history_days`.

- **Open deals:** amount × the stage's probability, spread over the coming periods by how long
  the deals won from the same pipeline, stage and source took from entering the stage to closing
  (coarser groups below MIN_SAMPLES), counting only those that took longer than this deal has
  already spent in it. A deal older than every such deal is left out ("overdue").
- **Open funnel:** contacts at each stage from the MQL stage to the one before customer, × the
  chance that such a contact still becomes a customer given how long it has waited (a mixture
  model: conversion p, time to convert F), spread by F. Their revenue (stages before
  `opportunity`, which has deals of its own): expected customers × won revenue per new customer.

Pure: the reads are in kpi/reader.py, kpi/read_contacts.py and kpi/read_deals.py.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from kpi.definitions import DAY_SECONDS, mql_stage
from kpi.grid import dim
from kpi.inputs import DealFact, DealPast, KpiInputs
from kpi.model import ALL, NO_BASE, NO_DATA, Dim, KpiValue, count, money, ratio
from kpi.periods import Period, period_containing, period_of_day

# (from, to) days after a cut-off, one per period forecast.
Windows = Sequence[tuple[float, float]]
# Fewer won deals than this in a group: the forecast uses the next coarser group.
MIN_SAMPLES = 10


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


def history_since(plan_: Plan, as_of: datetime, history_days: int) -> datetime:
    """The earliest instant the forecast and its backtest learn from."""
    return min(plan_.earliest or as_of, as_of) - timedelta(days=history_days)


class Won(NamedTuple):
    """A won deal: when it closed and was created, its group, amount, and its days to close
    from each stage it entered (stage "": from its creation)."""

    closed: datetime
    created: datetime
    pipeline: str
    source: str
    amount: float
    spans: tuple[tuple[str, float], ...]


class Deal(NamedTuple):
    """A deal as the cut-offs see it, its instants as day numbers (UTC days since 1970: only
    their differences matter): `end` is its close (inf while open at as_of), `outcome` WON, LOST
    or OPEN at as_of, and its first entry into each stage in time order."""

    fact: DealFact
    created: float
    end: float
    outcome: int
    times: tuple[float, ...]
    stages: tuple[str, ...]


def _day(at: datetime) -> float:
    return at.timestamp() / DAY_SECONDS


@dataclass
class DealBook:
    """The deals indexed for cut-offs: stage timelines, superseded versions, won durations."""

    deals: list[Deal]
    versions: dict[str, list[DealPast]]
    probability: dict[tuple[str, str], float | None]
    closed_stages: set[tuple[str, str]]
    won: list[Won] = field(default_factory=list)  # by close

    @classmethod
    def of(cls, inputs: KpiInputs) -> DealBook:
        timelines: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
        for entry in inputs.deal_stage_entries:
            timelines[entry.deal_id].append((entry.at, entry.stage))
        versions: dict[str, list[DealPast]] = defaultdict(list)
        for version in sorted(inputs.deal_history, key=lambda v: v.valid_from):
            versions[version.deal_id].append(version)
        stages = inputs.pipeline_stages
        book = cls(
            deals=[],
            versions=dict(versions),
            probability={(s.pipeline, s.stage): s.probability for s in stages},
            closed_stages={(s.pipeline, s.stage) for s in stages if s.is_closed},
        )
        for deal in inputs.deals:
            if deal.created is None:
                continue
            timeline = sorted(timelines.get(deal.id, ()))
            ended = deal.is_closed and deal.closed is not None
            book.deals.append(
                Deal(
                    deal,
                    _day(deal.created),
                    _day(deal.closed) if ended and deal.closed is not None else math.inf,
                    (WON if deal.is_won else LOST) if ended else OPEN,
                    tuple(_day(at) for at, _ in timeline),
                    tuple(stage for _, stage in timeline),
                )
            )
            if deal.is_won and deal.closed is not None:
                closed = deal.closed
                spans = [("", _days(closed - deal.created))]
                spans += [(stage, _days(closed - at)) for at, stage in timeline if at <= closed]
                won = Won(closed, deal.created, deal.pipeline, deal.source, deal.amount or 0.0, tuple(spans))
                book.won.append(won)
        book.won.sort(key=lambda w: w.closed)
        return book

    def won_between(self, start: datetime, end: datetime) -> Sequence[Won]:
        """Won deals closed in [start, end)."""
        closes = [w.closed for w in self.won]
        return self.won[bisect.bisect_left(closes, start) : bisect.bisect_left(closes, end)]

    def state_at(self, deal: Deal, at: datetime) -> tuple[str | None, float | None, float]:
        """The deal's stage, amount and entry into that stage (a day number) at `at`: its
        version valid then, else its stage entries up to then (amount: the current one), else
        its current stage."""
        fact = deal.fact
        stage, amount = None, fact.amount
        for version in self.versions.get(fact.id, ()):
            if version.valid_from <= at < version.valid_to:
                stage, amount = version.stage, version.amount
                break
        seen = bisect.bisect_right(deal.times, _day(at))
        if stage is None:
            stage = deal.stages[seen - 1] if seen else (fact.stage if not fact.is_closed else None)
        entered = next((deal.times[i] for i in range(seen) if deal.stages[i] == stage), deal.created)
        return stage, amount, entered


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / DAY_SECONDS


class Durations:
    """Won deals' days to close per group, learned from the history window before a cut-off."""

    def __init__(self, won: Iterable[Won]) -> None:
        groups: dict[tuple[str, ...], list[float]] = defaultdict(list)
        for w in won:
            pipeline, source = w.pipeline, w.source
            for stage, days in w.spans:
                if stage:
                    groups[pipeline, stage, source].append(days)
                    groups[pipeline, stage].append(days)
                else:
                    groups[(pipeline,)].append(days)
                    groups[()].append(days)
        self.groups = {key: sorted(values) for key, values in groups.items()}
        self.longest = max((values[-1] for values in self.groups.values()), default=-math.inf)

    def left(self, key: tuple[str, ...], age: float) -> int:
        values = self.groups.get(key, [])
        return len(values) - bisect.bisect_left(values, age)

    def shares(self, deal: DealFact, ages: tuple[str, float, float], windows: Windows) -> list[float] | None:
        """Each window's share of the deal's close, or None (overdue: no group has a deal won
        after waiting this long). Windows are (from, to) days after the cut-off."""
        picked = _pick(deal, ages, self.left)
        if picked is None:
            return None
        key, age = picked
        return _spread(self.groups[key], age, self.left(key, age), windows)


def _spread(
    values: list[float], age: float, left: int, windows: Sequence[tuple[float, float]]
) -> list[float]:
    return [
        (bisect.bisect_left(values, age + hi) - bisect.bisect_left(values, age + lo)) / left
        for lo, hi in windows
    ]


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


class Incidence:
    """The chance of a win over time for deals that entered a stage (or were created), losses
    competing and deals still open at the cut-off censored (Aalen–Johansen). `win(age, lo, hi)`:
    the chance that a deal open after `age` days wins between `age + lo` and `age + hi`."""

    def __init__(self, samples: list[tuple[float, int]]) -> None:
        # samples: (days, outcome) with outcome WON, LOST or OPEN (observed this long, still open).
        samples.sort()
        self.ends = [t for t, _ in samples]
        self.times: list[float] = []
        self.cif: list[float] = [0.0]
        self.surv: list[float] = [1.0]
        n, i, cif, surv = len(samples), 0, 0.0, 1.0
        while i < n:
            t, at_risk, won, lost = samples[i][0], n - i, 0, 0
            while i < n and samples[i][0] == t:
                won += samples[i][1] == WON
                lost += samples[i][1] == LOST
                i += 1
            cif += surv * won / at_risk
            surv *= 1.0 - (won + lost) / at_risk
            self.times.append(t)
            self.cif.append(cif)
            self.surv.append(surv)

    def at_risk(self, age: float) -> int:
        return len(self.ends) - bisect.bisect_left(self.ends, age)

    def _before(self, x: float) -> int:
        return bisect.bisect_left(self.times, x)

    def shares(self, age: float, windows: Sequence[tuple[float, float]]) -> list[float]:
        surv = self.surv[self._before(age)]
        if surv <= 0:
            return [0.0] * len(windows)
        return [
            (self.cif[self._before(age + hi)] - self.cif[self._before(age + lo)]) / surv for lo, hi in windows
        ]


WON, LOST, OPEN = 1, 2, 0


class History:
    """Per group (pipeline, stage, source; pipeline, stage; pipeline and all from creation) the
    win incidence of the deals that entered it in the history window before a cut-off."""

    def __init__(self, book: DealBook, at: datetime, history_days: int) -> None:
        now = _day(at)
        since = now - history_days
        samples: dict[tuple[str, ...], list[tuple[float, int]]] = defaultdict(list)
        for deal in book.deals:
            if deal.created > now or deal.end < since:
                continue
            end, outcome = (deal.end, deal.outcome) if deal.end <= now else (now, OPEN)
            fact = deal.fact
            if deal.created >= since:
                sample = (end - deal.created, outcome)
                samples[(fact.pipeline,)].append(sample)
                samples[()].append(sample)
            for entered, stage in zip(deal.times, deal.stages, strict=True):
                if since <= entered <= end:
                    sample = (end - entered, outcome)
                    samples[fact.pipeline, stage, fact.source].append(sample)
                    samples[fact.pipeline, stage].append(sample)
        self.samples = samples
        self.groups: dict[tuple[str, ...], Incidence] = {}  # built when first looked up
        # No sample is longer than the window (each entered it and ended by the cut-off).
        self.longest = float(history_days)

    def incidence(self, key: tuple[str, ...]) -> Incidence | None:
        found = self.groups.get(key)
        if found is None and key in self.samples:
            found = self.groups[key] = Incidence(self.samples[key])
        return found

    def left(self, key: tuple[str, ...], age: float) -> int:
        incidence = self.incidence(key)
        return 0 if incidence is None else incidence.at_risk(age)

    def shares(self, deal: DealFact, ages: tuple[str, float, float], windows: Windows) -> list[float] | None:
        """Each window's chance of a win for the deal (None: no deal of any group stayed open
        this long)."""
        picked = _pick(deal, ages, self.left)
        return None if picked is None else self.groups[picked[0]].shares(picked[1], windows)


def _pick(
    deal: DealFact, ages: tuple[str, float, float], left: Callable[[tuple[str, ...], float], int]
) -> tuple[tuple[str, ...], float] | None:
    """The group a deal's history is looked up in, with its age there: the finest with at least
    MIN_SAMPLES deals left at that age (pipeline, stage and source; pipeline and stage; the
    pipeline from creation; all deals from creation), else the finest with any."""
    stage, stage_age, created_age = ages
    groups = (
        ((deal.pipeline, stage, deal.source), stage_age),
        ((deal.pipeline, stage), stage_age),
        ((deal.pipeline,), created_age),
        ((), created_age),
    )
    usable = None
    for key, age in groups:
        n = left(key, age)
        if n >= MIN_SAMPLES:
            return key, age
        if n and usable is None:
            usable = (key, age)
    return usable


METHODS = ("history", "stage_probability")


def deal_outlook(
    book: DealBook, at: datetime, periods: Sequence[Period], history_days: int, *, method: str
) -> tuple[dict[str, list[float]], Counter[str]]:
    """Expected won revenue per period from the deals open at `at` under each method, and the
    deals `method` leaves out, by reason."""
    durations = Durations(book.won_between(at - timedelta(days=history_days), at))
    history = History(book, at, history_days)
    windows = _windows(at, periods)
    expected = {m: [0.0] * len(periods) for m in METHODS}
    left_out: Counter[str] = Counter()
    now = _day(at)
    longest = max(durations.longest, history.longest)
    for deal in book.deals:
        if deal.created > now or deal.end <= now:
            continue
        stage, amount, entered = book.state_at(deal, at)
        fact = deal.fact
        if stage is None or amount is None:
            left_out["no_stage" if stage is None else "no_amount"] += 1
            continue
        if (fact.pipeline, stage) in book.closed_stages:
            continue
        ages = (stage, now - entered, now - deal.created)
        probability = book.probability.get((fact.pipeline, stage))
        if min(ages[1], ages[2]) > longest:  # older than every deal either method learns from
            by_method: dict[str, list[float] | None] = dict.fromkeys(METHODS)
        else:
            by_method = {
                "history": history.shares(fact, ages, windows),
                "stage_probability": None
                if probability is None
                else [probability * s for s in durations.shares(fact, ages, windows) or []] or None,
            }
        if by_method[method] is None:
            left_out[
                "no_probability" if method == "stage_probability" and probability is None else "overdue"
            ] += 1
        for m, shares in by_method.items():
            for i, share in enumerate(shares or ()):
                expected[m][i] += amount * share
    return expected, left_out


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
) -> list[float]:
    """What is won in each window (days after `at`) from things that do not exist yet: the mean,
    over every past cut-off r in the history window whose window had passed by `at`, of the
    weight won in [r + from, r + to) by items that started after r. Items: (started, won,
    weight) in day numbers; each adds weight × the length of the cut-offs it counts for."""
    out = []
    for lo, hi in windows:
        first, last = at - history_days, at - hi
        if last <= first:
            out.append(0.0)
            continue
        total = 0.0
        for started, won, weight in items:
            length = min(won - lo, last, started) - max(won - hi, first)
            if length > 0:
                total += weight * length
        out.append(total / (last - first))
    return out


@dataclass
class Forecaster:
    """Everything a cut-off needs, indexed once per computation."""

    book: DealBook
    # Open stage → (day entered, day moved on, day became a customer, contacts).
    paths: dict[str, list[tuple[int, int | None, int | None, int]]]
    # (day became a customer, day first in the open funnel, contacts), by the first.
    customers: list[tuple[int, int, int]]
    offset: int
    history_days: int
    method: str = "history"

    @classmethod
    def of(cls, inputs: KpiInputs) -> Forecaster:
        stages = inputs.stages
        open_stages = stages[stages.index(mql_stage(stages)) : -1]
        paths: dict[str, list[tuple[int, int | None, int | None, int]]] = {s: [] for s in open_stages}
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
            offset=inputs.day_offset,
            history_days=inputs.forecast_history_days,
            method=inputs.forecast_method,
        )

    def day(self, at: datetime) -> int:
        """The local day a cut-off starts counting from (an hour's slack for summer time: day
        numbers use one UTC offset)."""
        return math.ceil(day_number(at, self.offset) - 1 / 24)

    def customers_between(self, start: datetime, end: datetime) -> int:
        lo, hi = self.day(start), self.day(end)
        days = [c[0] for c in self.customers]
        return sum(c[2] for c in self.customers[bisect.bisect_left(days, lo) : bisect.bisect_left(days, hi)])

    def revenue_between(self, start: datetime, end: datetime) -> float:
        return math.fsum(w.amount for w in self.book.won_between(start, end))

    def outlook(self, at: datetime, periods: Sequence[Period]) -> Outlook:
        """What a forecast made at `at` expects in each of `periods`."""
        methods, left_out = deal_outlook(self.book, at, periods, self.history_days, method=self.method)
        windows = _windows(at, periods)
        day = self.day(at)
        customers = {
            stage: funnel_outlook(paths, day, windows, self.history_days)
            for stage, paths in self.paths.items()
        }
        since = at - timedelta(days=self.history_days)
        new_deals = [
            (_days(w.created - at), _days(w.closed - at), w.amount) for w in self.book.won_between(since, at)
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
        )
        revenue = {
            "open_deals": methods[self.method],
            "new_deals": run_rate(new_deals, 0.0, self.history_days, windows),
        }
        return Outlook(revenue, customers, methods, left_out)


FORECASTS = (("revenue", "forecast_won_revenue"), ("customers", "forecast_new_customers"))


def forecast_kpis(inputs: KpiInputs) -> list[KpiValue]:
    """The current and coming periods' expected won revenue and new customers by component,
    each beside the error its horizon had over the backtested periods; the backtest itself; the
    open deals the forecast leaves out."""
    if not inputs.periods or inputs.forecast_periods < 1:
        return []
    p = plan(
        inputs.periods[0].kind,
        inputs.tz,
        inputs.as_of,
        ahead=inputs.forecast_periods,
        backtest=inputs.forecast_backtest_periods,
    )
    f = Forecaster.of(inputs)
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
