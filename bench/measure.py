"""Wall time and true peak memory of a command and every process it starts.

`ru_maxrss` of a child (os.wait4, RUSAGE_CHILDREN, even its own RUSAGE_SELF) is not enough here:
Linux carries the high-water mark of the memory image a process had before `exec` into the new
program's figure, so a tool started from a large benchmark process (or a writer process started
from a sync) inherits its parent's size. The kernel's per-image high-water mark, `VmHWM` in
/proc/<pid>/status, has no such carry-over; it is sampled for the command's whole process tree
until the command exits.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_SECONDS = 0.1


@dataclass
class Measured:
    returncode: int
    seconds: float
    largest_mb: float  # the largest single process
    total_mb: float  # the processes' peaks added up (they may not all peak at once)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: the fields after it are fixed.
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _hwm_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run_measured(command: list[str], **popen: Any) -> Measured:
    """Run `command` to its end (Popen keyword arguments pass through), sampling its tree."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, **popen)
    peaks: dict[int, int] = {}
    while proc.poll() is None:
        tree = _children()
        pending, seen = [proc.pid], set()
        while pending:
            pid = pending.pop()
            if pid in seen:
                continue
            seen.add(pid)
            hwm = _hwm_kb(pid)
            if hwm is not None:
                peaks[pid] = max(peaks.get(pid, 0), hwm)
            pending.extend(tree.get(pid, []))
        time.sleep(SAMPLE_SECONDS)
    seconds = time.perf_counter() - started
    return Measured(
        returncode=proc.returncode,
        seconds=seconds,
        largest_mb=max(peaks.values(), default=0) / 1024,
        total_mb=sum(peaks.values()) / 1024,
    )


def own_peak_mb() -> float:
    """This process's high-water mark so far (VmHWM: its own image, see above)."""
    return (_hwm_kb(os.getpid()) or 0) / 1024


@contextmanager
def scratch_database(kind: str, pg: str, directory: str) -> Iterator[tuple[str, str | None]]:
    """A fresh database for one run: a SQLite file in `directory`, or a PostgreSQL schema of the
    server `pg` (dropped afterwards). Yields its URL and the schema (None for SQLite)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory}/funnelsync.db", None
        return
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        base = pg.replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}?options=-csearch_path%3D{schema}", schema
    finally:
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def run_child(
    command: list[str], directory: str, label: str, **popen: Any
) -> tuple[dict[str, Any], Measured]:
    """Run a benchmark's child process, measured; the JSON of its last line of output."""
    out, err = Path(directory, "out.json"), Path(directory, "err.log")
    with out.open("w") as stdout, err.open("w") as stderr:
        measured = run_measured(command, stdout=stdout, stderr=stderr, **popen)
    if measured.returncode != 0:
        raise RuntimeError(f"{label} run failed: {err.read_text()[-1500:]}")
    result: dict[str, Any] = json.loads(out.read_text().strip().splitlines()[-1])
    return result, measured


def add_pg_argument(parser: Any) -> None:
    """`--pg`: the PostgreSQL server a benchmark uses (FUNNELSYNC_TEST_PG, else the local one)."""
    parser.add_argument(
        "--pg", default=os.environ.get("FUNNELSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
