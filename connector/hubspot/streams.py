"""HubSpot streams. Each yields pages of raw records with the checkpoint to store beside them.

A full sync pages the list endpoint (id order, no 10,000 cap). An incremental sync searches a
closed time window [watermark - overlap, server now] on the last-modified property, sorted by
`hs_object_id` and paged by keyset (`hs_object_id > last id`, offset always 0), so neither the
10,000-result cap nor thousands of records sharing one timestamp can make it skip or loop.
Streams never touch the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from config import DEFAULT_LIFECYCLE_STAGES, HubSpotSettings
from connector.errors import FatalAPIError, MalformedResponseError, PermissionDeniedError
from connector.hubspot.analytics import WebAnalyticsStream
from connector.hubspot.client import HubSpotClient
from connector.hubspot.constants import (
    ASSOCIATIONS_BATCH_MAX,
    ASSOCIATIONS_BATCH_PATH,
    BATCH_READ_MAX,
    BATCH_READ_PATH,
    COMPANY_PROPERTIES,
    CONTACT_PROPERTIES,
    DEAL_PROPERTIES,
    HISTORY_PAGE_MAX,
    LEGACY_LIFECYCLE_DATE,
    MARKETING_EMAIL_PATH,
    MARKETING_EMAILS_PAGE,
    MARKETING_EMAILS_PATH,
    OBJECT_PATH,
    OWNERS_PATH,
    PIPELINES_PATH,
    PROPERTIES_PATH,
    SEARCH_PATH,
    STAGE_ENTERED_PREFIX,
)
from connector.pagination import CursorPaginator, Page

log = logging.getLogger("funnelsync.connector.hubspot")


@dataclass
class PortalSchema:
    """What the portal says about itself: lifecycle stages, deal stages, property names."""

    lifecycle_stages: list[str] = field(default_factory=lambda: list(DEFAULT_LIFECYCLE_STAGES))
    deal_stage_ids: list[str] = field(default_factory=list)
    property_names: dict[str, set[str]] = field(default_factory=dict)
    # The full definitions the properties API gave, per object type (name, label, type, options…).
    definitions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def has_property(self, object_type: str, name: str) -> bool:
        names = self.property_names.get(object_type)
        return True if names is None else name in names

    def to_state(self) -> dict[str, Any]:
        """What later runs need to page without reading the catalogue again (no definitions)."""
        return {
            "lifecycle_stages": list(self.lifecycle_stages),
            "deal_stage_ids": list(self.deal_stage_ids),
            "property_names": {k: sorted(v) for k, v in self.property_names.items()},
        }

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> PortalSchema:
        return cls(
            lifecycle_stages=[str(s) for s in data.get("lifecycle_stages") or DEFAULT_LIFECYCLE_STAGES],
            deal_stage_ids=[str(s) for s in data.get("deal_stage_ids") or []],
            property_names={
                str(k): {str(n) for n in v} for k, v in (data.get("property_names") or {}).items()
            },
        )


def catalogue_due(
    client: HubSpotClient, settings: HubSpotSettings, synced_at: str | None, *, full: bool
) -> bool:
    """Whether the property catalogue, owners and pipelines are read again this run: on every full
    sync, otherwise at most every `catalogue_minutes` (they change rarely; each read costs requests)."""
    if full or not synced_at:
        return True
    age = client.now_estimate() - _parse_iso(synced_at)
    return age >= timedelta(minutes=settings.catalogue_minutes)


def cached_schema(
    client: HubSpotClient, settings: HubSpotSettings, state: dict[str, Any], *, full: bool
) -> PortalSchema | None:
    """The schema the last catalogue read left in the `properties` stream's state, while it is
    fresh enough (see `catalogue_due`); None when it has to be read again."""
    data = state.get("schema")
    if not isinstance(data, dict) or catalogue_due(client, settings, state.get("synced_at"), full=full):
        return None
    schema = PortalSchema.from_state(data)
    for stage in settings.custom_lifecycle_stages:
        if stage not in schema.lifecycle_stages:
            schema.lifecycle_stages.append(stage)
    return schema


def _results(body: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise MalformedResponseError("response has no 'results' list", path=path)
    return list(body["results"])


def discover_schema(client: HubSpotClient, settings: HubSpotSettings) -> PortalSchema:
    """Read lifecycle stages and property names from the properties API, deal stages from pipelines."""
    schema = PortalSchema()
    stages: list[str] = list(DEFAULT_LIFECYCLE_STAGES)
    for object_type in ("contacts", "deals", "companies"):
        path = PROPERTIES_PATH.format(object_type=object_type)
        try:
            props = _results(client.get(path), path)
        except FatalAPIError:
            continue  # no properties scope: fall back to defaults and config
        schema.property_names[object_type] = {str(p.get("name")) for p in props if isinstance(p, dict)}
        schema.definitions[object_type] = [p for p in props if isinstance(p, dict)]
        if object_type == "contacts":
            for prop in props:
                if isinstance(prop, dict) and prop.get("name") == "lifecyclestage":
                    options = sorted(
                        (o for o in prop.get("options") or [] if isinstance(o, dict) and o.get("value")),
                        key=lambda o: (o.get("displayOrder") is None, o.get("displayOrder") or 0),
                    )
                    for option in options:
                        if str(option["value"]) not in stages:
                            stages.append(str(option["value"]))
    for stage in settings.custom_lifecycle_stages:
        if stage not in stages:
            stages.append(stage)
    schema.lifecycle_stages = stages
    path = PIPELINES_PATH.format(object_type="deals")
    for pipeline in _results(client.get(path), path):
        for stage in pipeline.get("stages") or []:
            if isinstance(stage, dict) and stage.get("id"):
                schema.deal_stage_ids.append(str(stage["id"]))
    return schema


def chunk_properties(names: list[str], max_chars: int) -> list[str]:
    """Comma-joined property lists no longer than `max_chars` each (HubSpot answers 414 to long URLs)."""
    chunks: list[str] = []
    current: list[str] = []
    length = 0
    for name in names:
        extra = len(name) + (1 if current else 0)
        if current and length + extra > max_chars:
            chunks.append(",".join(current))
            current, length = [], 0
            extra = len(name)
        current.append(name)
        length += extra
    if current:
        chunks.append(",".join(current))
    return chunks


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _ms(value: datetime) -> str:
    return str(int(value.timestamp() * 1000))


class CrmObjectStream:
    """Contacts, companies or deals."""

    def __init__(
        self,
        name: str,
        *,
        modified_property: str,
        properties: list[str],
        associations: tuple[str, ...] = (),
        history_property: str | None = None,
        settings: HubSpotSettings,
    ) -> None:
        self.name = name
        self.object_type = name
        self.modified_property = modified_property
        self.properties = list(dict.fromkeys(properties))
        self.associations = associations
        # The stage property whose every change is read (None: not read, or switched off).
        self.history_property = history_property if settings.stage_history else None
        self.settings = settings

    # -- full -------------------------------------------------------------------------------

    def full_pages(self, client: HubSpotClient, state: dict[str, Any]) -> Iterator[Page]:
        progress = state.get("full") or {}
        started_at = progress.get("started_at") or _iso(client.server_now())
        paginator = CursorPaginator(progress.get("after"))
        path = OBJECT_PATH.format(object_type=self.object_type)
        chunks = chunk_properties(self.properties, self.settings.max_properties_chars)
        limit = self.settings.page_size
        first: dict[str, Any] = {"properties": chunks[0]}
        if self.history_property:
            # The history comes with the first property chunk; such pages hold at most 50 records.
            limit = min(limit, HISTORY_PAGE_MAX)
            first["propertiesWithHistory"] = self.history_property
        while not paginator.finished:
            params: dict[str, Any] = {"limit": limit, "archived": "false"}
            if paginator.token:
                params["after"] = paginator.token
            if self.associations:
                params["associations"] = ",".join(self.associations)
            body = client.get(path, params={**params, **first})
            records = _results(body, path)
            if len(chunks) > 1:
                self._merge_chunks(client, path, params, chunks[1:], records)
            if not paginator.advance(body):
                checkpoint: dict[str, Any] = {"watermark": started_at, "full": None, "window": None}
            else:
                checkpoint = {
                    "watermark": state.get("watermark"),
                    "full": {"after": paginator.token, "started_at": started_at},
                    "window": None,
                }
            yield Page(
                self.name,
                records,
                checkpoint,
                final=paginator.finished,
                mode="full",
                associations=self.associations,
            )

    def _merge_chunks(
        self,
        client: HubSpotClient,
        path: str,
        params: dict[str, Any],
        chunks: list[str],
        records: list[dict[str, Any]],
    ) -> None:
        """Fetch the same page once per extra property chunk and merge by id (list order is stable)."""
        by_id = {str(r.get("id")): r for r in records if isinstance(r, dict)}
        rest = {k: v for k, v in params.items() if k != "associations"}
        for chunk in chunks:
            for extra in _results(client.get(path, params={**rest, "properties": chunk}), path):
                target = by_id.get(str(extra.get("id")))
                if target is not None and isinstance(target.get("properties"), dict):
                    target["properties"].update(extra.get("properties") or {})

    # -- archived (deleted) records ---------------------------------------------------------

    def archived_pages(
        self, client: HubSpotClient, state: dict[str, Any], known_archived: Callable[[], Collection[str]]
    ) -> Iterator[Page]:
        """Every archived record (search never returns them), then the restored ones.

        The archived listing has no time filter, so it is read whole. A record we hold as archived
        that the listing no longer has was restored (or purged): it is read back with a batch
        read, and comes back live if it is. Checkpoints carry only this phase's keys; the caller
        merges them into the stream's state.
        """
        progress = state.get("archived") or {}
        started_at = progress.get("started_at") or _iso(client.server_now())
        paginator = CursorPaginator(progress.get("after"))
        path = OBJECT_PATH.format(object_type=self.object_type)
        chunks = chunk_properties(self.properties, self.settings.max_properties_chars)
        seen: set[str] = set()
        while not paginator.finished:
            params: dict[str, Any] = {"limit": self.settings.page_size, "archived": "true"}
            if paginator.token:
                params["after"] = paginator.token
            if self.associations:
                params["associations"] = ",".join(self.associations)
            body = client.get(path, params={**params, "properties": chunks[0]})
            records = _results(body, path)
            if len(chunks) > 1:
                self._merge_chunks(client, path, params, chunks[1:], records)
            seen.update(str(r.get("id")) for r in records)
            more = paginator.advance(body)
            after = paginator.token if more else None
            progress = {"archived": {"after": after, "started_at": started_at}}
            yield Page(self.name, records, progress, mode="archived", associations=self.associations)
        # Ids archived here but missing from a resumed listing's first part are read back in vain
        # (a live read does not find them): harmless, and only after an interruption.
        candidates = sorted((set(known_archived()) - seen), key=lambda i: (len(i), i))
        batch_path = BATCH_READ_PATH.format(object_type=self.object_type)
        # A restored record keeps its last-modified time, so no later search sees it: its stage
        # history is read here (batches of 50 when history is asked for).
        size = HISTORY_PAGE_MAX if self.history_property else BATCH_READ_MAX
        with_history = {"propertiesWithHistory": [self.history_property]} if self.history_property else {}
        for start in range(0, len(candidates), size):
            inputs = [{"id": i} for i in candidates[start : start + size]]
            body = client.post(
                batch_path,
                json_body={"inputs": inputs, "properties": self.properties, **with_history},
                params={"archived": "false"},
            )
            records = _results(body, batch_path)
            # HubSpot hides links to deleted records and shows them again on restore without
            # marking the other side modified: a restored contact brings its deals' links back.
            links = (*self.associations, *RESTORED_LINKS.get(self.object_type, ()))
            if links and records:
                attach_associations(client, self.object_type, links, records)
            yield Page(
                self.name, records, {"archived": {"after": None, "started_at": started_at}}, mode="archived"
            )
        yield Page(
            self.name, [], {"archived": None, "archived_checked_at": started_at}, final=True, mode="archived"
        )

    def archived_check_due(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> bool:
        if full or state.get("archived") or not state.get("archived_checked_at"):
            return True
        age = client.now_estimate() - _parse_iso(state["archived_checked_at"])
        return age >= timedelta(minutes=self.settings.archived_check_minutes)

    # -- incremental ------------------------------------------------------------------------

    def incremental_pages(self, client: HubSpotClient, state: dict[str, Any]) -> Iterator[Page]:
        watermark = state.get("watermark")
        if state.get("full") or not watermark:
            # No watermark yet (or an interrupted full sync): the list endpoint is cheaper and uncapped.
            yield from self.full_pages(client, state)
            return
        window = state.get("window")
        if window is None:
            lo = _parse_iso(watermark) - timedelta(seconds=self.settings.overlap_seconds)
            # Whole seconds behind the server clock: the Date header has second resolution.
            hi = client.server_now().replace(microsecond=0) - timedelta(seconds=1)
            window = {"lo": _iso(lo), "hi": _iso(max(hi, lo)), "last_id": 0}
        yield from self._search_window(client, window)

    def _search_window(self, client: HubSpotClient, window: dict[str, Any]) -> Iterator[Page]:
        """Every record modified in [lo, hi], paged by keyset on hs_object_id.

        Search has been seen to sort ids as text ("10" before "9"), which breaks keyset paging
        silently. Two checks catch it: a page out of numeric order, and a window that ends with
        fewer records than the first page's `total` promised. Either way the window is read
        again in digit bands (ids of one length compare the same as text and as numbers).
        Records repeated from an earlier page are dropped.
        """
        path = SEARCH_PATH.format(object_type=self.object_type)
        window = {"last_id": 0, "band": None, "seen": 0, "total": None, **window}
        while True:
            body, records = self._search_page(client, path, window)
            last_id, band = int(window["last_id"]), window["band"]
            # A record outside the requested id range repeats an earlier page: dropped.
            high = int(band) if band is not None else None
            fresh = [
                r
                for r in records
                if (rid := _numeric_id(r)) is None or (rid > last_id and (high is None or rid < high))
            ]
            ids = [i for i in map(_numeric_id, fresh) if i is not None]
            if ids != sorted(set(ids)):
                if band is not None:
                    raise MalformedResponseError(
                        "search results are out of hs_object_id order even within one digit band "
                        f"(ids {ids[:5]}… after {last_id}, below {band})",
                        path=path,
                    )
                log.warning(
                    "%s: search sorted ids as text; reading the window again by digit band", self.name
                )
                window = _banded_restart(window)
                continue
            if window["total"] is None and band is None and last_id == 0:
                total = body.get("total")
                window["total"] = total if isinstance(total, int) else None
            limit = self.settings.search_page_size
            exhausted = not records or len(records) < limit or CursorPaginator.next_token(body) is None
            if ids:
                window["last_id"] = ids[-1]
            window["seen"] = int(window["seen"]) + len(fresh)
            if exhausted:
                window = self._after_exhausted(client, path, window)
            done = window.get("done", False)
            if fresh and self.associations:
                attach_associations(client, self.object_type, self.associations, fresh)
            if fresh and self.history_property:
                attach_history(client, self.object_type, self.history_property, fresh)
            if done:
                checkpoint: dict[str, Any] = {"watermark": window["hi"], "full": None, "window": None}
            else:
                checkpoint = {"watermark": None, "full": None, "window": dict(window)}
            yield Page(self.name, fresh, checkpoint, final=done, mode="incremental")
            if done:
                return

    def _search_page(
        self, client: HubSpotClient, path: str, window: dict[str, Any], *, probe: bool = False
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One search request of the window; a probe asks only for `total` (one tiny record)."""
        lo, hi = _parse_iso(window["lo"]), _parse_iso(window["hi"])
        filters = [
            {"propertyName": self.modified_property, "operator": "GTE", "value": _ms(lo)},
            {"propertyName": self.modified_property, "operator": "LTE", "value": _ms(hi)},
            {"propertyName": "hs_object_id", "operator": "GT", "value": str(window["last_id"])},
        ]
        if window.get("band") is not None:
            filters.append({"propertyName": "hs_object_id", "operator": "LT", "value": str(window["band"])})
        request: dict[str, Any] = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": ["hs_object_id"] if probe else self.properties,
            "limit": 1 if probe else self.settings.search_page_size,
        }
        body = client.post(path, json_body=request, search=True)
        return body, _results(body, path)

    def _after_exhausted(self, client: HubSpotClient, path: str, window: dict[str, Any]) -> dict[str, Any]:
        """The query ran dry: the window is done, or the next digit band (or a banded re-read) is due."""
        band = window.get("band")
        if band is None:
            total = window.get("total")
            if total is not None and int(window["seen"]) < total:
                # Fewer than promised: text-sorted ids hid some (or some left the window because
                # they changed meanwhile, which costs this re-read and nothing else).
                log.warning(
                    "%s: search window gave %s of %s records; reading it again by digit band",
                    self.name,
                    window["seen"],
                    total,
                )
                return _banded_restart(window)
            return {**window, "done": True}
        # Anything beyond this band? Search's `total` answers that in one small request.
        beyond = {**window, "last_id": int(band) - 1, "band": None}
        body, _ = self._search_page(client, path, beyond, probe=True)
        remaining = body.get("total")
        if not isinstance(remaining, int) or remaining == 0:
            return {**window, "done": True}
        return {**beyond, "band": int(band) * 10}


def _numeric_id(record: dict[str, Any]) -> int | None:
    raw = str(record.get("id", ""))
    return int(raw) if raw.isdigit() else None


def _banded_restart(window: dict[str, Any]) -> dict[str, Any]:
    """Read the window again from its first id, one digit length at a time (1-9, 10-99, …)."""
    return {**window, "last_id": 0, "band": 10, "seen": 0, "total": None}


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
            for result in _results(body, path):
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
        for result in _results(body, path):
            target = by_id.get(str(result.get("id")))
            history = (result.get("propertiesWithHistory") or {}).get(name)
            if target is not None and isinstance(history, list):
                target.setdefault("propertiesWithHistory", {})[name] = history


class PropertiesStream:
    """The property catalogue (names, labels, types, field types, enumeration options such as
    lifecycle-stage labels) of contacts, companies and deals, as schema discovery read it at the
    start of the run: no request of its own. Object types the token may not read are left out."""

    name = "properties"

    def __init__(self, schema: PortalSchema) -> None:
        self.schema = schema

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        if not self.schema.definitions:
            # The schema came from the last read's state (or the API refused every type): no news.
            yield Page(self.name, [], dict(state), final=True)
            return
        records = [
            {**definition, "objectType": object_type}
            for object_type, definitions in sorted(self.schema.definitions.items())
            for definition in definitions
        ]
        checkpoint = {"synced_at": _iso(client.server_now()), "schema": self.schema.to_state()}
        yield Page(self.name, records, checkpoint, final=True)


class PipelinesStream:
    """Deal pipelines with their stages (one small request; always read whole)."""

    name = "pipelines"

    def __init__(self, settings: HubSpotSettings) -> None:
        self.settings = settings

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        if not catalogue_due(client, self.settings, state.get("synced_at"), full=full):
            yield Page(self.name, [], dict(state), final=True)
            return
        path = PIPELINES_PATH.format(object_type="deals")
        records = _results(client.get(path), path)
        yield Page(self.name, records, {"synced_at": _iso(client.server_now())}, final=True)


class OwnersStream:
    """CRM owners, active and archived (deactivated users still own old deals)."""

    name = "owners"

    def __init__(self, settings: HubSpotSettings) -> None:
        self.settings = settings

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        if not catalogue_due(client, self.settings, state.get("synced_at"), full=full):
            yield Page(self.name, [], dict(state), final=True)
            return
        for archived in ("false", "true"):
            paginator = CursorPaginator()
            while not paginator.finished:
                params: dict[str, Any] = {"limit": 100, "archived": archived}
                if paginator.token:
                    params["after"] = paginator.token
                body = client.get(OWNERS_PATH, params=params)
                records = _results(body, OWNERS_PATH)
                final = not paginator.advance(body) and archived == "true"
                yield Page(self.name, records, {"synced_at": _iso(client.server_now())}, final=final)


class MarketingEmailsStream:
    """Marketing emails with their lifetime statistics (`GET /marketing/v3/emails?includeStats=true`).

    Statistics change for weeks after a send without touching `updatedAt`, so there is no change
    filter to follow: a full sync reads every email; an incremental one, when the last read is
    older than `email_stats_minutes`, the emails published in the last `email_stats_days`.
    HubSpot is known to leave some emails out of listings with statistics, so the same window is
    listed once more without them, and each email missing from the first listing is read alone.
    A portal whose token lacks the `content` scope syncs no emails instead of failing the run.
    """

    name = "marketing_emails"

    def __init__(self, settings: HubSpotSettings) -> None:
        self.settings = settings

    def due(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> bool:
        checked = state.get("checked_at")
        if full or not checked:
            return True
        age = client.now_estimate() - _parse_iso(checked)
        return age >= timedelta(minutes=self.settings.email_stats_minutes)

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        if not self.due(client, state, full=full):
            yield Page(self.name, [], dict(state), final=True)
            return
        started = client.server_now()
        window: dict[str, Any] = {}
        if not full and state.get("checked_at") and self.settings.email_stats_days:
            window["publishedAfter"] = _iso(started - timedelta(days=self.settings.email_stats_days))
        done = {"checked_at": _iso(started), "unavailable": None}
        try:
            seen: set[str] = set()
            for records in self._listing(client, {**window, "includeStats": "true"}):
                seen.update(str(r.get("id")) for r in records)
                yield Page(self.name, records, dict(state))
            listed = {
                str(r.get("id"))
                for records in self._listing(client, {**window, "includedProperties": "id"})
                for r in records
            }
            missing = sorted(listed - seen, key=lambda i: (len(i), i))
            if missing:
                log.info("%d marketing email(s) missing from the listing with statistics", len(missing))
            path = MARKETING_EMAIL_PATH
            alone = [
                client.get(path.format(email_id=i), params={"includeStats": "true"})
                for i in missing
                if i.isdigit()
            ]
            yield Page(self.name, alone, done, final=True)
        except PermissionDeniedError as exc:
            log.warning("marketing emails not synced: %s", exc.detail)
            yield Page(self.name, [], {**done, "unavailable": exc.detail}, final=True)

    def _listing(self, client: HubSpotClient, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        paginator = CursorPaginator()
        while not paginator.finished:
            query = {**params, "limit": MARKETING_EMAILS_PAGE}
            if paginator.token:
                query["after"] = paginator.token
            body = client.get(MARKETING_EMAILS_PATH, params=query)
            yield _results(body, MARKETING_EMAILS_PATH)
            paginator.advance(body)


# State keys of the archived phase, carried through the other phases' checkpoints.
_ARCHIVED_KEYS = ("archived", "archived_checked_at")


class CrmStreamAdapter:
    """Gives a CRM object stream the same `pages(client, state, full=)` face as the small streams.

    A run is the full or incremental phase, then (when due) the archived phase. Every checkpoint
    is the whole stream state, so each phase's keys are carried through the other's.
    """

    def __init__(
        self, stream: CrmObjectStream, known_archived: Callable[[], Collection[str]] | None = None
    ) -> None:
        self.stream = stream
        self.name = stream.name
        self.known_archived = known_archived or (lambda: ())

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        carried = {key: state.get(key) for key in _ARCHIVED_KEYS}
        if full:
            # An explicit full sync restarts unless a full sync is already half done.
            main = self.stream.full_pages(client, state if state.get("full") else {})
        else:
            main = self.stream.incremental_pages(client, state)
        last: dict[str, Any] = dict(state)
        for page in main:
            last = {**carried, **page.checkpoint}
            yield replace(page, checkpoint=last)
        if self.stream.archived_check_due(client, state, full=full):
            for page in self.stream.archived_pages(client, state, self.known_archived):
                yield replace(page, checkpoint={**last, **page.checkpoint})


def build_streams(
    settings: HubSpotSettings,
    schema: PortalSchema,
    known_archived: Callable[[str], Collection[str]] | None = None,
) -> dict[str, Any]:
    """Every HubSpot stream, keyed by name, in the order a sync runs them.

    `known_archived(stream)` returns the ids stored as archived (the caller reads them from its
    storage), so the archived phase can find restored records.
    """

    def archived_of(name: str) -> Callable[[], Collection[str]] | None:
        return None if known_archived is None else (lambda: known_archived(name))

    contact_props = list(CONTACT_PROPERTIES)
    for stage in schema.lifecycle_stages:
        contact_props.append(f"{STAGE_ENTERED_PREFIX}{stage}")
        legacy = LEGACY_LIFECYCLE_DATE.format(stage=stage)
        if schema.has_property("contacts", legacy):
            contact_props.append(legacy)
    contact_props.extend(settings.extra_contact_properties)
    deal_props = list(DEAL_PROPERTIES)
    deal_props.extend(f"{STAGE_ENTERED_PREFIX}{stage}" for stage in schema.deal_stage_ids)
    deal_props.extend(settings.extra_deal_properties)
    company_props = [*COMPANY_PROPERTIES, *settings.extra_company_properties]
    return {
        "properties": PropertiesStream(schema),
        "owners": OwnersStream(settings),
        "pipelines": PipelinesStream(settings),
        "companies": CrmStreamAdapter(
            CrmObjectStream(
                "companies",
                modified_property="hs_lastmodifieddate",
                properties=company_props,
                settings=settings,
            ),
            archived_of("companies"),
        ),
        "contacts": CrmStreamAdapter(
            CrmObjectStream(
                "contacts",
                modified_property="lastmodifieddate",
                properties=contact_props,
                associations=("companies",),
                history_property="lifecyclestage",
                settings=settings,
            ),
            archived_of("contacts"),
        ),
        "deals": CrmStreamAdapter(
            CrmObjectStream(
                "deals",
                modified_property="hs_lastmodifieddate",
                properties=deal_props,
                associations=("contacts", "companies"),
                history_property="dealstage",
                settings=settings,
            ),
            archived_of("deals"),
        ),
        "marketing_emails": MarketingEmailsStream(settings),
        "web_analytics": WebAnalyticsStream(settings),
    }


STREAM_NAMES = (
    "properties",
    "owners",
    "pipelines",
    "companies",
    "contacts",
    "deals",
    "marketing_emails",
    "web_analytics",
)
