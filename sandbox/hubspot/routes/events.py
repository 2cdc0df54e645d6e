"""HubSpot's event analytics API (legacy `/events/v3/events` and dated
`/events/event-occurrences/{version}`) over the sandbox portal: the page views of known contacts
(sandbox/hubspot/events.py). Enterprise only: a portal without it (`event_analytics` off)
answers 403."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.hubspot.data import iso
from sandbox.hubspot.events import all_page_views
from sandbox.hubspot.gate import Gate
from sandbox.hubspot.http import JSONResponse, after_param, int_param, time_param
from sandbox.hubspot.model import SandboxError

# HubSpot documents no cap; the sandbox caps pages at 100 and defaults to 10.
EVENTS_PAGE_MAX = 100
EVENTS_PAGE_DEFAULT = 10


class EventRoutes:
    """The event occurrences routes of one sandbox, each behind its gate."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.store = gate.store
        self._views: tuple[int, list[dict[str, Any]]] = (-1, [])

    def routes(self) -> list[Route]:
        api = self.gate.api()
        return [
            Route(base, api(self.occurrences), methods=["GET"])
            for base in ("/events/v3/events", "/events/event-occurrences/{version}")
        ]

    def _all(self) -> list[dict[str, Any]]:
        """Every contact's page views, derived again only after the contacts changed."""
        store = self.store
        with store.lock:
            if self._views[0] != store.generation:
                contacts = [store.objects["contacts"][i] for i in store.ids["contacts"]]
                self._views = (store.generation, all_page_views(contacts, store.clock.now()))
            return self._views[1]

    async def occurrences(self, request: Request) -> Response:
        """`objectType` (+ `objectId`), `eventType`, `occurredAfter` / `occurredBefore`
        (exclusive), `limit`, the `after` cursor; oldest first."""
        if not self.gate.state.options.event_analytics:
            raise SandboxError(
                403,
                "This API requires Marketing Hub, Sales Hub, Service Hub or Content Hub Enterprise.",
                "FORBIDDEN",
            )
        q = request.query_params
        limit = max(1, min(int_param(request, "limit", EVENTS_PAGE_DEFAULT), EVENTS_PAGE_MAX))
        offset = after_param(request)
        object_type, object_id = (q.get("objectType") or "").lower(), q.get("objectId")
        if object_id and not object_type:
            raise SandboxError(400, "objectType is required when objectId is given", "VALIDATION_ERROR")
        after, before = time_param(request, "occurredAfter"), time_param(request, "occurredBefore")
        now = self.store.clock.now()
        matches = [
            v
            for v in self._all()
            if v["occurredAt"] <= now
            and (not object_type or object_type in ("contact", "contacts", "0-1"))
            and (not object_id or v["objectId"] == object_id)
            and (not q.get("eventType") or v["eventType"] == q["eventType"])
            and (after is None or v["occurredAt"] > after)
            and (before is None or v["occurredAt"] < before)
        ]
        page = matches[offset : offset + limit]
        body: dict[str, Any] = {"results": [{**v, "occurredAt": iso(v["occurredAt"])} for v in page]}
        if offset + limit < len(matches):
            nxt = str(offset + limit)
            link = str(request.url.replace_query_params(**{**dict(q), "after": nxt}))
            body["paging"] = {"next": {"after": nxt, "link": link}}
        return JSONResponse(body)
