"""The guard in front of the service API: body limit before reading, admin auth before the body,
/healthz on its own lane, bounded reads. The rules on a stub app (deterministic: the stub holds
its requests until released), and over a real server socket (raw HTTP, bodies never sent)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from service.api.guard import Guard
from tests.service.conftest import ADMIN, auth, serving

pytestmark = pytest.mark.anyio


class HeldApp:
    """A stub ASGI app: every request waits until `release` is set, then answers 200."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        if scope["method"] == "POST":
            message = await receive()
            body = message.get("body", b"")
        self.bodies.append(body)
        self.entered += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def guard(app: Any, **options: Any) -> Guard:
    settings = {"max_body_bytes": 1024, "max_concurrent_reads": 2, "read_queue": 1, "read_wait_seconds": 30.0}

    def admin(header: str | None) -> tuple[int, str, dict[str, str]] | None:
        return None if header == f"Bearer {ADMIN}" else (401, "missing bearer token", {})

    return Guard(app, admin_check=admin, **{**settings, **options})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_reads_beyond_the_slots_and_queue_get_503_while_healthz_still_answers():
    app = HeldApp()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=guard(app)), base_url="http://guard")
    async with client:
        held = [asyncio.create_task(client.get("/api/kpis")) for _ in range(3)]  # 2 slots + 1 queued
        while app.entered < 2:
            await asyncio.sleep(0)
        busy = await client.get("/api/kpis")
        health = await client.get("/healthz")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
        assert "too many reads" in busy.json()["detail"]
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        app.release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200, 200]
        assert app.entered == 3


async def test_a_queued_read_gives_up_after_its_wait():
    app = HeldApp()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=guard(app, max_concurrent_reads=1, read_wait_seconds=0.05)),
        base_url="http://guard",
    )
    async with client:
        first = asyncio.create_task(client.get("/metrics"))
        while app.entered < 1:
            await asyncio.sleep(0)
        assert (await client.get("/metrics")).status_code == 503
        app.release.set()
        assert (await first).status_code == 200


async def test_bodies_are_capped_and_admin_writes_authenticated_before_the_body():
    app = HeldApp()
    app.release.set()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=guard(app)), base_url="http://guard")
    async with client:
        big = await client.post("/admin/resync", content=b"x" * 2000, headers=auth(ADMIN))
        stranger = await client.post("/admin/resync", content=b"{}")
        chunked = await client.post("/admin/resync", content=_chunks(b"y" * 3000), headers=auth(ADMIN))
        fine = await client.post("/admin/resync", json={"full": True}, headers=auth(ADMIN))
    assert big.status_code == 413 and "1,024 bytes" in big.json()["detail"]
    assert stranger.status_code == 401
    assert chunked.status_code == 413
    assert fine.status_code == 200 and app.bodies == [b'{"full":true}']


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 500):
        yield data[start : start + 500]


def raw(url: str, request: bytes) -> tuple[int, dict[str, Any]]:
    """Send raw bytes to the server (a body announced but never sent) and read its answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split(b" ")[1]), json.loads(body or b"{}")


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def test_a_real_server_refuses_a_huge_declared_body_and_a_stranger_before_reading_either(service):
    with serving(service) as client:
        url = str(client.base_url).rstrip("/")
        huge = (
            b"POST /admin/resync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ADMIN.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
        )
        stranger = b"POST /admin/resync HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        assert raw(url, huge)[0] == 413  # answered without one byte of the 100 MB sent
        status, body = raw(url, stranger)  # the body never comes: the token is checked first
        assert status == 401 and body["detail"] == "missing bearer token"
        not_json = client.post(
            "/admin/resync", content=b"{nope", headers={**auth(ADMIN), "Content-Type": "application/json"}
        )
        assert not_json.status_code == 400
        assert client.get("/healthz").json() == {"status": "ok"}
