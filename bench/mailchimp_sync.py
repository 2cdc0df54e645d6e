"""Mailchimp full-sync throughput against the Mailchimp sandbox: about 200,000 members and 500
campaigns with their reports and unsubscribes, stored in SQLite.

The sandbox runs in its own process (as the real API would), generated from a HubSpot-sized
portal (`--contacts`; the audience holds about 88 % of that many members across two lists). The
sync runs in a fresh child process so its peak memory is its own; an incremental sync with
nothing changed follows.

    python bench/mailchimp_sync.py [--contacts 227000] [--campaigns 500]
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

from sandboxes import start_sandbox

ROOT = Path(__file__).resolve().parents[1]
KEY = "0123456789abcdef0123456789abcdef-us6"


def run(contacts: int, campaigns: int) -> dict[str, object]:
    from config import load_settings
    from sandbox.server import free_port
    from service.sync import build_sync
    from storage import make_engine, migrate, recent_runs

    port = free_port()
    started_sandbox = time.perf_counter()
    args = ["mailchimp", "--contacts", str(contacts), "--campaigns", str(campaigns), "--api-key", KEY]
    sandbox = start_sandbox(args, port, timeout=900)
    generation = time.perf_counter() - started_sandbox
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                data_dir=Path(tmp),
                mailchimp={"api_key": KEY, "base_url": f"http://127.0.0.1:{port}/3.0"},
            )
            engine = make_engine(settings.db_url)
            migrate(engine)
            started = time.perf_counter()
            outcomes = build_sync("mailchimp", settings, engine).run(full=True, trigger="bench")
            seconds = time.perf_counter() - started
            writer_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            runs = recent_runs(engine, limit=len(outcomes))
            idle_started = time.perf_counter()
            idle = build_sync("mailchimp", settings, engine).run(trigger="bench")
            idle_seconds = time.perf_counter() - idle_started
            engine.dispose()
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    if any(o.status != "succeeded" for o in outcomes + idle):
        raise RuntimeError(f"sync failed: {[(o.stream, o.error) for o in outcomes + idle]}")
    records = sum(o.read for o in outcomes)
    return {
        "records": records,
        "per_stream": {o.stream: o.read for o in outcomes},
        "seconds": seconds,
        "records_per_s": records / seconds,
        "requests": sum(r.requests for r in runs),
        "rate_limited": sum(r.rate_limited for r in runs),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "writer_rss_mb": writer_rss_mb,
        "idle_seconds": idle_seconds,
        "idle_read": sum(o.read for o in idle),
        "sandbox_start_s": generation,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=227_000)
    parser.add_argument("--campaigns", type=int, default=500)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run(args.contacts, args.campaigns)))
        return
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--contacts",
            str(args.contacts),
            "--campaigns",
            str(args.campaigns),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"funnelsync Mailchimp full sync: audience of a {args.contacts:,}-contact portal, {args.campaigns} "
        f"campaigns; SQLite; sandbox in its own process (started in {r['sandbox_start_s']:.0f} s); "
        f"{os.cpu_count()} CPUs"
    )
    print(f"  records synced      {r['records']:>12,}   {r['per_stream']}")
    print(f"  wall time           {r['seconds']:>12.1f} s")
    print(f"  throughput          {r['records_per_s']:>12,.0f} records/s")
    print(f"  HTTP requests       {r['requests']:>12,}   429s {r['rate_limited']}")
    print(
        f"  peak memory (sync)  {r['peak_rss_mb']:>12.0f} MB   (writer process {r['writer_rss_mb']:.0f} MB)"
    )
    idle = f"{r['idle_seconds']:>12.1f} s   ({r['idle_read']:,} records re-read: overlap, recent reports)"
    print(f"  incremental, idle   {idle}")


if __name__ == "__main__":
    main()
