"""Time and memory of computing every KPI over a large snapshot in SQLite.

Builds (once, cached at --db) a snapshot of --contacts contacts (default 1,000,000) with funnel
stage dates and --deals deals (default 200,000) through funnelsync's own storage layer, raw JSON
included, then computes all KPIs (12 monthly periods) in a fresh child process and prints the
seconds and the child's peak memory. Goal: ≤ 10 s and ≤ 1 GB.

    python bench/kpi_compute.py [--contacts 1000000] [--deals 200000] [--db /tmp/funnelsync-kpi-bench.db]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
STAGES = ["lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"]
SOURCES = [
    "ORGANIC_SEARCH",
    "PAID_SEARCH",
    "EMAIL_MARKETING",
    "SOCIAL_MEDIA",
    "PAID_SOCIAL",
    "REFERRALS",
    "DIRECT_TRAFFIC",
    "OFFLINE",
    "OTHER_CAMPAIGNS",
    "AI_REFERRALS",
]
BATCH = 20_000


def build(db: Path, contacts: int, deals: int) -> None:
    from storage import make_engine, migrate, upsert
    from storage.models import (
        HubSpotContact,
        HubSpotContactStageDate,
        HubSpotDeal,
        HubSpotDealStageDate,
        HubSpotPipelineStage,
    )

    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    rng = random.Random(1)
    start = AS_OF - timedelta(days=3 * 365)
    span = (AS_OF - start).total_seconds()
    rows: list[dict[str, object]] = []
    dates: list[dict[str, object]] = []

    def flush(force: bool = False) -> None:
        if len(rows) >= BATCH or (force and rows):
            with engine.begin() as conn:
                upsert(conn, HubSpotContact, rows)
                upsert(conn, HubSpotContactStageDate, dates)
            rows.clear()
            dates.clear()

    for i in range(contacts):
        created = start + timedelta(seconds=rng.uniform(0, span))
        source = rng.choice(SOURCES)
        t = created
        path = [("lead", t)]
        for stage, p in zip(STAGES[1:], (0.3, 0.5, 0.6, 0.35), strict=True):
            if rng.random() > p:
                break
            t = t + timedelta(days=rng.expovariate(1 / 12))
            if t > AS_OF:
                break
            path.append((stage, t))
        props = {f"hs_v2_date_entered_{s}": w.isoformat() for s, w in path}
        props.update(
            {
                "email": f"c{i}@example.com",
                "lifecyclestage": path[-1][0],
                "hs_analytics_source": source,
                "createdate": created.isoformat(),
                "firstname": "Ann",
                "lastname": f"Person{i}",
            }
        )
        rows.append(
            {
                "connection": "default",
                "id": str(100 + i),
                "createdate": created,
                "lifecyclestage": path[-1][0],
                "analytics_source": source,
                "latest_source": rng.choice(SOURCES),
                "raw": {"id": str(100 + i), "properties": props},
            }
        )
        dates.extend(
            {
                "connection": "default",
                "contact_id": str(100 + i),
                "stage": s,
                "source": "hs_v2_date_entered",
                "entered_at": w,
            }
            for s, w in path
        )
        flush()
    flush(force=True)
    stages = [
        ("open1", 0.2, False, False),
        ("open2", 0.6, False, False),
        ("won", 1.0, True, True),
        ("lost", 0.0, True, False),
    ]
    deal_rows: list[dict[str, object]] = []
    deal_dates: list[dict[str, object]] = []
    with engine.begin() as conn:
        upsert(
            conn,
            HubSpotPipelineStage,
            [
                {
                    "connection": "default",
                    "pipeline_id": "default",
                    "stage_id": s,
                    "label": s,
                    "display_order": n,
                    "probability": p,
                    "is_closed": c,
                    "is_won": w,
                }
                for n, (s, p, c, w) in enumerate(stages)
            ],
        )
    for i in range(deals):
        created = start + timedelta(seconds=rng.uniform(0, span))
        stage, _, closed, won = rng.choice(stages)
        close = created + timedelta(days=rng.expovariate(1 / 40)) if closed else None
        amount = None if rng.random() < 0.03 else round(rng.lognormvariate(11.5, 0.8), -2)
        deal_rows.append(
            {
                "connection": "default",
                "id": str(10_000_000 + i),
                "createdate": created,
                "closedate": close,
                "pipeline": "default",
                "dealstage": stage,
                "amount": amount,
                "amount_in_home_currency": amount,
                "currency": "SEK",
                "is_closed": closed,
                "is_closed_won": won,
                "analytics_source": rng.choice(SOURCES),
                "owner_id": str(rng.randint(1, 40)),
                "raw": {"id": str(i), "properties": {"amount": amount}},
            }
        )
        # The path through the pipeline: open1, maybe open2, then the current stage.
        walk = ["open1"] + (["open2"] if stage != "open1" and rng.random() < 0.7 else [])
        walk += [stage] if stage not in walk else []
        at = created
        for n, step in enumerate(walk):
            if n:
                at = at + timedelta(days=rng.expovariate(1 / 15))
            entered = close if (step in ("won", "lost") and close is not None) else at
            deal_dates.append(
                {
                    "connection": "default",
                    "deal_id": str(10_000_000 + i),
                    "stage": step,
                    "source": "hs_v2_date_entered",
                    "entered_at": max(entered, at) if entered else at,
                }
            )
        if len(deal_rows) >= BATCH:
            with engine.begin() as conn:
                upsert(conn, HubSpotDeal, deal_rows)
                upsert(conn, HubSpotDealStageDate, deal_dates)
            deal_rows.clear()
            deal_dates.clear()
    with engine.begin() as conn:
        upsert(conn, HubSpotDeal, deal_rows)
        upsert(conn, HubSpotDealStageDate, deal_dates)
    engine.dispose()


def measure(db: Path) -> dict[str, float]:
    from config import load_settings
    from service.kpis import compute_kpis
    from storage import make_engine

    settings = load_settings(data_dir=db.parent, database_url=f"sqlite:///{db}")
    engine = make_engine(settings.db_url)
    started = time.perf_counter()
    report = compute_kpis(settings, engine, as_of=AS_OF)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "values": len(report.result.values),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/funnelsync-kpi-bench.db"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.db)))
        return
    marker = args.db.with_suffix(".json")
    # The cached database is rebuilt when the sizes or the schema (any table or column) changed.
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401  (registers the tables)

    schema = sorted(f"{t.name}.{c.name}" for t in SQLModel.metadata.tables.values() for c in t.columns)
    wanted = {"contacts": args.contacts, "deals": args.deals, "schema": schema}
    if not (args.db.exists() and marker.exists() and json.loads(marker.read_text()) == wanted):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        started = time.perf_counter()
        build(args.db, args.contacts, args.deals)
        marker.write_text(json.dumps(wanted))
        print(f"built {args.db} in {time.perf_counter() - started:.0f} s")
    size_mb = args.db.stat().st_size / 1e6
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--db", str(args.db)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"funnelsync KPI computation: {args.contacts:,} contacts, {args.deals:,} deals, "
        f"SQLite ({size_mb:,.0f} MB)"
    )
    print(f"  KPI values          {result['values']:>10,}")
    print(f"  seconds             {result['seconds']:>10.2f}   (goal ≤ 10)")
    print(f"  peak memory         {result['peak_rss_mb']:>10.0f} MB (goal ≤ 1024)")


if __name__ == "__main__":
    main()
