"""Pure parsers of the CRM objects (contacts, companies, deals): raw HubSpot records in, typed
rows and data-quality issues out (the other streams' parsers sit beside their streams).

Bad data never raises. A field that cannot be parsed becomes None and yields an `Issue`
(record, field, raw value, reason) for the quarantine table; a record that is not a record at
all (no id, wrong shape) is rejected whole with an `Issue` on field "*". The raw JSON of every
accepted record is kept beside the typed columns.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from connector.hubspot.constants import (
    LEGACY_STAGE_ENTERED_PREFIX,
    STAGE_ENTERED_PREFIX,
)
from connector.records import Fields, Issue, Normalized, parse_timestamp, raw_text, record_key

# One pass over a record's properties finds every stage-date property, whichever family it is.
_STAGE_DATE_RE = re.compile(
    r"^(?:(?P<prefix>hs_v2_date_entered_|hs_date_entered_)(?P<stage>.+)|hs_lifecyclestage_(?P<legacy>.+)_date)$"
)

STAGE_DATE_SOURCES = {
    STAGE_ENTERED_PREFIX: "hs_v2_date_entered",
    LEGACY_STAGE_ENTERED_PREFIX: "hs_date_entered",
}


def check_record(record: Any, out: Normalized) -> tuple[str, dict[str, Any]] | None:
    """The record's id and properties, or None after rejecting a record of the wrong shape."""
    if not isinstance(record, dict):
        out.issues.append(Issue(record_key(record), "*", raw_text(record), "record is not a JSON object"))
        out.rejected += 1
        return None
    raw_id = record.get("id")
    if raw_id is None or not str(raw_id).strip().isdigit():
        out.issues.append(
            Issue(record_key(record), "*", raw_text(record), f"record id missing or not numeric: {raw_id!r}")
        )
        out.rejected += 1
        return None
    props = record.get("properties")
    if not isinstance(props, dict):
        out.issues.append(Issue(str(raw_id), "*", raw_text(record), "record has no properties object"))
        out.rejected += 1
        return None
    return str(raw_id).strip(), props


def common_fields(fields: Fields, record: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": fields.record_id,
        "archived": bool(record.get("archived", False)),
        "archived_at": fields.timestamp(record, "archivedAt"),
        "created_at": fields.timestamp(record, "createdAt"),
        "updated_at": fields.timestamp(record, "updatedAt"),
        "createdate": fields.timestamp(props, "createdate"),
        "owner_id": fields.text(props, "hubspot_owner_id"),
        "merged_object_ids": fields.text(props, "hs_merged_object_ids"),
        "analytics_source": fields.text(props, "hs_analytics_source"),
        "analytics_source_data_1": fields.text(props, "hs_analytics_source_data_1"),
        "analytics_source_data_2": fields.text(props, "hs_analytics_source_data_2"),
        "raw": record,
    }


@functools.lru_cache(maxsize=4096)
def _stage_date_property(name: str) -> tuple[str, str] | None:
    """(stage, source) when `name` is a stage-entry date property. Every record of a page has
    the same property names, so each is matched once, not once per record."""
    if not name.startswith("hs_"):
        return None
    match = _STAGE_DATE_RE.match(name)
    if match is None:
        return None
    if match["prefix"]:
        stage = match["stage"]
        return None if stage == "current_stage" else (stage, STAGE_DATE_SOURCES[match["prefix"]])
    return match["legacy"], "hs_lifecyclestage_date"


def _stage_dates(fields: Fields, props: dict[str, Any], owner_key: str) -> list[dict[str, Any]]:
    """Pivot `hs_v2_date_entered_<stage>` (and the legacy names) into (owner, stage, source) rows."""
    rows: list[dict[str, Any]] = []
    for name, value in props.items():
        if value is None:
            continue
        found = _stage_date_property(name)
        if found is None:
            continue
        stage, source = found
        entered = fields.timestamp(props, name)
        if entered is not None:
            rows.append(
                {owner_key: fields.record_id, "stage": stage, "source": source, "entered_at": entered}
            )
    return rows


def _history(fields: Fields, record: dict[str, Any], name: str, owner_key: str, out: Normalized) -> None:
    """Turn `propertiesWithHistory[name]` into transitions (oldest first, repeats dropped) and the
    earliest entry per stage. Records without the block state nothing, so nothing is replaced."""
    block = record.get("propertiesWithHistory")
    entries = block.get(name) if isinstance(block, dict) else None
    if not isinstance(entries, list):
        return
    label = f"propertiesWithHistory.{name}"
    changes: list[tuple[datetime, str, str | None]] = []
    for item in entries:
        if not isinstance(item, dict):
            fields.flag(label, item, "history entry is not an object")
            continue
        at, problem = parse_timestamp(item.get("timestamp"))
        if at is None:
            fields.flag(label, item.get("timestamp"), problem or "history entry without a timestamp")
            continue
        value = item.get("value")
        source_type = item.get("sourceType")
        changes.append(
            (at, "" if value is None else str(value), None if source_type is None else str(source_type))
        )
    # Entries of one instant (two merged records' histories) have no order of their own: by value.
    changes.sort(key=lambda change: (change[0], change[1]))
    previous: str | None = None
    seen: set[tuple[datetime, str]] = set()
    first: dict[str, datetime] = {}
    for at, value, source_type in changes:
        if value == previous or (at, value) in seen:
            continue
        seen.add((at, value))
        out.transitions.append(
            {
                owner_key: fields.record_id,
                "at": at,
                "to_stage": value,
                "origin": "history",
                "from_stage": previous,
                "source_type": source_type,
            }
        )
        previous = value
        if value and value not in first:
            first[value] = at
    out.history_stage_dates.extend(
        {owner_key: fields.record_id, "stage": stage, "source": "history", "entered_at": at}
        for stage, at in first.items()
    )
    out.history_owner_ids.append(fields.record_id)


def association_ids(
    record: dict[str, Any], to_type: str, stated: tuple[str, ...] = (), f: Fields | None = None
) -> list[str] | None:
    """Distinct associated ids of `to_type` (v3 inline shape), or None when the record says nothing
    (a type in `stated` was asked for, so its absence means none). A block that cannot be read
    says nothing either (stored associations stay) and is flagged on `f`."""
    block = record.get("associations")
    if not isinstance(block, dict) or to_type not in block:
        return [] if to_type in stated else None
    entry = block.get(to_type) or {}
    if isinstance(entry, dict) and isinstance(entry.get("paging"), dict) and entry["paging"].get("next"):
        return None  # a list cut short (more than 100): says nothing, so no stored link is dropped
    results = entry.get("results", []) if isinstance(entry, dict) else []
    if not isinstance(results, list):
        if f is not None:
            f.flag(f"associations.{to_type}", entry, "associations block without a list of results")
        return None
    seen: dict[str, None] = {}
    for item in results:
        if isinstance(item, dict) and item.get("id") is not None:
            seen[str(item["id"])] = None
    return list(seen)


def normalize_contacts(
    records: Iterable[Any], known_stages: set[str], stated: tuple[str, ...] = ()
) -> Normalized:
    out = Normalized()
    for record in records:
        checked = check_record(record, out)
        if checked is None:
            continue
        record_id, props = checked
        f = Fields(record_id, out.issues)
        stage = f.text(props, "lifecyclestage")
        known = stage is None or stage in known_stages
        if not known:
            f.flag("lifecyclestage", stage, "unknown lifecycle stage (stored as-is)")
        row = common_fields(f, record, props)
        row.update(
            {
                "email": f.text(props, "email"),
                "firstname": f.text(props, "firstname"),
                "lastname": f.text(props, "lastname"),
                "lifecyclestage": stage,
                "lifecyclestage_known": known,
                "lastmodifieddate": f.timestamp(props, "lastmodifieddate"),
                "became_customer_at": f.timestamp(props, "closedate"),
                "company_id": f.text(props, "associatedcompanyid"),
                "persona": f.text(props, "hs_persona"),
                "latest_source": f.text(props, "hs_latest_source"),
                "latest_source_data_1": f.text(props, "hs_latest_source_data_1"),
                "latest_source_data_2": f.text(props, "hs_latest_source_data_2"),
                "latest_source_at": f.timestamp(props, "hs_latest_source_timestamp"),
                "first_touch_campaign": f.text(props, "hs_analytics_first_touch_converting_campaign"),
                "last_touch_campaign": f.text(props, "hs_analytics_last_touch_converting_campaign"),
                "first_conversion_at": f.timestamp(props, "first_conversion_date"),
                "first_conversion": f.text(props, "first_conversion_event_name"),
                "recent_conversion_at": f.timestamp(props, "recent_conversion_date"),
                "recent_conversion": f.text(props, "recent_conversion_event_name"),
                "email_first_click_at": f.timestamp(props, "hs_email_first_click_date"),
                "email_last_click_at": f.timestamp(props, "hs_email_last_click_date"),
            }
        )
        out.entities.append(row)
        out.stage_dates.extend(_stage_dates(f, props, "contact_id"))
        _history(f, record, "lifecyclestage", "contact_id", out)
        companies = association_ids(record, "companies", stated, f)
        if companies is not None:
            out.associations.extend(
                {"contact_id": record_id, "to_type": "company", "to_id": i} for i in companies
            )
            out.association_owner_ids.append(record_id)
        out.held_links.extend(
            {"deal_id": i, "to_type": "contact", "to_id": record_id}
            for i in association_ids(record, "deals", (), f) or []
        )
    return out


def normalize_companies(records: Iterable[Any]) -> Normalized:
    out = Normalized()
    for record in records:
        checked = check_record(record, out)
        if checked is None:
            continue
        record_id, props = checked
        f = Fields(record_id, out.issues)
        row = common_fields(f, record, props)
        row.update(
            {
                "name": f.text(props, "name"),
                "domain": f.text(props, "domain"),
                "industry": f.text(props, "industry"),
                "lifecyclestage": f.text(props, "lifecyclestage"),
                "numberofemployees": f.integer(props, "numberofemployees"),
                "annualrevenue": f.number(props, "annualrevenue", label="amount"),
                "country": f.text(props, "country"),
                "lastmodifieddate": f.timestamp(props, "hs_lastmodifieddate"),
            }
        )
        out.entities.append(row)
    return out


def normalize_deals(records: Iterable[Any], stated: tuple[str, ...] = ()) -> Normalized:
    out = Normalized()
    for record in records:
        checked = check_record(record, out)
        if checked is None:
            continue
        record_id, props = checked
        f = Fields(record_id, out.issues)
        row = common_fields(f, record, props)
        row.update(
            {
                "dealname": f.text(props, "dealname"),
                "pipeline": f.text(props, "pipeline"),
                "dealstage": f.text(props, "dealstage"),
                "amount": f.number(props, "amount", label="amount"),
                "amount_in_home_currency": f.number(props, "amount_in_home_currency", label="amount"),
                "currency": f.text(props, "deal_currency_code"),
                "closedate": f.timestamp(props, "closedate"),
                "is_closed": f.boolean(props, "hs_is_closed"),
                "is_closed_won": f.boolean(props, "hs_is_closed_won"),
                "latest_source": f.text(props, "hs_analytics_latest_source"),
                "lastmodifieddate": f.timestamp(props, "hs_lastmodifieddate"),
            }
        )
        out.entities.append(row)
        out.stage_dates.extend(_stage_dates(f, props, "deal_id"))
        _history(f, record, "dealstage", "deal_id", out)
        add_associations(
            out, record, f, "deal_id", (("contacts", "contact"), ("companies", "company")), stated
        )
    return out


def add_associations(
    out: Normalized,
    record: dict[str, Any],
    f: Fields,
    owner_key: str,
    types: tuple[tuple[str, str], ...],
    stated: tuple[str, ...],
) -> None:
    """The record's associations of `types` (plural as read, singular as stored) as rows; the
    record states its links (and loses stored ones it no longer has) when any block said
    something."""
    says_any = False
    for to_type, singular in types:
        ids = association_ids(record, to_type, stated, f)
        if ids is None:
            continue
        says_any = True
        out.associations.extend({owner_key: f.record_id, "to_type": singular, "to_id": i} for i in ids)
    if says_any:
        out.association_owner_ids.append(f.record_id)


# HubSpot property types whose values are also stored as a number or as a time.
_NUMBER_TYPES = {"number"}
_TIME_TYPES = {"date", "datetime"}


def add_dimension_values(
    records: Iterable[Any], out: Normalized, dimensions: Mapping[str, str], owner_key: str
) -> None:
    """The page's values of the configured dimension properties (name → HubSpot type), one row
    per record and set property: the text as sent, and typed where the portal types it. A value
    that does not parse as its type is quarantined and kept as text."""
    parsed = set(out.entity_ids)
    for record in records:
        record_id = str(record.get("id", "")).strip() if isinstance(record, dict) else ""
        props = record.get("properties") if isinstance(record, dict) else None
        if record_id not in parsed or not isinstance(props, dict):
            continue
        out.dimension_owner_ids.append(record_id)
        f = Fields(record_id, out.issues)
        for name, kind in dimensions.items():
            value = props.get(name)
            if value is None or str(value).strip() == "":
                continue
            out.dimension_values.append(
                {
                    owner_key: record_id,
                    "property": name,
                    "value": str(value)[:400],
                    "number": f.number(props, name) if kind in _NUMBER_TYPES else None,
                    "at": f.timestamp(props, name) if kind in _TIME_TYPES else None,
                }
            )
