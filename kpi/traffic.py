"""Website KPIs from HubSpot's web analytics, and personas (definitions: docs/kpis.md).

Pure functions over `KpiInputs.traffic` (daily rows) and `KpiInputs.persona_created`. A day
belongs to the grid period whose local dates contain it (analytics days are dates of the portal's
calendar). Without any analytics row (the portal has no analytics, or the token lacks the scope)
no website KPI is produced at all, rather than rows of zeros.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import date

from kpi.inputs import KpiInputs, TrafficRow
from kpi.model import ALL, Dim, KpiValue, Where, count, ratio
from kpi.periods import Period

# Source drill-downs (report → dimension name).
DRILL_DIMS = {
    "sources:SOCIAL_MEDIA": "social_network",
    "sources:PAID_SOCIAL": "paid_social_network",
    "sources:ORGANIC_SEARCH": "search_engine",
}
CONTENT_REPORTS = ("landing-pages", "standard-pages", "blog-posts")
ORGANIC = "ORGANIC_SEARCH"
TOP_ENTRY_PAGES = 5


@dataclass
class _Sums:
    """Counters of one breakdown summed over a period's days."""

    visits: int = 0
    visitors: int = 0
    contacts: int = 0
    leads: int = 0
    customers: int = 0
    raw_views: int = 0
    submissions: int = 0
    entrances: int = 0

    def add(self, row: TrafficRow | _Sums) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(row, f.name))


class DayGrid:
    """Which grid period a calendar day falls in (periods are contiguous and ordered)."""

    def __init__(self, periods: list[Period]) -> None:
        self.starts = [p.start.date() for p in periods]
        self.end = periods[-1].end.date() if periods else date.min

    def index(self, day: date) -> int | None:
        if not self.starts or day < self.starts[0] or day >= self.end:
            return None
        return bisect.bisect_right(self.starts, day) - 1


def _summed(inputs: KpiInputs) -> dict[tuple[int, str, str], tuple[_Sums, str | None]]:
    """(period, report, breakdown) → summed counters and the breakdown's meta (a page's URL)."""
    grid = DayGrid(inputs.periods)
    out: dict[tuple[int, str, str], tuple[_Sums, str | None]] = {}
    for row in inputs.traffic:
        i = grid.index(row.day)
        if i is None:
            continue
        key = (i, row.report, row.breakdown)
        if key not in out:
            out[key] = (_Sums(), row.meta)
        out[key][0].add(row)
    return out


def traffic_kpis(inputs: KpiInputs) -> list[KpiValue]:
    if not inputs.traffic or not inputs.periods:
        return []
    summed = _summed(inputs)
    by_period: dict[int, dict[str, dict[str, tuple[_Sums, str | None]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for (i, report, breakdown), value in summed.items():
        by_period[i][report][breakdown] = value
    has_totals = any(row.report == "totals" for row in inputs.traffic)
    out: list[KpiValue] = []
    for i, period in enumerate(inputs.periods):
        reports = by_period.get(i, {})
        sources = {k: v[0] for k, v in reports.get("sources", {}).items()}
        site = _Sums()
        for sums, _ in reports.get("totals" if has_totals else "sources", {}).values():
            site.add(sums)
        out.extend(_chain(period, ALL, site, site_visits=None))
        for source, sums in sorted(sources.items()):
            out.extend(_chain(period, Dim("source", source), sums, site_visits=site.visits))
        for report, dim_name in DRILL_DIMS.items():
            for drill, (drilled, _) in sorted(reports.get(report, {}).items()):
                out.extend(_chain(period, Dim(dim_name, drill), drilled, site_visits=site.visits, drill=True))
        organic = sources.get(ORGANIC, _Sums()).visits
        out.append(ratio("organic_traffic_share", organic, site.visits, period=period))
        out.extend(_landing_pages(period, reports.get("landing-pages", {}), inputs.landing_page_min_views))
        out.extend(_entry_pages(period, [reports.get(r, {}) for r in CONTENT_REPORTS]))
    return out


def _chain(
    period: Period, dim: Dim, s: _Sums, *, site_visits: int | None, drill: bool = False
) -> list[KpiValue]:
    """Sales from marketing, the web part: visits → new contacts → customers, side by side with
    their rates (closed-won revenue per source is the pipeline family's `closed_won_revenue`)."""
    where: Where = {"period": period, "dim": dim}
    out = [
        count("web_visits", s.visits, **where),
        count("web_new_contacts", s.contacts, **where),
        count("web_leads", s.leads, **where),
        count("web_customers", s.customers, **where),
        ratio("visit_to_contact_rate", s.contacts, s.visits, **where),
        ratio("web_contact_to_customer_rate", s.customers, s.contacts, **where),
    ]
    if not drill:
        # Unique visitors come with sources and totals; drill-downs are read for sessions.
        out += [
            count("web_visitors", s.visitors, **where),
            ratio("visitor_to_lead_rate", s.contacts, s.visitors, **where),
            ratio("visitors_per_customer", s.visitors, s.customers, unit="count", **where),
        ]
    if site_visits is not None:
        out.append(ratio("traffic_share", s.visits, site_visits, **where))
    return out


def _page_name(breakdown: str, meta: str | None) -> str:
    return (meta or breakdown)[:200]


def _landing_pages(
    period: Period, pages: dict[str, tuple[_Sums, str | None]], min_views: int
) -> list[KpiValue]:
    """Submissions / views per landing page and overall, with the best and worst page among those
    with at least `min_views` views."""
    out: list[KpiValue] = []
    views = sum(s.raw_views for s, _ in pages.values())
    submissions = sum(s.submissions for s, _ in pages.values())
    out.append(count("landing_page_views", views, period=period))
    out.append(count("landing_page_submissions", submissions, period=period))
    out.append(ratio("landing_page_conversion_rate", submissions, views, period=period))
    ranked: list[KpiValue] = []
    for breakdown, (s, meta) in sorted(pages.items()):
        dim = Dim("landing_page", _page_name(breakdown, meta))
        out.append(count("landing_page_views", s.raw_views, period=period, dim=dim))
        out.append(count("landing_page_submissions", s.submissions, period=period, dim=dim))
        rate = ratio("landing_page_conversion_rate", s.submissions, s.raw_views, period=period, dim=dim)
        out.append(rate)
        if rate.value is not None and s.raw_views >= min_views:
            ranked.append(rate)
    if ranked:
        ranked.sort(key=lambda v: (v.value or 0.0, v.dim.value))
        for stage, best in (("worst", ranked[0]), ("best", ranked[-1])):
            out.append(replace(best, stage=stage))
    return out


def _entry_pages(period: Period, reports: Iterable[dict[str, tuple[_Sums, str | None]]]) -> list[KpiValue]:
    """The five pages most sessions started on (every content type), with the share of those
    entrances that ended as a new contact on the page; stage = rank."""
    pages = [
        (s, _page_name(b, meta)) for report in reports for b, (s, meta) in report.items() if s.entrances > 0
    ]
    pages.sort(key=lambda p: (-p[0].entrances, p[1]))
    out: list[KpiValue] = []
    for rank, (s, name) in enumerate(pages[:TOP_ENTRY_PAGES], start=1):
        where: Where = {"period": period, "dim": Dim("entry_page", name), "stage": str(rank)}
        out.append(count("entry_page_entrances", s.entrances, **where))
        out.append(ratio("entry_page_conversion_rate", s.contacts, s.entrances, **where))
    return out


def persona_kpis(inputs: KpiInputs) -> list[KpiValue]:
    """New contacts per persona (every persona the portal defines, zeros included) and the share
    that matches the priority personas."""
    if not inputs.persona_created and not inputs.personas:
        return []
    created: dict[tuple[int, str], int] = defaultdict(int)
    for cell in inputs.persona_created:
        created[cell.period, cell.persona] += cell.n
    names = list(dict.fromkeys([*inputs.personas, *sorted({p for _, p in created})]))
    priority = set(inputs.priority_personas)
    out: list[KpiValue] = []
    for i, period in enumerate(inputs.periods):
        total = sum(n for (j, _), n in created.items() if j == i)
        for persona in names:
            out.append(
                count(
                    "contacts_created",
                    created.get((i, persona), 0),
                    period=period,
                    dim=Dim("persona", persona),
                )
            )
        if priority:
            hits = sum(n for (j, p), n in created.items() if j == i and p in priority)
            out.append(ratio("priority_persona_share", hits, total, period=period))
    return out
