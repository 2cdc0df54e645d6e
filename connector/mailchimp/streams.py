"""Mailchimp streams. Each yields pages of raw records with the checkpoint to store beside them;
streams never touch the database.

Audiences and campaigns are small and read whole. Members follow `last_changed`: each audience is
read in a closed window `[watermark − overlap, start of run]`, sorted by `last_changed`, by
offset; a window that ends with fewer members than its first page's `total_items` promised
(members that changed meanwhile moved out and shifted the offsets) is read again. Reports have
no change filter: those of campaigns sent in the last `report_window_days` are read on every
sync, all of them when the last full read is older than `older_reports_days`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from config import MailchimpSettings
from connector.errors import MalformedResponseError
from connector.mailchimp.client import MailchimpClient
from connector.pagination import OffsetPaginator, Page

log = logging.getLogger("funnelsync.connector.mailchimp")

MEMBER_OVERLAP = timedelta(minutes=5)
MAX_WINDOW_PASSES = 3


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def _items(body: Any, key: str, path: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise MalformedResponseError(f"response has no '{key}' list", path=path)
    return list(body[key])


def _pages(
    client: MailchimpClient, path: str, key: str, params: dict[str, Any], count: int, offset: int = 0
) -> Iterator[tuple[list[dict[str, Any]], OffsetPaginator]]:
    paginator = OffsetPaginator(count, offset)
    while not paginator.finished:
        body = client.get(path, params={**params, **paginator.params()})
        items = _items(body, key, path)
        paginator.advance(len(items), body.get("total_items"))
        yield items, paginator


class ListsStream:
    """Audiences with their statistics (read whole: an account has a handful)."""

    name = "mailchimp_lists"

    def __init__(self, settings: MailchimpSettings) -> None:
        self.settings = settings

    def pages(self, client: MailchimpClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        now = _iso(client.server_now())
        for items, paginator in _pages(client, "/lists", "lists", {}, self.settings.page_size):
            yield Page(self.name, items, {"synced_at": now}, final=paginator.finished)


class MembersStream:
    """Audience members, incrementally by `last_changed`, archived ones included."""

    name = "mailchimp_members"

    def __init__(self, settings: MailchimpSettings) -> None:
        self.settings = settings

    def pages(self, client: MailchimpClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        list_ids = [
            str(item["id"])
            for items, _ in _pages(client, "/lists", "lists", {"fields": "lists.id,total_items"}, 1000)
            for item in items
        ]
        marks: dict[str, str] = {} if full else dict(state.get("lists") or {})
        before = _iso(client.server_now())
        for n, list_id in enumerate(list_ids):
            since = marks.get(list_id)
            lo = _iso(datetime.fromisoformat(since) - MEMBER_OVERLAP) if since else None
            for status in (None, "archived"):  # without `status`, archived members are left out
                yield from self._window(client, list_id, status, lo, before, marks)
            marks[list_id] = before
            yield Page(self.name, [], {"lists": dict(marks)}, final=n == len(list_ids) - 1)
        if not list_ids:
            yield Page(self.name, [], {"lists": {}}, final=True)

    def _window(
        self,
        client: MailchimpClient,
        list_id: str,
        status: str | None,
        since: str | None,
        before: str,
        marks: dict[str, str],
    ) -> Iterator[Page]:
        path = f"/lists/{list_id}/members"
        params: dict[str, Any] = {
            "before_last_changed": before,
            "sort_field": "last_changed",
            "sort_dir": "ASC",
        }
        if since:
            params["since_last_changed"] = since
        if status:
            params["status"] = status
        for attempt in range(1, MAX_WINDOW_PASSES + 1):
            seen: set[str] = set()
            promised: int | None = None
            for items, paginator in _pages(client, path, "members", params, self.settings.page_size):
                promised = paginator.total if promised is None else promised
                seen.update(str(m.get("id")) for m in items)
                yield Page(self.name, items, {"lists": dict(marks)}, mode="incremental" if since else "full")
            if promised is None or len(seen) >= promised:
                return
            log.info(
                "members of %s changed while being read (%d of %d): reading the window again (pass %d)",
                list_id,
                len(seen),
                promised,
                attempt + 1,
            )


class CampaignsStream:
    """Campaigns (read whole: hundreds, not millions), with their report summaries."""

    name = "mailchimp_campaigns"

    def __init__(self, settings: MailchimpSettings) -> None:
        self.settings = settings

    def pages(self, client: MailchimpClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        now = _iso(client.server_now())
        params = {"sort_field": "create_time", "sort_dir": "ASC", "exclude_fields": "campaigns._links,_links"}
        for items, paginator in _pages(client, "/campaigns", "campaigns", params, self.settings.page_size):
            yield Page(self.name, items, {"synced_at": now}, final=paginator.finished)


class ReportsStream:
    """Campaign reports, and the members who unsubscribed through each campaign."""

    name = "mailchimp_reports"

    def __init__(self, settings: MailchimpSettings) -> None:
        self.settings = settings

    def pages(self, client: MailchimpClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        now = client.server_now()
        everything = state.get("all_read_at")
        read_all = (
            full
            or not everything
            or now - datetime.fromisoformat(everything) >= timedelta(days=self.settings.older_reports_days)
        )
        params: dict[str, Any] = {"exclude_fields": "reports._links,reports.timeseries,_links"}
        if not read_all:
            params["since_send_time"] = _iso(now - timedelta(days=self.settings.report_window_days))
        checkpoint = {"all_read_at": _iso(now) if read_all else everything, "read_at": _iso(now)}
        for items, paginator in _pages(client, "/reports", "reports", params, self.settings.page_size):
            for report in items:
                if report.get("unsubscribed"):
                    report["unsubscribes"] = self._unsubscribes(client, str(report.get("id")))
            yield Page(self.name, items, checkpoint, final=paginator.finished)

    def _unsubscribes(self, client: MailchimpClient, campaign_id: str) -> list[dict[str, Any]]:
        path = f"/reports/{campaign_id}/unsubscribed"
        return [
            row
            for items, _ in _pages(
                client, path, "unsubscribes", {"exclude_fields": "unsubscribes._links,_links"}, 1000
            )
            for row in items
        ]


STREAM_NAMES = ("mailchimp_lists", "mailchimp_members", "mailchimp_campaigns", "mailchimp_reports")


def build_streams(settings: MailchimpSettings) -> dict[str, Any]:
    """Every Mailchimp stream, keyed by name, in the order a sync runs them."""
    return {
        "mailchimp_lists": ListsStream(settings),
        "mailchimp_members": MembersStream(settings),
        "mailchimp_campaigns": CampaignsStream(settings),
        "mailchimp_reports": ReportsStream(settings),
    }
