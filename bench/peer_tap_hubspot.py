"""funnelsync beside Singer's tap-hubspot, on the same sandbox portal, in one run.

tap-hubspot is installed from PyPI into a throwaway virtual environment (nothing of it is part of
funnelsync). Its API host is the module constant `tap_hubspot.BASE_URL`, read at call time, so a
three-line launcher reassigns it to the sandbox before calling the tap's own `main()`; the tap
authenticates with its private-app `api_key`. Its catalog comes from its own discovery, with the
streams that match funnelsync's HubSpot CRM streams selected with all their fields: contacts,
companies (+ contacts_by_company), deals (with associations), deal_pipelines, owners. funnelsync
syncs properties, owners, pipelines, companies, contacts and deals (stage history on, its
default). The tap writes Singer messages to a file; funnelsync writes its SQLite database.

Scenarios, each on a fresh sandbox process (seed 1):
  limited    HubSpot's Professional limit, 190 requests per rolling 10 s (search 5/s)
  unlimited  no rate limit
  faults     the limited sandbox (--faults-contacts, deals a fifth of that) answering a share of
             requests with 429 and 502 at random (--faults-429, --faults-5xx): does each tool
             finish, and is what it wrote complete? (The tap waits a constant 10 s after any
             failed request, so this portal is smaller.)
In the first two, each tool makes a full sync, then the sandbox changes about 1 % of the records
(stage moves, won and lost deals, one day later) and each tool syncs again from its own state.
Requests and 429 answers are counted by the sandbox (its /_sandbox/stats before and after each
run); peak memory is each process's own high-water mark (VmHWM, sampled: bench/measure.py), the
largest process and all of the tool's processes (funnelsync: sync + writer). Completeness is
checked against the sandbox's ground truth: ids missing, ids duplicated, and contacts whose
lifecycle stage or deals whose stage differ from the truth after the sync.

    python bench/peer_tap_hubspot.py [--contacts 10000] [--deals 2000]
                                     [--scenarios limited,unlimited,faults] [--tap-version 4.5.0]
                                     [--venv DIR (kept and reused)] [--faults-429 0.03]
                                     [--faults-5xx 0.02] [--faults-contacts 2000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from measure import Measured, run_measured
from sandboxes import start_sandbox

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "bench-token"
TAP_STREAMS = ("contacts", "companies", "contacts_by_company", "deals", "deal_pipelines", "owners")
FUNNELSYNC_STREAMS = ("properties", "owners", "pipelines", "companies", "contacts", "deals")
# The records both tools read (the tap's name on the right); records/s counts these only, not
# funnelsync's property catalogue nor the tap's contacts_by_company association rows.
COMMON = {
    "contacts": "contacts",
    "companies": "companies",
    "deals": "deals",
    "owners": "owners",
    "pipelines": "deal_pipelines",
}
# The record id field of each tap stream we check against the truth.
TAP_IDS = {"contacts": "id", "companies": "companyId", "deals": "dealId"}
LAUNCHER = """\
import sys
import tap_hubspot
tap_hubspot.BASE_URL = sys.argv.pop(1)
sys.argv[0] = "tap-hubspot"
tap_hubspot.main()
"""


# Per stream: the ids a tool wrote (repeats included) and each record's stage.
Seen = tuple[dict[str, list[str]], dict[str, dict[str, Any]]]


@dataclass
class Run:
    """One sync by one tool."""

    ok: bool
    seconds: float
    records: int
    requests: int
    throttled: int  # 429 answers: the limit's and injected ones
    spoiled: int  # answers replaced by an injected fault (429s and 502s)
    peak_mb: float  # the largest process
    total_mb: float  # all its processes (funnelsync: the sync and its writer)
    per_stream: dict[str, int] = field(default_factory=dict)
    error: str = ""
    check: dict[str, int] = field(default_factory=dict)


# -- the sandbox -----------------------------------------------------------------------------


class Sandbox:
    def __init__(self, contacts: int, deals: int, rate_limit: int) -> None:
        from sandbox.server import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["hubspot", "--contacts", str(contacts), "--deals", str(deals), "--seed", "1"]
        args += ["--rate-limit", str(rate_limit), "--search-rate", "5" if rate_limit else "0"]
        args += ["--daily-limit", "0", "--token", TOKEN]
        self.proc = start_sandbox(args, self.port)
        self.http = httpx.Client(base_url=self.url, timeout=120)

    def stats(self) -> Counter[str]:
        counts = Counter(self.http.get("/_sandbox/stats").json())
        counts["429"] += counts["fault:rate_limit"]
        counts["spoiled"] = sum(v for k, v in counts.items() if k.startswith("fault:"))
        return counts

    def fresh_window(self) -> None:
        """Each tool starts with an empty rate-limit window, not the one the other used up."""
        self.http.post("/_sandbox/options", json={"reset_limits": True}).raise_for_status()

    def faults(self, share_429: float, share_5xx: float) -> None:
        many = 10**9
        faults = [
            {"kind": "rate_limit", "path_prefix": "/", "count": many, "probability": share_429},
            {
                "kind": "status",
                "status": 502,
                "body": "html",
                "path_prefix": "/",
                "count": many,
                "probability": share_5xx / (1 - share_429),
            },
        ]
        self.http.post("/_sandbox/faults", json={"faults": faults}).raise_for_status()

    def clear_faults(self) -> None:
        self.http.delete("/_sandbox/faults").raise_for_status()

    def change_one_percent(self, contacts: int, deals: int) -> None:
        body = {
            "days": 1,
            "stage_changes": max(1, contacts // 100),
            "deals_won": max(1, deals // 200),
            "deals_lost": max(1, deals // 200),
        }
        self.http.post("/_sandbox/simulate", json=body).raise_for_status()

    def truth(self, object_type: str) -> dict[str, dict[str, Any]]:
        rows = self.http.get(f"/_sandbox/truth/{object_type}").json()["results"]
        return {r["id"]: r["properties"] for r in rows if not r["archived"]}

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def timed(command: list[str], *, stdout: Any = subprocess.DEVNULL, log: Path) -> Measured:
    """Run a tool to its end: exit code, wall seconds, peak memory of its processes."""
    with log.open("w") as err:
        return run_measured(command, stdout=stdout, stderr=err, cwd=ROOT)


def make_run(
    ok: bool,
    measured: Measured,
    records: int,
    before: Counter[str],
    after: Counter[str],
    per_stream: dict[str, int],
    error: str,
) -> Run:
    """A run's figures: the tool's own, and the sandbox's counts over its time."""
    return Run(
        ok=ok,
        seconds=measured.seconds,
        records=records,
        requests=after["requests"] - before["requests"],
        throttled=after["429"] - before["429"],
        spoiled=after["spoiled"] - before["spoiled"],
        peak_mb=measured.largest_mb,
        total_mb=measured.total_mb,
        per_stream=per_stream,
        error=error,
    )


def last_lines(path: Path, n: int = 3) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return " | ".join(lines[-n:])[-400:]


# -- tap-hubspot -----------------------------------------------------------------------------


class Tap:
    """tap-hubspot in its own virtual environment, with its config, catalog and state files."""

    def __init__(self, venv_dir: Path, version: str, work: Path) -> None:
        self.python = venv_dir / "bin" / "python"
        if not self.python.exists():
            venv.create(venv_dir, with_pip=True)
        installed = subprocess.run(
            [str(self.python), "-m", "pip", "show", "tap-hubspot"], capture_output=True, text=True
        ).stdout
        if f"Version: {version}" not in installed:
            subprocess.run(
                [str(self.python), "-m", "pip", "install", "-q", f"tap-hubspot=={version}"], check=True
            )
        self.work = work
        self.launcher = work / "launch_tap.py"
        self.launcher.write_text(LAUNCHER)
        self.config = work / "tap_config.json"
        self.config.write_text(
            json.dumps({"api_key": TOKEN, "start_date": "2000-01-01T00:00:00Z", "request_timeout": 60})
        )

    def command(self, base_url: str, *args: str) -> list[str]:
        return [str(self.python), str(self.launcher), base_url, "--config", str(self.config), *args]

    def catalog(self, base_url: str) -> Path:
        """The tap's own discovery, with our streams and all their fields selected."""
        out = subprocess.run(self.command(base_url, "--discover"), capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"tap-hubspot discovery failed: {out.stderr[-800:]}")
        catalog = json.loads(out.stdout)
        streams = [s for s in catalog["streams"] if s["tap_stream_id"] in TAP_STREAMS]
        for stream in streams:
            for entry in stream["metadata"]:
                entry["metadata"]["selected"] = True
        path = self.work / "tap_catalog.json"
        path.write_text(json.dumps({"streams": streams}))
        return path

    def sync(self, sandbox: Sandbox, catalog: Path, name: str, state: Path | None) -> tuple[Run, Path, Seen]:
        """One run: its figures, the state it ended with, the ids and stages it wrote."""
        output = self.work / f"tap_{name}.jsonl"
        # This tap reads its catalog from the older `--properties` option (it ignores `--catalog`).
        args = ["--properties", str(catalog)] + (["--state", str(state)] if state else [])
        before = sandbox.stats()
        with output.open("w") as out:
            measured = timed(self.command(sandbox.url, *args), stdout=out, log=self.work / f"tap_{name}.log")
        after = sandbox.stats()
        per_stream: Counter[str] = Counter()
        ids: dict[str, list[str]] = {s: [] for s in TAP_IDS}
        values: dict[str, dict[str, Any]] = {s: {} for s in TAP_IDS}
        last_state: dict[str, Any] | None = None
        with output.open() as messages:
            for line in messages:
                message = json.loads(line)
                if message["type"] == "RECORD":
                    stream, record = message["stream"], message["record"]
                    per_stream[stream] += 1
                    if stream in TAP_IDS:
                        key = str(record[TAP_IDS[stream]])
                        ids[stream].append(key)
                        values[stream][key] = _tap_value(stream, record)
                elif message["type"] == "STATE":
                    last_state = message["value"]
        state_path = self.work / f"tap_state_{name}.json"
        state_path.write_text(json.dumps(last_state or {}))
        ok = measured.returncode == 0
        error = "" if ok else last_lines(self.work / f"tap_{name}.log")
        records = sum(per_stream.get(name, 0) for name in COMMON.values())
        run = make_run(ok, measured, records, before, after, dict(per_stream), error)
        return run, state_path, (ids, values)


def _tap_value(stream: str, record: dict[str, Any]) -> Any:
    """The stage the tap wrote (contacts v3: plain values; deals v1: {"value": …})."""
    props = record.get("properties") or {}
    if stream == "contacts":
        return props.get("lifecyclestage")
    if stream == "deals":
        stage = props.get("dealstage")
        return stage.get("value") if isinstance(stage, dict) else stage
    return None


# -- funnelsync ------------------------------------------------------------------------------


def funnelsync_child(base_url: str, data_dir: str, full: bool, limited: bool) -> None:
    """Runs in a child process (so its memory is its own): one sync, results as JSON."""
    from config import load_settings
    from service.sync import build_sync
    from storage import make_engine, migrate

    settings = load_settings(
        data_dir=Path(data_dir),
        hubspot={
            "token": TOKEN,
            "base_url": base_url,
            "rate_limit_per_10s": 190 if limited else 1_000_000,
            "search_rate_per_second": 5 if limited else 1_000_000,
        },
    )
    engine = make_engine(settings.db_url)
    migrate(engine)
    outcomes = build_sync("hubspot", settings, engine).run(
        full=full, trigger="bench", streams=list(FUNNELSYNC_STREAMS)
    )
    engine.dispose()
    print(
        json.dumps(
            {
                "ok": all(o.status == "succeeded" for o in outcomes),
                "per_stream": {o.stream: o.read for o in outcomes},
                "error": "; ".join(f"{o.stream}: {o.error}" for o in outcomes if o.error),
            }
        )
    )


def funnelsync_sync(sandbox: Sandbox, work: Path, name: str, full: bool, limited: bool) -> Run:
    data_dir = work / "funnelsync"
    data_dir.mkdir(exist_ok=True)
    output = work / f"funnelsync_{name}.json"
    before = sandbox.stats()
    with output.open("w") as out:
        args = [
            sandbox.url,
            str(data_dir),
            "full" if full else "incremental",
            "limited" if limited else "free",
        ]
        measured = timed(
            [sys.executable, __file__, "--funnelsync-child", *args],
            stdout=out,
            log=work / f"funnelsync_{name}.log",
        )
    code = measured.returncode
    after = sandbox.stats()
    lines = output.read_text().strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1]) if code == 0 and lines else {"ok": False, "per_stream": {}}
    error = str(result.get("error") or ("" if code == 0 else last_lines(work / f"funnelsync_{name}.log")))
    records = sum(result["per_stream"].get(name, 0) for name in COMMON)
    return make_run(bool(result["ok"]), measured, records, before, after, result["per_stream"], error)


def funnelsync_stored(work: Path) -> Seen:
    """Ids (live records) and stages in funnelsync's database."""
    import sqlite3

    db = next((work / "funnelsync").glob("*.db"))
    ids: dict[str, list[str]] = {}
    values: dict[str, dict[str, Any]] = {}
    with sqlite3.connect(db) as conn:
        for stream, column in (("contacts", "lifecyclestage"), ("companies", None), ("deals", "dealstage")):
            live = "archived = 0 AND merged_into IS NULL"
            rows = conn.execute(
                f"SELECT id, {column or 'NULL'} FROM hubspot_{stream} WHERE {live}"
            ).fetchall()
            ids[stream] = [str(r[0]) for r in rows]
            values[stream] = {str(r[0]): r[1] for r in rows}
    return ids, values


def compare(seen: Seen, truth: dict[str, dict[str, dict[str, Any]]]) -> dict[str, int]:
    """Missing ids, duplicated ids and stale stages against the sandbox's truth."""
    ids, values = seen
    stage = {"contacts": "lifecyclestage", "deals": "dealstage"}
    missing = duplicates = stale = 0
    for stream, expected in truth.items():
        counts = Counter(ids.get(stream, []))
        missing += sum(1 for key in expected if key not in counts)
        duplicates += sum(n - 1 for n in counts.values() if n > 1)
        if stream in stage:
            got = values.get(stream, {})
            stale += sum(
                1 for key, props in expected.items() if key in got and got[key] != props.get(stage[stream])
            )
    return {"missing": missing, "duplicates": duplicates, "stale": stale}


# -- scenarios -------------------------------------------------------------------------------


def scenario(name: str, args: argparse.Namespace, tap: Tap, work: Path) -> dict[str, Run]:
    limited = name != "unlimited"
    contacts, deals = (
        (args.faults_contacts, args.faults_contacts // 5) if name == "faults" else (args.contacts, args.deals)
    )
    sandbox = Sandbox(contacts, deals, 190 if limited else 0)
    runs: dict[str, Run] = {}
    try:
        catalog = tap.catalog(sandbox.url)
        if name == "faults":
            sandbox.faults(args.faults_429, args.faults_5xx)
        truth_types = ("contacts", "companies", "deals")
        sandbox.fresh_window()
        runs["funnelsync full"] = funnelsync_sync(sandbox, work / name, "full", True, limited)
        sandbox.fresh_window()
        runs["tap full"], tap_state, tap_seen = tap.sync(sandbox, catalog, f"{name}_full", None)
        if name != "faults":
            sandbox.change_one_percent(contacts, deals)
            sandbox.fresh_window()
            runs["funnelsync incremental"] = funnelsync_sync(
                sandbox, work / name, "incremental", False, limited
            )
            sandbox.fresh_window()
            runs["tap incremental"], _, later = tap.sync(sandbox, catalog, f"{name}_incremental", tap_state)
            # The tap's output is a stream of messages: both files together are what a target
            # would have loaded (later records replace earlier ones, ids counted once per run).
            for stream in TAP_IDS:
                tap_seen[1][stream].update(later[1][stream])
        sandbox.clear_faults()
        truth = {t: sandbox.truth(t) for t in truth_types}
        last_funnelsync = runs.get("funnelsync incremental") or runs["funnelsync full"]
        last_funnelsync.check = compare(funnelsync_stored(work / name), truth)
        last_tap = runs.get("tap incremental") or runs["tap full"]
        last_tap.check = compare(tap_seen, truth)
    finally:
        sandbox.close()
    return runs


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs else "n/a"


def report(name: str, runs: dict[str, Run], args: argparse.Namespace) -> None:
    titles = {
        "limited": "HubSpot Professional limit (190 requests / 10 s)",
        "unlimited": "no rate limit",
        "faults": f"190 / 10 s, {args.faults_contacts:,} contacts, {args.faults_429:.0%} of requests "
        f"answered 429 and {args.faults_5xx:.0%} 502, at random",
    }
    print(f"\n## {name}: {titles[name]}\n")
    print(
        "| run | tool | completed | wall s | CRM records | records/s | requests | 429s | faults hit "
        "| peak MB (largest process / all) |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for key, run in runs.items():
        tool, kind = key.split(" ", 1)
        rate = run.records / run.seconds if run.seconds else 0
        print(
            f"| {kind} | {tool} | {'yes' if run.ok else 'NO'} | {run.seconds:.1f} | {run.records:,} | "
            f"{rate:,.0f} | {run.requests:,} | {run.throttled:,} | {run.spoiled:,} | "
            f"{run.peak_mb:.0f} / {run.total_mb:.0f} |"
        )
    for kind in ("full", "incremental"):
        ours, theirs = runs.get(f"funnelsync {kind}"), runs.get(f"tap {kind}")
        if ours and theirs:
            print(
                f"\nfunnelsync / tap-hubspot, {kind}: wall time {ratio(ours.seconds, theirs.seconds)}, "
                f"records/s {ratio(ours.records / ours.seconds, theirs.records / theirs.seconds)}, "
                f"requests {ratio(ours.requests, theirs.requests)}, "
                f"peak memory (all processes) {ratio(ours.total_mb, theirs.total_mb)}"
            )
    print("\nagainst the sandbox's truth after the last sync (contacts, companies, deals):")
    for key, run in runs.items():
        if run.check:
            c = run.check
            found = f"missing {c['missing']}, duplicates {c['duplicates']}, stale {c['stale']}"
            print(f"  {key.split()[0]:<10} {found}")
    for key, run in runs.items():
        if not run.ok:
            print(f"  {key} failed: {run.error}")
    for key, run in runs.items():
        print(f"  {key}: {run.per_stream}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--deals", type=int, default=2_000)
    parser.add_argument("--scenarios", default="limited,unlimited,faults")
    parser.add_argument("--tap-version", default="4.5.0")
    parser.add_argument("--venv", type=Path, help="keep tap-hubspot's virtual environment here (reused)")
    parser.add_argument("--faults-contacts", type=int, default=2_000, help="portal size of the fault run")
    parser.add_argument("--faults-429", type=float, default=0.03)
    parser.add_argument("--faults-5xx", type=float, default=0.02)
    parser.add_argument("--keep", action="store_true", help="keep the working directory (logs, outputs)")
    parser.add_argument("--funnelsync-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.funnelsync_child:
        base_url, data_dir, mode, limit = args.funnelsync_child
        funnelsync_child(base_url, data_dir, mode == "full", limit == "limited")
        return
    work = Path(tempfile.mkdtemp(prefix="funnelsync-peer-"))
    venv_dir = args.venv or work / "tap-venv"
    try:
        tap = Tap(venv_dir, args.tap_version, work)
        print(
            f"funnelsync vs tap-hubspot {args.tap_version}: {args.contacts:,} contacts, {args.deals:,} deals "
            f"(+ companies, owners, pipelines); sandbox in its own process; {os.cpu_count()} CPUs"
        )
        for name in args.scenarios.split(","):
            (work / name).mkdir()
            report(name, scenario(name, args, tap, work), args)
    finally:
        if args.keep:
            print(f"\nworking directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
