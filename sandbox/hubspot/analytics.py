"""Web analytics of a sandbox portal, served the way HubSpot's Reporting API v2 answers
`GET /analytics/v2/reports/{breakdown_by}/{time_period}`.

Everything is derived from the portal's live contacts, so the figures agree with the CRM: a
day's `contacts` for a source are the contacts created that day (UTC, the sandbox portal's time
zone) whose original source (`hs_analytics_source`) it is, and `leads` … `customers` count the
contacts whose stage-entry property (`hs_v2_date_entered_<stage>`) falls on that day. Sessions,
visitors and page views are modelled around those contacts with a fixed pseudo-random noise per
(day, breakdown), so a report read twice gives the same numbers. Like HubSpot, the newest days
are revised: today's sessions show about 60 % and yesterday's about 90 % of their final count.
Offline sources have contacts but no sessions.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.hubspot.model import SandboxError
from sandbox.hubspot.report_rows import buckets, date_param, source_name, sum_rows, with_rates
from sandbox.hubspot.site import FORM_PAGES, SESSION_TO_CONTACT, SITE, pick, slug, split, unit
from sandbox.hubspot.store import PortalStore

# HubSpot answers 413 RESULT_POINT_LIMIT_EXCEEDED above this many time points.
MAX_TIME_POINTS = 500
DEFAULT_LIMIT = 100
# The sandbox's own cap on `limit` (HubSpot's is not documented).
MAX_LIMIT = 1000

BREAKDOWNS = ("totals", "sources", "utm-campaigns", "landing-pages", "standard-pages", "blog-posts")
CONTENT_TYPES = ("landing-pages", "standard-pages", "blog-posts")
TIME_PERIODS = ("total", "daily", "weekly", "monthly")
STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
STAGE_COUNTERS = {
    "subscriber": "subscribers",
    "lead": "leads",
    "marketingqualifiedlead": "marketingQualifiedLeads",
    "salesqualifiedlead": "salesQualifiedLeads",
    "opportunity": "opportunities",
    "customer": "customers",
}
# Sources whose first drill-down value is a UTM campaign.
CAMPAIGN_SOURCES = ("PAID_SEARCH", "PAID_SOCIAL", "EMAIL_MARKETING", "OTHER_CAMPAIGNS")
# How far HubSpot's numbers for a day are from final, by the day's age in days.
SETTLING = {0: 0.6, 1: 0.9}
# Days of new contacts that set a day's baseline traffic per source.
BASELINE_DAYS = 28


def _day(value: Any) -> date | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC).date()
    except ValueError:
        return None


@dataclass
class _Facts:
    """What the CRM says happened each day, per breakdown: contacts created and stage entries."""

    # day -> breakdown key -> counter name -> n. Keys: ("sources", SOURCE),
    # ("sources:SOURCE", drill value), ("utm-campaigns", campaign), ("form", page id): the form
    # the contact converted on, ("entry", page id): the page its first session entered on.
    cells: dict[date, dict[tuple[str, str], Counter[str]]]
    # Contacts created per source over the whole history (which sources the reports list).
    per_source: Counter[str]
    first_day: date | None
    # Every value each drill-down has ever had (so a quiet day still lists it), by key kind.
    values: dict[str, set[str]]
    # Rows already worked out from these facts (never changed by their readers): every window of
    # every read asks for its days again, and a day's sources are the base of its other reports.
    # Kept with the facts, so a request still working on replaced facts cannot serve stale rows.
    memo: dict[tuple[Any, ...], Any] = field(default_factory=dict)


class WebAnalytics:
    """Reports of one sandbox portal (rebuilt from the contacts whenever they change)."""

    def __init__(self, store: PortalStore, *, seed: int = 1) -> None:
        self.store = store
        self.seed = seed
        self._facts: _Facts | None = None
        self._generation = -1

    # -- what the CRM says -------------------------------------------------------------------

    def facts(self) -> _Facts:
        with self.store.lock:
            if self._facts is None or self._generation != self.store.generation:
                self._facts = self._build()
                self._generation = self.store.generation
            return self._facts

    def _remembered(self, facts: _Facts, key: tuple[Any, ...], work: Callable[[], Any]) -> Any:
        """`work()` once per key and set of facts."""
        found = facts.memo.get(key)
        if found is None:
            found = facts.memo[key] = work()
        return found

    def _build(self) -> _Facts:
        cells: dict[date, dict[tuple[str, str], Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        per_source: Counter[str] = Counter()
        values: dict[str, set[str]] = defaultdict(set)
        first: date | None = None
        for record in self.store.objects["contacts"].values():
            if record.get("archived"):
                continue
            props = record["properties"]
            source = str(props.get("hs_analytics_source") or "OFFLINE")
            drill = props.get("hs_analytics_source_data_1")
            keys = [("sources", source)]
            if drill:
                keys.append((f"sources:{source}", str(drill)))
                if source in CAMPAIGN_SOURCES:
                    keys.append(("utm-campaigns", slug(str(drill))))
            created = _day(props.get("createdate")) or record["createdAt"].astimezone(UTC).date()
            per_source[source] += 1
            first = created if first is None or created < first else first
            day_cells = cells[created]
            for kind, value in keys:
                day_cells[kind, value]["contacts"] += 1
                values[kind].add(value)
            if source in SESSION_TO_CONTACT:
                form = pick(
                    FORM_PAGES,
                    [p.weight * (p.form_rate or 0.0) for p in FORM_PAGES],
                    unit(self.seed, "form", record["id"]),
                )
                day_cells[("form", str(form.id))]["contacts"] += 1
                entry = pick(SITE, [p.weight for p in SITE], unit(self.seed, "entry", record["id"]))
                day_cells[("entry", str(entry.id))]["contacts"] += 1
            for stage, counter in STAGE_COUNTERS.items():
                entered = _day(props.get(f"hs_v2_date_entered_{stage}"))
                if entered is not None:
                    for key in keys:
                        cells[entered][key][counter] += 1
        return _Facts(cells=cells, per_source=per_source, first_day=first, values=values)

    # -- one day's rows ----------------------------------------------------------------------

    def _settled(self, day: date) -> float:
        age = (self.store.clock.now().astimezone(UTC).date() - day).days
        return SETTLING.get(age, 1.0)

    def source_rows(self, day: date, facts: _Facts) -> dict[str, dict[str, Any]]:
        """The sources report's rows for one day, keyed by source."""
        key = ("sources", day, self._settled(day))
        found: dict[str, dict[str, Any]] = self._remembered(facts, key, lambda: self._source_rows(day, facts))
        return found

    def _source_rows(self, day: date, facts: _Facts) -> dict[str, dict[str, Any]]:
        cells = facts.cells.get(day, {})
        settled = self._settled(day)
        rows: dict[str, dict[str, Any]] = {}
        for source in sorted(set(SESSION_TO_CONTACT) | set(facts.per_source)):
            counts = cells.get(("sources", source), Counter())
            rate = SESSION_TO_CONTACT.get(source)
            visits = 0
            if rate is not None:
                # The day's baseline: the source's new contacts over the days up to it, so a past
                # day keeps its figures when the portal grows (as HubSpot's do).
                window = (day - timedelta(days=n) for n in range(BASELINE_DAYS))
                expected = (
                    sum(
                        facts.cells.get(d, {}).get(("sources", source), Counter())["contacts"] for d in window
                    )
                    / BASELINE_DAYS
                )
                base = max(counts["contacts"], 0.5 * (counts["contacts"] + expected))
                visits = round(base / rate * (0.85 + 0.3 * unit(self.seed, day, source)) * settled)
                visits = max(visits, counts["contacts"])
            if visits == 0 and not counts:
                continue
            rows[source] = self._traffic_row(source, visits, counts, day)
        return rows

    def _traffic_row(self, key: str, visits: int, counts: Counter[str], day: date) -> dict[str, Any]:
        noise = unit(self.seed, "shape", day, key)
        visitors = min(visits, round(visits * (0.72 + 0.1 * noise)))
        per_session = 1.6 + 1.4 * noise
        row: dict[str, Any] = {
            "breakdown": key,
            "visits": visits,
            "visitors": visitors,
            "rawViews": round(visits * per_session),
            "contacts": counts["contacts"],
            **{name: counts[name] for name in STAGE_COUNTERS.values()},
            "returningVisits": visits - round(visits * (0.6 + 0.3 * noise)),
            "pageviewsPerSession": round(per_session, 4) if visits else 0.0,
            "bounceRate": round(0.35 + 0.3 * noise, 4) if visits else 0.0,
            "timePerSession": round(40 + 200 * noise, 2) if visits else 0.0,
            "newVisitorSessionRate": round(0.6 + 0.3 * noise, 4) if visits else 0.0,
        }
        return with_rates(row)

    def drill_rows(self, day: date, source: str, facts: _Facts) -> dict[str, dict[str, Any]]:
        """A source's first drill-down (social networks, search engines, …) for one day: the
        source's sessions shared among its values in proportion to their contacts."""
        parent = self.source_rows(day, facts).get(source)
        if parent is None:
            return {}
        cells = facts.cells.get(day, {})
        prefix = f"sources:{source}"
        values = sorted(facts.values.get(prefix, ()))
        if not values:
            return {}
        weights = {v: 1.0 + 4.0 * cells.get((prefix, v), Counter())["contacts"] for v in values}
        visits = split(int(parent["visits"]), weights)
        rows = {}
        for value in values:
            counts = cells.get((prefix, value), Counter())
            share = max(visits[value], counts["contacts"])
            if share or counts:
                rows[value] = self._traffic_row(value, share, counts, day)
        return rows

    def campaign_rows(self, day: date, facts: _Facts) -> dict[str, dict[str, Any]]:
        """UTM campaigns: the campaign sources' sessions shared among their campaigns."""
        rows: dict[str, dict[str, Any]] = {}
        for source in CAMPAIGN_SOURCES:
            for value, row in self.drill_rows(day, source, facts).items():
                key = slug(value)
                row = {**row, "breakdown": key}
                rows[key] = sum_rows([rows[key], row], key) if key in rows else row
        return rows

    def page_rows(self, day: date, kind: str, facts: _Facts) -> dict[str, dict[str, Any]]:
        """Content of one type for one day: entrances are the day's sessions shared by page weight;
        form pages get the day's converting contacts as submissions."""
        site_visits = sum(int(r["visits"]) for r in self.source_rows(day, facts).values())
        weights = {str(p.id): p.weight * (0.8 + 0.4 * unit(self.seed, "w", day, p.id)) for p in SITE}
        entrances = split(site_visits, weights)
        cells = facts.cells.get(day, {})
        rows = {}
        for page in SITE:
            if page.kind != kind:
                continue
            pid = str(page.id)
            noise = unit(self.seed, "page", day, pid)
            contacts = cells.get(("entry", pid), Counter())["contacts"]
            converted = cells.get(("form", pid), Counter())["contacts"]
            submissions = converted + round(converted * 0.3 * noise) if page.form_rate else 0
            views = round(entrances[pid] * page.views_per_entrance + site_visits * page.weight * 0.2 * noise)
            if page.form_rate and submissions:
                views = max(views, math.ceil(submissions / (page.form_rate * (0.8 + 0.4 * noise))))
            if views == 0:
                continue
            exits = min(views, round(entrances[pid] * (0.7 + 0.3 * noise)))
            rows[pid] = {
                "breakdown": pid,
                "meta": page.url,
                "rawViews": views,
                "entrances": entrances[pid],
                "exits": exits,
                "submissions": submissions,
                # New contacts whose first session entered here (a page's contacts in HubSpot's
                # content reports), whether or not they converted on this page.
                "contacts": contacts,
                "leads": contacts,
                "ctaViews": round(views * 0.4 * noise),
                "timePerPageview": round(20 + 90 * noise, 2),
                "pageBounceRate": round(0.3 + 0.4 * noise, 4),
                "exitsPerPageview": round(exits / views, 4),
            }
        return rows

    def rows(self, breakdown_by: str, d1: str | None, day: date) -> list[dict[str, Any]]:
        """One day's rows of a report, largest first (sessions, or views for content); worked
        out once per set of facts (every window of every read asks for its days again)."""
        facts = self.facts()
        key = ("rows", breakdown_by, d1, day, self._settled(day))
        found: list[dict[str, Any]] = self._remembered(
            facts, key, lambda: self._day_rows(breakdown_by, d1, day, facts)
        )
        return found

    def _day_rows(self, breakdown_by: str, d1: str | None, day: date, facts: _Facts) -> list[dict[str, Any]]:
        if breakdown_by in CONTENT_TYPES:
            found = self.page_rows(day, breakdown_by, facts)
            return sorted(found.values(), key=lambda r: (-r["rawViews"], r["breakdown"]))
        if breakdown_by == "utm-campaigns":
            found = self.campaign_rows(day, facts)
        elif breakdown_by == "sources" and d1:
            found = self.drill_rows(day, source_name(d1), facts)
        else:
            found = self.source_rows(day, facts)
            if breakdown_by == "totals":
                return [sum_rows(found.values(), "totals")] if found else []
        return sorted(found.values(), key=lambda r: (-r["visits"], r["breakdown"]))

    # -- the endpoint ------------------------------------------------------------------------

    def report(
        self,
        breakdown_by: str,
        time_period: str,
        *,
        start: str | None,
        end: str | None,
        d1: str | None = None,
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
    ) -> Any:
        if breakdown_by not in BREAKDOWNS:
            raise SandboxError(
                400,
                "VALIDATION_ERROR",
                f"Invalid breakdown: {breakdown_by} (the sandbox serves {BREAKDOWNS})",
            )
        summarize = time_period.startswith("summarize/")
        period = time_period.removeprefix("summarize/")
        if period not in TIME_PERIODS or (summarize and period == "total"):
            raise SandboxError(400, "VALIDATION_ERROR", f"Invalid time period: {time_period}")
        first, last = date_param("start", start), date_param("end", end)
        if last < first:
            raise SandboxError(400, "VALIDATION_ERROR", "end must not be before start")
        if limit < 1 or offset < 0:
            raise SandboxError(400, "VALIDATION_ERROR", "limit must be positive and offset not negative")
        limit = min(limit, MAX_LIMIT)
        today = self.store.clock.now().astimezone(UTC).date()
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        if period == "total":
            return self._total(breakdown_by, d1, [d for d in days if d <= today], limit, offset)
        points = buckets(days, period)
        if len(points) > MAX_TIME_POINTS:
            raise SandboxError(
                413,
                "RESULT_POINT_LIMIT_EXCEEDED",
                f"Too many time points ({len(points)} > {MAX_TIME_POINTS}); narrow the range or use a "
                "wider time period",
            )
        body: dict[str, list[dict[str, Any]]] = {}
        for key, members in points.items():
            found = self._aggregate(breakdown_by, d1, [d for d in members if d <= today])
            if summarize or breakdown_by == "totals":
                body[key.isoformat()] = [sum_rows(found, "")] if found else []
            else:
                body[key.isoformat()] = found[offset : offset + limit]
        return body

    def _aggregate(self, breakdown_by: str, d1: str | None, days: Iterable[date]) -> list[dict[str, Any]]:
        by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for day in days:
            for row in self.rows(breakdown_by, d1, day):
                by_key[row["breakdown"]].append(row)
        rows = [sum_rows(parts, key) for key, parts in by_key.items()]
        size = "rawViews" if breakdown_by in CONTENT_TYPES else "visits"
        return sorted(rows, key=lambda r: (-r.get(size, 0), r["breakdown"]))

    def _total(
        self, breakdown_by: str, d1: str | None, days: list[date], limit: int, offset: int
    ) -> dict[str, Any]:
        rows = self._aggregate(breakdown_by, d1, days)
        page = rows[offset : offset + limit]
        return {
            "breakdowns": page,
            "offset": offset + len(page),
            "total": len(rows),
            "totals": {k: v for k, v in sum_rows(rows, "").items() if k not in ("breakdown", "meta")},
        }
