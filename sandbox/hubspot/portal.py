"""The sandbox portal's state and the primitives every part of it uses: records by type and id,
associations both ways, the property catalogue, each stage property's change history, merges."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime

from sandbox.clock import SandboxClock
from sandbox.hubspot.catalogue import build_catalogue
from sandbox.hubspot.data import PortalData, Record, iso
from sandbox.hubspot.model import ENGAGEMENT_TYPES, HISTORY_PROPERTIES, MODIFIED

# Who typically moves a contact into a stage (HubSpot's sourceType); anything else is a person.
_STAGE_SOURCE_TYPE = {"subscriber": "FORM", "lead": "FORM", "marketingqualifiedlead": "AUTOMATION_PLATFORM"}


class StoreBase:
    """One HubSpot portal in memory. Thread-safe through `lock` (re-entrant)."""

    def __init__(self, data: PortalData, clock: SandboxClock, *, seed: int = 1) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.rng = random.Random(seed ^ 0x5EED)
        self.objects: dict[str, dict[int, Record]] = {
            t: {} for t in ("contacts", "companies", "deals", *ENGAGEMENT_TYPES)
        }
        self.ids: dict[str, list[int]] = {t: [] for t in self.objects}
        self.assoc: dict[tuple[str, str], dict[int, set[int]]] = {}
        self.pipelines = data.pipelines
        self.owners = data.owners
        self.lifecycle_options = data.lifecycle_options
        self.legacy_stage_properties = data.legacy_stage_properties
        # Marketing emails in id order (ids are numeric strings, as HubSpot sends them).
        self.emails = sorted(data.marketing_emails, key=lambda e: int(e["id"]))
        # Marketing campaigns in creation order (their GUIDs have none).
        self.campaigns = sorted(data.campaigns, key=lambda c: (c["createdAt"], c["id"]))
        for object_type in self.objects:
            for record in getattr(data, object_type):
                self.objects[object_type][record["id"]] = record
            self.ids[object_type] = sorted(self.objects[object_type])
        for from_type, from_id, to_type, to_id in data.associations:
            self._associate(from_type, from_id, to_type, to_id)
        self.next_ids = {t: (self.ids[t][-1] if self.ids[t] else 100) + 1 for t in self.objects}
        # Absorbed id -> surviving id, per object type, for reads by an old id.
        self.merged: dict[str, dict[int, int]] = {t: {} for t in self.objects}
        self._catalogue = build_catalogue(
            lifecycle_stages=[value for value, _ in self.lifecycle_options],
            deal_stages=[s["id"] for p in self.pipelines for s in p.get("stages", [])],
            objects=self.objects,
            legacy_stage_properties=self.legacy_stage_properties,
        )
        # Bumped by every write, so views derived from the records (web analytics) know to rebuild.
        self.generation = 0

    def property_names(self, object_type: str) -> set[str]:
        return self._catalogue[object_type]

    def _associate(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        self.assoc.setdefault((from_type, to_type), {}).setdefault(from_id, set()).add(to_id)
        self.assoc.setdefault((to_type, from_type), {}).setdefault(to_id, set()).add(from_id)

    def associated(self, from_type: str, from_id: int, to_type: str) -> list[int]:
        ids = self.assoc.get((from_type, to_type), {}).get(from_id, set())
        live = self.objects[to_type]
        return sorted(i for i in ids if i in live and not live[i]["archived"])

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

    def _stamp(self, object_type: str, record: Record, at: datetime) -> None:
        self.generation += 1
        record["updatedAt"] = at
        record["properties"][MODIFIED[object_type]] = iso(at)
        if object_type == "contacts":
            record["properties"]["hs_lastmodifieddate"] = iso(at)

    def funnel(self) -> list[str]:
        """The portal's lifecycle stages in funnel order."""
        return [v for v, _ in self.lifecycle_options if v not in ("evangelist", "other")]

    def canonical_id(self, object_type: str, record_id: int) -> int:
        """The id a read of `record_id` answers with (the survivor's, after merges)."""
        return self.merged[object_type].get(record_id, record_id)
