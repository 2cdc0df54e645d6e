"""What every Mailchimp API request passes before its route answers: the API key or OAuth token,
the limit of simultaneous connections, added latency, injected faults."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from sandbox.faults import HTML_502, Fault, Holds, pick_fault, waited
from sandbox.mailchimp.http import problem
from sandbox.mailchimp.simulate import touch_members
from sandbox.mailchimp.state import MailchimpError, MailchimpState

Handler = Callable[[Request], Awaitable[Response]]

WRONG_KEY = "Your API key may be invalid, or you've attempted to access the wrong datacenter."
TOO_MANY = "You have exceeded the limit of 10 simultaneous connections."


class Gate:
    """The checks and faults around every API route of one sandbox; `api` wraps a handler."""

    def __init__(self, state: MailchimpState) -> None:
        self.state = state

    def authenticate(self, request: Request) -> Response | None:
        """None for a known API key (Basic, any user name) or OAuth token; else Mailchimp's 401."""
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        key: str | None = None
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(credentials).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                key = None
        elif scheme.lower() in ("bearer", "oauth"):
            key = credentials.strip()
        if not key:
            return problem(401, "API Key Missing", "Your request did not include an API key.")
        if key == self.state.options.api_key or key in self.state.options.oauth_tokens:
            return None
        return problem(401, "API Key Invalid", WRONG_KEY)

    def api(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            state = self.state
            state.counts["requests"] += 1
            denied = self.authenticate(request)
            if denied is not None:
                state.counts["401"] += 1
                return denied
            with state.lock:
                state.in_flight += 1
                busy = state.in_flight > state.options.max_connections
            try:
                if busy:
                    state.counts["429"] += 1
                    return problem(429, "TooManyRequests", TOO_MANY)
                return await self._answer(request, handler)
            finally:
                with state.lock:
                    state.in_flight -= 1

        return endpoint

    async def _answer(self, request: Request, handler: Handler) -> Response:
        state = self.state
        if state.options.latency_ms:
            await asyncio.sleep(state.options.latency_ms / 1000)
        with state.lock:
            fault = pick_fault(state.faults, request.method, request.url.path, state.rng)
        if fault is not None:
            state.counts[f"fault:{fault.kind}"] += 1
            replaced = await _fault_answer(fault, request, state.holds)
            if replaced is not None:
                return replaced
            if fault.kind in ("delay", "hold") and await request.is_disconnected():
                return Response(status_code=499)  # the client gave up waiting: nothing to answer
        try:
            body = await handler(request)
        except MailchimpError as exc:
            return problem(exc.status, exc.title, exc.detail)
        if fault is not None and fault.kind == "modify" and "list_id" in request.path_params:
            with state.lock:
                touch_members(state, request.path_params["list_id"], fault.records)
        return body


async def _fault_answer(fault: Fault, request: Request, holds: Holds) -> Response | None:
    """The answer a fault sends instead of the real one (None: the real one)."""
    if await waited(fault, request, holds):
        return None
    if fault.kind == "rate_limit":
        return problem(429, "TooManyRequests", TOO_MANY)
    if fault.kind == "status" and fault.body == "html":
        return Response(HTML_502, status_code=fault.status, media_type="text/html")
    if fault.kind == "status":
        detail = "A deep, internal error has occurred during the processing of your request."
        return problem(fault.status, "InternalServerError", detail)
    if fault.kind == "malformed":
        return Response('{"members":[{"id":"', status_code=200, media_type="application/json")
    return None
