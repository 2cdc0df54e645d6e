"""What the status page shows for one connection, built from a computation's export rows: the
headline tiles of one period with their 12-period trend, the labelled funnel, the sources and
the emails of that period, and which families are stale. Pure: the page (service/status.py)
only renders it.

The computation has one period grid (`kpi.period`); the page can also show any coarser grain the
grid nests in (months → quarters → years). A coarser period's value is combined from its grid
periods the way docs/kpis.md defines the KPI: flows are summed, ratios are Σ numerators /
Σ denominators, means are weighted by their denominators; a KPI that cannot be combined (a
median) shows no value there rather than a wrong one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from kpi.definitions import step
from kpi.model import FAMILIES, KPI_UNITS
from kpi.periods import period_of_day

# Grains a grid nests in, finest first (ISO weeks do not nest in months).
NESTS: dict[str, tuple[str, ...]] = {
    "week": ("week",),
    "month": ("month", "quarter", "year"),
    "quarter": ("quarter", "year"),
    "year": ("year",),
}
# Flows: a coarser period's value is the sum of its grid periods' values.
ADDITIVE = frozenset(
    {
        "contacts_created",
        "stage_entries",
        "deals_created",
        "pipeline_created",
        "deals_won",
        "deals_lost",
        "closed_won_revenue",
        "emails_sent",
        "email_sent",
        "spend",
        "attributed_revenue",
        "web_visits",
        "web_new_contacts",
    }
)
TREND_LENGTH = 12
SNAPSHOT_TILES = (("Open pipeline", "open_pipeline"), ("Open deals", "open_deals"))


@dataclass(frozen=True)
class PeriodOption:
    label: str
    complete: bool


@dataclass(frozen=True)
class Point:
    label: str
    value: float | None
    complete: bool


@dataclass(frozen=True)
class Tile:
    title: str
    kpi: str
    unit: str
    value: float | None
    trend: tuple[Point, ...] = ()
    stale_since: str | None = None


@dataclass(frozen=True)
class Step:
    stage: str
    label: str
    entered: float | None
    conversion: float | None  # to the next stage (cohort of the period); None for the last


@dataclass(frozen=True)
class Line:
    """One row of the sources or the emails table: its code, label and values by column."""

    code: str
    label: str
    values: tuple[float | None, ...]
    units: tuple[str, ...]  # each value's unit, as its KPI rows say (`money:SEK`, `share`, …)


@dataclass(frozen=True)
class Outlook:
    """One forecast period as of the computation (docs/kpis.md, "Forecast"), each value with
    its horizon's backtested error."""

    label: str
    horizon: str
    revenue: float | None
    revenue_error: float | None
    customers: float | None
    customers_error: float | None


@dataclass
class Dashboard:
    connection: str
    currency: str
    grain: str
    grains: tuple[str, ...]
    periods: list[PeriodOption]
    selected: PeriodOption | None
    tiles: list[Tile] = field(default_factory=list)
    snapshots: list[Tile] = field(default_factory=list)
    funnel: list[Step] = field(default_factory=list)
    sources: list[Line] = field(default_factory=list)
    attribution: list[Line] = field(default_factory=list)
    emails: list[Line] = field(default_factory=list)
    forecast: list[Outlook] = field(default_factory=list)
    stale: dict[str, str] = field(default_factory=dict)  # family → stale since (ISO time)
    notice: str = ""


@dataclass
class _Cell:
    """A KPI's grid rows that fall in one period of the chosen grain."""

    rows: list[Mapping[str, Any]] = field(default_factory=list)

    def value(self, kpi: str) -> float | None:
        rows = self.rows
        if len(rows) == 1:
            return _num(rows[0].get("value"))
        nums = [_num(r.get("numerator")) for r in rows]
        dens = [_num(r.get("denominator")) for r in rows]
        if all(d is not None for d in dens):
            den = sum(d or 0.0 for d in dens)
            if all(n is not None for n in nums):
                return sum(n or 0.0 for n in nums) / den if den else None
            if kpi.endswith("_mean"):
                means = [_num(r.get("value")) or 0.0 for r in rows]
                weighted = sum(v * (d or 0.0) for v, d in zip(means, dens, strict=True))
                return weighted / den if den else None
        if kpi in ADDITIVE:
            values = [_num(r.get("value")) for r in rows]
            return None if all(v is None for v in values) else sum(v or 0.0 for v in values)
        return None


def _num(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


@dataclass
class _Span:
    """Which part of a grain's period the grid covers, and whether all of it had ended."""

    start: datetime  # the period's own bounds
    end: datetime
    first: datetime  # its grid periods' bounds
    last: datetime
    ended: bool

    @property
    def complete(self) -> bool:
        return self.ended and self.first <= self.start and self.last >= self.end


@dataclass
class _Grid:
    """Export rows indexed by (kpi, stage, dimension, value) → period label → cell."""

    tz: ZoneInfo
    grain: str
    currency: str
    cells: dict[tuple[str, str, str, str], dict[str, _Cell]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(_Cell))
    )
    snapshot: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    labels: dict[tuple[str, str], str] = field(default_factory=dict)  # (dimension, code) → label
    stage_labels: dict[str, str] = field(default_factory=dict)
    spans: dict[str, _Span] = field(default_factory=dict)
    stale: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)  # kpi → the unit its rows carry

    def add(self, row: Mapping[str, Any]) -> None:
        dim, code = str(row["dimension"]), str(row["dimension_value"])
        self.labels[(dim, code)] = str(row.get("dimension_label") or code)
        stage = str(row.get("stage") or "")
        if stage:
            self.stage_labels[stage] = str(row.get("stage_label") or stage)
        self.units[str(row["kpi"])] = str(row["unit"])
        if row.get("stale_since"):
            self.stale[str(row["family"])] = str(row["stale_since"])
        if not row.get("period_start"):
            if dim == "all" and not stage:
                self.snapshot[str(row["kpi"])] = row
            return
        start = datetime.fromisoformat(str(row["period_start"]))
        end = datetime.fromisoformat(str(row["period_end"]))
        bucket = period_of_day(self.grain, start.date(), self.tz)
        span = self.spans.get(bucket.label)
        if span is None:
            self.spans[bucket.label] = _Span(bucket.start, bucket.end, start, end, bool(row["complete"]))
        else:
            span.first, span.last = min(span.first, start), max(span.last, end)
            span.ended = span.ended and bool(row["complete"])
        self.cells[(str(row["kpi"]), stage, dim, code)][bucket.label].rows.append(row)

    def options(self) -> list[PeriodOption]:
        """The grain's periods, oldest first; one the grid covers only in part is not complete."""
        return [PeriodOption(label, self.spans[label].complete) for label in sorted(self.spans)]

    def value(
        self, kpi: str, period: str, *, stage: str = "", dim: str = "all", code: str = "all"
    ) -> float | None:
        cell = self.cells.get((kpi, stage, dim, code), {}).get(period)
        return cell.value(kpi) if cell is not None else None

    def unit(self, kpi: str) -> str:
        """The KPI's unit as its rows carry it; for a KPI without rows (no value to show), the
        declared one in the computation's currency."""
        declared = KPI_UNITS[kpi]
        return self.units.get(kpi) or (
            f"{declared}:{self.currency}" if declared.startswith("money") else declared
        )

    def codes(self, dim: str, kpi: str, *, stage: str = "") -> set[str]:
        """The values of `dim` the KPI has rows for (any stage when `stage` is "" or "*")."""
        return {
            c for (k, s, d, c) in self.cells if d == dim and k == kpi and (stage in ("", "*") or s == stage)
        }


def _tile_specs(stages: Sequence[str], labels: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(title, kpi, stage) of the headline tiles, in reading order."""
    first, last = stages[0], stages[-1]
    mql = "marketingqualifiedlead"
    specs = [("New contacts", "contacts_created", "")]
    if mql in stages:
        specs.append((f"New: {labels.get(mql, mql)}", "stage_entries", mql))
    specs += [
        (f"New: {labels.get(last, last)}", "stage_entries", last),
        (f"{labels.get(first, first)} → {labels.get(last, last)}", "stage_conversion", step(first, last)),
        ("Won revenue", "closed_won_revenue", ""),
        ("Pipeline created", "pipeline_created", ""),
        ("Win rate", "win_rate", ""),
        ("Days to close (mean)", "days_to_close_mean", ""),
        ("Email open rate", "email_open_rate", ""),
        ("Email click rate", "email_click_rate", ""),
        ("CAC", "cac", ""),
        ("ROI", "roi", ""),
    ]
    return specs


# The columns of the sources and the emails tables: (heading, kpi, stage; "*" = the last stage).
SOURCE_COLUMNS = (
    ("New contacts", "contacts_created", ""),
    ("New customers", "stage_entries", "*"),
    ("Won revenue", "closed_won_revenue", ""),
    ("Win rate", "win_rate", ""),
)
# Won revenue by channel under four of the attribution models (docs/kpis.md, "Attribution").
ATTRIBUTION_COLUMNS = (
    ("First touch", "attributed_revenue", "first_touch"),
    ("Linear", "attributed_revenue", "linear"),
    ("W-shaped", "attributed_revenue", "w_shaped"),
    ("Last touch", "attributed_revenue", "last_touch"),
)
EMAIL_COLUMNS = (
    ("Recipients", "email_sent", ""),
    ("Open rate", "email_open_rate", ""),
    ("Click rate", "email_click_rate", ""),
)
# The dimensions the page reads (the tiles and funnel `all`, the two tables theirs).
PAGE_DIMENSIONS = frozenset({"all", "source", "email"})
PAGE_KPIS = frozenset(
    {kpi for _, kpi, _ in SOURCE_COLUMNS + EMAIL_COLUMNS + ATTRIBUTION_COLUMNS}
    | {"stage_entries", "stage_conversion", "closed_won_revenue", "pipeline_created"}
    | {"win_rate", "days_to_close_mean", "email_open_rate", "email_click_rate", "cac", "roi"}
    | {kpi for _, kpi in SNAPSHOT_TILES}
    | {"forecast_won_revenue", "forecast_error_won_revenue"}
    | {"forecast_new_customers", "forecast_error_new_customers"}
)


def build_dashboard(
    rows: Iterable[Mapping[str, Any]],
    *,
    connection: str,
    currency: str,
    tz: ZoneInfo,
    grid: str,
    stages: Sequence[str],
    grain: str | None = None,
    period: str | None = None,
) -> Dashboard:
    """The page's view of one computation (export rows, service/exports.export_rows) at `grain`
    (default: the grid's) and `period` (default: the latest complete one)."""
    grains = NESTS[grid]
    notice = ""
    if grain not in grains:
        if grain is not None:
            notice = f"{grain} is not available on a {grid} grid; showing {grid}s."
        grain = grid
    index = _Grid(tz, grain, currency)
    ahead: list[Mapping[str, Any]] = []
    for row in rows:
        if row["family"] == "forecast":  # future periods: not choices of the period selector
            ahead.append(row)
            continue
        index.add(row)
    options = index.options()
    by_label = {o.label: o for o in options}
    selected = by_label.get(period or "")
    if selected is None:
        if period and not notice:
            notice = f"No {grain} {period} in this computation; showing the latest complete {grain}."
        ended = [o for o in options if o.complete]
        selected = ended[-1] if ended else (options[-1] if options else None)
    board = Dashboard(
        connection, currency, grain, grains, options, selected, stale=dict(index.stale), notice=notice
    )
    board.forecast = _forecast(ahead)
    for title, kpi in SNAPSHOT_TILES:
        found = index.snapshot.get(kpi)
        value = _num(found.get("value")) if found is not None else None
        board.snapshots.append(Tile(title, kpi, index.unit(kpi), value))
    if selected is None:
        return board
    _fill(board, index, selected.label, stages)
    return board


def _forecast(rows: Iterable[Mapping[str, Any]]) -> list[Outlook]:
    """The forecast's periods (current and coming) with their totals and errors."""
    found: dict[tuple[str, str], dict[str, float | None]] = defaultdict(dict)
    for row in rows:
        if (
            row["dimension"] == "all"
            and row.get("period_label")
            and str(row.get("stage", "")).startswith("h")
        ):
            found[str(row["period_label"]), str(row["stage"])][str(row["kpi"])] = _num(row.get("value"))
    return [
        Outlook(
            label,
            horizon,
            values.get("forecast_won_revenue"),
            values.get("forecast_error_won_revenue"),
            values.get("forecast_new_customers"),
            values.get("forecast_error_new_customers"),
        )
        for (label, horizon), values in sorted(found.items())
        if "forecast_won_revenue" in values
    ]


def _fill(board: Dashboard, index: _Grid, label: str, stages: Sequence[str]) -> None:
    """Tiles, funnel, sources and emails of the selected period."""
    labels = index.stage_labels
    window = [o for o in board.periods if o.label <= label][-TREND_LENGTH:]
    for title, kpi, stage in _tile_specs(stages, labels):
        if (kpi, stage, "all", "all") not in index.cells:
            continue
        trend = tuple(Point(o.label, index.value(kpi, o.label, stage=stage), o.complete) for o in window)
        board.tiles.append(
            Tile(
                title,
                kpi,
                index.unit(kpi),
                index.value(kpi, label, stage=stage),
                trend,
                board.stale.get(FAMILIES[kpi]),
            )
        )
    for i, stage in enumerate(stages):
        nxt = stages[i + 1] if i + 1 < len(stages) else None
        conversion = index.value("stage_conversion", label, stage=step(stage, nxt)) if nxt else None
        entered = index.value("stage_entries", label, stage=stage)
        board.funnel.append(Step(stage, labels.get(stage, stage), entered, conversion))
    board.sources = _lines(index, "source", label, SOURCE_COLUMNS, stages[-1], rank=(1, 2, 0))
    board.emails = _lines(index, "email", label, EMAIL_COLUMNS, stages[-1], rank=(0,))
    board.attribution = _lines(index, "source", label, ATTRIBUTION_COLUMNS, stages[-1], rank=(1,))


def _lines(
    index: _Grid,
    dim: str,
    label: str,
    columns: Sequence[tuple[str, str, str]],
    last_stage: str,
    *,
    rank: tuple[int, ...],
) -> list[Line]:
    """The top ten of a breakdown in the period, largest first by the `rank` columns."""
    lines = []
    for code in index.codes(dim, columns[0][1], stage=columns[0][2]):
        values = tuple(
            index.value(kpi, label, stage=last_stage if stage == "*" else stage, dim=dim, code=code)
            for _, kpi, stage in columns
        )
        if any(v for v in values):
            units = tuple(index.unit(kpi) for _, kpi, _ in columns)
            lines.append(Line(code, index.labels.get((dim, code), code), values, units))
    lines.sort(key=lambda line: (*(-(line.values[i] or 0.0) for i in rank), line.label))
    return lines[:10]
