"""HubSpot's sales engagements: meetings and calls (the CRM objects APIs for activities), with the
contacts and deals each is associated with; and contacts' page views (the event analytics API).
The attribution models read them as touchpoints (docs/kpis.md, "Attribution")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from storage.db import JSONType, UTCDateTime
from storage.models.base import AssociationBase, CrmRecordBase


class EngagementBase(CrmRecordBase):
    """What a meeting and a call share: when it happened, its title and outcome."""

    # hs_timestamp: when the meeting or call took place (HubSpot's activity date).
    occurred_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    title: str | None = None
    # A meeting's hs_meeting_outcome (SCHEDULED, COMPLETED, NO_SHOW, …); a call's hs_call_status.
    outcome: str | None = Field(default=None, max_length=40)
    # A call's hs_call_direction (INBOUND, OUTBOUND); None for a meeting.
    direction: str | None = Field(default=None, max_length=20)
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None


class EngagementKey(SQLModel):
    """A row that belongs to one meeting or call."""

    connection: str = Field(primary_key=True, max_length=100)
    engagement_id: str = Field(primary_key=True, max_length=40)


class HubSpotMeeting(EngagementBase, table=True):
    """A meeting logged or booked on CRM records."""

    __tablename__ = "hubspot_meetings"


class HubSpotCall(EngagementBase, table=True):
    """A call logged on CRM records."""

    __tablename__ = "hubspot_calls"


class HubSpotMeetingAssociation(AssociationBase, EngagementKey, table=True):
    """A meeting's associated contacts and deals."""

    __tablename__ = "hubspot_meeting_associations"
    # The attribution read goes from a deal or contact to its meetings.
    __table_args__ = (
        Index("ix_hubspot_meeting_associations_to", "connection", "to_type", "to_id"),
        {"sqlite_with_rowid": False},
    )


class HubSpotCallAssociation(AssociationBase, EngagementKey, table=True):
    """A call's associated contacts and deals."""

    __tablename__ = "hubspot_call_associations"
    __table_args__ = (
        Index("ix_hubspot_call_associations_to", "connection", "to_type", "to_id"),
        {"sqlite_with_rowid": False},
    )


class HubSpotWebEvent(SQLModel, table=True):
    """A contact's page view (`e_visited_page`, the event analytics API; Enterprise portals)."""

    __tablename__ = "hubspot_web_events"
    # Serves the attribution read: a contact's views in time order, never walking the raw JSON.
    __table_args__ = (Index("ix_hubspot_web_events_contact", "connection", "contact_id", "occurred_at"),)

    connection: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=200)
    contact_id: str = Field(max_length=40)
    event_type: str | None = Field(default=None, max_length=100)
    occurred_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    url: str | None = None
    title: str | None = None
    source: str | None = Field(default=None, max_length=60)  # hs_touchpoint_source
    archived: bool = False
    raw: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    synced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    run_id: int | None = None
