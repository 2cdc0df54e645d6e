"""What search results lack: associations (v4 batch reads) and stage history (batch reads with
`propertiesWithHistory`), added to the records in place before they are yielded."""

from __future__ import annotations

from typing import Any

from connector.hubspot.client import HubSpotClient
from connector.hubspot.constants import (
    ASSOCIATIONS_BATCH_MAX,
    ASSOCIATIONS_BATCH_PATH,
    BATCH_READ_PATH,
    HISTORY_PAGE_MAX,
)
from connector.hubspot.wire import results

_V3_TYPE_NAME = {"contacts": "contact", "companies": "company", "deals": "deal"}
# Links read from the other side when a record is restored (held by records that did not change).
RESTORED_LINKS = {"contacts": ("deals",)}


def attach_associations(
    client: HubSpotClient, from_type: str, to_types: tuple[str, ...], records: list[dict[str, Any]]
) -> None:
    """Add the v3-style `associations` block to records that came without one (search results).

    Uses the v4 batch read; HubSpot reports records with no associations as errors (HTTP 207),
    which here become empty lists so removed associations are removed locally too.
    """
    ids = [str(r["id"]) for r in records if isinstance(r, dict) and r.get("id") is not None]
    found: dict[str, dict[str, list[str]]] = {i: {t: [] for t in to_types} for i in ids}
    for to_type in to_types:
        path = ASSOCIATIONS_BATCH_PATH.format(from_type=from_type, to_type=to_type)
        for start in range(0, len(ids), ASSOCIATIONS_BATCH_MAX):
            batch = ids[start : start + ASSOCIATIONS_BATCH_MAX]
            body = client.post(path, json_body={"inputs": [{"id": i} for i in batch]})
            for result in results(body, path):
                source = str((result.get("from") or {}).get("id"))
                if source in found:
                    found[source][to_type].extend(str(t.get("toObjectId")) for t in result.get("to") or [])
    label = _V3_TYPE_NAME[from_type]
    for record in records:
        assoc = found.get(str(record.get("id")))
        if assoc is None:
            continue
        record["associations"] = {
            to_type: {
                "results": [
                    {"id": i, "type": f"{label}_to_{_V3_TYPE_NAME[to_type]}"} for i in dict.fromkeys(ids_)
                ]
            }
            for to_type, ids_ in assoc.items()
        }


def attach_history(client: HubSpotClient, object_type: str, name: str, records: list[dict[str, Any]]) -> None:
    """Add `propertiesWithHistory[name]` to records that came without it (search results).

    Batch reads of 50 ids (HubSpot's cap when history is asked for). A record the batch read does
    not return (deleted meanwhile) keeps no history block, so its stored history is left alone.
    """
    path = BATCH_READ_PATH.format(object_type=object_type)
    by_id = {str(r["id"]): r for r in records if isinstance(r, dict) and r.get("id") is not None}
    ids = list(by_id)
    for start in range(0, len(ids), HISTORY_PAGE_MAX):
        inputs = [{"id": i} for i in ids[start : start + HISTORY_PAGE_MAX]]
        body = client.post(
            path, json_body={"inputs": inputs, "properties": [name], "propertiesWithHistory": [name]}
        )
        for result in results(body, path):
            target = by_id.get(str(result.get("id")))
            history = (result.get("propertiesWithHistory") or {}).get(name)
            if target is not None and isinstance(history, list):
                target.setdefault("propertiesWithHistory", {})[name] = history
