"""Writers: inline and in a process, same tables; failures stop the run at the last good batch."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, select

from connector.records import Normalized
from service.writer import InlineWriter, ProcessWriter, StorageWriteError, open_writer, writer_url
from storage import PageInput, get_state, prepare_pages, start_run
from storage.db import table_of
from storage.models import HubSpotContact, SyncRun
from tests.conftest import dump_tables

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def batch(engine, run_id, first, count=3, *, bad=None):
    """One prepared batch of `count` one-contact pages; `bad` gives that contact no id (refused)."""
    pages = []
    for n in range(first, first + count):
        row = {
            "id": None if n == bad else str(n),
            "email": f"{n}@x.example",
            "raw": {"n": n},
            "createdate": NOW,
        }
        pages.append(PageInput(Normalized(entities=[row]), 1, {"full": {"after": str(n + 1)}}))
    return prepare_pages(
        engine.dialect.name,
        connection="c",
        source="hubspot",
        stream="contacts",
        pages=pages,
        run_id=run_id,
        now=NOW,
        request_delta={"requests": count},
    )


def new_run(engine):
    return start_run(
        engine, connection="c", source="hubspot", stream="contacts", mode="full", trigger="cli", now=NOW
    )


def stored_ids(engine):
    with engine.connect() as conn:
        return sorted(int(i) for i in conn.execute(select(table_of(HubSpotContact).c.id)).scalars())


@pytest.mark.parametrize("kind", ["inline", "process"])
def test_writers_store_every_batch_in_order_and_acknowledge_each_page(engine, kind):
    run_id = new_run(engine)
    with open_writer(engine, kind, large=False) as writer:
        assert isinstance(writer, ProcessWriter if kind == "process" else InlineWriter)
        acknowledged = []
        for first in range(1, 30, 3):
            acknowledged += writer.write(batch(engine, run_id, first))
        acknowledged += writer.drain()
    assert len(acknowledged) == 30 and all(w.written == 1 for w in acknowledged)
    assert stored_ids(engine) == list(range(1, 31))
    assert get_state(engine, connection="c", source="hubspot", stream="contacts") == {"full": {"after": "31"}}
    with engine.connect() as conn:
        run = conn.execute(select(table_of(SyncRun)).where(table_of(SyncRun).c.id == run_id)).mappings().one()
    assert (run["pages"], run["records_written"], run["requests"]) == (30, 30, 30)


def test_both_writers_leave_identical_tables(request, dialect, tmp_path):
    from storage import make_engine, migrate
    from tests.conftest import fresh_database

    dumps = []
    for kind in ("inline", "process"):
        with fresh_database(request, dialect, tmp_path, name=f"{kind}.db") as url:
            engine = make_engine(url)
            migrate(engine)
            run_id = new_run(engine)
            with open_writer(engine, kind, large=True) as writer:
                for first in range(1, 10, 3):
                    writer.write(batch(engine, run_id, first))
                writer.drain()
            dumps.append(dump_tables(engine))
            engine.dispose()
    assert dumps[0] == dumps[1]


def test_a_failed_batch_stops_the_run_at_the_last_committed_batch(engine):
    run_id = new_run(engine)
    with open_writer(engine, "process", large=True) as writer, pytest.raises(StorageWriteError) as failure:
        writer.write(batch(engine, run_id, 1))
        writer.write(batch(engine, run_id, 4, bad=5))  # refused by the database
        writer.write(batch(engine, run_id, 7))  # must not be stored: its checkpoint would skip 4–6
        writer.drain()
    assert "IntegrityError" in str(failure.value) or "NotNullViolation" in str(failure.value)
    assert stored_ids(engine) == [1, 2, 3]
    assert get_state(engine, connection="c", source="hubspot", stream="contacts") == {"full": {"after": "4"}}


def test_a_writer_process_that_dies_fails_the_run_with_its_exit_code(engine):
    run_id = new_run(engine)
    with open_writer(engine, "process", large=True) as writer:
        assert isinstance(writer, ProcessWriter)
        writer.write(batch(engine, run_id, 1))
        writer.drain()
        writer._process.kill()
        writer._process.wait()
        with pytest.raises(StorageWriteError, match=r"exited unexpectedly \(exit code -9\)"):
            writer.write(batch(engine, run_id, 4))
            writer.drain()
    assert stored_ids(engine) == [1, 2, 3]


@pytest.mark.parametrize(
    ("url", "kind", "large", "expected"),
    [
        ("sqlite:///{tmp}/a.db", "auto", True, ProcessWriter),
        ("sqlite:///{tmp}/a.db", "auto", False, InlineWriter),
        ("sqlite:///{tmp}/a.db", "inline", True, InlineWriter),
        ("sqlite:///{tmp}/a.db", "process", False, ProcessWriter),
        ("sqlite://", "process", True, InlineWriter),  # only this process can see an in-memory database
    ],
)
def test_which_writer_a_run_gets(tmp_path, url, kind, large, expected):
    engine = create_engine(url.format(tmp=tmp_path))
    with open_writer(engine, kind, large=large) as writer:
        assert type(writer) is expected


def test_a_writer_that_dies_with_batches_in_flight_fails_the_run_at_the_last_acknowledged_page(engine):
    run_id = new_run(engine)
    with open_writer(engine, "process", large=True) as writer:
        assert isinstance(writer, ProcessWriter)
        assert len(writer.write(batch(engine, run_id, 1)) + writer.drain()) == 3
        os.kill(writer._process.pid, signal.SIGSTOP)  # it cannot take the next batch...
        assert writer.write(batch(engine, run_id, 4)) == []  # ...which stays in flight
        writer._process.kill()
        with pytest.raises(StorageWriteError, match=r"exited unexpectedly \(exit code -9\)"):
            writer.drain()
    assert stored_ids(engine) == [1, 2, 3]
    assert get_state(engine, connection="c", source="hubspot", stream="contacts") == {"full": {"after": "4"}}


def test_a_writer_that_does_not_stop_in_time_is_killed_on_close(engine, caplog):
    url = writer_url(engine)
    assert url is not None
    writer = ProcessWriter(url, close_timeout=0.2)
    run_id = new_run(engine)
    assert len(writer.write(batch(engine, run_id, 1)) + writer.drain()) == 3
    os.kill(writer._process.pid, signal.SIGSTOP)  # wedged: it will never read the stop message
    writer.close()
    assert writer._process.returncode == -signal.SIGKILL
    assert "storage writer did not stop in 0.2 s; killing it" in caplog.text
    assert stored_ids(engine) == [1, 2, 3]
