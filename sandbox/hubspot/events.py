"""HubSpot's event analytics API over the sandbox portal: the page views (`e_visited_page`) of
known contacts, derived from each contact's own history so they agree with its properties.

A contact views a page or two when it arrives (its creation, by its original source), a page or
two in its latest session (`hs_latest_source_timestamp`, by its latest source), and now and then
a few pages in between; each view carries its visit's source (`hs_touchpoint_source`). Each contact's
views come from a random stream seeded by its id, so they are the same on every request and a
change to one contact moves only its own; nothing later than the portal's clock is served.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sandbox.hubspot.data import Record

PAGE_VIEW = "e_visited_page"
PAGES = (
    ("https://sandbox.example/", "Home"),
    ("https://sandbox.example/pricing", "Pricing"),
    ("https://sandbox.example/guide", "The B2B funnel guide"),
    ("https://sandbox.example/blog/funnel-metrics", "Funnel metrics that matter"),
    ("https://sandbox.example/customers", "Customer stories"),
)
# Visits between a contact's arrival and its latest session: at most this many, and their sources.
MIDDLE_VISITS = 3
MIDDLE_SOURCES = ("ORGANIC_SEARCH", "DIRECT_TRAFFIC", "EMAIL_MARKETING", "REFERRALS", "SOCIAL_MEDIA")


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def page_views(contact: Record, now: datetime) -> list[dict[str, Any]]:
    """A live contact's page views in the API's shape (`occurredAt` as a datetime), oldest first."""
    created = _time(contact.get("createdAt"))
    if created is None or contact.get("archived"):
        return []
    rng = random.Random(f"page-views:{contact['id']}")
    starts = [created]
    latest = _time(contact["properties"].get("hs_latest_source_timestamp"))
    if latest is not None and latest - created > timedelta(days=14):
        gap = (latest - created).total_seconds()
        middle = rng.randint(0, MIDDLE_VISITS)
        starts += sorted(created + timedelta(seconds=rng.uniform(0.05, 0.95) * gap) for _ in range(middle))
    if latest is not None and latest > created:
        starts.append(latest)
    props = contact["properties"]
    sources = [props.get("hs_analytics_source") or "DIRECT_TRAFFIC"]
    sources += [rng.choice(MIDDLE_SOURCES) for _ in starts[1:-1]]
    sources += [props.get("hs_latest_source") or sources[0]] if len(starts) > 1 else []
    out: list[dict[str, Any]] = []
    for visit, source in zip(starts, sources, strict=True):
        at = visit
        for _ in range(rng.randint(1, 3)):
            if at > now:
                break
            url, title = rng.choice(PAGES)
            millis = int(at.timestamp() * 1000)
            out.append(
                {
                    "objectType": "CONTACT",
                    "objectId": str(contact["id"]),
                    "eventType": PAGE_VIEW,
                    "occurredAt": at,
                    "id": f"{PAGE_VIEW}-{contact['id']}-{millis}",
                    "properties": {"hs_url": url, "hs_page_title": title, "hs_touchpoint_source": source},
                }
            )
            at += timedelta(seconds=rng.uniform(20, 240))
    return out


def all_page_views(contacts: list[Record], now: datetime) -> list[dict[str, Any]]:
    """Every live contact's page views, oldest first (ties by id)."""
    views = [view for contact in contacts for view in page_views(contact, now)]
    views.sort(key=lambda v: (v["occurredAt"], v["id"]))
    return views
