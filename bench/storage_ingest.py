"""Storage ingest: 1,000,000 contacts with snapshot history into SQLite and PostgreSQL.

Pages of HubSpot-shaped contact records (100 per page, as the list endpoint returns them) are
generated on the fly, parsed by the real parser, prepared and committed through the sync's own
writer process, 8 pages per transaction, exactly as a full sync stores what it fetches; only the
HTTP is left out (bench/sync_throughput.py measures that). Three passes give every contact three
versions on average: a full ingest, then two passes in which every contact's lifecycle stage,
owner and last-modified time change. A fourth pass changes 1 % of the contacts, what an
incremental sync stores after a quiet day (stored inline, as incremental syncs are), and is
compared with the full ingest.

Each database runs in a fresh child process, so the peak memory printed (the child's own and its
writer process's) belongs to that ingest alone. Goals (issue 6): >= 10,000 records/s on both
databases, peak memory <= 300 MB whatever the dataset size.

    python bench/storage_ingest.py [--contacts 1000000] [--db sqlite,postgres]
                                   [--pg postgresql://postgres@127.0.0.1:5432/postgres]
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
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGE = 100
PAGES_PER_COMMIT = 8
STAGES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
SOURCES = ("ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS", "DIRECT_TRAFFIC")
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def iso(value: datetime) -> str:
    """HubSpot's timestamp text (the generator's hottest call: C formatting, no strftime)."""
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def contact(i: int, version: int) -> dict[str, Any]:
    """Contact `i` as HubSpot's list endpoint returns it, in its `version`-th state (0-based)."""
    created = EPOCH + timedelta(minutes=i % 500_000)
    modified = created + timedelta(days=30 * (version + 1), seconds=i % 3600)
    stage = STAGES[min(version + i % 3, len(STAGES) - 1)]
    source = SOURCES[i % len(SOURCES)]
    props = {
        "email": f"person{i}@example{i % 97}.com",
        "firstname": f"First{i % 1000}",
        "lastname": f"Last{i % 1777}",
        "createdate": iso(created),
        "lastmodifieddate": iso(modified),
        "lifecyclestage": stage,
        "hs_analytics_source": source,
        "hs_analytics_source_data_1": f"{source.lower()}-{i % 13}",
        "hs_latest_source": SOURCES[(i + version) % len(SOURCES)],
        "hubspot_owner_id": str(1000 + (i + version) % 40),
        "hs_persona": f"persona_{i % 4}",
        "associatedcompanyid": str(10_000 + i % 50_000),
        "hs_object_id": str(i),
        f"hs_v2_date_entered_{stage}": iso(modified),
    }
    return {
        "id": str(i),
        "properties": props,
        "createdAt": iso(created),
        "updatedAt": iso(modified),
        "archived": False,
    }


def pages(ids: Iterator[int], version: int) -> Iterator[list[dict[str, Any]]]:
    page: list[dict[str, Any]] = []
    for i in ids:
        page.append(contact(i, version))
        if len(page) == PAGE:
            yield page
            page = []
    if page:
        yield page


def ingest(url: str, contacts: int, *, first_only: bool = False) -> dict[str, Any]:
    """One database's passes, in this (child) process."""
    from connector.hubspot.normalize import normalize_contacts
    from service.writer import open_writer
    from storage import PageInput, PreparedBatch, finish_run, make_engine, migrate, prepare_pages, start_run
    from storage.bulk import first_load

    engine = make_engine(url)
    migrate(engine)
    known = set(STAGES)
    results: dict[str, Any] = {}
    passes = [
        ("full ingest", range(contacts), 0),
        ("change pass 1", range(contacts), 1),
        ("change pass 2", range(contacts), 2),
        ("1 % changed", range(0, contacts, 100), 3),
    ]
    if first_only:
        passes = passes[:1]
    for name, ids, version in passes:
        now = EPOCH + timedelta(days=400 + version)
        run_id = start_run(
            engine,
            connection="bench",
            source="hubspot",
            stream="contacts",
            mode="full",
            trigger="bench",
            now=now,
        )
        started = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_before = usage.ru_utime + usage.ru_stime
        records = 0
        # As the sync decides: a full read of a stream never loaded before writes in bulk.
        bulk = first_load(engine, connection="bench", source="hubspot", stream="contacts")

        def prepared(
            batch: list[PageInput], run_id: int = run_id, now: datetime = now, bulk: bool = bulk
        ) -> PreparedBatch:
            # As the sync does: the stream is known to have no quarantine rows.
            return prepare_pages(
                engine.dialect.name,
                connection="bench",
                source="hubspot",
                stream="contacts",
                pages=batch,
                run_id=run_id,
                now=now,
                quarantine_empty=True,
                bulk=bulk,
            )

        # The writer the sync would choose: a process for full syncs, inline for an incremental one.
        full = version < 3
        with open_writer(engine, "auto", large=full) as writer:
            batch: list[PageInput] = []
            for number, page in enumerate(pages(iter(ids), version)):
                normalized = normalize_contacts(page, known)
                batch.append(PageInput(normalized, len(page), {"full": {"after": str(number)}}))
                records += len(page)
                if len(batch) == PAGES_PER_COMMIT:  # a commit per 8 pages, as the sync does
                    writer.write(prepared(batch))
                    batch = []
            if batch:
                writer.write(prepared(batch))
            writer.drain()
        seconds = time.perf_counter() - started
        finish_run(engine, run_id=run_id, status="succeeded", now=now)
        results[name] = {
            "records": records,
            "seconds": round(seconds, 2),
            "per_s": round(records / seconds),
            "bulk": bulk,
        }
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        results[name]["ingest_cpu_s"] = round(cpu.ru_utime + cpu.ru_stime - cpu_before, 1)
    with engine.connect() as conn:
        from sqlalchemy import func, select

        from storage.db import table_of
        from storage.models import HubSpotContact, HubSpotContactVersion

        results["contacts_stored"] = conn.execute(
            select(func.count()).select_from(table_of(HubSpotContact))
        ).scalar_one()
        versions = conn.execute(
            select(func.count()).select_from(table_of(HubSpotContactVersion))
        ).scalar_one()
        results["versions"] = versions
    engine.dispose()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    results["peak_mb"] = {"ingest": round(own), "writer": round(children)}
    return results


def run_child(kind: str, contacts: int, pg: str, *, first_only: bool) -> dict[str, Any]:
    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="funnelsync-ingest-")
        url = f"sqlite:///{directory}/ingest.db"
        drop = None
    else:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        url = pg.replace("postgresql://", "postgresql+psycopg://", 1) + f"?options=-csearch_path%3D{schema}"
        drop = schema
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", url, "--contacts", str(contacts)]
            + (["--first-load-only"] if first_only else []),
            check=True,
            capture_output=True,
            text=True,
        )
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if drop is not None:
            import psycopg

            with psycopg.connect(pg, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{drop}" CASCADE')
        elif kind == "sqlite":
            size = sum(p.stat().st_size for p in Path(directory).iterdir())
            result["database_mb"] = round(size / 1e6)
            for p in Path(directory).iterdir():
                p.unlink()
            os.rmdir(directory)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument(
        "--pg", default=os.environ.get("FUNNELSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument(
        "--first-load-only", action="store_true", help="only the full ingest into empty tables (a first load)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(ingest(args.child, args.contacts, first_only=args.first_load_only)))
        return
    what = "a first load" if args.first_load_only else "3 versions each, + a 1 % incremental pass"
    print(f"storage ingest: {args.contacts:,} contacts, {what}")
    for kind in args.db.split(","):
        result = run_child(kind, args.contacts, args.pg, first_only=args.first_load_only)
        print(f"\n{kind}")
        names = [n for n in ("full ingest", "change pass 1", "change pass 2", "1 % changed") if n in result]
        for name in names:
            r = result[name]
            figures = f"{r['records']:>10,} records  {r['seconds']:>8.1f} s  {r['per_s']:>8,} records/s"
            figures += f"  (parsing process busy {r['ingest_cpu_s'] / r['seconds']:.0%})"
            figures += "  bulk" if r["bulk"] else ""
            print(f"  {name:<14} {figures}")
        if "1 % changed" in result:
            three = ("full ingest", "change pass 1", "change pass 2")
            total_records = sum(result[k]["records"] for k in three)
            total_seconds = sum(result[k]["seconds"] for k in three)
            print(
                f"  three passes   {total_records:>10,} records  {total_seconds:>8.1f} s  "
                f"{total_records / total_seconds:>8,.0f} records/s"
            )
            small, full = result["1 % changed"], result["full ingest"]
            print(
                f"  1 % pass costs {small['seconds'] / full['seconds']:.1%} of the full ingest "
                f"({small['records']:,} records)"
            )
        print(
            f"  stored: {result['contacts_stored']:,} contacts, {result['versions']:,} versions "
            f"({result['versions'] / result['contacts_stored']:.2f} per contact)"
        )
        peak = result["peak_mb"]
        print(
            f"  peak memory: ingest {peak['ingest']} MB, writer {peak['writer']} MB"
            + (f"; database {result['database_mb']} MB" if "database_mb" in result else "")
        )


if __name__ == "__main__":
    main()
