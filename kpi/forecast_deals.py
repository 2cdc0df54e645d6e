"""The forecast's open deals (docs/kpis.md, "Forecast"): what each deal open at a cut-off is
expected to bring in each coming period, under two methods.

- `history`: the chance that deals which entered the same pipeline stage (same source when
  enough, else any; else the pipeline's deals from their creation, else all deals) and were still
  open after as long were won within the period: losses compete and deals still open at the
  cut-off are censored (an Aalen–Johansen estimate over the history window).
- `stage_probability`: the amount × the stage's probability in HubSpot, spread by the days to
  close of the deals won from the same group that took longer than this deal's age.

Deals are counted in whole UTC days: at a cut-off, deals of one group that entered their stage
and were created on the same days share one evaluation, so the cost follows the distinct days,
not the number of deals. Pure: kpi/forecast.py wires it.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from kpi.definitions import DAY_SECONDS
from kpi.inputs import DealFact, DealPast, KpiInputs

# Fewer deals than this left in a group at a deal's age: the next coarser group is used.
MIN_SAMPLES = 10
WON, LOST, OPEN = 1, 2, 0
METHODS = ("history", "stage_probability")
# (from, to) days after a cut-off, one per period forecast.
Windows = Sequence[tuple[float, float]]
# A deal's groups: (pipeline, stage, source), (pipeline, stage), (pipeline,) and ().
Key = tuple[str, ...]
Group = tuple[str, str, str]  # a deal's pipeline, stage and source
Ages = tuple[float, float]  # days in its stage, days since created


def utc_day(at: datetime) -> float:
    """UTC days since 1970 (fractional)."""
    return at.timestamp() / DAY_SECONDS


class Won(NamedTuple):
    """A won deal: its close and creation (UTC day numbers), group, amount, and its whole days
    to close from each stage it entered (stage "": from its creation)."""

    closed: float
    created: float
    pipeline: str
    source: str
    amount: float
    spans: tuple[tuple[str, int], ...]


class Deal(NamedTuple):
    """A deal as the cut-offs see it, in whole UTC days: `end` is its close (inf while open at
    as_of), `outcome` WON, LOST or OPEN at as_of, and its first entry into each stage in time
    order."""

    fact: DealFact
    created: int
    end: float
    outcome: int
    times: tuple[int, ...]
    stages: tuple[str, ...]
    last: int  # its latest creation or stage entry: nothing about it started after


@dataclass
class DealBook:
    """The deals indexed for cut-offs: stage timelines, superseded versions, won durations."""

    deals: list[Deal]
    versions: dict[str, list[DealPast]]
    probability: dict[tuple[str, str], float | None]
    closed_stages: set[tuple[str, str]]
    won: list[Won] = field(default_factory=list)  # by close
    lasts: list[int] = field(default_factory=list)  # `deals` are sorted by their `last`
    closes: list[float] = field(default_factory=list)  # `won` closes, in order
    opened: dict[float, list[Deal]] = field(default_factory=dict)  # see `index_open`

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
            created = math.floor(utc_day(deal.created))
            times = tuple(math.floor(utc_day(at)) for at, _ in timeline)
            stages_ = tuple(stage for _, stage in timeline)
            end = math.floor(utc_day(deal.closed)) if ended and deal.closed is not None else math.inf
            outcome = (WON if deal.is_won else LOST) if ended else OPEN
            book.deals.append(Deal(deal, created, end, outcome, times, stages_, max((created, *times))))
            if deal.is_won and deal.closed is not None:
                closed = math.floor(utc_day(deal.closed))
                spans = [("", closed - created)]
                spans += [(stage, closed - t) for t, stage in zip(times, stages_, strict=True) if t <= closed]
                book.won.append(
                    Won(utc_day(deal.closed), utc_day(deal.created), deal.pipeline, deal.source,
                        deal.amount or 0.0, tuple(spans))
                )  # fmt: skip
        book.won.sort(key=lambda w: w.closed)
        book.closes = [w.closed for w in book.won]
        book.deals.sort(key=lambda d: d.last)
        book.lasts = [d.last for d in book.deals]
        return book

    def index_open(self, days: Iterable[float]) -> None:
        """Note which deals are open at each of these instants (UTC day numbers; the cut-offs):
        one pass over the deals instead of one per cut-off, each deal added to the cut-offs it
        is open at."""
        ordered = sorted(set(days))
        opened: list[list[Deal]] = [[] for _ in ordered]
        for deal in self.deals:
            for i in range(bisect.bisect_left(ordered, deal.created), bisect.bisect_left(ordered, deal.end)):
                opened[i].append(deal)
        self.opened = dict(zip(ordered, opened, strict=True))

    def open_at(self, day: float) -> Sequence[Deal]:
        """The deals created by `day` and not closed by it, in `deals`' order."""
        found = self.opened.get(day)
        return found if found is not None else [d for d in self.deals if d.created <= day < d.end]

    def active_since(self, day: float) -> Sequence[Deal]:
        """The deals created or moved on day `day` or later (the rest started nothing since)."""
        return self.deals[bisect.bisect_left(self.lasts, day) :]

    def won_between(self, start: float, end: float) -> Sequence[Won]:
        """Won deals closed in [start, end) (UTC day numbers)."""
        closes = self.closes
        return self.won[bisect.bisect_left(closes, start) : bisect.bisect_left(closes, end)]

    def state_at(
        self, deal: Deal, at: datetime, day: float | None = None
    ) -> tuple[str | None, float | None, int]:
        """The deal's stage, amount and entry into that stage (a day number) at `at` (`day`: its
        UTC day number, if known): its version valid then, else its stage entries up to then
        (amount: the current one), else its current stage."""
        fact = deal.fact
        stage, amount = None, fact.amount
        for version in self.versions.get(fact.id, ()):
            if version.valid_from <= at < version.valid_to:
                stage, amount = version.stage, version.amount
                break
        seen = bisect.bisect_right(deal.times, utc_day(at) if day is None else day)
        if stage is None:
            stage = deal.stages[seen - 1] if seen else (fact.stage if not fact.is_closed else None)
        for i in range(seen):
            if deal.stages[i] == stage:
                return stage, amount, deal.times[i]
        return stage, amount, deal.created


class Tally:
    """Values with their counts, sorted: how many are at least x, and how many fall in [x, y)."""

    def __init__(self, counts: Counter[float]) -> None:
        self.values = sorted(counts)
        total, suffix = 0, []
        for value in reversed(self.values):
            total += counts[value]
            suffix.append(total)
        self.at_least_counts = [*reversed(suffix), 0]

    def at_least(self, x: float) -> int:
        return self.at_least_counts[bisect.bisect_left(self.values, x)]

    def between(self, x: float, y: float) -> int:
        return self.at_least(x) - self.at_least(y)


class Durations:
    """Won deals' days to close per group, learned from the history window before a cut-off."""

    def __init__(self, won: Iterable[Won]) -> None:
        counts: dict[Key, Counter[float]] = defaultdict(Counter)
        for w in won:
            for stage, days in w.spans:
                for key in (
                    ((w.pipeline, stage, w.source), (w.pipeline, stage)) if stage else ((w.pipeline,), ())
                ):
                    counts[key][days] += 1
        self.groups = {key: Tally(c) for key, c in counts.items()}
        self.longest = max((t.values[-1] for t in self.groups.values() if t.values), default=-math.inf)

    def left(self, key: Key, age: float) -> int:
        tally = self.groups.get(key)
        return 0 if tally is None else tally.at_least(age)

    def shares(self, group: Group, ages: Ages, windows: Windows) -> list[float] | None:
        """Each window's share of the close of a deal of `group` (pipeline, stage, source) with
        these ages (in its stage, since created), or None: no such deal was won after as long."""
        picked = _pick(group, ages, self.left)
        if picked is None:
            return None
        key, age = picked
        tally = self.groups[key]
        left = tally.at_least(age)
        return [tally.between(age + lo, age + hi) / left for lo, hi in windows]


class Incidence:
    """The chance of a win over time for deals that entered a stage (or were created): losses
    compete and deals still open at the cut-off are censored (Aalen–Johansen)."""

    def __init__(self, samples: Counter[tuple[float, int]]) -> None:
        # samples: (days, outcome) → deals; outcome WON, LOST or OPEN (open this long).
        by_time: dict[float, list[int]] = defaultdict(lambda: [0, 0, 0])
        for (days, outcome), n in samples.items():
            by_time[days][outcome] += n
        self.times = sorted(by_time)
        self.tally = Tally(Counter({t: sum(by_time[t]) for t in self.times}))
        self.cif, self.surv = [0.0], [1.0]
        at_risk, cif, surv = sum(samples.values()), 0.0, 1.0
        for t in self.times:
            _open, won, lost = by_time[t]
            cif += surv * won / at_risk
            surv *= 1.0 - (won + lost) / at_risk
            at_risk -= sum(by_time[t])
            self.cif.append(cif)
            self.surv.append(surv)

    def at_risk(self, age: float) -> int:
        return self.tally.at_least(age)

    def shares(self, age: float, windows: Windows) -> list[float]:
        """The chance that a deal open after `age` days wins in each window."""
        surv = self.surv[bisect.bisect_left(self.times, age)]
        if surv <= 0:
            return [0.0] * len(windows)

        def cif(x: float) -> float:
            return self.cif[bisect.bisect_left(self.times, x)]

        return [(cif(age + hi) - cif(age + lo)) / surv for lo, hi in windows]


class History:
    """Per group the win incidence of the deals that entered it (or were created) in the
    history window before a cut-off."""

    def __init__(self, book: DealBook, now: float, history_days: int) -> None:
        since = now - history_days
        # Counted at the finest groups only: (pipeline, stage, source) from the stage entries,
        # (pipeline,) from the creation; coarser groups are their sums, made when looked up.
        samples: dict[Key, Counter[tuple[float, int]]] = defaultdict(Counter)
        for deal in book.active_since(since):
            if deal.created > now or deal.end < since:
                continue
            end, outcome = (deal.end, deal.outcome) if deal.end <= now else (now, OPEN)
            fact = deal.fact
            if deal.created >= since:
                samples[(fact.pipeline,)][end - deal.created, outcome] += 1
            for entered, stage in zip(deal.times, deal.stages, strict=True):
                if since <= entered <= end:
                    samples[fact.pipeline, stage, fact.source][end - entered, outcome] += 1
        self.samples = samples
        self.groups: dict[Key, Incidence] = {}  # built when first looked up
        # No sample is longer than the window (each entered it and ended by the cut-off).
        self.longest = float(history_days)

    def incidence(self, key: Key) -> Incidence | None:
        found = self.groups.get(key)
        if found is not None:
            return found
        if len(key) in (1, 3):  # counted as such
            parts = [self.samples[key]] if key in self.samples else []
        else:  # (pipeline, stage) sums its sources' counts, () the pipelines' creations
            finer = 3 if key else 1
            parts = [c for k, c in self.samples.items() if len(k) == finer and k[: len(key)] == key]
        if not parts:
            return None
        merged: Counter[tuple[float, int]] = Counter()
        for part in parts:
            merged.update(part)
        found = self.groups[key] = Incidence(merged)
        return found

    def left(self, key: Key, age: float) -> int:
        incidence = self.incidence(key)
        return 0 if incidence is None else incidence.at_risk(age)

    def shares(self, group: Group, ages: Ages, windows: Windows) -> list[float] | None:
        picked = _pick(group, ages, self.left)
        return None if picked is None else self.groups[picked[0]].shares(picked[1], windows)


def _pick(group: Group, ages: Ages, left: Callable[[Key, float], int]) -> tuple[Key, float] | None:
    """The group a deal's history is looked up in, with its age there: the finest with at least
    MIN_SAMPLES deals left at that age (pipeline, stage and source; pipeline and stage; the
    pipeline from creation; all deals from creation), else the finest with any."""
    pipeline, stage, source = group
    stage_age, created_age = ages
    candidates = (
        ((pipeline, stage, source), stage_age),
        ((pipeline, stage), stage_age),
        ((pipeline,), created_age),
        ((), created_age),
    )
    usable = None
    for key, age in candidates:
        n = left(key, age)
        if n >= MIN_SAMPLES:
            return key, age
        if n and usable is None:
            usable = (key, age)
    return usable


def deal_outlook(
    book: DealBook, at: datetime, windows: Windows, history_days: int, *, method: str
) -> tuple[dict[str, list[float]], Counter[str]]:
    """Expected won revenue per window from the deals open at `at` under each method, and the
    deals `method` leaves out, by reason."""
    now = utc_day(at)
    durations = Durations(book.won_between(now - history_days, now))
    history = History(book, now, history_days)
    longest = max(durations.longest, history.longest)
    # (pipeline, stage, source, day entered the stage, day created) → amount, deals.
    open_deals: dict[tuple[str, str, str, int, int], list[float]] = defaultdict(lambda: [0.0, 0])
    left_out: Counter[str] = Counter()
    for deal in book.open_at(now):
        fact = deal.fact
        # Nothing of it started within `longest` days: older in its stage and since its creation
        # than any deal either method learns from. Without versions its stage is its last entry
        # (what state_at finds), so the look-ups are skipped.
        stale = now - deal.last > longest and fact.id not in book.versions
        if stale:
            stage = deal.stages[-1] if deal.stages else (fact.stage if not fact.is_closed else None)
            amount, entered = fact.amount, deal.last
        else:
            stage, amount, entered = book.state_at(deal, at, now)
        if stage is None or amount is None:
            left_out["no_stage" if stage is None else "no_amount"] += 1
        elif (fact.pipeline, stage) in book.closed_stages:
            continue
        elif stale:
            left_out[_unforecast(method, book.probability.get((fact.pipeline, stage)))] += 1
        else:
            cell = open_deals[fact.pipeline, stage, fact.source, entered, deal.created]
            cell[0] += amount
            cell[1] += 1
    expected = {m: [0.0] * len(windows) for m in METHODS}
    for (pipeline, stage, source, entered, created), (amount, n) in open_deals.items():
        ages = (now - entered, now - created)
        probability = book.probability.get((pipeline, stage))
        by_method: dict[str, list[float] | None] = dict.fromkeys(METHODS)
        if min(ages) <= longest:  # else older than every deal either method learns from
            group = (pipeline, stage, source)
            by_method["history"] = history.shares(group, ages, windows)
            if probability is not None:
                shares = durations.shares(group, ages, windows)
                by_method["stage_probability"] = None if shares is None else [probability * s for s in shares]
        if by_method[method] is None:
            left_out[_unforecast(method, probability)] += int(n)
        for m, values in by_method.items():
            for i, share in enumerate(values or ()):
                expected[m][i] += amount * share
    return expected, left_out


def _unforecast(method: str, probability: float | None) -> str:
    """Why `method` has no forecast for an open deal with an amount and a stage."""
    return "no_probability" if method == "stage_probability" and probability is None else "overdue"
