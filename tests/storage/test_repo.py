"""Storage on SQLite and PostgreSQL: UTC round trips, idempotent upserts, atomic checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from connector.records import Issue, Normalized
from storage import get_state, has_quarantine, start_run, store_page, upsert
from storage.db import table_of
from storage.models import HubSpotContact, HubSpotContactStageDate, Quarantine, SyncRun
from tests.conftest import dump_tables

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def contact(record_id: str, **fields):
    row = {
        "id": record_id,
        "email": f"{record_id}@x.example",
        "lifecyclestage": "lead",
        "raw": {"id": record_id},
        "createdate": NOW - timedelta(days=3),
    }
    row.update(fields)
    return row


def page(*rows, stage_dates=(), issues=()):
    return Normalized(entities=list(rows), stage_dates=list(stage_dates), issues=list(issues))


def test_timestamps_come_back_aware_utc(engine):
    cet = timezone(timedelta(hours=1))
    with engine.begin() as conn:
        upsert(
            conn,
            HubSpotContact,
            [{**contact("1"), "connection": "c", "createdate": datetime(2026, 1, 1, 1, 30, tzinfo=cet)}],
        )
    with engine.connect() as conn:
        value = conn.execute(select(table_of(HubSpotContact).c.createdate)).scalar_one()
    assert value == datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(engine):
    from sqlalchemy.exc import StatementError

    with pytest.raises((StatementError, ValueError), match="naive datetime"), engine.begin() as conn:
        upsert(
            conn, HubSpotContact, [{**contact("1"), "connection": "c", "createdate": datetime(2026, 1, 1)}]
        )


def store(engine, run_id, normalized, checkpoint, stream="contacts", **options):
    return store_page(
        engine,
        connection="c",
        source="hubspot",
        stream=stream,
        normalized=normalized,
        records_read=len(normalized.entities),
        checkpoint=checkpoint,
        run_id=run_id,
        now=NOW,
        **options,
    )


def test_page_rows_and_checkpoint_commit_together(engine):
    run_id = start_run(
        engine, connection="c", source="hubspot", stream="contacts", mode="full", trigger="cli", now=NOW
    )
    store(engine, run_id, page(contact("1"), contact("2")), {"full": {"after": "3"}})
    assert get_state(engine, connection="c", source="hubspot", stream="contacts") == {"full": {"after": "3"}}
    # A page whose write fails leaves neither its rows nor its checkpoint behind.
    bad = page(contact("3"), contact("4", createdate=datetime(2026, 1, 1)))  # naive: refused mid-transaction
    with pytest.raises(ValueError, match="naive datetime"):
        store(engine, run_id, bad, {"full": {"after": "5"}})
    assert get_state(engine, connection="c", source="hubspot", stream="contacts") == {"full": {"after": "3"}}
    with engine.connect() as conn:
        ids = sorted(conn.execute(select(table_of(HubSpotContact).c.id)).scalars())
        run = conn.execute(select(table_of(SyncRun)).where(table_of(SyncRun).c.id == run_id)).mappings().one()
    assert ids == ["1", "2"]
    assert (run["pages"], run["records_read"], run["records_written"]) == (1, 2, 2)


def test_writing_the_same_page_twice_changes_nothing(engine):
    run1 = start_run(
        engine, connection="c", source="hubspot", stream="contacts", mode="full", trigger="cli", now=NOW
    )
    dates = [{"contact_id": "1", "stage": "lead", "source": "hs_v2_date_entered", "entered_at": NOW}]
    issues = [Issue("2", "createdate", "", "empty string where a date was expected")]
    normalized = page(contact("1"), contact("2", createdate=None), stage_dates=dates, issues=issues)
    store(engine, run1, normalized, {"watermark": "w"})
    before = dump_tables(engine)
    run2 = start_run(
        engine,
        connection="c",
        source="hubspot",
        stream="contacts",
        mode="full",
        trigger="cli",
        now=NOW + timedelta(hours=1),
    )
    store_page(
        engine,
        connection="c",
        source="hubspot",
        stream="contacts",
        normalized=normalized,
        records_read=2,
        checkpoint={"watermark": "w"},
        run_id=run2,
        now=NOW + timedelta(hours=1),
    )
    assert dump_tables(engine) == before


def test_children_and_quarantine_follow_the_current_record(engine):
    run_id = start_run(
        engine, connection="c", source="hubspot", stream="contacts", mode="full", trigger="cli", now=NOW
    )
    old_dates = [
        {"contact_id": "1", "stage": "lead", "source": "hs_v2_date_entered", "entered_at": NOW},
        {"contact_id": "1", "stage": "customer", "source": "hs_v2_date_entered", "entered_at": NOW},
    ]
    store(
        engine,
        run_id,
        page(contact("1"), stage_dates=old_dates, issues=[Issue("1", "createdate", "x", "unparseable date")]),
        {},
    )
    # The record comes back with one stage date fewer and a clean createdate.
    store(engine, run_id, page(contact("1"), stage_dates=old_dates[:1]), {})
    with engine.connect() as conn:
        stages = conn.execute(select(table_of(HubSpotContactStageDate).c.stage)).scalars().all()
        quarantined = conn.execute(select(table_of(Quarantine))).all()
    assert stages == ["lead"]
    assert quarantined == []


def test_known_empty_quarantine_still_records_new_findings(engine):
    run_id = start_run(
        engine, connection="c", source="hubspot", stream="contacts", mode="full", trigger="cli", now=NOW
    )
    assert not has_quarantine(engine, connection="c", source="hubspot", stream="contacts")
    store(engine, run_id, page(contact("1")), {}, quarantine_empty=True)
    issue = Issue("2", "createdate", "x", "unparseable date")
    store(engine, run_id, page(contact("2"), issues=[issue]), {}, quarantine_empty=True)
    assert has_quarantine(engine, connection="c", source="hubspot", stream="contacts")


def test_pages_committed_together_end_as_the_later_page_says(engine):
    from storage import PageInput, store_pages

    run_id = start_run(
        engine, connection="c", source="hubspot", stream="contacts", mode="full", trigger="cli", now=NOW
    )
    lead = {"contact_id": "1", "stage": "lead", "source": "hs_v2_date_entered", "entered_at": NOW}
    customer = {**lead, "stage": "customer"}
    first = page(contact("1", lifecyclestage="customer"), stage_dates=[lead, customer])
    second = page(contact("1"), contact("2"), stage_dates=[lead])  # record 1 again, one stage fewer
    writes = store_pages(
        engine,
        connection="c",
        source="hubspot",
        stream="contacts",
        pages=[PageInput(first, 1, {"full": {"after": "2"}}), PageInput(second, 2, {"full": {"after": "3"}})],
        run_id=run_id,
        now=NOW,
    )
    assert [w.read for w in writes] == [1, 2]
    with engine.connect() as conn:
        contacts = dict(
            conn.execute(
                select(table_of(HubSpotContact).c.id, table_of(HubSpotContact).c.lifecyclestage)
            ).all()
        )
        dates = conn.execute(
            select(table_of(HubSpotContactStageDate).c.stage, table_of(HubSpotContactStageDate).c.source)
        ).all()
        run = conn.execute(select(table_of(SyncRun)).where(table_of(SyncRun).c.id == run_id)).mappings().one()
    assert contacts == {"1": "lead", "2": "lead"}
    # The second page's properties replace the first's; the move back to lead was observed.
    assert sorted(dates) == [("lead", "hs_v2_date_entered"), ("lead", "observed")]
    assert get_state(engine, connection="c", source="hubspot", stream="contacts") == {"full": {"after": "3"}}
    assert (run["pages"], run["records_read"], run["records_written"]) == (2, 3, 3)
