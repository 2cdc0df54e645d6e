"""Reading what the attribution models need (kpi/attribution.py): each relevant deal's associated
contacts, and per contact its creation and original source, its latest session and source, the
campaigns of its first and latest converting touch, when it first became a lead, and the
Mailchimp campaigns it clicked (joined by address) and its page views; and each relevant deal's
sales meetings and calls (its own and its contacts')."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from sys import intern

from sqlalchemy import Connection, Select, false, func, or_, select

from kpi.inputs import SalesTouch, TouchContact
from kpi.model import UNKNOWN
from kpi.sql import bound, instant, raw, streamed
from storage.db import table_of
from storage.models import (
    HubSpotCall,
    HubSpotCallAssociation,
    HubSpotContact,
    HubSpotContactStageDate,
    HubSpotDeal,
    HubSpotDealAssociation,
    HubSpotMeeting,
    HubSpotMeetingAssociation,
    HubSpotWebEvent,
    MailchimpEmailClick,
)

# A meeting counts as a touch unless it did not take place; a call when it was answered (a call
# without a status was logged by hand, so it happened).
MISSED_MEETINGS = ("NO_SHOW", "CANCELED", "RESCHEDULED")
HELD_CALLS = ("COMPLETED",)
ENGAGEMENT_TABLES = (
    ("meeting", HubSpotMeeting, HubSpotMeetingAssociation),
    ("call", HubSpotCall, HubSpotCallAssociation),
)


def _relevant_deals(connection: str, since: datetime | None) -> Select[tuple[str]]:
    """Live deals created or closed since `since` (all live deals without it)."""
    deals = table_of(HubSpotDeal)
    relevant = select(deals.c.id).where(deals.c.connection == connection, deals.c.archived == false())
    if since is not None:
        relevant = relevant.where(or_(deals.c.createdate >= bound(since), deals.c.closedate >= bound(since)))
    return relevant


def read_touch_contacts(
    conn: Connection,
    *,
    connection: str,
    lead_stage: str,
    since: datetime | None,
    touches_since: datetime | None = None,
) -> tuple[dict[str, TouchContact], dict[str, tuple[str, ...]]]:
    """(contact id → its touch data, deal id → its contact ids) for deals created or closed since
    `since` (all deals without it; each of them, with no contact ids when it has none); archived
    and merged-away contacts are left out. Mailchimp
    clicks and page views count from `touches_since` (the earliest touch any relevant event's
    look-back reaches)."""
    links = table_of(HubSpotDealAssociation)
    contacts, dates = table_of(HubSpotContact), table_of(HubSpotContactStageDate)
    relevant = _relevant_deals(connection, since)
    pairs = select(links.c.deal_id, links.c.to_id).where(
        links.c.connection == connection,
        links.c.to_type == "contact",
        links.c.deal_id.in_(relevant.scalar_subquery()),
    )
    # Every relevant deal, also one without contacts (its own meetings and calls still count).
    by_deal: dict[str, list[str]] = {intern(str(deal_id)): [] for deal_id in conn.execute(relevant).scalars()}
    for deal_id, contact_id in streamed(conn).execute(pairs):
        by_deal[str(deal_id)].append(intern(str(contact_id)))
    # Looked up per wanted contact by the stage dates' key (grouping every contact's costs more).
    lead_at = (
        select(func.min(dates.c.entered_at))
        .where(
            dates.c.connection == contacts.c.connection,
            dates.c.contact_id == contacts.c.id,
            dates.c.stage == lead_stage,
        )
        .scalar_subquery()
    )
    wanted = pairs.with_only_columns(links.c.to_id).distinct().scalar_subquery()
    query = select(
        contacts.c.id,
        raw(contacts.c.createdate),
        contacts.c.analytics_source,
        contacts.c.latest_source,
        raw(contacts.c.latest_source_at),
        raw(lead_at),
        contacts.c.first_touch_campaign,
        contacts.c.last_touch_campaign,
        raw(contacts.c.first_conversion_at),
        raw(contacts.c.recent_conversion_at),
        raw(contacts.c.email_first_click_at),
        raw(contacts.c.email_last_click_at),
        contacts.c.email,
    ).where(
        contacts.c.connection == connection,
        contacts.c.archived == false(),
        contacts.c.merged_into.is_(None),
        contacts.c.id.in_(wanted),
    )
    found: dict[str, TouchContact] = {}
    addresses: dict[str, list[str]] = defaultdict(list)  # lower-cased address → contact ids
    for row in streamed(conn).execute(query):
        contact_id = intern(str(row[0]))
        found[contact_id] = TouchContact(
            contact_id,
            instant(row[1]),
            intern(row[2] or UNKNOWN),
            _shared(row[3]),
            instant(row[4]),
            instant(row[5]),
            _shared(row[6]),
            _shared(row[7]),
            instant(row[8]),
            instant(row[9]),
            instant(row[10]),
            instant(row[11]),
        )
        if row[12]:
            addresses[_address(row[12])].append(contact_id)
    clicks = read_mailchimp_clicks(
        conn, connection=connection, since=touches_since, addresses=addresses.keys()
    )
    for address, times in clicks.items():
        for contact_id in addresses[address]:
            found[contact_id] = replace(found[contact_id], mailchimp_clicks=times)
    views = read_page_views(conn, connection=connection, since=touches_since, contacts=found.keys())
    for contact_id, seen in views.items():
        found[contact_id] = replace(found[contact_id], page_views=seen)
    return found, {deal: tuple(ids) for deal, ids in by_deal.items()}


def _shared(value: str | None) -> str | None:
    """One object per distinct source or campaign name, however many contacts carry it."""
    return intern(value) if value else value


def _address(email: object) -> str:
    return str(email).strip().lower() if email else ""


def read_mailchimp_clicks(
    conn: Connection, *, connection: str, since: datetime | None, addresses: Collection[str]
) -> dict[str, tuple[datetime, ...]]:
    """Lower-cased address (of `addresses`) → the first click of each Mailchimp campaign it
    clicked (at or after `since`), oldest first. The clicks are streamed and only those of
    `addresses` kept, so a large account's clicks are never all in memory."""
    if not addresses:
        return {}
    m = table_of(MailchimpEmailClick)
    query = select(m.c.email_address, raw(m.c.first_click_at)).where(
        m.c.connection == connection,
        m.c.archived == false(),
        m.c.email_address.is_not(None),
        m.c.first_click_at.is_not(None),
    )
    if since is not None:
        query = query.where(m.c.first_click_at >= bound(since))
    out: dict[str, list[datetime]] = defaultdict(list)
    # Stored addresses are lower-cased already (connector/mailchimp/normalize.py).
    for address, at in streamed(conn).execute(query):
        if address in addresses and (when := instant(at)) is not None:
            out[address].append(when)
    return {address: tuple(sorted(times)) for address, times in out.items()}


def read_page_views(
    conn: Connection, *, connection: str, since: datetime | None, contacts: Collection[str]
) -> dict[str, tuple[tuple[datetime, str | None], ...]]:
    """Contact id (of `contacts`) → its page views and their sources from a day before `since`
    on (so a visit under way at `since` is seen to have begun earlier), oldest first; streamed,
    only those of `contacts` kept."""
    if not contacts:
        return {}
    w = table_of(HubSpotWebEvent)
    query = select(w.c.contact_id, raw(w.c.occurred_at), w.c.source).where(
        w.c.connection == connection, w.c.archived == false(), w.c.occurred_at.is_not(None)
    )
    if since is not None:
        query = query.where(w.c.occurred_at >= bound(since - timedelta(days=1)))
    out: dict[str, list[tuple[datetime, str | None]]] = defaultdict(list)
    for contact_id, at, source in streamed(conn).execute(query):
        if contact_id in contacts and (when := instant(at)) is not None:
            out[contact_id].append((when, source))
    return {contact_id: tuple(sorted(views, key=lambda v: v[0])) for contact_id, views in out.items()}


def read_sales_touches(
    conn: Connection,
    *,
    connection: str,
    since: datetime | None,
    deal_contacts: Mapping[str, tuple[str, ...]],
) -> dict[str, tuple[SalesTouch, ...]]:
    """Deal id (of `deal_contacts`, from `read_touch_contacts`: the relevant deals) → the meetings
    and calls held with it or with one of its contacts, oldest first, each once however many of
    the deal's contacts it is associated with. Archived ones, those without a time and those
    before `since` (the earliest touch any relevant event's look-back reaches) are left out.

    One scan per kind, joined in Python: the links of held engagements are few per deal, and a
    join through the deal associations made PostgreSQL plan nested loops over fresh tables."""
    # (kind, engagement id) → the touch, per deal and per contact it is associated with.
    direct: dict[str, dict[tuple[str, str], SalesTouch]] = defaultdict(dict)
    by_contact: dict[str, dict[tuple[str, str], SalesTouch]] = defaultdict(dict)
    deals = deal_contacts.keys()
    contacts = {contact for ids in deal_contacts.values() for contact in ids}
    for kind, model, association_model in ENGAGEMENT_TABLES:
        e, a = table_of(model), table_of(association_model)
        held = (
            or_(e.c.outcome.is_(None), e.c.outcome.not_in(MISSED_MEETINGS))
            if kind == "meeting"
            else or_(e.c.outcome.is_(None), e.c.outcome.in_(HELD_CALLS))
        )
        query = (
            select(a.c.to_type, a.c.to_id, e.c.id, raw(e.c.occurred_at))
            .select_from(a.join(e, (e.c.connection == a.c.connection) & (e.c.id == a.c.engagement_id)))
            .where(
                a.c.connection == connection,
                a.c.to_type.in_(("deal", "contact")),
                e.c.archived == false(),
                e.c.occurred_at.is_not(None),
                held,
            )
        )
        if since is not None:
            query = query.where(e.c.occurred_at >= bound(since))
        made: dict[str, SalesTouch] = {}  # one touch per engagement, however many links it has
        for to_type, to_id, engagement_id, at in streamed(conn).execute(query):
            # Only links to relevant deals and their contacts are kept (most are of other deals).
            if to_id not in (deals if to_type == "deal" else contacts):
                continue
            touch = made.get(engagement_id)
            if touch is None:
                when = instant(at)
                if when is None:
                    continue
                touch = made[engagement_id] = SalesTouch(engagement_id, when, kind)
            (direct if to_type == "deal" else by_contact)[intern(to_id)][kind, engagement_id] = touch
    out: dict[str, tuple[SalesTouch, ...]] = {}
    for deal in deal_contacts:
        touches = dict(direct.get(deal, {}))
        for contact in deal_contacts.get(deal, ()):
            touches.update(by_contact.get(contact, {}))
        if touches:
            out[deal] = tuple(sorted(touches.values(), key=lambda t: (t.at, t.kind, t.id)))
    return out
