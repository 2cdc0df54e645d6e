"""HubSpot marketing campaigns (`GET /marketing/campaigns/2026-09`) with each campaign's budget
and spend (`…/{campaignGuid}/budget/totals`) and lifetime metrics (`…/reports/metrics`), and
their parser."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from config import HubSpotSettings
from connector.errors import NotFoundError
from connector.hubspot.client import HubSpotClient
from connector.hubspot.constants import CAMPAIGN_PROPERTIES, CAMPAIGNS_PAGE
from connector.hubspot.wire import due, iso, results
from connector.pagination import CursorPaginator
from connector.records import Fields, Issue, Normalized, raw_text, record_key
from connector.stream import Page, Stream

log = logging.getLogger("funnelsync.connector.hubspot")

# HubSpot's metrics counters → columns.
CAMPAIGN_METRICS = {
    "sessions": "sessions",
    "newContactsFirstTouch": "new_contacts_first_touch",
    "newContactsLastTouch": "new_contacts_last_touch",
    "influencedContacts": "influenced_contacts",
}
ITEM_KINDS = {"budgetItems": "budget", "spendItems": "spend"}


class CampaignsStream(Stream[HubSpotClient]):
    """Marketing campaigns with their budget and spend items and HubSpot's lifetime metrics.

    Budgets, spend and metrics change without touching the campaign's `updatedAt` and the listing
    has no change filter, so every read lists all campaigns and reads each one's totals and
    metrics (1 + 2 requests per campaign); incremental syncs do so at most every
    `campaigns_minutes`. Without the `marketing.campaigns.read` scope or the campaigns tool
    (Marketing Hub Professional) the stream is `unavailable` and the run goes on.
    """

    name = "campaigns"
    parallel = True
    cursor_key = "checked_at"
    optional = True
    scopes = (("marketing.campaigns.read",),)
    endpoints = ("campaigns", "campaign_metrics", "campaign_budget")

    def __init__(self, settings: HubSpotSettings) -> None:
        self.settings = settings

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        if not due(client, state.get("checked_at"), self.settings.campaigns_minutes, full=full):
            yield Page(self.name, [], dict(state))
            return
        started = client.server_now()
        paginator = CursorPaginator()
        path = client.paths.path("campaigns")
        while not paginator.finished:
            query: dict[str, Any] = {"limit": CAMPAIGNS_PAGE, "properties": ",".join(CAMPAIGN_PROPERTIES)}
            if paginator.token:
                query["after"] = paginator.token
            body = client.get(path, params=query)
            records = [self._detailed(client, r) for r in results(body, path)]
            paginator.advance(body)
            done = {"checked_at": iso(started)} if paginator.finished else dict(state)
            yield Page(self.name, records, done)

    @staticmethod
    def _detailed(client: HubSpotClient, record: dict[str, Any]) -> dict[str, Any]:
        """The listed campaign with its budget totals and metrics beside it (each left out when
        the campaign was deleted since it was listed)."""
        campaign_id = str(record.get("id", "")) if isinstance(record, dict) else ""
        if not campaign_id:
            return record
        out = dict(record)
        for key, endpoint in (("budget", "campaign_budget"), ("metrics", "campaign_metrics")):
            try:
                out[key] = client.get(client.paths.path(endpoint, campaign_id=campaign_id))
            except NotFoundError:
                log.info("campaign %s: %s not found (deleted since it was listed?)", campaign_id, key)
        return out

    def parse(self, page: Page) -> Normalized:
        return normalize_campaigns(page.records)


def _money(f: Fields, body: dict[str, Any], name: str, label: str) -> float | None:
    value = f.number(body, name, label=label)
    if value is not None and value < 0:
        f.flag(label, value, "negative amount")
        return None
    return value


def _items(f: Fields, campaign_id: str, budget: dict[str, Any]) -> list[dict[str, Any]]:
    """Budget and spend items as rows; an item without an id or amount is quarantined."""
    rows = []
    for key, kind in ITEM_KINDS.items():
        items = budget.get(key)
        for item in items if isinstance(items, list) else []:
            item_id = str(item.get("id", "")).strip() if isinstance(item, dict) else ""
            if not item_id:
                f.flag(f"budget.{key}", item, "item without an id")
                continue
            amount = _money(f, item, "amount", f"budget.{key}.{item_id}.amount")
            rows.append(
                {
                    "campaign_id": campaign_id,
                    "kind": kind,
                    "item_id": item_id,
                    "name": f.text(item, "name"),
                    "description": f.text(item, "description"),
                    "amount": amount,
                    "item_order": f.integer(item, "order"),
                    "created_at": _epoch(f, item, "createdAt"),
                    "updated_at": _epoch(f, item, "updatedAt"),
                }
            )
    return rows


def _epoch(f: Fields, item: dict[str, Any], name: str) -> datetime | None:
    """Budget items carry epoch milliseconds (the campaign itself ISO-8601 text)."""
    value = item.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return f.timestamp(item, name)


def normalize_campaigns(records: Iterable[Any]) -> Normalized:
    """Campaigns with their totals, metrics and items; a malformed value is quarantined and the
    rest of the campaign kept, a campaign without an id is rejected."""
    out = Normalized()
    for record in records:
        campaign_id = str(record.get("id", "")).strip() if isinstance(record, dict) else ""
        if not campaign_id or len(campaign_id) > 60:
            out.issues.append(
                Issue(record_key(record), "*", raw_text(record), "campaign id missing or too long")
            )
            out.rejected += 1
            continue
        f = Fields(campaign_id, out.issues)
        props = record.get("properties") if isinstance(record.get("properties"), dict) else {}
        budget = record.get("budget") if isinstance(record.get("budget"), dict) else {}
        metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
        start, end = f.timestamp(props, "hs_start_date"), f.timestamp(props, "hs_end_date")
        currency = f.text(budget, "currencyCode") or f.text(props, "hs_currency_code")
        row: dict[str, Any] = {
            "id": campaign_id,
            "name": f.text(props, "hs_name"),
            "start_date": start.date() if start else None,
            "end_date": end.date() if end else None,
            "status": f.text(props, "hs_campaign_status"),
            "currency": currency.upper()[:3] if currency else None,
            "budget_total": _money(f, budget, "budgetTotal", "budget.budgetTotal") if budget else None,
            "spend_total": _money(f, budget, "spendTotal", "budget.spendTotal") if budget else None,
            "archived": False,
            "created_at": f.timestamp(record, "createdAt"),
            "updated_at": f.timestamp(record, "updatedAt"),
            "raw": record,
        }
        for key, column in CAMPAIGN_METRICS.items():
            value = metrics.get(key)
            if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
                row[column] = value
            else:
                f.flag(f"metrics.{key}", value, "counter is not a whole number >= 0")
                row[column] = None
        out.entities.append(row)
        out.children.extend(_items(f, campaign_id, budget))
    return out
