"""Many portals, several replicas (issue 25, goal 5): how many HubSpot portals a set of
`funnelsync serve` replicas on one PostgreSQL database keeps fresh.

Starts --portals HubSpot sandboxes (each its own process and token, sizes cycling through
--sizes contacts), one PostgreSQL bench database (its name must start with
`funnelsync_replicas_bench`; dropped and made again) and --replicas `serve` processes that all
configure every portal as a connection and sync each every --interval-minutes (the scheduler's
own interval), started a share of the interval apart as a rolling deploy would. It waits for
every portal's first full sync, then for --cycles intervals makes about 1 % of each portal's
contacts change per interval (the sandbox's simulated activity) and stops the replicas. From the
run rows it prints: the first load's time; per portal the largest gap between the starts of
successful syncs of its contacts (goal: within the interval), the runs that overlapped in one
stream (goal: none) and the 429 answers it got; each replica's share of the sync runs and of the
KPI computations; the replicas' CPU per portal and interval, and from it how many portals three
replicas keep fresh at a 30-minute interval.

    python bench/replicas.py [--portals 20] [--replicas 3] [--interval-minutes 1] [--cycles 4]
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sandboxes import start_sandbox
from service_api import funnelsync, wait_for

ROOT = Path(__file__).resolve().parents[1]
DB_URL = "postgresql://postgres@127.0.0.1:5432/funnelsync_replicas_bench"
TICKS = os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--portals", type=int, default=20)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--sizes", default="300,600,1200,2500,5000", help="contacts per portal, cycled")
    parser.add_argument("--interval-minutes", type=int, default=1)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--db-url", default=DB_URL)
    args = parser.parse_args()
    if not args.db_url.rsplit("/", 1)[-1].startswith("funnelsync_replicas_bench"):
        parser.error("--db-url: the database name must start with funnelsync_replicas_bench")
    sizes = [int(s) for s in args.sizes.split(",")]
    portals = [(f"p{i:02d}", sizes[i % len(sizes)]) for i in range(args.portals)]
    _fresh_database(args.db_url)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        urls = _sandboxes(stack, portals)
        config = Path(tmp, "funnelsync.toml")
        config.write_text(_config(portals, urls, args.interval_minutes))
        cli = [sys.executable, "-c", "from service.cli import main; main()"]
        subprocess.run(
            [*cli, "migrate", "--config", str(config)], env=_env(tmp, 0, args.db_url), check=True, cwd=ROOT
        )
        started = time.time()
        # Started a share of the interval apart, as a rolling deploy would: their turns spread
        # over the interval (docs/operations.md, "Scaling out").
        replicas = []
        for i in range(args.replicas):
            if i:
                time.sleep(args.interval_minutes * 60 / args.replicas)
            replicas.append(_replica(stack, tmp, i, args.db_url, config))
        loaded = wait_for(lambda: _first_load_done(args.db_url, len(portals)), 1800, "the first full syncs")
        first_load = loaded - started
        contacts = sum(size for _, size in portals)
        print(f"first load of {len(portals)} portals ({contacts:,} contacts): {first_load:.0f} s")
        cpu_before = [_cpu_seconds(p.pid) for p in replicas]
        steady_from = time.time()
        interval = args.interval_minutes * 60
        for _ in range(args.cycles):
            cycle_end = time.monotonic() + interval
            for (_, size), url in zip(portals, urls, strict=True):
                _change(url, size)
            time.sleep(max(0.0, cycle_end - time.monotonic()))
        steady_to = time.time()
        cpu = [_cpu_seconds(p.pid) - before for p, before in zip(replicas, cpu_before, strict=True)]
        for proc in replicas:
            proc.send_signal(signal.SIGTERM)
        for proc in replicas:
            proc.wait(timeout=120)
        holders = {proc.pid: f"replica {i + 1}" for i, proc in enumerate(replicas)}
        _report(args, portals, holders, cpu, (steady_from, steady_to))


def _fresh_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _sandboxes(stack: ExitStack, portals: list[tuple[str, int]]) -> list[str]:
    from sandbox.server import free_port

    urls = []
    for i, (name, size) in enumerate(portals):
        port = free_port()
        args = ["hubspot", "--contacts", str(size), "--seed", str(100 + i), "--token", f"{name}-token"]
        proc = start_sandbox(args, port, timeout=600)
        stack.callback(_stop, proc)
        urls.append(f"http://127.0.0.1:{port}")
    return urls


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _config(portals: list[tuple[str, int]], urls: list[str], interval_minutes: int) -> str:
    lines = [
        "[service]",
        f"sync_interval_minutes = {interval_minutes}",
        "jitter_seconds = 0",
        'reconcile_cron = ""',
        'admin_token = "bench-admin-token"',
    ]
    for (name, _), url in zip(portals, urls, strict=True):
        lines += ["", f"[connections.{name}.hubspot]", f'token = "{name}-token"', f'base_url = "{url}"']
    return "\n".join(lines) + "\n"


def _env(tmp: str, index: int, db_url: str) -> dict[str, str]:
    from sandbox.server import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELSYNC_")}
    data = Path(tmp, f"replica-{index}")
    data.mkdir(exist_ok=True)
    env.update(
        FUNNELSYNC_DATA_DIR=str(data),
        FUNNELSYNC_DATABASE_URL=db_url,
        FUNNELSYNC_SERVICE__PORT=str(free_port()),
        FUNNELSYNC_LOG_JSON="true",
    )
    return env


def _replica(stack: ExitStack, tmp: str, index: int, db_url: str, config: Path) -> subprocess.Popen[bytes]:
    log = stack.enter_context(Path(tmp, f"replica-{index}.log").open("ab"))  # noqa: SIM115
    proc = funnelsync(_env(tmp, index, db_url), "serve", "--config", str(config), log=log)
    stack.callback(_stop, proc)
    return proc


def _query(db_url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(db_url) as conn:
        return list(conn.execute(sql).fetchall())


def _first_load_done(db_url: str, portals: int) -> float | None:
    """When every portal's contacts, companies and deals have a succeeded full sync (epoch s)."""
    try:
        rows = _query(
            db_url,
            "SELECT connection, stream, max(finished_at) FROM sync_runs WHERE mode = 'full' "
            "AND status = 'succeeded' AND stream IN ('contacts', 'companies', 'deals') "
            "GROUP BY connection, stream",
        )
    except Exception:  # the schema may not exist yet
        return None
    if len(rows) < 3 * portals:
        return None
    return float(max(row[2] for row in rows).timestamp())


def _change(url: str, contacts: int) -> None:
    """About 1 % of the portal's contacts change: new ones, stage moves, deals created and closed."""
    n = max(1, contacts // 100)
    activity = {
        "days": 0.0001,
        "new_contacts": n // 3 or 1,
        "stage_changes": n - (n // 3 or 1),
        "deals_created": max(1, n // 5),
        "deals_won": max(1, n // 10),
        "deals_lost": max(1, n // 10),
    }
    with httpx.Client(timeout=60) as http:
        http.post(f"{url}/_sandbox/simulate", json=activity).raise_for_status()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its waited-for children (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICKS


def _report(
    args: argparse.Namespace,
    portals: list[tuple[str, int]],
    holders: dict[int, str],
    cpu: list[float],
    window: tuple[float, float],
) -> None:
    runs = _query(
        args.db_url,
        "SELECT id, connection, stream, mode, status, started_at, finished_at, holder, rate_limited "
        "FROM sync_runs WHERE source = 'hubspot' ORDER BY started_at",
    )
    kpis = _query(args.db_url, "SELECT connection, sync_run_ids, seconds, computed_at FROM kpi_runs")
    start, end = (datetime.fromtimestamp(t).astimezone() for t in window)
    by_id = {r[0]: r for r in runs}

    def replica(holder: str | None) -> str:
        parts = str(holder).split(":")  # host:pid:random
        pid = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1
        return holders.get(pid, str(holder))

    interval = args.interval_minutes * 60
    print(f"steady phase: {args.cycles} intervals of {interval} s; 1 % of the contacts change in each")
    print(f"{'portal':<7}{'contacts':>9}{'syncs':>7}{'largest gap':>13}{'overlaps':>10}{'429s':>6}")
    worst = 0.0
    for name, size in portals:
        mine = [r for r in runs if r[1] == name]
        # When each successful sync of the contacts began (what its data is as of).
        done = sorted(r[5] for r in mine if r[2] == "contacts" and r[4] == "succeeded" and r[5] >= start)
        gap = max((b - a).total_seconds() for a, b in itertools.pairwise([start, *done, end]))
        worst = max(worst, gap)
        print(
            f"{name:<7}{size:>9,}{len(done):>7}{gap:>12.0f}s{_overlaps(mine):>10}"
            f"{sum(r[8] or 0 for r in mine):>6}"
        )
    print(f"largest gap between starts of successful contact syncs: {worst:.0f} s (interval {interval} s)")
    worked = Counter(replica(r[7]) for r in runs if r[4] == "succeeded")
    skipped = Counter(r[4] for r in runs if r[4] not in ("succeeded", "failed"))
    computed: Counter[str] = Counter()
    kpi_seconds: dict[str, float] = defaultdict(float)
    for _, ids, seconds, _ in kpis:
        who = replica(by_id[ids[0]][7]) if ids and ids[0] in by_id else "?"
        computed[who] += 1
        kpi_seconds[who] += seconds
    print("share of the work:")
    for i in range(args.replicas):
        who = f"replica {i + 1}"
        print(
            f"  {who}: {worked[who]:,} stream runs, {computed[who]:,} KPI computations "
            f"({kpi_seconds[who]:.0f} s), CPU in the steady phase {cpu[i]:.0f} s"
        )
    print(f"  runs skipped (a lease held by another replica) or otherwise not run: {dict(skipped)}")
    per_sync = sum(cpu) / (len(portals) * args.cycles)
    print(f"replicas' CPU per portal and interval: {per_sync:.2f} s")
    print(
        f"portals kept fresh at a 30-minute interval: {args.replicas} replicas with a core each "
        f"≈ {args.replicas * 1800 / per_sync:,.0f}; this machine's 2 cores ≈ {2 * 1800 / per_sync:,.0f} "
        "(replica CPU only: PostgreSQL and the vendor API are outside it)"
    )


def _overlaps(runs: list[tuple[Any, ...]]) -> int:
    """Runs of one stream that ran at the same time as another run of it."""
    out = 0
    by_stream: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for r in runs:
        if r[4] in ("succeeded", "failed", "running", "cancelled") and r[5] is not None:
            by_stream[r[2]].append(r)
    for rows in by_stream.values():
        rows.sort(key=lambda r: r[5])
        for before, after in itertools.pairwise(rows):
            if before[6] is None or after[5] < before[6]:
                out += 1
    return out


if __name__ == "__main__":
    main()
