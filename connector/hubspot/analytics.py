"""HubSpot web analytics: the Reporting API v2 (`GET /analytics/v2/reports/{breakdown_by}/{time_period}`).

Daily rows of a fixed set of reports (totals, sources, source drill-downs, UTM campaigns, landing
pages, site pages, blog posts). A daily response is an object keyed by date, each date holding
that day's breakdown rows; `limit`/`offset` page through the rows of every date at once, so a
response in which some date holds `limit` rows is followed by the next offset. At most 500 time
points may be asked for at once (413 RESULT_POINT_LIMIT_EXCEEDED), so the days are read in
windows of `WINDOW_DAYS`.

HubSpot revises the newest days, so an incremental sync reads again from the last day it read
minus `analytics_lookback_days`, at most every `analytics_minutes`. Each page is every day of one
report in one window, stated completely (storage replaces the day's rows). A portal without the
`business-intelligence` scope (or the Marketing Hub tier the API needs) syncs no analytics
instead of failing the run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from config import HubSpotSettings
from connector.errors import MalformedResponseError
from connector.hubspot.client import HubSpotClient
from connector.hubspot.wire import due
from connector.records import Fields, Issue, Normalized, raw_text, record_key
from connector.stream import Page, Stream

log = logging.getLogger("funnelsync.connector.hubspot")

# Days per request: well under the API's 500 time points, and responses of a few hundred kB.
WINDOW_DAYS = 90
ANALYTICS_PAGE = 100
# More offset pages than this for one window means the API ignores `offset`: stop, do not loop.
MAX_OFFSET_PAGES = 200


@dataclass(frozen=True)
class Report:
    """One report as stored (`name`) and how it is asked for."""

    name: str
    breakdown_by: str
    time_period: str = "daily"
    d1: str | None = None


REPORTS: tuple[Report, ...] = (
    # The site's totals (visitors are not additive over sources, so they are read as such).
    Report("totals", "totals", "summarize/daily"),
    Report("sources", "sources"),
    Report("sources:SOCIAL_MEDIA", "sources", d1="SOCIAL_MEDIA"),
    Report("sources:PAID_SOCIAL", "sources", d1="PAID_SOCIAL"),
    Report("sources:ORGANIC_SEARCH", "sources", d1="ORGANIC_SEARCH"),
    Report("utm-campaigns", "utm-campaigns"),
    Report("landing-pages", "landing-pages"),
    Report("standard-pages", "standard-pages"),
    Report("blog-posts", "blog-posts"),
)


def _ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


class WebAnalyticsStream(Stream[HubSpotClient]):
    """Daily web analytics rows; see the module docstring."""

    name = "web_analytics"
    cursor_key = "through"
    optional = True
    scopes = (("business-intelligence",),)
    endpoints = ("analytics",)

    def __init__(self, settings: HubSpotSettings, *, page_size: int = ANALYTICS_PAGE) -> None:
        self.settings = settings
        self.page_size = page_size

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        window = state.get("window")
        through = state.get("through")
        # HubSpot processes analytics in batches: reading them every few minutes buys nothing.
        minutes = self.settings.analytics_minutes
        if not self.settings.web_analytics or not (
            isinstance(window, dict) or due(client, state.get("read_at"), minutes, full=full)
        ):
            yield Page(self.name, [], dict(state))
            return
        now = client.server_now()
        if not isinstance(window, dict):
            today = now.date()
            if full or not through:
                start = today - timedelta(days=self.settings.analytics_days - 1)
            else:
                start = date.fromisoformat(through) - timedelta(days=self.settings.analytics_lookback_days)
                start = min(start, today)
            window = {
                "start": start.isoformat(),
                "end": today.isoformat(),
                "at": start.isoformat(),
                "report": 0,
            }
        end = date.fromisoformat(window["end"])
        at = date.fromisoformat(window["at"])
        report_index = int(window["report"])
        # Without the `business-intelligence` scope (403) the stream ends `unavailable`.
        while at <= end:
            upto = min(at + timedelta(days=WINDOW_DAYS - 1), end)
            for index in range(report_index, len(REPORTS)):
                records = self._read(client, REPORTS[index], at, upto)
                if index + 1 < len(REPORTS):
                    nxt = {**window, "at": at.isoformat(), "report": index + 1}
                else:
                    nxt = {**window, "at": (upto + timedelta(days=1)).isoformat(), "report": 0}
                last = index + 1 == len(REPORTS) and upto >= end
                if last:
                    checkpoint: dict[str, Any] = {
                        "through": window["end"],
                        "window": None,
                        "read_at": now.isoformat(),
                    }
                else:
                    checkpoint = {**state, "through": through, "window": nxt}
                yield Page(self.name, records, checkpoint)
            report_index = 0
            at = upto + timedelta(days=1)

    def parse(self, page: Page) -> Normalized:
        return normalize_web_analytics(page.records)

    def _read(self, client: HubSpotClient, report: Report, first: date, last: date) -> list[dict[str, Any]]:
        """Every row of every day of `report` in [first, last]: one record per day."""
        path = client.paths.path(
            "analytics", breakdown_by=report.breakdown_by, time_period=report.time_period
        )
        days: dict[str, list[Any]] = {}
        offset = 0
        for _ in range(MAX_OFFSET_PAGES):
            params: dict[str, Any] = {"start": _ymd(first), "end": _ymd(last), "limit": self.page_size}
            if offset:
                params["offset"] = offset
            if report.d1:
                params["d1"] = report.d1
            body = client.get(path, params=params)
            if not isinstance(body, dict):
                raise MalformedResponseError("analytics response is not an object keyed by date", path=path)
            full_day = False
            for day, rows in body.items():
                if not isinstance(rows, list):
                    # Kept as sent: the parser quarantines the day with the reason.
                    days.setdefault(str(day), rows)
                    continue
                days.setdefault(str(day), []).extend(rows)
                full_day = full_day or len(rows) >= self.page_size
            if not full_day or report.time_period.startswith("summarize/"):
                break
            offset += self.page_size
        else:
            raise MalformedResponseError(
                f"analytics paging did not end after {MAX_OFFSET_PAGES} offsets ({report.name})", path=path
            )
        return [{"report": report.name, "day": day, "rows": rows} for day, rows in sorted(days.items())]


# Reporting API v2 counters → columns of hubspot_analytics_rows.
ANALYTICS_COUNTERS = {
    "visits": "visits",
    "visitors": "visitors",
    "rawViews": "raw_views",
    "contacts": "contacts",
    "subscribers": "subscribers",
    "leads": "leads",
    "marketingQualifiedLeads": "marketing_qualified_leads",
    "salesQualifiedLeads": "sales_qualified_leads",
    "opportunities": "opportunities",
    "customers": "customers",
    "submissions": "submissions",
    "entrances": "entrances",
    "exits": "exits",
}
# Summarized reports (totals) have no `breakdown`: their one row is stored under this name.
TOTAL_BREAKDOWN = "total"


def _day_of(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value is not None else None
    except ValueError:
        return None


def normalize_web_analytics(records: Iterable[Any]) -> Normalized:
    """Report days (`{"report", "day", "rows"}`, see connector.hubspot.analytics) into one entity per
    day and one child row per breakdown. A day whose date or rows cannot be read is rejected
    whole; a row without a breakdown is quarantined and left out; a counter that is not a whole
    number >= 0 is quarantined and stored as None (the rest of the row is kept)."""
    out = Normalized()
    for record in records:
        report = record.get("report") if isinstance(record, dict) else None
        day = _day_of(record.get("day")) if isinstance(record, dict) else None
        rows = record.get("rows") if isinstance(record, dict) else None
        if not isinstance(report, str) or day is None or not isinstance(rows, list):
            reason = "analytics day without a report name, a YYYY-MM-DD date or a list of rows"
            out.issues.append(Issue(record_key(record), "*", raw_text(record), reason))
            out.rejected += 1
            continue
        f = Fields(f"{report}|{day.isoformat()}", out.issues)
        kept: dict[str, dict[str, Any]] = {}
        for position, row in enumerate(rows):
            if not isinstance(row, dict):
                f.flag(f"rows[{position}]", row, "row is not a JSON object")
                continue
            raw_key = row.get("breakdown", TOTAL_BREAKDOWN if len(rows) == 1 else None)
            if raw_key is None or str(raw_key).strip() == "":
                f.flag(f"rows[{position}]", raw_text(row), "row has no breakdown")
                continue
            key = str(raw_key)[:500]
            child: dict[str, Any] = {
                "day_id": f.record_id,
                "breakdown": key,
                "report": report,
                "day": day,
                "meta": None if row.get("meta") is None else str(row["meta"]),
                "raw": row,
            }
            for name, column in ANALYTICS_COUNTERS.items():
                value = row.get(name)
                if value is None:
                    child[column] = None
                elif (
                    isinstance(value, int | float)
                    and not isinstance(value, bool)
                    and value >= 0
                    and value == int(value)
                ):
                    child[column] = int(value)
                else:
                    f.flag(f"{key[:150]}.{name}", value, "counter is not a whole number >= 0")
                    child[column] = None
            kept.setdefault(key, child)  # a breakdown repeated by overlapping pages counts once
        out.entities.append({"id": f.record_id, "report": report, "day": day, "breakdowns": len(kept)})
        out.children.extend(kept.values())
    return out
