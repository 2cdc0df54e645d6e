"""Marketing emails of a sandbox portal: weekly newsletters, automated emails and drafts, with
statistics shaped like HubSpot's `EmailStatisticsData`."""

from __future__ import annotations

import bisect
import random
from datetime import datetime, timedelta
from typing import Any


def email_statistics(selected: int, rng: random.Random) -> dict[str, Any]:
    """`EmailStatisticsData` for one send to `selected` contacts, with plausible B2B rates
    (bot-filtered opens 15–35 % of delivered, clicks 5–25 % of openers)."""
    notsent = round(selected * rng.uniform(0.0, 0.01))
    sent = selected - notsent
    hard = round(sent * rng.uniform(0.0, 0.01))
    soft = round(sent * rng.uniform(0.0, 0.01))
    delivered = sent - hard - soft
    opened = round(delivered * rng.uniform(0.15, 0.35))
    clicked = round(opened * rng.uniform(0.05, 0.25))
    counters = {
        "selected": selected,
        "sent": sent,
        "notsent": notsent,
        "dropped": notsent,
        "suppressed": 0,
        "pending": 0,
        "delivered": delivered,
        "bounce": hard + soft,
        "hardbounced": hard,
        "softbounced": soft,
        "open": opened,
        "click": clicked,
        "unsubscribed": round(delivered * rng.uniform(0.0, 0.005)),
        "spamreport": round(delivered * rng.uniform(0.0, 0.0005)),
        "contactslost": hard,
    }

    def pct(n: int, d: int) -> float:
        return round(100 * n / d, 3) if d else 0

    ratios = {
        "deliveredratio": pct(delivered, sent),
        "openratio": pct(opened, delivered),
        "clickratio": pct(clicked, delivered),
        "clickthroughratio": pct(clicked, opened),
        "bounceratio": pct(hard + soft, sent),
        "hardbounceratio": pct(hard, sent),
        "softbounceratio": pct(soft, sent),
        "unsubscribedratio": pct(counters["unsubscribed"], delivered),
        "spamreportratio": pct(counters["spamreport"], delivered),
        "notsentratio": pct(notsent, selected),
        "contactslostratio": pct(hard, sent),
        "pendingratio": 0,
    }
    mobile = round(opened * rng.uniform(0.2, 0.5))
    return {
        "counters": counters,
        "deviceBreakdown": {
            "open_device_type": {"computer": opened - mobile, "mobile": mobile, "unknown": 0},
            "click_device_type": {"computer": clicked, "mobile": 0, "unknown": 0},
        },
        "qualifierStats": {},
        "ratios": ratios,
    }


def newsletter(
    email_id: str, sent_at: datetime, *, subject: str, stats: dict[str, Any], created: datetime | None = None
) -> dict[str, Any]:
    """A published batch email (`PublicEmail` fields) sent at `sent_at`, with its statistics."""
    return {
        "id": email_id,
        "name": f"Newsletter {sent_at:%Y-%m-%d %H:%M}",
        "subject": subject,
        "type": "BATCH_EMAIL",
        "subcategory": "batch",
        "state": "PUBLISHED",
        "isPublished": True,
        "isTransactional": False,
        "isAb": False,
        "publishDate": sent_at,
        "createdAt": created or sent_at,
        "updatedAt": sent_at,
        "archived": False,
        "stats": stats,
    }


def marketing_emails(
    created_times: list[datetime], *, now: datetime, history_days: int, seed: int
) -> list[dict[str, Any]]:
    """A weekly newsletter over the portal's history to about 60 % of the contacts that existed
    when it went out, a few automated emails, and two drafts (no statistics, never sent).

    Its own random stream, so adding emails leaves every other generated record as it was."""
    rng = random.Random(seed * 7_919 + 3)
    emails: list[dict[str, Any]] = []
    ids = _EmailIds(rng)
    weeks = max(1, history_days // 7)
    for week in range(weeks, 0, -1):
        sent_at = (now - timedelta(days=7 * week)).replace(hour=8, minute=0, second=0, microsecond=0)
        audience = bisect.bisect_right(created_times, sent_at)
        if audience == 0:
            continue
        email = newsletter(
            ids.current,
            sent_at,
            subject=rng.choice(SUBJECTS),
            stats=email_statistics(max(1, round(audience * rng.uniform(0.55, 0.65))), rng),
            created=sent_at - timedelta(days=rng.randint(2, 6)),
        )
        email["campaign"] = str(1_000 + week % 6)
        emails.append(email)
        ids.advance()
    for n in range(3):
        published = now - timedelta(days=history_days * (n + 1) / 4)
        stats = email_statistics(max(1, len(created_times) // (n + 2)), rng)
        emails.append(_automated(ids.current, n, published, stats))
        ids.advance()
    for n in range(2):
        emails.append(_draft(ids.current, n, now))
        ids.advance()
    return emails


class _EmailIds:
    """Email ids: numeric strings, rising by small random steps."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.next = 70_000_000_001

    @property
    def current(self) -> str:
        return str(self.next)

    def advance(self) -> None:
        self.next += self.rng.randint(1, 9)


def _automated(email_id: str, n: int, published: datetime, stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": email_id,
        "name": f"Welcome series {n + 1}",
        "subject": f"Welcome, part {n + 1}",
        "type": "AUTOMATED_EMAIL",
        "subcategory": "automated",
        "state": "AUTOMATED",
        "isPublished": True,
        "isTransactional": False,
        "isAb": False,
        "publishDate": published,
        "createdAt": published - timedelta(days=1),
        "updatedAt": published,
        "archived": False,
        "stats": stats,
    }


def _draft(email_id: str, n: int, now: datetime) -> dict[str, Any]:
    return {
        "id": email_id,
        "name": f"Draft {n + 1}",
        "subject": "Coming soon",
        "type": "BATCH_EMAIL",
        "subcategory": "batch",
        "state": "DRAFT",
        "isPublished": False,
        "isTransactional": False,
        "isAb": False,
        "createdAt": now - timedelta(days=n + 1),
        "updatedAt": now - timedelta(days=n),
        "archived": False,
    }


SUBJECTS = [
    "Five ways to shorten your sales cycle",
    "What our customers learned this quarter",
    "Invitation: B2B marketing breakfast",
    "New guide: measuring your funnel",
    "Case study: from lead to customer in 30 days",
    "Product news",
]
