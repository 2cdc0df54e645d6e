"""What search results lack and list pages cut short: associations (association batch reads,
followed to the end) and stage history (batch reads with `propertiesWithHistory`), added to the
records in place before they are yielded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connector.hubspot.client import HubSpotClient
from connector.hubspot.constants import (
    ASSOCIATIONS_BATCH_MAX,
    HISTORY_PAGE_MAX,
)
from connector.hubspot.wire import results

# How v3 inline associations name each object type (`contact_to_company`).
TYPE_NAMES = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "meetings": "meeting",
    "calls": "call",
}


def association_block(from_type: str, to_type: str, ids: Iterable[str]) -> dict[str, Any]:
    """A record's v3 inline associations of one type, as list pages give them."""
    kind = f"{TYPE_NAMES[from_type]}_to_{TYPE_NAMES[to_type]}"
    return {"results": [{"id": i, "type": kind} for i in ids]}


def read_associations(
    client: HubSpotClient, from_type: str, to_type: str, ids: list[str]
) -> dict[str, list[str]]:
    """Every id of `to_type` associated with each of `ids`, by association batch reads: a result
    with `paging.next.after` is asked again (`{"id", "after"}`) until its list is complete.
    HubSpot reports records with no associations as errors (HTTP 207): they keep an empty list."""
    path = client.paths.path("associations_batch", from_type=from_type, to_type=to_type)
    found: dict[str, list[str]] = {i: [] for i in ids}
    pending: list[dict[str, str]] = [{"id": i} for i in ids]
    asked: set[tuple[str, str]] = set()
    while pending:
        batch, pending = pending[:ASSOCIATIONS_BATCH_MAX], pending[ASSOCIATIONS_BATCH_MAX:]
        body = client.post(path, json_body={"inputs": batch})
        for result in results(body, path):
            source = str((result.get("from") or {}).get("id"))
            if source not in found:
                continue
            # `toObjectId`: a number in v4 answers, a string in the dated specs.
            found[source].extend(
                str(t.get("toObjectId")) for t in result.get("to") or [] if isinstance(t, dict)
            )
            after = next_after(result)
            if after is not None and (source, after) not in asked:
                asked.add((source, after))
                pending.append({"id": source, "after": after})
    return {i: list(dict.fromkeys(linked)) for i, linked in found.items()}


def next_after(block: Any) -> str | None:
    """The `paging.next.after` token of an answer or an associations block (None: complete)."""
    paging = block.get("paging") if isinstance(block, dict) else None
    after = ((paging or {}).get("next") or {}).get("after") if isinstance(paging, dict) else None
    return str(after) if after not in (None, "") else None


def attach_associations(
    client: HubSpotClient, from_type: str, to_types: tuple[str, ...], records: list[dict[str, Any]]
) -> None:
    """Set complete v3-style `associations` blocks of `to_types` on records (search results come
    without any; list pages hold at most 100 per type), read with association batch reads."""
    ids = [str(r["id"]) for r in records if isinstance(r, dict) and r.get("id") is not None]
    for to_type in to_types:
        found = read_associations(client, from_type, to_type, ids)
        for record in records:
            linked = found.get(str(record.get("id")))
            if linked is None:
                continue
            block = record.get("associations")
            if not isinstance(block, dict):
                block = record["associations"] = {}
            block[to_type] = association_block(from_type, to_type, linked)


def complete_associations(client: HubSpotClient, from_type: str, records: list[dict[str, Any]]) -> None:
    """Read the rest of every inline associations block a list page cut short (`paging.next`):
    a record's links are replaced only from a complete list."""
    cut: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        blocks = record.get("associations") if isinstance(record, dict) else None
        for to_type, block in (blocks or {}).items() if isinstance(blocks, dict) else ():
            if to_type in TYPE_NAMES and next_after(block) is not None:
                cut.setdefault(to_type, []).append(record)
    for to_type, partial in cut.items():
        attach_associations(client, from_type, (to_type,), partial)


def attach_history(client: HubSpotClient, object_type: str, name: str, records: list[dict[str, Any]]) -> None:
    """Add `propertiesWithHistory[name]` to records that came without it (search results).

    Batch reads of 50 ids (HubSpot's cap when history is asked for). A record the batch read does
    not return (deleted meanwhile) keeps no history block, so its stored history is left alone.
    """
    path = client.paths.path("batch_read", object_type=object_type)
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
