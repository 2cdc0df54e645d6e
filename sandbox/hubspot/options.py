"""The HubSpot sandbox's settings and mutable state: options an admin route may change, the
scopes tokens carry and the ones each path needs, the rate-limit windows, faults and counters."""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.faults import Fault, Holds
from sandbox.hubspot.exports import Exports, ExportTiming
from sandbox.hubspot.model import ENGAGEMENT_TYPES, OBJECT_TYPES, association_type
from sandbox.hubspot.store import PortalStore
from sandbox.hubspot.versions import numbered_path

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
    "event_analytics",
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
    "marketing.campaigns.read",
    "business-intelligence",
    "crm.export",
)


def required_scope(path: str) -> tuple[str, ...] | None:
    """The scopes HubSpot accepts for a path, any one of them (None: no particular one)."""
    parts = numbered_path(path).strip("/").split("/")
    if parts[:1] == ["crm"] and parts[3:4] == ["tickets"]:
        return ("tickets",)  # the portal has no Service Hub: no token carries it
    if parts[:3] == ["crm", "v3", "exports"]:
        return ("crm.export",)
    if parts[:3] == ["crm", "v3", "schemas"]:
        return ("crm.schemas.custom.read",)
    # An object type the portal does not know is a 400 (unknown type), not a missing scope.
    known = OBJECT_TYPES.get(parts[3]) if len(parts) >= 4 else None
    if known in ENGAGEMENT_TYPES:
        known = "contacts"  # meetings and calls are read with the contacts scope
    if known and parts[:3] in (["crm", "v3", "objects"], ["crm", "v4", "associations"]):
        return (f"crm.objects.{known}.read",)
    if parts[:3] == ["crm", "v3", "pipelines"]:
        return ("crm.objects.deals.read", "crm.schemas.deals.read")
    if parts[:3] == ["crm", "v3", "owners"]:
        return ("crm.objects.owners.read",)
    if known and parts[:3] == ["crm", "v3", "properties"]:
        return (f"crm.schemas.{known}.read", f"crm.objects.{known}.read")
    if parts[:3] == ["marketing", "v3", "campaigns"]:
        return ("marketing.campaigns.read",)
    if parts[:1] == ["marketing"]:
        return ("content", "marketing.email.read")
    # Legacy paths (sandbox/hubspot/legacy.py).
    if parts[:2] == ["companies", "v2"]:
        return (
            ("crm.schemas.companies.read",)
            if parts[2:3] == ["properties"]
            else ("crm.objects.companies.read",)
        )
    if parts[:2] == ["deals", "v1"]:
        return ("crm.objects.deals.read",)
    if parts[:3] == ["properties", "v1", "deals"]:
        return ("crm.schemas.deals.read",)
    if len(parts) >= 4 and parts[:3] == ["crm", "v3", "associations"] and association_type(parts[3]):
        return (f"crm.objects.{association_type(parts[3])}.read",)
    if parts[:1] == ["analytics"]:
        return ("business-intelligence",)
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
    # The portal has an Enterprise hub, so the event analytics API answers (False: 403).
    event_analytics: bool = True


class Limiter:
    """HubSpot's rolling windows, counted on the sandbox clock (so advancing time frees them)."""

    def __init__(self) -> None:
        self.burst: dict[str, deque[float]] = {}
        self.secondly: deque[float] = deque()
        self.daily: Counter[str] = Counter()

    @staticmethod
    def prune(times: deque[float], now: float, interval: float) -> None:
        """Drop the sends that left the window."""
        while times and times[0] <= now - interval:
            times.popleft()


class SandboxState:
    """The mutable parts of one sandbox: store, options, faults, counters."""

    def __init__(
        self,
        store: PortalStore,
        options: SandboxOptions,
        *,
        seed: int = 1,
        export_timing: ExportTiming | None = None,
    ) -> None:
        self.store = store
        self.options = options
        self.faults: list[Fault] = []
        self.holds = Holds()
        self.limiter = Limiter()
        self.counts: Counter[str] = Counter()
        # API requests by "METHOD path" (no query): which endpoints, of which family, were called.
        self.paths: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        # OAuth access tokens handed out, with their expiry on the sandbox clock.
        self.oauth_tokens: dict[str, datetime] = {}
        # CRM export tasks, their quota and download links.
        self.exports = Exports(store, export_timing)
        # The results of the latest list or search page per path (for the `duplicate` fault).
        self.previous: dict[str, tuple[str, list[Any]]] = {}
