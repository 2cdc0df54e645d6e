"""Backfill by export: a first sync of a large portal's contacts through HubSpot's CRM exports,
against the list endpoint's request count.

The HubSpot sandbox runs in its own process under the Professional rate limit (190 requests per
10 s) with its export model: an export takes `--export-seconds` plus one second per
`--export-rows-per-second` rows (HubSpot documents no figure), is zipped above 2 MB and split
above 1,000,000 rows. funnelsync syncs the `contacts` stream of an empty database (stage history
on, as by default; `export_backfill = "always"`) in a fresh child process with its writer process.
Printed: the whole first sync's time and its parts (waiting for the export, downloading, parsing
and storing), every API request the sandbox answered (discovery included) against what the list
endpoint needs for the same records (50 per request with stage history), the parse + store rate,
and peak memory.

    python bench/export_backfill.py [--contacts 1000000] [--db sqlite,postgres]
                                    [--export-seconds 5] [--export-rows-per-second 20000]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import add_pg_argument, own_peak_mb, run_child, scratch_database
from sandboxes import start_sandbox

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "bench-token"
HISTORY_PAGE = 50  # list pages with stage history hold 50 records


class _Marks(logging.Handler):
    """When the export was started and when its file was downloaded (from the connector's log)."""

    def __init__(self) -> None:
        super().__init__()
        self.at: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "through HubSpot export" in message:
            self.at.setdefault("started", time.perf_counter())
        elif "downloaded" in message:
            self.at.setdefault("downloaded", time.perf_counter())


def child(base_url: str, db_url: str, data_dir: str) -> dict[str, Any]:
    """One first sync of the contacts, in this (child) process."""
    from config import load_settings
    from service.sync import build_sync
    from storage import make_engine, migrate

    marks = _Marks()
    logging.getLogger("funnelsync").addHandler(marks)
    logging.getLogger("funnelsync").setLevel(logging.INFO)
    settings = load_settings(
        data_dir=Path(data_dir),
        database_url=db_url,
        hubspot={"token": TOKEN, "base_url": base_url, "export_backfill": "always"},
    )
    engine = make_engine(settings.db_url)
    migrate(engine)
    started = time.perf_counter()
    outcome = build_sync("hubspot", settings, engine).run(streams=["contacts"], trigger="bench")[0]
    ended = time.perf_counter()
    if outcome.status != "succeeded":
        raise RuntimeError(f"sync failed: {outcome.error}")
    engine.dispose()
    downloaded = marks.at.get("downloaded", started)
    return {
        "records": outcome.read,
        "seconds": ended - started,
        "until_started": marks.at.get("started", started) - started,
        "until_downloaded": downloaded - started,
        "parse_store_seconds": ended - downloaded,
        "sync_mb": own_peak_mb(),
    }


def api_requests(port: int) -> int:
    """Every API request the sandbox has answered (discovery included; downloads are not API)."""
    import httpx

    with httpx.Client(timeout=10) as client:
        return int(client.get(f"http://127.0.0.1:{port}/_sandbox/stats").json().get("requests", 0))


def run_one(kind: str, base_url: str, pg: str) -> dict[str, Any]:
    """One database: a fresh SQLite file or PostgreSQL schema, dropped afterwards."""
    with (
        tempfile.TemporaryDirectory(prefix="funnelsync-export-") as tmp,
        scratch_database(kind, pg, tmp) as database,
    ):
        db_url, _ = database
        result, measured = run_child(
            [sys.executable, __file__, "--child", base_url, db_url, tmp], tmp, kind, cwd=ROOT
        )
        result["total_mb"] = measured.total_mb
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--export-seconds", type=float, default=5.0)
    parser.add_argument("--export-rows-per-second", type=float, default=20_000.0)
    add_pg_argument(parser)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    from sandbox.server import free_port

    port = free_port()
    started = time.perf_counter()
    sandbox = start_sandbox(
        [
            "hubspot",
            *("--contacts", str(args.contacts), "--deals", str(args.contacts // 5), "--seed", "1"),
            *("--rate-limit", "190", "--search-rate", "5", "--daily-limit", "0", "--token", TOKEN),
            *("--export-seconds", str(args.export_seconds)),
            *("--export-rows-per-second", str(args.export_rows_per_second)),
        ],
        port,
        timeout=3600,
    )
    delay = args.export_seconds + args.contacts / args.export_rows_per_second
    print(
        f"backfill by export: {args.contacts:,} contacts, sandbox generated in "
        f"{time.perf_counter() - started:.0f} s; rate limit 190 / 10 s; the sandbox's export takes "
        f"{args.export_seconds:g} s + 1 s per {args.export_rows_per_second:,.0f} rows = {delay:.0f} s"
    )
    list_requests = -(-args.contacts // HISTORY_PAGE)
    try:
        for kind in args.db.split(","):
            before = api_requests(port)
            r = run_one(kind, f"http://127.0.0.1:{port}", args.pg)
            r["requests"] = api_requests(port) - before
            waiting = r["until_downloaded"] - r["until_started"]
            print(f"\n{kind}")
            print(f"  first sync of contacts  {r['seconds']:>7.1f} s  {r['records']:>10,} records")
            print(
                f"    up to the export's start {r['until_started']:>6.1f} s (clock probe, properties, count)"
            )
            print(f"    export + download        {waiting:>6.1f} s (the sandbox's delay {delay:.0f} s)")
            print(
                f"    parse + store            {r['parse_store_seconds']:>6.1f} s  "
                f"{r['records'] / r['parse_store_seconds']:>8,.0f} records/s"
            )
            print(
                f"  API requests {r['requests']:,} against {list_requests:,} for the list endpoint with "
                f"stage history ({r['requests'] / list_requests:.3%}); the list endpoint at the ceiling "
                f"of 19 requests/s: {list_requests / 19 / 60:.1f} min"
            )
            print(f"  peak memory: sync {r['sync_mb']:.0f} MB, sync + writer {r['total_mb']:.0f} MB")
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=60)


if __name__ == "__main__":
    main()
