"""The Mailchimp sandbox's own routes under `/_sandbox/`: move the clock, inject faults, change
options, read counters, simulate audience activity."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.admin import SharedAdmin
from sandbox.mailchimp.data import mc_time
from sandbox.mailchimp.http import JSONResponse
from sandbox.mailchimp.simulate import simulate
from sandbox.mailchimp.state import MailchimpState

OPTION_KEYS = ("max_connections", "latency_ms", "api_key")


class AdminRoutes(SharedAdmin):
    """The admin routes of one sandbox account (no auth, no limits, no faults)."""

    fault_prefix = "/3.0/"
    option_keys = OPTION_KEYS

    def __init__(self, state: MailchimpState) -> None:
        super().__init__(state)
        self.state = state

    def options_view(self) -> dict[str, Any]:
        o = self.state.options
        return {"max_connections": o.max_connections, "latency_ms": o.latency_ms, "dc": self.state.dc}

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/health", self.health),
            Route("/_sandbox/clock", self.clock, methods=["GET", "POST"]),
            *self.shared_routes(),
            Route("/_sandbox/simulate", self.simulate, methods=["POST"]),
        ]

    async def health(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok", "now": mc_time(self.state.clock.now())})

    async def clock(self, request: Request) -> Response:
        if request.method == "POST":
            self.state.clock.advance(float((await request.json()).get("advance_seconds", 0)))
        return JSONResponse({"now": mc_time(self.state.clock.now())})

    async def simulate(self, request: Request) -> Response:
        """`{"days", "new_members", "unsubscribes", "send": bool}`: time passes and the audience changes."""
        body = await request.json()
        with self.state.lock:
            return JSONResponse(simulate(self.state, **body))
