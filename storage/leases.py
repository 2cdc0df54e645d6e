"""Leases: at most one process syncs a (connection, source, stream) at a time, on one database.

A lease is a row in `sync_leases` with a holder and an expiry, taken with one atomic upsert
(the row lock on PostgreSQL, the write lock on SQLite), so two processes, two replicas or two
hosts on one PostgreSQL database never both win. The holder renews it while it syncs; a holder
that dies stops renewing and its lease runs out. A lease held by a process on this host that no
longer exists (kill -9) is taken over at once instead of waiting for the expiry.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, delete, or_, select, update

from storage.db import describe_error, table_of, upsert_insert
from storage.models import SyncLease

log = logging.getLogger("funnelsync.leases")

DEFAULT_TTL = timedelta(minutes=5)


def process_prefix() -> str:
    """host:pid: — how every holder name of this process starts."""
    return f"{socket.gethostname()}:{os.getpid()}:"


def this_holder() -> str:
    """host:pid:random, unique per process and per lease set."""
    return f"{process_prefix()}{secrets.token_hex(4)}"


def process_gone(pid: int) -> bool:
    """Whether no process `pid` exists on this host (one we may not signal still exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _dead_local_holder(holder: str) -> bool:
    """Whether `holder` names a process on this host that is gone."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    return process_gone(int(pid_text))


@dataclass(frozen=True)
class Busy:
    """A stream someone else is syncing."""

    stream: str
    holder: str
    run_id: int | None
    acquired_at: datetime
    expires_at: datetime

    def message(self) -> str:
        run = f" (run {self.run_id})" if self.run_id is not None else ""
        return (
            f"already running: {self.holder}{run} holds {self.stream} since "
            f"{self.acquired_at:%Y-%m-%d %H:%M:%S} UTC (lease until {self.expires_at:%H:%M:%S})"
        )


def acquire(
    engine: Engine,
    *,
    connection: str,
    source: str,
    stream: str,
    holder: str,
    now: datetime,
    ttl: timedelta = DEFAULT_TTL,
) -> Busy | None:
    """Take the stream's lease for `holder`: None when taken, else who holds it."""
    table = table_of(SyncLease)
    key = and_(table.c.connection == connection, table.c.source == source, table.c.stream == stream)
    with engine.begin() as conn:
        current = conn.execute(select(table.c.holder).where(key)).scalar_one_or_none()
        # A dead local holder's lease is free now; checked outside the upsert (it needs the OS).
        takeover = current is not None and current != holder and _dead_local_holder(current)
        stmt = upsert_insert(conn.dialect.name, table).values(
            connection=connection,
            source=source,
            stream=stream,
            holder=holder,
            run_id=None,
            acquired_at=now,
            expires_at=now + ttl,
        )
        free = or_(table.c.expires_at < now, table.c.holder == holder)
        if takeover:
            free = or_(free, table.c.holder == current)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[table.c.connection, table.c.source, table.c.stream],
                set_={
                    "holder": stmt.excluded.holder,
                    "run_id": None,
                    "acquired_at": stmt.excluded.acquired_at,
                    "expires_at": stmt.excluded.expires_at,
                },
                where=free,
            )
        )
        row = conn.execute(select(table).where(key)).one()
    if row.holder == holder:
        return None
    return Busy(stream, row.holder, row.run_id, row.acquired_at, row.expires_at)


def renew(
    engine: Engine, *, connection: str, source: str, holder: str, now: datetime, ttl: timedelta = DEFAULT_TTL
) -> int:
    """Extend every lease `holder` has for the source; returns how many it still holds."""
    table = table_of(SyncLease)
    with engine.begin() as conn:
        result = conn.execute(
            update(table)
            .where(table.c.connection == connection, table.c.source == source, table.c.holder == holder)
            .values(expires_at=now + ttl)
        )
    return int(result.rowcount)


def note_run(engine: Engine, *, connection: str, source: str, stream: str, holder: str, run_id: int) -> None:
    """Name the run that works under a lease (so "already running" can say which)."""
    table = table_of(SyncLease)
    with engine.begin() as conn:
        conn.execute(
            update(table)
            .where(
                table.c.connection == connection,
                table.c.source == source,
                table.c.stream == stream,
                table.c.holder == holder,
            )
            .values(run_id=run_id)
        )


def release(engine: Engine, *, connection: str, source: str, holder: str, stream: str | None = None) -> None:
    """Give up `holder`'s leases of the source (only `stream`'s when given)."""
    table = table_of(SyncLease)
    where = [table.c.connection == connection, table.c.source == source, table.c.holder == holder]
    if stream is not None:
        where.append(table.c.stream == stream)
    with engine.begin() as conn:
        conn.execute(delete(table).where(*where))


@contextmanager
def leased(
    engine: Engine,
    *,
    connection: str,
    source: str,
    streams: Sequence[str],
    now: Callable[[], datetime],
    ttl: timedelta = DEFAULT_TTL,
    holder: str | None = None,
) -> Iterator[tuple[str, list[str], list[Busy]]]:
    """Lease what can be leased of `streams`: yields (holder, leased streams, busy ones). A
    thread renews the leases every third of the ttl until the block ends, then they are released."""
    holder = holder or this_holder()
    held: list[str] = []
    busy: list[Busy] = []
    for stream in streams:
        taken = acquire(
            engine,
            connection=connection,
            source=source,
            stream=stream,
            holder=holder,
            now=now(),
            ttl=ttl,
        )
        if taken is None:
            held.append(stream)
        else:
            busy.append(taken)
    stop = threading.Event()

    def keep() -> None:
        # A failed renewal is retried at the next tick (a third of the ttl later), so one
        # database hiccup does not lose the lease; each failure is logged, never raised.
        while not stop.wait(ttl.total_seconds() / 3):
            try:
                kept = renew(engine, connection=connection, source=source, holder=holder, now=now(), ttl=ttl)
            except Exception as exc:
                log.warning("could not renew the %s leases of %s: %s", source, holder, describe_error(exc))
                continue
            if kept < len(held):
                log.warning(
                    "%s holds %d of its %d %s leases: the others ran out", holder, kept, len(held), source
                )

    renewer = threading.Thread(target=keep, name="lease-renewer", daemon=True) if held else None
    if renewer is not None:
        renewer.start()
    try:
        yield holder, held, busy
    finally:
        stop.set()
        if renewer is not None:
            renewer.join(timeout=5)
        if held:
            release(engine, connection=connection, source=source, holder=holder)
