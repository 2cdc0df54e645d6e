"""`funnelsync serve` under abuse: what its health check answers while a dashboard floods the read
API during a sync, and what oversized request bodies cost the server.

The HubSpot sandbox and the service run in their own processes (a fresh SQLite file, or
`--database-url`). After the first sync and KPIs:

1. `--readers` concurrent clients (default 300) read `/api/kpis` and `/metrics` in a loop while a
   full resync runs, for `--seconds`; meanwhile `/healthz` is asked every 50 ms and
   `funnelsync check --service` (the container's HEALTHCHECK) every 2 s. Printed: /healthz p50 /
   p99 / max, how many health checks failed, reads answered 200 vs 503, the server's peak memory.
2. `--bodies` requests (default 8, 4 at a time) each stream 100 MB (`--body-mb`) to
   `POST /admin/resync`, half without a token and half with the admin token. Printed: their
   statuses, seconds to answer, and the server's memory before and after.

Goals (issue 22): /healthz p99 under 1 s with 300 concurrent reads; server memory bounded under
oversized-body floods.

    python bench/abuse.py [--contacts 20000] [--readers 300] [--seconds 20] [--bodies 8] [--body-mb 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
from sandboxes import start_sandbox
from service_api import ADMIN, ROOT, _admin_client, _answers, _service_env, funnelsync, runs, wait_for


def memory_kb(pid: int, field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of a process, in kB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def flood(url: str, readers: int, seconds: float) -> Counter[int]:
    """`readers` clients reading the heavy routes in a loop; the statuses they got."""
    statuses: Counter[int] = Counter()
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=readers, max_keepalive_connections=readers)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as client:

        async def reader(n: int) -> None:
            paths = ("/api/kpis?dimension=all", "/metrics", "/api/kpis/latest", "/")
            i = n
            while time.monotonic() < stop:
                try:
                    statuses[(await client.get(paths[i % len(paths)])).status_code] += 1
                except httpx.HTTPError:
                    statuses[0] += 1
                i += 1

        await asyncio.gather(*(reader(n) for n in range(readers)))
    return statuses


def health_poll(url: str, seconds: float) -> list[float]:
    """/healthz every 50 ms on its own connection, from its own process (the flood's event loop
    must not delay the measurement): the seconds each answer took (inf: failed)."""
    times: list[float] = []
    stop = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=10) as client:
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                ok = client.get("/healthz").status_code == 200
            except httpx.HTTPError:
                ok = False
            times.append(time.perf_counter() - started if ok else float("inf"))
            time.sleep(0.05)
    return times


def healthchecks(env: dict[str, str], seconds: float) -> tuple[int, int]:
    """`funnelsync check --service` every 2 s: (passed, failed)."""
    passed = failed = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        code = subprocess.run(
            [sys.executable, "-c", "from service.cli import main; main()", "check", "--service"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            timeout=30,
        ).returncode
        passed, failed = (passed + 1, failed) if code == 0 else (passed, failed + 1)
        time.sleep(2)
    return passed, failed


async def read_load(url: str, env: dict[str, str], readers: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1) as pool:
        polled = loop.run_in_executor(pool, health_poll, url, seconds)
        checks = asyncio.to_thread(healthchecks, env, seconds)
        statuses, times, (passed, failed) = await asyncio.gather(flood(url, readers, seconds), polled, checks)
    answered = sorted(t for t in times if t != float("inf"))
    p99 = answered[int(0.99 * (len(answered) - 1))] if answered else float("inf")
    print(
        f"/healthz under {readers} concurrent reads for {seconds:.0f} s: {len(times)} polls, "
        f"p50 {statistics.median(answered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {max(answered) * 1000:.1f} ms, {len(times) - len(answered)} failed (goal: p99 < 1 s)"
    )
    print(f"HEALTHCHECK (funnelsync check --service): {passed} passed, {failed} failed")
    print("reads answered: " + ", ".join(f"{code or 'error'}: {n:,}" for code, n in sorted(statuses.items())))


async def oversized(url: str, bodies: int, megabytes: int) -> list[tuple[int, float]]:
    """Stream `bodies` oversized JSON bodies, 4 at a time: (status, seconds) of each."""
    chunk = b"[" + b"1," * (512 * 1024 - 1) + b"1]"  # ~1 MB of a JSON list of numbers

    async def body() -> AsyncIterator[bytes]:
        for _ in range(megabytes):
            yield chunk

    results: list[tuple[int, float]] = []
    gate = asyncio.Semaphore(4)
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def one(n: int) -> None:
            headers = {"Content-Type": "application/json"}
            if n % 2:
                headers["Authorization"] = f"Bearer {ADMIN}"
            async with gate:
                started = time.perf_counter()
                try:
                    status = (await client.post("/admin/resync", content=body(), headers=headers)).status_code
                except httpx.HTTPError:
                    status = 0  # the server closed the connection after its 413
                results.append((status, time.perf_counter() - started))

        await asyncio.gather(*(one(n) for n in range(bodies)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--readers", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--bodies", type=int, default=8)
    parser.add_argument("--body-mb", type=int, default=100)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    from sandbox.server import free_port

    sandbox_port, port = free_port(), free_port()
    sandbox = start_sandbox(["hubspot", "--contacts", str(args.contacts), "--token", "bench"], sandbox_port)
    with tempfile.TemporaryDirectory() as tmp:
        env = _service_env(tmp, sandbox_port, port, args.database_url)
        subprocess.run(
            [sys.executable, "-c", "from service.cli import main; main()", "migrate"],
            env=env,
            check=True,
            cwd=ROOT,
        )
        url = f"http://127.0.0.1:{port}"
        http = _admin_client(url)
        log = Path(tmp, "serve.log").open("ab")  # noqa: SIM115 (closed in the finally below)
        service = funnelsync(env, "serve", log=log)
        try:
            wait_for(lambda: _answers(http), 60, "the service")
            wait_for(
                lambda: [r for r in runs(http, "contacts") if r["status"] == "succeeded"], 3600, "the sync"
            )
            wait_for(lambda: http.get("/api/kpis/latest").status_code == 200, 600, "the KPIs")
            rss = memory_kb(service.pid, "VmRSS") / 1024
            print(f"service up with {args.contacts:,} contacts; memory {rss:.0f} MB")
            http.post("/admin/resync", json={"full": True})  # reads flood in while it runs
            asyncio.run(read_load(url, env, args.readers, args.seconds))
            print(f"server peak memory so far: {memory_kb(service.pid, 'VmHWM') / 1024:.0f} MB")
            before = memory_kb(service.pid, "VmRSS")
            results = asyncio.run(oversized(url, args.bodies, args.body_mb))
            after = memory_kb(service.pid, "VmRSS")
            statuses = Counter(status for status, _ in results)
            slowest = max(seconds for _, seconds in results)
            print(
                f"{args.bodies} bodies of {args.body_mb} MB (4 at a time): statuses "
                + ", ".join(f"{s or 'closed'}: {n}" for s, n in sorted(statuses.items()))
                + f"; slowest answer {slowest:.2f} s"
                + f"; server memory {before / 1024:.0f} → {after / 1024:.0f} MB"
                + f" (peak {memory_kb(service.pid, 'VmHWM') / 1024:.0f} MB)"
            )
            print(f"/healthz after: {'ok' if _answers(http) else 'FAILED'}")
        finally:
            http.close()
            service.terminate()
            try:
                service.wait(timeout=60)
            except subprocess.TimeoutExpired:
                service.kill()
            log.close()
            sandbox.terminate()
            sandbox.wait(timeout=30)


if __name__ == "__main__":
    main()
