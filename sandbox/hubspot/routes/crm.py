"""HubSpot's CRM API (objects, search, batch reads, merges; association batches; pipelines, owners,
properties, schemas) over the sandbox portal, with HubSpot's caps and errors, under the numbered
(v3/v4) and the dated (2026-03, 2026-09) paths."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.hubspot.data import iso
from sandbox.hubspot.gate import Gate
from sandbox.hubspot.http import (
    Handler,
    JSONResponse,
    after_param,
    flag,
    int_param,
    list_param,
    object_type_of,
    read_json,
)
from sandbox.hubspot.model import ASSOCIATION_TYPE_IDS, OBJECT_TYPES, SINGULAR, SandboxError
from sandbox.hubspot.versions import dated

PAGE_MAX = 100
PAGE_MAX_WITH_HISTORY = 50
OWNERS_PAGE_MAX = 500
ASSOCIATION_BATCH_MAX = 1000
BATCH_READ_MAX = 100
_EPOCH = "1970-01-01T00:00:00Z"


def _not_found(raw_id: str) -> SandboxError:
    return SandboxError(
        404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.", {"id": [raw_id]}
    )


class CrmRoutes:
    """The CRM routes of one sandbox, each behind its gate."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.store = gate.store

    def routes(self) -> list[Route]:
        """Every route under its numbered path and its dated one (sandbox/hubspot/versions.py)."""
        api = self.gate.api
        return [
            Route(path, api(search=handler == self.search)(handler), methods=[method])
            for numbered, dated_path, handler, method in self._table()
            for path in (numbered, dated_path)
        ]

    def _table(self) -> list[tuple[str, str, Handler, str]]:
        """(numbered path, dated path, handler, method) of every CRM route."""
        return [
            (
                "/crm/v3/objects/{object_type}",
                "/crm/objects/{version}/{object_type}",
                self.list_objects,
                "GET",
            ),
            (
                "/crm/v3/objects/{object_type}/search",
                "/crm/objects/{version}/{object_type}/search",
                self.search,
                "POST",
            ),
            (
                "/crm/v3/objects/{object_type}/batch/read",
                "/crm/objects/{version}/{object_type}/batch/read",
                self.batch_read,
                "POST",
            ),
            (
                "/crm/v3/objects/{object_type}/merge",
                "/crm/objects/{version}/{object_type}/merge",
                self.merge,
                "POST",
            ),
            (
                "/crm/v3/objects/{object_type}/{object_id}",
                "/crm/objects/{version}/{object_type}/{object_id}",
                self.get_object,
                "GET",
            ),
            (
                "/crm/v4/associations/{from_type}/{to_type}/batch/read",
                "/crm/associations/{version}/{from_type}/{to_type}/batch/read",
                self.associations_batch,
                "POST",
            ),
            (
                "/crm/v3/pipelines/{object_type}",
                "/crm/pipelines/{version}/{object_type}",
                self.pipelines,
                "GET",
            ),
            ("/crm/v3/owners", "/crm/owners/{version}", self.owners, "GET"),
            ("/crm/v3/owners/", "/crm/owners/{version}/", self.owners, "GET"),
            (
                "/crm/v3/properties/{object_type}",
                "/crm/properties/{version}/{object_type}",
                self.properties,
                "GET",
            ),
            (
                "/crm/v3/properties/{object_type}/{name}",
                "/crm/properties/{version}/{object_type}/{name}",
                self.properties,
                "GET",
            ),
            ("/crm/v3/schemas", "/crm-object-schemas/{version}/schemas", self.custom_schemas, "GET"),
        ]

    async def list_objects(self, request: Request) -> Response:
        object_type = object_type_of(request)
        history = list_param(request, "propertiesWithHistory")
        cap = PAGE_MAX_WITH_HISTORY if history else PAGE_MAX
        limit = max(1, min(int_param(request, "limit", 10), cap))
        after = after_param(request)
        properties = list_param(request, "properties")
        associations = list_param(request, "associations")
        store = self.store
        page = store.list_page(object_type, after=after, limit=limit, archived=flag(request, "archived"))
        body: dict[str, Any] = {
            "results": [store.render(object_type, r, properties, associations, history) for r in page.records]
        }
        await self.gate.remember_page(request, body["results"])
        if page.next_after is not None:
            query = dict(request.query_params)
            query["after"] = page.next_after
            link = str(request.url.replace_query_params(**query))
            body["paging"] = {"next": {"after": page.next_after, "link": link}}
        return JSONResponse(body)

    async def get_object(self, request: Request) -> Response:
        object_type = object_type_of(request)
        raw_id = request.path_params["object_id"]
        record = None
        if raw_id.isdigit():
            # A merged-away id answers with the survivor (whose id differs from the one asked for).
            canonical = self.store.canonical_id(object_type, int(raw_id))
            record = self.store.get(object_type, canonical, archived=flag(request, "archived"))
        if record is None:
            raise _not_found(raw_id)
        rendered = self.store.render(
            object_type,
            record,
            list_param(request, "properties"),
            list_param(request, "associations"),
            list_param(request, "propertiesWithHistory"),
        )
        return JSONResponse(rendered)

    async def search(self, request: Request) -> Response:
        object_type = object_type_of(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise SandboxError(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
        options = self.gate.state.options
        total, records, offset = self.store.search(
            object_type, body, lag_seconds=options.search_lag_seconds, id_order=options.search_id_order
        )
        properties = body.get("properties") if isinstance(body.get("properties"), list) else None
        out: dict[str, Any] = {
            "total": total,
            "results": [self.store.render(object_type, r, properties) for r in records],
        }
        await self.gate.remember_page(request, out["results"])
        if offset + len(records) < total:
            out["paging"] = {"next": {"after": str(offset + len(records))}}
        return JSONResponse(out)

    async def batch_read(self, request: Request) -> Response:
        object_type = object_type_of(request)
        body = await read_json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        history = body.get("propertiesWithHistory") if isinstance(body, dict) else None
        cap = PAGE_MAX_WITH_HISTORY if history else BATCH_READ_MAX
        if not isinstance(inputs, list) or len(inputs) > cap:
            raise SandboxError(400, "VALIDATION_ERROR", f"inputs must be a list of at most {cap} ids")
        archived = flag(request, "archived")
        store = self.store
        results, missing = [], []
        for item in inputs:
            raw_id = str((item or {}).get("id", ""))
            record = None
            if raw_id.isdigit():
                record = store.get(
                    object_type, store.canonical_id(object_type, int(raw_id)), archived=archived
                )
            if record is None:
                missing.append(raw_id)
            else:
                results.append(
                    store.render(object_type, record, body.get("properties"), history=history or None)
                )
        now = iso(store.clock.now())
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        if not missing:
            return JSONResponse(out)
        message = (
            f"Could not get some {SINGULAR[object_type].upper()} objects, they may be "
            "deleted or not exist. Check that ids are valid."
        )
        out["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": message,
                "context": {"ids": missing},
            }
        ]
        out["numErrors"] = len(missing)
        return JSONResponse(out, status_code=207)

    async def merge(self, request: Request) -> Response:
        object_type = object_type_of(request)
        body = await read_json(request)
        try:
            primary = int(str(body.get("primaryObjectId")))
            merged = int(str(body.get("objectIdToMerge")))
        except (AttributeError, TypeError, ValueError):
            raise SandboxError(
                400, "VALIDATION_ERROR", "primaryObjectId and objectIdToMerge must be object ids"
            ) from None
        record = self.store.merge(object_type, primary, merged)
        return JSONResponse(self.store.render(object_type, record, list(record["properties"])))

    async def associations_batch(self, request: Request) -> Response:
        from_type = OBJECT_TYPES.get(request.path_params["from_type"])
        to_type = OBJECT_TYPES.get(request.path_params["to_type"])
        type_id = ASSOCIATION_TYPE_IDS.get((from_type or "", to_type or ""), 0)
        labels = [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]
        # The dated specs type `toObjectId` as a string; v4 answers carry a number.
        as_id = str if dated(request) else int
        out, status = self.store.association_batch(
            from_type,
            to_type,
            await read_json(request),
            ASSOCIATION_BATCH_MAX,
            lambda i: {"toObjectId": as_id(i), "associationTypes": labels},
        )
        return JSONResponse(out, status_code=status)

    async def pipelines(self, request: Request) -> Response:
        object_type = object_type_of(request)
        if object_type == "deals":
            return JSONResponse({"results": self.store.pipelines})
        if object_type != "contacts":
            return JSONResponse({"results": []})
        stages = [
            {
                "id": value,
                "label": label,
                "displayOrder": i,
                "metadata": {"isClosed": "false", "state": "OPEN"},
                "archived": False,
                "createdAt": _EPOCH,
                "updatedAt": _EPOCH,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for i, (value, label) in enumerate(self.store.lifecycle_options)
        ]
        lifecycle = {
            "id": "contacts-lifecycle-pipeline",
            "label": "Lifecycle Stage Pipeline",
            "displayOrder": 0,
            "archived": False,
            "stages": stages,
            "createdAt": _EPOCH,
            "updatedAt": _EPOCH,
        }
        return JSONResponse({"results": [lifecycle]})

    async def owners(self, request: Request) -> Response:
        limit = max(1, min(int_param(request, "limit", 100), OWNERS_PAGE_MAX))
        archived = flag(request, "archived")
        email_filter = request.query_params.get("email")
        items = [
            o
            for o in self.store.owners
            if bool(o.get("archived")) == archived
            and (email_filter is None or o.get("email") == email_filter)
        ]
        after = request.query_params.get("after")
        start = 0
        if after and after.isdigit():
            start = next((i for i, o in enumerate(items) if int(o["id"]) >= int(after)), len(items))
        body: dict[str, Any] = {"results": items[start : start + limit]}
        if start + limit < len(items):
            nxt = items[start + limit]["id"]
            body["paging"] = {
                "next": {"after": nxt, "link": str(request.url.include_query_params(after=nxt))}
            }
        return JSONResponse(body)

    async def custom_schemas(self, _request: Request) -> Response:
        return JSONResponse({"results": []})  # the portal defines no custom objects

    async def properties(self, request: Request) -> Response:
        object_type = object_type_of(request)
        with self.store.lock:
            definitions = self.store.property_definitions(object_type)
        name = request.path_params.get("name")
        if name is None:
            return JSONResponse({"results": definitions})
        for definition in definitions:
            if definition["name"] == name:
                return JSONResponse(definition)
        raise SandboxError(
            404, "OBJECT_NOT_FOUND", f"Unable to find property {name} for object type {object_type}"
        )
