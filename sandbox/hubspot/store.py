"""The sandbox portal's state: records, associations, the property catalogue, and the rules of
HubSpot's list and search endpoints applied to them. Thread-safe; the HTTP app is a thin layer."""

from __future__ import annotations

import bisect
import functools
import random
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.clock import SandboxClock
from sandbox.hubspot.data import (
    DEFAULT_PIPELINE,
    DEFAULT_STAGES,
    FIRST,
    LAST,
    PERSONA_LABELS,
    SOURCES,
    PortalData,
    Record,
    email_statistics,
    iso,
    newsletter,
)

OBJECT_TYPES = {
    "contacts": "contacts",
    "0-1": "contacts",
    "companies": "companies",
    "0-2": "companies",
    "deals": "deals",
    "0-3": "deals",
}
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal"}
MODIFIED = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}
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
}
ALWAYS = {
    "contacts": ("hs_object_id", "createdate", "lastmodifieddate"),
    "companies": ("hs_object_id", "createdate", "hs_lastmodifieddate"),
    "deals": ("hs_object_id", "createdate", "hs_lastmodifieddate"),
}
NUMBER_PROPERTIES = {
    "hs_object_id",
    "amount",
    "amount_in_home_currency",
    "numberofemployees",
    "annualrevenue",
    "associatedcompanyid",
    "hubspot_owner_id",
}
# Properties whose change history the sandbox keeps and serves (`propertiesWithHistory`).
HISTORY_PROPERTIES = {"contacts": "lifecyclestage", "deals": "dealstage"}
# Who typically moves a contact into a stage (HubSpot's sourceType); anything else is a person.
_STAGE_SOURCE_TYPE = {"subscriber": "FORM", "lead": "FORM", "marketingqualifiedlead": "AUTOMATION_PLATFORM"}

DATETIME_PREFIXES = ("hs_v2_date_entered_", "hs_v2_date_exited_", "hs_date_entered_", "hs_date_exited_")
DATETIME_PROPERTIES = {
    "createdate",
    "lastmodifieddate",
    "hs_lastmodifieddate",
    "closedate",
    "hs_latest_source_timestamp",
}
# v4 association type ids (HubSpot-defined), by (from, to).
ASSOCIATION_TYPE_IDS = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
}
SEARCH_OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}


class SandboxError(Exception):
    """A request the real API would refuse; carries HubSpot's status, category and message."""

    def __init__(
        self, status: int, category: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.context = context


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


@functools.lru_cache(maxsize=1 << 20)
def _iso_ms(value: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp() * 1000


def _filter_value(ptype: str, value: Any) -> float | str | None:
    """A filter operand in the property's domain: ms since epoch for datetimes, numbers, or text."""
    if value is None:
        return None
    if ptype == "datetime":
        text = str(value)
        return float(text) if text.lstrip("-").isdigit() else _iso_ms(text)
    if ptype == "number":
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return str(value).lower()


@dataclass
class ListResult:
    records: list[Record]
    next_after: str | None


class PortalStore:
    """One HubSpot portal in memory."""

    def __init__(self, data: PortalData, clock: SandboxClock, *, seed: int = 1) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.rng = random.Random(seed ^ 0x5EED)
        self.objects: dict[str, dict[int, Record]] = {t: {} for t in ("contacts", "companies", "deals")}
        self.ids: dict[str, list[int]] = {t: [] for t in self.objects}
        self.assoc: dict[tuple[str, str], dict[int, set[int]]] = {}
        self.pipelines = data.pipelines
        self.owners = data.owners
        self.lifecycle_options = data.lifecycle_options
        self.legacy_stage_properties = data.legacy_stage_properties
        # Marketing emails in id order (ids are numeric strings, as HubSpot sends them).
        self.emails = sorted(data.marketing_emails, key=lambda e: int(e["id"]))
        for object_type in self.objects:
            for record in getattr(data, object_type):
                self.objects[object_type][record["id"]] = record
            self.ids[object_type] = sorted(self.objects[object_type])
        for from_type, from_id, to_type, to_id in data.associations:
            self._associate(from_type, from_id, to_type, to_id)
        self.next_ids = {t: (self.ids[t][-1] if self.ids[t] else 100) + 1 for t in self.objects}
        # Absorbed id -> surviving id, per object type, for reads by an old id.
        self.merged: dict[str, dict[int, int]] = {t: {} for t in self.objects}
        self._catalogue: dict[str, set[str]] = {}
        self._rebuild_catalogue()
        # Bumped by every write, so views derived from the records (web analytics) know to rebuild.
        self.generation = 0

    # -- catalogue ---------------------------------------------------------------------------

    def _rebuild_catalogue(self) -> None:
        stages = [value for value, _ in self.lifecycle_options]
        deal_stages = [s["id"] for p in self.pipelines for s in p.get("stages", [])]
        base: dict[str, set[str]] = {
            "contacts": {
                *DEFAULT_PROPERTIES["contacts"],
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
            },
            "companies": {
                *DEFAULT_PROPERTIES["companies"],
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
            },
            "deals": {
                *DEFAULT_PROPERTIES["deals"],
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
            },
        }
        for stage in stages:
            base["contacts"].update({f"hs_v2_date_entered_{stage}", f"hs_v2_date_exited_{stage}"})
            if self.legacy_stage_properties:
                base["contacts"].add(f"hs_lifecyclestage_{stage}_date")
        for stage in deal_stages:
            base["deals"].update({f"hs_v2_date_entered_{stage}", f"hs_v2_date_exited_{stage}"})
        for object_type, records in self.objects.items():
            for record in records.values():
                base[object_type].update(record["properties"])
        self._catalogue = base

    def property_names(self, object_type: str) -> set[str]:
        return self._catalogue[object_type]

    def property_definitions(self, object_type: str) -> list[dict[str, Any]]:
        """The Properties API view of the catalogue (type, fieldType, options for enumerations)."""
        out = []
        for name in sorted(self._catalogue[object_type]):
            ptype = property_type(name)
            definition: dict[str, Any] = {
                "name": name,
                "label": name.replace("_", " ").title(),
                "type": ptype,
                "fieldType": {"number": "number", "datetime": "date", "bool": "booleancheckbox"}.get(
                    ptype, "text"
                ),
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
            if name == "lifecyclestage":
                definition.update(
                    type="enumeration",
                    fieldType="radio",
                    externalOptions=True,
                    options=[
                        {
                            "label": label,
                            "value": value,
                            "displayOrder": i,
                            "hidden": False,
                            "description": "",
                        }
                        for i, (value, label) in enumerate(self.lifecycle_options)
                    ],
                )
            elif name in ("hs_analytics_source", "hs_latest_source"):
                definition.update(
                    type="enumeration",
                    fieldType="select",
                    options=[
                        {
                            "label": value.replace("_", " ").title(),
                            "value": value,
                            "displayOrder": i,
                            "hidden": False,
                        }
                        for i, (value, *_rest) in enumerate(SOURCES)
                    ],
                )
            elif name == "hs_persona":
                definition.update(
                    type="enumeration",
                    fieldType="select",
                    options=[
                        {"label": label, "value": value, "displayOrder": i, "hidden": False}
                        for i, (value, label) in enumerate(PERSONA_LABELS.items())
                    ],
                )
            elif name in ("dealstage", "pipeline"):
                definition.update(type="enumeration", fieldType="select", externalOptions=True, options=[])
            out.append(definition)
        return out

    # -- associations ------------------------------------------------------------------------

    def _associate(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        self.assoc.setdefault((from_type, to_type), {}).setdefault(from_id, set()).add(to_id)
        self.assoc.setdefault((to_type, from_type), {}).setdefault(to_id, set()).add(from_id)

    def associated(self, from_type: str, from_id: int, to_type: str) -> list[int]:
        ids = self.assoc.get((from_type, to_type), {}).get(from_id, set())
        live = self.objects[to_type]
        return sorted(i for i in ids if i in live and not live[i]["archived"])

    def association_batch(
        self,
        from_type: str | None,
        to_type: str | None,
        body: Any,
        cap: int,
        to_item: Callable[[int], dict[str, Any]],
    ) -> tuple[dict[str, Any], int]:
        """A batch read of associations (v3 and v4 differ in how a target looks: `to_item`):
        HubSpot's body, and 207 when some inputs have none (`NO_ASSOCIATIONS_FOUND`)."""
        if from_type is None or to_type is None:
            raise SandboxError(400, "VALIDATION_ERROR", "Unknown object type")
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or len(inputs) > cap:
            raise SandboxError(400, "VALIDATION_ERROR", f"inputs must be a list of at most {cap}")
        results, errors = [], []
        with self.lock:
            for item in inputs:
                raw = str((item or {}).get("id", "")) if isinstance(item, dict) else ""
                ids = self.associated(from_type, int(raw), to_type) if raw.isdigit() else []
                if ids:
                    results.append({"from": {"id": raw}, "to": [to_item(i) for i in ids]})
                    continue
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                        "message": f"No {SINGULAR[to_type]} is associated with {SINGULAR[from_type]} {raw}.",
                        "context": {
                            "fromObjectId": [raw],
                            "fromObjectType": [SINGULAR[from_type]],
                            "toObjectType": [SINGULAR[to_type]],
                        },
                    }
                )
        now = iso(self.clock.now())
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        if not errors:
            return out, 200
        out["errors"] = errors
        out["numErrors"] = len(errors)
        return out, 207

    # -- rendering ---------------------------------------------------------------------------

    def render(
        self,
        object_type: str,
        record: Record,
        properties: list[str] | None,
        associations: list[str] | None = None,
        history: list[str] | None = None,
    ) -> dict[str, Any]:
        props = record["properties"]
        names = properties if properties else DEFAULT_PROPERTIES[object_type]
        known = self._catalogue[object_type]
        out_props: dict[str, Any] = {}
        for name in (*ALWAYS[object_type], *names):
            if name in known and name not in out_props:
                out_props[name] = props.get(name)
        body: dict[str, Any] = {
            "id": str(record["id"]),
            "properties": out_props,
            "createdAt": iso(record["createdAt"]),
            "updatedAt": iso(record["updatedAt"]),
            "archived": record["archived"],
        }
        if record["archived"] and record.get("archivedAt"):
            body["archivedAt"] = iso(record["archivedAt"])
        if history:
            known_history = {
                name: self.history(object_type, record, name) for name in history if name in known
            }
            body["propertiesWithHistory"] = {
                name: [
                    {"value": value, "timestamp": iso(at), "sourceType": source, "sourceId": None}
                    for value, at, source in reversed(entries)  # newest first, as HubSpot answers
                ]
                for name, entries in known_history.items()
            }
        if associations:
            block = {}
            for to_type in associations:
                to_type = OBJECT_TYPES.get(to_type, to_type)
                if to_type not in self.objects or to_type == object_type:
                    continue  # HubSpot ignores types it cannot associate
                ids = self.associated(object_type, record["id"], to_type)
                if ids:
                    label = f"{SINGULAR[object_type]}_to_{SINGULAR[to_type]}"
                    block[to_type] = {"results": [{"id": str(i), "type": label} for i in ids]}
            if block:
                body["associations"] = block
        return body

    # -- history -----------------------------------------------------------------------------

    def history(self, object_type: str, record: Record, name: str) -> list[tuple[str, datetime, str]]:
        """(value, when, sourceType) of every change of a stage property, oldest first.

        Kept explicitly once the sandbox changes a record; for generated records derived from the
        stage-entry dates (the generator's funnel walk), plus a last step when the current value
        is not the last one entered (a contact moved backwards).
        """
        kept = record.get("history", {}).get(name)
        if kept is not None:
            return list(kept)
        if HISTORY_PROPERTIES.get(object_type) != name:
            value = record["properties"].get(name)
            return [] if value is None else [(value, record["updatedAt"], "CRM_UI")]
        props = record["properties"]
        entries: list[tuple[str, datetime, str]] = []
        for prop, value in props.items():
            if prop.startswith("hs_v2_date_entered_") and value:
                stage = prop[len("hs_v2_date_entered_") :]
                try:
                    when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
                except ValueError:
                    continue  # a planted bad value (malformed mode) is no step of the history
                if when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                entries.append((stage, when, _STAGE_SOURCE_TYPE.get(stage, "CRM_UI")))
        entries.sort(key=lambda e: e[1])
        current = props.get(name)
        if current and (not entries or entries[-1][0] != current):
            entries.append(
                (
                    current,
                    max(record["updatedAt"], entries[-1][1]) if entries else record["updatedAt"],
                    "CRM_UI",
                )
            )
        return entries

    def _record_history(self, object_type: str, record: Record, name: str, value: str, at: datetime) -> None:
        entries = self.history(object_type, record, name)
        entries.append((value, at, "CRM_UI"))
        record.setdefault("history", {})[name] = entries

    # -- reads -------------------------------------------------------------------------------

    def list_page(self, object_type: str, *, after: int, limit: int, archived: bool) -> ListResult:
        with self.lock:
            ids = self.ids[object_type]
            records = self.objects[object_type]
            start = bisect.bisect_left(ids, after)
            page: list[Record] = []
            position = start
            while position < len(ids) and len(page) < limit:
                record = records[ids[position]]
                if record["archived"] == archived:
                    page.append(record)
                position += 1
            while position < len(ids) and records[ids[position]]["archived"] != archived:
                position += 1
            next_after = str(ids[position]) if position < len(ids) else None
            return ListResult(page, next_after)

    def get(self, object_type: str, record_id: int, *, archived: bool = False) -> Record | None:
        with self.lock:
            record = self.objects[object_type].get(record_id)
            if record is None or record["archived"] != archived:
                return None
            return record

    def search(
        self,
        object_type: str,
        request: dict[str, Any],
        *,
        lag_seconds: float = 0.0,
        id_order: str = "numeric",
    ) -> tuple[int, list[Record], int]:
        """HubSpot search semantics: (total, page, offset). Raises SandboxError like the API.

        `lag_seconds`: records changed more recently than that are not in the index yet (a
        simplification of HubSpot's lag: the stale version is left out rather than served).
        `id_order="lexicographic"` sorts hs_object_id as text ("10" before "9").
        """
        groups = request.get("filterGroups")
        if not groups and request.get("filters"):
            groups = [{"filters": request["filters"]}]
        groups = groups or []
        if not isinstance(groups, list) or len(groups) > 5:
            raise SandboxError(
                400, "VALIDATION_ERROR", "There can be at most 5 filterGroups in a search request."
            )
        total_filters = 0
        for group in groups:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list) or len(filters) > 10:
                raise SandboxError(
                    400, "VALIDATION_ERROR", "There can be at most 10 filters in a filterGroup."
                )
            total_filters += len(filters)
            for flt in filters:
                if (
                    not isinstance(flt, dict)
                    or flt.get("operator") not in SEARCH_OPERATORS
                    or not flt.get("propertyName")
                ):
                    raise SandboxError(400, "VALIDATION_ERROR", f"Invalid filter: {flt!r}")
        if total_filters > 25:
            raise SandboxError(
                400, "VALIDATION_ERROR", "There can be at most 25 filters in a search request."
            )
        limit = request.get("limit", 10)
        if not isinstance(limit, int) or limit < 1 or limit > 200:
            raise SandboxError(400, "VALIDATION_ERROR", "limit must be a number between 1 and 200.")
        after_raw = request.get("after") or 0
        try:
            offset = int(after_raw)
        except (TypeError, ValueError):
            raise SandboxError(400, "VALIDATION_ERROR", f"Invalid after: {after_raw!r}") from None
        if offset + limit > 10_000:
            raise SandboxError(
                400,
                "VALIDATION_ERROR",
                "The search endpoints are limited to 10,000 total results for any given query. "
                "Attempting to page beyond 10,000 will result in a 400 error.",
            )
        sorts = request.get("sorts") or []
        with self.lock:
            matches = list(self._matching(object_type, groups))
            if lag_seconds > 0:
                indexed_until = self.clock.now() - timedelta(seconds=lag_seconds)
                matches = [r for r in matches if r["updatedAt"] <= indexed_until]
            if sorts:
                sort = sorts[0] if isinstance(sorts[0], dict) else {"propertyName": str(sorts[0])}
                name = str(sort.get("propertyName"))
                ptype = property_type(name)
                reverse = str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
                as_text = id_order == "lexicographic" and name in ("hs_object_id", "id")

                def key(record: Record) -> tuple[int, Any, Any]:
                    if as_text:
                        return (0, str(record["id"]), 0)
                    value = _filter_value(ptype, self._prop(record, name))
                    return (value is None, value if value is not None else 0, record["id"])

                matches.sort(key=key, reverse=reverse)
            elif id_order == "lexicographic":
                matches.sort(key=lambda r: str(r["id"]))
            total = len(matches)
            return total, matches[offset : offset + limit], offset

    def _prop(self, record: Record, name: str) -> Any:
        if name == "hs_object_id":
            return record["id"]
        return record["properties"].get(name)

    def _candidates(self, object_type: str, groups: list[dict[str, Any]]) -> Iterable[int]:
        """Ids worth testing: narrowed by an id lower bound when every group has one."""
        ids = self.ids[object_type]
        floors = []
        for group in groups:
            floor = None
            for flt in group["filters"]:
                if flt["propertyName"] == "hs_object_id" and flt["operator"] in ("GT", "GTE"):
                    try:
                        value = int(float(flt["value"]))
                    except (TypeError, ValueError, KeyError):
                        continue
                    floor = value + 1 if flt["operator"] == "GT" else value
            floors.append(floor)
        if floors and all(f is not None for f in floors):
            return ids[bisect.bisect_left(ids, min(f for f in floors if f is not None)) :]
        return ids

    def _matching(self, object_type: str, groups: list[dict[str, Any]]) -> Iterator[Record]:
        records = self.objects[object_type]
        for record_id in self._candidates(object_type, groups):
            record = records[record_id]
            if record["archived"]:
                continue  # search never returns archived records
            if not groups or any(all(self._test(record, f) for f in g["filters"]) for g in groups):
                yield record

    def _test(self, record: Record, flt: dict[str, Any]) -> bool:
        name = flt["propertyName"]
        op = flt["operator"]
        raw = self._prop(record, name)
        if op == "HAS_PROPERTY":
            return raw not in (None, "")
        if op == "NOT_HAS_PROPERTY":
            return raw in (None, "")
        ptype = property_type(name)
        value = _filter_value(ptype, raw)
        if op in ("IN", "NOT_IN"):
            values = {_filter_value(ptype, v) for v in flt.get("values") or []}
            return (value in values) if op == "IN" else (value not in values)
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = str(flt.get("value", "")).lower().strip("*")
            found = raw is not None and token in str(raw).lower()
            return found if op == "CONTAINS_TOKEN" else not found
        operand = _filter_value(ptype, flt.get("value"))
        if op == "EQ":
            return value == operand
        if op == "NEQ":
            return value != operand
        if value is None or operand is None:
            return False
        try:
            if op == "BETWEEN":
                high = _filter_value(ptype, flt.get("highValue"))
                return high is not None and operand <= value <= high  # type: ignore[operator]
            return {
                "LT": value < operand,  # type: ignore[operator]
                "LTE": value <= operand,  # type: ignore[operator]
                "GT": value > operand,  # type: ignore[operator]
                "GTE": value >= operand,  # type: ignore[operator]
            }[op]
        except TypeError:
            return False

    # -- writes ------------------------------------------------------------------------------

    def _stamp(self, object_type: str, record: Record, at: datetime) -> None:
        self.generation += 1
        record["updatedAt"] = at
        record["properties"][MODIFIED[object_type]] = iso(at)
        if object_type == "contacts":
            record["properties"]["hs_lastmodifieddate"] = iso(at)

    def update(
        self, object_type: str, record_id: int, properties: dict[str, Any], *, at: datetime | None = None
    ) -> Record:
        with self.lock:
            record = self.objects[object_type].get(record_id)
            if record is None:
                raise SandboxError(
                    404,
                    "OBJECT_NOT_FOUND",
                    "Object not found.  objectId are usually numeric.",
                    {"id": [str(record_id)]},
                )
            at = at or self.clock.now()
            for name, value in properties.items():
                if (
                    HISTORY_PROPERTIES.get(object_type) == name
                    and value
                    and value != record["properties"].get(name)
                ):
                    self._record_history(object_type, record, name, str(value), at)
                if value is None:
                    record["properties"].pop(name, None)
                else:
                    record["properties"][name] = str(value)
                if object_type == "contacts" and name == "lifecyclestage" and value:
                    record["properties"][f"hs_v2_date_entered_{value}"] = iso(at)
                if object_type == "deals" and name == "dealstage" and value:
                    record["properties"][f"hs_v2_date_entered_{value}"] = iso(at)
            self._stamp(object_type, record, at)
            self._catalogue[object_type].update(record["properties"])
            return record

    def create(
        self,
        object_type: str,
        properties: dict[str, Any],
        *,
        at: datetime | None = None,
        associations: dict[str, list[int]] | None = None,
    ) -> Record:
        with self.lock:
            at = at or self.clock.now()
            record_id = self.next_ids[object_type]
            self.next_ids[object_type] += self.rng.randint(1, 3)
            props = {k: str(v) for k, v in properties.items() if v is not None}
            props.setdefault("createdate", iso(at))
            record: Record = {
                "id": record_id,
                "properties": props,
                "createdAt": at,
                "updatedAt": at,
                "archived": False,
            }
            props["hs_object_id"] = str(record_id)
            self._stamp(object_type, record, at)
            self.objects[object_type][record_id] = record
            self.ids[object_type].append(record_id)  # ids only grow
            for to_type, to_ids in (associations or {}).items():
                for to_id in to_ids:
                    self._associate(object_type, record_id, OBJECT_TYPES.get(to_type, to_type), int(to_id))
            self._catalogue[object_type].update(props)
            return record

    def archive(self, object_type: str, record_id: int, *, at: datetime | None = None) -> Record:
        with self.lock:
            record = self.objects[object_type].get(record_id)
            if record is None or record["archived"]:
                raise SandboxError(
                    404,
                    "OBJECT_NOT_FOUND",
                    "Object not found.  objectId are usually numeric.",
                    {"id": [str(record_id)]},
                )
            at = at or self.clock.now()
            self.generation += 1
            record["archived"] = True
            record["archivedAt"] = at
            record["updatedAt"] = at
            return record

    def merge(
        self, object_type: str, primary_id: int, merged_id: int, *, at: datetime | None = None
    ) -> Record:
        """Merge `merged_id` into `primary_id`, as `POST /crm/v3/objects/{type}/merge` does.

        The primary keeps its id and its values; values it lacks come from the absorbed record;
        each stage's entry date is the earlier of the two; a contact's lifecycle stage is the one
        further down the funnel. `hs_merged_object_ids` gains the absorbed id (and the ids it had
        absorbed itself). The absorbed record is not archived: it disappears, and reading it by
        its old id returns the survivor. Associations move to the survivor.
        """
        with self.lock:
            records = self.objects[object_type]
            primary, merged = records.get(primary_id), records.get(merged_id)
            if (
                primary_id == merged_id
                or primary is None
                or merged is None
                or primary["archived"]
                or merged["archived"]
            ):
                raise SandboxError(
                    400, "VALIDATION_ERROR", "Both objects must exist, differ and not be archived.", {}
                )
            at = at or self.clock.now()
            tracked = HISTORY_PROPERTIES.get(object_type)
            if tracked:
                # The survivor keeps the change history of both records.
                both = self.history(object_type, primary, tracked) + self.history(
                    object_type, merged, tracked
                )
                primary.setdefault("history", {})[tracked] = sorted(both, key=lambda e: e[1])
            props, other = primary["properties"], merged["properties"]
            for name, value in other.items():
                if name.startswith(("hs_v2_date_entered_", "hs_lifecyclestage_")):
                    current = props.get(name)
                    if current is None or (_iso_ms(value) or 0) < (_iso_ms(current) or 0):
                        props[name] = value
                elif props.get(name) in (None, "") and name not in ("hs_object_id", "hs_merged_object_ids"):
                    props[name] = value
            if object_type == "contacts":
                order = {stage: i for i, stage in enumerate(self.funnel())}
                mine, theirs = props.get("lifecyclestage"), other.get("lifecyclestage")
                if theirs in order and (mine not in order or order[theirs] > order[mine]):
                    props["lifecyclestage"] = theirs
            absorbed = [str(merged_id)]
            absorbed += [i for i in (other.get("hs_merged_object_ids") or "").split(";") if i]
            had = [i for i in (props.get("hs_merged_object_ids") or "").split(";") if i]
            props["hs_merged_object_ids"] = ";".join(dict.fromkeys([*had, *absorbed]))
            for (from_type, to_type), links in list(self.assoc.items()):
                if from_type == object_type and merged_id in links:
                    for to_id in links.pop(merged_id):
                        self.assoc[(to_type, from_type)].get(to_id, set()).discard(merged_id)
                        self._associate(object_type, primary_id, to_type, to_id)
            for old in [int(i) for i in absorbed]:
                self.merged[object_type][old] = primary_id
            for old, survivor in self.merged[object_type].items():
                if survivor == merged_id:
                    self.merged[object_type][old] = primary_id
            del records[merged_id]
            self.ids[object_type].remove(merged_id)
            self._stamp(object_type, primary, at)
            return primary

    def funnel(self) -> list[str]:
        """The portal's lifecycle stages in funnel order."""
        return [v for v, _ in self.lifecycle_options if v not in ("evangelist", "other")]

    def canonical_id(self, object_type: str, record_id: int) -> int:
        """The id a read of `record_id` answers with (the survivor's, after merges)."""
        return self.merged[object_type].get(record_id, record_id)

    def restore(self, object_type: str, record_id: int, *, at: datetime | None = None) -> Record:
        """Bring an archived record back from the recycle bin. Like HubSpot, this does not touch
        the last-modified property, so searches by modification time do not see it."""
        with self.lock:
            record = self.objects[object_type].get(record_id)
            if record is None or not record["archived"]:
                raise SandboxError(404, "OBJECT_NOT_FOUND", "No archived object with that id.", {})
            self.generation += 1
            record["archived"] = False
            record.pop("archivedAt", None)
            record["updatedAt"] = at or self.clock.now()
            return record

    def purge(self, object_type: str, record_id: int) -> None:
        """Delete a record for good (GDPR delete, or 90 days in the recycle bin)."""
        with self.lock:
            if self.objects[object_type].pop(record_id, None) is None:
                raise SandboxError(404, "OBJECT_NOT_FOUND", "Object not found.", {})
            self.generation += 1
            self.ids[object_type].remove(record_id)

    def touch(self, object_type: str, record_ids: list[int], *, at: datetime) -> int:
        """Stamp many records with one modification time, as HubSpot's bulk jobs do."""
        with self.lock:
            count = 0
            for record_id in record_ids:
                record = self.objects[object_type].get(record_id)
                if record is not None and not record["archived"]:
                    self._stamp(object_type, record, at)
                    count += 1
            return count

    def edit_random(self, object_type: str, count: int, *, at: datetime | None = None) -> list[int]:
        """Change `count` random live records now (the `modify` fault: edits between pages).

        Contacts move one lifecycle stage down the funnel (or get a new last name at its end),
        deals get a new amount, companies a new head count.
        """
        with self.lock:
            at = at or self.clock.now()
            live = [r for r in self.objects[object_type].values() if not r["archived"]]
            edited = []
            funnel = self.funnel()
            for record in self.rng.sample(live, min(count, len(live))):
                props = record["properties"]
                change: dict[str, Any]
                if object_type == "contacts":
                    stage = props.get("lifecyclestage")
                    position = funnel.index(stage) if stage in funnel else len(funnel)
                    if position + 1 < len(funnel):
                        change = {"lifecyclestage": funnel[position + 1]}
                    else:
                        change = {"lastname": self.rng.choice(["Berg", "Dahl", "Lund", "Strand"])}
                elif object_type == "deals":
                    change = {"amount": str(self.rng.randrange(1_000, 90_000, 500))}
                else:
                    change = {"numberofemployees": str(self.rng.randrange(5, 5_000))}
                self.update(object_type, record["id"], change, at=at)
                edited.append(record["id"])
            return edited

    def render_email(self, email: dict[str, Any], *, stats: bool) -> dict[str, Any]:
        """A marketing email as `PublicEmail`: datetimes as ISO text, `stats` only when asked."""
        out = {k: (iso(v) if isinstance(v, datetime) else v) for k, v in email.items() if k != "stats"}
        if stats and "stats" in email:
            out["stats"] = email["stats"]
        return out

    def send_email(self, *, recipients: int, at: datetime | None = None) -> dict[str, Any]:
        """A newsletter goes out now to `recipients` contacts (for tests and `simulate`)."""
        with self.lock:
            at = at or self.clock.now()
            next_id = max((int(e["id"]) for e in self.emails), default=70_000_000_000) + 1
            email = newsletter(
                str(next_id), at, subject="News", stats=email_statistics(max(1, recipients), self.rng)
            )
            self.emails.append(email)
            return email

    # -- simulated activity ------------------------------------------------------------------

    def simulate(
        self,
        *,
        days: float = 1.0,
        new_contacts: int = 0,
        stage_changes: int = 0,
        deals_created: int = 0,
        deals_won: int = 0,
        deals_lost: int = 0,
        archive: int = 0,
        same_timestamp: bool = False,
    ) -> dict[str, Any]:
        """Advance the clock by `days` and apply that much CRM activity inside the elapsed window."""
        with self.lock:
            start = self.clock.now()
            end = self.clock.advance(days * 86400)
            span = max((end - start).total_seconds(), 1.0)
            rng = self.rng

            def when() -> datetime:
                if same_timestamp:
                    return end - timedelta(seconds=1)
                return start + timedelta(seconds=rng.uniform(0, span * 0.98))

            changes: dict[str, list[str]] = {
                "created": [],
                "stage_changes": [],
                "deals_created": [],
                "deals_won": [],
                "deals_lost": [],
                "archived": [],
            }
            source_names = [s[0] for s in SOURCES]
            source_weights = [s[1] for s in SOURCES]
            for _ in range(new_contacts):
                at = when()
                first, last = rng.choice(FIRST), rng.choice(LAST)
                source = rng.choices(source_names, weights=source_weights, k=1)[0]
                record = self.create(
                    "contacts",
                    {
                        "email": f"{first.lower()}.{last.lower()}.{self.next_ids['contacts']}@new.example",
                        "firstname": first,
                        "lastname": last,
                        "lifecyclestage": "lead",
                        "hs_analytics_source": source,
                        "hs_latest_source": source,
                        "hs_v2_date_entered_lead": iso(at),
                    },
                    at=at,
                )
                changes["created"].append(str(record["id"]))
            funnel = self.funnel()
            live_contacts = [
                r
                for r in self.objects["contacts"].values()
                if not r["archived"] and r["properties"].get("lifecyclestage") in funnel[:-1]
            ]
            for record in rng.sample(live_contacts, min(stage_changes, len(live_contacts))):
                current = record["properties"]["lifecyclestage"]
                nxt = funnel[funnel.index(current) + 1]
                at = max(when(), record["updatedAt"])
                self.update("contacts", record["id"], {"lifecyclestage": nxt}, at=at)
                record["properties"][f"hs_v2_date_exited_{current}"] = iso(at)
                if nxt == "customer":
                    record["properties"]["closedate"] = iso(at)
                changes["stage_changes"].append(f"{record['id']}:{current}->{nxt}")
            candidates = [
                r
                for r in self.objects["contacts"].values()
                if not r["archived"]
                and r["properties"].get("lifecyclestage") in ("salesqualifiedlead", "opportunity")
            ]
            for record in rng.sample(candidates, min(deals_created, len(candidates))):
                at = max(when(), record["updatedAt"])
                amount = round(rng.lognormvariate(11.7, 0.7), -2)
                deal = self.create(
                    "deals",
                    {
                        "dealname": f"{record['properties'].get('lastname', 'New')} – new business",
                        "pipeline": DEFAULT_PIPELINE,
                        "dealstage": DEFAULT_STAGES[0][0],
                        "amount": f"{amount:.0f}",
                        "amount_in_home_currency": f"{amount:.2f}",
                        "deal_currency_code": "SEK",
                        "hs_is_closed": "false",
                        "hs_is_closed_won": "false",
                        "closedate": iso(at + timedelta(days=45)),
                        "hs_analytics_source": record["properties"].get("hs_analytics_source"),
                        f"hs_v2_date_entered_{DEFAULT_STAGES[0][0]}": iso(at),
                    },
                    at=at,
                    associations={"contacts": [record["id"]]},
                )
                changes["deals_created"].append(str(deal["id"]))
            for outcome, count in (("won", deals_won), ("lost", deals_lost)):
                open_deals = [
                    r
                    for r in self.objects["deals"].values()
                    if not r["archived"]
                    and r["properties"].get("hs_is_closed") == "false"
                    and r["properties"].get("pipeline") == DEFAULT_PIPELINE
                ]
                for deal in rng.sample(open_deals, min(count, len(open_deals))):
                    at = max(when(), deal["updatedAt"])
                    stage = "closedwon" if outcome == "won" else "closedlost"
                    self.update(
                        "deals",
                        deal["id"],
                        {
                            "dealstage": stage,
                            "hs_is_closed": "true",
                            "hs_is_closed_won": "true" if outcome == "won" else "false",
                            "closedate": iso(at),
                        },
                        at=at,
                    )
                    changes[f"deals_{outcome}"].append(str(deal["id"]))
                    if outcome == "won":
                        # HubSpot's default automation: a won deal makes its contacts customers.
                        for contact_id in self.associated("deals", deal["id"], "contacts"):
                            contact = self.objects["contacts"][contact_id]
                            if contact["properties"].get("lifecyclestage") != "customer":
                                self.update(
                                    "contacts",
                                    contact_id,
                                    {"lifecyclestage": "customer", "closedate": iso(at)},
                                    at=at,
                                )
            live = [r for r in self.objects["contacts"].values() if not r["archived"]]
            for record in rng.sample(live, min(archive, len(live))):
                self.archive("contacts", record["id"], at=when())
                changes["archived"].append(str(record["id"]))
            return {
                "from": iso(start),
                "to": iso(end),
                **{k: len(v) for k, v in changes.items()},
                "changes": changes,
            }

    def truth(self, object_type: str) -> list[dict[str, Any]]:
        """Ground truth for tests: every record with its archived flag and modification time."""
        with self.lock:
            return [
                {
                    "id": str(r["id"]),
                    "archived": r["archived"],
                    "updatedAt": iso(r["updatedAt"]),
                    "properties": dict(r["properties"]),
                }
                for r in (self.objects[object_type][i] for i in self.ids[object_type])
            ]
