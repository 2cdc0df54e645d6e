"""The sandbox portal's marketing campaigns (HubSpot's campaigns tool): a campaign every couple of
months on one channel, each with budget and spend items, and the contacts whose first or latest
converting touch it was (`hs_analytics_first_touch_converting_campaign` /
`hs_analytics_last_touch_converting_campaign`). Drawn from a random stream of their own, so adding
them left every other generated value of a seed as it was. Metrics are counted from the contacts
when asked for, so they follow the portal as it changes."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandbox.hubspot.data import PortalData, Record

FIRST_TOUCH = "hs_analytics_first_touch_converting_campaign"
LAST_TOUCH = "hs_analytics_last_touch_converting_campaign"
# (name, the traffic source its contacts arrive by, its budget's weight).
_KINDS = [
    ("Google Ads: brand and category", "PAID_SEARCH", 1.2),
    ("LinkedIn lead generation", "PAID_SOCIAL", 0.9),
    ("Webinar series", "OTHER_CAMPAIGNS", 0.5),
    ("Nurture newsletter relaunch", "EMAIL_MARKETING", 0.4),
    ("Trade fair", "OFFLINE", 1.6),
    ("Content hub and SEO guides", "ORGANIC_SEARCH", 0.6),
]
# Budget per day a campaign runs, per contact of the portal (home currency, times the weight):
# about a third of the demo's marketing spend (docs/sandbox.md, "The demo's marketing spend").
BUDGET_PER_CONTACT_DAY = 3.0
# Share of the contacts who arrive by the campaign's source while it runs that HubSpot ties to it.
_TIED = 0.7
# Sessions HubSpot counts per contact a campaign brings (first touch) and per later touch.
SESSIONS_PER_NEW_CONTACT = 9
SESSIONS_PER_TOUCH = 3


def _day(value: Any) -> date | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _items(rng: random.Random, total: float, count: int, start: datetime, kind: str) -> list[dict[str, Any]]:
    """`count` items that add up to `total`, created a few days apart from `start`."""
    shares = [rng.uniform(0.5, 1.5) for _ in range(count)]
    amounts = [round(total * s / sum(shares), 2) for s in shares]
    amounts[-1] = round(total - sum(amounts[:-1]), 2)
    out = []
    for order, amount in enumerate(amounts):
        created = start + timedelta(days=7 * order, hours=rng.randint(8, 17))
        out.append(
            {
                "id": str(rng.randint(10_000_000, 99_999_999)),
                "name": f"{kind.title()} {order + 1}",
                "amount": amount,
                "order": order,
                "createdAt": _ms(created),
                "updatedAt": _ms(created + timedelta(hours=1)),
            }
        )
    return out


def _campaign(
    rng: random.Random, n: int, start: datetime, now: datetime, currency: str, contacts: int
) -> dict[str, Any]:
    name, source, weight = _KINDS[n % len(_KINDS)]
    ongoing = n % len(_KINDS) == 0 and start > now - timedelta(days=120)
    days = rng.randint(30, 90)
    end = None if ongoing else start + timedelta(days=days)
    done = end is not None and end < now
    budget = weight * days * BUDGET_PER_CONTACT_DAY * max(contacts, 100)
    budget_total = float(round(budget * rng.uniform(0.8, 1.2), -3))
    # A finished campaign spent about its budget; a running one the share of its days so far.
    ran = 1.0 if done or end is None else max(0.05, (now - start) / (end - start))
    spend_total = round(budget_total * rng.uniform(0.85, 1.1) * (ran if end else 0.6), 2)
    budget_items = _items(rng, budget_total, rng.randint(1, 3), start - timedelta(days=14), "budget")
    spend_items = _items(rng, spend_total, rng.randint(1, 4), start, "spend") if spend_total else []
    status = "active" if end is None or not done else "completed"
    properties = {
        "hs_name": f"{name} {start:%Y-%m}",
        "hs_start_date": start.date().isoformat(),
        "hs_end_date": end.date().isoformat() if end else None,
        "hs_campaign_status": status,
        "hs_currency_code": currency,
        "hs_utm": f"{source.lower()}-{start:%Y%m}",
        "hs_budget_items_sum_amount": str(budget_total),
        "hs_spend_items_sum_amount": str(spend_total),
    }
    created = start - timedelta(days=21)
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "properties": {k: v for k, v in properties.items() if v is not None},
        "createdAt": created,
        "updatedAt": max(created, min(now, end or now)),
        "businessUnits": [{"id": 0}],
        "source": source,
        "budgetItems": budget_items,
        "spendItems": spend_items,
        "currencyCode": currency,
    }


def add_campaigns(data: PortalData, *, seed: int, now: datetime, history_days: int, currency: str) -> None:
    """A campaign starting every ~60 days over the history, and the contacts tied to each."""
    rng = random.Random(f"{seed}:campaigns")
    campaigns = []
    start = (now - timedelta(days=history_days - 20)).replace(hour=0, minute=0, second=0, microsecond=0)
    n = 0
    while start < now - timedelta(days=5):
        campaigns.append(_campaign(rng, n, start, now, currency, len(data.contacts)))
        start += timedelta(days=rng.randint(45, 75))
        n += 1
    data.campaigns = campaigns
    for contact in data.contacts:
        props = contact["properties"]
        latest = props.get("hs_latest_source_timestamp")
        at = datetime.fromisoformat(str(latest).replace("Z", "+00:00")) if latest else None
        for campaign in campaigns:
            first = _tied(campaign, props.get("hs_analytics_source"), contact["createdAt"])
            if FIRST_TOUCH not in props and first and rng.random() < _TIED:
                props[FIRST_TOUCH] = campaign["id"]
            last = at is not None and _tied(campaign, props.get("hs_latest_source"), at)
            if LAST_TOUCH not in props and last and rng.random() < _TIED:
                props[LAST_TOUCH] = campaign["id"]


def _tied(campaign: dict[str, Any], source: Any, at: datetime) -> bool:
    """Whether a touch by `source` at `at` falls in the campaign's channel and dates."""
    if source != campaign["source"]:
        return False
    start, end = (
        _day(campaign["properties"].get("hs_start_date")),
        _day(campaign["properties"].get("hs_end_date")),
    )
    day = at.astimezone(UTC).date()
    return start is not None and start <= day and (end is None or day <= end)


def render_campaign(campaign: dict[str, Any], properties: Iterable[str]) -> dict[str, Any]:
    """`PublicCampaign`: only the properties asked for, and of those only the non-empty ones."""
    wanted = {p for p in properties if p}
    return {
        "id": campaign["id"],
        "properties": {
            k: v for k, v in campaign["properties"].items() if k in wanted and v not in (None, "")
        },
        "createdAt": campaign["createdAt"],
        "updatedAt": campaign["updatedAt"],
        "businessUnits": campaign["businessUnits"],
    }


def budget_totals(campaign: dict[str, Any]) -> dict[str, Any]:
    """`PublicBudgetTotals` of a campaign."""
    budget = round(sum(i["amount"] for i in campaign["budgetItems"]), 2)
    spend = round(sum(i["amount"] for i in campaign["spendItems"]), 2)
    return {
        "budgetItems": campaign["budgetItems"],
        "spendItems": campaign["spendItems"],
        "budgetTotal": budget,
        "spendTotal": spend,
        "remainingBudget": round(budget - spend, 2),
        "currencyCode": campaign["currencyCode"],
    }


def metrics(
    campaign_id: str, contacts: Iterable[Record], start: date | None, end: date | None
) -> dict[str, int]:
    """`MetricsCounters` counted from the contacts: new contacts whose first (last) converting
    touch was the campaign, created (touched) between the dates, and the contacts it influenced."""

    def within(value: Any) -> bool:
        day = _day(value)
        return day is not None and (start is None or start <= day) and (end is None or day <= end)

    first = last = influenced = 0
    for contact in contacts:
        if contact["archived"]:
            continue
        props = contact["properties"]
        is_first = props.get(FIRST_TOUCH) == campaign_id and within(props.get("createdate"))
        is_last = props.get(LAST_TOUCH) == campaign_id and within(props.get("hs_latest_source_timestamp"))
        first += is_first
        last += is_last
        influenced += is_first or is_last
    return {
        "sessions": first * SESSIONS_PER_NEW_CONTACT + last * SESSIONS_PER_TOUCH,
        "newContactsFirstTouch": first,
        "newContactsLastTouch": last,
        "influencedContacts": influenced,
    }
