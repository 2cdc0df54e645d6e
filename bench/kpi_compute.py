"""Time and memory of computing every KPI over a large snapshot, in SQLite or PostgreSQL.

Builds (once, cached) a snapshot of --contacts contacts (default 1,000,000) with funnel stage
dates and --deals deals (default 200,000) through funnelsync's own storage layer, raw JSON
included, then computes all KPIs (12 monthly periods) in a fresh child process and prints the
seconds, the child's peak memory and where the time goes. Issue 25's goal: ≤ 10 s and ≤ 500 MB.
Deals have one to three contacts each, so attribution has journeys; a HubSpot campaign runs every
two months with spend items and the contacts it brought; contacts carry form conversions and
email clicks; every deal has a discovery call and a demo meeting; and bench/kpi_marketing.py adds
a weekly HubSpot marketing email, a Mailchimp newsletter (70 % of the contacts as members, its
reports, who clicked) and two years of daily web analytics: every family and every attribution
touch type but page views (Enterprise data) is measured. v3 of the snapshot (the marketing part),
hence the file name.

    python bench/kpi_compute.py [--contacts 1000000] [--deals 200000] [--db /tmp/funnelsync-kpi-bench-v3.db]
    python bench/kpi_compute.py --db-url postgresql://postgres@127.0.0.1:5432/funnelsync_kpi_bench
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kpi_marketing import build_marketing

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
# HubSpot campaigns over the three years; contacts a campaign brings; form and email touches.
CAMPAIGNS = 18
CAMPAIGN_SHARE, CONVERTED_LATER, CLICKERS = 0.3, 0.35, 0.3


STAGE_ROWS = [
    ("open1", 0.2, False, False),
    ("open2", 0.6, False, False),
    ("won", 1.0, True, True),
    ("lost", 0.0, True, False),
]
Row = dict[str, object]


def build(url: str, contacts: int, deals: int) -> None:
    from storage import make_engine, migrate, upsert
    from storage.models import (
        HubSpotContact,
        HubSpotContactStageDate,
        HubSpotDeal,
        HubSpotDealStageDate,
        HubSpotPipelineStage,
    )

    engine = make_engine(url)
    migrate(engine)
    rng = random.Random(1)
    start = AS_OF - timedelta(days=3 * 365)
    span = (AS_OF - start).total_seconds()

    def load(made: Iterator[tuple[Row, list[Row]]], model: Any, dated: Any) -> None:
        """Upsert records and their stage dates in batches of BATCH records."""
        rows: list[Row] = []
        dates: list[Row] = []
        for row, row_dates in made:
            rows.append(row)
            dates.extend(row_dates)
            if len(rows) >= BATCH:
                with engine.begin() as conn:
                    upsert(conn, model, rows)
                    upsert(conn, dated, dates)
                rows.clear()
                dates.clear()
        if rows:
            with engine.begin() as conn:
                upsert(conn, model, rows)
                upsert(conn, dated, dates)

    touch_rng = random.Random(3)  # its own stream: the contacts' other fields stay as earlier builds
    made = (_touches(_contact(i, rng, start, span), touch_rng, start) for i in range(contacts))
    load(made, HubSpotContact, HubSpotContactStageDate)
    with engine.begin() as conn:
        upsert(conn, HubSpotPipelineStage, [_pipeline_stage(n, *stage) for n, stage in enumerate(STAGE_ROWS)])
    load((_deal(i, rng, start, span) for i in range(deals)), HubSpotDeal, HubSpotDealStageDate)
    _link_deals(engine, contacts, deals)
    _campaigns(engine, start)
    _engagements(engine)
    created_rng = random.Random(1)  # the contacts' creation times, drawn again as above (in order)

    def created_at(i: int) -> datetime:
        moment = _contact(i, created_rng, start, span)[0]["createdate"]
        assert isinstance(moment, datetime)
        return moment

    build_marketing(engine, created_at, contacts, AS_OF)
    if engine.dialect.name == "postgresql":
        # The sync's write path keeps the planner's statistics fresh (storage/write.py); this
        # build writes around it, and without them PostgreSQL plans nested loops over tables it
        # takes for empty (20,000 contacts: 121 s of reads instead of 1.0 s).
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    engine.dispose()


def _campaigns(engine: Any, start: datetime) -> None:
    """A campaign every two months (CAMPAIGNS of them) with three spend items each."""
    from storage import upsert
    from storage.models import HubSpotCampaign, HubSpotCampaignItem

    rng = random.Random(4)
    campaigns, items = [], []
    for n in range(CAMPAIGNS):
        begins = start + timedelta(days=60 * n)
        spend = [round(rng.uniform(20_000, 120_000), 2) for _ in range(3)]
        campaigns.append(
            {
                "connection": "default",
                "id": _campaign_id(n),
                "name": f"Campaign {n}",
                "start_date": begins.date(),
                "end_date": (begins + timedelta(days=45)).date(),
                "currency": "SEK",
                "budget_total": round(sum(spend) * 1.1, 2),
                "spend_total": sum(spend),
                "sessions": rng.randint(1_000, 50_000),
                "archived": False,
                "raw": {},
            }
        )
        items += [
            {
                "connection": "default",
                "campaign_id": _campaign_id(n),
                "kind": "spend",
                "item_id": f"{n}-{k}",
                "amount": amount,
                "item_order": k,
                "created_at": begins + timedelta(days=7 * k),
            }
            for k, amount in enumerate(spend)
        ]
    with engine.begin() as conn:
        upsert(conn, HubSpotCampaign, campaigns)
        upsert(conn, HubSpotCampaignItem, items)


def _campaign_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _engagements(engine: Any) -> None:
    """A discovery call the day before each deal was created and a demo meeting a week after,
    each on the deal and its first contact (read back from the stored links)."""
    from sqlalchemy import select

    from storage import upsert
    from storage.db import table_of
    from storage.models import (
        HubSpotCall,
        HubSpotCallAssociation,
        HubSpotDeal,
        HubSpotDealAssociation,
        HubSpotMeeting,
        HubSpotMeetingAssociation,
    )

    deals_t, links_t = table_of(HubSpotDeal), table_of(HubSpotDealAssociation)
    with engine.connect() as conn:
        created = {str(i): at for i, at in conn.execute(select(deals_t.c.id, deals_t.c.createdate))}
        first: dict[str, str] = {}
        for deal_id, contact_id in conn.execute(select(links_t.c.deal_id, links_t.c.to_id)):
            first.setdefault(deal_id, contact_id)
    kinds = (
        (HubSpotCall, HubSpotCallAssociation, -1, "COMPLETED"),
        (HubSpotMeeting, HubSpotMeetingAssociation, 7, "COMPLETED"),
    )
    for model, links, days, outcome in kinds:
        rows: list[Row] = []
        linked: list[Row] = []
        for n, (deal_id, at) in enumerate(sorted(created.items())):
            eid = str(50_000_000 + n)
            rows.append({"connection": "default", "id": eid, "occurred_at": at + timedelta(days=days),
                         "outcome": outcome, "archived": False, "raw": {}})  # fmt: skip
            linked.append(
                {"connection": "default", "engagement_id": eid, "to_type": "deal", "to_id": deal_id}
            )
            if deal_id in first:
                linked.append(
                    {
                        "connection": "default",
                        "engagement_id": eid,
                        "to_type": "contact",
                        "to_id": first[deal_id],
                    }
                )
            if len(rows) >= BATCH or n == len(created) - 1:
                with engine.begin() as conn:
                    upsert(conn, model, rows)
                    upsert(conn, links, linked)
                rows.clear()
                linked.clear()


def _link_deals(engine: Any, contacts: int, deals: int) -> None:
    """One to three contacts per deal (the attribution family's journeys), from a random stream
    of their own so the records above stay as earlier builds made them."""
    from storage import upsert
    from storage.models import HubSpotDealAssociation

    rng = random.Random(2)
    links: list[Row] = []
    for i in range(deals):
        for contact in rng.sample(range(contacts), k=min(contacts, rng.randint(1, 3))):
            links.append(
                {
                    "connection": "default",
                    "deal_id": str(10_000_000 + i),
                    "to_type": "contact",
                    "to_id": str(100 + contact),
                }
            )
        if len(links) >= BATCH:
            with engine.begin() as conn:
                upsert(conn, HubSpotDealAssociation, links)
            links.clear()
    if links:
        with engine.begin() as conn:
            upsert(conn, HubSpotDealAssociation, links)


def _pipeline_stage(n: int, stage: str, probability: float, closed: bool, won: bool) -> Row:
    return {
        "connection": "default",
        "pipeline_id": "default",
        "stage_id": stage,
        "label": stage,
        "display_order": n,
        "probability": probability,
        "is_closed": closed,
        "is_won": won,
    }


def _contact(i: int, rng: random.Random, start: datetime, span: float) -> tuple[Row, list[Row]]:
    """One contact walking the funnel from lead onwards, and the dates it entered each stage."""
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
    row: Row = {
        "connection": "default",
        "id": str(100 + i),
        "email": f"c{i}@example.com",
        "createdate": created,
        "lifecyclestage": path[-1][0],
        "analytics_source": source,
        "latest_source": rng.choice(SOURCES),
        # The latest session: its last stage move (no draw, so the stream of draws is unchanged).
        "latest_source_at": path[-1][1],
        "raw": {"id": str(100 + i), "properties": props},
    }
    dates: list[Row] = [
        {
            "connection": "default",
            "contact_id": str(100 + i),
            "stage": s,
            "source": "hs_v2_date_entered",
            "entered_at": w,
        }
        for s, w in path
    ]
    return row, dates


def _touches(made: tuple[Row, list[Row]], rng: random.Random, start: datetime) -> tuple[Row, list[Row]]:
    """The contact's converting campaign (when it arrived while one ran), its later form
    conversion and its email clicks."""
    row, dates = made
    created, last = row["createdate"], row["latest_source_at"]
    assert isinstance(created, datetime) and isinstance(last, datetime)
    running = int((created - start).days // 60)
    campaign = _campaign_id(running) if 0 <= running < CAMPAIGNS and rng.random() < CAMPAIGN_SHARE else None
    row["first_touch_campaign"] = row["last_touch_campaign"] = campaign
    row["first_conversion_at"] = created
    row["recent_conversion_at"] = last if last > created and rng.random() < CONVERTED_LATER else created
    clicked = rng.random() < CLICKERS and last > created
    row["email_first_click_at"] = created + (last - created) / 3 if clicked else None
    row["email_last_click_at"] = last if clicked else None
    return row, dates


def _deal(i: int, rng: random.Random, start: datetime, span: float) -> tuple[Row, list[Row]]:
    """One deal in the default pipeline and its path through it: open1, maybe open2, then its stage."""
    created = start + timedelta(seconds=rng.uniform(0, span))
    stage, _, closed, won = rng.choice(STAGE_ROWS)
    close = created + timedelta(days=rng.expovariate(1 / 40)) if closed else None
    amount = None if rng.random() < 0.03 else round(rng.lognormvariate(11.5, 0.8), -2)
    row: Row = {
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
    walk = ["open1"] + (["open2"] if stage != "open1" and rng.random() < 0.7 else [])
    walk += [stage] if stage not in walk else []
    at = created
    dates: list[Row] = []
    for n, step in enumerate(walk):
        if n:
            at = at + timedelta(days=rng.expovariate(1 / 15))
        entered = close if (step in ("won", "lost") and close is not None) else at
        dates.append(
            {
                "connection": "default",
                "deal_id": str(10_000_000 + i),
                "stage": step,
                "source": "hs_v2_date_entered",
                "entered_at": max(entered, at) if entered else at,
            }
        )
    return row, dates


def measure(url: str) -> dict[str, float]:
    from config import load_settings
    from service.kpis import compute_kpis
    from storage import make_engine

    settings = load_settings(data_dir=Path("/tmp"), database_url=url)
    engine = make_engine(settings.db_url)
    started = time.perf_counter()
    report = compute_kpis(settings, engine, as_of=AS_OF)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    breakdown = _breakdown(settings, engine, report.periods)
    engine.dispose()
    return {"seconds": seconds, "values": len(report.result.values), "peak_rss_mb": peak, **breakdown}


def _breakdown(settings: Any, engine: Any, periods: Any) -> dict[str, float]:
    """Where the time goes, measured again after the timed run: the reads, then each family's
    pure computation (`reads` and `family:<name>` seconds)."""
    from kpi.engine import FAMILY_KPIS
    from kpi.reader import read_inputs

    started = time.perf_counter()
    inputs = read_inputs(
        engine,
        connection="default",
        settings=settings.kpi,
        periods=periods,
        as_of=AS_OF,
        tz=ZoneInfo(settings.reporting_timezone),
    )
    out = {"reads": time.perf_counter() - started}
    for family in FAMILY_KPIS:
        started = time.perf_counter()
        family(inputs)
        out[f"family:{family.__name__.removesuffix('_kpis')}"] = time.perf_counter() - started
    return out


def _fresh(url: str, marker: Path, wanted: dict[str, Any]) -> bool:
    """Whether the snapshot at `url` was built with these sizes and schema; else it is emptied for
    a rebuild (a SQLite file deleted, a PostgreSQL bench database dropped and made again)."""
    if marker.exists() and json.loads(marker.read_text()) == wanted and _exists(url):
        return True
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{url.removeprefix('sqlite:///')}{suffix}").unlink(missing_ok=True)
        return False
    import psycopg
    from sqlalchemy.engine import make_url

    target = make_url(url)
    name = str(target.database)
    admin = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return False


def _exists(url: str) -> bool:
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).exists()
    return True  # a dropped database fails the measurement loudly


def _size_mb(url: str) -> float:
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).stat().st_size / 1e6
    from sqlalchemy import text

    from storage import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return float(size) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--deals", type=int, default=200_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/funnelsync-kpi-bench-v3.db"))
    parser.add_argument(
        "--db-url",
        help="a PostgreSQL URL instead of the SQLite file; its database name must start with "
        "funnelsync_kpi_bench (it is dropped and made again when stale)",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = args.db_url or f"sqlite:///{args.db}"
    if args.child:
        print(json.dumps(measure(url)))
        return
    if args.db_url:
        from sqlalchemy.engine import make_url

        name = str(make_url(args.db_url).database)
        if not name.startswith("funnelsync_kpi_bench"):
            parser.error("--db-url: the database name must start with funnelsync_kpi_bench")
        marker = Path(f"/tmp/{name}.json")
    else:
        marker = args.db.with_suffix(".json")
    # The cached snapshot is rebuilt when the sizes or the schema (a table, column or index) changed.
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401  (registers the tables)

    tables = SQLModel.metadata.tables.values()
    schema = sorted(
        [f"{t.name}.{c.name}" for t in tables for c in t.columns]
        + [f"{t.name}.{i.name}{tuple(str(e) for e in i.expressions)}" for t in tables for i in t.indexes]
    )
    wanted = {"contacts": args.contacts, "deals": args.deals, "schema": schema, "data": 3}
    if not _fresh(url, marker, wanted):
        started = time.perf_counter()
        build(url, args.contacts, args.deals)
        marker.write_text(json.dumps(wanted))
        print(f"built {url} in {time.perf_counter() - started:.0f} s")
    size_mb = _size_mb(url)
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--db-url", url],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    kind = "PostgreSQL" if args.db_url else "SQLite"
    print(
        f"funnelsync KPI computation: {args.contacts:,} contacts, {args.deals:,} deals, "
        f"{kind} ({size_mb:,.0f} MB)"
    )
    print(f"  KPI values          {result['values']:>10,}")
    print(f"  seconds             {result['seconds']:>10.2f}   (goal ≤ 10)")
    print(f"  peak memory         {result['peak_rss_mb']:>10.0f} MB (goal ≤ 500)")
    print(f"  of which reads      {result['reads']:>10.2f}   (measured again, after the run)")
    for name, seconds in result.items():
        if name.startswith("family:"):
            print(f"    {name.removeprefix('family:'):<17} {seconds:>10.2f}")


if __name__ == "__main__":
    main()
