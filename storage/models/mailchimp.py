"""Mailchimp's tables: audiences, members, campaigns, reports, unsubscribes, email clicks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from storage.db import JSONType, UTCDateTime


class MailchimpList(SQLModel, table=True):
    """A Mailchimp audience with its statistics."""

    __tablename__ = "mailchimp_lists"

    connection: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=40)
    name: str | None = None
    date_created: datetime | None = Field(default=None, sa_type=UTCDateTime)
    member_count: int | None = None
    unsubscribe_count: int | None = None
    cleaned_count: int | None = None
    archived: bool = False
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class MailchimpMember(SQLModel, table=True):
    """An audience member; `id` is `<list id>:<subscriber hash>` (one person, one row per audience)."""

    __tablename__ = "mailchimp_members"
    __table_args__ = (Index("ix_mailchimp_members_email", "connection", "email_address"),)

    connection: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=80)
    list_id: str = Field(max_length=40)
    subscriber_hash: str = Field(max_length=40)
    email_address: str | None = None
    status: str | None = Field(default=None, max_length=20)
    source: str | None = None
    timestamp_signup: datetime | None = Field(default=None, sa_type=UTCDateTime)
    timestamp_opt: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_changed: datetime | None = Field(default=None, sa_type=UTCDateTime)
    member_rating: int | None = None
    # Mailchimp's per-member averages over the campaigns it received (0–1).
    avg_open_rate: float | None = None
    avg_click_rate: float | None = None
    tags: str | None = None  # `;`-separated tag names
    archived: bool = False
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class MailchimpCampaign(SQLModel, table=True):
    """A campaign (drafts included) and where it went."""

    __tablename__ = "mailchimp_campaigns"

    connection: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=40)
    list_id: str | None = Field(default=None, max_length=40)
    type: str | None = Field(default=None, max_length=20)
    status: str | None = Field(default=None, max_length=20)
    title: str | None = None
    subject_line: str | None = None
    create_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    send_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    emails_sent: int | None = None
    archived: bool = False
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class MailchimpReport(SQLModel, table=True):
    """A sent campaign's report: Mailchimp's raw counters (not recomputed), MPP-excluded opens
    when Mailchimp gives them."""

    __tablename__ = "mailchimp_reports"

    connection: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=40)  # the campaign id
    list_id: str | None = Field(default=None, max_length=40)
    type: str | None = Field(default=None, max_length=20)
    send_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    emails_sent: int | None = None
    hard_bounces: int | None = None
    soft_bounces: int | None = None
    syntax_errors: int | None = None
    opens_total: int | None = None
    unique_opens: int | None = None
    proxy_excluded_unique_opens: int | None = None
    clicks_total: int | None = None
    unique_subscriber_clicks: int | None = None
    unsubscribed: int | None = None
    abuse_reports: int | None = None
    archived: bool = False
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class MailchimpUnsubscribe(SQLModel, table=True):
    """A member who unsubscribed through a campaign."""

    __tablename__ = "mailchimp_unsubscribes"
    __table_args__ = {"sqlite_with_rowid": False}

    connection: str = Field(primary_key=True, max_length=100)
    campaign_id: str = Field(primary_key=True, max_length=40)
    email_id: str = Field(primary_key=True, max_length=40)
    email_address: str | None = None
    timestamp: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str | None = None


class MailchimpEmailClick(SQLModel, table=True):
    """A member who clicked a campaign (its per-member email activity): the first and last click,
    how many, and the first link; `id` is `<campaign id>:<subscriber hash>`. The attribution
    models join it to CRM contacts by the lower-cased address."""

    __tablename__ = "mailchimp_email_clicks"
    # Covers the attribution read (address, first click), so it never walks the wide rows.
    __table_args__ = (
        Index("ix_mailchimp_email_clicks_email", "connection", "email_address", "first_click_at", "archived"),
    )

    connection: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=80)
    campaign_id: str = Field(max_length=40)
    list_id: str | None = Field(default=None, max_length=40)
    email_id: str = Field(max_length=40)
    email_address: str | None = None  # lower-cased
    first_click_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_click_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    clicks: int | None = None
    first_url: str | None = None
    archived: bool = False
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None
