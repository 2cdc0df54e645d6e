"""Scale curve: a full sync plus every KPI at 10k, 100k and 1M contacts, on SQLite and PostgreSQL.

For each size the HubSpot sandbox runs in its own process without rate limits (deals at 20 % of
contacts, companies at 25 %, seed 1), and funnelsync makes a full sync of every HubSpot stream
with its default settings (stage history on, 4 streams side by side, web analytics included),
then computes every KPI, in a fresh child process per database; peak memory is each process's
own high-water mark (bench/measure.py): the largest process, and the sync with its writer
process. Printed per run: sync seconds, records/s, KPI seconds, peak memory, database size;
then the growth ratios between consecutive sizes: how much more time (and memory) each tenfold
of data costs. Linear cost is a time ratio of 10 per tenfold (cost per record ratio 1.0); below
that is better than linear.

    python bench/scale.py [--sizes 10000,100000,1000000] [--db sqlite,postgres]
                          [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
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


def child(base_url: str, db_url: str, data_dir: str) -> dict[str, Any]:
    """One full sync and one KPI computation, in this (child) process."""
    from config import load_settings
    from service.kpis import compute_kpis
    from service.sync import build_sync
    from storage import make_engine, migrate

    settings = load_settings(
        data_dir=Path(data_dir),
        database_url=db_url,
        hubspot={
            "token": TOKEN,
            "base_url": base_url,
            "rate_limit_per_10s": 1_000_000,
            "search_rate_per_second": 1_000_000,
        },
    )
    engine = make_engine(settings.db_url)
    migrate(engine)
    started = time.perf_counter()
    outcomes = build_sync("hubspot", settings, engine).run(full=True, trigger="bench")
    sync_seconds = time.perf_counter() - started
    sync_mb = own_peak_mb()
    failed = [f"{o.stream}: {o.error}" for o in outcomes if o.status != "succeeded"]
    if failed:
        raise RuntimeError(f"sync failed: {failed}")
    started = time.perf_counter()
    report = compute_kpis(settings, engine)
    kpi_seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "records": sum(o.read for o in outcomes),
        "per_stream": {o.stream: o.read for o in outcomes},
        "sync_seconds": sync_seconds,
        "kpi_seconds": kpi_seconds,
        "sync_mb": sync_mb,
        "kpi_mb": own_peak_mb(),
        "kpi_values": len(report.result.values),
    }


def postgres_size(pg: str, schema: str) -> int:
    import psycopg

    with psycopg.connect(pg) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema,),
        ).fetchone()
    return int(row[0]) if row else 0


def run_one(kind: str, base_url: str, pg: str) -> dict[str, Any]:
    """One database: a fresh SQLite file or PostgreSQL schema, dropped afterwards."""
    with (
        tempfile.TemporaryDirectory(prefix="funnelsync-scale-") as tmp,
        scratch_database(kind, pg, tmp) as database,
    ):
        db_url, schema = database
        command = [sys.executable, __file__, "--child", base_url, db_url, tmp]
        result, measured = run_child(command, tmp, kind, cwd=ROOT)
        # The child's own image peaks last (KPIs after the sync); the rest is its writer process.
        result["writer_mb"] = measured.total_mb - result["kpi_mb"]
        result["sync_total_mb"] = result["sync_mb"] + result["writer_mb"]
        if schema is None:
            result["db_bytes"] = sum(p.stat().st_size for p in Path(tmp).glob("funnelsync.db*"))
        else:
            result["db_bytes"] = postgres_size(pg, schema)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--db", default="sqlite,postgres")
    add_pg_argument(parser)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    from sandbox.server import free_port

    sizes = [int(s) for s in args.sizes.split(",")]
    kinds = args.db.split(",")
    print(
        f"funnelsync scale curve: full sync of every HubSpot stream + every KPI, no rate limit, "
        f"sandbox in its own process, {os.cpu_count()} CPUs"
    )
    results: dict[tuple[str, int], dict[str, Any]] = {}
    for size in sizes:
        port = free_port()
        started = time.perf_counter()
        sandbox = start_sandbox(
            [
                "hubspot",
                "--contacts",
                str(size),
                "--deals",
                str(size // 5),
                "--seed",
                "1",
                "--rate-limit",
                "0",
                "--search-rate",
                "0",
                "--daily-limit",
                "0",
                "--token",
                TOKEN,
            ],
            port,
            timeout=1800,
        )
        print(f"\n{size:,} contacts: sandbox generated in {time.perf_counter() - started:.0f} s")
        try:
            for kind in kinds:
                result = results[(kind, size)] = run_one(kind, f"http://127.0.0.1:{port}", args.pg)
                print(
                    f"  {kind:<9} sync {result['sync_seconds']:>7.1f} s  {result['records']:>10,} records  "
                    f"{result['records'] / result['sync_seconds']:>7,.0f} records/s  "
                    f"KPIs {result['kpi_seconds']:>6.1f} s ({result['kpi_values']:,} values)  "
                    f"peak: sync {result['sync_mb']:>4.0f} + writer {result['writer_mb']:>4.0f} MB, "
                    f"KPIs {result['kpi_mb']:>5.0f} MB  "
                    f"database {result['db_bytes'] / 1e6:>7,.0f} MB"
                )
        finally:
            sandbox.terminate()
            sandbox.wait(timeout=60)
    print("\ngrowth between consecutive sizes (a time ratio equal to the records ratio = linear):")
    print(
        "| database | from → to | records × | sync time × | KPI time × | sync + KPIs × | per record × |",
        end="",
    )
    print(" sync memory × | size × |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind in kinds:
        for small, large in itertools.pairwise(sizes):
            a, b = results[(kind, small)], results[(kind, large)]
            records = b["records"] / a["records"]
            total = (b["sync_seconds"] + b["kpi_seconds"]) / (a["sync_seconds"] + a["kpi_seconds"])
            print(
                f"| {kind} | {small:,} → {large:,} | {records:.1f} | "
                f"{b['sync_seconds'] / a['sync_seconds']:.1f} | {b['kpi_seconds'] / a['kpi_seconds']:.1f} | "
                f"{total:.1f} | {total / records:.2f} | {b['sync_total_mb'] / a['sync_total_mb']:.2f} | "
                f"{b['db_bytes'] / a['db_bytes']:.1f} |"
            )


if __name__ == "__main__":
    main()
