"""The stream protocol: what the service knows of any stream of any vendor.

A stream is one object: its name; how it picks a full or an incremental read from its own stored
state; the pages it reads (raw records, each page with the stream state that is true once the
page is stored); and how a page is parsed into the typed rows storage takes. The service drives
every stream only through this face; nothing in it knows a stream by name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from connector.client import ApiClient
from connector.records import Normalized

Mode = Literal["full", "incremental"]
ClientT = TypeVar("ClientT", bound=ApiClient)


@dataclass(frozen=True)
class Page:
    """One page of raw records and the stream state that is true once the page is stored."""

    stream: str
    records: list[dict[str, Any]]
    checkpoint: dict[str, Any]
    # Association types the page's request asked for (HubSpot; see the CRM parsers).
    associations: tuple[str, ...] = ()
    # On a read's first page, when the API said how many records the read brings: the service
    # shows progress and time left from it (else from the stream's last run).
    expected: int | None = None


class Stream(ABC, Generic[ClientT]):
    """One vendor endpoint (or a few that make one collection) as the service sees it."""

    name: ClassVar[str]
    # A long listing: runs side by side with the source's other parallel streams, sharing the
    # client (so its rate limiter).
    parallel: ClassVar[bool] = False
    # A full read lists every record of a large collection: worth a writer process of its own.
    bulk: ClassVar[bool] = False
    # The state key an earlier complete read leaves behind, from which an incremental read can
    # start (None: the stream is always read whole).
    cursor_key: ClassVar[str | None] = None
    # What the stream needs of the account: the scopes (any one of each tuple's entries will do,
    # as HubSpot's 403s say) and the endpoints it calls. A 403 or 404 makes it `unavailable`.
    scopes: ClassVar[tuple[tuple[str, ...], ...]] = ()
    endpoints: ClassVar[tuple[str, ...]] = ()
    # Optional data (marketing emails, web analytics) or metadata some streams use (owners,
    # pipelines, properties): when unavailable, the run still succeeds. Core record streams
    # (contacts, companies, deals) unavailable fail the run, though the rest still syncs.
    optional: ClassVar[bool] = False
    metadata: ClassVar[bool] = False

    @classmethod
    def degradable(cls) -> bool:
        """Whether the run succeeds (with a warning) when this stream is unavailable."""
        return cls.optional or cls.metadata

    @classmethod
    def mode(cls, state: Mapping[str, Any], *, full: bool) -> Mode:
        """Full when asked for, or when no earlier read left the stream's cursor; else incremental.
        Decided from stored state alone, before any request (a queued run shows it)."""
        if full or cls.cursor_key is None or not state.get(cls.cursor_key):
            return "full"
        return "incremental"

    @abstractmethod
    def pages(self, client: ClientT, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        """The stream's pages from `state` on; `full` asks for a complete read."""

    @abstractmethod
    def parse(self, page: Page) -> Normalized:
        """The typed rows of a page and its data-quality issues (never raises on bad values)."""
