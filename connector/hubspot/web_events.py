"""Page views of known contacts from HubSpot's event analytics API
(`GET /events/event-occurrences/2026-09`, formerly `/events/v3/events`): every website visit a
contact made, the touches between its first and latest session that contact properties cannot
show (docs/kpis.md, "Attribution"). The API exists on Enterprise portals only; elsewhere it
answers 403 and the stream is `unavailable` while the rest of the sync goes on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from config import HubSpotSettings
from connector.hubspot.client import HubSpotClient
from connector.hubspot.wire import iso, parse_iso, results
from connector.pagination import CursorPaginator
from connector.records import Fields, Issue, Normalized, raw_text, record_key
from connector.stream import Page, Stream

PAGE_VIEW = "e_visited_page"
EVENTS_PAGE = 100
# Events reach the API a little after they happen: each read starts this far before the last one
# ended (the same views again are the same rows).
EVENTS_OVERLAP = timedelta(minutes=30)


class WebEventsStream(Stream[HubSpotClient]):
    """Contacts' page views, by closed windows of `occurredAt`.

    A full read covers the last `web_events_days`; an incremental one `[until − 30 min, start of
    run)`, in HubSpot's time. State: `until`, where the last complete window ended; `resume`, the
    window and cursor of an interrupted read, so the next run goes on from its last stored page.
    """

    name = "web_events"
    parallel = True
    cursor_key = "until"
    optional = True
    endpoints = ("event_occurrences",)

    def __init__(self, settings: HubSpotSettings) -> None:
        self.settings = settings

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        hub = self.settings
        if not hub.web_events:  # switched off: nothing read, the state kept
            yield Page(self.name, [], dict(state))
            return
        until: str | None = state.get("until")
        resume = dict(state.get("resume") or {})
        if resume and (not full or resume.get("full")):
            lo, hi, token = str(resume["from"]), str(resume["to"]), resume.get("after")
        else:
            now = client.server_now()
            start = now - timedelta(days=hub.web_events_days)
            lo = iso(start if full or not until else max(parse_iso(until) - EVENTS_OVERLAP, start))
            hi, token = iso(now), None
        window = {"from": lo, "to": hi, "full": full or bool(resume.get("full"))}
        path = client.paths.path("event_occurrences")
        paginator = CursorPaginator(token)
        while not paginator.finished:
            query: dict[str, Any] = {
                "objectType": "contact",
                "eventType": PAGE_VIEW,
                "occurredAfter": lo,
                "occurredBefore": hi,
                "limit": EVENTS_PAGE,
            }
            if paginator.token:
                query["after"] = paginator.token
            body = client.get(path, params=query)
            records = results(body, path)
            if not paginator.advance(body):
                yield Page(self.name, records, {"until": hi, "resume": None})
            else:
                yield Page(
                    self.name, records, {"until": until, "resume": {**window, "after": paginator.token}}
                )

    def parse(self, page: Page) -> Normalized:
        return normalize_page_views(page.records)


def normalize_page_views(records: Iterable[Any]) -> Normalized:
    """One row per page view of a contact: when, which contact, the page's address and title, and
    the source HubSpot gave the interaction."""
    out = Normalized()
    for record in records:
        event_id = record.get("id") if isinstance(record, dict) else None
        if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 200:
            out.issues.append(
                Issue(record_key(record), "*", raw_text(record), "event id missing or too long")
            )
            out.rejected += 1
            continue
        f = Fields(event_id, out.issues)
        object_id = str(record.get("objectId") or "").strip()
        if str(record.get("objectType") or "").lower() not in ("contact", "0-1") or not object_id.isdigit():
            f.flag("objectId", record.get("objectId"), "not a contact's event")
            out.rejected += 1
            continue
        props = record.get("properties") if isinstance(record.get("properties"), dict) else {}
        occurred = f.timestamp(record, "occurredAt")
        if occurred is None:
            out.rejected += 1
            continue
        out.entities.append(
            {
                "id": event_id,
                "contact_id": object_id,
                "event_type": f.text(record, "eventType"),
                "occurred_at": occurred,
                "url": f.text(props, "hs_url"),
                # HubSpot's default event properties name the title hs_page_title (some answers
                # carry hs_title) and the visit's source hs_touchpoint_source.
                "title": f.text(props, "hs_page_title") or f.text(props, "hs_title"),
                "source": f.text(props, "hs_touchpoint_source"),
                "archived": False,
                "raw": record,
            }
        )
    return out
