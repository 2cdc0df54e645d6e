"""Injected failures, shared by the sandboxes: which request gets one, and what it is."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass

from starlette.requests import Request


@dataclass
class Fault:
    """One injected failure: applies to `count` matching requests after letting `skip` through.

    Kinds every sandbox knows: `status` (an error answer, `body` json or an html 502 page),
    `rate_limit` (429), `malformed` (a broken body), `delay` (seconds before answering; past the
    client's timeout it is a timeout), `hold` (the request waits until an admin releases it, or
    at most `delay` seconds when set). The HubSpot sandbox adds `truncate`, `duplicate` and
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


class Holds:
    """Requests held by `hold` faults, until `release()` lets every one of them go on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gate = threading.Event()

    def gate(self) -> threading.Event:
        with self._lock:
            return self._gate

    def release(self) -> None:
        with self._lock:
            gate, self._gate = self._gate, threading.Event()
        gate.set()


async def wait_out(request: Request, seconds: float | None, gate: threading.Event | None = None) -> None:
    """Keep a request waiting: `seconds` (None: no limit), until `gate` opens, or until its client
    gives up (a timed-out client need not leave the server holding its request)."""
    await request.body()  # read now (and kept for the route): a disconnect check would swallow it
    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        if gate is not None and gate.is_set():
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.02 if deadline is None else min(0.02, max(0.0, deadline - time.monotonic())))


HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1>"
    "</center></body></html>"
)


async def waited(fault: Fault, request: Request, holds: Holds) -> bool:
    """Wait out a `delay` or `hold` fault before the real answer (True); other kinds are no wait."""
    if fault.kind == "delay":
        await wait_out(request, fault.delay)
        return True
    if fault.kind == "hold":
        await wait_out(request, fault.delay or None, holds.gate())
        return True
    return False
