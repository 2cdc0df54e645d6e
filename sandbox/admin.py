"""The admin routes every sandbox has under `/_sandbox/`: inject faults, let held requests go,
change options, read counters. Each sandbox adds its own (clock, simulate, records…)."""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.faults import Fault, Holds


class AdminState(Protocol):
    """What the shared admin routes use of a sandbox's state."""

    faults: list[Fault]
    holds: Holds
    lock: Any  # a Lock or an RLock
    counts: Counter[str]
    options: Any


class SharedAdmin:
    """Faults, release, options and stats of one sandbox (no auth, no limits, no faults)."""

    # The `path_prefix` of a fault that names none (None: the Fault's own default).
    fault_prefix: ClassVar[str | None] = None
    # The options `POST /_sandbox/options` may change.
    option_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, state: AdminState) -> None:
        self.shared = state

    def shared_routes(self) -> list[Route]:
        return [
            Route("/_sandbox/faults", self.faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sandbox/release", self.release, methods=["POST"]),
            Route("/_sandbox/options", self.options, methods=["GET", "POST"]),
            Route("/_sandbox/stats", self.stats, methods=["GET"]),
        ]

    async def faults(self, request: Request) -> Response:
        state = self.shared
        body = await request.json() if request.method == "POST" else {}
        default = {"path_prefix": self.fault_prefix} if self.fault_prefix else {}
        with state.lock:
            if request.method == "DELETE":
                state.faults.clear()
            for spec in body.get("faults", []):
                state.faults.append(Fault(**{**default, **spec}))
            return JSONResponse({"faults": [f.__dict__ for f in state.faults]})

    async def release(self, _request: Request) -> Response:
        """Let every request a `hold` fault is holding go on."""
        self.shared.holds.release()
        return JSONResponse({"released": True})

    async def options(self, request: Request) -> Response:
        state = self.shared
        if request.method == "POST":
            body = await request.json()
            with state.lock:
                for key in self.option_keys:
                    if key in body:
                        setattr(state.options, key, body[key])
                self.options_changed(body)
        return JSONResponse(self.options_view())

    def options_changed(self, body: dict[str, Any]) -> None:
        """A sandbox's own reaction to an options change (called under the state's lock)."""

    def options_view(self) -> dict[str, Any]:
        return {key: getattr(self.shared.options, key) for key in self.option_keys}

    async def stats(self, _request: Request) -> Response:
        return JSONResponse(dict(self.shared.counts))
