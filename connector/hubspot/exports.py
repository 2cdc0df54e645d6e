"""A CRM object's records through HubSpot's CRM exports API (docs/sync.md, "Backfill by export").

One export (`POST /crm/exports/{version}/export/async`, scope `crm.export`) is polled until HubSpot
has written the file, which is then downloaded (streamed to a temporary file, never held in
memory) from a link that needs no credentials and expires after 5 minutes, and read row by row:
CSV, or CSV files in a zip when the export is large. Each row becomes the record the list endpoint
would have given (`id`, `properties`, `createdAt`, `updatedAt`, inline `associations`), so the
stream's own parser and the whole write path stay as they are.

A portal may start 30 exports a day and runs one at a time, so an export is started once and its
id kept in the checkpoint: an interrupted read polls the same export again, downloads a fresh
link and skips the rows it stored. Exports carry no property history.
"""

from __future__ import annotations

import csv
import io
import logging
import operator
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from connector.errors import APIError, LinkExpiredError, NotFoundError
from connector.hubspot.client import HubSpotClient
from connector.hubspot.links import TYPE_NAMES, association_block
from connector.stream import Page

log = logging.getLogger("funnelsync.connector.hubspot.exports")

# HubSpot's association columns: "Associated Company IDs" (ids joined by ";").
_ASSOCIATED = re.compile(r"^associated[ _]+(?P<type>[a-z_ ]+?)[ _]+ids?$", re.IGNORECASE)
_PLURAL = {singular: plural for plural, singular in TYPE_NAMES.items()}
# The object names export requests use for standard objects.
_EXPORT_NAMES = {plural: singular.upper() for plural, singular in TYPE_NAMES.items()}
# Rows per page of an export read (pages are what a commit and a checkpoint cover).
EXPORT_PAGE_ROWS = 1000
POLL_FIRST_SECONDS = 2.0
POLL_MAX_SECONDS = 30.0
# Fresh links asked for when a download finds its link expired, before giving up.
LINK_ATTEMPTS = 3


@dataclass
class FullRead:
    """One full read: the stream state it started from, the half-done read it resumes (if any),
    when it started (its watermark once done) and the count announced with its first page."""

    state: dict[str, Any]
    progress: dict[str, Any]
    started_at: str
    expected: int | None

    def checkpoint(self, full: dict[str, Any]) -> dict[str, Any]:
        """Part way: the old watermark stays until the read is done."""
        return {"watermark": self.state.get("watermark"), "full": full, "window": None}

    def finished(self) -> dict[str, Any]:
        return {"watermark": self.started_at, "full": None, "window": None}

    def take_expected(self) -> int | None:
        """The count, on the first page only."""
        expected, self.expected = self.expected, None
        return expected


class ExportUnavailable(Exception):
    """The export cannot be had (no scope, no quota left, refused, cancelled, too slow): the
    caller reads the records another way. The message says why, without secrets."""


@dataclass(frozen=True)
class ExportRequest:
    """What to export of one object type."""

    object_type: str
    properties: tuple[str, ...]
    associations: tuple[str, ...]
    created_property: str
    modified_property: str

    def body(self) -> dict[str, Any]:
        """The `PublicExportViewRequest`: every record of the object, internal names and values."""
        return {
            "exportType": "VIEW",
            "format": "CSV",
            "exportName": f"funnelsync {self.object_type} backfill",
            "objectType": _EXPORT_NAMES.get(self.object_type, self.object_type),
            "objectProperties": list(self.properties),
            "associatedObjectType": [_EXPORT_NAMES.get(a, a) for a in self.associations],
            "language": "EN",
            "exportInternalValuesOptions": ["NAMES", "VALUES"],
            "includeLabeledAssociations": False,
            "includePrimaryDisplayPropertyForAssociatedObjects": False,
            "overrideAssociatedObjectsPerDefinitionPerRowLimit": True,
        }


class CrmExport:
    """One export of one object type, from its start to its rows."""

    def __init__(self, client: HubSpotClient, request: ExportRequest, *, max_wait_seconds: float) -> None:
        self.client = client
        self.request = request
        self.max_wait_seconds = max_wait_seconds

    def start(self) -> str:
        """Start the export; its id. One attempt only: a retried start could start two, and each
        costs one of the day's 30."""
        path = self.client.paths.path("export_start")
        try:
            body = self.client.request("POST", path, json_body=self.request.body(), retry=False)
        except APIError as exc:
            raise ExportUnavailable(f"HubSpot did not start the export: {exc}") from None
        task_id = body.get("id") if isinstance(body, dict) else None
        if task_id is None:
            raise ExportUnavailable("HubSpot's answer to the export request has no id")
        return str(task_id)

    def link(self, task_id: str) -> str:
        """Poll the export until it is complete; its (fresh) download link."""
        client = self.client
        path = client.paths.path("export_status", task_id=task_id)
        waited, pause = 0.0, POLL_FIRST_SECONDS
        while True:
            try:
                status = client.get(path)
            except NotFoundError:
                raise ExportUnavailable(f"export {task_id} is gone") from None
            state = status.get("status") if isinstance(status, dict) else None
            if state == "COMPLETE" and status.get("result"):
                return str(status["result"])
            if state not in ("PENDING", "PROCESSING", "COMPLETE"):
                raise ExportUnavailable(f"export {task_id} ended {state or 'without a status'}")
            if waited >= self.max_wait_seconds:
                raise ExportUnavailable(f"export {task_id} not done after {waited / 60:.0f} minutes")
            client.clock.sleep(pause)
            waited += pause
            pause = min(pause * 2, POLL_MAX_SECONDS)

    def records(self, task_id: str, *, skip: int = 0) -> Iterator[dict[str, Any]]:
        """The export's rows after the first `skip`, as API records, in file order."""
        with tempfile.TemporaryFile(prefix="funnelsync-export-") as spool:
            self._download(task_id, spool)
            spool.seek(0)
            rows = 0
            for texts in _csv_files(spool):
                for record in self._parse(texts):
                    rows += 1
                    if rows > skip:
                        yield record

    def _download(self, task_id: str, spool: IO[bytes]) -> None:
        for attempt in range(1, LINK_ATTEMPTS + 1):
            try:
                size = self.client.download(self.link(task_id), spool)
            except LinkExpiredError:
                if attempt == LINK_ATTEMPTS:
                    raise
                continue
            log.info("export %s: downloaded %.1f MB", task_id, size / 1e6)
            return

    def _parse(self, text: IO[str]) -> Iterator[dict[str, Any]]:
        """Rows as the list endpoint's records. An empty cell is no value: the property is left
        out, as a parser reads a null one (a smaller record to parse, keep and store)."""
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            return
        request = self.request
        asked = set(request.associations)
        names: list[str] = []
        columns: list[int] = []
        linked: list[tuple[int, str]] = []
        for i, name in enumerate(header):
            match = _ASSOCIATED.match(name)
            if match is None:
                names.append(name)
                columns.append(i)
            elif (to_type := _PLURAL.get(match["type"].strip().lower().replace(" ", "_"), "")) in asked:
                linked.append((i, to_type))
        values = operator.itemgetter(*columns)
        width, single = len(header), len(names) == 1  # itemgetter of one index gives no tuple
        object_type, created, modified = (
            request.object_type,
            request.created_property,
            request.modified_property,
        )
        for row in reader:
            if len(row) != width:
                if not row:
                    continue
                row = (row + [""] * width)[:width]  # a short or long row: its cells as far as they go
            cells = (values(row),) if single else values(row)
            props = {k: v for k, v in zip(names, cells, strict=True) if v}
            record: dict[str, Any] = {
                "id": props.get("hs_object_id"),
                "properties": props,
                "createdAt": props.get(created),
                "updatedAt": props.get(modified),
                "archived": False,
            }
            if linked:
                record["associations"] = {
                    to_type: association_block(object_type, to_type, _ids(row[column]))
                    for column, to_type in linked
                }
            yield record


def export_pages(export: CrmExport, stream: str, read: FullRead) -> Iterator[Page]:
    """A full read's pages from one export, `EXPORT_PAGE_ROWS` rows each. The export's id is
    checkpointed before anything else, so an interrupted read polls it again rather than start
    another (30 a day); its rows are counted, so a resumed read skips the stored ones. Once done,
    the watermark is when the read (and so the export) started: later changes are read
    incrementally."""
    associations = export.request.associations
    task = (read.progress.get("export") or {}).get("id")
    done = int((read.progress.get("export") or {}).get("rows") or 0)

    def checkpoint(rows: int) -> dict[str, Any]:
        return read.checkpoint({"export": {"id": task, "rows": rows}, "started_at": read.started_at})

    if task is None:
        task = export.start()
        log.info("%s: reading %s records through HubSpot export %s", stream, read.expected, task)
        yield Page(stream, [], checkpoint(0), associations, read.take_expected())
    page: list[dict[str, Any]] = []
    for record in export.records(task, skip=done):
        page.append(record)
        if len(page) == EXPORT_PAGE_ROWS:
            done += len(page)
            yield Page(stream, page, checkpoint(done), associations, read.take_expected())
            page = []
    yield Page(stream, page, read.finished(), associations, read.take_expected())


def _ids(cell: str) -> list[str]:
    """The ids of an `Associated … IDs` cell (joined by ";")."""
    return [i for i in map(str.strip, cell.split(";")) if i]


def _natural(name: str) -> list[Any]:
    """Sort key that puts part 2 before part 10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _csv_files(spool: IO[bytes]) -> Iterator[IO[str]]:
    """The downloaded file's CSV text: the file itself, or each CSV in it when it is a zip (in
    name order: HubSpot numbers the parts of a split export)."""
    if spool.read(4) != b"PK\x03\x04":
        spool.seek(0)
        yield io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
        return
    spool.seek(0)
    with zipfile.ZipFile(spool) as archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
        for name in sorted(names, key=_natural):
            with archive.open(name) as member:
                yield io.TextIOWrapper(member, encoding="utf-8-sig", newline="")
