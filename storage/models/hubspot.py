"""HubSpot's tables: the CRM objects with their stage dates, transitions and associations, and the
catalogue (owners, pipelines, properties), marketing emails and campaigns, and web analytics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from storage.db import JSONType, UTCDateTime
from storage.models.base import (
    AssociationBase,
    CompanyKey,
    ContactKey,
    CrmRecordBase,
    DealKey,
    PropertyValueBase,
    StageDateBase,
    TransitionBase,
)

# The raw record and the sync bookkeeping are declared last in each table, after the typed columns:
# SQLite stores a row's columns in order, and a large JSON value in front of the typed columns would
# make every KPI scan walk its overflow pages to reach them.


class HubSpotContact(CrmRecordBase, table=True):
    """A contact: lifecycle stage, original and latest source, owner, company."""

    __tablename__ = "hubspot_contacts"
    # Covers the KPI reads of every contact, in key order: the funnel facts join them to their
    # stage dates without touching the wide rows (a million-contact scan reads ~60 MB, not ~800 MB),
    # and the personas of the contacts created per period.
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
            "persona",
        ),
        # Stage counts stream in this order (no sort of a million rows); also serves stage lookups
        # and, with the address, the audience link (kpi.read_email) off the wide rows.
        Index(
            "ix_hubspot_contacts_stage",
            "connection",
            "lifecyclestage",
            "analytics_source",
            "latest_source",
            "archived",
            "merged_into",
            "createdate",
            "email",
        ),
        # The contacts a marketing campaign brought, counted per period by the campaigns family
        # without walking the wide rows of all the others.
        Index(
            "ix_hubspot_contacts_campaign",
            "connection",
            "first_touch_campaign",
            "createdate",
            "archived",
            "merged_into",
            "id",
            sqlite_where=text("first_touch_campaign IS NOT NULL"),
            postgresql_where=text("first_touch_campaign IS NOT NULL"),
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
    # When the latest source's session was (hs_latest_source_timestamp).
    latest_source_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The marketing campaigns of the contact's first and latest converting touch (campaign ids,
    # hs_analytics_first_touch_converting_campaign / hs_analytics_last_touch_converting_campaign).
    first_touch_campaign: str | None = Field(default=None, max_length=60)
    last_touch_campaign: str | None = Field(default=None, max_length=60)
    # The first and the latest conversion (a form submission; first_conversion_date /
    # _event_name, recent_conversion_date / _event_name) and the first and latest marketing email
    # click (hs_email_first_click_date, hs_email_last_click_date): touches of the attribution models.
    first_conversion_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_conversion: str | None = None
    recent_conversion_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recent_conversion: str | None = None
    email_first_click_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    email_last_click_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
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


class HubSpotContactStageDate(StageDateBase, ContactKey, table=True):
    """When a contact entered a lifecycle stage, per source property."""

    __tablename__ = "hubspot_contact_stage_dates"
    # Clustered on its key in SQLite (one B-tree instead of table + key index): KPI reads scan it
    # in contact order, and writes touch half the pages.
    __table_args__ = {"sqlite_with_rowid": False}


class HubSpotDealStageDate(StageDateBase, DealKey, table=True):
    """When a deal entered a pipeline stage, per source property."""

    __tablename__ = "hubspot_deal_stage_dates"
    __table_args__ = {"sqlite_with_rowid": False}


class HubSpotContactStageTransition(TransitionBase, ContactKey, table=True):
    """Every lifecycle-stage change of a contact."""

    __tablename__ = "hubspot_contact_stage_transitions"
    __table_args__ = {"sqlite_with_rowid": False}


class HubSpotDealStageTransition(TransitionBase, DealKey, table=True):
    """Every deal-stage change of a deal."""

    __tablename__ = "hubspot_deal_stage_transitions"
    __table_args__ = {"sqlite_with_rowid": False}


class HubSpotDealAssociation(AssociationBase, DealKey, table=True):
    """A deal's associated contacts and companies."""

    __tablename__ = "hubspot_deal_associations"
    __table_args__ = {"sqlite_with_rowid": False}


class HubSpotContactProperty(PropertyValueBase, ContactKey, table=True):
    """A contact's value of a property named in `kpi.dimensions`."""

    __tablename__ = "hubspot_contact_properties"
    __table_args__ = {"sqlite_with_rowid": False}


class HubSpotDealProperty(PropertyValueBase, DealKey, table=True):
    """A deal's value of a property named in `kpi.dimensions`."""

    __tablename__ = "hubspot_deal_properties"
    __table_args__ = {"sqlite_with_rowid": False}


class HubSpotCompanyProperty(PropertyValueBase, CompanyKey, table=True):
    """A company's value of a property named in `kpi.dimensions`."""

    __tablename__ = "hubspot_company_properties"
    __table_args__ = {"sqlite_with_rowid": False}


class HubSpotContactAssociation(AssociationBase, ContactKey, table=True):
    """A contact's associated companies."""

    __tablename__ = "hubspot_contact_associations"
    __table_args__ = {"sqlite_with_rowid": False}


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


class HubSpotCampaign(SQLModel, table=True):
    """A marketing campaign (the campaigns API) with its budget and spend totals and HubSpot's
    lifetime metrics for it; its budget and spend items are `hubspot_campaign_items`."""

    __tablename__ = "hubspot_campaigns"

    connection: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=60)  # the campaign's GUID
    name: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    status: str | None = Field(default=None, max_length=40)
    currency: str | None = Field(default=None, max_length=3)
    budget_total: float | None = None
    spend_total: float | None = None
    # HubSpot's metrics over the campaign's life; None when the metrics could not be read.
    sessions: int | None = None
    new_contacts_first_touch: int | None = None
    new_contacts_last_touch: int | None = None
    influenced_contacts: int | None = None
    archived: bool = False
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class HubSpotCampaignItem(SQLModel, table=True):
    """A campaign's budget or spend item (`kind`), as its campaign's page states them."""

    __tablename__ = "hubspot_campaign_items"

    connection: str = Field(primary_key=True, max_length=100)
    campaign_id: str = Field(primary_key=True, max_length=60)
    kind: str = Field(primary_key=True, max_length=10)  # budget | spend
    item_id: str = Field(primary_key=True, max_length=40)
    name: str | None = None
    description: str | None = None
    amount: float | None = None
    item_order: int | None = None
    created_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


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
