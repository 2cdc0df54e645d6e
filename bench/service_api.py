"""`funnelsync serve` as a dashboard backend: how fast the first scheduled sync lands, what the
read API, metrics and status page cost per request (200 and 304), how long SIGTERM takes in the
middle of a full sync, and how much a restart has left to do.

The HubSpot sandbox (HubSpot's 190 requests / 10 s, `--latency-ms` per answer) and the service
each run in their own process; the database is a fresh SQLite file (or `--database-url`).

    python bench/service_api.py [--contacts 20000] [--latency-ms 100] [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sandboxes import start_sandbox

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "bench-admin-token"


def funnelsync(env: dict[str, str], *args: str, log: Any = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from service.cli import main; main()", *args]
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def latency(http: httpx.Client, path: str, n: int, headers: dict[str, str] | None = None) -> dict[str, float]:
    """p50 / p95 milliseconds and requests/s of `n` sequential GETs."""
    times = []
    started = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        answer = http.get(path, headers=headers or {})
        assert answer.status_code in (200, 304), (path, answer.status_code)
        times.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - started
    times.sort()
    return {
        "p50_ms": statistics.median(times),
        "p95_ms": times[int(0.95 * (len(times) - 1))],
        "per_s": n / total,
    }


def runs(http: httpx.Client, stream: str) -> list[dict[str, Any]]:
    return list(http.get("/admin/runs", params={"stream": stream, "limit": 20}).json())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    from sandbox.server import free_port

    sandbox_port, port = free_port(), free_port()
    sandbox = start_sandbox(
        [
            "hubspot",
            "--contacts",
            str(args.contacts),
            "--latency-ms",
            str(args.latency_ms),
            "--token",
            "bench",
        ],
        sandbox_port,
        timeout=600,
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = _service_env(tmp, sandbox_port, port, args.database_url)
        subprocess.run(
            [sys.executable, "-c", "from service.cli import main; main()", "migrate"],
            env=env,
            check=True,
            cwd=ROOT,
        )
        log = Path(tmp, "serve.log").open("ab")  # noqa: SIM115 (closed in the finally below)
        url = f"http://127.0.0.1:{port}"
        http = _admin_client(url)
        service = funnelsync(env, "serve", log=log)
        try:
            etag = _first_sync(http)
            _read_latencies(http, etag, args.requests)
            http.close()
            http = _admin_client(url)
            service = _sigterm_and_resume(http, service, env, log, args.contacts)
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)
        finally:
            http.close()
            if service.poll() is None:
                service.kill()
            log.close()
            sandbox.terminate()
            sandbox.wait(timeout=30)


def _service_env(tmp: str, sandbox_port: int, port: int, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELSYNC_")}
    env.update(
        FUNNELSYNC_DATA_DIR=tmp,
        FUNNELSYNC_HUBSPOT__BASE_URL=f"http://127.0.0.1:{sandbox_port}",
        FUNNELSYNC_HUBSPOT__TOKEN="bench",
        FUNNELSYNC_SERVICE__PORT=str(port),
        FUNNELSYNC_SERVICE__ADMIN_TOKEN=ADMIN,
        FUNNELSYNC_SERVICE__JITTER_SECONDS="0",
        FUNNELSYNC_SERVICE__RECONCILE_CRON="",
        FUNNELSYNC_LOG_JSON="true",
    )
    if database_url:
        env["FUNNELSYNC_DATABASE_URL"] = database_url
    return env


def _admin_client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)


def _first_sync(http: httpx.Client) -> str:
    """Waits for the first scheduled sync and its KPIs, prints how long they took; the KPIs' ETag."""
    started = time.perf_counter()
    wait_for(lambda: _answers(http), 60, "the service")
    first = wait_for(
        lambda: [r for r in runs(http, "contacts") if r["status"] == "succeeded"],
        3600,
        "the first sync",
    )[0]
    wait_for(lambda: http.get("/api/kpis/latest").status_code == 200, 600, "the first KPIs")
    first_seconds = time.perf_counter() - started
    print(
        f"first scheduled sync + KPIs + exports: {first_seconds:.1f} s after start "
        f"(contacts: {first['records_read']:,} records in {first['seconds']:.1f} s)"
    )
    return str(http.get("/api/kpis/latest").headers["etag"])


def _read_latencies(http: httpx.Client, etag: str, requests: int) -> None:
    print(f"{'GET':<34} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8}  bytes")
    for label, path, headers in (
        ("/api/kpis/latest", "/api/kpis/latest", None),
        ("/api/kpis/latest (304)", "/api/kpis/latest", {"If-None-Match": etag}),
        ("/api/kpis?dimension=all", "/api/kpis?dimension=all", None),
        ("/api/kpis?format=csv", "/api/kpis?format=csv", None),
        ("/api/exports/kpis.csv", "/api/exports/kpis.csv", None),
        ("/metrics", "/metrics", None),
        ("/readyz", "/readyz", None),
        ("/ (status page)", "/", None),
    ):
        size = len(http.get(path, headers=headers or {}).content)
        n = requests if "304" in label or "readyz" in label else max(20, requests // 5)
        figures = latency(http, path, n, headers)
        print(
            f"{label:<34} {figures['p50_ms']:>8.1f} {figures['p95_ms']:>8.1f} "
            f"{figures['per_s']:>8.0f}  {size:,}"
        )


def _sigterm_and_resume(
    http: httpx.Client, service: subprocess.Popen[bytes], env: dict[str, str], log: Any, contacts: int
) -> subprocess.Popen[bytes]:
    """SIGTERM in the middle of a full resync, then a restart: the new service process."""
    accepted = http.post("/admin/resync", json={"streams": ["contacts"], "full": True}).json()
    run_id = accepted["run_id"]
    wait_for(lambda: http.get(f"/admin/runs/{run_id}").json()["pages"] >= 20, 600, "resync pages")
    stop_started = time.perf_counter()
    service.send_signal(signal.SIGTERM)
    code = service.wait(timeout=60)
    stop_seconds = time.perf_counter() - stop_started
    restart = time.perf_counter()
    service = funnelsync(env, "serve", log=log)
    wait_for(lambda: _answers(http), 60, "the restarted service")
    stopped = http.get(f"/admin/runs/{run_id}").json()
    resumed = wait_for(
        lambda: [r for r in runs(http, "contacts") if r["id"] > run_id and r["status"] == "succeeded"],
        3600,
        "the resumed sync",
    )[0]
    resume_seconds = time.perf_counter() - restart
    print(
        f"SIGTERM mid-sync → exit {code} in {stop_seconds:.2f} s; run {run_id} {stopped['status']} "
        f"after {stopped['records_read']:,} records"
    )
    print(
        f"restart → resumed full sync done in {resume_seconds:.1f} s, reading the remaining "
        f"{resumed['records_read']:,} of {contacts:,} contacts"
    )
    return service


def _answers(http: httpx.Client) -> bool:
    try:
        return http.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False


if __name__ == "__main__":
    main()
