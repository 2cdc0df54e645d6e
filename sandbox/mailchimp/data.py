"""A deterministic Mailchimp account whose audience overlaps a generated HubSpot portal by email.

Most CRM contacts are newsletter members (so email engagement can be joined to the funnel); some
members are not in the CRM. A weekly newsletter goes to the audience and a monthly invitation to a
small events audience; each sent campaign has a report whose counters are consistent with it
(delivered = sent − hard − soft bounces, clicks ≤ opens, unsubscribes = the members who left via
that campaign), with Apple MPP proxy-excluded opens for sends on or after 2024-06-22.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

MPP_EXCLUSION_START = datetime(2024, 6, 22, tzinfo=UTC)
STATUSES = [
    ("subscribed", 0.84),
    ("unsubscribed", 0.09),
    ("cleaned", 0.03),
    ("pending", 0.02),
    ("archived", 0.02),
]
SIGNUP_SOURCES = ["Hosted Signup Form", "Import", "API - Generic", "Admin Add", "Embedded Form"]
TAGS = ["customer", "webinar", "trial", "newsletter-2024", "event"]
UNSUBSCRIBE_REASONS = [
    "No longer interested",
    "Did not signup for list",
    "Too many emails",
    "Inappropriate content",
    "N/A (Unsubscribed by admin)",
]
SUBJECTS = [
    "This month in B2B marketing",
    "How our customers shorten their sales cycle",
    "Webinar: measuring the whole funnel",
    "New guide: from lead to customer",
    "Product news",
]


def mc_time(value: datetime) -> str:
    """Mailchimp's timestamp style: ISO 8601 with `+00:00`, whole seconds."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def subscriber_hash(email: str) -> str:
    """A member's id: the MD5 of the lower-cased address (Mailchimp's subscriber hash)."""
    return hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()


@dataclass
class Person:
    """Someone who may be on a list: the CRM contacts, plus addresses only Mailchimp knows."""

    email: str
    first: str
    last: str
    created: datetime


@dataclass
class Account:
    """Everything the sandbox serves, in Mailchimp's shapes (datetimes kept as datetimes)."""

    lists: list[dict[str, Any]] = field(default_factory=list)
    members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # list id -> members
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # campaign id -> report
    unsubscribes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # campaign id -> rows
    # Clicks simulated days added to a report (campaign id -> their times, oldest first), and the
    # report's `last_click` before the first of them (sandbox/mailchimp/activity.py).
    late_clicks: dict[str, list[datetime]] = field(default_factory=dict)
    first_last_click: dict[str, datetime] = field(default_factory=dict)


class HexIds:
    """Mailchimp-style random hex ids from the account's own random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def hex(self, length: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(length))


def generate_account(
    people: list[Person],
    *,
    now: datetime,
    seed: int,
    history_days: int = 730,
    share_in_crm: float = 0.7,
    extra_members: float = 0.1,
    campaigns: int | None = None,
) -> Account:
    """The account for a list of CRM contacts (a share of them subscribe), plus extra members."""
    rng = random.Random(seed * 104_729 + 17)
    ids = HexIds(rng)
    account = Account()
    start = now - timedelta(days=history_days)
    newsletter_id, events_id = ids.hex(10), ids.hex(10)
    chosen = [p for p in people if rng.random() < share_in_crm]
    for n in range(round(len(people) * extra_members)):
        created = start + timedelta(seconds=rng.uniform(0, (now - start).total_seconds()))
        chosen.append(Person(f"reader{n}@inbox.example", "", "", created))
    newsletter = [new_member(p, newsletter_id, now, rng, ids) for p in chosen]
    events = [new_member(p, events_id, now, rng, ids) for p in rng.sample(chosen, len(chosen) // 10)]
    account.members = {newsletter_id: newsletter, events_id: events}
    account.lists = [
        _audience(newsletter_id, "Newsletter", start, rng),
        _audience(events_id, "Events", start + timedelta(days=30), rng),
    ]
    # A weekly newsletter and a monthly invitation; `campaigns` sets how many are sent in all.
    weekly = 7.0 if campaigns is None else max(history_days / max(campaigns - history_days / 30, 1), 0.05)
    for audience, cadence, title in (
        (newsletter_id, weekly, "Newsletter"),
        (events_id, 30.0, "Event invitation"),
    ):
        members = account.members[audience]
        joined = sorted(m["timestamp_opt"] for m in members)
        send = (start + timedelta(days=cadence)).replace(hour=8, minute=0, second=0, microsecond=0)
        while send < now:
            campaign = _campaign(ids.hex(10), audience, title, send, joined, rng)
            account.campaigns.append(campaign)
            account.reports[campaign["id"]] = campaign_report(campaign, rng, now)
            send += timedelta(days=cadence)
        for n in range(2):
            account.campaigns.append(_draft(ids.hex(10), audience, now - timedelta(days=n + 1)))
    account.campaigns.sort(key=lambda c: c["create_time"])
    _attribute_unsubscribes(account, rng)
    for listing in account.lists:
        list_stats(listing, account)
    return account


def new_member(
    person: Person, list_id: str, now: datetime, rng: random.Random, ids: HexIds
) -> dict[str, Any]:
    status = rng.choices([s for s, _ in STATUSES], weights=[w for _, w in STATUSES], k=1)[0]
    opted = min(now - timedelta(minutes=5), person.created + timedelta(hours=rng.uniform(0, 72)))
    changed = opted
    if status in ("unsubscribed", "cleaned", "archived"):
        changed = opted + (now - opted) * rng.uniform(0.05, 0.95)
    source = rng.choice(SIGNUP_SOURCES)
    tags = sorted(rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2])))
    return {
        "id": subscriber_hash(person.email),
        "email_address": person.email,
        "unique_email_id": ids.hex(10),
        "contact_id": ids.hex(32),
        "full_name": f"{person.first} {person.last}".strip(),
        "web_id": rng.randint(100_000_000, 999_999_999),
        "email_type": "html",
        "status": status,
        "unsubscribe_reason": rng.choice(UNSUBSCRIBE_REASONS) if status == "unsubscribed" else None,
        "merge_fields": {"FNAME": person.first, "LNAME": person.last, "COMPANY": "", "PHONE": ""},
        "interests": {},
        "stats": {
            "avg_open_rate": round(rng.uniform(0, 1), 2),
            "avg_click_rate": round(rng.uniform(0, 0.3), 2),
        },
        "ip_signup": "",
        "timestamp_signup": opted if source != "Import" else None,
        "ip_opt": f"192.0.2.{rng.randint(1, 254)}",
        "timestamp_opt": opted,
        "member_rating": rng.randint(1, 5),
        "last_changed": changed,
        "language": rng.choice(["sv", "nb", "en", ""]),
        "vip": rng.random() < 0.02,
        "email_client": "",
        "location": {
            "latitude": 0,
            "longitude": 0,
            "gmtoff": 0,
            "dstoff": 0,
            "country_code": "",
            "timezone": "",
        },
        "source": source,
        "tags_count": len(tags),
        "tags": [{"id": TAGS.index(t) + 1, "name": t} for t in tags],
        "list_id": list_id,
    }


def _audience(list_id: str, name: str, created: datetime, rng: random.Random) -> dict[str, Any]:
    return {
        "id": list_id,
        "web_id": rng.randint(10_000, 99_999),
        "name": name,
        "contact": {"company": "Sandbox AB", "address1": "Storgatan 1", "city": "Stockholm", "country": "SE"},
        "permission_reminder": "You signed up on our website.",
        "use_archive_bar": True,
        "campaign_defaults": {"from_name": "Sandbox AB", "from_email": "news@sandbox.example", "subject": ""},
        "date_created": created,
        "list_rating": 4,
        "email_type_option": False,
        "visibility": "prv",
        "double_optin": True,
        "stats": {},
    }


def _campaign(
    campaign_id: str, list_id: str, title: str, send: datetime, joined: list[datetime], rng: random.Random
) -> dict[str, Any]:
    audience = bisect.bisect_right(joined, send)
    recipients = max(1, round(audience * rng.uniform(0.85, 0.92)))  # the ones still subscribed then
    return {
        "id": campaign_id,
        "web_id": rng.randint(1_000_000, 9_999_999),
        "type": "regular",
        "create_time": send - timedelta(days=rng.randint(1, 4)),
        "status": "sent",
        "emails_sent": recipients,
        "send_time": send,
        "content_type": "template",
        "recipients": {"list_id": list_id, "list_is_active": True, "recipient_count": recipients},
        "settings": {"subject_line": rng.choice(SUBJECTS), "title": f"{title} {send:%Y-%m-%d}"},
        "tracking": {"opens": True, "html_clicks": True, "text_clicks": False},
    }


def _draft(campaign_id: str, list_id: str, created: datetime) -> dict[str, Any]:
    return {
        "id": campaign_id,
        "web_id": 0,
        "type": "regular",
        "create_time": created,
        "status": "save",
        "emails_sent": 0,
        "send_time": None,
        "content_type": "template",
        "recipients": {"list_id": list_id, "list_is_active": True, "recipient_count": 0},
        "settings": {"title": "Draft"},
        "tracking": {"opens": True, "html_clicks": True, "text_clicks": False},
    }


def campaign_report(campaign: dict[str, Any], rng: random.Random, now: datetime) -> dict[str, Any]:
    """A sent campaign's report as of `now` (its last open and click no later)."""
    sent = campaign["emails_sent"]
    hard, soft = round(sent * rng.uniform(0, 0.008)), round(sent * rng.uniform(0, 0.01))
    delivered = max(0, sent - hard - soft)
    unique_opens = round(delivered * rng.uniform(0.3, 0.5))
    clickers = min(unique_opens, round(delivered * rng.uniform(0.02, 0.06)))
    unique_clicks = round(clickers * rng.uniform(1.0, 1.5))
    opens: dict[str, Any] = {
        "opens_total": round(unique_opens * rng.uniform(1.3, 2.2)),
        "unique_opens": unique_opens,
        "open_rate": unique_opens / delivered if delivered else 0,
        "last_open": min(campaign["send_time"] + timedelta(days=rng.uniform(1, 9)), now),
    }
    if campaign["send_time"] >= MPP_EXCLUSION_START:
        human = round(unique_opens * rng.uniform(0.45, 0.7))
        opens["proxy_excluded_opens"] = round(opens["opens_total"] * human / max(unique_opens, 1))
        opens["proxy_excluded_unique_opens"] = human
        opens["proxy_excluded_open_rate"] = human / delivered if delivered else 0
    return {
        "id": campaign["id"],
        "campaign_title": campaign["settings"]["title"],
        "type": campaign["type"],
        "list_id": campaign["recipients"]["list_id"],
        "list_is_active": True,
        "subject_line": campaign["settings"]["subject_line"],
        "preview_text": "",
        "emails_sent": sent,
        "abuse_reports": round(delivered * rng.uniform(0, 0.0003)),
        "unsubscribed": 0,  # set from the members who left via this campaign
        "send_time": campaign["send_time"],
        "bounces": {"hard_bounces": hard, "soft_bounces": soft, "syntax_errors": 0},
        "forwards": {"forwards_count": 0, "forwards_opens": 0},
        "opens": opens,
        "clicks": {
            "clicks_total": round(unique_clicks * rng.uniform(1.1, 1.6)),
            "unique_clicks": unique_clicks,
            "unique_subscriber_clicks": clickers,
            "click_rate": clickers / delivered if delivered else 0,
            "last_click": min(campaign["send_time"] + timedelta(days=rng.uniform(0.5, 5)), now),
        },
        "list_stats": {},
        "ecommerce": {"total_orders": 0, "total_spent": 0, "total_revenue": 0, "currency_code": "SEK"},
        "delivery_status": {"enabled": False},
    }


def _attribute_unsubscribes(account: Account, rng: random.Random) -> None:
    """Each unsubscribed member left via the last campaign their list got before they left."""
    by_list: dict[str, list[dict[str, Any]]] = {}
    for campaign in account.campaigns:
        if campaign["status"] == "sent":
            by_list.setdefault(campaign["recipients"]["list_id"], []).append(campaign)
    for list_id, members in account.members.items():
        sent = sorted(by_list.get(list_id, []), key=lambda c: c["send_time"])
        times = [c["send_time"] for c in sent]
        for member in members:
            if member["status"] != "unsubscribed":
                continue
            i = bisect.bisect_left(times, member["last_changed"]) - 1
            if i >= 0:
                attribute_unsubscribe(account, member, sent[i], rng)


def last_campaign_before(account: Account, list_id: str, moment: datetime) -> dict[str, Any] | None:
    """The list's last campaign sent before `moment`: the one a member leaving then left through."""
    return max(
        (
            c
            for c in account.campaigns
            if c["status"] == "sent" and c["recipients"]["list_id"] == list_id and c["send_time"] < moment
        ),
        key=lambda c: c["send_time"],
        default=None,
    )


def attribute_unsubscribe(
    account: Account, member: dict[str, Any], campaign: dict[str, Any], rng: random.Random
) -> None:
    """Counts a member who left in the campaign's report, with a row in its unsubscribes."""
    account.reports[campaign["id"]]["unsubscribed"] += 1
    account.unsubscribes.setdefault(campaign["id"], []).append(
        {
            "email_id": member["id"],
            "email_address": member["email_address"],
            "merge_fields": member["merge_fields"],
            "vip": member["vip"],
            "timestamp": member["last_changed"],
            "reason": member["unsubscribe_reason"] or rng.choice(UNSUBSCRIBE_REASONS),
            "campaign_id": campaign["id"],
            "list_id": member["list_id"],
            "list_is_active": True,
        }
    )


def grow_report(report: dict[str, Any], rng: random.Random) -> int:
    """A few more people open and click a recent campaign; the rates follow the counts. Returns
    how many more members clicked."""
    delivered = report["emails_sent"] - report["bounces"]["hard_bounces"] - report["bounces"]["soft_bounces"]
    opens, clicks = report["opens"], report["clicks"]
    more = min(max(delivered - opens["unique_opens"], 0), rng.randint(0, 3))
    opens["unique_opens"] += more
    opens["opens_total"] += more + rng.randint(0, 2)
    opens["open_rate"] = opens["unique_opens"] / delivered if delivered else 0
    if "proxy_excluded_unique_opens" in opens:
        human = min(more, rng.randint(0, more))
        opens["proxy_excluded_unique_opens"] += human
        opens["proxy_excluded_opens"] += human
        opens["proxy_excluded_open_rate"] = (
            opens["proxy_excluded_unique_opens"] / delivered if delivered else 0
        )
    clickers: int = min(opens["unique_opens"] - clicks["unique_subscriber_clicks"], rng.randint(0, 1))
    clicks["unique_subscriber_clicks"] += clickers
    clicks["unique_clicks"] += clickers
    clicks["clicks_total"] += clickers
    clicks["click_rate"] = clicks["unique_subscriber_clicks"] / delivered if delivered else 0
    return clickers


def list_stats(audience: dict[str, Any], account: Account) -> None:
    members = account.members[audience["id"]]
    counts = {status: 0 for status, _ in STATUSES}
    for member in members:
        counts[member["status"]] += 1
    sent = [
        c for c in account.campaigns if c["recipients"]["list_id"] == audience["id"] and c["status"] == "sent"
    ]
    audience["stats"] = {
        "member_count": counts["subscribed"],
        "unsubscribe_count": counts["unsubscribed"],
        "cleaned_count": counts["cleaned"],
        "campaign_count": len(sent),
        "campaign_last_sent": max((c["send_time"] for c in sent), default=None),
    }


def people_from_contacts(contacts: list[dict[str, Any]]) -> list[Person]:
    """The people of a generated HubSpot portal (its contact records), for an overlapping audience."""
    out = []
    for record in contacts:
        props = record["properties"]
        email = props.get("email")
        if not email or "@" not in str(email):
            continue
        out.append(
            Person(
                str(email),
                str(props.get("firstname", "")),
                str(props.get("lastname", "")),
                record["createdAt"],
            )
        )
    return out
