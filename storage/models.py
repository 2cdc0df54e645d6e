"""SQLModel tables. Every row carries its `connection` (one portal or account) in its key.

Typed columns hold what the KPIs need; `raw` holds the record exactly as the API sent it.
Timestamps are aware UTC (see `UTCDateTime`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from storage.db import JSONType, UTCDateTime

# -- shared field families -------------------------------------------------------------------


class CrmRecordBase(SQLModel):
    """Fields every HubSpot CRM object has."""

    connection: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=40)
    archived: bool = False
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When funnelsync first stored the record as archived (HubSpot's archivedAt is archived_at).
    deleted_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    createdate: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lastmodifieddate: datetime | None = Field(default=None, sa_type=UTCDateTime)
    owner_id: str | None = None
    merged_object_ids: str | None = None
    # Set when the record was merged into another (the survivor's id): it no longer exists in the
    # CRM, its history counts for the survivor, and it drops out of every count.
    merged_into: str | None = Field(default=None, max_length=40)
    analytics_source: str | None = None
    analytics_source_data_1: str | None = None
    analytics_source_data_2: str | None = None


# The raw record and the sync bookkeeping are declared last in each table, after the typed columns:
# SQLite stores a row's columns in order, and a large JSON value in front of the typed columns would
# make every KPI scan walk its overflow pages to reach them.


# -- HubSpot CRM objects ---------------------------------------------------------------------


class HubSpotContact(CrmRecordBase, table=True):
    """A contact: lifecycle stage, original and latest source, owner, company."""

    __tablename__ = "hubspot_contacts"
    # Covers the KPI reads of every contact, in key order: the funnel facts join them to their
    # stage dates without touching the wide rows (a million-contact scan reads ~60 MB, not ~800 MB).
    __table_args__ = (
        Index(
            "ix_hubspot_contacts_kpi",
            "connection",
            "id",
            "archived",
            "merged_into",
            "createdate",
            "lifecyclestage",
            "analytics_source",
            "latest_source",
        ),
        # Stage counts stream in this order (no sort of a million rows); also serves stage lookups.
        Index(
            "ix_hubspot_contacts_stage",
            "connection",
            "lifecyclestage",
            "analytics_source",
            "latest_source",
            "archived",
            "merged_into",
            "createdate",
        ),
        # The few merged-away contacts, whose stage dates count for their survivors.
        Index(
            "ix_hubspot_contacts_merged",
            "connection",
            "merged_into",
            sqlite_where=text("merged_into IS NOT NULL"),
            postgresql_where=text("merged_into IS NOT NULL"),
        ),
    )

    email: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    lifecyclestage: str | None = None
    # False when the stage is not one the portal (or config) defines; stored as-is and quarantined.
    lifecyclestage_known: bool = True
    became_customer_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    company_id: str | None = None
    persona: str | None = None
    latest_source: str | None = None
    latest_source_data_1: str | None = None
    latest_source_data_2: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class HubSpotCompany(CrmRecordBase, table=True):
    """A company."""

    __tablename__ = "hubspot_companies"

    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    lifecyclestage: str | None = None
    numberofemployees: int | None = None
    annualrevenue: float | None = None
    country: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class HubSpotDeal(CrmRecordBase, table=True):
    """A deal: pipeline, stage, money, dates, outcome."""

    __tablename__ = "hubspot_deals"
    __table_args__ = (Index("ix_hubspot_deals_closedate", "connection", "closedate"),)

    dealname: str | None = None
    pipeline: str | None = None
    dealstage: str | None = None
    amount: float | None = None
    amount_in_home_currency: float | None = None
    currency: str | None = None
    closedate: datetime | None = Field(default=None, sa_type=UTCDateTime)
    is_closed: bool | None = None
    is_closed_won: bool | None = None
    # Latest source among the deal's contacts (hs_analytics_latest_source).
    latest_source: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class HubSpotContactStageDate(SQLModel, table=True):
    """When a contact entered a lifecycle stage, per source property (KPIs take the earliest)."""

    __tablename__ = "hubspot_contact_stage_dates"
    # Clustered on its key in SQLite (one B-tree instead of table + key index): KPI reads scan it
    # in contact order, and writes touch half the pages.
    __table_args__ = {"sqlite_with_rowid": False}

    connection: str = Field(primary_key=True, max_length=100)
    contact_id: str = Field(primary_key=True, max_length=40)
    stage: str = Field(primary_key=True, max_length=100)
    # hs_v2_date_entered | hs_lifecyclestage_date | hs_date_entered | history | observed
    source: str = Field(primary_key=True, max_length=40)
    entered_at: datetime = Field(sa_type=UTCDateTime)


class HubSpotDealStageDate(SQLModel, table=True):
    """When a deal entered a pipeline stage, per source property."""

    __tablename__ = "hubspot_deal_stage_dates"
    __table_args__ = {"sqlite_with_rowid": False}

    connection: str = Field(primary_key=True, max_length=100)
    deal_id: str = Field(primary_key=True, max_length=40)
    stage: str = Field(primary_key=True, max_length=100)
    source: str = Field(primary_key=True, max_length=40)
    entered_at: datetime = Field(sa_type=UTCDateTime)


class HubSpotContactStageTransition(SQLModel, table=True):
    """Every lifecycle-stage change of a contact: from HubSpot's property history (`origin` =
    history) or seen between two of our own snapshots (`origin` = observed)."""

    __tablename__ = "hubspot_contact_stage_transitions"
    __table_args__ = {"sqlite_with_rowid": False}

    connection: str = Field(primary_key=True, max_length=100)
    contact_id: str = Field(primary_key=True, max_length=40)
    at: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    to_stage: str = Field(primary_key=True, max_length=100)
    origin: str = Field(primary_key=True, max_length=20)
    from_stage: str | None = Field(default=None, max_length=100)
    # HubSpot's sourceType (FORM, CRM_UI, AUTOMATION_PLATFORM, …); OBSERVED for our own.
    source_type: str | None = Field(default=None, max_length=60)


class HubSpotDealStageTransition(SQLModel, table=True):
    """Every deal-stage change of a deal (see HubSpotContactStageTransition)."""

    __tablename__ = "hubspot_deal_stage_transitions"
    __table_args__ = {"sqlite_with_rowid": False}

    connection: str = Field(primary_key=True, max_length=100)
    deal_id: str = Field(primary_key=True, max_length=40)
    at: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    to_stage: str = Field(primary_key=True, max_length=100)
    origin: str = Field(primary_key=True, max_length=20)
    from_stage: str | None = Field(default=None, max_length=100)
    source_type: str | None = Field(default=None, max_length=60)


class HubSpotDealAssociation(SQLModel, table=True):
    """A deal's associated contacts and companies, kept current (removed ones are deleted)."""

    __tablename__ = "hubspot_deal_associations"
    __table_args__ = {"sqlite_with_rowid": False}

    connection: str = Field(primary_key=True, max_length=100)
    deal_id: str = Field(primary_key=True, max_length=40)
    to_type: str = Field(primary_key=True, max_length=20)
    to_id: str = Field(primary_key=True, max_length=40)


class HubSpotContactAssociation(SQLModel, table=True):
    """A contact's associated companies, kept current (removed ones are deleted)."""

    __tablename__ = "hubspot_contact_associations"
    __table_args__ = {"sqlite_with_rowid": False}

    connection: str = Field(primary_key=True, max_length=100)
    contact_id: str = Field(primary_key=True, max_length=40)
    to_type: str = Field(primary_key=True, max_length=20)
    to_id: str = Field(primary_key=True, max_length=40)


class HubSpotOwner(SQLModel, table=True):
    """A CRM owner (user or queue)."""

    __tablename__ = "hubspot_owners"

    connection: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=40)
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    user_id: int | None = None
    type: str | None = None
    archived: bool = False
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class HubSpotPipeline(SQLModel, table=True):
    """A deal pipeline."""

    __tablename__ = "hubspot_pipelines"

    connection: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=60)
    object_type: str = "deals"
    label: str | None = None
    display_order: int | None = None
    archived: bool = False
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class HubSpotPipelineStage(SQLModel, table=True):
    """A pipeline stage with its probability (0..1) and closed/won flags."""

    __tablename__ = "hubspot_pipeline_stages"

    connection: str = Field(primary_key=True, max_length=100)
    pipeline_id: str = Field(primary_key=True, max_length=60)
    stage_id: str = Field(primary_key=True, max_length=100)
    label: str | None = None
    display_order: int | None = None
    probability: float | None = None
    is_closed: bool = False
    is_won: bool = False
    archived: bool = False


# -- sync bookkeeping ------------------------------------------------------------------------


class SyncState(SQLModel, table=True):
    """The checkpoint of one stream, written in the same transaction as the page it follows."""

    __tablename__ = "sync_state"

    connection: str = Field(primary_key=True, max_length=100)
    source: str = Field(primary_key=True, max_length=40)
    stream: str = Field(primary_key=True, max_length=60)
    state: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class SyncRun(SQLModel, table=True):
    """One stream's sync in one run: what it did and how it ended."""

    __tablename__ = "sync_runs"
    __table_args__ = (Index("ix_sync_runs_stream", "connection", "source", "stream", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    connection: str = Field(max_length=100)
    source: str = Field(max_length=40)
    stream: str = Field(max_length=60)
    mode: str = Field(max_length=20)  # full | incremental
    trigger: str = Field(max_length=20)  # cli | schedule | admin | demo
    # queued | running | cancelling | succeeded | failed | deferred | skipped | interrupted |
    # cancelled | missed (see storage/runs.py)
    status: str = Field(default="running", max_length=20)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    pages: int = 0
    records_read: int = 0
    records_written: int = 0
    records_rejected: int = 0
    fields_quarantined: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    error: str | None = None
    # host:pid:random of the process that queued or runs it (see storage/leases.py).
    holder: str | None = Field(default=None, max_length=200)


class SyncLease(SQLModel, table=True):
    """Who is syncing a stream right now: one row per (connection, source, stream), taken with
    an expiry and renewed while the sync runs, so two processes on one database never sync the
    same stream at once and a crashed holder's lease runs out."""

    __tablename__ = "sync_leases"

    connection: str = Field(primary_key=True, max_length=100)
    source: str = Field(primary_key=True, max_length=40)
    stream: str = Field(primary_key=True, max_length=60)
    holder: str = Field(max_length=200)  # host:pid:random of the process holding it
    run_id: int | None = None
    acquired_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class Quarantine(SQLModel, table=True):
    """A value (or whole record, field "*") that could not be parsed, with the reason.

    Keyed by record and field so re-syncing the same bad data changes nothing; cleared when the
    record comes back clean.
    """

    __tablename__ = "quarantine"

    connection: str = Field(primary_key=True, max_length=100)
    source: str = Field(primary_key=True, max_length=40)
    stream: str = Field(primary_key=True, max_length=60)
    record_id: str = Field(primary_key=True, max_length=60)
    field: str = Field(primary_key=True, max_length=200)
    raw_value: str | None = None
    reason: str
    run_id: int | None = None
    detected_at: datetime = Field(sa_type=UTCDateTime)


class HubSpotProperty(SQLModel, table=True):
    """One property of the portal's catalogue: what its values mean and how they are typed
    (the enumeration options, such as lifecycle-stage labels, are in `raw.options`)."""

    __tablename__ = "hubspot_properties"

    connection: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=200)  # <object type>/<name>
    object_type: str = Field(max_length=40)
    name: str = Field(max_length=150)
    label: str | None = None
    type: str | None = Field(default=None, max_length=40)
    field_type: str | None = Field(default=None, max_length=40)
    group_name: str | None = None
    calculated: bool | None = None
    hubspot_defined: bool | None = None
    archived: bool = False
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class HubSpotMarketingEmail(SQLModel, table=True):
    """A marketing email with its lifetime statistics (counters as HubSpot reports them, with bot
    filtering on: its opens leave out Apple MPP and scanner opens)."""

    __tablename__ = "hubspot_marketing_emails"

    connection: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=40)
    name: str | None = None
    subject: str | None = None
    email_type: str | None = None
    state: str | None = None
    campaign_id: str | None = None
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Counters; None when the email came without statistics.
    sent: int | None = None
    delivered: int | None = None
    unique_opens: int | None = None
    unique_clicks: int | None = None
    bounces: int | None = None
    hard_bounces: int | None = None
    soft_bounces: int | None = None
    unsubscribes: int | None = None
    spam_reports: int | None = None
    archived: bool = False
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class HubSpotAnalyticsDay(SQLModel, table=True):
    """One day of one web-analytics report (Reporting API v2): its rows are stated completely
    each time the day is read, so a breakdown that is gone from a revised day is gone here too."""

    __tablename__ = "hubspot_analytics_days"

    connection: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=60)  # <report>|<YYYY-MM-DD>
    report: str = Field(max_length=40)
    day: date
    breakdowns: int = 0
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class HubSpotAnalyticsRow(SQLModel, table=True):
    """A breakdown's counters on one day: a traffic source, a drill-down value (social network,
    search engine), a UTM campaign or a page (id, with its URL in `meta`). Counters HubSpot did not
    send, or sent malformed (quarantined), are None; the row as sent is in `raw`."""

    __tablename__ = "hubspot_analytics_rows"
    __table_args__ = (Index("ix_hubspot_analytics_rows_report_day", "connection", "report", "day"),)

    connection: str = Field(primary_key=True, max_length=100)
    day_id: str = Field(primary_key=True, max_length=60)
    breakdown: str = Field(primary_key=True, max_length=500)
    report: str = Field(max_length=40)
    day: date
    meta: str | None = None
    visits: int | None = None
    visitors: int | None = None
    raw_views: int | None = None
    contacts: int | None = None
    subscribers: int | None = None
    leads: int | None = None
    marketing_qualified_leads: int | None = None
    sales_qualified_leads: int | None = None
    opportunities: int | None = None
    customers: int | None = None
    submissions: int | None = None
    entrances: int | None = None
    exits: int | None = None
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


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


# -- snapshot history (type 2) ---------------------------------------------------------------


class VersionBase(SQLModel):
    """One version of a record's tracked fields, valid from `valid_from` until `valid_to` (None:
    the current version). Written only when a tracked field changes (see storage.history)."""

    connection: str = Field(primary_key=True, max_length=100)
    record_id: str = Field(primary_key=True, max_length=80)
    valid_from: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    valid_to: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When a sync stored the version, and which stream run did.
    seen_at: datetime = Field(sa_type=UTCDateTime)
    run_id: int | None = None


class HubSpotContactVersion(VersionBase, table=True):
    __tablename__ = "hubspot_contact_versions"
    __table_args__ = {"sqlite_with_rowid": False}

    lifecyclestage: str | None = None
    analytics_source: str | None = None
    latest_source: str | None = None
    owner_id: str | None = None
    company_id: str | None = None
    persona: str | None = None
    archived: bool = False


class HubSpotDealVersion(VersionBase, table=True):
    __tablename__ = "hubspot_deal_versions"
    __table_args__ = {"sqlite_with_rowid": False}

    pipeline: str | None = None
    dealstage: str | None = None
    amount: float | None = None
    amount_in_home_currency: float | None = None
    currency: str | None = None
    closedate: datetime | None = Field(default=None, sa_type=UTCDateTime)
    is_closed: bool | None = None
    is_closed_won: bool | None = None
    owner_id: str | None = None
    analytics_source: str | None = None
    latest_source: str | None = None
    archived: bool = False


class HubSpotCompanyVersion(VersionBase, table=True):
    __tablename__ = "hubspot_company_versions"
    __table_args__ = {"sqlite_with_rowid": False}

    lifecyclestage: str | None = None
    owner_id: str | None = None
    industry: str | None = None
    numberofemployees: int | None = None
    annualrevenue: float | None = None
    analytics_source: str | None = None
    archived: bool = False


class MailchimpMemberVersion(VersionBase, table=True):
    __tablename__ = "mailchimp_member_versions"
    __table_args__ = {"sqlite_with_rowid": False}

    status: str | None = Field(default=None, max_length=20)
    email_address: str | None = None
    tags: str | None = None
    archived: bool = False


class RawVersion(SQLModel, table=True):
    """A superseded raw payload: the record as the API sent it while an older version of its
    tracked fields was current. `funnelsync prune` deletes these after a configurable age; the
    typed versions are kept."""

    __tablename__ = "raw_versions"
    __table_args__ = (
        Index("ix_raw_versions_valid_to", "valid_to"),
        {"sqlite_with_rowid": False},
    )

    connection: str = Field(primary_key=True, max_length=100)
    stream: str = Field(primary_key=True, max_length=60)
    record_id: str = Field(primary_key=True, max_length=80)
    valid_from: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    valid_to: datetime = Field(sa_type=UTCDateTime)
    run_id: int | None = None
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


# Streams whose records keep type-2 history, with their version table.
VERSION_TABLES: dict[str, type[VersionBase]] = {
    "contacts": HubSpotContactVersion,
    "companies": HubSpotCompanyVersion,
    "deals": HubSpotDealVersion,
    "mailchimp_members": MailchimpMemberVersion,
}


ENTITY_TABLES: dict[str, type[SQLModel]] = {
    "properties": HubSpotProperty,
    "contacts": HubSpotContact,
    "companies": HubSpotCompany,
    "deals": HubSpotDeal,
    "owners": HubSpotOwner,
    "pipelines": HubSpotPipeline,
    "marketing_emails": HubSpotMarketingEmail,
    "web_analytics": HubSpotAnalyticsDay,
    "mailchimp_lists": MailchimpList,
    "mailchimp_members": MailchimpMember,
    "mailchimp_campaigns": MailchimpCampaign,
    "mailchimp_reports": MailchimpReport,
}


# -- KPIs and spend --------------------------------------------------------------------------


class KpiRun(SQLModel, table=True):
    """One KPI computation: when, as of when, on which grid, after which sync runs."""

    __tablename__ = "kpi_runs"

    id: int | None = Field(default=None, primary_key=True)
    connection: str = Field(max_length=100, index=True)
    computed_at: datetime = Field(sa_type=UTCDateTime)
    as_of: datetime = Field(sa_type=UTCDateTime)
    period: str = Field(max_length=20)
    timezone: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    trigger: str = Field(max_length=20)
    sync_run_ids: list[int] = Field(default_factory=list, sa_type=JSONType)
    values: int = 0
    seconds: float = 0.0


class KpiHistory(SQLModel, table=True):
    """Every KPI value of every computation (the long format of docs/exports.md)."""

    __tablename__ = "kpi_values"
    __table_args__ = (Index("ix_kpi_values_kpi", "connection", "kpi", "dimension", "dimension_value"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(index=True)
    connection: str = Field(max_length=100)
    kpi: str = Field(max_length=60)
    family: str = Field(max_length=20)
    stage: str = Field(default="", max_length=210)
    period_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    period_end: datetime = Field(sa_type=UTCDateTime)
    dimension: str = Field(max_length=20)
    dimension_value: str = Field(max_length=200)
    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None
    unit: str = Field(max_length=40)
    reason: str | None = Field(default=None, max_length=40)
    basis: str = Field(default="", max_length=60)
    computed_at: datetime = Field(sa_type=UTCDateTime)


class MarketingSpend(SQLModel, table=True):
    """Marketing spend per interval (dates inclusive) and channel, from `funnelsync spend import`."""

    __tablename__ = "marketing_spend"

    connection: str = Field(primary_key=True, max_length=100)
    period_start: date = Field(primary_key=True)
    period_end: date = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=100)
    amount: float
    currency: str = Field(max_length=3)
    source_file: str | None = None
    imported_at: datetime = Field(sa_type=UTCDateTime)
