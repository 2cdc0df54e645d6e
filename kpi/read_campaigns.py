"""Reading what the campaigns family needs (kpi/campaigns.py): the synced marketing campaigns with
their spend items, and per grid period the contacts each campaign brought (first converting
touch) and the ones of them that first became customers, counted in SQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, false, func, select

from kpi.inputs import CampaignCell, CampaignFact
from kpi.periods import Period
from kpi.sql import instant, period_index
from storage.db import table_of
from storage.models import HubSpotCampaign, HubSpotCampaignItem, HubSpotContact, HubSpotContactStageDate


def read_campaigns(conn: Connection, *, connection: str) -> list[CampaignFact]:
    """Every campaign not archived, with its spend items (amount, the UTC day it was entered)."""
    campaigns, items = table_of(HubSpotCampaign), table_of(HubSpotCampaignItem)
    spend: dict[str, list[tuple[float, date | None]]] = defaultdict(list)
    query = (
        select(items.c.campaign_id, items.c.amount, items.c.created_at)
        .where(items.c.connection == connection, items.c.kind == "spend", items.c.amount.is_not(None))
        .order_by(items.c.campaign_id, items.c.item_order, items.c.item_id)
    )
    for campaign_id, amount, created in conn.execute(query):
        at = instant(created)
        spend[str(campaign_id)].append((float(amount), at.date() if at else None))
    c = campaigns.c
    rows = conn.execute(
        select(
            c.id,
            c.name,
            c.start_date,
            c.end_date,
            c.currency,
            c.budget_total,
            c.spend_total,
            c.sessions,
            c.new_contacts_first_touch,
            c.new_contacts_last_touch,
            c.influenced_contacts,
        )
        .where(c.connection == connection, c.archived == false())
        .order_by(c.id)
    )
    return [
        CampaignFact(
            str(row[0]),
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            row[9],
            row[10],
            tuple(spend.get(str(row[0]), ())),
        )
        for row in rows
    ]


def read_campaign_cells(
    conn: Connection, *, connection: str, periods: Sequence[Period], customer_stage: str
) -> list[CampaignCell]:
    """Contacts per (period created, first-touch campaign), and per (period of the first entry
    into `customer_stage`, campaign); archived and merged-away contacts left out."""
    if not periods:
        return []
    contacts, dates = table_of(HubSpotContact), table_of(HubSpotContactStageDate)
    live = (
        contacts.c.connection == connection,
        contacts.c.archived == false(),
        contacts.c.merged_into.is_(None),
        contacts.c.first_touch_campaign.is_not(None),
    )
    created = period_index(contacts.c.createdate, periods).label("period")
    out = [
        CampaignCell(int(period), str(campaign), "created", int(n))
        for period, campaign, n in conn.execute(
            select(created, contacts.c.first_touch_campaign, func.count())
            .where(*live)
            .group_by(created, contacts.c.first_touch_campaign)
        )
        if period is not None
    ]
    first = (
        select(dates.c.contact_id, func.min(dates.c.entered_at).label("at"))
        .where(dates.c.connection == connection, dates.c.stage == customer_stage)
        .group_by(dates.c.contact_id)
        .subquery()
    )
    became = period_index(first.c.at, periods).label("period")
    query = (
        select(became, contacts.c.first_touch_campaign, func.count())
        .join(first, first.c.contact_id == contacts.c.id)
        .where(*live)
        .group_by(became, contacts.c.first_touch_campaign)
    )
    out += [
        CampaignCell(int(period), str(campaign), "customer", int(n))
        for period, campaign, n in conn.execute(query)
        if period is not None
    ]
    return out
