"""Web analytics read: the `web_analytics` stream against the HubSpot sandbox in its own process.

Reads `--days` of daily rows (nine reports) from a generated portal over loopback at the sandbox's
rate limit, then an incremental read (the look-back window), and prints requests, report days,
breakdown rows, seconds, rows/s, the share of one rate-limit window used and peak memory of this
process. No database: storage is measured by bench/storage_ingest.py.

    python bench/web_analytics.py [--contacts 20000] [--days 730] [--rate-limit 190]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandboxes import start_sandbox  # noqa: E402

from config import HubSpotSettings, RetrySettings  # noqa: E402
from connector.auth import BearerAuth  # noqa: E402
from connector.clock import SystemClock  # noqa: E402
from connector.hubspot.analytics import WebAnalyticsStream  # noqa: E402
from connector.hubspot.client import HubSpotClient  # noqa: E402
from sandbox.server import free_port  # noqa: E402


def read(
    stream: WebAnalyticsStream, client: HubSpotClient, state: dict[str, Any], *, full: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    before = client.stats.requests
    started = time.perf_counter()
    days = rows = 0
    last: dict[str, Any] = state
    for page in stream.pages(client, state, full=full):
        days += len(page.records)
        rows += sum(len(r["rows"]) for r in page.records if isinstance(r.get("rows"), list))
        last = page.checkpoint
    seconds = time.perf_counter() - started
    return {
        "requests": client.stats.requests - before,
        "days": days,
        "rows": rows,
        "seconds": seconds,
    }, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--rate-limit", type=int, default=190)
    args = parser.parse_args()
    port = free_port()
    proc = start_sandbox(
        ["hubspot", "--contacts", str(args.contacts), "--rate-limit", str(args.rate_limit)], port
    )
    try:
        from pydantic import SecretStr

        settings = HubSpotSettings(
            base_url=f"http://127.0.0.1:{port}",
            analytics_days=args.days,
            analytics_minutes=0,
            rate_limit_per_10s=max(args.rate_limit, 1),
        )
        stream = WebAnalyticsStream(settings)
        auth = BearerAuth(SecretStr("sandbox-token"))
        with HubSpotClient(settings, auth=auth, retry=RetrySettings(), clock=SystemClock()) as client:
            full, state = read(stream, client, {}, full=True)
            again, _ = read(stream, client, state, full=False)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # The limit is a rolling window: a read that needs fewer requests than one window holds is
    # never throttled, so the meaningful ratio is requests per window, not per second.
    window = args.rate_limit or None
    print(
        f"portal: {args.contacts:,} contacts, {args.days} days, rate limit {args.rate_limit or 'none'} / 10 s"
    )
    for name, r in (("full", full), ("incremental", again)):
        per_second = r["requests"] / r["seconds"] if r["seconds"] else 0.0
        share = f", {r['requests'] / window:.0%} of one 10-s window's {window}" if window else ""
        print(
            f"{name:>11}: {r['requests']} requests, {r['days']:,} report days, {r['rows']:,} rows in "
            f"{r['seconds']:.1f} s ({r['rows'] / r['seconds']:,.0f} rows/s, "
            f"{per_second:.1f} requests/s{share})"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the reading process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
