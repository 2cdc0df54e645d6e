"""Reading what the attribution models need (kpi/attribution.py): each relevant deal's associated
contacts, and per contact its creation and original source, its latest session and source, the
campaigns of its first and latest converting touch, and when it first became a lead."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import Connection, false, func, or_, select

from kpi.inputs import TouchContact
from kpi.model import UNKNOWN
from kpi.sql import bound, instant
from storage.db import table_of
from storage.models import HubSpotContact, HubSpotContactStageDate, HubSpotDeal, HubSpotDealAssociation


def read_touch_contacts(
    conn: Connection, *, connection: str, lead_stage: str, since: datetime | None
) -> tuple[dict[str, TouchContact], dict[str, tuple[str, ...]]]:
    """(contact id → its touch data, deal id → its contact ids) for deals created or closed since
    `since` (all deals without it); archived and merged-away contacts are left out."""
    deals, links = table_of(HubSpotDeal), table_of(HubSpotDealAssociation)
    contacts, dates = table_of(HubSpotContact), table_of(HubSpotContactStageDate)
    relevant = select(deals.c.id).where(deals.c.connection == connection, deals.c.archived == false())
    if since is not None:
        relevant = relevant.where(or_(deals.c.createdate >= bound(since), deals.c.closedate >= bound(since)))
    pairs = select(links.c.deal_id, links.c.to_id).where(
        links.c.connection == connection,
        links.c.to_type == "contact",
        links.c.deal_id.in_(relevant.scalar_subquery()),
    )
    by_deal: dict[str, list[str]] = defaultdict(list)
    for deal_id, contact_id in conn.execute(pairs):
        by_deal[str(deal_id)].append(str(contact_id))
    lead = (
        select(dates.c.contact_id, func.min(dates.c.entered_at).label("lead_at"))
        .where(dates.c.connection == connection, dates.c.stage == lead_stage)
        .group_by(dates.c.contact_id)
        .subquery()
    )
    wanted = pairs.with_only_columns(links.c.to_id).distinct().scalar_subquery()
    query = (
        select(
            contacts.c.id,
            contacts.c.createdate,
            contacts.c.analytics_source,
            contacts.c.latest_source,
            contacts.c.latest_source_at,
            lead.c.lead_at,
            contacts.c.first_touch_campaign,
            contacts.c.last_touch_campaign,
        )
        .outerjoin(lead, lead.c.contact_id == contacts.c.id)
        .where(
            contacts.c.connection == connection,
            contacts.c.archived == false(),
            contacts.c.merged_into.is_(None),
            contacts.c.id.in_(wanted),
        )
    )
    found = {
        str(row[0]): TouchContact(
            str(row[0]),
            instant(row[1]),
            row[2] or UNKNOWN,
            row[3],
            instant(row[4]),
            instant(row[5]),
            row[6],
            row[7],
        )
        for row in conn.execute(query)
    }
    return found, {deal: tuple(ids) for deal, ids in by_deal.items()}
