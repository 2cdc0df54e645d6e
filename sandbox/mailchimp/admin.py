"""The Mailchimp sandbox's own routes under `/_sandbox/`: move the clock, inject faults, change
options, read counters, simulate audience activity."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.faults import Fault
from sandbox.mailchimp.data import mc_time
from sandbox.mailchimp.http import JSONResponse
from sandbox.mailchimp.simulate import simulate
from sandbox.mailchimp.state import MailchimpState

OPTION_KEYS = ("max_connections", "latency_ms", "api_key")


class AdminRoutes:
    """The admin routes of one sandbox account (no auth, no limits, no faults)."""

    def __init__(self, state: MailchimpState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/health", self.health),
            Route("/_sandbox/clock", self.clock, methods=["GET", "POST"]),
            Route("/_sandbox/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sandbox/release", self.release, methods=["POST"]),
            Route("/_sandbox/options", self.options, methods=["GET", "POST"]),
            Route("/_sandbox/stats", self.stats),
            Route("/_sandbox/simulate", self.simulate, methods=["POST"]),
        ]

    async def health(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok", "now": mc_time(self.state.clock.now())})

    async def clock(self, request: Request) -> Response:
        if request.method == "POST":
            self.state.clock.advance(float((await request.json()).get("advance_seconds", 0)))
        return JSONResponse({"now": mc_time(self.state.clock.now())})

    async def faults(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            if request.method == "DELETE":
                state.faults.clear()
            elif request.method == "POST":
                for spec in (await request.json()).get("faults", []):
                    state.faults.append(Fault(**{"path_prefix": "/3.0/", **spec}))
            return JSONResponse({"faults": [f.__dict__ for f in state.faults]})

    async def release(self, _request: Request) -> Response:
        """Let every request a `hold` fault is holding go on."""
        self.state.holds.release()
        return JSONResponse({"released": True})

    async def options(self, request: Request) -> Response:
        state = self.state
        if request.method == "POST":
            body = await request.json()
            with state.lock:
                for key in OPTION_KEYS:
                    if key in body:
                        setattr(state.options, key, body[key])
        o = state.options
        return JSONResponse(
            {"max_connections": o.max_connections, "latency_ms": o.latency_ms, "dc": state.dc}
        )

    async def stats(self, _request: Request) -> Response:
        return JSONResponse(dict(self.state.counts))

    async def simulate(self, request: Request) -> Response:
        """`{"days", "new_members", "unsubscribes", "send": bool}`: time passes and the audience changes."""
        body = await request.json()
        with self.state.lock:
            return JSONResponse(simulate(self.state, **body))
