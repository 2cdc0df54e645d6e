"""Sync run rows: one per stream and run, from `queued` (an admin asked) to how it ended.

Statuses: `queued` (scheduled, not started), `running`, `cancelling` (an admin asked a running
sync to stop; it stops after the pages in flight are committed), then one of `succeeded`,
`failed`, `deferred`, `skipped`, `interrupted` or `cancelled`; `missed` for a scheduled job
that did not run. The row is the shared state: any replica can queue, watch and cancel a run.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, update

from storage.db import table_of
from storage.leases import _dead_local_holder
from storage.models import SyncLease, SyncRun

ACTIVE = ("queued", "running", "cancelling")
FINISHED = ("succeeded", "failed", "unavailable", "deferred", "skipped", "interrupted", "cancelled", "missed")
INTERRUPTED = "the process running it stopped (killed or crashed) before it finished"
CANCELLED = "cancelled by an admin"


def start_run(
    engine: Engine,
    *,
    connection: str,
    source: str,
    stream: str,
    mode: str,
    trigger: str,
    now: datetime,
    status: str = "running",
    holder: str | None = None,
) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            table_of(SyncRun)
            .insert()
            .values(
                connection=connection,
                source=source,
                stream=stream,
                mode=mode,
                trigger=trigger,
                status=status,
                started_at=now,
                holder=holder,
            )
        )
        run_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    assert isinstance(run_id, int)
    return run_id


def claim_run(engine: Engine, *, run_id: int, mode: str, holder: str | None, now: datetime) -> bool:
    """Turn a queued run into a running one; False when it is no longer queued (cancelled)."""
    runs = table_of(SyncRun)
    with engine.begin() as conn:
        result = conn.execute(
            update(runs)
            .where(runs.c.id == run_id, runs.c.status == "queued")
            .values(status="running", mode=mode, started_at=now, holder=holder)
        )
    return int(result.rowcount) == 1


def finish_run(
    engine: Engine,
    *,
    run_id: int,
    status: str,
    now: datetime,
    error: str | None = None,
    request_delta: dict[str, float] | None = None,
) -> None:
    """Close a run; requests made after its last page (e.g. a failing one) are added here."""
    runs = table_of(SyncRun)
    delta = request_delta or {}
    with engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(
                status=status,
                finished_at=now,
                error=error,
                requests=runs.c.requests + int(delta.get("requests", 0)),
                retries=runs.c.retries + int(delta.get("retries", 0)),
                rate_limited=runs.c.rate_limited + int(delta.get("rate_limited", 0)),
            )
        )


def interrupt_stale_runs(
    engine: Engine, *, connection: str, source: str, streams: Sequence[str], now: datetime
) -> int:
    """Close runs still marked running for streams whose lease the caller now holds: whoever ran
    them is gone (a holder that lives keeps its lease). Returns how many."""
    runs = table_of(SyncRun)
    with engine.begin() as conn:
        result = conn.execute(
            update(runs)
            .where(
                runs.c.connection == connection,
                runs.c.source == source,
                runs.c.stream.in_(list(streams)),
                runs.c.status.in_(("running", "cancelling")),
            )
            .values(status="interrupted", finished_at=now, error=INTERRUPTED)
        )
    return int(result.rowcount)


def interrupt_orphaned_queue(engine: Engine, *, now: datetime) -> int:
    """Close queued runs whose process on this host is gone (it queued them in its memory)."""
    runs = table_of(SyncRun)
    host = socket.gethostname()
    with engine.connect() as conn:
        queued = conn.execute(
            select(runs.c.id, runs.c.holder).where(runs.c.status == "queued", runs.c.holder.is_not(None))
        ).all()
    orphans = [r.id for r in queued if r.holder.startswith(f"{host}:") and _dead_local_holder(r.holder)]
    if not orphans:
        return 0
    with engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id.in_(orphans), runs.c.status == "queued")
            .values(status="interrupted", finished_at=now, error=INTERRUPTED)
        )
    return len(orphans)


def cancel_queued(engine: Engine, *, holder_prefix: str, now: datetime, reason: str) -> int:
    """Close the queued runs of one process (its holder prefix) as cancelled: it is stopping and
    will not start them; any replica sees them finished at once. Returns how many."""
    runs = table_of(SyncRun)
    with engine.begin() as conn:
        result = conn.execute(
            update(runs)
            .where(runs.c.holder.startswith(holder_prefix), runs.c.status == "queued")
            .values(status="cancelled", finished_at=now, error=reason)
        )
    return int(result.rowcount)


def request_cancel(engine: Engine, *, run_id: int, now: datetime) -> SyncRun | None:
    """Cancel a run: a queued one at once, a running one asks its process to stop after the
    pages in flight (status `cancelling`). Finished runs are left as they are."""
    runs = table_of(SyncRun)
    with engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id, runs.c.status == "queued")
            .values(status="cancelled", finished_at=now, error=CANCELLED)
        )
        conn.execute(
            update(runs).where(runs.c.id == run_id, runs.c.status == "running").values(status="cancelling")
        )
    return get_run(engine, run_id)


def cancel_requested(engine: Engine, run_ids: Sequence[int]) -> bool:
    """Whether an admin asked any of these runs to stop."""
    if not run_ids:
        return False
    runs = table_of(SyncRun)
    with engine.connect() as conn:
        hit = conn.execute(
            select(runs.c.id).where(runs.c.id.in_(list(run_ids)), runs.c.status == "cancelling").limit(1)
        ).first()
    return hit is not None


def active_runs(
    engine: Engine, *, connection: str, source: str, streams: Sequence[str], now: datetime, ttl: timedelta
) -> dict[str, int]:
    """The run queued or syncing per stream, where one is (a stream whose lease is held counts
    even before its run row exists: the lease names no run then)."""
    runs = table_of(SyncRun)
    leases = table_of(SyncLease)
    found: dict[str, int] = {}
    with engine.connect() as conn:
        queued = conn.execute(
            select(runs.c.stream, runs.c.id, runs.c.holder, runs.c.started_at)
            .where(
                runs.c.connection == connection,
                runs.c.source == source,
                runs.c.stream.in_(list(streams)),
                runs.c.status == "queued",
            )
            .order_by(runs.c.id)
        ).all()
        # A lease whose run has ended is being released (its holder is finishing up).
        held = conn.execute(
            select(leases.c.stream, leases.c.run_id, leases.c.holder)
            .select_from(leases.outerjoin(runs, runs.c.id == leases.c.run_id))
            .where(
                leases.c.connection == connection,
                leases.c.source == source,
                leases.c.stream.in_(list(streams)),
                leases.c.expires_at >= now,
                or_(runs.c.id.is_(None), runs.c.status.in_(ACTIVE)),
            )
        ).all()
    for row in queued:
        # A queue another host's process kept in memory counts for a lease's length at most.
        alive = not _dead_local_holder(row.holder or "") and (
            (row.holder or "").startswith(f"{socket.gethostname()}:") or row.started_at >= now - ttl
        )
        if alive:
            found.setdefault(row.stream, row.id)
    for lease in held:
        if not _dead_local_holder(lease.holder):
            found.setdefault(lease.stream, lease.run_id or 0)
    return found


def expect_records(engine: Engine, *, run_id: int, expected: int) -> None:
    """What a started run expects to read (progress and time left)."""
    runs = table_of(SyncRun)
    with engine.begin() as conn:
        conn.execute(runs.update().where(runs.c.id == run_id).values(records_expected=expected))


def last_read(engine: Engine, *, connection: str, source: str, stream: str, mode: str) -> int | None:
    """How many records the stream's last successful run of this mode read (None: no such run)."""
    runs = table_of(SyncRun)
    query = (
        select(runs.c.records_read)
        .where(
            runs.c.connection == connection,
            runs.c.source == source,
            runs.c.stream == stream,
            runs.c.mode == mode,
            runs.c.status == "succeeded",
        )
        .order_by(runs.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        found = conn.execute(query).scalar()
    return int(found) if found is not None else None


def get_run(engine: Engine, run_id: int) -> SyncRun | None:
    runs = table_of(SyncRun)
    with engine.connect() as conn:
        row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
    return SyncRun.model_validate(dict(row)) if row else None


def recent_runs(
    engine: Engine,
    *,
    limit: int = 20,
    connection: str | None = None,
    status: str | None = None,
    stream: str | None = None,
    before: int | None = None,
) -> list[SyncRun]:
    """Newest first; `before` pages on (runs with a smaller id)."""
    runs = table_of(SyncRun)
    query = select(runs).order_by(runs.c.id.desc()).limit(limit)
    if connection is not None:
        query = query.where(runs.c.connection == connection)
    if status is not None:
        query = query.where(runs.c.status == status)
    if stream is not None:
        query = query.where(runs.c.stream == stream)
    if before is not None:
        query = query.where(runs.c.id < before)
    with engine.connect() as conn:
        return [SyncRun.model_validate(dict(r)) for r in conn.execute(query).mappings()]


def latest_runs(engine: Engine, *, connection: str | None = None) -> list[SyncRun]:
    """The newest run of every (connection, source, stream), for status pages and metrics."""
    from sqlalchemy import func

    runs = table_of(SyncRun)
    newest = select(func.max(runs.c.id)).group_by(runs.c.connection, runs.c.source, runs.c.stream)
    if connection is not None:
        newest = newest.where(runs.c.connection == connection)
    query = (
        select(runs)
        .where(runs.c.id.in_(newest.scalar_subquery()))
        .order_by(runs.c.connection, runs.c.source, runs.c.stream)
    )
    with engine.connect() as conn:
        return [SyncRun.model_validate(dict(r)) for r in conn.execute(query).mappings()]


def last_success(engine: Engine) -> dict[tuple[str, str, str], datetime]:
    """When each (connection, source, stream) last finished a successful sync."""
    from sqlalchemy import func

    runs = table_of(SyncRun)
    query = (
        select(runs.c.connection, runs.c.source, runs.c.stream, func.max(runs.c.finished_at))
        .where(runs.c.status == "succeeded")
        .group_by(runs.c.connection, runs.c.source, runs.c.stream)
    )
    with engine.connect() as conn:
        return {(r[0], r[1], r[2]): r[3] for r in conn.execute(query).all() if r[3] is not None}


def fresh_starts(engine: Engine, *, connection: str) -> dict[tuple[str, str], datetime]:
    """(source, stream) → when its latest run started, for the streams whose latest run (by any
    process; a skip or a queued run aside) succeeded: the replicas' scheduled syncs leave out
    streams another replica synced within the interval. A stream whose latest run failed or was
    interrupted is not listed, so the next scheduled sync retries or resumes it."""
    from sqlalchemy import func

    runs = table_of(SyncRun)
    newest = (
        select(func.max(runs.c.id))
        .where(runs.c.connection == connection, runs.c.status.not_in(("skipped", "queued", "missed")))
        .group_by(runs.c.source, runs.c.stream)
    )
    query = select(runs.c.source, runs.c.stream, runs.c.started_at).where(
        runs.c.id.in_(newest.scalar_subquery()), runs.c.status == "succeeded"
    )
    with engine.connect() as conn:
        return {(source, stream): started for source, stream, started in conn.execute(query)}
