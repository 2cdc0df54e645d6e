"""HubSpot's legacy CRM endpoints, served from the same portal as the v3 ones.

funnelsync reads only the v3/v4 APIs. The legacy ones (companies v2, deals v1, properties v1/v2,
deal pipelines v1, associations v3) are here because the connectors people use today still call
them (Singer's tap-hubspot lists deals and companies through them), and bench/peer_tap_hubspot.py
runs such a connector against the very portal funnelsync reads, with the same rate limit and
faults. Shapes follow HubSpot's legacy reference: every property is an object with its text
`value`, the `timestamp` (epoch ms) of its last change, `source`, `sourceId` and `versions`;
dates are epoch-ms text; paging is `offset` (the last id read) with `has-more` (companies) or
`hasMore` (deals); a page holds at most 250 records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.hubspot.catalogue import property_type
from sandbox.hubspot.data import Record
from sandbox.hubspot.gate import Gate
from sandbox.hubspot.http import JSONResponse, flag, int_param, list_param, read_json
from sandbox.hubspot.model import SINGULAR, SandboxError, association_type
from sandbox.hubspot.store import PortalStore

LEGACY_PAGE_MAX = 250
LEGACY_PAGE_DEFAULT = 100
PORTAL_ID = 1234567
V3_ASSOCIATION_BATCH_MAX = 1000


def epoch_ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def legacy_text(name: str, value: Any) -> str | None:
    """A v3 property value as the legacy APIs send it: dates as epoch-ms text, the rest as text."""
    if value is None:
        return None
    if property_type(name) == "datetime" and isinstance(value, str) and value:
        try:
            return str(epoch_ms(datetime.fromisoformat(value.replace("Z", "+00:00"))))
        except ValueError:
            return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class LegacyViews:
    """Renders the portal's records and catalogue in the legacy shapes."""

    def __init__(self, store: PortalStore) -> None:
        self.store = store

    def property_block(
        self, object_type: str, record: Record, name: str, *, full_history: bool
    ) -> dict[str, Any]:
        """One property: its value, when it last changed and (newest first) its versions."""
        entries = self.store.history(object_type, record, name)
        value = legacy_text(name, record["properties"].get(name))
        changed = entries[-1][1] if entries else record["updatedAt"]
        source = "CALCULATED" if name.startswith(("hs_v2_", "hs_lastmodified", "hs_object_id")) else "CRM_UI"
        if full_history and entries:
            versions: list[dict[str, Any]] = [
                {
                    "name": name,
                    "value": legacy_text(name, v),
                    "timestamp": epoch_ms(at),
                    "source": src,
                    "sourceVid": [],
                }
                for v, at, src in reversed(entries)
            ]
        else:
            versions = [
                {
                    "name": name,
                    "value": value,
                    "timestamp": epoch_ms(changed),
                    "source": source,
                    "sourceVid": [],
                }
            ]
        return {
            "value": value,
            "timestamp": epoch_ms(changed),
            "source": source,
            "sourceId": None,
            "versions": versions,
        }

    def render(
        self,
        object_type: str,
        record: Record,
        names: list[str] | None,
        *,
        history: list[str] | tuple[str, ...] = (),
        associations: bool = False,
    ) -> dict[str, Any]:
        """A company (v2) or deal (v1); `names` None means every property the record has."""
        props = record["properties"]
        known = self.store.property_names(object_type)
        wanted = [n for n in props if props[n] is not None] if names is None else [*names, *history]
        out: dict[str, Any] = {}
        for name in wanted:
            if name in known and name not in out and props.get(name) is not None:
                out[name] = self.property_block(object_type, record, name, full_history=name in history)
        key = "companyId" if object_type == "companies" else "dealId"
        body: dict[str, Any] = {"portalId": PORTAL_ID, key: record["id"], "isDeleted": record["archived"]}
        if object_type == "companies":
            body["additionalDomains"] = []
            body["stateChanges"] = []
            body["mergeAuditHistory"] = []
        else:
            body["imports"] = []
            body["stateChanges"] = []
        if associations:
            store = self.store
            body["associations"] = {
                "associatedVids": store.associated(object_type, record["id"], "contacts"),
                "associatedCompanyIds": store.associated(object_type, record["id"], "companies"),
                "associatedDealIds": [],
                "associatedTicketIds": [],
            }
        body["properties"] = out
        return body

    def definitions(self, object_type: str) -> list[dict[str, Any]]:
        """Properties v1/v2: a bare list, types named the legacy way (`bool`, `date`)."""
        created = epoch_ms(datetime(2019, 8, 6, tzinfo=self.store.clock.now().tzinfo))
        out = []
        for v3 in self.store.property_definitions(object_type):
            out.append(
                {
                    "name": v3["name"],
                    "label": v3["label"],
                    "description": v3["description"],
                    "groupName": v3["groupName"],
                    "type": v3["type"],
                    "fieldType": v3["fieldType"],
                    "options": [
                        {
                            "label": o["label"],
                            "value": o["value"],
                            "displayOrder": o.get("displayOrder", -1),
                            "hidden": o.get("hidden", False),
                            "description": o.get("description"),
                            "readOnly": False,
                            "doubleData": None,
                        }
                        for o in v3["options"]
                    ],
                    "displayOrder": v3["displayOrder"],
                    "calculated": v3["calculated"],
                    "externalOptions": v3["externalOptions"],
                    "hasUniqueValue": v3["hasUniqueValue"],
                    "hidden": v3["hidden"],
                    "hubspotDefined": v3["hubspotDefined"],
                    "formField": v3["formField"],
                    "readOnlyValue": v3["modificationMetadata"]["readOnlyValue"],
                    "readOnlyDefinition": v3["modificationMetadata"]["readOnlyDefinition"],
                    "mutableDefinitionNotDeletable": True,
                    "deleted": False,
                    "createdAt": created,
                    "updatedAt": created,
                    "createdUserId": None,
                    "updatedUserId": None,
                    "showCurrencySymbol": None,
                    "optionsAreMutable": None,
                    "searchableInGlobalSearch": False,
                    "currencyPropertyName": None,
                    "numberDisplayHint": None,
                    "textDisplayHint": None,
                    "displayMode": "current_value",
                }
            )
        return out

    def pipelines(self) -> list[dict[str, Any]]:
        """Deal pipelines v1: stage probability as a number, closedWon as a flag."""
        out = []
        for order, pipeline in enumerate(self.store.pipelines):
            stages = []
            for i, stage in enumerate(pipeline.get("stages", [])):
                meta = stage.get("metadata", {})
                probability = float(meta.get("probability") or 0)
                stages.append(
                    {
                        "stageId": stage["id"],
                        "label": stage["label"],
                        "probability": probability,
                        "active": not stage.get("archived", False),
                        "displayOrder": stage.get("displayOrder", i),
                        "closedWon": str(meta.get("isClosed")).lower() == "true" and probability >= 1,
                    }
                )
            out.append(
                {
                    "pipelineId": pipeline["id"],
                    "label": pipeline["label"],
                    "active": not pipeline.get("archived", False),
                    "displayOrder": pipeline.get("displayOrder", order),
                    "staticDefault": pipeline["id"] == "default",
                    "stages": stages,
                }
            )
        return out

    def page(self, object_type: str, request: Request) -> tuple[list[Record], bool, int]:
        """A legacy page: records after `offset` (an id), whether more follow, the next offset."""
        limit = max(1, min(int_param(request, "limit", LEGACY_PAGE_DEFAULT), LEGACY_PAGE_MAX))
        offset = int_param(request, "offset", 0)
        result = self.store.list_page(object_type, after=offset + 1, limit=limit, archived=False)
        next_offset = result.records[-1]["id"] if result.records else offset
        return result.records, result.next_after is not None, next_offset


class LegacyRoutes:
    """The legacy routes of one sandbox, each behind its gate (auth, limits, faults, counts)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.store = gate.store
        self.views = LegacyViews(gate.store)

    def routes(self) -> list[Route]:
        api = self.gate.api
        return [
            Route("/companies/v2/properties", api()(self.company_properties), methods=["GET"]),
            Route("/companies/v2/companies/paged", api()(self.companies_paged), methods=["GET"]),
            Route("/companies/v2/companies/{company_id}", api()(self.company_detail), methods=["GET"]),
            Route("/properties/v1/deals/properties", api()(self.deal_properties), methods=["GET"]),
            Route("/deals/v1/deal/paged", api()(self.deals_paged), methods=["GET"]),
            Route("/deals/v1/pipelines", api()(self.deal_pipelines), methods=["GET"]),
            Route(
                "/crm/v3/associations/{from_type}/{to_type}/batch/read",
                api()(self.associations_v3),
                methods=["POST"],
            ),
        ]

    async def company_properties(self, _request: Request) -> Response:
        with self.store.lock:
            return JSONResponse(self.views.definitions("companies"))

    async def deal_properties(self, _request: Request) -> Response:
        with self.store.lock:
            return JSONResponse(self.views.definitions("deals"))

    async def companies_paged(self, request: Request) -> Response:
        views = self.views
        with self.store.lock:
            records, more, offset = views.page("companies", request)
            names = list_param(request, "properties") or []
            history = list_param(request, "propertiesWithHistory") or []
            body = {
                "companies": [views.render("companies", r, names, history=history) for r in records],
                "has-more": more,
                "offset": offset,
            }
        return JSONResponse(body)

    async def company_detail(self, request: Request) -> Response:
        raw = request.path_params["company_id"]
        with self.store.lock:
            record = self.store.get("companies", int(raw)) if raw.isdigit() else None
            if record is None:
                raise SandboxError(404, "OBJECT_NOT_FOUND", f"company {raw} does not exist")
            body = self.views.render("companies", record, None, history=list(record["properties"]))
        return JSONResponse(body)

    async def deals_paged(self, request: Request) -> Response:
        views = self.views
        with self.store.lock:
            records, more, offset = views.page("deals", request)
            history = list_param(request, "propertiesWithHistory") or []
            names: list[str] | None = list_param(request, "properties") or []
            if flag(request, "includeAllProperties"):
                names = None
            associations = flag(request, "includeAssociations")
            deals = [
                views.render("deals", r, names, history=history, associations=associations) for r in records
            ]
        return JSONResponse({"deals": deals, "hasMore": more, "offset": offset})

    async def deal_pipelines(self, _request: Request) -> Response:
        with self.store.lock:
            return JSONResponse(self.views.pipelines())

    async def associations_v3(self, request: Request) -> Response:
        from_type = association_type(request.path_params["from_type"])
        to_type = association_type(request.path_params["to_type"])
        label = f"{SINGULAR.get(from_type or '')}_to_{SINGULAR.get(to_type or '')}"
        out, status = self.store.association_batch(
            from_type,
            to_type,
            await read_json(request),
            V3_ASSOCIATION_BATCH_MAX,
            lambda i: {"id": str(i), "type": label},
        )
        return JSONResponse(out, status_code=status)
