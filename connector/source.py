"""A source: one vendor account as a sync sees it. It names its streams in run order, builds the
run's API client from the settings, and opens the streams a run asks for (a vendor may read
something first, as HubSpot reads the portal's schema). The service runs any source the same way
through this face (service/sync.py); connector/sources.py lists them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from typing import Any, ClassVar, Generic, Protocol

import httpx
from pydantic import SecretStr

from config import Settings
from connector.auth import TokenStore
from connector.clock import Clock
from connector.stream import ClientT, Stream


class StoredView(Protocol):
    """What a source may ask of the local copy, read-only (the service answers from storage)."""

    def state(self, stream: str) -> dict[str, Any]:
        """The stream's stored state ({} before its first run)."""

    def archived_ids(self, stream: str) -> Collection[str]:
        """Ids of the stream's records stored as archived."""


# Where an OAuth token survives between runs: (a name for the credential, the configured refresh
# token it grew from) → the store. The service chooses the place (a file per connection).
TokenStores = Callable[[str, SecretStr], TokenStore]


class Source(ABC, Generic[ClientT]):
    """One vendor's streams and how a run reaches them. Build one per run."""

    name: ClassVar[str]
    # Every stream of the vendor, in the order a sync runs them.
    stream_types: ClassVar[tuple[type[Stream[Any]], ...]]

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock,
        stored: StoredView,
        transport: httpx.BaseTransport | None = None,
        token_stores: TokenStores | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.stored = stored
        self.transport = transport
        self.token_stores = token_stores

    @classmethod
    def stream_names(cls) -> tuple[str, ...]:
        return tuple(t.name for t in cls.stream_types)

    @classmethod
    def stream_type(cls, name: str) -> type[Stream[Any]]:
        for stream_type in cls.stream_types:
            if stream_type.name == name:
                return stream_type
        raise KeyError(name)

    @property
    def recheck_minutes(self) -> int:
        """How long a stream found unavailable (a missing scope, an API the account does not have)
        rests before a sync asks again; a full sync always asks."""
        return 60

    @property
    def parallel_streams(self) -> int:
        """How many parallel streams run side by side (all of them by default)."""
        return len(self.stream_types)

    def secrets(self) -> list[str]:
        """Secrets the run holds beyond the configured ones (refreshed tokens), for redaction."""
        return []

    @abstractmethod
    def connect(self) -> ClientT:
        """The run's API client (close it when the run ends). Raises ConfigurationError or a
        ConnectorError when the account cannot be reached with the settings."""

    @abstractmethod
    def verify(self, client: ClientT) -> str:
        """One cheap request that proves the credential works (`funnelsync check`); what it read.
        Raises AuthenticationError for a refused credential, PermissionDeniedError for a missing
        scope, another ConnectorError when the account cannot be reached."""

    @abstractmethod
    def open_streams(
        self, client: ClientT, names: Sequence[str], *, full: bool
    ) -> dict[str, Stream[ClientT]]:
        """The streams `names`, ready to read (`full`: the run reads everything again). Raises a
        ConnectorError when something every one of them needs cannot be read."""
