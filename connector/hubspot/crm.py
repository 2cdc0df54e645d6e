"""The CRM object streams: companies, contacts and deals.

A run is the full or incremental phase, then (when due) the archived phase. A full read pages the
list endpoint (id order, no 10,000 cap); an incremental one searches a closed time window
[watermark - overlap, server now] (connector/hubspot/search.py). Archived records are invisible
to search and the archived listing cannot filter by time, so they are listed whole, at most every
`archived_check_minutes` on incremental runs. Every checkpoint is the whole stream state, so each
phase's keys are carried through the other's.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import timedelta
from typing import Any, ClassVar

from config import HubSpotSettings
from connector.hubspot.client import HubSpotClient
from connector.hubspot.constants import (
    BATCH_READ_MAX,
    COMPANY_PROPERTIES,
    CONTACT_PROPERTIES,
    DEAL_PROPERTIES,
    HISTORY_PAGE_MAX,
    LEGACY_LIFECYCLE_DATE,
    STAGE_ENTERED_PREFIX,
)
from connector.hubspot.exports import CrmExport, ExportRequest, ExportUnavailable, FullRead, export_pages
from connector.hubspot.links import attach_associations, attach_history, complete_associations
from connector.hubspot.normalize import (
    add_dimension_values,
    normalize_companies,
    normalize_contacts,
    normalize_deals,
)
from connector.hubspot.schema import PortalSchema
from connector.hubspot.search import WindowSearch, search_total
from connector.hubspot.wire import due, iso, parse_iso, results
from connector.pagination import CursorPaginator
from connector.records import Normalized
from connector.stream import Mode, Page, Stream

log = logging.getLogger("funnelsync.connector.hubspot")

# State keys of the archived phase, carried through the other phases' checkpoints.
_ARCHIVED_KEYS = ("archived", "archived_checked_at")
# Links read from the other side when a record is restored (held by records that did not change).
RESTORED_LINKS = {"contacts": ("deals",)}


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


class CrmObjectStream(Stream[HubSpotClient]):
    """One CRM object type; subclasses declare which, and what to read of it."""

    parallel = True
    bulk = True
    cursor_key = "watermark"
    endpoints = ("objects", "search", "batch_read", "associations_batch", "export_start", "export_status")
    modified_property: ClassVar[str]
    created_property: ClassVar[str] = "createdate"
    associations: ClassVar[tuple[str, ...]] = ()
    # The stage property whose every change is read with `propertiesWithHistory`.
    history: ClassVar[str | None] = None
    # The column that names the record in its child tables (custom dimension values).
    owner_key: ClassVar[str]

    def __init__(
        self,
        settings: HubSpotSettings,
        schema: PortalSchema,
        known_archived: Callable[[], Collection[str]] | None = None,
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        """`known_archived()`: the ids storage holds as archived, so the archived phase can find
        restored records. `dimensions`: the properties named in `kpi.dimensions` this object has
        (name → HubSpot type), read and stored typed."""
        self.settings = settings
        self.object_type = self.name
        self.dimensions = dict(dimensions or {})
        self.properties = list(dict.fromkeys([*self.properties_for(schema, settings), *self.dimensions]))
        # None: stage history not read (switched off in the settings).
        self.history_property = self.history if settings.stage_history else None
        self.known_archived = known_archived or (lambda: ())

    @classmethod
    @abstractmethod
    def properties_for(cls, schema: PortalSchema, settings: HubSpotSettings) -> list[str]:
        """The properties read of every record."""

    @abstractmethod
    def normalize(self, page: Page) -> Normalized:
        """The object's own typed rows of a page."""

    def parse(self, page: Page) -> Normalized:
        out = self.normalize(page)
        if self.dimensions:
            add_dimension_values(page.records, out, self.dimensions, self.owner_key)
        return out

    @classmethod
    def mode(cls, state: Mapping[str, Any], *, full: bool) -> Mode:
        """Incremental once a finished full read left a watermark (a half-done one resumes whole)."""
        return "full" if state.get("full") else super().mode(state, full=full)

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        carried = {key: state.get(key) for key in _ARCHIVED_KEYS}
        if full:
            # An explicit full sync restarts unless a full sync is already half done.
            main = self.full_pages(client, state if state.get("full") else {})
        else:
            main = self.incremental_pages(client, state)
        last: dict[str, Any] = dict(state)
        for page in main:
            last = {**carried, **page.checkpoint}
            yield Page(page.stream, page.records, last, page.associations, page.expected)
        if self.archived_check_due(client, state, full=full):
            for page in self.archived_pages(client, state):
                yield Page(page.stream, page.records, {**last, **page.checkpoint}, page.associations)

    # -- full -------------------------------------------------------------------------------

    def _listing(
        self, client: HubSpotClient, *, archived: bool, after: str | None, first: dict[str, Any], limit: int
    ) -> Iterator[tuple[list[dict[str, Any]], CursorPaginator]]:
        """The list endpoint page by page, every property chunk merged into each page."""
        paginator = CursorPaginator(after)
        path = client.paths.path("objects", object_type=self.object_type)
        chunks = chunk_properties(self.properties, self.settings.max_properties_chars)
        while not paginator.finished:
            params: dict[str, Any] = {"limit": limit, "archived": "true" if archived else "false"}
            if paginator.token:
                params["after"] = paginator.token
            if self.associations:
                params["associations"] = ",".join(self.associations)
            body = client.get(path, params={**params, "properties": chunks[0], **first})
            records = results(body, path)
            if len(chunks) > 1:
                self._merge_chunks(client, path, params, chunks[1:], records)
            if self.associations:
                complete_associations(client, self.object_type, records)
            paginator.advance(body)
            yield records, paginator

    def full_pages(self, client: HubSpotClient, state: dict[str, Any]) -> Iterator[Page]:
        progress = state.get("full") or {}
        resumed = bool(progress.get("after") or progress.get("export"))
        read = FullRead(
            state,
            progress,
            progress.get("started_at") or iso(client.server_now()),
            # How many there are (search's total, one tiny request): what a fresh read will
            # bring, for the progress display. A resumed read brought part of it in an earlier
            # run: no count.
            None if resumed else search_total(client, self.object_type),
        )
        if progress.get("export") or (not resumed and self._export_wanted(read.expected)):
            try:
                yield from self._export_pages(client, read)
                return
            except ExportUnavailable as exc:
                log.warning("%s: reading the list endpoint instead of an export: %s", self.name, exc)
                read.progress = {}
        yield from self._list_pages(client, read)

    def _list_pages(self, client: HubSpotClient, read: FullRead) -> Iterator[Page]:
        limit = self.settings.page_size
        first: dict[str, Any] = {}
        if self.history_property:
            # The history comes with the first property chunk; such pages hold at most 50 records.
            limit = min(limit, HISTORY_PAGE_MAX)
            first["propertiesWithHistory"] = self.history_property
        listing = self._listing(
            client, archived=False, after=read.progress.get("after"), first=first, limit=limit
        )
        for records, paginator in listing:
            if paginator.finished:
                checkpoint = read.finished()
            else:
                checkpoint = read.checkpoint({"after": paginator.token, "started_at": read.started_at})
            yield Page(self.name, records, checkpoint, self.associations, read.take_expected())

    def _export_wanted(self, expected: int | None) -> bool:
        """Whether a fresh full read goes through an export (docs/sync.md "Backfill by export")."""
        choice = self.settings.export_backfill
        if choice == "auto":
            return expected is not None and expected >= max(self.settings.export_min_records, 1)
        return choice == "always"

    def _export_pages(self, client: HubSpotClient, read: FullRead) -> Iterator[Page]:
        always = ["hs_object_id", self.created_property, self.modified_property]
        request = ExportRequest(
            self.object_type,
            tuple(dict.fromkeys([*always, *self.properties])),
            self.associations,
            self.created_property,
            self.modified_property,
        )
        export = CrmExport(client, request, max_wait_seconds=self.settings.export_max_wait_minutes * 60)
        yield from export_pages(export, self.name, read)

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
            for extra in results(client.get(path, params={**rest, "properties": chunk}), path):
                target = by_id.get(str(extra.get("id")))
                if target is not None and isinstance(target.get("properties"), dict):
                    target["properties"].update(extra.get("properties") or {})

    # -- archived (deleted) records ---------------------------------------------------------

    def archived_pages(self, client: HubSpotClient, state: dict[str, Any]) -> Iterator[Page]:
        """Every archived record (search never returns them), then the restored ones.

        A record we hold as archived that the listing no longer has was restored (or purged): it
        is read back with a batch read, and comes back live if it is. Checkpoints carry only this
        phase's keys; `pages` merges them into the stream's state.
        """
        progress = state.get("archived") or {}
        started_at = progress.get("started_at") or iso(client.server_now())
        seen: set[str] = set()
        limit = self.settings.page_size
        for records, paginator in self._listing(
            client, archived=True, after=progress.get("after"), first={}, limit=limit
        ):
            seen.update(str(r.get("id")) for r in records)
            after = None if paginator.finished else paginator.token
            progress = {"archived": {"after": after, "started_at": started_at}}
            yield Page(self.name, records, progress, self.associations)
        # Ids archived here but missing from a resumed listing's first part are read back in vain
        # (a live read does not find them): harmless, and only after an interruption.
        candidates = sorted((set(self.known_archived()) - seen), key=lambda i: (len(i), i))
        for records in self._read_back(client, candidates):
            yield Page(self.name, records, {"archived": {"after": None, "started_at": started_at}})
        yield Page(self.name, [], {"archived": None, "archived_checked_at": started_at})

    def _read_back(self, client: HubSpotClient, ids: list[str]) -> Iterator[list[dict[str, Any]]]:
        """Batch reads of records that may have been restored, with their history and links: a
        restored record keeps its last-modified time, so no later search sees it."""
        batch_path = client.paths.path("batch_read", object_type=self.object_type)
        size = HISTORY_PAGE_MAX if self.history_property else BATCH_READ_MAX
        with_history = {"propertiesWithHistory": [self.history_property]} if self.history_property else {}
        for start in range(0, len(ids), size):
            inputs = [{"id": i} for i in ids[start : start + size]]
            body = client.post(
                batch_path,
                json_body={"inputs": inputs, "properties": self.properties, **with_history},
                params={"archived": "false"},
            )
            records = results(body, batch_path)
            # HubSpot hides links to deleted records and shows them again on restore without
            # marking the other side modified: a restored contact brings its deals' links back.
            links = (*self.associations, *RESTORED_LINKS.get(self.object_type, ()))
            if links and records:
                attach_associations(client, self.object_type, links, records)
            yield records

    def archived_check_due(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> bool:
        if state.get("archived"):
            return True  # an archived phase was interrupted: it resumes
        return due(client, state.get("archived_checked_at"), self.settings.archived_check_minutes, full=full)

    # -- incremental ------------------------------------------------------------------------

    def incremental_pages(self, client: HubSpotClient, state: dict[str, Any]) -> Iterator[Page]:
        watermark = state.get("watermark")
        if state.get("full") or not watermark:
            # No watermark yet (or an interrupted full sync): the list endpoint is cheaper and uncapped.
            yield from self.full_pages(client, state)
            return
        window = state.get("window")
        if window is None:
            lo = parse_iso(watermark) - timedelta(seconds=self.settings.overlap_seconds)
            # Whole seconds behind the server clock: the Date header has second resolution.
            hi = client.server_now().replace(microsecond=0) - timedelta(seconds=1)
            window = {"lo": iso(lo), "hi": iso(max(hi, lo)), "last_id": 0}
        search = WindowSearch(
            client,
            name=self.name,
            object_type=self.object_type,
            modified_property=self.modified_property,
            properties=self.properties,
            page_size=self.settings.search_page_size,
        )
        seen = int(window.get("seen") or 0)  # read by an earlier run of this window
        first = True
        for fresh, progress in search.pages(window):
            # The window's first search answer says how many records it holds.
            total = progress.get("total") if first else None
            expected = max(int(total) - seen, 0) if total is not None else None
            first = False
            if fresh and self.associations:
                attach_associations(client, self.object_type, self.associations, fresh)
            if fresh and self.history_property:
                attach_history(client, self.object_type, self.history_property, fresh)
            if progress.get("done"):
                checkpoint: dict[str, Any] = {"watermark": progress["hi"], "full": None, "window": None}
            else:
                checkpoint = {"watermark": None, "full": None, "window": dict(progress)}
            yield Page(self.name, fresh, checkpoint, expected=expected)


class CompaniesStream(CrmObjectStream):
    name = "companies"
    owner_key = "company_id"
    scopes = (("crm.objects.companies.read",),)
    modified_property = "hs_lastmodifieddate"

    @classmethod
    def properties_for(cls, schema: PortalSchema, settings: HubSpotSettings) -> list[str]:
        return [*COMPANY_PROPERTIES, *settings.extra_company_properties]

    def normalize(self, page: Page) -> Normalized:
        return normalize_companies(page.records)


class ContactsStream(CrmObjectStream):
    name = "contacts"
    owner_key = "contact_id"
    scopes = (("crm.objects.contacts.read",),)
    modified_property = "lastmodifieddate"
    associations: ClassVar[tuple[str, ...]] = ("companies",)
    history = "lifecyclestage"

    def __init__(
        self,
        settings: HubSpotSettings,
        schema: PortalSchema,
        known_archived: Callable[[], Collection[str]] | None = None,
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(settings, schema, known_archived, dimensions)
        self.known_stages = set(schema.lifecycle_stages)

    @classmethod
    def properties_for(cls, schema: PortalSchema, settings: HubSpotSettings) -> list[str]:
        """The base set, each lifecycle stage's entry date (and its legacy twin where the portal
        has it), and the configured extras."""
        names = list(CONTACT_PROPERTIES)
        for stage in schema.lifecycle_stages:
            names.append(f"{STAGE_ENTERED_PREFIX}{stage}")
            legacy = LEGACY_LIFECYCLE_DATE.format(stage=stage)
            if schema.has_property("contacts", legacy):
                names.append(legacy)
        return [*names, *settings.extra_contact_properties]

    def normalize(self, page: Page) -> Normalized:
        return normalize_contacts(page.records, self.known_stages, page.associations)


class DealsStream(CrmObjectStream):
    name = "deals"
    owner_key = "deal_id"
    scopes = (("crm.objects.deals.read",),)
    modified_property = "hs_lastmodifieddate"
    associations: ClassVar[tuple[str, ...]] = ("contacts", "companies")
    history = "dealstage"

    @classmethod
    def properties_for(cls, schema: PortalSchema, settings: HubSpotSettings) -> list[str]:
        stages = [f"{STAGE_ENTERED_PREFIX}{stage}" for stage in schema.deal_stage_ids]
        return [*DEAL_PROPERTIES, *stages, *settings.extra_deal_properties]

    def normalize(self, page: Page) -> Normalized:
        return normalize_deals(page.records, page.associations)
