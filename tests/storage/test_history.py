"""Type-2 snapshot history on SQLite and PostgreSQL: versions only on change, valid_from/valid_to,
superseded raw payloads and their pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from connector.records import Normalized
from storage import start_run, store_page
from storage.db import table_of
from storage.history import prune_raw_versions, tracked_fields, versions_of
from storage.models import HubSpotContactVersion, HubSpotDealVersion, RawVersion

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CREATED = NOW - timedelta(days=30)


def contact(record_id: str, modified: datetime | None, **fields):
    row = {
        "id": record_id,
        "email": f"{record_id}@x.example",
        "lifecyclestage": "lead",
        "analytics_source": "ORGANIC_SEARCH",
        "createdate": CREATED,
        "lastmodifieddate": modified,
        "raw": {"id": record_id, "lifecyclestage": fields.get("lifecyclestage", "lead")},
    }
    row.update(fields)
    return row


def sync(engine, *rows, now=NOW, stream="contacts"):
    run_id = start_run(
        engine, connection="c", source="hubspot", stream=stream, mode="full", trigger="cli", now=now
    )
    store_page(
        engine,
        connection="c",
        source="hubspot",
        stream=stream,
        normalized=Normalized(entities=list(rows)),
        records_read=len(rows),
        checkpoint={},
        run_id=run_id,
        now=now,
    )
    return run_id


def count(engine, model) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table_of(model))).scalar_one())


def test_a_version_per_change_and_nothing_for_unchanged_records(engine):
    t1 = NOW - timedelta(days=10)
    sync(engine, contact("1", t1), contact("2", t1))
    assert count(engine, HubSpotContactVersion) == 2
    # The same data again (and a change to an untracked field): no new version.
    sync(
        engine,
        contact("1", t1),
        contact("2", t1 + timedelta(hours=1), email="new@x.example"),
        now=NOW + timedelta(hours=1),
    )
    assert count(engine, HubSpotContactVersion) == 2
    assert count(engine, RawVersion) == 0
    t2 = NOW + timedelta(days=1)
    run = sync(
        engine, contact("1", t2, lifecyclestage="marketingqualifiedlead"), now=t2 + timedelta(minutes=5)
    )
    versions = versions_of(engine, "contacts", "1", connection="c")
    assert [(v["lifecyclestage"], v["valid_from"], v["valid_to"]) for v in versions] == [
        ("lead", t1, t2),
        ("marketingqualifiedlead", t2, None),
    ]
    assert versions[1]["run_id"] == run and versions[1]["seen_at"] == t2 + timedelta(minutes=5)
    # The superseded payload is kept with the version it belonged to.
    with engine.connect() as conn:
        raw = conn.execute(select(table_of(RawVersion))).one()._mapping
    assert (raw["record_id"], raw["valid_from"], raw["valid_to"]) == ("1", t1, t2)
    assert raw["raw"] == {"id": "1", "lifecyclestage": "lead"}
    assert len(versions_of(engine, "contacts", "2", connection="c")) == 1


@pytest.mark.parametrize(
    ("modified", "expected"),
    [
        pytest.param(None, NOW + timedelta(days=2), id="no last-change time: when seen"),
        pytest.param(NOW + timedelta(days=9), NOW + timedelta(days=2), id="clock ahead of ours: when seen"),
        pytest.param(
            NOW - timedelta(days=20),
            NOW - timedelta(days=10) + timedelta(microseconds=1),
            id="before the current version: just after it",
        ),
    ],
)
def test_valid_from_is_the_last_change_kept_in_order(engine, modified, expected):
    sync(engine, contact("1", NOW - timedelta(days=10)))
    sync(engine, contact("1", modified, lifecyclestage="customer"), now=NOW + timedelta(days=2))
    first, second = versions_of(engine, "contacts", "1", connection="c")
    assert second["valid_from"] == expected == first["valid_to"]


def test_a_record_twice_on_one_page_keeps_the_later_values(engine):
    t1 = NOW - timedelta(days=1)
    sync(engine, contact("1", t1), contact("1", t1 + timedelta(hours=1), lifecyclestage="opportunity"))
    (version,) = versions_of(engine, "contacts", "1", connection="c")
    assert version["lifecyclestage"] == "opportunity"


def test_deal_versions_track_stage_amount_and_close_date(engine):
    def deal(modified, **fields):
        return {
            "id": "d1",
            "dealname": "Big",
            "pipeline": "default",
            "dealstage": "qualifiedtobuy",
            "amount": 1000.0,
            "closedate": NOW + timedelta(days=30),
            "createdate": CREATED,
            "lastmodifieddate": modified,
            "raw": {"id": "d1"},
            **fields,
        }

    sync(engine, deal(NOW - timedelta(days=5)), stream="deals")
    sync(engine, deal(NOW - timedelta(days=5), dealname="Renamed"), stream="deals")  # untracked
    sync(engine, deal(NOW, amount=1500.0), stream="deals")
    sync(
        engine,
        deal(NOW + timedelta(hours=1), amount=1500.0, closedate=NOW + timedelta(days=60)),
        stream="deals",
        now=NOW + timedelta(hours=2),
    )
    versions = versions_of(engine, "deals", "d1", connection="c")
    assert [(v["amount"], v["closedate"]) for v in versions] == [
        (1000.0, NOW + timedelta(days=30)),
        (1500.0, NOW + timedelta(days=30)),
        (1500.0, NOW + timedelta(days=60)),
    ]
    assert "dealname" not in tracked_fields("deals") and "amount" in tracked_fields("deals")
    assert count(engine, HubSpotDealVersion) == 3


def test_prune_drops_old_raw_payloads_and_keeps_typed_history(engine):
    for day in range(5):
        at = NOW + timedelta(days=day)
        sync(engine, contact("1", at, lifecyclestage=f"stage{day}"), now=at)
    assert count(engine, RawVersion) == 4  # the versions that ended on days 1..4
    later = NOW + timedelta(days=10)
    planned = prune_raw_versions(engine, older_than=timedelta(days=7), now=later, dry_run=True)
    assert planned.raw_versions == 2 and count(engine, RawVersion) == 4
    done = prune_raw_versions(engine, older_than=timedelta(days=7), now=later)
    assert done.raw_versions == 2 and done.cutoff == NOW + timedelta(days=3)
    assert count(engine, RawVersion) == 2
    assert len(versions_of(engine, "contacts", "1", connection="c")) == 5
