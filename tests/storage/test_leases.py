"""Stream leases on SQLite and PostgreSQL: one holder at a time, expiry, renewal, release, and a
dead local holder's lease taken over at once."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from storage.leases import acquire, leased, release, renew

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
