"""Snapshot history (type 2): the version tables and the superseded raw payloads (storage.history)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from storage.db import JSONType, UTCDateTime
from storage.models.base import VersionBase


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
