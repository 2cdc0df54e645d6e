"""Reading email sends (HubSpot marketing emails, Mailchimp reports) and the audience."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, false, func, null, or_, select

from kpi.inputs import AudienceLink, EmailFact, MemberCell
from kpi.model import UNKNOWN
from kpi.periods import Period
from kpi.sql import bound, instant, period_index, raw
from storage.db import table_of
from storage.models import (
    HubSpotContact,
    HubSpotMarketingEmail,
    MailchimpList,
    MailchimpMember,
    MailchimpReport,
)

# The statuses of members who left an audience (dated by their last change).
LEAVING = ("unsubscribed", "cleaned")


def read_email_sends(conn: Connection, *, connection: str, since: datetime | None = None) -> list[EmailFact]:
    """Sent emails of every email platform as facts (deleted ones left out). HubSpot counts opens
    with bot filtering on (Apple MPP and scanner opens excluded)."""
    emails = table_of(HubSpotMarketingEmail)
    query = select(
        emails.c.id,
        raw(emails.c.sent_at),
        emails.c.email_type,
        emails.c.sent,
        emails.c.delivered,
        emails.c.unique_opens,
        emails.c.unique_clicks,
        emails.c.bounces,
        emails.c.hard_bounces,
        emails.c.soft_bounces,
        emails.c.unsubscribes,
        emails.c.spam_reports,
    ).where(
        emails.c.connection == connection,
        emails.c.archived == false(),
        emails.c.sent_at.is_not(None),
        emails.c.sent > 0,
    )
    if since is not None:
        query = query.where(emails.c.sent_at >= bound(since))
    out = []
    for row in conn.execute(query):
        sent_at = instant(row[1])
        if sent_at is None:
            continue
        hard, soft = row[8], row[9]
        bounces = row[7] if row[7] is not None else (hard or 0) + (soft or 0)
        out.append(
            EmailFact(
                platform="hubspot",
                email_id=row[0],
                sent_at=sent_at,
                email_type=row[2] or "unknown",
                sent=row[3],
                delivered=row[4],
                unique_opens=row[5] or 0,
                unique_clicks=row[6] or 0,
                bounces=bounces,
                unsubscribes=row[10] or 0,
                spam_reports=row[11] or 0,
                open_basis="bot_filtered",
            )
        )
    return out


def read_mailchimp_sends(
    conn: Connection, *, connection: str, since: datetime | None = None, open_basis: str = "raw"
) -> list[EmailFact]:
    """Mailchimp campaign reports as email facts. Deliveries are sends minus hard and soft
    bounces; clicks are people who clicked (`unique_subscriber_clicks`, Mailchimp's click rate
    numerator); with `open_basis="proxy_excluded"`, opens leave out Apple MPP machine opens where
    Mailchimp reports them (sends from 2024-06-22), and are raw elsewhere (the fact says which)."""
    reports = table_of(MailchimpReport)
    query = select(
        reports.c.id,
        raw(reports.c.send_time),
        reports.c.type,
        reports.c.emails_sent,
        reports.c.hard_bounces,
        reports.c.soft_bounces,
        reports.c.unique_opens,
        reports.c.proxy_excluded_unique_opens,
        reports.c.unique_subscriber_clicks,
        reports.c.unsubscribed,
        reports.c.abuse_reports,
    ).where(
        reports.c.connection == connection,
        reports.c.archived == false(),
        reports.c.send_time.is_not(None),
        reports.c.emails_sent > 0,
    )
    if since is not None:
        query = query.where(reports.c.send_time >= bound(since))
    out = []
    for row in conn.execute(query):
        sent_at = instant(row[1])
        if sent_at is None:
            continue
        bounces = (row[4] or 0) + (row[5] or 0)
        excluded = open_basis == "proxy_excluded" and row[7] is not None
        out.append(
            EmailFact(
                platform="mailchimp",
                email_id=row[0],
                sent_at=sent_at,
                email_type=row[2] or "unknown",
                sent=row[3],
                delivered=max(0, row[3] - bounces),
                unique_opens=(row[7] if excluded else row[6]) or 0,
                unique_clicks=row[8] or 0,
                bounces=bounces,
                unsubscribes=row[9] or 0,
                spam_reports=row[10] or 0,
                open_basis="proxy_excluded" if excluded else "raw",
            )
        )
    return out


def read_member_moves(
    conn: Connection, *, connection: str, periods: Sequence[Period], as_of: datetime
) -> list[MemberCell]:
    """Audience members counted per audience, status, period of opt-in and period of leaving
    (`audience_kpis` defines both), grouped in SQL: an audience has 100,000s of members."""
    members, lists = table_of(MailchimpMember), table_of(MailchimpList)
    m = members.c
    joined: ColumnElement[Any]
    left: ColumnElement[Any]
    if periods:
        at = bound(as_of)
        opted = and_(or_(m.status.is_(None), m.status != "pending"), m.timestamp_opt <= at)
        joined = case((opted, period_index(m.timestamp_opt, periods)), else_=None)
        left = case(
            (and_(m.status.in_(LEAVING), m.last_changed <= at), period_index(m.last_changed, periods)),
            else_=None,
        )
    else:
        joined = left = null()
    # Grouped by label: PostgreSQL matches GROUP BY expressions with their bound periods by name.
    audience = func.coalesce(lists.c.name, m.list_id).label("audience")
    joined, left = joined.label("joined"), left.label("left_in")
    query = (
        select(audience, m.status, joined, left, func.count())
        .select_from(
            members.outerjoin(lists, and_(lists.c.connection == m.connection, lists.c.id == m.list_id))
        )
        .where(m.connection == connection)
        .group_by(audience, m.status, joined, left)
    )
    return [
        MemberCell(str(name), status or UNKNOWN, joined_at, left_at, int(n))
        for name, status, joined_at, left_at, n in conn.execute(query)
    ]


def read_audience_link(
    conn: Connection, *, connection: str, stages: Sequence[str], mql: str
) -> AudienceLink | None:
    """Live contacts split by audience membership (a subscribed member with the same address,
    case-insensitive) and how many of each are at `mql` or beyond now; None without members.

    Joined and counted in SQL (a million contacts against a large audience), the contacts read
    from their stage index; addresses are compared trimmed and lower-cased by the database
    (SQLite folds ASCII letters only)."""
    members, contacts = table_of(MailchimpMember), table_of(HubSpotContact)
    m = members.c
    address = func.lower(func.trim(m.email_address))
    active = or_(func.coalesce(m.avg_open_rate, 0) > 0, func.coalesce(m.avg_click_rate, 0) > 0)
    subscribed = (
        select(address.label("address"), func.max(case((active, 1), else_=0)).label("engaged"))
        .where(m.connection == connection, m.status == "subscribed", address != "")
        .group_by(address)
        .subquery()
    )
    joined = contacts.outerjoin(subscribed, subscribed.c.address == func.lower(func.trim(contacts.c.email)))
    query = (
        # engaged: NULL for a contact that is not a subscribed member, else 0 or 1.
        select(contacts.c.lifecyclestage, subscribed.c.engaged, func.count())
        .select_from(joined)
        .where(
            contacts.c.connection == connection,
            contacts.c.archived == false(),
            contacts.c.merged_into.is_(None),
        )
        .group_by(contacts.c.lifecyclestage, subscribed.c.engaged)
    )
    beyond = set(stages[stages.index(mql) :]) if mql in stages else set()
    counts = [0, 0, 0, 0, 0, 0]  # subscribed (at MQL+), others (at MQL+), engaged (at MQL+)
    for stage, engaged, n in conn.execute(query):
        at_mql = n if stage in beyond else 0
        slot = 2 if engaged is None else 0
        counts[slot] += n
        counts[slot + 1] += at_mql
        if engaged:
            counts[4] += n
            counts[5] += at_mql
    if not counts[0] and not _has_subscribers(conn, connection):
        return None
    return AudienceLink(*counts)


def _has_subscribers(conn: Connection, connection: str) -> bool:
    m = table_of(MailchimpMember).c
    found = select(m.email_address).where(m.connection == connection, m.status == "subscribed").limit(1)
    return conn.execute(found).first() is not None
