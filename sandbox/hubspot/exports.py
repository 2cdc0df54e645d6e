"""HubSpot's CRM exports over the sandbox portal (docs/sandbox.md, "CRM exports").

An export is a task: queued (`PENDING`) behind the portal's running export (one at a time),
`PROCESSING` for a time that grows with its rows, then `COMPLETE` with a download URL. The file
is CSV with one column per requested property (internal names and values) and one per associated
object type (`Associated Company IDs`, ids joined by `;`); above 2 MB it is zipped, and above
`split_rows` rows it is split into several CSV files inside the zip. A download URL needs no
credentials and expires 5 minutes after it was issued; each status answer issues a fresh one.
A portal may start 30 exports per rolling 24 hours.
"""

from __future__ import annotations

import csv
import itertools
import os
import queue
import secrets
import tempfile
import threading
import zipfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.hubspot.data import iso
from sandbox.hubspot.model import OBJECT_TYPES, SINGULAR, SandboxError
from sandbox.hubspot.store import PortalStore

EXPORTS_PER_DAY = 30
URL_LIFETIME = timedelta(minutes=5)
ZIP_ABOVE_BYTES = 2_000_000
SPLIT_ROWS = 1_000_000
_REQUIRED = (
    "exportType",
    "format",
    "exportName",
    "objectProperties",
    "objectType",
    "language",
    "associatedObjectType",
    "exportInternalValuesOptions",
    "includeLabeledAssociations",
    "includePrimaryDisplayPropertyForAssociatedObjects",
    "overrideAssociatedObjectsPerDefinitionPerRowLimit",
)
_CHUNK = 5_000  # records read under the store's lock at a time while a file is written


@dataclass
class ExportTask:
    """One export: what was asked, when it runs on the sandbox clock, and its file once built."""

    id: int
    name: str
    object_type: str
    properties: list[str]
    associated: list[str]
    requested_at: datetime
    starts_at: datetime
    ready_at: datetime
    rows: int
    canceled: bool = False
    path: Path | None = None
    media_type: str = "text/csv"
    built: threading.Event = field(default_factory=threading.Event)

    def due(self, now: datetime) -> bool:
        """Whether its processing time has passed (its file may still be being written)."""
        return not self.canceled and now >= self.ready_at

    def state(self, now: datetime) -> str:
        """HubSpot's task status: a task is complete once its time has passed and its file exists."""
        if self.canceled:
            return "CANCELED"
        if now < self.starts_at:
            return "PENDING"
        if now < self.ready_at or not self.built.is_set():
            return "PROCESSING"
        return "COMPLETE"


@dataclass(frozen=True)
class ExportTiming:
    """How long the sandbox takes over an export: `seconds` plus one second per `rows_per_second`
    rows (HubSpot documents no figure; a million-row export takes minutes there)."""

    seconds: float = 5.0
    rows_per_second: float = 20_000.0
    split_rows: int = SPLIT_ROWS
    zip_above_bytes: int = ZIP_ABOVE_BYTES


class Exports:
    """The portal's export tasks, quota and download links; files are written by one worker
    thread (one export at a time, as HubSpot runs them) into a private temporary directory."""

    def __init__(self, store: PortalStore, timing: ExportTiming | None = None) -> None:
        self.store = store
        self.timing = timing or ExportTiming()
        self.tasks: dict[int, ExportTask] = {}
        self.started: deque[datetime] = deque()
        self.links: dict[str, tuple[int, datetime]] = {}
        self.lock = threading.Lock()
        self.ids = itertools.count(41_000_001)
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._queue: queue.Queue[ExportTask] = queue.Queue()
        self._worker: threading.Thread | None = None

    # -- the API ----------------------------------------------------------------------------

    def start(self, body: Any) -> ExportTask:
        """Queue an export as `POST /crm/exports/{version}/export/async` asks (HubSpot's 400s for
        a malformed request, 429 once 30 exports started in the last 24 hours)."""
        request = _validated(body)
        object_type = _object_type(request["objectType"])
        if object_type is None:
            raise SandboxError(
                400, "VALIDATION_ERROR", f"Unable to infer object type from: {request['objectType']}"
            )
        known = self.store.property_names(object_type)
        properties = [str(p) for p in request["objectProperties"]]
        unknown = [p for p in properties if p not in known]
        if unknown:
            raise SandboxError(
                400, "VALIDATION_ERROR", f"Unknown properties for {object_type}: {', '.join(unknown)}"
            )
        associated = []
        for name in request["associatedObjectType"]:
            to_type = _object_type(name)
            if to_type is None:
                raise SandboxError(400, "VALIDATION_ERROR", f"Unknown associated object type: {name}")
            associated.append(to_type)
        now = self.store.clock.now()
        with self.lock:
            while self.started and self.started[0] <= now - timedelta(days=1):
                self.started.popleft()
            if len(self.started) >= EXPORTS_PER_DAY:
                raise SandboxError(
                    429,
                    "RATE_LIMITS",
                    f"You have reached the limit of {EXPORTS_PER_DAY} exports in a rolling 24-hour period.",
                )
            self.started.append(now)
            with self.store.lock:
                rows = sum(1 for r in self.store.objects[object_type].values() if not r["archived"])
            running = [t for t in self.tasks.values() if not t.canceled and t.ready_at > now]
            starts_at = max([now, *(t.ready_at for t in running)])
            timing = self.timing
            ready_at = starts_at + timedelta(seconds=timing.seconds + rows / timing.rows_per_second)
            task = ExportTask(
                next(self.ids),
                str(request["exportName"]),
                object_type,
                properties,
                associated,
                now,
                starts_at,
                ready_at,
                rows,
            )
            self.tasks[task.id] = task
        self._submit(task)
        return task

    def task(self, raw_id: str) -> ExportTask:
        task = self.tasks.get(int(raw_id)) if raw_id.isdigit() else None
        if task is None:
            raise SandboxError(404, "OBJECT_NOT_FOUND", f"Export {raw_id} not found")
        return task

    def status(self, task: ExportTask, base_url: str) -> dict[str, Any]:
        """The status answer; a complete task carries a fresh download URL."""
        now = self.store.clock.now()
        state = task.state(now)
        out: dict[str, Any] = {
            "status": state,
            "requestedAt": iso(task.requested_at),
            "startedAt": iso(min(task.starts_at, now) if state != "PENDING" else task.requested_at),
            "links": {},
        }
        if state == "COMPLETE":
            out["completedAt"] = iso(task.ready_at)
            token = secrets.token_urlsafe(24)
            with self.lock:
                self.links = {k: v for k, v in self.links.items() if v[1] > now - URL_LIFETIME}
                self.links[token] = (task.id, now)
            suffix = "zip" if task.media_type == "application/zip" else "csv"
            out["result"] = f"{base_url}/_sandbox/export-files/{token}/{task.name}.{suffix}"
        return out

    def describe(self, task: ExportTask) -> dict[str, Any]:
        """`GET /crm/exports/{version}/export/{exportId}` (PublicExportResponse)."""
        state = task.state(self.store.clock.now())
        export_state = {"PENDING": "ENQUEUED", "PROCESSING": "PROCESSING", "COMPLETE": "DONE"}.get(
            state, "CANCELED"
        )
        return {
            "id": str(task.id),
            "createdAt": iso(task.requested_at),
            "updatedAt": iso(task.ready_at if state == "COMPLETE" else task.requested_at),
            "exportName": task.name,
            "exportState": export_state,
            "exportType": "VIEW",
            "objectType": task.object_type.upper(),
            "objectProperties": task.properties,
            "recordCount": task.rows,
        }

    def file(self, token: str) -> ExportTask:
        """The task a download link names; 403 once the link expired (anyone holding a valid one
        may download, without credentials)."""
        found = self.links.get(token)
        if found is None:
            raise SandboxError(404, "OBJECT_NOT_FOUND", "No such file")
        task_id, issued = found
        if self.store.clock.now() - issued > URL_LIFETIME:
            raise SandboxError(403, "FORBIDDEN", "Request has expired")
        return self.tasks[task_id]

    # -- the files --------------------------------------------------------------------------

    def _submit(self, task: ExportTask) -> None:
        with self.lock:
            if self._directory is None:
                self._directory = tempfile.TemporaryDirectory(prefix="sandbox-exports-")
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="sandbox-exports", daemon=True)
                self._worker.start()
        self._queue.put(task)

    def _work(self) -> None:
        while True:
            task = self._queue.get()
            try:
                self._write(task)
            finally:
                task.built.set()

    def _write(self, task: ExportTask) -> None:
        assert self._directory is not None
        directory = Path(self._directory.name)
        header = [*task.properties, *(f"Associated {SINGULAR[t].title()} IDs" for t in task.associated)]
        parts: list[Path] = []
        rows = self._rows(task)
        for number in itertools.count(1):
            part = directory / f"{task.id}-{number}.csv"
            written = _write_part(part, header, itertools.islice(rows, self.timing.split_rows))
            if written == 0 and parts:
                part.unlink()
                break
            parts.append(part)
            if written < self.timing.split_rows:
                break
        if len(parts) == 1 and parts[0].stat().st_size <= self.timing.zip_above_bytes:
            task.path = parts[0]
            return
        archive = directory / f"{task.id}.zip"
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for number, part in enumerate(parts, 1):
                name = f"{task.name}.csv" if len(parts) == 1 else f"{task.name}-{number}.csv"
                zf.write(part, name)
                part.unlink()
        task.path, task.media_type = archive, "application/zip"

    def _rows(self, task: ExportTask) -> Iterator[list[str]]:
        """The live records in id order as CSV rows, read from the store a chunk at a time."""
        store = self.store
        with store.lock:
            ids = list(store.ids[task.object_type])
        for start in range(0, len(ids), _CHUNK):
            with store.lock:
                records = store.objects[task.object_type]
                chunk = [records.get(i) for i in ids[start : start + _CHUNK]]
                out = []
                for record in chunk:
                    if record is None or record["archived"]:
                        continue
                    props = record["properties"]
                    row = ["" if (v := props.get(name)) is None else str(v) for name in task.properties]
                    for to_type in task.associated:
                        row.append(
                            ";".join(
                                str(i) for i in store.associated(task.object_type, record["id"], to_type)
                            )
                        )
                    out.append(row)
            yield from out


# HubSpot's export requests name standard objects in capitals (`CONTACT`).
_PLURAL_NAMES = {singular.upper(): plural for plural, singular in SINGULAR.items()}


def _object_type(name: Any) -> str | None:
    """The object type an export request names: `CONTACT`, `contacts` or `0-1`."""
    text = str(name)
    return OBJECT_TYPES.get(text.lower()) or OBJECT_TYPES.get(_PLURAL_NAMES.get(text.upper(), ""))


def _validated(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SandboxError(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
    missing = [name for name in _REQUIRED if name not in body]
    if missing:
        raise SandboxError(400, "VALIDATION_ERROR", f"Missing required fields: {', '.join(missing)}")
    if body["exportType"] != "VIEW":
        raise SandboxError(400, "VALIDATION_ERROR", "The sandbox exports views only (exportType VIEW)")
    if body["format"] != "CSV":
        raise SandboxError(400, "VALIDATION_ERROR", "The sandbox writes CSV files only (format CSV)")
    if set(body["exportInternalValuesOptions"]) != {"NAMES", "VALUES"}:
        raise SandboxError(
            400, "VALIDATION_ERROR", "The sandbox exports internal names and values only (NAMES, VALUES)"
        )
    if not isinstance(body["objectProperties"], list) or not body["objectProperties"]:
        raise SandboxError(400, "VALIDATION_ERROR", "objectProperties must be a non-empty list")
    if not isinstance(body["associatedObjectType"], list) or len(body["associatedObjectType"]) > 4:
        raise SandboxError(400, "VALIDATION_ERROR", "associatedObjectType takes at most 4 object types")
    return body


def _write_part(path: Path, header: list[str], rows: Iterator[list[str]]) -> int:
    """One CSV file (UTF-8, CRLF as HubSpot's); returns the rows written."""
    count = 0
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with open(fd, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count
