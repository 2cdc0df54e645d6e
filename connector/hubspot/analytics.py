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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from config import HubSpotSettings
from connector.errors import MalformedResponseError, PermissionDeniedError
from connector.hubspot.client import HubSpotClient
from connector.pagination import Page

log = logging.getLogger("funnelsync.connector.hubspot")

ANALYTICS_PATH = "/analytics/v2/reports/{breakdown_by}/{time_period}"
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


class WebAnalyticsStream:
    """Daily web analytics rows; see the module docstring."""

    name = "web_analytics"

    def __init__(self, settings: HubSpotSettings, *, page_size: int = ANALYTICS_PAGE) -> None:
        self.settings = settings
        self.page_size = page_size

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        window = state.get("window")
        through = state.get("through")
        if not self.settings.web_analytics or not (
            isinstance(window, dict) or self.due(client, state, full=full)
        ):
            yield Page(self.name, [], dict(state), final=True)
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
        try:
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
                            "unavailable": None,
                        }
                    else:
                        checkpoint = {**state, "through": through, "window": nxt, "unavailable": None}
                    yield Page(self.name, records, checkpoint, final=last)
                report_index = 0
                at = upto + timedelta(days=1)
        except PermissionDeniedError as exc:
            log.warning("web analytics not synced: %s", exc.detail)
            yield Page(
                self.name, [], {"through": through, "window": None, "unavailable": exc.detail}, final=True
            )

    def due(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> bool:
        """A full sync always reads; an incremental one at most every `analytics_minutes` (HubSpot
        processes analytics in batches: reading them every few minutes buys nothing)."""
        read_at = state.get("read_at")
        if full or not read_at:
            return True
        age = client.now_estimate() - datetime.fromisoformat(read_at)
        return age >= timedelta(minutes=self.settings.analytics_minutes)

    def _read(self, client: HubSpotClient, report: Report, first: date, last: date) -> list[dict[str, Any]]:
        """Every row of every day of `report` in [first, last]: one record per day."""
        path = ANALYTICS_PATH.format(breakdown_by=report.breakdown_by, time_period=report.time_period)
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
