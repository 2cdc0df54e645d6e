"""The service's outer guard, in front of every route (pure ASGI, before FastAPI reads anything):

- `/healthz` is answered here, on the event loop: it never waits behind the read routes' worker
  threads, so a busy dashboard cannot get a healthy container restarted;
- a request body larger than `service.max_body_bytes` is refused with 413 before it is read
  (by its Content-Length, or while a chunked body streams in);
- writes to the admin routes are authenticated from their headers before a byte of body is read;
- the heavy read routes (the read API, /metrics, the status page, run listings) run at most
  `service.max_concurrent_reads` at a time; up to `service.read_queue` more wait their turn for at
  most `service.read_wait_seconds`, and beyond that they get 503 with `Retry-After`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# (Authorization header or None) → (status, detail, headers) of the refusal, or None to let it in.
AdminCheck = Callable[[str | None], tuple[int, str, dict[str, str]] | None]

# Routes answered without the read bound: cheap, or needed to see what the service is doing.
UNBOUNDED = ("/healthz", "/readyz", "/docs", "/openapi.json")
WRITES = ("POST", "PUT", "PATCH", "DELETE")


class Guard:
    """Wraps the app; one per process (its read slots are the process's)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_concurrent_reads: int,
        read_queue: int,
        read_wait_seconds: float,
        admin_check: AdminCheck,
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.reads = asyncio.Semaphore(max_concurrent_reads)
        self.read_queue = read_queue
        self.read_wait = read_wait_seconds
        self.waiting = 0
        self.admin_check = admin_check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == "/healthz" and method in ("GET", "HEAD"):
            await _answer(send, 200, {"status": "ok"})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await self._too_large(send)
            return
        if method in WRITES and path.startswith("/admin/"):
            refusal = self.admin_check(headers.get("authorization"))
            if refusal is not None:
                status, detail, extra = refusal
                await _answer(send, status, {"detail": detail}, extra)
                return
        if method in WRITES:
            body = await self._read_body(receive)
            if body is None:
                await self._too_large(send)
                return
            receive = _replay(body, receive)
        if path.startswith(UNBOUNDED) or method in WRITES:
            await self.app(scope, receive, send)
            return
        await self._bounded(scope, receive, send)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A read route in one of the read slots; 503 when the slots and their queue are full."""
        if self.reads.locked() and self.waiting >= self.read_queue:
            await _busy(send)
            return
        self.waiting += 1
        try:
            await asyncio.wait_for(self.reads.acquire(), timeout=self.read_wait)
        except TimeoutError:
            await _busy(send)
            return
        finally:
            self.waiting -= 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.reads.release()

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole request body, or None once it grows past the limit (the rest is not read)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        detail = f"request body larger than {self.max_body:,} bytes (service.max_body_bytes)"
        await _answer(send, 413, {"detail": detail}, {"Connection": "close"})


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body read already, then waits for the disconnect."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _busy(send: Send) -> None:
    detail = "too many reads in progress; retry in a moment (service.max_concurrent_reads)"
    await _answer(send, 503, {"detail": detail}, {"Retry-After": "1"})


async def _answer(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})
