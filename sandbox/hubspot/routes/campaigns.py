"""HubSpot's marketing campaigns API (v3 and dated) over the sandbox portal: the listing, one
campaign, its budget totals and its metrics."""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.hubspot.campaigns import budget_totals, metrics, render_campaign
from sandbox.hubspot.gate import Gate
from sandbox.hubspot.http import JSONResponse, after_param, int_param
from sandbox.hubspot.model import SandboxError

# HubSpot documents no cap; the sandbox caps pages at what its own examples ask for.
CAMPAIGNS_PAGE_MAX = 100
CAMPAIGNS_PAGE_DEFAULT = 50
# Sort keys the listing accepts (`-` in front for descending).
_SORTS = {"hs_name", "createdAt", "updatedAt"}


def _properties(request: Request) -> list[str]:
    """`properties`, repeated (the spec's exploded form) or comma-separated."""
    return [p.strip() for raw in request.query_params.getlist("properties") for p in raw.split(",")]


def _date(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise SandboxError(
            400, "VALIDATION_ERROR", f"{name} must be formatted as YYYY-MM-DD: {raw!r}"
        ) from None


class CampaignRoutes:
    """The campaigns routes of one sandbox, each behind its gate (`marketing.campaigns.read`)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.store = gate.store

    def routes(self) -> list[Route]:
        api = self.gate.api()
        out = []
        for base in ("/marketing/v3/campaigns", "/marketing/campaigns/{version}"):
            out += [
                Route(base, api(self.list_campaigns), methods=["GET"]),
                Route(f"{base}/{{campaign_id}}", api(self.get_campaign), methods=["GET"]),
                Route(f"{base}/{{campaign_id}}/budget/totals", api(self.budget), methods=["GET"]),
                Route(f"{base}/{{campaign_id}}/reports/metrics", api(self.metrics), methods=["GET"]),
            ]
        return out

    def _campaign(self, request: Request) -> dict[str, Any]:
        campaign_id = request.path_params["campaign_id"]
        for campaign in self.store.campaigns:
            if campaign["id"] == campaign_id:
                return campaign
        raise SandboxError(
            404, "OBJECT_NOT_FOUND", f"Campaign {campaign_id} not found", {"id": [campaign_id]}
        )

    async def list_campaigns(self, request: Request) -> Response:
        """`GET /marketing/v3/campaigns`: `name` filter, `sort`, offset cursor, `total`."""
        limit = max(1, min(int_param(request, "limit", CAMPAIGNS_PAGE_DEFAULT), CAMPAIGNS_PAGE_MAX))
        offset = after_param(request)
        campaigns = list(self.store.campaigns)
        name = (request.query_params.get("name") or "").lower()
        if name:
            campaigns = [c for c in campaigns if name in str(c["properties"].get("hs_name", "")).lower()]
        sort = request.query_params.get("sort")
        if sort:
            key = sort.removeprefix("-")
            if key not in _SORTS:
                raise SandboxError(400, "VALIDATION_ERROR", f"Unknown sort property: {sort}")
            campaigns.sort(
                key=lambda c: str(c["properties"].get(key, "")) if key == "hs_name" else c[key],
                reverse=sort.startswith("-"),
            )
        page = campaigns[offset : offset + limit]
        wanted = _properties(request)
        body: dict[str, Any] = {
            "total": len(campaigns),
            "results": [render_campaign(c, wanted) for c in page],
        }
        if offset + limit < len(campaigns):
            nxt = str(offset + limit)
            link = str(request.url.replace_query_params(**{**dict(request.query_params), "after": nxt}))
            body["paging"] = {"next": {"after": nxt, "link": link}}
        return JSONResponse(body)

    async def get_campaign(self, request: Request) -> Response:
        return JSONResponse(render_campaign(self._campaign(request), _properties(request)))

    async def budget(self, request: Request) -> Response:
        return JSONResponse(budget_totals(self._campaign(request)))

    async def metrics(self, request: Request) -> Response:
        campaign = self._campaign(request)
        start, end = _date(request, "startDate"), _date(request, "endDate")
        with self.store.lock:
            contacts = list(self.store.objects["contacts"].values())
        return JSONResponse(metrics(campaign["id"], contacts, start, end))
