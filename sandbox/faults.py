"""Injected failures, shared by the sandboxes: which request gets one, and what it is."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Fault:
    """One injected failure: applies to `count` matching requests after letting `skip` through.

    Kinds every sandbox knows: `status` (an error answer, `body` json or an html 502 page),
    `rate_limit` (429), `malformed` (a broken body), `delay` (seconds before answering; past the
    client's timeout it is a timeout). The HubSpot sandbox adds `truncate`, `duplicate` and
    `modify`, which spoil or follow the real answer (docs/sandbox.md).
    """

    kind: str
    count: int = 1
    skip: int = 0
    path_prefix: str = "/crm/"
    method: str | None = None
    status: int = 503
    body: str = "json"  # json | html
    policy: str = "TEN_SECONDLY_ROLLING"
    retry_after: float | None = None
    delay: float = 0.0
    probability: float = 1.0
    records: int = 3

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path_prefix) and (self.method is None or self.method.upper() == method)


def pick_fault(faults: list[Fault], method: str, path: str, rng: random.Random) -> Fault | None:
    """The first configured fault that applies to this request, used up by one (the caller holds
    the lock that guards `faults`)."""
    for fault in faults:
        if not fault.matches(method, path):
            continue
        if fault.skip > 0:
            fault.skip -= 1
            continue
        if fault.probability < 1.0 and rng.random() >= fault.probability:
            continue
        fault.count -= 1
        if fault.count <= 0:
            faults.remove(fault)
        return fault
    return None


HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    "</center></body></html>"
)
