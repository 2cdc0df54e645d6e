"""HubSpot's CRM exports API (numbered `/crm/v3/exports/...`, dated `/crm/exports/{version}/...`)
over the sandbox portal (sandbox/hubspot/exports.py), and the download of a finished export's
file: a link outside the API, without credentials, valid for 5 minutes."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from sandbox.hubspot.exports import Exports
from sandbox.hubspot.gate import Gate
from sandbox.hubspot.http import JSONResponse, error, read_json
from sandbox.hubspot.model import SandboxError
from sandbox.hubspot.versions import dated

# How long a status answer waits for a due export's file before saying PROCESSING.
FILE_WAIT_SECONDS = 120.0


class ExportRoutes:
    """The export routes of one sandbox: the API behind its gate, the file link outside it."""

    def __init__(self, gate: Gate, exports: Exports) -> None:
        self.gate = gate
        self.exports = exports

    def routes(self) -> list[Route]:
        api = self.gate.api()
        table = (
            ("/export/async", self.start, "POST"),
            ("/export/async/tasks/{task_id}/status", self.status, "GET"),
            ("/export/{export_id}", self.describe, "GET"),
        )
        return [
            *(
                Route(prefix + path, api(handler), methods=[method])
                for prefix in ("/crm/v3/exports", "/crm/exports/{version}")
                for path, handler, method in table
            ),
            Route("/_sandbox/export-files/{token}/{name}", self.download, methods=["GET"]),
        ]

    async def start(self, request: Request) -> Response:
        task = self.exports.start(await read_json(request))
        base = "/crm/exports/" + request.path_params["version"] if dated(request) else "/crm/v3/exports"
        status = f"{str(request.base_url).rstrip('/')}{base}/export/async/tasks/{task.id}/status"
        return JSONResponse({"id": str(task.id), "links": {"status": status}}, status_code=202)

    async def status(self, request: Request) -> Response:
        task = self.exports.task(request.path_params["task_id"])
        if task.due(self.gate.store.clock.now()):
            # Complete when its time has passed: the file it takes is written by then (however
            # long the writing takes in real time, which a test's frozen clock knows nothing of).
            await asyncio.to_thread(task.built.wait, FILE_WAIT_SECONDS)
        return JSONResponse(self.exports.status(task, str(request.base_url).rstrip("/")))

    async def describe(self, request: Request) -> Response:
        return JSONResponse(self.exports.describe(self.exports.task(request.path_params["export_id"])))

    async def download(self, request: Request) -> Response:
        self.gate.state.counts["downloads"] += 1
        try:
            task = self.exports.file(request.path_params["token"])
        except SandboxError as exc:
            return error(exc.status, exc.message, exc.category)
        assert task.path is not None
        return FileResponse(task.path, media_type=task.media_type, filename=request.path_params["name"])
