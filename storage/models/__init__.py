"""SQLModel tables, one module per family. Every row carries its `connection` (one portal or
account) in its key. Typed columns hold what the KPIs need; `raw` holds the record exactly as the
API sent it. Timestamps are aware UTC (see `UTCDateTime`)."""

from __future__ import annotations

from sqlmodel import SQLModel

from storage.models.base import CrmRecordBase, VersionBase
from storage.models.engagements import (
    HubSpotCall,
    HubSpotCallAssociation,
    HubSpotMeeting,
    HubSpotMeetingAssociation,
    HubSpotWebEvent,
)
from storage.models.hubspot import (
    HubSpotAnalyticsDay,
    HubSpotAnalyticsRow,
    HubSpotCampaign,
    HubSpotCampaignItem,
    HubSpotCompany,
    HubSpotCompanyProperty,
    HubSpotContact,
    HubSpotContactAssociation,
    HubSpotContactProperty,
    HubSpotContactStageDate,
    HubSpotContactStageTransition,
    HubSpotDeal,
    HubSpotDealAssociation,
    HubSpotDealProperty,
    HubSpotDealStageDate,
    HubSpotDealStageTransition,
    HubSpotMarketingEmail,
    HubSpotOwner,
    HubSpotPipeline,
    HubSpotPipelineStage,
    HubSpotProperty,
)
from storage.models.kpis import KpiHistory, KpiRun, MarketingSpend
from storage.models.mailchimp import (
    MailchimpCampaign,
    MailchimpEmailClick,
    MailchimpList,
    MailchimpMember,
    MailchimpReport,
    MailchimpUnsubscribe,
)
from storage.models.sync import Quarantine, SyncLease, SyncRun, SyncState
from storage.models.versions import (
    HubSpotCompanyVersion,
    HubSpotContactVersion,
    HubSpotDealVersion,
    MailchimpMemberVersion,
    RawVersion,
)

# Streams whose records keep type-2 history, with their version table.
VERSION_TABLES: dict[str, type[VersionBase]] = {
    "contacts": HubSpotContactVersion,
    "companies": HubSpotCompanyVersion,
    "deals": HubSpotDealVersion,
    "mailchimp_members": MailchimpMemberVersion,
}

# Each stream's record table.
ENTITY_TABLES: dict[str, type[SQLModel]] = {
    "properties": HubSpotProperty,
    "contacts": HubSpotContact,
    "companies": HubSpotCompany,
    "deals": HubSpotDeal,
    "owners": HubSpotOwner,
    "pipelines": HubSpotPipeline,
    "marketing_emails": HubSpotMarketingEmail,
    "campaigns": HubSpotCampaign,
    "meetings": HubSpotMeeting,
    "calls": HubSpotCall,
    "web_events": HubSpotWebEvent,
    "web_analytics": HubSpotAnalyticsDay,
    "mailchimp_lists": MailchimpList,
    "mailchimp_members": MailchimpMember,
    "mailchimp_campaigns": MailchimpCampaign,
    "mailchimp_reports": MailchimpReport,
    "mailchimp_email_activity": MailchimpEmailClick,
}

__all__ = [
    "ENTITY_TABLES",
    "VERSION_TABLES",
    "CrmRecordBase",
    "HubSpotAnalyticsDay",
    "HubSpotAnalyticsRow",
    "HubSpotCall",
    "HubSpotCallAssociation",
    "HubSpotCampaign",
    "HubSpotCampaignItem",
    "HubSpotCompany",
    "HubSpotCompanyProperty",
    "HubSpotCompanyVersion",
    "HubSpotContact",
    "HubSpotContactAssociation",
    "HubSpotContactProperty",
    "HubSpotContactStageDate",
    "HubSpotContactStageTransition",
    "HubSpotContactVersion",
    "HubSpotDeal",
    "HubSpotDealAssociation",
    "HubSpotDealProperty",
    "HubSpotDealStageDate",
    "HubSpotDealStageTransition",
    "HubSpotDealVersion",
    "HubSpotMarketingEmail",
    "HubSpotMeeting",
    "HubSpotMeetingAssociation",
    "HubSpotOwner",
    "HubSpotPipeline",
    "HubSpotPipelineStage",
    "HubSpotProperty",
    "HubSpotWebEvent",
    "KpiHistory",
    "KpiRun",
    "MailchimpCampaign",
    "MailchimpEmailClick",
    "MailchimpList",
    "MailchimpMember",
    "MailchimpMemberVersion",
    "MailchimpReport",
    "MailchimpUnsubscribe",
    "MarketingSpend",
    "Quarantine",
    "RawVersion",
    "SyncLease",
    "SyncRun",
    "SyncState",
    "VersionBase",
]
