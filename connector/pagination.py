"""Pagination as small objects: they read a response body and say what to ask for next."""

from __future__ import annotations

from typing import Any


class PaginationLoopError(RuntimeError):
    """The API handed back a cursor we already followed: stop instead of looping forever."""


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
