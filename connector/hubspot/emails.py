"""HubSpot marketing emails with their lifetime statistics (`GET /marketing/v3/emails`), and
their parser."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from config import HubSpotSettings
from connector.errors import NotFoundError
from connector.hubspot.client import HubSpotClient
from connector.hubspot.constants import MARKETING_EMAILS_PAGE
from connector.hubspot.wire import due, iso, results
from connector.pagination import CursorPaginator
from connector.records import Fields, Issue, Normalized, raw_text, record_key
from connector.stream import Page, Stream

log = logging.getLogger("funnelsync.connector.hubspot")


class MarketingEmailsStream(Stream[HubSpotClient]):
    """Marketing emails with their lifetime statistics (`GET /marketing/v3/emails?includeStats=true`).

    Statistics change for weeks after a send without touching `updatedAt`, so there is no change
    filter to follow: a full sync reads every email; an incremental one, when the last read is
    older than `email_stats_minutes`, the emails published in the last `email_stats_days`.
    HubSpot is known to leave some emails out of listings with statistics, so the same window is
    listed once more without them, and each email missing from the first listing is read alone.
    A portal whose token lacks the `content` scope syncs no emails instead of failing the run.
    """

    name = "marketing_emails"
    parallel = True
    cursor_key = "checked_at"
    optional = True
    scopes = (("content", "marketing.email.read"),)
    endpoints = ("marketing_emails", "marketing_email")

    def __init__(self, settings: HubSpotSettings) -> None:
        self.settings = settings

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        if not due(client, state.get("checked_at"), self.settings.email_stats_minutes, full=full):
            yield Page(self.name, [], dict(state))
            return
        started = client.server_now()
        window: dict[str, Any] = {}
        if not full and state.get("checked_at") and self.settings.email_stats_days:
            window["publishedAfter"] = iso(started - timedelta(days=self.settings.email_stats_days))
        # A portal without the marketing-email API (403, 404) ends the stream `unavailable`
        # (connector.errors.unavailable); the service says why and retries it later.
        seen: set[str] = set()
        for records in self._listing(client, {**window, "includeStats": "true"}):
            seen.update(str(r.get("id")) for r in records)
            yield Page(self.name, records, dict(state))
        listed = {
            str(r.get("id"))
            for records in self._listing(client, {**window, "includedProperties": "id"})
            for r in records
        }
        missing = sorted(listed - seen, key=lambda i: (len(i), i))
        if missing:
            log.info("%d marketing email(s) missing from the listing with statistics", len(missing))
        alone = [found for i in missing if i.isdigit() and (found := self._one(client, i)) is not None]
        yield Page(self.name, alone, {"checked_at": iso(started)})

    @staticmethod
    def _one(client: HubSpotClient, email_id: str) -> dict[str, Any] | None:
        """One email with its statistics; None when it was deleted since it was listed."""
        try:
            found: dict[str, Any] = client.get(
                client.paths.path("marketing_email", email_id=email_id), params={"includeStats": "true"}
            )
        except NotFoundError:
            return None
        return found

    def _listing(self, client: HubSpotClient, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        paginator = CursorPaginator()
        while not paginator.finished:
            query = {**params, "limit": MARKETING_EMAILS_PAGE}
            if paginator.token:
                query["after"] = paginator.token
            path = client.paths.path("marketing_emails")
            body = client.get(path, params=query)
            yield results(body, path)
            paginator.advance(body)

    def parse(self, page: Page) -> Normalized:
        return normalize_marketing_emails(page.records)


# Statistics counters of a marketing email → columns (HubSpot's `open` and `click` count
# recipients, so they are the unique figures).
EMAIL_COUNTERS = {
    "sent": "sent",
    "delivered": "delivered",
    "open": "unique_opens",
    "click": "unique_clicks",
    "bounce": "bounces",
    "hardbounced": "hard_bounces",
    "softbounced": "soft_bounces",
    "unsubscribed": "unsubscribes",
    "spamreport": "spam_reports",
}


def normalize_marketing_emails(records: Iterable[Any]) -> Normalized:
    """Marketing emails with their lifetime statistics; counters that are not whole non-negative
    numbers are quarantined, the rest of the email is kept."""
    out = Normalized()
    for record in records:
        if not isinstance(record, dict) or not str(record.get("id", "")).strip().isdigit():
            out.issues.append(
                Issue(record_key(record), "*", raw_text(record), "email id missing or not numeric")
            )
            out.rejected += 1
            continue
        f = Fields(str(record["id"]).strip(), out.issues)
        row: dict[str, Any] = {
            "id": f.record_id,
            "name": f.text(record, "name"),
            "subject": f.text(record, "subject"),
            "email_type": f.text(record, "type"),
            "state": f.text(record, "state"),
            "campaign_id": f.text(record, "campaign") or f.text(record, "primaryEmailCampaignId"),
            "sent_at": f.timestamp(record, "publishDate") or f.timestamp(record, "publishedAt"),
            "archived": bool(record.get("archived", False)),
            "created_at": f.timestamp(record, "createdAt"),
            "updated_at": f.timestamp(record, "updatedAt"),
            "raw": record,
        }
        stats = record.get("stats")
        counters = stats.get("counters") if isinstance(stats, dict) else None
        for key, column in EMAIL_COUNTERS.items():
            value = counters.get(key) if isinstance(counters, dict) else None
            if value is None:
                row[column] = 0 if isinstance(counters, dict) else None
            elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                row[column] = value
            else:
                f.flag(f"stats.counters.{key}", value, "counter is not a whole number >= 0")
                row[column] = None
        out.entities.append(row)
    return out
