"""Non-table bases the table families share: the fields of every CRM object, the owner keys of
child tables, and the shapes of stage dates, stage transitions, associations and versions.

Pydantic (and so SQLModel) orders columns base-first along the MRO: a child table lists its
family base before its owner key (`class X(StageDateBase, ContactKey, table=True)`), so its
key reads connection, owner, then the family's own columns."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from storage.db import UTCDateTime


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


class ContactKey(SQLModel):
    """A row that belongs to one contact."""

    connection: str = Field(primary_key=True, max_length=100)
    contact_id: str = Field(primary_key=True, max_length=40)


class CompanyKey(SQLModel):
    """A row that belongs to one company."""

    connection: str = Field(primary_key=True, max_length=100)
    company_id: str = Field(primary_key=True, max_length=40)


class PropertyValueBase(SQLModel):
    """A property named in `kpi.dimensions`: its value as text (an enumeration's value, as sent),
    and typed by the portal's definition where it is a number or a date."""

    property: str = Field(primary_key=True, max_length=100)
    value: str = Field(max_length=400)
    number: float | None = None
    at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DealKey(SQLModel):
    """A row that belongs to one deal."""

    connection: str = Field(primary_key=True, max_length=100)
    deal_id: str = Field(primary_key=True, max_length=40)


class StageDateBase(SQLModel):
    """When the owner entered a stage, per source property (KPIs take the earliest)."""

    stage: str = Field(primary_key=True, max_length=100)
    # hs_v2_date_entered | hs_lifecyclestage_date | hs_date_entered | history | observed
    source: str = Field(primary_key=True, max_length=40)
    entered_at: datetime = Field(sa_type=UTCDateTime)


class TransitionBase(SQLModel):
    """A stage change of the owner: from HubSpot's property history (`origin` = history) or seen
    between two of our own snapshots (`origin` = observed)."""

    at: datetime = Field(primary_key=True, sa_type=UTCDateTime)
    to_stage: str = Field(primary_key=True, max_length=100)
    origin: str = Field(primary_key=True, max_length=20)
    from_stage: str | None = Field(default=None, max_length=100)
    # HubSpot's sourceType (FORM, CRM_UI, AUTOMATION_PLATFORM, …); OBSERVED for our own.
    source_type: str | None = Field(default=None, max_length=60)


class AssociationBase(SQLModel):
    """A record the owner is associated with, kept current (removed ones are deleted)."""

    to_type: str = Field(primary_key=True, max_length=20)
    to_id: str = Field(primary_key=True, max_length=40)


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
