"""Reading email sends (HubSpot marketing emails, Mailchimp reports) and the audience."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, false, func, select

from kpi.inputs import AudienceLink, EmailFact, MemberFact
from kpi.model import UNKNOWN
from kpi.sql import bound, instant, raw
from storage.db import table_of
from storage.models import (
    HubSpotContact,
    HubSpotMarketingEmail,
    MailchimpList,
    MailchimpMember,
    MailchimpReport,
)


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


def read_members(conn: Connection, *, connection: str) -> list[MemberFact]:
    """Every audience member (all statuses), named by its audience."""
    members, lists = table_of(MailchimpMember), table_of(MailchimpList)
    query = (
        select(
            func.coalesce(lists.c.name, members.c.list_id),
            members.c.status,
            raw(members.c.timestamp_opt),
            raw(members.c.last_changed),
        )
        .select_from(
            members.outerjoin(
                lists, and_(lists.c.connection == members.c.connection, lists.c.id == members.c.list_id)
            )
        )
        .where(members.c.connection == connection)
    )
    return [
        MemberFact(str(audience), status or UNKNOWN, instant(opted), instant(changed))
        for audience, status, opted, changed in conn.execute(query)
    ]


def read_audience_link(
    conn: Connection, *, connection: str, stages: Sequence[str], mql: str
) -> AudienceLink | None:
    """Live contacts split by audience membership (a subscribed member with the same address,
    case-insensitive) and how many of each are at `mql` or beyond now; None without members."""
    members, contacts = table_of(MailchimpMember), table_of(HubSpotContact)
    subscribed: set[str] = set()
    engaged: set[str] = set()
    for email, opens, clicks in conn.execute(
        select(members.c.email_address, members.c.avg_open_rate, members.c.avg_click_rate).where(
            members.c.connection == connection, members.c.status == "subscribed"
        )
    ):
        if email:
            subscribed.add(str(email).strip().lower())
            if (opens or 0) > 0 or (clicks or 0) > 0:
                engaged.add(str(email).strip().lower())
    if not subscribed:
        return None
    beyond = set(stages[stages.index(mql) :]) if mql in stages else set()
    counts = [0, 0, 0, 0, 0, 0]  # subscribed (at MQL+), others (at MQL+), engaged (at MQL+)
    for email, stage in conn.execute(
        select(contacts.c.email, contacts.c.lifecyclestage).where(
            contacts.c.connection == connection,
            contacts.c.archived == false(),
            contacts.c.merged_into.is_(None),
        )
    ):
        address = str(email).strip().lower() if email else ""
        slot = 0 if address in subscribed else 2
        counts[slot] += 1
        counts[slot + 1] += stage in beyond
        if address in engaged:
            counts[4] += 1
            counts[5] += stage in beyond
    return AudienceLink(*counts)
