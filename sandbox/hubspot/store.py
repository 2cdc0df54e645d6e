"""The sandbox portal as the HTTP routes see it: reads, rendering in HubSpot's shapes, search,
association batches, marketing emails, simulated activity and the ground truth for tests. Its
state and primitives are in portal.py, its writes in writes.py. Thread-safe; the routes are a thin
layer over it."""

from __future__ import annotations

import base64
import bisect
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sandbox.hubspot import simulate
from sandbox.hubspot.catalogue import DEFAULT_PROPERTIES, property_definitions
from sandbox.hubspot.data import Record, iso
from sandbox.hubspot.emails import email_statistics, newsletter
from sandbox.hubspot.model import ALWAYS, LABEL_NAMES, OBJECT_TYPES, SINGULAR, ListResult, SandboxError
from sandbox.hubspot.search import filter_groups, matching, page_bounds, sort
from sandbox.hubspot.writes import WritableStore

# HubSpot pages a record's inline associations (v3 reads) after 100.
INLINE_ASSOCIATIONS_MAX = 100
# Targets per input of an association batch read before `paging.next.after` (HubSpot does not
# document the size; the sandbox's choice).
BATCH_ASSOCIATIONS_PAGE = 500


def _after_token(offset: int) -> str:
    """An opaque-looking paging token for an offset into a record's associations."""
    return base64.urlsafe_b64encode(f"assoc-{offset}".encode()).decode()


def _offset_of(token: Any) -> int:
    """The offset a paging token stands for (0 for none; HubSpot's 400 for a token it never sent)."""
    if token in (None, ""):
        return 0
    try:
        text = base64.urlsafe_b64decode(str(token).encode()).decode()
        if text.startswith("assoc-"):
            return int(text.removeprefix("assoc-"))
    except ValueError:  # not base64, not UTF-8, not a number
        pass
    raise SandboxError(400, "VALIDATION_ERROR", f"Invalid paging token: {token}")


def _label_name(object_type: str) -> str:
    return LABEL_NAMES.get(object_type, SINGULAR[object_type])


class PortalStore(WritableStore):
    """One HubSpot portal in memory."""

    def property_definitions(self, object_type: str) -> list[dict[str, Any]]:
        """The Properties API view of the catalogue (type, fieldType, options for enumerations)."""
        return property_definitions(object_type, self._catalogue[object_type], self.lifecycle_options)

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
                start = _offset_of((item or {}).get("after")) if isinstance(item, dict) else 0
                if ids[start:]:
                    end = start + BATCH_ASSOCIATIONS_PAGE
                    result: dict[str, Any] = {"from": {"id": raw}, "to": [to_item(i) for i in ids[start:end]]}
                    if end < len(ids):
                        result["paging"] = {"next": {"after": _after_token(end)}}
                    results.append(result)
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
            block: dict[str, dict[str, Any]] = {}
            for to_type in associations:
                to_type = OBJECT_TYPES.get(to_type, to_type)
                if to_type not in self.objects or to_type == object_type:
                    continue  # HubSpot ignores types it cannot associate
                ids = self.associated(object_type, record["id"], to_type)
                if ids:
                    label = f"{_label_name(object_type)}_to_{_label_name(to_type)}"
                    shown = ids[:INLINE_ASSOCIATIONS_MAX]
                    block[to_type] = {"results": [{"id": str(i), "type": label} for i in shown]}
                    if len(ids) > len(shown):
                        # HubSpot pages inline associations after 100 (the rest through the
                        # record's associations endpoint, or a batch read).
                        after = _after_token(len(shown))
                        path = f"/crm/v3/objects/{object_type}/{record['id']}/associations/{to_type}"
                        link = f"{path}?after={after}"
                        block[to_type]["paging"] = {"next": {"after": after, "link": link}}
            if block:
                body["associations"] = block
        return body

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
        """HubSpot search semantics (sandbox/hubspot/search.py): (total, page, offset). Raises
        SandboxError like the API. `lag_seconds`: records changed more recently than that are not
        in the index yet (a simplification of HubSpot's lag: the stale version is left out rather
        than served)."""
        groups = filter_groups(request)
        limit, offset = page_bounds(request)
        with self.lock:
            found = list(matching(self.objects[object_type], self.ids[object_type], groups))
            if lag_seconds > 0:
                indexed_until = self.clock.now() - timedelta(seconds=lag_seconds)
                found = [r for r in found if r["updatedAt"] <= indexed_until]
            sort(found, request.get("sorts") or [], id_order)
            return len(found), found[offset : offset + limit], offset

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

    def simulate(self, **activity: Any) -> dict[str, Any]:
        """Move the clock on and apply CRM activity (sandbox/hubspot/simulate.py)."""
        return simulate.simulate(self, **activity)

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
