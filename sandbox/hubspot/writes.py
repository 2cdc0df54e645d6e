"""Changes to the sandbox portal, as the API and HubSpot's own processes make them: updates with
their history, creations, deletions and restores, merges, bulk stamps, random edits (faults)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.hubspot.data import Record, iso
from sandbox.hubspot.model import ENGAGEMENT_TYPES, HISTORY_PROPERTIES, OBJECT_TYPES, SandboxError
from sandbox.hubspot.portal import StoreBase
from sandbox.hubspot.search import iso_ms


def not_found(record_id: int) -> SandboxError:
    return SandboxError(
        404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.", {"id": [str(record_id)]}
    )


class WritableStore(StoreBase):
    """The portal with its write operations."""

    def update(
        self, object_type: str, record_id: int, properties: dict[str, Any], *, at: datetime | None = None
    ) -> Record:
        with self.lock:
            record = self.objects[object_type].get(record_id)
            if record is None:
                raise not_found(record_id)
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
            # Activities name their creation date hs_createdate, CRM records createdate.
            props.setdefault("hs_createdate" if object_type in ENGAGEMENT_TYPES else "createdate", iso(at))
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
                raise not_found(record_id)
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
                    if current is None or (iso_ms(value) or 0) < (iso_ms(current) or 0):
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
            self._move_links(object_type, merged_id, primary_id, absorbed)
            del records[merged_id]
            self.ids[object_type].remove(merged_id)
            self._stamp(object_type, primary, at)
            return primary

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

    def _move_links(self, object_type: str, merged_id: int, primary_id: int, absorbed: list[str]) -> None:
        """The absorbed record's associations move to the survivor, and reads by any absorbed id
        (its own, and those it had absorbed itself) answer with the survivor."""
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
