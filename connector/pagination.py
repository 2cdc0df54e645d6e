"""Pagination as small objects: they read a response body and say what to ask for next."""

from __future__ import annotations

from typing import Any

from connector.errors import PaginationLoopError


class CursorPaginator:
    """HubSpot's `paging.next.after` cursor; the last page has no `paging` at all."""

    def __init__(self, start: str | None = None) -> None:
        self.token: str | None = start
        self.finished = False
        self._seen: set[str] = set()
        if start is not None:
            self._seen.add(start)

    @staticmethod
    def next_token(body: dict[str, Any]) -> str | None:
        paging = body.get("paging")
        if not isinstance(paging, dict):
            return None
        nxt = paging.get("next")
        if not isinstance(nxt, dict):
            return None
        after = nxt.get("after")
        return str(after) if after not in (None, "") else None

    def advance(self, body: dict[str, Any]) -> bool:
        """Move to the next page; returns whether there is one."""
        token = self.next_token(body)
        if token is None:
            self.finished = True
            self.token = None
            return False
        if token in self._seen:
            raise PaginationLoopError(f"pagination loop detected: cursor {token!r} was already followed")
        self._seen.add(token)
        self.token = token
        return True


class OffsetPaginator:
    """Mailchimp's `count` / `offset` paging, ended by `total_items` (or a short page)."""

    def __init__(self, count: int, offset: int = 0) -> None:
        self.count = count
        self.offset = offset
        self.total: int | None = None
        self.finished = False

    def params(self) -> dict[str, int]:
        return {"count": self.count, "offset": self.offset}

    def advance(self, items: int, total: Any) -> bool:
        """Move past a page of `items`; returns whether another page follows."""
        self.total = total if isinstance(total, int) else self.total
        self.offset += items
        if items < self.count or items == 0 or (self.total is not None and self.offset >= self.total):
            self.finished = True
        return not self.finished
