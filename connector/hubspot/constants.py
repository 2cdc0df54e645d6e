"""HubSpot API constants: caps and the property sets funnelsync reads (paths: endpoints.py)."""

from __future__ import annotations

LIST_PAGE_MAX = 100
SEARCH_PAGE_MAX = 200
# List and batch reads that ask for property history return at most 50 records.
HISTORY_PAGE_MAX = 50
SEARCH_RESULT_CAP = 10_000
BURST_INTERVAL_SECONDS = 10.0

BATCH_READ_MAX = 100
MARKETING_EMAILS_PAGE = 100
# HubSpot documents no cap for the campaigns listing; 100 is what its own examples ask for.
CAMPAIGNS_PAGE = 100
ASSOCIATIONS_BATCH_MAX = 1000

STAGE_ENTERED_PREFIX = "hs_v2_date_entered_"
LEGACY_LIFECYCLE_DATE = "hs_lifecyclestage_{stage}_date"
LEGACY_STAGE_ENTERED_PREFIX = "hs_date_entered_"

SOURCE_PROPERTIES = (
    "hs_analytics_source",
    "hs_analytics_source_data_1",
    "hs_analytics_source_data_2",
)

CONTACT_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "lifecyclestage",
    "createdate",
    "lastmodifieddate",
    "closedate",
    "hubspot_owner_id",
    "associatedcompanyid",
    "hs_persona",
    "hs_merged_object_ids",
    *SOURCE_PROPERTIES,
    "hs_latest_source",
    "hs_latest_source_data_1",
    "hs_latest_source_data_2",
    # When the latest source's session was: the last touch of the attribution models.
    "hs_latest_source_timestamp",
    # The marketing campaigns of the first and the latest converting touch (campaign GUIDs; on
    # portals without the campaigns tool HubSpot leaves them out).
    "hs_analytics_first_touch_converting_campaign",
    "hs_analytics_last_touch_converting_campaign",
    # Conversions (form submissions) and marketing email clicks: the first and the latest of
    # each, the touches between a contact's creation and its deals (every tier has them).
    "first_conversion_date",
    "first_conversion_event_name",
    "recent_conversion_date",
    "recent_conversion_event_name",
    "hs_email_first_click_date",
    "hs_email_last_click_date",
)

# What funnelsync reads of a marketing campaign (the listing's `properties` map is empty unless
# they are named; an empty value is left out of the answer).
CAMPAIGN_PROPERTIES = (
    "hs_name",
    "hs_start_date",
    "hs_end_date",
    "hs_campaign_status",
    "hs_currency_code",
    "hs_utm",
)

COMPANY_PROPERTIES = (
    "name",
    "domain",
    "industry",
    "lifecyclestage",
    "numberofemployees",
    "annualrevenue",
    "country",
    "createdate",
    "hs_lastmodifieddate",
    "hubspot_owner_id",
    "hs_merged_object_ids",
    *SOURCE_PROPERTIES,
)

DEAL_PROPERTIES = (
    "dealname",
    "pipeline",
    "dealstage",
    "amount",
    "amount_in_home_currency",
    "deal_currency_code",
    "createdate",
    "closedate",
    "hs_is_closed",
    "hs_is_closed_won",
    "hs_analytics_latest_source",
    "hs_lastmodifieddate",
    "hubspot_owner_id",
    "hs_merged_object_ids",
    *SOURCE_PROPERTIES,
)
