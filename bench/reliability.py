"""Reliability report: faults, crashes and bad input, against the sandbox's ground truth.

Part 1, faults. Each row is a fresh sandbox portal (same seed, frozen portal clock) with one kind
of fault injected at random into every API answer (or all of them at once), and a fresh database.
funnelsync syncs it fully, then the portal changes three times (new contacts, stage moves, won and
lost deals, deletes) with an incremental sync after each, the faults still on; a run that fails
is followed by another (which resumes from its checkpoint) until one completes, at most 10. Then:
records lost (live contacts, companies and deals of the truth that are not stored, or stored with
another stage), records that should be gone but are stored live, duplicates (records with more
than one current history version), and whether every KPI equals that of a clean run: before each
step, the same portal moment is synced without faults or lag into a second database. "kill -9"
runs the syncs as `funnelsync sync` processes and kills them (process group, writer included) at
random moments several times; "index lag" makes search miss changes younger than 60 s, and the
portal clock moves 2 minutes before the last sync, as time does.

Part 2, bad input. The sandbox's malformed-record mode plants bad values (empty and epoch-text
dates, unknown stages, "12,5k" amounts) in records: the sync must finish, quarantine them with a
reason and lose no record. Then a fuzzer (hypothesis) feeds every record parser (8 HubSpot
streams, 4 Mailchimp streams) and the storage preparation after it with real records mutated at
random and arbitrary JSON, for a fixed time: inputs tried and crashes (any exception).

    python bench/reliability.py [--contacts 3000] [--db sqlite|postgres] [--fuzz-seconds 60]
                                [--pg postgresql://postgres@127.0.0.1:5432/postgres]
                                [--scenarios NAME,…] [--bad-input-only]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PORTAL_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TOKEN = "bench-token"
LAG = 60
MAX_RUNS = 10
OBJECTS = "/crm/objects/2026-09"  # the default API family (hubspot.api_version)
FAULT_KINDS: dict[str, list[dict[str, Any]]] = {
    "429": [{"kind": "rate_limit", "probability": 0.10, "retry_after": 1}],
    "5xx": [
        {"kind": "status", "status": 500, "probability": 0.04},
        {"kind": "status", "status": 502, "body": "html", "probability": 0.04},
        {"kind": "status", "status": 503, "probability": 0.04},
    ],
    "timeout": [{"kind": "delay", "delay": 0.6, "probability": 0.05}],  # the client waits 0.3 s
    "truncated": [{"kind": "truncate", "probability": 0.08}],
    "malformed body": [{"kind": "malformed", "probability": 0.08}],
    "duplicate page": [{"kind": "duplicate", "records": 3, "probability": 0.25, "path_prefix": OBJECTS}],
}


@dataclass
class Scenario:
    name: str
    faults: list[str] = field(default_factory=list)
    kills: int = 0
    lag: bool = False


SCENARIOS = [
    Scenario("none (clean)"),
    *(Scenario(kind, faults=[kind]) for kind in FAULT_KINDS),
    Scenario("index lag", lag=True),
    Scenario("kill -9", kills=4),
    Scenario("all at once", faults=list(FAULT_KINDS), kills=4, lag=True),
]


# -- sandbox and database --------------------------------------------------------------------


class Portal:
    """An in-process HubSpot sandbox (frozen clock, no rate limit: faults decide what fails)."""

    def __init__(self, contacts: int, seed: int, malformed: int = 0) -> None:
        from sandbox.hubspot.app import create_app
        from sandbox.server import HubSpotSandboxConfig, SandboxServer, build_hubspot_state

        config = HubSpotSandboxConfig(
            contacts=contacts,
            seed=seed,
            now=PORTAL_NOW,
            frozen_clock=True,
            rate_limit=None,
            search_rate=None,
            token=TOKEN,
            malformed=malformed,
        )
        self.state = build_hubspot_state(config)
        self.store = self.state.store
        self.server = SandboxServer(create_app(self.state)).start()
        self.url = self.server.url

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        with httpx.Client(base_url=self.url, timeout=60) as client:
            response = client.request(method, path, **kwargs)
            response.raise_for_status()
            return response.json()

    def inject(self, kinds: list[str]) -> None:
        faults = [{"count": 10**9, **f} for kind in kinds for f in FAULT_KINDS[kind]]
        if faults:
            self.admin("POST", "/_sandbox/faults", json={"faults": faults})

    def clear(self) -> None:
        self.admin("DELETE", "/_sandbox/faults")

    def change(self) -> None:
        """A slice of CRM activity between syncs (72 portal minutes)."""
        self.admin(
            "POST",
            "/_sandbox/simulate",
            json={
                "days": 0.05,
                "new_contacts": 20,
                "stage_changes": 40,
                "deals_created": 8,
                "deals_won": 4,
                "deals_lost": 4,
                "archive": 3,
            },
        )

    def injected(self) -> int:
        return sum(v for k, v in self.admin("GET", "/_sandbox/stats").items() if k.startswith("fault:"))

    def close(self) -> None:
        self.server.stop()


class PortalClock:
    """funnelsync's clock reads the portal's frozen time; its retry waits move that time on."""

    def __init__(self, portal: Portal) -> None:
        self.clock = portal.store.clock

    def now(self) -> datetime:
        moment: datetime = self.clock.now()
        return moment

    def monotonic(self) -> float:
        value: float = self.clock.monotonic()
        return value

    def sleep(self, seconds: float) -> None:
        self.clock.advance(max(seconds, 0.0))


@contextmanager
def database(kind: str, pg: str, directory: Path) -> Iterator[str]:
    """A fresh SQLite file or PostgreSQL schema; its URL."""
    if kind == "sqlite":
        yield f"sqlite:///{directory}/{uuid.uuid4().hex[:8]}.db"
        return
    import psycopg

    schema = f"rel_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield pg.replace("postgresql://", "postgresql+psycopg://", 1) + f"?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def settings_for(portal: Portal, db_url: str, data_dir: Path) -> Any:
    from config import load_settings

    return load_settings(
        data_dir=data_dir,
        database_url=db_url,
        hubspot={"token": TOKEN, "base_url": portal.url, "timeout_seconds": 0.3, "page_size": 100},
        retry={"max_attempts": 6, "jitter_seconds": 0.0},
    )


# -- syncing ---------------------------------------------------------------------------------


def sync_inline(portal: Portal, settings: Any, engine: Any) -> bool:
    from service.sync import build_sync

    outcomes = build_sync("hubspot", settings, engine, clock=PortalClock(portal)).run(trigger="bench")
    return all(o.status == "succeeded" for o in outcomes)


def sync_process(portal: Portal, db_url: str, data_dir: Path, kill_after: float | None) -> bool | None:
    """`funnelsync sync` as a process; killed (-9, with its writer) after `kill_after` seconds
    unless it finished before (None: killed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELSYNC_")}
    env.update(
        FUNNELSYNC_DATABASE_URL=db_url,
        FUNNELSYNC_DATA_DIR=str(data_dir),
        FUNNELSYNC_HUBSPOT__BASE_URL=portal.url,
        FUNNELSYNC_HUBSPOT__TOKEN=TOKEN,
        FUNNELSYNC_HUBSPOT__TIMEOUT_SECONDS="0.3",
        FUNNELSYNC_RETRY__JITTER_SECONDS="0",
        FUNNELSYNC_STORAGE_WRITER="process",
    )
    command = [sys.executable, "-c", "from service.cli import main; main()", "sync"]
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None
    return proc.returncode == 0


def until_complete(run: Callable[[], bool]) -> tuple[int, bool]:
    """Runs until one completes: (runs made, completed)."""
    for attempt in range(1, MAX_RUNS + 1):
        if run():
            return attempt, True
    return MAX_RUNS, False


# -- checking --------------------------------------------------------------------------------


def stored(engine: Any) -> dict[str, dict[str, Any]]:
    """Live records per object type with their stage (None for companies)."""
    from sqlalchemy import text

    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for object_type, column in (
            ("contacts", "lifecyclestage"),
            ("companies", "NULL"),
            ("deals", "dealstage"),
        ):
            rows = conn.execute(
                text(
                    f"SELECT id, {column} FROM hubspot_{object_type} "
                    "WHERE NOT archived AND merged_into IS NULL"
                )
            ).all()
            out[object_type] = {str(r[0]): r[1] for r in rows}
    return out


def duplicates(engine: Any) -> int:
    """Records with more than one current version, or a version table row twice."""
    from sqlalchemy import text

    total = 0
    with engine.connect() as conn:
        for table in ("hubspot_contact_versions", "hubspot_deal_versions", "hubspot_company_versions"):
            total += conn.execute(
                text(
                    f"SELECT count(*) FROM (SELECT record_id FROM {table} WHERE valid_to IS NULL "
                    "GROUP BY connection, record_id HAVING count(*) > 1) AS twice"
                )
            ).scalar_one()
    return total


def against_truth(portal: Portal, engine: Any) -> tuple[int, int]:
    """(records lost or stale, records stored live that the portal no longer has)."""
    stage = {"contacts": "lifecyclestage", "deals": "dealstage"}
    have = stored(engine)
    lost = extra = 0
    for object_type, records in have.items():
        truth = {
            str(r["id"]): r["properties"].get(stage.get(object_type, ""))
            for r in portal.store.objects[object_type].values()
            if not r["archived"]
        }
        for key, value in truth.items():
            if key not in records or (object_type in stage and records[key] != value):
                lost += 1
        extra += sum(1 for key in records if key not in truth)
    return lost, extra


def kpis(portal: Portal, settings: Any, engine: Any) -> dict[tuple[str, ...], Any]:
    from service.kpis import compute_kpis

    report = compute_kpis(settings, engine, as_of=portal.store.clock.now())
    return {
        v.key(): (None if v.value is None else round(v.value, 9), v.numerator, v.denominator)
        for v in report.result.values
    }


@dataclass
class Row:
    scenario: str
    injected: int
    kills: int
    runs: int
    completed: bool
    lost: int
    extra: int
    duplicates: int
    kpis_equal: bool


def run_scenario(scenario: Scenario, args: argparse.Namespace, work: Path) -> Row:
    """The scenario's syncs, each step preceded by a clean sync of the same portal moment into a
    second database (no faults, no lag): the reference the KPIs must equal."""
    from storage import make_engine, migrate

    portal = Portal(args.contacts, seed=7)
    rng = random.Random(sum(map(ord, scenario.name)))
    try:
        data_dir = work / uuid.uuid4().hex[:8]
        with database(args.db, args.pg, work) as db_url, database(args.db, args.pg, work) as clean_url:
            engine, clean = make_engine(db_url), make_engine(clean_url)
            migrate(engine)
            migrate(clean)
            settings = settings_for(portal, db_url, data_dir)
            clean_settings = settings_for(portal, clean_url, work / uuid.uuid4().hex[:8])
            kills = runs = 0
            completed = True

            def one_run() -> bool:
                nonlocal kills
                if scenario.kills:
                    kill_after = rng.uniform(0.3, 3.0) if kills < scenario.kills else None
                    finished = sync_process(portal, db_url, data_dir, kill_after)
                    kills += finished is None
                    return bool(finished)
                return sync_inline(portal, settings, engine)

            for step in range(4):  # the full sync, then three incrementals after portal changes
                if step:
                    portal.change()
                if step == 3 and scenario.lag:
                    portal.store.clock.advance(2 * LAG)  # the newest changes reach the search index
                portal.clear()
                portal.admin("POST", "/_sandbox/options", json={"search_lag_seconds": 0})
                if not sync_inline(portal, clean_settings, clean):
                    raise RuntimeError("the clean reference sync failed")
                if scenario.lag:
                    portal.admin("POST", "/_sandbox/options", json={"search_lag_seconds": LAG})
                portal.inject(scenario.faults)
                made, done = until_complete(one_run)
                runs += made
                completed = completed and done
            injected = portal.injected()
            portal.clear()
            lost, extra = against_truth(portal, engine)
            twice = duplicates(engine)
            equal = kpis(portal, settings, engine) == kpis(portal, clean_settings, clean)
            engine.dispose()
            clean.dispose()
    finally:
        portal.close()
    return Row(scenario.name, injected, kills, runs, completed, lost, extra, twice, equal)


# -- bad input -------------------------------------------------------------------------------


def malformed_mode(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from sqlalchemy import func, select

    from storage import make_engine, migrate
    from storage.db import table_of
    from storage.models import Quarantine

    planted = 40
    portal = Portal(args.contacts, seed=7, malformed=planted)
    try:
        with database(args.db, args.pg, work) as db_url:
            engine = make_engine(db_url)
            migrate(engine)
            settings = settings_for(portal, db_url, work / "malformed")
            runs, completed = until_complete(lambda: sync_inline(portal, settings, engine))
            with engine.connect() as conn:
                quarantined = conn.execute(
                    select(func.count()).select_from(table_of(Quarantine))
                ).scalar_one()
            have = stored(engine)
            missing = sum(
                1
                for object_type, records in have.items()
                for key, r in portal.store.objects[object_type].items()
                if not r["archived"] and str(key) not in records
            )
            engine.dispose()
    finally:
        portal.close()
    return {
        "planted": planted,
        "quarantined": quarantined,
        "runs": runs,
        "completed": completed,
        "lost": missing,
    }


def seed_records(contacts: int) -> dict[str, list[Any]]:
    """Real records as each parser receives them: the sandboxes' own answers."""
    import httpx

    from sandbox.mailchimp.app import create_app as mailchimp_app
    from sandbox.server import MailchimpSandboxConfig, SandboxServer, build_mailchimp_state

    portal = Portal(min(contacts, 300), seed=7)
    seeds: dict[str, list[Any]] = {}
    try:
        with httpx.Client(
            base_url=portal.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        ) as api:
            names = {
                t: ",".join(p["name"] for p in api.get(f"/crm/v3/properties/{t}").json()["results"])
                for t in ("contacts", "companies", "deals")
            }
            for t in ("contacts", "companies", "deals"):
                params: dict[str, Any] = {
                    "limit": 50,
                    "properties": names[t],
                    "associations": "contacts,companies,deals",
                }
                if t != "companies":
                    params["propertiesWithHistory"] = "lifecyclestage" if t == "contacts" else "dealstage"
                seeds[t] = api.get(f"{OBJECTS}/{t}", params=params).json()["results"]
            seeds["owners"] = api.get("/crm/v3/owners").json()["results"]
            seeds["pipelines"] = api.get("/crm/v3/pipelines/deals").json()["results"]
            seeds["properties"] = api.get("/crm/v3/properties/contacts").json()["results"]
            seeds["marketing_emails"] = api.get(
                "/marketing/v3/emails", params={"includeStats": "true"}
            ).json()["results"]
            report = api.get(
                "/analytics/v2/reports/sources/daily", params={"start": "20260501", "end": "20260505"}
            ).json()
            seeds["web_analytics"] = [
                {"report": "sources", "day": day, "rows": rows}
                for day, rows in report.items()
                if isinstance(rows, list)
            ]
    finally:
        portal.close()
    state = build_mailchimp_state(MailchimpSandboxConfig(contacts=200, seed=7, now=PORTAL_NOW))
    server = SandboxServer(mailchimp_app(state)).start()
    try:
        key = "0123456789abcdef0123456789abcdef-us6"
        with httpx.Client(base_url=f"{server.url}/3.0", auth=("any", key), timeout=60) as api:
            lists = api.get("/lists").json()["lists"]
            seeds["mailchimp_lists"] = lists
            seeds["mailchimp_members"] = api.get(
                f"/lists/{lists[0]['id']}/members", params={"count": 50}
            ).json()["members"]
            seeds["mailchimp_campaigns"] = api.get("/campaigns").json()["campaigns"]
            seeds["mailchimp_reports"] = api.get("/reports").json()["reports"]
    finally:
        server.stop()
    return seeds


def every_parser(known: set[str]) -> dict[str, tuple[str, Any]]:
    """Stream name → (source, the stream's own `parse`), for every stream of every source."""
    from config import HubSpotSettings, MailchimpSettings
    from connector.hubspot.analytics import WebAnalyticsStream
    from connector.hubspot.catalogue import OwnersStream, PipelinesStream, PropertiesStream
    from connector.hubspot.crm import CompaniesStream, ContactsStream, DealsStream
    from connector.hubspot.emails import MarketingEmailsStream
    from connector.hubspot.schema import PortalSchema
    from connector.mailchimp.source import MailchimpSource

    hub, schema = HubSpotSettings(), PortalSchema(lifecycle_stages=sorted(known))
    hubspot = [
        PropertiesStream(schema),
        OwnersStream(hub),
        PipelinesStream(hub),
        CompaniesStream(hub, schema),
        ContactsStream(hub, schema),
        DealsStream(hub, schema),
        MarketingEmailsStream(hub),
        WebAnalyticsStream(hub),
    ]
    mailchimp = [t(MailchimpSettings()) for t in MailchimpSource.stream_types]
    return {
        **{s.name: ("hubspot", s.parse) for s in hubspot},
        **{s.name: ("mailchimp", s.parse) for s in mailchimp},
    }


def fuzz(seconds: float, contacts: int) -> dict[str, Any]:
    """Mutated real records and arbitrary JSON through every parser and the storage preparation."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from connector.stream import Page
    from storage import PageInput, prepare_pages

    seeds = seed_records(contacts)
    known = {"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"}
    parsers = every_parser(known)
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=30)
        | st.sampled_from(
            ["", "0", "-1", "1e400", "NaN", "2026-13-45", "1727000000000", "12,5k", "null", "\x00"]
        )
    )
    json_values = st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5)
        ),
        max_leaves=20,
    )

    def mutate(record: Any, data: st.DataObject) -> Any:
        """Replace, drop or retype a few fields, at any depth."""
        if isinstance(record, dict) and record:
            out = dict(record)
            for _ in range(data.draw(st.integers(0, 3))):
                key = data.draw(st.sampled_from(sorted(out)))
                action = data.draw(st.sampled_from(["replace", "drop", "recurse"]))
                if action == "drop":
                    out.pop(key, None)
                elif action == "replace":
                    out[key] = data.draw(json_values)
                else:
                    out[key] = mutate(out[key], data)
                if not out:
                    break
            return out
        if isinstance(record, list) and record:
            i = data.draw(st.integers(0, len(record) - 1))
            return [*record[:i], mutate(record[i], data), *record[i + 1 :]]
        return data.draw(json_values)

    streams = sorted(seeds)
    tried = crashes = 0
    examples: list[str] = []

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one(data: st.DataObject) -> None:
        nonlocal tried, crashes
        stream = data.draw(st.sampled_from(streams))
        pool = seeds[stream]
        page: list[Any]
        from_seed: bool = data.draw(st.booleans())
        if pool and from_seed:
            page = [
                mutate(data.draw(st.sampled_from(pool)), data) for _ in range(data.draw(st.integers(1, 3)))
            ]
        else:
            page = data.draw(st.lists(json_values, max_size=4))
        tried += 1
        try:
            source, parse = parsers[stream]
            normalized = parse(Page(stream, page, {}))
            for dialect in ("sqlite", "postgresql"):
                prepare_pages(
                    dialect,
                    connection="fuzz",
                    source=source,
                    stream=stream,
                    pages=[PageInput(normalized, len(page), {})],
                    run_id=1,
                    now=PORTAL_NOW,
                )
        except Exception as exc:  # any exception is the finding
            crashes += 1
            if len(examples) < 5:
                examples.append(f"{stream}: {type(exc).__name__}: {exc} on {str(page)[:200]}")

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        one()
    return {"tried": tried, "crashes": crashes, "examples": examples, "streams": streams}


# -- report ----------------------------------------------------------------------------------


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # retries are expected here; failures still show
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=3_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--pg", default=os.environ.get("FUNNELSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--fuzz-seconds", type=float, default=60.0)
    parser.add_argument("--scenarios", help="comma-separated scenario names (default: all)")
    parser.add_argument("--bad-input-only", action="store_true", help="only part 2 (malformed mode, fuzzer)")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if not args.scenarios or s.name in args.scenarios.split(",")]
    if args.bad_input_only:
        chosen = []
    print(
        f"funnelsync reliability: {args.contacts:,} contacts (deals 20 %), {args.db}, in-process sandbox "
        f"with a frozen portal clock; a full sync + 3 incrementals per row; {os.cpu_count()} CPUs\n"
    )
    if chosen:
        print(
            "| faults injected | answers spoiled | kill -9 | runs (completed) | records lost | stale live | "
            "duplicates | KPIs = clean run |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory(prefix="funnelsync-reliability-") as tmp:
        work = Path(tmp)
        for scenario in chosen:
            started = time.perf_counter()
            row = run_scenario(scenario, args, work)
            done, equal = ("yes" if row.completed else "NO"), ("yes" if row.kpis_equal else "NO")
            print(
                f"| {row.scenario} | {row.injected:,} | {row.kills} | {row.runs} ({done}) | {row.lost} | "
                f"{row.extra} | {row.duplicates} | {equal} |  <!-- {time.perf_counter() - started:.0f} s -->",
                flush=True,
            )
        bad = malformed_mode(args, work)
    print(
        f"\nmalformed-record mode: {bad['planted']} bad values planted; sync completed: "
        f"{'yes' if bad['completed'] else 'NO'} in {bad['runs']} run(s); "
        f"quarantine rows {bad['quarantined']}; records lost {bad['lost']}"
    )
    result = fuzz(args.fuzz_seconds, args.contacts)
    print(
        f"fuzzer (hypothesis, {args.fuzz_seconds:.0f} s, {len(result['streams'])} parsers + storage "
        f"preparation for SQLite and PostgreSQL): {result['tried']:,} inputs tried, "
        f"{result['crashes']} crashes"
    )
    for example in result["examples"]:
        print(f"  crash: {example}")


if __name__ == "__main__":
    main()
