"""First loads (storage.bulk): new records written without look-ups (COPY on PostgreSQL) store
exactly what the upsert path stores, and a batch that meets a stored record falls back to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from connector.hubspot.normalize import normalize_contacts
from storage import PageInput, PageWrite, finish_run, start_run, store_pages
from storage.bulk import first_load
from tests.conftest import RUN_TABLES, dump_tables

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
STAGES = {"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"}


def stamp(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(i: int, *, stage: str = "lead", merged: str | None = None, **props: Any) -> dict[str, Any]:
    """Contact `i` as HubSpot's list endpoint returns it with stage history and associations."""
    created = NOW - timedelta(days=40 + i)
    modified = NOW - timedelta(days=i % 7, hours=1)
    properties: dict[str, Any] = {
        "email": f"c{i}@example.com",
        "createdate": stamp(created),
        "lastmodifieddate": stamp(modified),
        "lifecyclestage": stage,
        "hs_analytics_source": "ORGANIC_SEARCH",
        "hs_v2_date_entered_lead": stamp(created + timedelta(days=1)),
        f"hs_v2_date_entered_{stage}": stamp(modified),
        "hs_object_id": str(i),
        **props,
    }
    if merged is not None:
        properties["hs_merged_object_ids"] = merged
    return {
        "id": str(i),
        "properties": properties,
        "propertiesWithHistory": {
            "lifecyclestage": [
                {"value": stage, "timestamp": stamp(modified), "sourceType": "CRM_UI"},
                {"value": "lead", "timestamp": stamp(created + timedelta(days=1)), "sourceType": "FORM"},
            ]
        },
        "associations": {
            "companies": {"results": [{"id": str(900 + i % 3), "type": "contact_to_company"}]},
            "deals": {"results": [{"id": str(700 + i), "type": "contact_to_deal"}]} if i % 4 == 0 else {},
        },
        "createdAt": stamp(created),
        "updatedAt": stamp(modified),
        "archived": False,
    }


def first_load_pages() -> list[list[dict[str, Any]]]:
    """Three pages of a first load: stage dates, history, links, a merge of a record read on an
    earlier page, and a malformed value (quarantined)."""
    return [
        [record(i) for i in range(1, 6)],
        [record(i, stage="customer") for i in range(6, 9)] + [record(9, merged="2;9")],
        [record(10, createdate="not a date"), record(11, stage="marketingqualifiedlead")],
    ]


def store(
    engine: Engine, connection: str, pages: list[list[dict[str, Any]]], *, bulk: bool, now: datetime = NOW
) -> list[PageWrite]:
    """Store `pages` as one batch of a full run of `connection`'s contacts."""
    run_id = start_run(
        engine,
        connection=connection,
        source="hubspot",
        stream="contacts",
        mode="full",
        trigger="cli",
        now=now,
    )
    inputs = [
        PageInput(normalize_contacts(page, STAGES, ("companies", "deals")), len(page), {"full": {"after": n}})
        for n, page in enumerate(pages)
    ]
    writes = store_pages(
        engine,
        connection=connection,
        source="hubspot",
        stream="contacts",
        pages=inputs,
        run_id=run_id,
        now=now,
        quarantine_empty=True,
        bulk=bulk,
    )
    finish_run(engine, run_id=run_id, status="succeeded", now=now)
    return writes


def stored(engine: Engine, connection: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every data row of `connection`, without the connection and run ids (runs differ)."""
    tables = dump_tables(engine, exclude=RUN_TABLES, skip_columns=("run_id",))
    return {name: sorted(row[1:] for row in rows if row[0] == connection) for name, rows in tables.items()}


def test_a_first_load_in_bulk_stores_what_the_upsert_path_stores(engine: Engine) -> None:
    writes = store(engine, "bulk", first_load_pages(), bulk=True)
    plain = store(engine, "plain", first_load_pages(), bulk=False)
    assert [w.bulk for w in writes] == [True, True, True]
    assert [w.bulk for w in plain] == [False, False, False]
    assert [(w.read, w.written, w.quarantined) for w in writes] == [
        (w.read, w.written, w.quarantined) for w in plain
    ]
    bulk = stored(engine, "bulk")
    assert bulk == stored(engine, "plain")
    # What a first load has: versions, stage dates from properties and history, transitions,
    # company links, the deals' links to contacts, the merge and the quarantined value.
    for table in (
        "hubspot_contact_versions",
        "hubspot_contact_stage_dates",
        "hubspot_contact_stage_transitions",
        "hubspot_contact_associations",
        "hubspot_deal_associations",
        "quarantine",
    ):
        assert bulk[table], table
    assert len(bulk["hubspot_contact_versions"]) == 11


@pytest.mark.parametrize(
    "later",
    [
        pytest.param([[record(12)], [record(3, stage="customer"), record(13)]], id="a stored record"),
        pytest.param([[record(12), record(12, stage="customer")]], id="a record twice in a page"),
    ],
)
def test_a_bulk_batch_that_meets_a_stored_record_is_written_the_ordinary_way(
    engine: Engine, later: list[list[dict[str, Any]]]
) -> None:
    store(engine, "bulk", first_load_pages(), bulk=True)
    store(engine, "plain", first_load_pages(), bulk=False)
    later_now = NOW + timedelta(hours=1)
    writes = store(engine, "bulk", later, bulk=True, now=later_now)
    store(engine, "plain", later, bulk=False, now=later_now)
    assert not any(w.bulk for w in writes)
    assert stored(engine, "bulk") == stored(engine, "plain")


def test_first_load_until_a_read_succeeded_with_records_stored(engine: Engine) -> None:
    def first() -> bool:
        return first_load(engine, connection="bulk", source="hubspot", stream="contacts")

    assert first()
    # A first load interrupted after some pages: the rest of its pages are new.
    run_id = start_run(
        engine, connection="bulk", source="hubspot", stream="contacts", mode="full", trigger="cli", now=NOW
    )
    finish_run(engine, run_id=run_id, status="failed", now=NOW)
    store_pages(
        engine,
        connection="bulk",
        source="hubspot",
        stream="contacts",
        pages=[PageInput(normalize_contacts([record(1)], STAGES), 1, {})],
        run_id=run_id,
        now=NOW,
    )
    assert first()
    store(engine, "bulk", [[record(2)]], bulk=False)
    assert not first()
    # Another connection, another stream: not loaded.
    assert first_load(engine, connection="other", source="hubspot", stream="contacts")
    assert first_load(engine, connection="bulk", source="hubspot", stream="companies")
