"""Mailchimp streams. Each yields pages of raw records with the checkpoint to store beside them;
streams never touch the database.

Audiences and campaigns are small and read whole. Members follow `last_changed`: each audience is
read in a closed window `[watermark − overlap, start of run]`, sorted by `last_changed`, by
offset; a window that ends with fewer members than its first page's `total_items` promised
(members that changed meanwhile moved out and shifted the offsets) is read again. Each page's
checkpoint says how far each window got, so a failed run resumes there. Reports have
no change filter: those of campaigns sent in the last `report_window_days` are read on every
sync, all of them when the last full read is older than `older_reports_days`. Email activity
(who clicked) is read per campaign, again only when the campaign's report shows a later click.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from config import MailchimpSettings
from connector.client import items as _items
from connector.mailchimp.client import MailchimpClient
from connector.mailchimp.normalize import (
    normalize_campaigns,
    normalize_email_activity,
    normalize_lists,
    normalize_members,
    normalize_reports,
)
from connector.pagination import OffsetPaginator
from connector.records import Normalized
from connector.stream import Page, Stream

log = logging.getLogger("funnelsync.connector.mailchimp")

MEMBER_OVERLAP = timedelta(minutes=5)
MAX_WINDOW_PASSES = 3


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def _pages(
    client: MailchimpClient, path: str, key: str, params: dict[str, Any], count: int, offset: int = 0
) -> Iterator[tuple[list[dict[str, Any]], OffsetPaginator]]:
    paginator = OffsetPaginator(count, offset)
    while not paginator.finished:
        body = client.get(path, params={**params, **paginator.params()})
        items = _items(body, key, path)
        paginator.advance(len(items), body.get("total_items"))
        yield items, paginator


class MailchimpStream(Stream[MailchimpClient]):
    """What every Mailchimp stream shares: its settings, and running side by side with the
    others within the account's connection limit."""

    parallel = True

    def __init__(self, settings: MailchimpSettings) -> None:
        self.settings = settings


class ListsStream(MailchimpStream):
    """Audiences with their statistics (read whole: an account has a handful)."""

    name = "mailchimp_lists"

    def pages(self, client: MailchimpClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        now = _iso(client.server_now())
        for items, _ in _pages(client, "/lists", "lists", {}, self.settings.page_size):
            yield Page(self.name, items, {"synced_at": now})

    def parse(self, page: Page) -> Normalized:
        return normalize_lists(page.records)


class MembersStream(MailchimpStream):
    """Audience members, incrementally by `last_changed`, archived ones included.

    State: `lists` maps each audience to the end of its last complete window; `resume` holds the
    progress of an interrupted run (per audience and pass, the `last_changed` from which reading
    must go on), so a failed run resumes at its last committed page instead of starting over.
    """

    name = "mailchimp_members"
    bulk = True
    cursor_key = "lists"
    PASSES = (("all", None), ("archived", "archived"))  # without `status`, archived ones are left out

    def pages(self, client: MailchimpClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        list_ids = [
            str(item["id"])
            for items, _ in _pages(client, "/lists", "lists", {"fields": "lists.id,total_items"}, 1000)
            for item in items
        ]
        resume = dict(state.get("resume") or {})
        if full and not resume.get("full"):
            resume = {}  # an explicit full sync restarts unless a full sync is already half done
        marks: dict[str, str] = {} if full and not resume else dict(state.get("lists") or {})
        progress: dict[str, dict[str, str]] = {k: dict(v) for k, v in (resume.get("lists") or {}).items()}
        running = {"full": full or bool(resume.get("full")), "lists": progress}
        # One second short of the server's time: whatever changes from here on, even within this
        # second, leaves the window, so a shrinking `total_items` shows every shift of the offsets.
        before = _iso(client.server_now() - timedelta(seconds=1))
        for list_id in list_ids:
            mark = marks.get(list_id)
            lo = _iso(datetime.fromisoformat(mark) - MEMBER_OVERLAP) if mark else None
            done = progress.setdefault(list_id, {})
            for key, status in self.PASSES:
                since = done.get(key, lo)
                for page, safe in self._window(client, list_id, status, since, before):
                    if safe is not None:
                        done[key] = safe
                    yield replace(page, checkpoint={"lists": dict(marks), "resume": _copy(running)})
                done[key] = before
            marks[list_id] = before
            del progress[list_id]
            yield Page(self.name, [], {"lists": dict(marks), "resume": _copy(running) if progress else None})
        if not list_ids:
            yield Page(self.name, [], {"lists": {}, "resume": None})

    def _window(
        self, client: MailchimpClient, list_id: str, status: str | None, since: str | None, before: str
    ) -> Iterator[tuple[Page, str | None]]:
        """Pages of one window, each with the `last_changed` below which everything has been read
        (None while nothing is certain): members sorted by `last_changed`, read by offset; once
        `total_items` shrinks, members left the window and shifted the offsets, so the point stays
        where it was for the rest of the pass."""
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
            safe: str | None = None
            shifted = False
            for items, paginator in _pages(client, path, "members", params, self.settings.page_size):
                promised = paginator.total if promised is None else promised
                shifted = shifted or paginator.total != promised
                seen.update(str(m.get("id")) for m in items)
                if not shifted:
                    safe = _latest_change(items) or safe
                yield Page(self.name, items, {}), safe
            if promised is None or len(seen) >= promised:
                return
            log.info(
                "members of %s changed while being read (%d of %d): reading the window again (pass %d)",
                list_id,
                len(seen),
                promised,
                attempt + 1,
            )

    def parse(self, page: Page) -> Normalized:
        return normalize_members(page.records)


def _latest_change(items: list[dict[str, Any]]) -> str | None:
    """A second before the greatest `last_changed` of a page, so reading on from it repeats the
    members of that very second whether `since_last_changed` is inclusive or not (unreadable
    times are the parser's business)."""
    latest: datetime | None = None
    for item in items:
        try:
            value = datetime.fromisoformat(str(item.get("last_changed")))
        except ValueError:
            continue
        if value.tzinfo is not None and (latest is None or value > latest):
            latest = value
    return _iso(latest - timedelta(seconds=1)) if latest else None


def _copy(running: dict[str, Any]) -> dict[str, Any]:
    return {"full": running["full"], "lists": {k: dict(v) for k, v in running["lists"].items()}}


class CampaignsStream(MailchimpStream):
    """Campaigns (read whole: hundreds, not millions), with their report summaries."""

    name = "mailchimp_campaigns"

    def pages(self, client: MailchimpClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        now = _iso(client.server_now())
        params = {"sort_field": "create_time", "sort_dir": "ASC", "exclude_fields": "campaigns._links,_links"}
        for items, _ in _pages(client, "/campaigns", "campaigns", params, self.settings.page_size):
            yield Page(self.name, items, {"synced_at": now})

    def parse(self, page: Page) -> Normalized:
        return normalize_campaigns(page.records)


class ReportsStream(MailchimpStream):
    """Campaign reports, and the members who unsubscribed through each campaign."""

    name = "mailchimp_reports"
    cursor_key = "all_read_at"

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
        for items, _ in _pages(client, "/reports", "reports", params, self.settings.page_size):
            for report in items:
                if report.get("unsubscribed"):
                    report["unsubscribes"] = self._unsubscribes(client, str(report.get("id")))
            yield Page(self.name, items, checkpoint)

    def _unsubscribes(self, client: MailchimpClient, campaign_id: str) -> list[dict[str, Any]]:
        path = f"/reports/{campaign_id}/unsubscribed"
        return [
            row
            for items, _ in _pages(
                client, path, "unsubscribes", {"exclude_fields": "unsubscribes._links,_links"}, 1000
            )
            for row in items
        ]

    def parse(self, page: Page) -> Normalized:
        return normalize_reports(page.records)


class EmailActivityStream(MailchimpStream):
    """Who clicked each campaign and when: the per-member email activity of campaigns sent in the
    last `click_activity_days`, the touches the attribution models join to CRM contacts by address.

    Optional: an account without the endpoint (or a key without access to it) makes it
    unavailable and the rest of the sync goes on. Each campaign is read whole (every recipient,
    without `since`), so a member's row states all their clicks; a campaign is read again only
    when its report's `last_click` is after the start of the run that last read it. State:
    `campaigns` maps each campaign read to that start; `resume` the campaign and offset an
    interrupted run stopped at.
    """

    name = "mailchimp_email_activity"
    optional = True
    cursor_key = "campaigns"
    REPORT_FIELDS = "reports.id,reports.clicks.unique_subscriber_clicks,reports.clicks.last_click,total_items"
    ACTIVITY_FIELDS = (
        "emails.campaign_id,emails.list_id,emails.email_id,emails.email_address,emails.activity,total_items"
    )

    def pages(self, client: MailchimpClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        days = self.settings.click_activity_days
        if days == 0:  # switched off: nothing read, the state kept
            yield Page(self.name, [], dict(state))
            return
        now = client.server_now()
        marks: dict[str, str] = {} if full else dict(state.get("campaigns") or {})
        resume = dict(state.get("resume") or {})
        params = {"since_send_time": _iso(now - timedelta(days=days)), "fields": self.REPORT_FIELDS}
        listed: dict[str, bool] = {}
        for items, _ in _pages(client, "/reports", "reports", params, 1000):
            for report in items:
                if isinstance(report, dict) and report.get("id"):
                    listed[str(report["id"])] = _has_new_clicks(report, marks.get(str(report["id"])))
        # Campaigns sent before the horizon are no longer read; their marks go.
        marks = {cid: mark for cid, mark in marks.items() if cid in listed}
        started = _iso(now)
        for campaign_id in (cid for cid, due in listed.items() if due):
            offset = int(resume.get("offset") or 0) if resume.get("campaign") == campaign_id else 0
            path = f"/reports/{campaign_id}/email-activity"
            pages = _pages(
                client, path, "emails", {"fields": self.ACTIVITY_FIELDS}, self.settings.page_size, offset
            )
            for items, paginator in pages:
                clicked = [e for e in items if _clicked(e)]
                where = {"campaign": campaign_id, "offset": paginator.offset}
                yield Page(self.name, clicked, {"campaigns": dict(marks), "resume": where})
            marks[campaign_id] = started
            yield Page(self.name, [], {"campaigns": dict(marks), "resume": None})
        yield Page(self.name, [], {"campaigns": dict(marks), "resume": None})

    def parse(self, page: Page) -> Normalized:
        return normalize_email_activity(page.records)


def _has_new_clicks(report: dict[str, Any], mark: str | None) -> bool:
    """Whether a campaign has clicks its last read (started at `mark`) may not have seen."""
    clicks = report.get("clicks")
    if not isinstance(clicks, dict):
        return False
    if not clicks.get("unique_subscriber_clicks"):
        return False
    if mark is None:
        return True
    try:
        last = datetime.fromisoformat(str(clicks.get("last_click")))
    except ValueError:
        return True  # no readable last click: read it to be sure
    return last.tzinfo is None or last >= datetime.fromisoformat(mark) - MEMBER_OVERLAP


def _clicked(row: Any) -> bool:
    activity = row.get("activity") if isinstance(row, dict) else None
    return isinstance(activity, list) and any(
        isinstance(e, dict) and e.get("action") == "click" for e in activity
    )
