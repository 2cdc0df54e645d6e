"""Full-sync throughput of funnelsync against the HubSpot sandbox.

Scenario (a): the sandbox enforces HubSpot's Professional limit (190 requests per rolling 10 s);
funnelsync is configured for that tier. The ceiling for list endpoints is 190 × 100 records / 10 s
= 1,900 records/s; the script prints the achieved records/s and its ratio to that ceiling.
Scenario (b): no rate limit; prints records/s stored in SQLite.

Both run without stage history (`hubspot.stage_history = false`, the foundation's streams) and
with it (the default: contacts and deals come 50 to a page with `propertiesWithHistory`, so a
full sync makes about twice the requests). With history, the records ceiling no longer applies
to every page; the script prints the share of the request budget used (requests/s ÷ 19).

The sandbox runs in its own process (as a real API would), the sync in this one. Each scenario
runs in a fresh child process so its peak memory is its own. `--latency-ms` makes every sandbox
answer take that much longer (HubSpot's round trips take 100–500 ms); `--parallel` is
`hubspot.parallel_streams` (1: the large streams one after another). After the full sync, an
incremental sync with nothing changed shows what an idle sync costs, and one after about 1 % of
the records changed (stage moves, won and lost deals, a day later) what a day's changes cost.

    python bench/sync_throughput.py [--contacts 50000] [--deals 10000] [--scenario a|b|both]
                                    [--history off|on|both] [--latency-ms 0] [--parallel 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sandboxes import start_sandbox

ROOT = Path(__file__).resolve().parents[1]
CEILING_RECORDS_PER_S = 190 * 100 / 10


def start_hubspot(
    port: int, contacts: int, deals: int, rate_limit: int, latency_ms: int = 0
) -> subprocess.Popen[bytes]:
    return start_sandbox(
        [
            "hubspot",
            "--contacts",
            str(contacts),
            "--deals",
            str(deals),
            "--seed",
            "1",
            "--rate-limit",
            str(rate_limit),
            "--search-rate",
            "0",
            "--daily-limit",
            "0",
            "--token",
            "bench-token",
            "--latency-ms",
            str(latency_ms),
        ],
        port,
    )


def sandbox_requests(port: int) -> int:
    with httpx.Client(timeout=10) as probe:
        return int(probe.get(f"http://127.0.0.1:{port}/_sandbox/stats").json().get("requests", 0))


def run_scenario(
    name: str, contacts: int, deals: int, history: bool, latency_ms: int, parallel: int
) -> dict[str, float]:
    from config import load_settings
    from sandbox.server import free_port
    from service.sync import build_sync
    from storage import make_engine, migrate, recent_runs

    limited = name == "a"
    port = free_port()
    sandbox = start_hubspot(port, contacts, deals, 190 if limited else 0, latency_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                data_dir=Path(tmp),
                hubspot={
                    "token": "bench-token",
                    "base_url": f"http://127.0.0.1:{port}",
                    "rate_limit_per_10s": 190 if limited else 1_000_000,
                    "search_rate_per_second": 5 if limited else 1_000_000,
                    "stage_history": history,
                    "parallel_streams": parallel,
                },
            )
            engine = make_engine(settings.db_url)
            migrate(engine)
            started = time.perf_counter()
            outcomes = build_sync("hubspot", settings, engine).run(full=True, trigger="bench")
            seconds = time.perf_counter() - started
            # The writer process has exited and been waited for; the sandbox has not (yet).
            writer_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            runs = recent_runs(engine, limit=len(outcomes))
            # Nothing changed since: what does an incremental sync cost?
            before = sandbox_requests(port)
            idle_started = time.perf_counter()
            idle = build_sync("hubspot", settings, engine).run(trigger="bench")
            idle_seconds = time.perf_counter() - idle_started
            idle_requests = sandbox_requests(port) - before
            # About 1 % of the records change (a day of CRM activity): what does that sync cost?
            with httpx.Client(timeout=60) as admin:
                admin.post(
                    f"http://127.0.0.1:{port}/_sandbox/simulate",
                    json={
                        "days": 1,
                        "stage_changes": contacts // 100,
                        "deals_won": deals // 200,
                        "deals_lost": deals // 200,
                    },
                ).raise_for_status()
            before = sandbox_requests(port)
            changed_started = time.perf_counter()
            changed = build_sync("hubspot", settings, engine).run(trigger="bench")
            changed_seconds = time.perf_counter() - changed_started
            changed_requests = sandbox_requests(port) - before
            engine.dispose()
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    if any(o.status != "succeeded" for o in outcomes):
        raise RuntimeError(f"sync failed: {[(o.stream, o.error) for o in outcomes]}")
    records = sum(o.read for o in outcomes)
    requests = sum(r.requests for r in runs)
    return {
        "records": records,
        "seconds": seconds,
        "records_per_s": records / seconds,
        "requests": requests,
        "rate_limited": sum(r.rate_limited for r in runs),
        "retries": sum(r.retries for r in runs),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "writer_rss_mb": writer_rss_mb,
        "per_stream": {o.stream: o.read for o in outcomes},  # type: ignore[dict-item]
        "idle_requests": idle_requests,
        "idle_seconds": idle_seconds,
        "idle_modes": {o.stream: o.mode for o in idle if o.status == "succeeded"},  # type: ignore[dict-item]
        "changed_records": sum(o.read for o in changed),
        "changed_requests": changed_requests,
        "changed_seconds": changed_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--scenario", choices=["a", "b", "both"], default="both")
    parser.add_argument("--history", choices=["off", "on", "both"], default="both")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_scenario(
            args.scenario, args.contacts, args.deals, args.history == "on", args.latency_ms, args.parallel
        )
        print(json.dumps(result))
        return
    names = ["a", "b"] if args.scenario == "both" else [args.scenario]
    histories = ["off", "on"] if args.history == "both" else [args.history]
    scenarios = [(name, history) for name in names for history in histories]
    print(
        f"funnelsync full-sync throughput: {args.contacts:,} contacts, {args.deals:,} deals "
        f"(+ companies, owners, pipelines, marketing emails), SQLite, sandbox in its own process; "
        f"{os.cpu_count()} CPUs; sandbox latency {args.latency_ms} ms; parallel_streams {args.parallel}"
    )
    for name, history in scenarios:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--scenario",
                name,
                "--history",
                history,
                "--contacts",
                str(args.contacts),
                "--deals",
                str(args.deals),
                "--latency-ms",
                str(args.latency_ms),
                "--parallel",
                str(args.parallel),
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        label = "(a) HubSpot Professional limit, 190 requests / 10 s" if name == "a" else "(b) no rate limit"
        print(f"\n{label}, stage history {history}")
        print(f"  records synced      {result['records']:>12,}   {result['per_stream']}")
        print(f"  wall time           {result['seconds']:>12.1f} s")
        print(f"  throughput          {result['records_per_s']:>12,.0f} records/s")
        per_s = result["requests"] / result["seconds"]
        print(f"  HTTP requests       {result['requests']:>12,}   ({per_s:.1f}/s)")
        print(f"  429 answers         {result['rate_limited']:>12,}   retries {result['retries']:,}")
        writer = f"(writer process {result['writer_rss_mb']:.0f} MB)"
        print(f"  peak memory (sync)  {result['peak_rss_mb']:>12.0f} MB   {writer}")
        if name == "a":
            ratio = result["records_per_s"] / CEILING_RECORDS_PER_S
            ceiling = f"{CEILING_RECORDS_PER_S:,.0f} records/s = 190 × 100 / 10 s"
            print(f"  ratio to ceiling    {ratio:>12.3f}   (ceiling {ceiling})")
            print(f"  request budget used {per_s / 19:>12.3f}   (of 19 requests/s)")
        idle = f"{result['idle_requests']:,} requests in {result['idle_seconds']:.2f} s"
        print(f"  incremental, idle   {idle:>24}   {result['idle_modes']}")
        changed = (
            f"{result['changed_records']:,} records, {result['changed_requests']:,} requests in "
            f"{result['changed_seconds']:.2f} s = {result['changed_seconds'] / result['seconds']:.1%} of the "
            f"full sync's time, {result['changed_requests'] / result['requests']:.1%} of its requests"
        )
        print(f"  incremental, 1 % changed   {changed}")


if __name__ == "__main__":
    main()
