"""The marketing side of bench/kpi_compute.py's snapshot: HubSpot marketing emails, the Mailchimp
newsletter (its audience, its campaigns' reports and who clicked them) and two years of daily web
analytics, so the email, audience and web families and the Mailchimp touches are measured too.

Each part draws from a random stream of its own, so the CRM records of a snapshot stay as
earlier builds made them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

Row = dict[str, object]
BATCH = 20_000
# 70 % of the contacts are on the weekly newsletter; a member clicks a few of its campaigns.
MEMBERS, CLICKS = 0.7, (0, 0, 0, 1, 1, 2, 3)
STATUSES = (("subscribed", 0.85), ("unsubscribed", 0.1), ("cleaned", 0.05))
NEWSLETTER = "newsletter"
WEB_SOURCES = (
    "ORGANIC_SEARCH",
    "PAID_SEARCH",
    "EMAIL_MARKETING",
    "SOCIAL_MEDIA",
    "REFERRALS",
    "DIRECT_TRAFFIC",
)
PAGES = ("/", "/pricing", "/guide", "/blog/funnel-metrics", "/demo")


def _batched(engine: Any, model: Any, rows: Iterator[Row]) -> None:
    from storage import upsert

    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            with engine.begin() as conn:
                upsert(conn, model, batch)
            batch.clear()
    if batch:
        with engine.begin() as conn:
            upsert(conn, model, batch)


def build_marketing(
    engine: Any, created_at: Callable[[int], datetime], contacts: int, as_of: datetime
) -> None:
    """Every part, for contacts created at `created_at(i)`."""
    from storage.models import MailchimpCampaign, MailchimpEmailClick, MailchimpList, MailchimpMember

    sends = [as_of - timedelta(days=7 * w + 3) for w in range(52)][::-1]
    _batched(engine, MailchimpList, iter([
        {"connection": "default", "id": NEWSLETTER, "name": "Newsletter", "member_count": 0, "raw": {}}
    ]))  # fmt: skip
    _batched(engine, MailchimpCampaign, (
        {"connection": "default", "id": f"mc{n:03d}", "list_id": NEWSLETTER, "status": "sent",
         "title": f"Newsletter {at:%Y-%m-%d}", "send_time": at, "raw": {}}
        for n, at in enumerate(sends)
    ))  # fmt: skip
    members: list[Row] = []
    clicks: list[Row] = []
    clickers = [0] * len(sends)
    joined_by_send = [0] * len(sends)
    rng, member_rng = random.Random(5), random.Random(6)
    for i in range(contacts):
        created = created_at(i)
        if rng.random() >= MEMBERS:
            continue
        status = member_rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
        opted = created + timedelta(hours=member_rng.uniform(0, 72))
        members.append({"connection": "default", "id": f"{NEWSLETTER}:{i}", "list_id": NEWSLETTER,
                        "subscriber_hash": str(i), "email_address": f"c{i}@example.com", "status": status,
                        "timestamp_opt": opted, "last_changed": opted,
                        "avg_open_rate": round(member_rng.uniform(0, 0.6), 2),
                        "avg_click_rate": round(member_rng.uniform(0, 0.1), 2), "raw": {}})  # fmt: skip
        after = [n for n, at in enumerate(sends) if at >= created]
        for n in after:
            joined_by_send[n] += 1
        for n in rng.sample(after, min(len(after), rng.choice(CLICKS))):
            at = sends[n] + timedelta(hours=rng.uniform(1, 72))
            clicks.append({"connection": "default", "id": f"mc{n:03d}:{i}", "campaign_id": f"mc{n:03d}",
                           "email_id": str(i), "email_address": f"c{i}@example.com", "first_click_at": at,
                           "last_click_at": at, "clicks": 1, "raw": {}})  # fmt: skip
            clickers[n] += 1
        for model, rows in ((MailchimpMember, members), (MailchimpEmailClick, clicks)):
            if len(rows) >= BATCH:  # written as they come: a million members never sit in memory
                _batched(engine, model, iter(rows))
                rows.clear()
    _batched(engine, MailchimpMember, iter(members))
    _batched(engine, MailchimpEmailClick, iter(clicks))
    _reports(engine, sends, joined_by_send, clickers)
    _hubspot_emails(engine, as_of, contacts)
    _web_analytics(engine, as_of, contacts)


def _reports(engine: Any, sends: list[datetime], audience: list[int], clickers: list[int]) -> None:
    """Each newsletter's report: sent to the members who had joined, its clickers counted."""
    from storage.models import MailchimpReport

    rng = random.Random(7)
    rows = []
    for n, at in enumerate(sends):
        sent = max(audience[n], clickers[n])
        opens = max(round(sent * rng.uniform(0.3, 0.45)), clickers[n])
        rows.append({"connection": "default", "id": f"mc{n:03d}", "list_id": NEWSLETTER, "type": "regular",
                     "send_time": at, "emails_sent": sent, "hard_bounces": round(sent * 0.004),
                     "soft_bounces": round(sent * 0.006), "syntax_errors": 0,
                     "opens_total": round(opens * 1.6),
                     "unique_opens": opens, "proxy_excluded_unique_opens": round(opens * 0.6),
                     "clicks_total": round(clickers[n] * 1.3), "unique_subscriber_clicks": clickers[n],
                     "unsubscribed": round(sent * 0.002), "abuse_reports": 0, "raw": {}})  # fmt: skip
    _batched(engine, MailchimpReport, iter(rows))


def _hubspot_emails(engine: Any, as_of: datetime, contacts: int) -> None:
    """A weekly HubSpot marketing email for two years, to a list that grows with the contacts."""
    from storage.models import HubSpotMarketingEmail

    rng = random.Random(8)
    rows = []
    for w in range(104):
        at = as_of - timedelta(days=7 * w + 1)
        sent = round(contacts * 0.4 * (1 - w / 150))
        delivered = round(sent * rng.uniform(0.97, 0.99))
        bounced = sent - delivered
        opens = round(delivered * rng.uniform(0.2, 0.35))
        rows.append({"connection": "default", "id": f"he{w:03d}", "name": f"Update {at:%Y-%m-%d}",
                     "email_type": "BATCH_EMAIL", "state": "PUBLISHED", "sent_at": at, "sent": sent,
                     "delivered": delivered, "unique_opens": opens,
                     "unique_clicks": round(opens * rng.uniform(0.08, 0.15)), "bounces": bounced,
                     "hard_bounces": bounced // 3, "soft_bounces": bounced - bounced // 3,
                     "unsubscribes": round(delivered * 0.001), "spam_reports": 0, "raw": {}})  # fmt: skip
    _batched(engine, HubSpotMarketingEmail, iter(rows))


def _web_analytics(engine: Any, as_of: datetime, contacts: int) -> None:
    """Two years of daily analytics: totals, sessions by source and landing pages."""
    from storage.models import HubSpotAnalyticsDay, HubSpotAnalyticsRow

    rng = random.Random(9)
    first = (as_of - timedelta(days=730)).astimezone(UTC).date()
    days = [first + timedelta(days=d) for d in range(730)]
    per_day = max(contacts // 730, 1)  # new contacts a day, roughly
    day_rows: list[Row] = []
    rows: list[Row] = []
    for day in days:
        by_source = {s: round(per_day * rng.uniform(5, 40)) for s in WEB_SOURCES}
        parts: dict[str, list[tuple[str, int, str | None]]] = {
            "totals": [("totals", sum(by_source.values()), None)],
            "sources": [(s, v, None) for s, v in by_source.items()],
            "landing-pages": [(f"page{p}", round(sum(by_source.values()) / len(PAGES)), path)
                              for p, path in enumerate(PAGES)],
        }  # fmt: skip
        for report, breakdowns in parts.items():
            day_id = f"{report}|{day.isoformat()}"
            day_rows.append({"connection": "default", "id": day_id, "report": report, "day": day,
                             "breakdowns": len(breakdowns)})  # fmt: skip
            for breakdown, visits, meta in breakdowns:
                rows.append(_analytics_row(day_id, report, day, breakdown, visits, meta, rng))
    _batched(engine, HubSpotAnalyticsDay, iter(day_rows))
    _batched(engine, HubSpotAnalyticsRow, iter(rows))


def _analytics_row(
    day_id: str, report: str, day: date, breakdown: str, visits: int, meta: str | None, rng: random.Random
) -> Row:
    contacts = round(visits * rng.uniform(0.01, 0.04))
    return {"connection": "default", "day_id": day_id, "breakdown": breakdown, "report": report, "day": day,
            "meta": meta, "visits": visits, "visitors": round(visits * 0.8), "raw_views": round(visits * 2.4),
            "contacts": contacts, "leads": contacts, "customers": round(contacts * 0.05),
            "submissions": contacts, "entrances": visits, "raw": {}}  # fmt: skip
