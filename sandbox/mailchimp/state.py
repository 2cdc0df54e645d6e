"""The Mailchimp sandbox's settings and mutable state: the credentials it accepts, its connection
limit, faults, counters, and the error its routes raise."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sandbox.clock import SandboxClock
from sandbox.faults import Fault, Holds
from sandbox.mailchimp.data import Account


class MailchimpError(Exception):
    """A request Mailchimp would refuse: its status, title and detail (answered as problem+json)."""

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
    """The mutable parts of one sandbox account."""

    def __init__(
        self, account: Account, clock: SandboxClock, options: MailchimpOptions, *, seed: int = 1
    ) -> None:
        self.account = account
        self.clock = clock
        self.options = options
        self.faults: list[Fault] = []
        self.holds = Holds()
        self.counts: Counter[str] = Counter()
        self.lock = threading.RLock()
        self.rng = random.Random(seed ^ 0xC41)
        self.in_flight = 0
        # Bumped whenever the account changes; the last members query is kept for its version.
        self.version = 0
        self.member_queries: dict[Any, list[dict[str, Any]]] = {}
        self.activity_rows: dict[Any, list[dict[str, Any]]] = {}

    @property
    def dc(self) -> str:
        return self.options.api_key.rsplit("-", 1)[-1]
