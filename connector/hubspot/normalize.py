"""Pure parsers: raw HubSpot records in, typed rows and data-quality issues out.

Bad data never raises. A field that cannot be parsed becomes None and yields an `Issue`
(record, field, raw value, reason) for the quarantine table; a record that is not a record at
all (no id, wrong shape) is rejected whole with an `Issue` on field "*". The raw JSON of every
accepted record is kept beside the typed columns.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import date, datetime
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


def _check_record(record: Any, out: Normalized) -> tuple[str, dict[str, Any]] | None:
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


def _common(fields: Fields, record: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
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


def _association_ids(
    record: dict[str, Any], to_type: str, stated: tuple[str, ...] = (), f: Fields | None = None
) -> list[str] | None:
    """Distinct associated ids of `to_type` (v3 inline shape), or None when the record says nothing
    (a type in `stated` was asked for, so its absence means none). A block that cannot be read
    says nothing either (stored associations stay) and is flagged on `f`."""
    block = record.get("associations")
    if not isinstance(block, dict) or to_type not in block:
        return [] if to_type in stated else None
    entry = block.get(to_type) or {}
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
        checked = _check_record(record, out)
        if checked is None:
            continue
        record_id, props = checked
        f = Fields(record_id, out.issues)
        stage = f.text(props, "lifecyclestage")
        known = stage is None or stage in known_stages
        if not known:
            f.flag("lifecyclestage", stage, "unknown lifecycle stage (stored as-is)")
        row = _common(f, record, props)
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
            }
        )
        out.entities.append(row)
        out.stage_dates.extend(_stage_dates(f, props, "contact_id"))
        _history(f, record, "lifecyclestage", "contact_id", out)
        companies = _association_ids(record, "companies", stated, f)
        if companies is not None:
            out.associations.extend(
                {"contact_id": record_id, "to_type": "company", "to_id": i} for i in companies
            )
            out.association_owner_ids.append(record_id)
        out.held_links.extend(
            {"deal_id": i, "to_type": "contact", "to_id": record_id}
            for i in _association_ids(record, "deals", (), f) or []
        )
    return out


def normalize_companies(records: Iterable[Any]) -> Normalized:
    out = Normalized()
    for record in records:
        checked = _check_record(record, out)
        if checked is None:
            continue
        record_id, props = checked
        f = Fields(record_id, out.issues)
        row = _common(f, record, props)
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
        checked = _check_record(record, out)
        if checked is None:
            continue
        record_id, props = checked
        f = Fields(record_id, out.issues)
        row = _common(f, record, props)
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
        says_any = False
        for to_type, singular in (("contacts", "contact"), ("companies", "company")):
            ids = _association_ids(record, to_type, stated, f)
            if ids is None:
                continue
            says_any = True
            out.associations.extend({"deal_id": record_id, "to_type": singular, "to_id": i} for i in ids)
        if says_any:
            out.association_owner_ids.append(record_id)
    return out


def normalize_owners(records: Iterable[Any]) -> Normalized:
    out = Normalized()
    for record in records:
        if not isinstance(record, dict) or not str(record.get("id", "")).strip().isdigit():
            key = record_key(record)
            out.issues.append(Issue(key, "*", raw_text(record), "owner id missing or not numeric"))
            out.rejected += 1
            continue
        f = Fields(str(record["id"]), out.issues)
        user_id = record.get("userId")
        out.entities.append(
            {
                "id": f.record_id,
                "email": f.text(record, "email"),
                "first_name": f.text(record, "firstName"),
                "last_name": f.text(record, "lastName"),
                "user_id": int(user_id) if isinstance(user_id, int) else None,
                "type": f.text(record, "type"),
                "archived": bool(record.get("archived", False)),
                "created_at": f.timestamp(record, "createdAt"),
                "updated_at": f.timestamp(record, "updatedAt"),
                "raw": record,
            }
        )
    return out


def normalize_pipelines(records: Iterable[Any], object_type: str = "deals") -> Normalized:
    """Pipelines become entities; their stages become children (probability and flags as numbers)."""
    out = Normalized()
    for record in records:
        if not isinstance(record, dict) or not record.get("id") or not isinstance(record.get("stages"), list):
            out.issues.append(
                Issue(record_key(record), "*", raw_text(record), "pipeline without id or stages")
            )
            out.rejected += 1
            continue
        f = Fields(str(record["id"]), out.issues)
        out.entities.append(
            {
                "id": f.record_id,
                "object_type": object_type,
                "label": f.text(record, "label"),
                "display_order": f.integer(record, "displayOrder"),
                "archived": bool(record.get("archived", False)),
                "raw": record,
            }
        )
        for stage in record["stages"]:
            if not isinstance(stage, dict) or not stage.get("id"):
                f.flag("stages", raw_text(stage), "stage without id")
                continue
            meta: dict[str, Any] = stage["metadata"] if isinstance(stage.get("metadata"), dict) else {}
            sf = Fields(f"{f.record_id}/{stage['id']}", out.issues)
            probability = sf.number(meta, "probability", label="probability")
            if probability is not None and probability > 1:
                probability = probability / 100  # a percentage slipped in; HubSpot uses 0..1
            is_closed = sf.boolean(meta, "isClosed")
            out.children.append(
                {
                    "pipeline_id": f.record_id,
                    "stage_id": str(stage["id"]),
                    "label": sf.text(stage, "label"),
                    "display_order": sf.integer(stage, "displayOrder"),
                    "probability": probability,
                    "is_closed": bool(is_closed),
                    "is_won": bool(is_closed) and probability is not None and probability >= 1.0,
                    "archived": bool(stage.get("archived", False)),
                }
            )
    return out


# Statistics counters of a marketing email → columns (HubSpot's `open` and `click` count
# recipients, so they are the unique figures).
EMAIL_COUNTERS = {
    "sent": "sent",
    "delivered": "delivered",
    "open": "unique_opens",
    "click": "unique_clicks",
    "bounce": "bounces",
    "hardbounced": "hard_bounces",
    "softbounced": "soft_bounces",
    "unsubscribed": "unsubscribes",
    "spamreport": "spam_reports",
}


def normalize_marketing_emails(records: Iterable[Any]) -> Normalized:
    """Marketing emails with their lifetime statistics; counters that are not whole non-negative
    numbers are quarantined, the rest of the email is kept."""
    out = Normalized()
    for record in records:
        if not isinstance(record, dict) or not str(record.get("id", "")).strip().isdigit():
            out.issues.append(
                Issue(record_key(record), "*", raw_text(record), "email id missing or not numeric")
            )
            out.rejected += 1
            continue
        f = Fields(str(record["id"]).strip(), out.issues)
        row: dict[str, Any] = {
            "id": f.record_id,
            "name": f.text(record, "name"),
            "subject": f.text(record, "subject"),
            "email_type": f.text(record, "type"),
            "state": f.text(record, "state"),
            "campaign_id": f.text(record, "campaign") or f.text(record, "primaryEmailCampaignId"),
            "sent_at": f.timestamp(record, "publishDate") or f.timestamp(record, "publishedAt"),
            "archived": bool(record.get("archived", False)),
            "created_at": f.timestamp(record, "createdAt"),
            "updated_at": f.timestamp(record, "updatedAt"),
            "raw": record,
        }
        stats = record.get("stats")
        counters = stats.get("counters") if isinstance(stats, dict) else None
        for key, column in EMAIL_COUNTERS.items():
            value = counters.get(key) if isinstance(counters, dict) else None
            if value is None:
                row[column] = 0 if isinstance(counters, dict) else None
            elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                row[column] = value
            else:
                f.flag(f"stats.counters.{key}", value, "counter is not a whole number >= 0")
                row[column] = None
        out.entities.append(row)
    return out


# Reporting API v2 counters → columns of hubspot_analytics_rows.
ANALYTICS_COUNTERS = {
    "visits": "visits",
    "visitors": "visitors",
    "rawViews": "raw_views",
    "contacts": "contacts",
    "subscribers": "subscribers",
    "leads": "leads",
    "marketingQualifiedLeads": "marketing_qualified_leads",
    "salesQualifiedLeads": "sales_qualified_leads",
    "opportunities": "opportunities",
    "customers": "customers",
    "submissions": "submissions",
    "entrances": "entrances",
    "exits": "exits",
}
# Summarized reports (totals) have no `breakdown`: their one row is stored under this name.
TOTAL_BREAKDOWN = "total"


def _day_of(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value is not None else None
    except ValueError:
        return None


def normalize_web_analytics(records: Iterable[Any]) -> Normalized:
    """Report days (`{"report", "day", "rows"}`, see connector.hubspot.analytics) into one entity per
    day and one child row per breakdown. A day whose date or rows cannot be read is rejected
    whole; a row without a breakdown is quarantined and left out; a counter that is not a whole
    number >= 0 is quarantined and stored as None (the rest of the row is kept)."""
    out = Normalized()
    for record in records:
        report = record.get("report") if isinstance(record, dict) else None
        day = _day_of(record.get("day")) if isinstance(record, dict) else None
        rows = record.get("rows") if isinstance(record, dict) else None
        if not isinstance(report, str) or day is None or not isinstance(rows, list):
            reason = "analytics day without a report name, a YYYY-MM-DD date or a list of rows"
            out.issues.append(Issue(record_key(record), "*", raw_text(record), reason))
            out.rejected += 1
            continue
        f = Fields(f"{report}|{day.isoformat()}", out.issues)
        kept: dict[str, dict[str, Any]] = {}
        for position, row in enumerate(rows):
            if not isinstance(row, dict):
                f.flag(f"rows[{position}]", row, "row is not a JSON object")
                continue
            raw_key = row.get("breakdown", TOTAL_BREAKDOWN if len(rows) == 1 else None)
            if raw_key is None or str(raw_key).strip() == "":
                f.flag(f"rows[{position}]", raw_text(row), "row has no breakdown")
                continue
            key = str(raw_key)[:500]
            child: dict[str, Any] = {
                "day_id": f.record_id,
                "breakdown": key,
                "report": report,
                "day": day,
                "meta": None if row.get("meta") is None else str(row["meta"]),
                "raw": row,
            }
            for name, column in ANALYTICS_COUNTERS.items():
                value = row.get(name)
                if value is None:
                    child[column] = None
                elif (
                    isinstance(value, int | float)
                    and not isinstance(value, bool)
                    and value >= 0
                    and value == int(value)
                ):
                    child[column] = int(value)
                else:
                    f.flag(f"{key[:150]}.{name}", value, "counter is not a whole number >= 0")
                    child[column] = None
            kept.setdefault(key, child)  # a breakdown repeated by overlapping pages counts once
        out.entities.append({"id": f.record_id, "report": report, "day": day, "breakdowns": len(kept)})
        out.children.extend(kept.values())
    return out


def _flag(record: dict[str, Any], name: str) -> bool | None:
    value = record.get(name)
    return value if isinstance(value, bool) else None


def normalize_properties(records: Iterable[Any]) -> Normalized:
    """Property definitions, keyed `<object type>/<name>`."""
    out = Normalized()
    for record in records:
        name = record.get("name") if isinstance(record, dict) else None
        object_type = record.get("objectType") if isinstance(record, dict) else None
        if not isinstance(name, str) or not name or not isinstance(object_type, str):
            out.issues.append(
                Issue(record_key(record), "*", raw_text(record), "property without a name or object type")
            )
            out.rejected += 1
            continue
        assert isinstance(record, dict)
        f = Fields(f"{object_type}/{name}", out.issues)
        raw = {k: v for k, v in record.items() if k != "objectType"}
        out.entities.append(
            {
                "id": f.record_id,
                "object_type": object_type,
                "name": name,
                "label": f.text(record, "label"),
                "type": f.text(record, "type"),
                "field_type": f.text(record, "fieldType"),
                "group_name": f.text(record, "groupName"),
                "calculated": record.get("calculated")
                if isinstance(record.get("calculated"), bool)
                else None,
                "hubspot_defined": (
                    record.get("hubspotDefined") if isinstance(record.get("hubspotDefined"), bool) else None
                ),
                "archived": bool(record.get("archived", False)),
                "raw": raw,
            }
        )
    return out


def normalize_records(
    stream: str, records: Iterable[Any], *, known_stages: set[str], stated: tuple[str, ...] = ()
) -> Normalized:
    """Dispatch a page of `stream` to its parser.

    `stated`: association types the request asked for. HubSpot leaves the `associations` block out
    of a record that has none, so for these types a missing block means "none" (and stored
    associations are removed), not "not asked".
    """
    if stream == "contacts":
        return normalize_contacts(records, known_stages, stated)
    if stream == "companies":
        return normalize_companies(records)
    if stream == "deals":
        return normalize_deals(records, stated)
    if stream == "owners":
        return normalize_owners(records)
    if stream == "pipelines":
        return normalize_pipelines(records)
    if stream == "marketing_emails":
        return normalize_marketing_emails(records)
    if stream == "properties":
        return normalize_properties(records)
    if stream == "web_analytics":
        return normalize_web_analytics(records)
    raise ValueError(f"unknown HubSpot stream {stream!r}")
