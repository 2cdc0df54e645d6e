"""Mailchimp's Marketing API 3.0 over the sandbox account: the root and ping, audiences and
members, campaigns and reports with their unsubscribes and email activity, and the OAuth
metadata endpoint."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.mailchimp.activity import email_activity
from sandbox.mailchimp.gate import Gate
from sandbox.mailchimp.http import NOT_FOUND, JSONResponse, between, page, render, select_fields, time_param
from sandbox.mailchimp.state import MailchimpError


def _not_found() -> MailchimpError:
    return MailchimpError(404, "Resource Not Found", NOT_FOUND)


def collection(request: Request, key: str, items: list[dict[str, Any]], **extra: Any) -> Response:
    """A page of a collection with `total_items`, trimmed by `fields` / `exclude_fields`."""
    shown, total = page(request, items)
    body = {key: render(shown), **extra, "total_items": total, "_links": []}
    q = request.query_params
    return JSONResponse(select_fields(body, q.get("fields"), q.get("exclude_fields")))


def one(request: Request, item: dict[str, Any]) -> Response:
    q = request.query_params
    return JSONResponse(select_fields(render(item), q.get("fields"), q.get("exclude_fields")))


def sort(request: Request, items: list[dict[str, Any]], allowed: tuple[str, ...]) -> list[dict[str, Any]]:
    name = request.query_params.get("sort_field")
    if name is None:
        return items
    if name not in allowed:
        raise MailchimpError(400, "Invalid Resource", f"sort_field must be one of {', '.join(allowed)}.")
    reverse = request.query_params.get("sort_dir", "ASC").upper() == "DESC"
    return sorted(items, key=lambda i: (i.get(name) is None, i.get(name) or datetime.min), reverse=reverse)


class MarketingRoutes:
    """The API routes of one sandbox account, each behind its gate."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.state = gate.state
        self.account = gate.state.account

    def routes(self) -> list[Route]:
        api = self.gate.api
        return [
            Route("/3.0/ping", api(self.ping)),
            Route("/3.0/", api(self.root)),
            Route("/3.0/lists", api(self.lists)),
            Route("/3.0/lists/{list_id}", api(self.get_list)),
            Route("/3.0/lists/{list_id}/members", api(self.members)),
            Route("/3.0/campaigns", api(self.campaigns)),
            Route("/3.0/campaigns/{campaign_id}", api(self.get_campaign)),
            Route("/3.0/reports", api(self.reports)),
            Route("/3.0/reports/{campaign_id}", api(self.get_report)),
            Route("/3.0/reports/{campaign_id}/unsubscribed", api(self.unsubscribed)),
            Route("/3.0/reports/{campaign_id}/email-activity", api(self.email_activity)),
            Route("/oauth2/metadata", self.metadata),
        ]

    def find_list(self, list_id: str) -> dict[str, Any]:
        for audience in self.account.lists:
            if audience["id"] == list_id:
                return audience
        raise _not_found()

    async def ping(self, _request: Request) -> Response:
        return JSONResponse({"health_status": "Everything's Chimpy!"})

    async def root(self, _request: Request) -> Response:
        subscribers = sum(a["stats"]["member_count"] for a in self.account.lists)
        return JSONResponse(
            {
                "account_id": "sandbox",
                "account_name": "Sandbox AB",
                "role": "owner",
                "account_timezone": "Europe/Stockholm",
                "total_subscribers": subscribers,
            }
        )

    async def lists(self, request: Request) -> Response:
        with self.state.lock:
            items = list(self.account.lists)
        return collection(request, "lists", items, constraints={"may_create": True, "max_instances": 0})

    async def get_list(self, request: Request) -> Response:
        with self.state.lock:
            return one(request, self.find_list(request.path_params["list_id"]))

    async def members(self, request: Request) -> Response:
        list_id = request.path_params["list_id"]
        q = request.query_params
        status = q.get("status")
        if q.get("unsubscribed_since") and status != "unsubscribed":
            raise MailchimpError(400, "Invalid Resource", "unsubscribed_since requires status=unsubscribed.")
        since = time_param(request, "since_last_changed")
        before = time_param(request, "before_last_changed")
        query = (list_id, status, since, before, q.get("sort_field"), q.get("sort_dir"))
        state = self.state
        with state.lock:
            self.find_list(list_id)
            # Paging re-asks the same query page after page: filter and sort it once per change.
            key = (state.version, query)
            items = state.member_queries.get(key)
            if items is None:
                items = [
                    m
                    for m in self.account.members[list_id]
                    if (m["status"] == status if status else m["status"] != "archived")
                    and between(m["last_changed"], since, before)
                ]
                items = sort(request, items, ("timestamp_opt", "timestamp_signup", "last_changed"))
                state.member_queries = {key: items}
            return collection(request, "members", items, list_id=list_id)

    async def campaigns(self, request: Request) -> Response:
        q = request.query_params
        send = (time_param(request, "since_send_time"), time_param(request, "before_send_time"))
        create = (time_param(request, "since_create_time"), time_param(request, "before_create_time"))
        with self.state.lock:
            items = [
                c
                for c in self.account.campaigns
                if (not q.get("status") or c["status"] == q["status"])
                and (not q.get("type") or c["type"] == q["type"])
                and (not q.get("list_id") or c["recipients"]["list_id"] == q["list_id"])
                and between(c["send_time"], *send)
                and between(c["create_time"], *create)
            ]
            items = sort(request, items, ("create_time", "send_time"))
            return collection(request, "campaigns", [self._with_summary(c) for c in items])

    def _with_summary(self, campaign: dict[str, Any]) -> dict[str, Any]:
        report = self.account.reports.get(campaign["id"])
        if report is None:
            return campaign
        summary = {
            "opens": report["opens"]["opens_total"],
            "unique_opens": report["opens"]["unique_opens"],
            "open_rate": report["opens"]["open_rate"],
            "clicks": report["clicks"]["clicks_total"],
            "subscriber_clicks": report["clicks"]["unique_subscriber_clicks"],
            "click_rate": report["clicks"]["click_rate"],
        }
        return {**campaign, "report_summary": summary}

    async def get_campaign(self, request: Request) -> Response:
        with self.state.lock:
            for campaign in self.account.campaigns:
                if campaign["id"] == request.path_params["campaign_id"]:
                    return one(request, self._with_summary(campaign))
        raise _not_found()

    async def reports(self, request: Request) -> Response:
        since, before = time_param(request, "since_send_time"), time_param(request, "before_send_time")
        account = self.account
        with self.state.lock:
            items = [
                account.reports[c["id"]]
                for c in account.campaigns
                if c["id"] in account.reports and between(c["send_time"], since, before)
            ]
            return collection(request, "reports", items)

    async def get_report(self, request: Request) -> Response:
        with self.state.lock:
            report = self.account.reports.get(request.path_params["campaign_id"])
            if report is None:
                raise _not_found()
            return one(request, report)

    async def unsubscribed(self, request: Request) -> Response:
        campaign_id = request.path_params["campaign_id"]
        with self.state.lock:
            if campaign_id not in self.account.reports:
                raise _not_found()
            rows = self.account.unsubscribes.get(campaign_id, [])
            return collection(request, "unsubscribes", rows, campaign_id=campaign_id)

    async def email_activity(self, request: Request) -> Response:
        """Every recipient's activity; `since` keeps the events after it (the rows stay)."""
        campaign_id = request.path_params["campaign_id"]
        since = time_param(request, "since")
        state = self.state
        with state.lock:
            state.counts[f"email-activity:{campaign_id}"] += 1
            campaign = next((c for c in self.account.campaigns if c["id"] == campaign_id), None)
            if campaign is None or campaign_id not in self.account.reports:
                raise _not_found()
            # Paging re-asks for the same campaign: its rows are derived once per change.
            key = (state.version, campaign_id)
            rows = state.activity_rows.get(key)
            if rows is None:
                rows = email_activity(self.account, campaign)
                state.activity_rows = {key: rows}
            if since is not None:
                rows = [{**r, "activity": [e for e in r["activity"] if e["timestamp"] > since]} for r in rows]
            return collection(request, "emails", rows, campaign_id=campaign_id)

    async def metadata(self, request: Request) -> Response:
        """`GET https://login.mailchimp.com/oauth2/metadata`, served here: where the token's account lives."""
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        if token not in self.state.options.oauth_tokens:
            return JSONResponse(
                {"error": "invalid_token", "error_description": "Invalid token"}, status_code=401
            )
        base = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse(
            {
                "dc": self.state.dc,
                "role": "owner",
                "accountname": "Sandbox AB",
                "api_endpoint": base,
                "login_url": base,
            }
        )
