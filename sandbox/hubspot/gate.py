"""What every HubSpot API request passes before its route answers, and what may spoil the answer
after: the URL length, the credential and its scopes, the rate limits (ten-secondly, secondly for
search, daily) with HubSpot's headers, added latency, and injected faults."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from sandbox.faults import Fault, Holds, pick_fault, waited
from sandbox.hubspot.data import iso
from sandbox.hubspot.http import Handler, JSONResponse, error, object_type_of, page_signature
from sandbox.hubspot.model import SandboxError
from sandbox.hubspot.options import SandboxState, required_scope
from sandbox.hubspot.versions import dated

MAX_URL_LENGTH = 8192  # longer request lines get HubSpot's 414
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports both API Key and OAuth 2.0 authentication "
    "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
RATE_LIMIT_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}
_AUTH_FAILURE = {"x-hubspot-auth-failure": "401 Unauthorized"}


class Gate:
    """The checks and faults around every API route of one sandbox; `api()` wraps a handler."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.store = state.store

    def api(self, search: bool = False) -> Callable[[Handler], Handler]:
        """Wrap a route: counted, gated, delayed, faulted; HubSpot's error for a SandboxError."""

        def decorate(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                return await self.serve(request, handler, search=search)

            return endpoint

        return decorate

    async def serve(self, request: Request, handler: Handler, *, search: bool) -> Response:
        state = self.state
        state.counts["requests"] += 1
        state.paths[f"{request.method} {request.url.path}"] += 1
        refused, headers = self.admit(request, search)
        if refused is not None:
            return refused
        if state.options.latency_ms:
            await asyncio.sleep(state.options.latency_ms / 1000)
        fault, replaced = await self.injected_fault(request)
        if replaced is not None:
            return replaced
        if fault is not None and fault.kind in ("delay", "hold") and await request.is_disconnected():
            return Response(status_code=499)  # the client gave up waiting: nothing to answer
        try:
            dated(request)  # an unknown date version is a path HubSpot does not serve
            response = await handler(request)
        except ClientDisconnect:
            # The client gave up (its timeout ran out during a `delay` fault).
            return Response(status_code=499)
        except SandboxError as exc:
            extra = {"context": exc.context} if exc.context else {}
            return error(exc.status, exc.message, exc.category, **extra)
        if fault is not None and response.status_code == 200:
            response = await self.after_fault(fault, request, response)
        response.headers.update(headers)
        response.headers["X-HubSpot-Correlation-Id"] = str(uuid.uuid4())
        return response

    def admit(self, request: Request, search: bool) -> tuple[Response | None, dict[str, str]]:
        """(the refusal, counted) or (None, the rate-limit headers of the answer)."""
        counts = self.state.counts
        if len(str(request.url)) > MAX_URL_LENGTH:
            counts["414"] += 1
            return error(414, "URI Too Long"), {}
        denied, limit_key = self.check_auth(request)
        if denied is not None:
            counts[str(denied.status_code)] += 1
            return denied, {}
        limited, headers = self.check_limits(limit_key, search)
        if limited is not None:
            counts["429"] += 1
            return limited, {}
        return None, headers

    # -- credentials -------------------------------------------------------------------------

    def missing_scope(self, request: Request, granted: list[str]) -> Response | None:
        """HubSpot's 403 when the credential holds none of the scopes the path accepts. As real
        answers do, the scopes sit in `errors[0].context.requiredGranularScopes`, except for the
        custom-object schemas, whose answer has them in a top-level `context`."""
        scopes = required_scope(request.url.path)
        if scopes is None or any(s in granted for s in scopes):
            return None
        detail = "One or more of the following scopes are required."
        context = {"requiredGranularScopes": list(scopes)}
        if scopes == ("crm.schemas.custom.read",):
            return error(
                403,
                detail,
                "MISSING_SCOPES",
                context={**context, "links": ["https://developers.hubspot.com/scopes"]},
            )
        return error(
            403,
            "This app hasn't been granted all required scopes to make this call.",
            "MISSING_SCOPES",
            errors=[{"message": detail, "context": context}],
            links={"scopes": "https://developers.hubspot.com/scopes"},
        )

    def check_auth(self, request: Request) -> tuple[Response | None, str]:
        """(refusal, the key the request's rate limits are counted under)."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        options = self.state.options
        if token is not None and "hapikey" not in request.query_params:
            if token in options.tokens:
                # A private app's token carries the scopes its app was given.
                return self.missing_scope(request, options.token_scopes), token
            expires = self.state.oauth_tokens.get(token)
            if expires is not None:
                now = self.store.clock.now()
                if now >= expires:
                    ago = int((now - expires).total_seconds())
                    message = f"The OAuth token used to make this call expired {ago} second(s) ago."
                    context = {"expire time": [iso(expires)]}
                    return error(
                        401, message, "EXPIRED_AUTHENTICATION", headers=_AUTH_FAILURE, context=context
                    ), token
                refused = self.missing_scope(request, options.oauth_scopes)
                if refused is not None:
                    return refused, token
                # Limits of an OAuth app count per app and portal, not per access token.
                return None, f"oauth:{options.oauth_client_id}"
        return error(401, AUTH_MESSAGE, "INVALID_AUTHENTICATION", headers=_AUTH_FAILURE), ""

    # -- rate limits -------------------------------------------------------------------------

    def check_limits(self, token: str, search: bool) -> tuple[Response | None, dict[str, str]]:
        state = self.state
        options = state.options
        now = self.store.clock.monotonic()
        limiter = state.limiter
        with state.lock:
            if options.daily_limit is not None and limiter.daily[token] >= options.daily_limit:
                return _limited("DAILY", requestId=str(uuid.uuid4())), {}
            burst = limiter.burst.setdefault(token, deque())
            if options.rate_limit is not None:
                limiter.prune(burst, now, 10.0)
                if len(burst) >= options.rate_limit:
                    wait = str(max(1, math.ceil(burst[0] + 10.0 - now)))
                    extra = {"Retry-After": wait} if options.send_retry_after else {}
                    group = f"publicapi:private-app-api-calls-ten-secondly:{abs(hash(token)) % 10**7}"
                    return _limited("TEN_SECONDLY_ROLLING", headers=extra, groupName=group), {}
            if search and options.search_rate is not None:
                limiter.prune(limiter.secondly, now, 1.0)
                if len(limiter.secondly) >= options.search_rate:
                    extra = {"Retry-After": "1"} if options.send_retry_after else {}
                    group = f"publicapi:private-app-secondly:{abs(hash(token)) % 10**7}"
                    return _limited("SECONDLY", headers=extra, groupName=group), {}
                limiter.secondly.append(now)
            burst.append(now)
            limiter.daily[token] += 1
            # Search answers carry no rate-limit headers (as observed on HubSpot).
            return None, {} if search else self._limit_headers(token, len(burst))

    def _limit_headers(self, token: str, in_window: int) -> dict[str, str]:
        options, headers = self.state.options, {}
        if options.daily_limit is not None:
            headers["X-HubSpot-RateLimit-Daily"] = str(options.daily_limit)
            remaining = options.daily_limit - self.state.limiter.daily[token]
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(remaining)
        if options.rate_limit is not None:
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = "10000"
            headers["X-HubSpot-RateLimit-Max"] = str(options.rate_limit)
            headers["X-HubSpot-RateLimit-Remaining"] = str(max(0, options.rate_limit - in_window))
        return headers

    # -- faults ------------------------------------------------------------------------------

    async def injected_fault(self, request: Request) -> tuple[Fault | None, Response | None]:
        """The fault injected into this request, if any, and the answer that replaces the real one
        (None when the fault spoils the real answer instead, or only delays it)."""
        state = self.state
        with state.lock:
            fault = pick_fault(state.faults, request.method, request.url.path, state.rng)
        if fault is None:
            return None, None
        state.counts[f"fault:{fault.kind}"] += 1
        return fault, await _fault_answer(fault, request, state.holds)

    async def after_fault(self, fault: Fault, request: Request, response: Response) -> Response:
        """Faults that spoil a real answer, or change data right after it was served."""
        if fault.kind == "truncate":
            body = bytes(response.body)
            return Response(body[: len(body) // 2], status_code=200, media_type="application/json")
        if fault.kind == "duplicate":
            body = orjson.loads(bytes(response.body))
            listing, cursor = await page_signature(request)
            previous_cursor, previous = self.state.previous.get(listing, ("", []))
            # The previous page: not this one again (a retried request has the same cursor).
            repeated = previous[-fault.records :] if previous_cursor != cursor else []
            if isinstance(body, dict) and isinstance(body.get("results"), list) and repeated:
                body["results"] = [*repeated, *body["results"]]
                kept = {k: v for k, v in response.headers.items() if k.lower().startswith("x-")}
                return JSONResponse(body, headers=kept)
        if fault.kind == "modify" and "object_type" in request.path_params:
            self.store.edit_random(object_type_of(request), fault.records)
        return response

    async def remember_page(self, request: Request, results: list[Any]) -> None:
        """Keep a page's results for the `duplicate` fault (only while one is configured)."""
        if any(f.kind == "duplicate" for f in self.state.faults):
            listing, cursor = await page_signature(request)
            self.state.previous[listing] = (cursor, results)


def _limited(policy: str, *, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    message = RATE_LIMIT_MESSAGES.get(policy, "rate limited")
    return error(429, message, errorType="RATE_LIMIT", policyName=policy, headers=headers, **extra)


async def _fault_answer(fault: Fault, request: Request, holds: Holds) -> Response | None:
    """The answer a fault sends instead of the real one (None: the real one, maybe spoiled later)."""
    if await waited(fault, request, holds):
        return None
    if fault.kind == "status":
        if fault.body == "html":
            html = (
                f"<html><head><title>{fault.status} Bad Gateway</title></head><body>cloudflare</body></html>"
            )
            headers = {"Server": "cloudflare", "CF-Ray": uuid.uuid4().hex[:16]}
            return Response(html, status_code=fault.status, media_type="text/html", headers=headers)
        return error(fault.status, "internal error", "INTERNAL_ERROR")
    if fault.kind == "rate_limit":
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        return _limited(fault.policy, headers=headers)
    if fault.kind == "malformed":
        return Response(
            '{"results":[{"id":"1","properties":{"email":"trunc',
            status_code=200,
            media_type="application/json",
        )
    return None
