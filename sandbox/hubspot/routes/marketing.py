"""HubSpot's marketing emails (v3, with statistics) and web analytics (Reporting API v2) over the
sandbox portal."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.hubspot.analytics import DEFAULT_LIMIT, WebAnalytics
from sandbox.hubspot.gate import Gate
from sandbox.hubspot.http import JSONResponse, after_param, flag, int_param, time_param
from sandbox.hubspot.model import SandboxError

EMAILS_PAGE_MAX = 300
# Marketing-email listing filters (exclusive bounds) and the field each one reads.
EMAIL_TIME_FILTERS = {
    "createdAfter": "createdAt",
    "createdBefore": "createdAt",
    "updatedAfter": "updatedAt",
    "updatedBefore": "updatedAt",
    "publishedAfter": "publishDate",
    "publishedBefore": "publishDate",
}


class MarketingRoutes:
    """The marketing-email and analytics routes of one sandbox, each behind its gate."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.store = gate.store
        self.analytics = WebAnalytics(gate.store)

    def routes(self) -> list[Route]:
        api = self.gate.api
        return [
            Route("/marketing/v3/emails", api()(self.list_emails), methods=["GET"]),
            Route("/marketing/emails/{version}", api()(self.list_emails), methods=["GET"]),
            Route("/marketing/v3/emails/{email_id}", api()(self.get_email), methods=["GET"]),
            Route("/marketing/emails/{version}/{email_id}", api()(self.get_email), methods=["GET"]),
            Route(
                "/analytics/v2/reports/{breakdown_by}/{time_period:path}",
                api()(self.analytics_report),
                methods=["GET"],
            ),
        ]

    def _matching_emails(self, request: Request) -> list[dict[str, Any]]:
        """The emails of the listing's archived state inside its (exclusive) time bounds."""
        archived = flag(request, "archived")
        bounds = {name: time_param(request, name) for name in EMAIL_TIME_FILTERS}
        matches = []
        for item in self.store.emails:
            if bool(item.get("archived")) != archived:
                continue
            keep = True
            for name, bound in bounds.items():
                if bound is None:
                    continue
                value = item.get(EMAIL_TIME_FILTERS[name])
                after = name.endswith("After")
                if value is None or (value <= bound if after else value >= bound):
                    keep = False
            if keep:
                matches.append(item)
        return matches

    async def list_emails(self, request: Request) -> Response:
        """`GET /marketing/v3/emails`: id order, offset cursor, `total`, exclusive time bounds."""
        limit = max(1, min(int_param(request, "limit", 10), EMAILS_PAGE_MAX))
        offset = after_param(request)
        stats = flag(request, "includeStats")
        matches = self._matching_emails(request)
        page = matches[offset : offset + limit]
        omit = self.gate.state.options.email_stats_omit_every
        shown = page
        if stats and omit > 0:
            shown = [e for i, e in enumerate(page, start=offset) if (i + 1) % omit != 0]
        body: dict[str, Any] = {
            "total": len(matches),
            "results": [self.store.render_email(e, stats=stats) for e in shown],
        }
        if offset + limit < len(matches):
            nxt = str(offset + limit)
            link = str(request.url.replace_query_params(**{**dict(request.query_params), "after": nxt}))
            body["paging"] = {"next": {"after": nxt, "link": link}}
        return JSONResponse(body)

    async def get_email(self, request: Request) -> Response:
        email_id = request.path_params["email_id"]
        for item in self.store.emails:
            if item["id"] == email_id:
                return JSONResponse(self.store.render_email(item, stats=flag(request, "includeStats")))
        raise SandboxError(404, "OBJECT_NOT_FOUND", f"No email with id {email_id}", {"id": [email_id]})

    async def analytics_report(self, request: Request) -> Response:
        """`GET /analytics/v2/reports/{breakdown_by}/{time_period}` (Reporting API v2)."""
        query = request.query_params
        body = self.analytics.report(
            request.path_params["breakdown_by"],
            request.path_params["time_period"],
            start=query.get("start"),
            end=query.get("end"),
            d1=query.get("d1"),
            limit=int_param(request, "limit", DEFAULT_LIMIT),
            offset=int_param(request, "offset", 0),
        )
        return JSONResponse(body)
