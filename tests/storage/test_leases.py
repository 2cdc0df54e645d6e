"""Stream leases on SQLite and PostgreSQL: one holder at a time, expiry, renewal, release, and a
dead local holder's lease taken over at once."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from storage.db import table_of
from storage.leases import acquire, leased, release, renew
from storage.models import SyncLease

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)
KEY = {"connection": "c", "source": "hubspot", "stream": "contacts"}


def test_one_holder_at_a_time_until_release_or_expiry(engine):
    assert acquire(engine, **KEY, holder="a", now=NOW, ttl=TTL) is None
    busy = acquire(engine, **KEY, holder="b", now=NOW + timedelta(minutes=1), ttl=TTL)
    assert busy is not None and busy.holder == "a" and "already running: a holds contacts" in busy.message()
    assert acquire(engine, **KEY, holder="a", now=NOW + timedelta(minutes=1), ttl=TTL) is None  # re-entrant
    # Renewed, it outlives the first expiry; unrenewed, it lapses.
    assert (
        renew(engine, connection="c", source="hubspot", holder="a", now=NOW + timedelta(minutes=4), ttl=TTL)
        == 1
    )
    assert acquire(engine, **KEY, holder="b", now=NOW + timedelta(minutes=8), ttl=TTL) is not None
    assert acquire(engine, **KEY, holder="b", now=NOW + timedelta(minutes=10), ttl=TTL) is None
    assert (
        renew(engine, connection="c", source="hubspot", holder="a", now=NOW + timedelta(minutes=10), ttl=TTL)
        == 0
    )
    release(engine, connection="c", source="hubspot", holder="b")
    assert acquire(engine, **KEY, holder="c", now=NOW + timedelta(minutes=10), ttl=TTL) is None


def test_a_dead_process_on_this_host_does_not_block(engine):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = f"{socket.gethostname()}:{child.pid}:feed"
    elsewhere = f"other-host:{child.pid}:feed"
    assert acquire(engine, **KEY, holder=dead, now=NOW, ttl=TTL) is None
    assert acquire(engine, **KEY, holder="me", now=NOW, ttl=TTL) is None
    other = {**KEY, "stream": "deals"}
    assert acquire(engine, **other, holder=elsewhere, now=NOW, ttl=TTL) is None
    assert acquire(engine, **other, holder="me", now=NOW, ttl=TTL) is not None  # cannot tell: waits


def test_leased_splits_free_and_busy_streams_and_releases(engine):
    assert acquire(engine, **KEY, holder="other", now=NOW, ttl=TTL) is None
    with leased(
        engine, connection="c", source="hubspot", streams=["owners", "contacts"], now=lambda: NOW
    ) as (
        holder,
        held,
        busy,
    ):
        assert held == ["owners"] and [b.stream for b in busy] == ["contacts"]
        assert acquire(engine, **{**KEY, "stream": "owners"}, holder="x", now=NOW, ttl=TTL) is not None
    assert acquire(engine, **{**KEY, "stream": "owners"}, holder="x", now=NOW, ttl=TTL) is None
    assert holder.startswith(socket.gethostname() + ":")


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _expiry(engine) -> datetime | None:
    with engine.connect() as conn:
        value = conn.execute(select(table_of(SyncLease).c.expires_at)).scalar_one_or_none()
    return None if value is None else value.replace(tzinfo=UTC)


def test_a_failed_renewal_is_logged_and_retried(engine, caplog):
    """The renewer's clock fails twice (as a database error would); the lease is kept and renewed
    at the next tick, and each failure is a warning in the log."""
    caplog.set_level(logging.WARNING, logger="funnelsync.leases")  # whatever an earlier test configured
    ttl = timedelta(seconds=0.3)
    later = NOW + timedelta(hours=1)
    calls = iter(range(1_000_000))

    def now() -> datetime:
        call = next(calls)
        if call in (1, 2):  # the first two renewals
            raise ConnectionError("database is down")
        return NOW if call == 0 else later

    with leased(engine, connection="c", source="hubspot", streams=["contacts"], now=now, ttl=ttl) as (
        holder,
        held,
        _busy,
    ):
        assert held == ["contacts"]
        assert _until(lambda: _expiry(engine) == later + ttl)
    failures = [r.getMessage() for r in caplog.records if "could not renew" in r.getMessage()]
    assert (
        failures == [f"could not renew the hubspot leases of {holder}: ConnectionError: database is down"] * 2
    )


def test_a_lease_that_ran_out_is_reported_by_the_renewer(engine, caplog):
    caplog.set_level(logging.WARNING, logger="funnelsync.leases")
    ttl = timedelta(seconds=0.3)
    with leased(engine, connection="c", source="hubspot", streams=["contacts"], now=lambda: NOW, ttl=ttl) as (
        holder,
        held,
        _busy,
    ):
        assert held == ["contacts"]
        release(engine, connection="c", source="hubspot", holder=holder)  # as an expiry and takeover would
        assert _until(lambda: any("ran out" in r.getMessage() for r in caplog.records))
    assert f"{holder} holds 0 of its 1 hubspot leases: the others ran out" in caplog.text
