"""The sandbox's own routes under `/_sandbox/`: move the clock, change options, inject faults,
simulate activity, create, change, delete and restore records, read counters and ground truth."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.admin import SharedAdmin
from sandbox.hubspot.data import Record, iso
from sandbox.hubspot.http import JSONResponse, error, object_type_of
from sandbox.hubspot.model import OBJECT_TYPES, SandboxError
from sandbox.hubspot.options import OPTION_KEYS, Limiter, SandboxState

# What `POST /_sandbox/simulate` passes on to the store.
SIMULATE_KEYS = {
    "days",
    "new_contacts",
    "stage_changes",
    "deals_created",
    "deals_won",
    "deals_lost",
    "archive",
    "same_timestamp",
}


def _at(body: dict[str, Any]) -> datetime | None:
    return datetime.fromisoformat(body["at"]) if body.get("at") else None


class AdminRoutes(SharedAdmin):
    """The admin routes of one sandbox (no auth, no limits, no faults)."""

    option_keys = OPTION_KEYS

    def __init__(self, state: SandboxState) -> None:
        super().__init__(state)
        self.state = state
        self.store = state.store

    def options_changed(self, body: dict[str, Any]) -> None:
        if body.get("reset_limits"):
            self.state.limiter = Limiter()

    def routes(self) -> list[Route]:
        objects = "/_sandbox/objects/{object_type}"
        return [
            Route("/_sandbox/health", self.health, methods=["GET"]),
            Route("/_sandbox/clock", self.clock, methods=["GET", "POST"]),
            *self.shared_routes(),
            Route("/_sandbox/requests", self.requests, methods=["GET", "DELETE"]),
            Route("/_sandbox/simulate", self.simulate, methods=["POST"]),
            Route("/_sandbox/touch", self.touch, methods=["POST"]),
            Route(objects, self.object, methods=["POST"]),
            Route(f"{objects}/{{object_id}}", self.object, methods=["PATCH", "DELETE"]),
            Route(f"{objects}/{{object_id}}/restore", self.restore, methods=["POST"]),
            Route("/_sandbox/truth/{object_type}", self.truth, methods=["GET"]),
        ]

    async def health(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok", "now": iso(self.store.clock.now())})

    async def clock(self, request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            self.store.clock.advance(float(body.get("advance_seconds", 0)))
        return JSONResponse({"now": iso(self.store.clock.now()), "frozen": self.store.clock.frozen})

    async def requests(self, request: Request) -> Response:
        """API requests by "METHOD path" since the start (or the last DELETE)."""
        with self.state.lock:
            if request.method == "DELETE":
                self.state.paths.clear()
            return JSONResponse({"paths": dict(self.state.paths)})

    async def simulate(self, request: Request) -> Response:
        body = await request.json()
        return JSONResponse(self.store.simulate(**{k: v for k, v in body.items() if k in SIMULATE_KEYS}))

    async def object(self, request: Request) -> Response:
        """POST creates, PATCH updates, DELETE archives (or with `purge=true` deletes for good)."""
        object_type = object_type_of(request)
        body = await request.json() if request.method != "DELETE" else {}
        try:
            if request.method == "DELETE" and request.query_params.get("purge") == "true":
                self.store.purge(object_type, int(request.path_params["object_id"]))
                return JSONResponse({"purged": request.path_params["object_id"]})
            record = self._change(request, object_type, body)
        except SandboxError as exc:
            return error(exc.status, exc.message, exc.category)
        return JSONResponse(self.store.render(object_type, record, list(record["properties"])))

    def _change(self, request: Request, object_type: str, body: dict[str, Any]) -> Record:
        store = self.store
        if request.method == "POST":
            associations = body.get("associations")
            return store.create(
                object_type, body.get("properties", {}), at=_at(body), associations=associations
            )
        record_id = int(request.path_params["object_id"])
        if request.method == "PATCH":
            return store.update(object_type, record_id, body.get("properties", {}), at=_at(body))
        return store.archive(object_type, record_id)

    async def restore(self, request: Request) -> Response:
        try:
            object_type = object_type_of(request)
            record = self.store.restore(object_type, int(request.path_params["object_id"]))
        except SandboxError as exc:
            return error(exc.status, exc.message, exc.category)
        return JSONResponse(self.store.render(object_type, record, list(record["properties"])))

    async def touch(self, request: Request) -> Response:
        body = await request.json()
        store = self.store
        object_type = OBJECT_TYPES[body["type"]]
        at = _at(body) or store.clock.now()
        if "ids" in body:
            ids = [int(i) for i in body["ids"]]
        else:
            with store.lock:
                ids = [i for i in store.ids[object_type] if not store.objects[object_type][i]["archived"]]
            ids = ids[: int(body.get("count", len(ids)))]
        return JSONResponse({"touched": store.touch(object_type, ids, at=at), "at": iso(at)})

    async def truth(self, request: Request) -> Response:
        return JSONResponse({"results": self.store.truth(object_type_of(request))})
