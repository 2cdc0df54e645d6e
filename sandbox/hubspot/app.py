"""The HubSpot sandbox as an ASGI app: HubSpot's paths, parameters, JSON shapes, caps, errors and
rate limits (routes by API area in sandbox/hubspot/routes/, every API request through the gate),
plus admin routes under `/_sandbox/` that move time, change data and inject faults."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from sandbox.clock import DateHeaderMiddleware
from sandbox.hubspot.gate import Gate
from sandbox.hubspot.http import error
from sandbox.hubspot.options import SandboxState
from sandbox.hubspot.routes.admin import AdminRoutes
from sandbox.hubspot.routes.campaigns import CampaignRoutes
from sandbox.hubspot.routes.crm import CrmRoutes
from sandbox.hubspot.routes.events import EventRoutes
from sandbox.hubspot.routes.exports import ExportRoutes
from sandbox.hubspot.routes.legacy import LegacyRoutes
from sandbox.hubspot.routes.marketing import MarketingRoutes
from sandbox.hubspot.routes.oauth import OAuthRoutes


async def _not_found(request: Request, _exc: Exception) -> Response:
    return error(404, f"Resource not found: {request.method} {request.url.path}", "OBJECT_NOT_FOUND")


def create_app(state: SandboxState) -> DateHeaderMiddleware:
    gate = Gate(state)
    routes = [
        *CrmRoutes(gate).routes(),
        *MarketingRoutes(gate).routes(),
        *CampaignRoutes(gate).routes(),
        *EventRoutes(gate).routes(),
        *ExportRoutes(gate, state.exports).routes(),
        *OAuthRoutes(gate).routes(),
        *LegacyRoutes(gate).routes(),
        *AdminRoutes(state).routes(),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_found})
    return DateHeaderMiddleware(app, state.store.clock)
