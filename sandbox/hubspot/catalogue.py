"""The sandbox portal's property catalogue: which properties each object type has (HubSpot's
defaults, the stage-date properties of the portal's stages, whatever records carry), how each is
typed, and the Properties API's definitions of them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sandbox.hubspot.answers import DEAL_TYPES, HEARD_OPTIONS, HEARD_PROPERTY
from sandbox.hubspot.data import PERSONA_LABELS, SOURCES, Record
from sandbox.hubspot.model import SINGULAR

# The properties a read returns when it names none.
DEFAULT_PROPERTIES = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
    "companies": ["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
    "deals": [
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ],
    "meetings": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
    "calls": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
}

NUMBER_PROPERTIES = {
    "hs_object_id",
    "amount",
    "amount_in_home_currency",
    "numberofemployees",
    "annualrevenue",
    "associatedcompanyid",
    "hubspot_owner_id",
    "hs_call_duration",
}

DATETIME_PREFIXES = ("hs_v2_date_entered_", "hs_v2_date_exited_", "hs_date_entered_", "hs_date_exited_")
DATETIME_PROPERTIES = {
    "createdate",
    "lastmodifieddate",
    "hs_lastmodifieddate",
    "closedate",
    "hs_latest_source_timestamp",
    "hs_createdate",
    "hs_timestamp",
    "hs_meeting_start_time",
    "hs_meeting_end_time",
    "first_conversion_date",
    "recent_conversion_date",
    "hs_email_first_click_date",
    "hs_email_last_click_date",
}


def property_type(name: str) -> str:
    if name in NUMBER_PROPERTIES:
        return "number"
    if (
        name in DATETIME_PROPERTIES
        or name.startswith(DATETIME_PREFIXES)
        or (name.startswith("hs_lifecyclestage_") and name.endswith("_date"))
    ):
        return "datetime"
    if name.startswith("hs_is_"):
        return "bool"
    return "string"


# Beyond the defaults: the properties funnelsync and the peers read, by object type.
_EXTRA_PROPERTIES = {
    "contacts": (
        "lifecyclestage",
        "closedate",
        "hubspot_owner_id",
        "associatedcompanyid",
        "hs_persona",
        "hs_merged_object_ids",
        "hs_analytics_source",
        "hs_analytics_source_data_1",
        "hs_analytics_source_data_2",
        "hs_latest_source",
        "hs_latest_source_data_1",
        "hs_latest_source_data_2",
        "hs_lastmodifieddate",
        "first_conversion_date",
        "first_conversion_event_name",
        "recent_conversion_date",
        "recent_conversion_event_name",
        "hs_email_first_click_date",
        "hs_email_last_click_date",
    ),
    "companies": (
        "industry",
        "lifecyclestage",
        "numberofemployees",
        "annualrevenue",
        "country",
        "hubspot_owner_id",
        "hs_merged_object_ids",
        "hs_analytics_source",
        "hs_analytics_source_data_1",
        "hs_analytics_source_data_2",
    ),
    "deals": (
        "amount_in_home_currency",
        "deal_currency_code",
        "hs_is_closed",
        "hs_is_closed_won",
        "hs_analytics_latest_source",
        "hubspot_owner_id",
        "hs_merged_object_ids",
        "hs_analytics_source",
        "hs_analytics_source_data_1",
        "hs_analytics_source_data_2",
    ),
    "meetings": (
        "hs_timestamp",
        "hs_meeting_title",
        "hs_meeting_outcome",
        "hs_meeting_start_time",
        "hs_meeting_end_time",
        "hs_activity_type",
        "hubspot_owner_id",
    ),
    "calls": (
        "hs_timestamp",
        "hs_call_title",
        "hs_call_direction",
        "hs_call_status",
        "hs_call_duration",
        "hubspot_owner_id",
    ),
}


def build_catalogue(
    *,
    lifecycle_stages: Iterable[str],
    deal_stages: Iterable[str],
    objects: dict[str, dict[int, Record]],
    legacy_stage_properties: bool,
) -> dict[str, set[str]]:
    """Every property name per object type."""
    base = {t: {*DEFAULT_PROPERTIES[t], *_EXTRA_PROPERTIES[t]} for t in DEFAULT_PROPERTIES}
    for stage in lifecycle_stages:
        base["contacts"].update({f"hs_v2_date_entered_{stage}", f"hs_v2_date_exited_{stage}"})
        if legacy_stage_properties:
            base["contacts"].add(f"hs_lifecyclestage_{stage}_date")
    for stage in deal_stages:
        base["deals"].update({f"hs_v2_date_entered_{stage}", f"hs_v2_date_exited_{stage}"})
    for object_type, records in objects.items():
        for record in records.values():
            base[object_type].update(record["properties"])
    return base


def _definition(object_type: str, name: str) -> dict[str, Any]:
    ptype = property_type(name)
    return {
        "name": name,
        "label": name.replace("_", " ").title(),
        "type": ptype,
        "fieldType": {"number": "number", "datetime": "date", "bool": "booleancheckbox"}.get(ptype, "text"),
        "description": "",
        "groupName": f"{SINGULAR[object_type]}information",
        "options": [],
        "displayOrder": -1,
        "calculated": name.startswith("hs_v2_"),
        "externalOptions": False,
        "hasUniqueValue": name == "hs_object_id",
        "hidden": False,
        "hubspotDefined": True,
        "formField": False,
        "modificationMetadata": {
            "archivable": False,
            "readOnlyDefinition": True,
            "readOnlyValue": name.startswith("hs_v2_"),
        },
        "dataSensitivity": "non_sensitive",
    }


# HubSpot's wording where it is not the value title-cased.
SOURCE_LABELS = {
    "SOCIAL_MEDIA": "Organic Social",
    "OFFLINE": "Offline Sources",
    "AI_REFERRALS": "AI Referrals",
}


def _enumeration(name: str, lifecycle_options: list[tuple[str, str]]) -> dict[str, Any]:
    """What makes an enumeration property one (its options), or {} for the others."""
    if name == "lifecyclestage":
        options = [
            {"label": label, "value": value, "displayOrder": i, "hidden": False, "description": ""}
            for i, (value, label) in enumerate(lifecycle_options)
        ]
        return {"type": "enumeration", "fieldType": "radio", "externalOptions": True, "options": options}
    if name in ("hs_analytics_source", "hs_latest_source"):
        options = [
            {
                "label": SOURCE_LABELS.get(value, value.replace("_", " ").title()),
                "value": value,
                "displayOrder": i,
                "hidden": False,
            }
            for i, (value, *_rest) in enumerate(SOURCES)
        ]
        return {"type": "enumeration", "fieldType": "select", "options": options}
    if name == "hs_persona":
        options = [
            {"label": label, "value": value, "displayOrder": i, "hidden": False}
            for i, (value, label) in enumerate(PERSONA_LABELS.items())
        ]
        return {"type": "enumeration", "fieldType": "select", "options": options}
    if name in (HEARD_PROPERTY, "dealtype"):
        choices = HEARD_OPTIONS if name == HEARD_PROPERTY else DEAL_TYPES
        options = [
            {"label": label, "value": value, "displayOrder": i, "hidden": False}
            for i, (value, label) in enumerate(choices)
        ]
        extra = (
            {"hubspotDefined": False, "label": "How did you hear about us?"} if name == HEARD_PROPERTY else {}
        )
        return {"type": "enumeration", "fieldType": "select", "options": options, **extra}
    if name in ("dealstage", "pipeline"):
        return {"type": "enumeration", "fieldType": "select", "externalOptions": True, "options": []}
    return {}


def property_definitions(
    object_type: str, names: Iterable[str], lifecycle_options: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """The Properties API view of the catalogue (type, fieldType, options for enumerations)."""
    return [
        {**_definition(object_type, name), **_enumeration(name, lifecycle_options)} for name in sorted(names)
    ]
