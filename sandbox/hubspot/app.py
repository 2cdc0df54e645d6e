"""The HubSpot sandbox as an ASGI app: HubSpot's paths, parameters, JSON shapes, caps, errors and
rate limits, plus admin routes under `/_sandbox/` that move time, change data and inject faults."""

from __future__ import annotations

import asyncio
import json
import math
import random
import threading
import urllib.parse
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse as _StarletteJSONResponse
from starlette.responses import Response
from starlette.routing import Route

from sandbox.clock import DateHeaderMiddleware
from sandbox.faults import Fault, pick_fault
from sandbox.hubspot.analytics import DEFAULT_LIMIT, WebAnalytics
from sandbox.hubspot.data import iso
from sandbox.hubspot.legacy import Handler, association_type, legacy_routes
from sandbox.hubspot.params import int_param, list_param
from sandbox.hubspot.store import (
    ASSOCIATION_TYPE_IDS,
    OBJECT_TYPES,
    SINGULAR,
    PortalStore,
    SandboxError,
)

PAGE_MAX = 100
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
PAGE_MAX_WITH_HISTORY = 50
OWNERS_PAGE_MAX = 500
ASSOCIATION_BATCH_MAX = 1000
BATCH_READ_MAX = 100
MAX_URL_LENGTH = 8192  # longer request lines get HubSpot's 414
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports both API Key and OAuth 2.0 authentication "
    "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class JSONResponse(_StarletteJSONResponse):
    """Starlette's JSON answer, encoded by orjson: the same compact UTF-8 text, a fraction of the
    CPU, so the sandbox stays light next to the sync it serves on the same machine."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


# Options the admin route may change at run time.
OPTION_KEYS = (
    "rate_limit",
    "search_rate",
    "daily_limit",
    "send_retry_after",
    "search_lag_seconds",
    "search_id_order",
    "oauth_token_lifetime",
    "oauth_scopes",
    "token_scopes",
    "email_stats_omit_every",
    "latency_ms",
)

# The read scopes of the endpoints the sandbox serves (HubSpot's names).
ALL_SCOPES = (
    "oauth",
    "crm.objects.contacts.read",
    "crm.objects.companies.read",
    "crm.objects.deals.read",
    "crm.objects.owners.read",
    "crm.schemas.contacts.read",
    "crm.schemas.companies.read",
    "crm.schemas.deals.read",
    "content",
    "business-intelligence",
)


def required_scope(path: str) -> str | None:
    """The scope HubSpot asks of a token for a path (None: no particular one)."""
    parts = path.strip("/").split("/")
    if parts[:1] == ["crm"] and parts[3:4] == ["tickets"]:
        return "tickets"  # the portal has no Service Hub: no token carries it
    if parts[:3] == ["crm", "v3", "schemas"]:
        return "crm.schemas.custom.read"
    # An object type the portal does not know is a 400 (unknown type), not a missing scope.
    known = OBJECT_TYPES.get(parts[3]) if len(parts) >= 4 else None
    if known and parts[:3] in (["crm", "v3", "objects"], ["crm", "v4", "associations"]):
        return f"crm.objects.{known}.read"
    if parts[:3] == ["crm", "v3", "pipelines"]:
        return "crm.objects.deals.read"
    if parts[:3] == ["crm", "v3", "owners"]:
        return "crm.objects.owners.read"
    if known and parts[:3] == ["crm", "v3", "properties"]:
        return f"crm.schemas.{known}.read"
    if parts[:1] == ["marketing"]:
        return "content"
    # Legacy paths (sandbox/hubspot/legacy.py).
    if parts[:2] == ["companies", "v2"]:
        return "crm.schemas.companies.read" if parts[2:3] == ["properties"] else "crm.objects.companies.read"
    if parts[:2] == ["deals", "v1"]:
        return "crm.objects.deals.read"
    if parts[:3] == ["properties", "v1", "deals"]:
        return "crm.schemas.deals.read"
    if len(parts) >= 4 and parts[:3] == ["crm", "v3", "associations"] and association_type(parts[3]):
        return f"crm.objects.{association_type(parts[3])}.read"
    if parts[:1] == ["analytics"]:
        return "business-intelligence"
    return None


@dataclass
class SandboxOptions:
    """How the sandbox behaves; admin routes can change these at run time."""

    tokens: set[str] = field(default_factory=lambda: {"sandbox-token"})
    rate_limit: int | None = 190  # per rolling 10 s; None disables
    search_rate: int | None = 5  # per second
    daily_limit: int | None = 625_000
    send_retry_after: bool = True
    # Search sees a change only this many seconds after it happened (HubSpot's index lags).
    search_lag_seconds: float = 0.0
    # "lexicographic" sorts hs_object_id as text, as HubSpot's search has been seen to do.
    search_id_order: str = "numeric"
    # OAuth 2.0: the one public app allowed to exchange refresh tokens, how long the access
    # tokens it gets live, and the scopes they carry.
    oauth_client_id: str = "sandbox-client"
    oauth_client_secret: str = "sandbox-secret"
    oauth_refresh_tokens: set[str] = field(default_factory=lambda: {"sandbox-refresh"})
    oauth_token_lifetime: int = 1800
    oauth_scopes: list[str] = field(default_factory=lambda: list(ALL_SCOPES))
    # The scopes of the private apps' tokens (`tokens`).
    token_scopes: list[str] = field(default_factory=lambda: list(ALL_SCOPES))
    # HubSpot's known bug: with includeStats=true some emails are missing from the listing. N > 0
    # leaves out every N-th email of such listings (0: off).
    email_stats_omit_every: int = 0
    # Added to every API answer (real HubSpot round trips take 100–500 ms).
    latency_ms: int = 0


class _Limiter:
    """HubSpot's rolling windows, counted on the sandbox clock (so advancing time frees them)."""

    def __init__(self) -> None:
        self.burst: dict[str, deque[float]] = {}
        self.secondly: deque[float] = deque()
        self.daily: Counter[str] = Counter()

    @staticmethod
    def _window(times: deque[float], now: float, interval: float) -> None:
        while times and times[0] <= now - interval:
            times.popleft()


class SandboxState:
    """The mutable parts of one sandbox: store, options, faults, counters."""

    def __init__(self, store: PortalStore, options: SandboxOptions, *, seed: int = 1) -> None:
        self.store = store
        self.options = options
        self.faults: list[Fault] = []
        self.limiter = _Limiter()
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        # OAuth access tokens handed out, with their expiry on the sandbox clock.
        self.oauth_tokens: dict[str, datetime] = {}
        # The results of the latest list or search page per path (for the `duplicate` fault).
        self.previous: dict[str, tuple[str, list[Any]]] = {}


def _error(
    status: int,
    message: str,
    category: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": str(uuid.uuid4())}
    if category:
        body["category"] = category
    body.update(extra)
    hdrs = {"X-HubSpot-Correlation-Id": body["correlationId"], **(headers or {})}
    return JSONResponse(body, status_code=status, headers=hdrs)


async def _page_signature(request: Request) -> tuple[str, str]:
    """What identifies "the same listing" across its pages (path and query, or search body,
    without the cursor), and the cursor: (listing, cursor)."""
    query = sorted((k, v) for k, v in request.query_params.multi_items() if k != "after")
    signature = f"{request.url.path}?{query}"
    cursor = [request.query_params.get("after", "")]
    if request.method == "POST":
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError:
            body = {}
        if isinstance(body, dict):
            cursor.append(str(body.pop("after", "")))
            # Keyset paging moves its `hs_object_id > last` filter on every page: a cursor too.
            for group in body.get("filterGroups") or []:
                if isinstance(group, dict) and isinstance(group.get("filters"), list):
                    keep = []
                    for f in group["filters"]:
                        if (
                            isinstance(f, dict)
                            and f.get("propertyName") == "hs_object_id"
                            and f.get("operator") in ("GT", "GTE")
                        ):
                            cursor.append(str(f.get("value")))
                        else:
                            keep.append(f)
                    group["filters"] = keep
        signature += json.dumps(body, sort_keys=True)
    return signature, "|".join(cursor)


def _object_type(request: Request) -> str:
    raw = request.path_params["object_type"]
    object_type = OBJECT_TYPES.get(raw)
    if object_type is None:
        raise SandboxError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {raw}")
    return object_type


def create_app(state: SandboxState) -> DateHeaderMiddleware:
    store = state.store
    analytics = WebAnalytics(store)

    # -- gatekeeping: auth, URL length, rate limits, faults ----------------------------------

    def missing_scope(request: Request, granted: list[str]) -> Response | None:
        scope = required_scope(request.url.path)
        if scope is None or scope in granted:
            return None
        return _error(
            403,
            "One or more of the following scopes are required.",
            "MISSING_SCOPES",
            context={"requiredGranularScopes": [scope], "links": ["https://developers.hubspot.com/scopes"]},
        )

    def check_auth(request: Request) -> tuple[Response | None, str]:
        """(refusal, the key the request's rate limits are counted under)."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        options = state.options
        if token is not None and "hapikey" not in request.query_params:
            if token in options.tokens:
                # A private app's token carries the scopes its app was given.
                return missing_scope(request, options.token_scopes), token
            expires = state.oauth_tokens.get(token)
            if expires is not None:
                now = store.clock.now()
                if now >= expires:
                    ago = int((now - expires).total_seconds())
                    return _error(
                        401,
                        f"The OAuth token used to make this call expired {ago} second(s) ago.",
                        "EXPIRED_AUTHENTICATION",
                        headers={"x-hubspot-auth-failure": "401 Unauthorized"},
                        context={"expire time": [iso(expires)]},
                    ), token
                refused = missing_scope(request, options.oauth_scopes)
                if refused is not None:
                    return refused, token
                # Limits of an OAuth app count per app and portal, not per access token.
                return None, f"oauth:{options.oauth_client_id}"
        return _error(
            401,
            AUTH_MESSAGE,
            "INVALID_AUTHENTICATION",
            headers={"x-hubspot-auth-failure": "401 Unauthorized"},
        ), ""

    def check_limits(token: str, search: bool) -> tuple[Response | None, dict[str, str]]:
        options = state.options
        now = store.clock.monotonic()
        limiter = state.limiter
        headers: dict[str, str] = {}
        with state.lock:
            if options.daily_limit is not None and limiter.daily[token] >= options.daily_limit:
                return _error(
                    429,
                    "You have reached your daily limit.",
                    errorType="RATE_LIMIT",
                    policyName="DAILY",
                    requestId=str(uuid.uuid4()),
                ), headers
            burst = limiter.burst.setdefault(token, deque())
            if options.rate_limit is not None:
                limiter._window(burst, now, 10.0)
                if len(burst) >= options.rate_limit:
                    extra = {}
                    if options.send_retry_after:
                        extra["Retry-After"] = str(max(1, math.ceil(burst[0] + 10.0 - now)))
                    return _error(
                        429,
                        "You have reached your ten_secondly_rolling limit.",
                        errorType="RATE_LIMIT",
                        policyName="TEN_SECONDLY_ROLLING",
                        headers=extra,
                        groupName=f"publicapi:private-app-api-calls-ten-secondly:{abs(hash(token)) % 10**7}",
                    ), headers
            if search and options.search_rate is not None:
                limiter._window(limiter.secondly, now, 1.0)
                if len(limiter.secondly) >= options.search_rate:
                    extra = {"Retry-After": "1"} if options.send_retry_after else {}
                    return _error(
                        429,
                        "You have reached your secondly limit.",
                        errorType="RATE_LIMIT",
                        policyName="SECONDLY",
                        headers=extra,
                        groupName=f"publicapi:private-app-secondly:{abs(hash(token)) % 10**7}",
                    ), headers
                limiter.secondly.append(now)
            burst.append(now)
            limiter.daily[token] += 1
            if not search:
                # Search answers carry no rate-limit headers (as observed on HubSpot).
                if options.daily_limit is not None:
                    headers["X-HubSpot-RateLimit-Daily"] = str(options.daily_limit)
                    headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(
                        options.daily_limit - limiter.daily[token]
                    )
                if options.rate_limit is not None:
                    headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = "10000"
                    headers["X-HubSpot-RateLimit-Max"] = str(options.rate_limit)
                    headers["X-HubSpot-RateLimit-Remaining"] = str(max(0, options.rate_limit - len(burst)))
        return None, headers

    def take_fault(method: str, path: str) -> Fault | None:
        with state.lock:
            return pick_fault(state.faults, method, path, state.rng)

    async def apply_fault(fault: Fault) -> Response | None:
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay)
            return None
        if fault.kind == "status":
            if fault.body == "html":
                html = (
                    f"<html><head><title>{fault.status} Bad Gateway</title></head>"
                    "<body>cloudflare</body></html>"
                )
                return Response(
                    html,
                    status_code=fault.status,
                    media_type="text/html",
                    headers={"Server": "cloudflare", "CF-Ray": uuid.uuid4().hex[:16]},
                )
            return _error(fault.status, "internal error", "INTERNAL_ERROR")
        if fault.kind == "rate_limit":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            messages = {
                "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
                "SECONDLY": "You have reached your secondly limit.",
                "DAILY": "You have reached your daily limit.",
            }
            return _error(
                429,
                messages.get(fault.policy, "rate limited"),
                errorType="RATE_LIMIT",
                policyName=fault.policy,
                headers=headers,
            )
        if fault.kind == "malformed":
            return Response(
                '{"results":[{"id":"1","properties":{"email":"trunc',
                status_code=200,
                media_type="application/json",
            )
        return None

    async def injected_fault(request: Request) -> tuple[Fault | None, Response | None]:
        """The fault injected into this request, if any, and the answer that replaces the real one
        (None when the fault spoils the real answer instead, or only delays it)."""
        fault = take_fault(request.method, request.url.path)
        if fault is None:
            return None, None
        state.counts[f"fault:{fault.kind}"] += 1
        return fault, await apply_fault(fault)

    async def after_fault(fault: Fault, request: Request, response: Response) -> Response:
        """Faults that spoil a real answer, or change data right after it was served."""
        if fault.kind == "truncate":
            body = bytes(response.body)
            return Response(body[: len(body) // 2], status_code=200, media_type="application/json")
        if fault.kind == "duplicate":
            body = orjson.loads(bytes(response.body))
            listing, cursor = await _page_signature(request)
            previous_cursor, previous = state.previous.get(listing, ("", []))
            # The previous page: not this one again (a retried request has the same cursor).
            repeated = previous[-fault.records :] if previous_cursor != cursor else []
            if isinstance(body, dict) and isinstance(body.get("results"), list) and repeated:
                body["results"] = [*repeated, *body["results"]]
                kept = {k: v for k, v in response.headers.items() if k.lower().startswith("x-")}
                return JSONResponse(body, headers=kept)
        if fault.kind == "modify" and "object_type" in request.path_params:
            store.edit_random(_object_type(request), fault.records)
        return response

    async def remember_page(request: Request, results: list[Any]) -> None:
        """Keep a page's results for the `duplicate` fault (only while one is configured)."""
        if any(f.kind == "duplicate" for f in state.faults):
            listing, cursor = await _page_signature(request)
            state.previous[listing] = (cursor, results)

    def api(search: bool = False) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            async def endpoint(request: Request) -> Response:
                state.counts["requests"] += 1
                if len(str(request.url)) > MAX_URL_LENGTH:
                    state.counts["414"] += 1
                    return _error(414, "URI Too Long")
                denied, limit_key = check_auth(request)
                if denied is not None:
                    state.counts[str(denied.status_code)] += 1
                    return denied
                limited, headers = check_limits(limit_key, search)
                if limited is not None:
                    state.counts["429"] += 1
                    return limited
                if state.options.latency_ms:
                    await asyncio.sleep(state.options.latency_ms / 1000)
                fault, replaced = await injected_fault(request)
                if replaced is not None:
                    return replaced
                try:
                    response = await handler(request)
                except ClientDisconnect:
                    # The client gave up (its timeout ran out during a `delay` fault).
                    return Response(status_code=499)
                except SandboxError as exc:
                    extra = {"context": exc.context} if exc.context else {}
                    return _error(exc.status, exc.message, exc.category, **extra)
                if fault is not None and response.status_code == 200:
                    response = await after_fault(fault, request, response)
                response.headers.update(headers)
                response.headers["X-HubSpot-Correlation-Id"] = str(uuid.uuid4())
                return response

            return endpoint

        return decorate

    # -- HubSpot API -------------------------------------------------------------------------

    @api()
    async def list_objects(request: Request) -> Response:
        object_type = _object_type(request)
        history = list_param(request, "propertiesWithHistory")
        cap = PAGE_MAX_WITH_HISTORY if history else PAGE_MAX
        limit = max(1, min(int_param(request, "limit", 10), cap))
        after_raw = request.query_params.get("after") or "0"
        if not after_raw.isdigit():
            raise SandboxError(400, "VALIDATION_ERROR", f"Invalid after: {after_raw}")
        archived = request.query_params.get("archived", "false").lower() == "true"
        properties = list_param(request, "properties")
        associations = list_param(request, "associations")
        page = store.list_page(object_type, after=int(after_raw), limit=limit, archived=archived)
        body: dict[str, Any] = {
            "results": [store.render(object_type, r, properties, associations, history) for r in page.records]
        }
        await remember_page(request, body["results"])
        if page.next_after is not None:
            query = dict(request.query_params)
            query["after"] = page.next_after
            link = str(request.url.replace_query_params(**query))
            body["paging"] = {"next": {"after": page.next_after, "link": link}}
        return JSONResponse(body)

    @api()
    async def get_object(request: Request) -> Response:
        object_type = _object_type(request)
        raw_id = request.path_params["object_id"]
        archived = request.query_params.get("archived", "false").lower() == "true"
        record = None
        if raw_id.isdigit():
            # A merged-away id answers with the survivor (whose id differs from the one asked for).
            record = store.get(object_type, store.canonical_id(object_type, int(raw_id)), archived=archived)
        if record is None:
            raise SandboxError(
                404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.", {"id": [raw_id]}
            )
        return JSONResponse(
            store.render(
                object_type,
                record,
                list_param(request, "properties"),
                list_param(request, "associations"),
                list_param(request, "propertiesWithHistory"),
            )
        )

    async def _json(request: Request) -> Any:
        try:
            return json.loads(await request.body() or b"{}")
        except json.JSONDecodeError:
            raise SandboxError(400, "VALIDATION_ERROR", "Invalid input JSON on line 1") from None

    @api(search=True)
    async def search(request: Request) -> Response:
        object_type = _object_type(request)
        body = await _json(request)
        if not isinstance(body, dict):
            raise SandboxError(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
        options = state.options
        total, records, offset = store.search(
            object_type,
            body,
            lag_seconds=options.search_lag_seconds,
            id_order=options.search_id_order,
        )
        properties = body.get("properties") if isinstance(body.get("properties"), list) else None
        out: dict[str, Any] = {
            "total": total,
            "results": [store.render(object_type, r, properties) for r in records],
        }
        await remember_page(request, out["results"])
        if offset + len(records) < total:
            out["paging"] = {"next": {"after": str(offset + len(records))}}
        return JSONResponse(out)

    @api()
    async def batch_read(request: Request) -> Response:
        object_type = _object_type(request)
        body = await _json(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        history = body.get("propertiesWithHistory") if isinstance(body, dict) else None
        cap = PAGE_MAX_WITH_HISTORY if history else BATCH_READ_MAX
        if not isinstance(inputs, list) or len(inputs) > cap:
            raise SandboxError(400, "VALIDATION_ERROR", f"inputs must be a list of at most {cap} ids")
        archived = request.query_params.get("archived", "false").lower() == "true"
        results, missing = [], []
        for item in inputs:
            raw_id = str((item or {}).get("id", ""))
            record = None
            if raw_id.isdigit():
                record = store.get(
                    object_type, store.canonical_id(object_type, int(raw_id)), archived=archived
                )
            if record is None:
                missing.append(raw_id)
            else:
                results.append(
                    store.render(object_type, record, body.get("properties"), history=history or None)
                )
        now = iso(store.clock.now())
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
        if missing:
            out["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": f"Could not get some {SINGULAR[object_type].upper()} objects, they may be "
                    "deleted or not exist. Check that ids are valid.",
                    "context": {"ids": missing},
                }
            ]
            out["numErrors"] = len(missing)
            return JSONResponse(out, status_code=207)
        return JSONResponse(out)

    @api()
    async def merge(request: Request) -> Response:
        object_type = _object_type(request)
        body = await _json(request)
        try:
            primary = int(str(body.get("primaryObjectId")))
            merged = int(str(body.get("objectIdToMerge")))
        except (AttributeError, TypeError, ValueError):
            raise SandboxError(
                400, "VALIDATION_ERROR", "primaryObjectId and objectIdToMerge must be object ids"
            ) from None
        record = store.merge(object_type, primary, merged)
        return JSONResponse(store.render(object_type, record, list(record["properties"])))

    @api()
    async def associations_batch(request: Request) -> Response:
        from_type = OBJECT_TYPES.get(request.path_params["from_type"])
        to_type = OBJECT_TYPES.get(request.path_params["to_type"])
        type_id = ASSOCIATION_TYPE_IDS.get((from_type or "", to_type or ""), 0)
        labels = [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]
        out, status = store.association_batch(
            from_type,
            to_type,
            await _json(request),
            ASSOCIATION_BATCH_MAX,
            lambda i: {"toObjectId": i, "associationTypes": labels},
        )
        return JSONResponse(out, status_code=status)

    @api()
    async def pipelines(request: Request) -> Response:
        object_type = _object_type(request)
        if object_type == "deals":
            return JSONResponse({"results": store.pipelines})
        if object_type == "contacts":
            stages = [
                {
                    "id": value,
                    "label": label,
                    "displayOrder": i,
                    "metadata": {"isClosed": "false", "state": "OPEN"},
                    "archived": False,
                    "createdAt": "1970-01-01T00:00:00Z",
                    "updatedAt": "1970-01-01T00:00:00Z",
                    "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                }
                for i, (value, label) in enumerate(store.lifecycle_options)
            ]
            return JSONResponse(
                {
                    "results": [
                        {
                            "id": "contacts-lifecycle-pipeline",
                            "label": "Lifecycle Stage Pipeline",
                            "displayOrder": 0,
                            "archived": False,
                            "stages": stages,
                            "createdAt": "1970-01-01T00:00:00Z",
                            "updatedAt": "1970-01-01T00:00:00Z",
                        }
                    ]
                }
            )
        return JSONResponse({"results": []})

    @api()
    async def owners(request: Request) -> Response:
        limit = max(1, min(int_param(request, "limit", 100), OWNERS_PAGE_MAX))
        archived = request.query_params.get("archived", "false").lower() == "true"
        email_filter = request.query_params.get("email")
        items = [
            o
            for o in store.owners
            if bool(o.get("archived")) == archived
            and (email_filter is None or o.get("email") == email_filter)
        ]
        after = request.query_params.get("after")
        start = 0
        if after:
            start = (
                next((i for i, o in enumerate(items) if int(o["id"]) >= int(after)), len(items))
                if after.isdigit()
                else 0
            )
        page = items[start : start + limit]
        body: dict[str, Any] = {"results": page}
        if start + limit < len(items):
            body["paging"] = {
                "next": {
                    "after": items[start + limit]["id"],
                    "link": str(request.url.include_query_params(after=items[start + limit]["id"])),
                }
            }
        return JSONResponse(body)

    @api()
    async def custom_schemas(_request: Request) -> Response:
        return JSONResponse({"results": []})  # the portal defines no custom objects

    @api()
    async def properties(request: Request) -> Response:
        object_type = _object_type(request)
        with store.lock:
            definitions = store.property_definitions(object_type)
        name = request.path_params.get("name")
        if name is not None:
            for definition in definitions:
                if definition["name"] == name:
                    return JSONResponse(definition)
            raise SandboxError(
                404, "OBJECT_NOT_FOUND", f"Unable to find property {name} for object type {object_type}"
            )
        return JSONResponse({"results": definitions})

    # -- admin -------------------------------------------------------------------------------

    async def admin_clock(request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            store.clock.advance(float(body.get("advance_seconds", 0)))
        return JSONResponse({"now": iso(store.clock.now()), "frozen": store.clock.frozen})

    async def admin_faults(request: Request) -> Response:
        if request.method == "DELETE":
            with state.lock:
                state.faults.clear()
            return JSONResponse({"faults": []})
        if request.method == "POST":
            body = await request.json()
            with state.lock:
                for spec in body.get("faults", []):
                    state.faults.append(Fault(**spec))
        with state.lock:
            return JSONResponse({"faults": [f.__dict__ for f in state.faults]})

    async def admin_options(request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            with state.lock:
                for key in OPTION_KEYS:
                    if key in body:
                        setattr(state.options, key, body[key])
                if body.get("reset_limits"):
                    state.limiter = _Limiter()
        return JSONResponse({key: getattr(state.options, key) for key in OPTION_KEYS})

    async def admin_stats(_request: Request) -> Response:
        return JSONResponse(dict(state.counts))

    async def admin_simulate(request: Request) -> Response:
        body = await request.json()
        allowed = {
            "days",
            "new_contacts",
            "stage_changes",
            "deals_created",
            "deals_won",
            "deals_lost",
            "archive",
            "same_timestamp",
        }
        return JSONResponse(store.simulate(**{k: v for k, v in body.items() if k in allowed}))

    def _at(body: dict[str, Any]) -> datetime | None:
        return datetime.fromisoformat(body["at"]) if body.get("at") else None

    async def admin_object(request: Request) -> Response:
        object_type = _object_type(request)
        body = await request.json() if request.method != "DELETE" else {}
        try:
            if request.method == "POST":
                record = store.create(
                    object_type,
                    body.get("properties", {}),
                    at=_at(body),
                    associations=body.get("associations"),
                )
            elif request.method == "PATCH":
                record = store.update(
                    object_type,
                    int(request.path_params["object_id"]),
                    body.get("properties", {}),
                    at=_at(body),
                )
            elif request.query_params.get("purge") == "true":
                store.purge(object_type, int(request.path_params["object_id"]))
                return JSONResponse({"purged": request.path_params["object_id"]})
            else:
                record = store.archive(object_type, int(request.path_params["object_id"]))
        except SandboxError as exc:
            return _error(exc.status, exc.message, exc.category)
        return JSONResponse(store.render(object_type, record, list(record["properties"])))

    async def admin_restore(request: Request) -> Response:
        try:
            record = store.restore(_object_type(request), int(request.path_params["object_id"]))
        except SandboxError as exc:
            return _error(exc.status, exc.message, exc.category)
        return JSONResponse(store.render(_object_type(request), record, list(record["properties"])))

    async def admin_touch(request: Request) -> Response:
        body = await request.json()
        object_type = OBJECT_TYPES[body["type"]]
        at = _at(body) or store.clock.now()
        if "ids" in body:
            ids = [int(i) for i in body["ids"]]
        else:
            with store.lock:
                ids = [i for i in store.ids[object_type] if not store.objects[object_type][i]["archived"]]
            ids = ids[: int(body.get("count", len(ids)))]
        return JSONResponse({"touched": store.touch(object_type, ids, at=at), "at": iso(at)})

    async def admin_truth(request: Request) -> Response:
        return JSONResponse({"results": store.truth(_object_type(request))})

    def _time_param(request: Request, name: str) -> datetime | None:
        raw = request.query_params.get(name)
        if not raw:
            return None
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise SandboxError(400, "VALIDATION_ERROR", f"Invalid {name}: {raw}") from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @api()
    async def list_emails(request: Request) -> Response:
        """`GET /marketing/v3/emails`: id order, offset cursor, `total`, exclusive time bounds."""
        limit = max(1, min(int_param(request, "limit", 10), EMAILS_PAGE_MAX))
        after_raw = request.query_params.get("after") or "0"
        if not after_raw.isdigit():
            raise SandboxError(400, "VALIDATION_ERROR", f"Invalid after: {after_raw}")
        stats = request.query_params.get("includeStats", "false").lower() == "true"
        archived = request.query_params.get("archived", "false").lower() == "true"
        bounds = {name: _time_param(request, name) for name in EMAIL_TIME_FILTERS}
        matches = []
        for item in store.emails:
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
        offset = int(after_raw)
        page = matches[offset : offset + limit]
        omit = state.options.email_stats_omit_every
        shown = page
        if stats and omit > 0:
            shown = [e for i, e in enumerate(page, start=offset) if (i + 1) % omit != 0]
        body: dict[str, Any] = {
            "total": len(matches),
            "results": [store.render_email(e, stats=stats) for e in shown],
        }
        if offset + limit < len(matches):
            nxt = str(offset + limit)
            link = str(request.url.replace_query_params(**{**dict(request.query_params), "after": nxt}))
            body["paging"] = {"next": {"after": nxt, "link": link}}
        return JSONResponse(body)

    @api()
    async def get_email(request: Request) -> Response:
        email_id = request.path_params["email_id"]
        for item in store.emails:
            if item["id"] == email_id:
                stats = request.query_params.get("includeStats", "false").lower() == "true"
                return JSONResponse(store.render_email(item, stats=stats))
        raise SandboxError(404, "OBJECT_NOT_FOUND", f"No email with id {email_id}", {"id": [email_id]})

    @api()
    async def analytics_report(request: Request) -> Response:
        """`GET /analytics/v2/reports/{breakdown_by}/{time_period}` (Reporting API v2)."""
        query = request.query_params
        body = analytics.report(
            request.path_params["breakdown_by"],
            request.path_params["time_period"],
            start=query.get("start"),
            end=query.get("end"),
            d1=query.get("d1"),
            limit=int_param(request, "limit", DEFAULT_LIMIT),
            offset=int_param(request, "offset", 0),
        )
        return JSONResponse(body)

    async def oauth_token(request: Request) -> Response:
        """`POST /oauth/{v1,v3,<date>}/token`: a refresh token for a new access token (form body)."""
        state.counts["oauth:token"] += 1
        _, replaced = await injected_fault(request)
        if replaced is not None:
            return replaced
        form = {
            k: v[-1]
            for k, v in urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace")).items()
        }
        options = state.options

        def refused(status: str, message: str) -> Response:
            body = {"status": status, "message": message, "correlationId": str(uuid.uuid4())}
            return JSONResponse(body, status_code=400)

        if form.get("grant_type") != "refresh_token":
            return refused("BAD_GRANT_TYPE", "grant_type must be refresh_token in the sandbox")
        if form.get("client_id") != options.oauth_client_id:
            return refused("BAD_CLIENT_ID", "missing or unknown client id")
        if form.get("client_secret") != options.oauth_client_secret:
            return refused("BAD_CLIENT_SECRET", "missing or invalid client secret")
        refresh = form.get("refresh_token")
        if refresh not in options.oauth_refresh_tokens:
            return refused("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        access = f"sandbox-oauth-{uuid.uuid4().hex}"
        with state.lock:
            state.oauth_tokens[access] = store.clock.now() + timedelta(seconds=options.oauth_token_lifetime)
        state.counts["oauth:issued"] += 1
        return JSONResponse(
            {
                "token_type": "bearer",
                "token_use": "access_token",
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": options.oauth_token_lifetime,
                "hub_id": 1234567,
                "scopes": list(options.oauth_scopes),
            }
        )

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "now": iso(store.clock.now())})

    routes = [
        Route("/crm/v3/objects/{object_type}", list_objects, methods=["GET"]),
        Route("/crm/v3/objects/{object_type}/search", search, methods=["POST"]),
        Route("/crm/v3/objects/{object_type}/batch/read", batch_read, methods=["POST"]),
        Route("/crm/v3/objects/{object_type}/merge", merge, methods=["POST"]),
        Route("/crm/v3/objects/{object_type}/{object_id}", get_object, methods=["GET"]),
        Route("/crm/v4/associations/{from_type}/{to_type}/batch/read", associations_batch, methods=["POST"]),
        Route("/crm/v3/pipelines/{object_type}", pipelines, methods=["GET"]),
        Route("/crm/v3/owners", owners, methods=["GET"]),
        Route("/crm/v3/owners/", owners, methods=["GET"]),
        Route("/crm/v3/properties/{object_type}", properties, methods=["GET"]),
        Route("/crm/v3/schemas", custom_schemas, methods=["GET"]),
        Route("/crm/v3/properties/{object_type}/{name}", properties, methods=["GET"]),
        Route("/marketing/v3/emails", list_emails, methods=["GET"]),
        Route("/marketing/v3/emails/{email_id}", get_email, methods=["GET"]),
        Route("/analytics/v2/reports/{breakdown_by}/{time_period:path}", analytics_report, methods=["GET"]),
        Route("/oauth/{version}/token", oauth_token, methods=["POST"]),
        *legacy_routes(store, api, _json),
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/clock", admin_clock, methods=["GET", "POST"]),
        Route("/_sandbox/faults", admin_faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/options", admin_options, methods=["GET", "POST"]),
        Route("/_sandbox/stats", admin_stats, methods=["GET"]),
        Route("/_sandbox/simulate", admin_simulate, methods=["POST"]),
        Route("/_sandbox/touch", admin_touch, methods=["POST"]),
        Route("/_sandbox/objects/{object_type}", admin_object, methods=["POST"]),
        Route("/_sandbox/objects/{object_type}/{object_id}", admin_object, methods=["PATCH", "DELETE"]),
        Route("/_sandbox/objects/{object_type}/{object_id}/restore", admin_restore, methods=["POST"]),
        Route("/_sandbox/truth/{object_type}", admin_truth, methods=["GET"]),
    ]

    async def not_found(request: Request, _exc: Exception) -> Response:
        return _error(404, f"Resource not found: {request.method} {request.url.path}", "OBJECT_NOT_FOUND")

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    return DateHeaderMiddleware(app, store.clock)
