"""An incremental read of a CRM object type: the search API over a closed window [lo, hi] of
last-modified times, sorted by `hs_object_id` and paged by keyset (`hs_object_id > last id`,
offset always 0), so neither the 10,000-result cap nor thousands of records sharing one
timestamp can make it skip or loop.

Search has been seen to sort ids as text ("10" before "9"), which breaks keyset paging silently.
Two checks catch it: a page out of numeric order, and a window that ends with fewer records than
the first page's `total` promised. Either way the window is read again in digit bands (ids of one
length compare the same as text and as numbers). Records repeated from an earlier page are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from connector.errors import ConnectorError, MalformedResponseError
from connector.hubspot.client import HubSpotClient
from connector.hubspot.wire import ms, parse_iso, results
from connector.pagination import CursorPaginator

log = logging.getLogger("funnelsync.connector.hubspot")

Window = dict[str, Any]


def _numeric_id(record: dict[str, Any]) -> int | None:
    raw = str(record.get("id", ""))
    return int(raw) if raw.isdigit() else None


def _banded_restart(window: Window) -> Window:
    """Read the window again from its first id, one digit length at a time (1-9, 10-99, …)."""
    return {**window, "last_id": 0, "band": 10, "seen": 0, "total": None}


def search_total(client: HubSpotClient, object_type: str) -> int | None:
    """How many records of the type there are: search's `total` for one tiny result (None when
    search cannot say; a count is worth one request, never a failed read)."""
    path = client.paths.path("search", object_type=object_type)
    request: dict[str, Any] = {"properties": ["hs_object_id"], "limit": 1}
    try:
        body = client.post(path, json_body=request, search=True)
    except ConnectorError as exc:
        log.debug("%s: no count from search (%s)", object_type, exc)
        return None
    total = body.get("total")
    return total if isinstance(total, int) and not isinstance(total, bool) else None


class WindowSearch:
    """Every record of one object type modified in a window; see the module docstring."""

    def __init__(
        self,
        client: HubSpotClient,
        *,
        name: str,
        object_type: str,
        modified_property: str,
        properties: list[str],
        page_size: int,
    ) -> None:
        self.client = client
        self.name = name
        self.path = client.paths.path("search", object_type=object_type)
        self.modified_property = modified_property
        self.properties = properties
        self.page_size = page_size

    def pages(self, window: Window) -> Iterator[tuple[list[dict[str, Any]], Window]]:
        """(new records of a page, the window's progress after it); `done` in the last one."""
        window = {"last_id": 0, "band": None, "seen": 0, "total": None, **window}
        while True:
            body, records = self._page(window)
            last_id, band = int(window["last_id"]), window["band"]
            # A record outside the requested id range repeats an earlier page: dropped.
            high = int(band) if band is not None else None
            fresh = [
                r
                for r in records
                if (rid := _numeric_id(r)) is None or (rid > last_id and (high is None or rid < high))
            ]
            ids = [i for i in map(_numeric_id, fresh) if i is not None]
            if ids != sorted(set(ids)):
                window = self._out_of_order(window, ids)
                continue
            if window["total"] is None and band is None and last_id == 0:
                total = body.get("total")
                window["total"] = total if isinstance(total, int) else None
            exhausted = (
                not records or len(records) < self.page_size or CursorPaginator.next_token(body) is None
            )
            if ids:
                window["last_id"] = ids[-1]
            window["seen"] = int(window["seen"]) + len(fresh)
            if exhausted:
                window = self._after_exhausted(window)
            yield fresh, window
            if window.get("done"):
                return

    def _out_of_order(self, window: Window, ids: list[int]) -> Window:
        """Ids came sorted as text: read the window again by digit band (within a band, it is
        the API's fault and the read fails)."""
        if window["band"] is not None:
            raise MalformedResponseError(
                "search results are out of hs_object_id order even within one digit band "
                f"(ids {ids[:5]}… after {window['last_id']}, below {window['band']})",
                path=self.path,
            )
        log.warning("%s: search sorted ids as text; reading the window again by digit band", self.name)
        return _banded_restart(window)

    def _page(self, window: Window, *, probe: bool = False) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One search request of the window; a probe asks only for `total` (one tiny record)."""
        lo, hi = parse_iso(window["lo"]), parse_iso(window["hi"])
        filters = [
            {"propertyName": self.modified_property, "operator": "GTE", "value": ms(lo)},
            {"propertyName": self.modified_property, "operator": "LTE", "value": ms(hi)},
            {"propertyName": "hs_object_id", "operator": "GT", "value": str(window["last_id"])},
        ]
        if window.get("band") is not None:
            filters.append({"propertyName": "hs_object_id", "operator": "LT", "value": str(window["band"])})
        request: dict[str, Any] = {
            "filterGroups": [{"filters": filters}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": ["hs_object_id"] if probe else self.properties,
            "limit": 1 if probe else self.page_size,
        }
        body = self.client.post(self.path, json_body=request, search=True)
        return body, results(body, self.path)

    def _after_exhausted(self, window: Window) -> Window:
        """The query ran dry: the window is done, or the next digit band (or a banded re-read) is due."""
        band = window.get("band")
        if band is None:
            total = window.get("total")
            if total is not None and int(window["seen"]) < total:
                # Fewer than promised: text-sorted ids hid some (or some left the window because
                # they changed meanwhile, which costs this re-read and nothing else).
                log.warning(
                    "%s: search window gave %s of %s records; reading it again by digit band",
                    self.name,
                    window["seen"],
                    total,
                )
                return _banded_restart(window)
            return {**window, "done": True}
        # Anything beyond this band? Search's `total` answers that in one small request.
        beyond = {**window, "last_id": int(band) - 1, "band": None}
        body, _ = self._page(beyond, probe=True)
        remaining = body.get("total")
        if not isinstance(remaining, int) or remaining == 0:
            return {**window, "done": True}
        return {**beyond, "band": int(band) * 10}
