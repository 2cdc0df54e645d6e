"""The Mailchimp sandbox as an ASGI app: Marketing API 3.0 paths, `count`/`offset`/`total_items`
paging, `fields`/`exclude_fields`, problem+json errors, API-key and data-centre checks, and the
limit of 10 simultaneous connections; admin routes under `/_sandbox/` move time, change the
audience, send campaigns and inject faults."""

from __future__ import annotations

import asyncio
import base64
import random
import threading
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse as _StarletteJSONResponse
from starlette.responses import Response
from starlette.routing import Route

from sandbox.clock import DateHeaderMiddleware, SandboxClock
from sandbox.faults import HTML_502, Fault, pick_fault
from sandbox.mailchimp.data import (
    Account,
    HexIds,
    Person,
    attribute_unsubscribe,
    campaign_report,
    grow_report,
    last_campaign_before,
    list_stats,
    mc_time,
    new_member,
)

Handler = Callable[[Request], Awaitable[Response]]

PAGE_MAX = 1000
ERROR_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/"
WRONG_KEY = "Your API key may be invalid, or you've attempted to access the wrong datacenter."
TOO_MANY = "You have exceeded the limit of 10 simultaneous connections."


class JSONResponse(_StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class MailchimpError(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


@dataclass
class MailchimpOptions:
    """How the sandbox behaves; `/_sandbox/options` changes them at run time."""

    api_key: str = "0123456789abcdef0123456789abcdef-us6"
    oauth_tokens: set[str] = field(default_factory=lambda: {"sandbox-mailchimp-oauth"})
    max_connections: int = 10
    latency_ms: int = 0


class MailchimpState:
    def __init__(
        self, account: Account, clock: SandboxClock, options: MailchimpOptions, *, seed: int = 1
    ) -> None:
        self.account = account
        self.clock = clock
        self.options = options
        self.faults: list[Fault] = []
        self.counts: Counter[str] = Counter()
        self.lock = threading.RLock()
        self.rng = random.Random(seed ^ 0xC41)
        self.in_flight = 0
        # Bumped whenever the account changes; the last members query is kept for its version.
        self.version = 0
        self.member_queries: dict[Any, list[dict[str, Any]]] = {}

    @property
    def dc(self) -> str:
        return self.options.api_key.rsplit("-", 1)[-1]


def problem(status: int, title: str, detail: str) -> Response:
    """Mailchimp's error body (RFC 7807), with its request id echoed in `X-Request-Id`."""
    instance = str(uuid.uuid4())
    body = {"type": ERROR_TYPE, "title": title, "status": status, "detail": detail, "instance": instance}
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/problem+json; charset=utf-8",
        headers={"X-Request-Id": instance},
    )


def render(value: Any) -> Any:
    """Datetimes in Mailchimp's style; an unset time is the empty string, as Mailchimp sends it."""
    if isinstance(value, datetime):
        return mc_time(value)
    if isinstance(value, dict):
        return {
            k: ("" if v is None and k.endswith(("_time", "timestamp_signup")) else render(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [render(v) for v in value]
    return value


def select_fields(body: dict[str, Any], fields: str | None, exclude: str | None) -> dict[str, Any]:
    """`fields` / `exclude_fields`: comma-separated dot paths from the response root."""
    if fields and exclude:
        raise MailchimpError(400, "Bad Request", "fields and exclude_fields cannot be used together.")
    if fields:
        kept: dict[str, Any] = _keep(body, [p.split(".") for p in fields.split(",") if p])
        return kept
    if exclude:
        out = body
        for path in (p.split(".") for p in exclude.split(",") if p):
            out = _drop(out, path)
        return out
    return body


def _keep(value: Any, paths: list[list[str]]) -> Any:
    if isinstance(value, list):
        return [_keep(v, paths) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key in dict.fromkeys(p[0] for p in paths):
        if key not in value:
            continue
        rest = [p[1:] for p in paths if p[0] == key and len(p) > 1]
        whole = any(p[0] == key and len(p) == 1 for p in paths)
        out[key] = value[key] if whole or not rest else _keep(value[key], rest)
    return out


def _drop(value: Any, path: list[str]) -> Any:
    if isinstance(value, list):
        return [_drop(v, path) for v in value]
    if not isinstance(value, dict) or path[0] not in value:
        return value
    if len(path) == 1:
        return {k: v for k, v in value.items() if k != path[0]}
    return {**value, path[0]: _drop(value[path[0]], path[1:])}


def _time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise MailchimpError(
            400, "Invalid Resource", f"The value of {name} is not a valid date-time."
        ) from None
    if value.tzinfo is None:
        raise MailchimpError(400, "Invalid Resource", f"{name} needs a time zone offset.")
    return value


def _page(request: Request, items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    try:
        count = int(request.query_params.get("count", 10))
        offset = int(request.query_params.get("offset", 0))
    except ValueError:
        raise MailchimpError(400, "Invalid Resource", "count and offset must be integers.") from None
    count = max(0, min(count, PAGE_MAX))  # larger counts are clamped, as Mailchimp does
    return items[max(0, offset) : max(0, offset) + count], len(items)


def _between(value: datetime | None, since: datetime | None, before: datetime | None) -> bool:
    if since is None and before is None:
        return True
    if value is None:
        return False
    return (since is None or value >= since) and (before is None or value <= before)


def create_app(state: MailchimpState) -> DateHeaderMiddleware:
    account = state.account

    def authenticate(request: Request) -> Response | None:
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
        if key == state.options.api_key or key in state.options.oauth_tokens:
            return None
        return problem(401, "API Key Invalid", WRONG_KEY)

    async def apply_fault(fault: Fault) -> Response | None:
        if fault.kind == "delay":
            await asyncio.sleep(fault.delay)
            return None
        if fault.kind == "rate_limit":
            return problem(429, "TooManyRequests", TOO_MANY)
        if fault.kind == "status" and fault.body == "html":
            return Response(HTML_502, status_code=fault.status, media_type="text/html")
        if fault.kind == "status":
            return problem(
                fault.status,
                "InternalServerError",
                "A deep, internal error has occurred during the processing of your request.",
            )
        if fault.kind == "malformed":
            return Response('{"members":[{"id":"', status_code=200, media_type="application/json")
        return None

    def api(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            state.counts["requests"] += 1
            denied = authenticate(request)
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
                if state.options.latency_ms:
                    await asyncio.sleep(state.options.latency_ms / 1000)
                with state.lock:
                    fault = pick_fault(state.faults, request.method, request.url.path, state.rng)
                if fault is not None:
                    state.counts[f"fault:{fault.kind}"] += 1
                    replaced = await apply_fault(fault)
                    if replaced is not None:
                        return replaced
                try:
                    body = await handler(request)
                except MailchimpError as exc:
                    return problem(exc.status, exc.title, exc.detail)
                if fault is not None and fault.kind == "modify" and "list_id" in request.path_params:
                    with state.lock:
                        touch_members(state, request.path_params["list_id"], fault.records)
                return body
            finally:
                with state.lock:
                    state.in_flight -= 1

        return endpoint

    def collection(request: Request, key: str, items: list[dict[str, Any]], **extra: Any) -> Response:
        page, total = _page(request, items)
        body = {key: render(page), **extra, "total_items": total, "_links": []}
        return JSONResponse(
            select_fields(
                body, request.query_params.get("fields"), request.query_params.get("exclude_fields")
            )
        )

    def one(request: Request, item: dict[str, Any]) -> Response:
        body = render(item)
        return JSONResponse(
            select_fields(
                body, request.query_params.get("fields"), request.query_params.get("exclude_fields")
            )
        )

    def find_list(list_id: str) -> dict[str, Any]:
        for audience in account.lists:
            if audience["id"] == list_id:
                return audience
        raise MailchimpError(404, "Resource Not Found", "The requested resource could not be found.")

    def sort(request: Request, items: list[dict[str, Any]], allowed: tuple[str, ...]) -> list[dict[str, Any]]:
        name = request.query_params.get("sort_field")
        if name is None:
            return items
        if name not in allowed:
            raise MailchimpError(400, "Invalid Resource", f"sort_field must be one of {', '.join(allowed)}.")
        reverse = request.query_params.get("sort_dir", "ASC").upper() == "DESC"
        return sorted(
            items, key=lambda i: (i.get(name) is None, i.get(name) or datetime.min), reverse=reverse
        )

    @api
    async def ping(_request: Request) -> Response:
        return JSONResponse({"health_status": "Everything's Chimpy!"})

    @api
    async def root(_request: Request) -> Response:
        return JSONResponse(
            {
                "account_id": "sandbox",
                "account_name": "Sandbox AB",
                "role": "owner",
                "account_timezone": "Europe/Stockholm",
                "total_subscribers": sum(a["stats"]["member_count"] for a in account.lists),
            }
        )

    @api
    async def lists(request: Request) -> Response:
        with state.lock:
            items = list(account.lists)
        return collection(request, "lists", items, constraints={"may_create": True, "max_instances": 0})

    @api
    async def get_list(request: Request) -> Response:
        with state.lock:
            return one(request, find_list(request.path_params["list_id"]))

    @api
    async def members(request: Request) -> Response:
        list_id = request.path_params["list_id"]
        status = request.query_params.get("status")
        if request.query_params.get("unsubscribed_since") and status != "unsubscribed":
            raise MailchimpError(400, "Invalid Resource", "unsubscribed_since requires status=unsubscribed.")
        since = _time_param(request, "since_last_changed")
        before = _time_param(request, "before_last_changed")
        query = (
            list_id,
            status,
            since,
            before,
            request.query_params.get("sort_field"),
            request.query_params.get("sort_dir"),
        )
        with state.lock:
            find_list(list_id)
            # Paging re-asks the same query page after page: filter and sort it once per change.
            key = (state.version, query)
            items = state.member_queries.get(key)
            if items is None:
                items = [
                    m
                    for m in account.members[list_id]
                    if (m["status"] == status if status else m["status"] != "archived")
                    and _between(m["last_changed"], since, before)
                ]
                items = sort(request, items, ("timestamp_opt", "timestamp_signup", "last_changed"))
                state.member_queries = {key: items}
            return collection(request, "members", items, list_id=list_id)

    @api
    async def campaigns(request: Request) -> Response:
        q = request.query_params
        send = (_time_param(request, "since_send_time"), _time_param(request, "before_send_time"))
        create = (_time_param(request, "since_create_time"), _time_param(request, "before_create_time"))
        with state.lock:
            items = [
                c
                for c in account.campaigns
                if (not q.get("status") or c["status"] == q["status"])
                and (not q.get("type") or c["type"] == q["type"])
                and (not q.get("list_id") or c["recipients"]["list_id"] == q["list_id"])
                and _between(c["send_time"], *send)
                and _between(c["create_time"], *create)
            ]
            items = sort(request, items, ("create_time", "send_time"))
            return collection(request, "campaigns", [_with_summary(c) for c in items])

    def _with_summary(campaign: dict[str, Any]) -> dict[str, Any]:
        report = account.reports.get(campaign["id"])
        if report is None:
            return campaign
        return {
            **campaign,
            "report_summary": {
                "opens": report["opens"]["opens_total"],
                "unique_opens": report["opens"]["unique_opens"],
                "open_rate": report["opens"]["open_rate"],
                "clicks": report["clicks"]["clicks_total"],
                "subscriber_clicks": report["clicks"]["unique_subscriber_clicks"],
                "click_rate": report["clicks"]["click_rate"],
            },
        }

    @api
    async def get_campaign(request: Request) -> Response:
        with state.lock:
            for campaign in account.campaigns:
                if campaign["id"] == request.path_params["campaign_id"]:
                    return one(request, _with_summary(campaign))
        raise MailchimpError(404, "Resource Not Found", "The requested resource could not be found.")

    @api
    async def reports(request: Request) -> Response:
        since, before = _time_param(request, "since_send_time"), _time_param(request, "before_send_time")
        with state.lock:
            items = [
                account.reports[c["id"]]
                for c in account.campaigns
                if c["id"] in account.reports and _between(c["send_time"], since, before)
            ]
            return collection(request, "reports", items)

    @api
    async def get_report(request: Request) -> Response:
        with state.lock:
            report = account.reports.get(request.path_params["campaign_id"])
            if report is None:
                raise MailchimpError(404, "Resource Not Found", "The requested resource could not be found.")
            return one(request, report)

    @api
    async def unsubscribed(request: Request) -> Response:
        campaign_id = request.path_params["campaign_id"]
        with state.lock:
            if campaign_id not in account.reports:
                raise MailchimpError(404, "Resource Not Found", "The requested resource could not be found.")
            rows = account.unsubscribes.get(campaign_id, [])
            return collection(request, "unsubscribes", rows, campaign_id=campaign_id)

    async def metadata(request: Request) -> Response:
        """`GET https://login.mailchimp.com/oauth2/metadata`, served here: where the token's account lives."""
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        if token not in state.options.oauth_tokens:
            return JSONResponse(
                {"error": "invalid_token", "error_description": "Invalid token"}, status_code=401
            )
        base = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse(
            {
                "dc": state.dc,
                "role": "owner",
                "accountname": "Sandbox AB",
                "api_endpoint": base,
                "login_url": base,
            }
        )

    # -- admin -------------------------------------------------------------------------------

    async def admin_clock(request: Request) -> Response:
        if request.method == "POST":
            state.clock.advance(float((await request.json()).get("advance_seconds", 0)))
        return JSONResponse({"now": mc_time(state.clock.now())})

    async def admin_faults(request: Request) -> Response:
        with state.lock:
            if request.method == "DELETE":
                state.faults.clear()
            elif request.method == "POST":
                for spec in (await request.json()).get("faults", []):
                    state.faults.append(Fault(**{"path_prefix": "/3.0/", **spec}))
            return JSONResponse({"faults": [f.__dict__ for f in state.faults]})

    async def admin_options(request: Request) -> Response:
        if request.method == "POST":
            body = await request.json()
            with state.lock:
                for key in ("max_connections", "latency_ms", "api_key"):
                    if key in body:
                        setattr(state.options, key, body[key])
        o = state.options
        return JSONResponse(
            {"max_connections": o.max_connections, "latency_ms": o.latency_ms, "dc": state.dc}
        )

    async def admin_stats(_request: Request) -> Response:
        return JSONResponse(dict(state.counts))

    async def admin_simulate(request: Request) -> Response:
        """`{"days", "new_members", "unsubscribes", "send": bool}`: time passes and the audience changes."""
        body = await request.json()
        with state.lock:
            return JSONResponse(simulate(state, **body))

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "now": mc_time(state.clock.now())})

    routes = [
        Route("/3.0/ping", ping),
        Route("/3.0/", root),
        Route("/3.0/lists", lists),
        Route("/3.0/lists/{list_id}", get_list),
        Route("/3.0/lists/{list_id}/members", members),
        Route("/3.0/campaigns", campaigns),
        Route("/3.0/campaigns/{campaign_id}", get_campaign),
        Route("/3.0/reports", reports),
        Route("/3.0/reports/{campaign_id}", get_report),
        Route("/3.0/reports/{campaign_id}/unsubscribed", unsubscribed),
        Route("/oauth2/metadata", metadata),
        Route("/_sandbox/health", health),
        Route("/_sandbox/clock", admin_clock, methods=["GET", "POST"]),
        Route("/_sandbox/faults", admin_faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/options", admin_options, methods=["GET", "POST"]),
        Route("/_sandbox/stats", admin_stats),
        Route("/_sandbox/simulate", admin_simulate, methods=["POST"]),
    ]
    return DateHeaderMiddleware(Starlette(routes=routes), state.clock)


def touch_members(state: MailchimpState, list_id: str, count: int) -> None:
    """Someone edits members of the list right now (the `modify` fault, after a page is served):
    their `last_changed` moves past the reader's window and the offsets of later pages shift."""
    members = [m for m in state.account.members.get(list_id, []) if m["status"] != "archived"]
    now = state.clock.now()
    for member in state.rng.sample(members, min(count, len(members))):
        member["merge_fields"] = {**member["merge_fields"], "LNAME": f"Touched{state.rng.randrange(10_000)}"}
        member["last_changed"] = now
    state.version += 1


def simulate(
    state: MailchimpState,
    *,
    days: float = 1.0,
    new_members: int = 0,
    unsubscribes: int = 0,
    edits: int = 0,
    archive: int = 0,
    clean: int = 0,
    send: bool = False,
) -> dict[str, Any]:
    """Advance the clock by `days`; people join, some leave (through the list's latest campaign,
    which its report counts), some edit their details, are archived or bounce for good (every
    such change moves `last_changed`), recent reports gain opens and clicks, and optionally the
    newsletter goes out with a fresh report."""
    account, rng = state.account, state.rng
    state.version += 1
    start = state.clock.now()
    end = state.clock.advance(days * 86_400)
    span = (end - start).total_seconds()

    def during() -> datetime:
        return start + timedelta(seconds=rng.uniform(0, span * 0.98))

    newsletter = account.lists[0]["id"]
    members = account.members[newsletter]
    ids = HexIds(rng)
    for n in range(new_members):
        joined = during()
        member = new_member(
            Person(f"new{len(members)}.{n}@inbox.example", "New", "Reader", joined), newsletter, end, rng, ids
        )
        member.update(status="subscribed", last_changed=joined, unsubscribe_reason=None)
        members.append(member)
    for report in account.reports.values():
        if end - report["send_time"] <= timedelta(days=30):
            grow_report(report, rng)
    leaving = rng.sample([m for m in members if m["status"] == "subscribed"], unsubscribes)
    for member in leaving:
        member.update(status="unsubscribed", last_changed=during(), unsubscribe_reason=None)
        via = last_campaign_before(account, newsletter, member["last_changed"])
        if via is not None:
            attribute_unsubscribe(account, member, via, rng)
    everyone = [m for ms in account.members.values() for m in ms]
    for member in rng.sample(everyone, min(edits, len(everyone))):
        member["merge_fields"] = {**member["merge_fields"], "LNAME": f"Edited{rng.randrange(10_000)}"}
        member["last_changed"] = during()
    live = [m for m in everyone if m["status"] != "archived"]
    for status, count in (("archived", archive), ("cleaned", clean)):
        for member in rng.sample(live, min(count, len(live))):
            member.update(status=status, last_changed=during())
            live.remove(member)
    sent_id = None
    if send:
        recipients = sum(1 for m in members if m["status"] == "subscribed")
        campaign: dict[str, Any] = {
            "id": ids.hex(10),
            "web_id": rng.randint(1_000_000, 9_999_999),
            "type": "regular",
            "create_time": end - timedelta(hours=2),
            "status": "sent",
            "emails_sent": recipients,
            "send_time": end - timedelta(hours=1),
            "content_type": "template",
            "recipients": {"list_id": newsletter, "list_is_active": True, "recipient_count": recipients},
            "settings": {"subject_line": "News", "title": f"Newsletter {end:%Y-%m-%d}"},
            "tracking": {"opens": True, "html_clicks": True, "text_clicks": False},
        }
        account.campaigns.append(campaign)
        account.reports[campaign["id"]] = campaign_report(campaign, rng)
        sent_id = campaign["id"]
    for listing in account.lists:
        list_stats(listing, account)
    return {
        "from": mc_time(start),
        "to": mc_time(end),
        "joined": new_members,
        "left": len(leaving),
        "sent": sent_id,
    }
