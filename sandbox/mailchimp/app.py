"""The Mailchimp sandbox as an ASGI app: Marketing API 3.0 paths, `count`/`offset`/`total_items`
paging, `fields`/`exclude_fields`, problem+json errors, API-key and data-centre checks, and the
limit of 10 simultaneous connections; admin routes under `/_sandbox/` move time, change the
audience, send campaigns and inject faults."""

from __future__ import annotations

from starlette.applications import Starlette

from sandbox.clock import DateHeaderMiddleware
from sandbox.mailchimp.admin import AdminRoutes
from sandbox.mailchimp.gate import Gate
from sandbox.mailchimp.routes import MarketingRoutes
from sandbox.mailchimp.state import MailchimpState


def create_app(state: MailchimpState) -> DateHeaderMiddleware:
    routes = [*MarketingRoutes(Gate(state)).routes(), *AdminRoutes(state).routes()]
    return DateHeaderMiddleware(Starlette(routes=routes), state.clock)
