"""End-to-end syncs: sandbox over loopback → connector → storage (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from service.sync import build_sync
from storage import get_run, get_state, recent_runs
from storage.db import table_of
from storage.models import (
    HubSpotCompany,
    HubSpotContact,
    HubSpotContactStageDate,
    HubSpotDeal,
    HubSpotDealAssociation,
    HubSpotMarketingEmail,
    HubSpotPipelineStage,
    HubSpotProperty,
    Quarantine,
    SyncRun,
)
from tests.conftest import RUN_TABLES, WRITE_COLUMNS, dump_tables


def truth(sandbox, object_type):
    return {
        r["id"]: r
        for r in sandbox.admin("GET", f"/_sandbox/truth/{object_type}")["results"]
        if not r["archived"]
    }


def stored(engine, model, *columns):
    table = table_of(model)
    with engine.connect() as conn:
        return conn.execute(select(*(table.c[c] for c in columns))).all()


# The path prefixes of each API family; the analytics v2 reports have no dated equivalent.
FAMILY_PREFIXES = {
    "2026-09": (
        "/crm/objects/2026-09/",
        "/crm/associations/2026-09/",
        "/crm/properties/2026-09/",
        "/crm/pipelines/2026-09/",
        "/crm/owners/2026-09",
        "/marketing/emails/2026-09",
        "/marketing/campaigns/2026-09",
        "/events/event-occurrences/2026-09",
        "/analytics/v2/reports/",
    ),
    "legacy": (
        "/crm/v3/",
        "/crm/v4/associations/",
        "/marketing/v3/emails",
        "/marketing/v3/campaigns",
        "/events/v3/events",
        "/analytics/v2/reports/",
    ),
}


@pytest.mark.parametrize("api_version", ["2026-09", "legacy"])
def test_full_sync_copies_the_portal(sandbox, clock, make_settings, engine, db_url, api_version):
    settings = make_settings(db_url, api_version=api_version)
    outcomes = build_sync("hubspot", settings, engine, clock=clock).run(full=True)
    assert [o.status for o in outcomes] == ["succeeded"] * 12
    # Every request used the chosen family's paths (the analytics reports have no dated one).
    called = {key.split(" ", 1)[1] for key in sandbox.state.paths}
    assert called and all(path.startswith(FAMILY_PREFIXES[api_version]) for path in called), called
    assert any(path.startswith("/analytics/v2/") for path in called)
    for object_type, model in (
        ("contacts", HubSpotContact),
        ("companies", HubSpotCompany),
        ("deals", HubSpotDeal),
    ):
        expected = truth(sandbox, object_type)
        assert expected, object_type
        assert {r for (r,) in stored(engine, model, "id")} == set(expected), object_type
    # Typed columns hold the values HubSpot sent.
    contacts = truth(sandbox, "contacts")
    stages = stored(engine, HubSpotContact, "id", "lifecyclestage")
    assert len(stages) == len(contacts)
    assert all(
        stage == contacts[record_id]["properties"].get("lifecyclestage") for record_id, stage in stages
    )
    # Every hs_v2_date_entered_* became a stage-date row.
    expected_dates = sum(
        1 for r in contacts.values() for k in r["properties"] if k.startswith("hs_v2_date_entered_")
    )
    dates = stored(engine, HubSpotContactStageDate, "contact_id", "stage", "source", "entered_at")
    assert len([d for d in dates if d[2] != "history"]) == expected_dates
    # Property history gives every stage change; its first entry per stage matches the
    # generator's stage-entry dates (the sandbox derives one from the other).
    by_property = {(c, st): at for c, st, src, at in dates if src == "hs_v2_date_entered"}
    by_history = {(c, st): at for c, st, src, at in dates if src == "history"}
    assert by_history and all(by_history[key] == at for key, at in by_property.items() if key in by_history)
    # Deal associations, pipelines with numeric probabilities.
    store = sandbox.store
    assoc = stored(engine, HubSpotDealAssociation, "deal_id", "to_type", "to_id")
    expected_assoc = {
        (str(d), "contact", str(c))
        for d in store.objects["deals"]
        for c in store.associated("deals", d, "contacts")
    }
    assert {a for a in assoc if a[1] == "contact"} == expected_assoc
    stages = {
        s: (p, c, w)
        for s, p, c, w in stored(
            engine, HubSpotPipelineStage, "stage_id", "probability", "is_closed", "is_won"
        )
    }
    # The property catalogue with types and the lifecycle-stage labels.
    props = {r[0]: r[1:] for r in stored(engine, HubSpotProperty, "id", "type", "field_type", "raw")}
    assert props["contacts/lifecyclestage"][:2] == ("enumeration", "radio")
    labels = {o["value"]: o["label"] for o in props["contacts/lifecyclestage"][2]["options"]}
    assert labels["marketingqualifiedlead"] == "Marketing Qualified Lead"
    assert props["deals/amount"][0] == "number" and props["deals/closedate"][0] == "datetime"
    # Marketing emails with their statistics.
    emails = {e["id"]: e for e in sandbox.store.emails}
    assert emails
    stored_emails = {r[0]: r[1:] for r in stored(engine, HubSpotMarketingEmail, "id", "sent", "unique_opens")}
    assert set(stored_emails) == set(emails)
    for email_id, (sent, opens) in stored_emails.items():
        counters = (emails[email_id].get("stats") or {}).get("counters")
        assert (sent, opens) == ((counters["sent"], counters["open"]) if counters else (None, None))
    assert stages["closedwon"] == (1.0, True, True)
    assert stages["closedlost"] == (0.0, True, False)
    assert stages["qualifiedtobuy"] == (0.4, False, False)


def test_second_identical_sync_leaves_identical_tables(sandbox, clock, make_settings, engine, db_url):
    settings = make_settings(db_url)
    build_sync("hubspot", settings, engine, clock=clock).run(full=True)
    first = dump_tables(engine)
    outcomes = build_sync("hubspot", settings, engine, clock=clock).run(full=True)
    assert all(o.status == "succeeded" for o in outcomes)
    assert dump_tables(engine) == first


def test_incremental_sync_picks_up_changes(sandbox, clock, make_settings, engine, db_url):
    settings = make_settings(db_url)
    build_sync("hubspot", settings, engine, clock=clock).run()
    change = sandbox.admin(
        "POST",
        "/_sandbox/simulate",
        json={
            "days": 1,
            "new_contacts": 7,
            "stage_changes": 9,
            "deals_created": 3,
            "deals_won": 2,
            "deals_lost": 1,
        },
    )
    outcomes = {o.stream: o for o in build_sync("hubspot", settings, engine, clock=clock).run()}
    assert outcomes["contacts"].mode == "incremental"
    assert outcomes["contacts"].read >= 7 + 9
    expected = truth(sandbox, "contacts")
    rows = dict(stored(engine, HubSpotContact, "id", "lifecyclestage"))
    assert set(rows) == set(expected)
    assert expected and all(rows[i] == expected[i]["properties"].get("lifecyclestage") for i in expected)
    won = change["changes"]["deals_won"]
    assert won
    deals = {r: (c, w) for r, c, w in stored(engine, HubSpotDeal, "id", "is_closed", "is_closed_won")}
    assert all(deals[d] == (True, True) for d in won)
    new_deals = change["changes"]["deals_created"]
    assoc = {d for (d,) in stored(engine, HubSpotDealAssociation, "deal_id")}
    assert set(new_deals) <= assoc


# Page 3 of the contacts list fails more often than the retry policy tolerates.
THIRD_CONTACTS_PAGE_FAILS = {
    "kind": "status",
    "status": 503,
    "count": 4,
    "skip": 2,
    "path_prefix": "/crm/objects/2026-09/contacts",
    "method": "GET",
}


def test_failed_page_leaves_checkpoint_at_last_committed_page_and_next_run_resumes(
    sandbox, clock, make_settings, engine, db_url
):
    settings = make_settings(db_url)
    sandbox.faults(THIRD_CONTACTS_PAGE_FAILS)
    outcomes = {
        o.stream: o for o in build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"])
    }
    failed = outcomes["contacts"]
    assert failed.status == "failed" and "503" in (failed.error or "")
    assert failed.pages == 2
    state = get_state(engine, connection="default", source="hubspot", stream="contacts")
    assert state["full"]["after"]
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(table_of(HubSpotContact))).scalar_one()
    assert count == 100  # two pages of 50 (list pages with property history hold 50)
    run = get_run(engine, failed.run_id)
    assert run is not None and run.status == "failed" and run.retries == 3 and run.finished_at is not None
    before = sandbox.stats()["requests"]
    resumed = build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"])[0]
    assert resumed.status == "succeeded" and resumed.mode == "full"
    assert resumed.read == len(truth(sandbox, "contacts")) - 100  # resumed, did not start over
    assert {r for (r,) in stored(engine, HubSpotContact, "id")} == set(truth(sandbox, "contacts"))
    # Discovery (4), the remaining pages of 50, and one page of the archived listing.
    remaining = len(truth(sandbox, "contacts")) - 100
    assert sandbox.stats()["requests"] - before <= 4 + -(-remaining // 50) + 1
    assert get_state(engine, connection="default", source="hubspot", stream="contacts")["full"] is None


def test_an_interrupted_first_load_in_bulk_stores_what_upserting_stores(
    sandbox, clock, make_settings, engine, db_url, tmp_path, caplog
):
    """The first load writes in bulk (storage.bulk) through the writer process, fails on a page,
    resumes in bulk, and ends with exactly the rows an uninterrupted, upserting sync stores."""
    import logging

    from storage import make_engine, migrate

    caplog.set_level(logging.INFO, logger="funnelsync")
    settings = make_settings(db_url, storage_writer="process")
    sandbox.faults(THIRD_CONTACTS_PAGE_FAILS)
    failed = {o.stream: o for o in build_sync("hubspot", settings, engine, clock=clock).run()}
    assert failed["contacts"].status == "failed" and failed["contacts"].pages == 2
    resumed = build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"])[0]
    assert resumed.status == "succeeded" and resumed.read == len(truth(sandbox, "contacts")) - 100
    logged = [r.getMessage() for r in caplog.records]
    assert sum("sync contacts: full (first load: bulk writes)" in m for m in logged) == 2
    assert not any("no more bulk writes" in m for m in logged)

    upserted = make_engine(f"sqlite:///{tmp_path / 'upserted.db'}")
    migrate(upserted)
    plain = make_settings(str(upserted.url))
    plain.storage_bulk_load = False
    build_sync("hubspot", plain, upserted, clock=clock).run()
    expected = dump_tables(upserted, exclude=RUN_TABLES, skip_columns=WRITE_COLUMNS)
    assert dump_tables(engine, exclude=RUN_TABLES, skip_columns=WRITE_COLUMNS) == expected
    assert expected["hubspot_contact_versions"] and expected["hubspot_deal_stage_dates"]
    upserted.dispose()
    # Loaded: a full resync of the same stream upserts (and changes nothing).
    caplog.clear()
    build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"], full=True)
    assert not any("bulk" in r.getMessage() for r in caplog.records)
    assert dump_tables(engine, exclude=RUN_TABLES, skip_columns=WRITE_COLUMNS) == expected


def test_a_backfill_by_export_stores_what_the_list_endpoint_stores(
    sandbox, clock, make_settings, engine, db_url, tmp_path
):
    """Every CRM stream's first read through one HubSpot export each (through the writer process
    and the bulk path), then incremental; the same rows as reading the list endpoint (the stored
    raw payloads aside: an export's rows are not the API's JSON)."""
    from storage import make_engine, migrate

    settings = make_settings(db_url, stage_history=False, export_backfill="always", storage_writer="process")
    outcomes = build_sync("hubspot", settings, engine, clock=clock).run()
    assert all(o.status == "succeeded" for o in outcomes), [(o.stream, o.error) for o in outcomes]
    exported = {"companies", "contacts", "deals", "meetings", "calls"}
    assert sandbox.state.paths["POST /crm/exports/2026-09/export/async"] == len(exported)
    listed = make_engine(f"sqlite:///{tmp_path / 'listed.db'}")
    migrate(listed)
    build_sync(
        "hubspot", make_settings(str(listed.url), stage_history=False, export_backfill="off"), listed
    ).run()
    skip = (*WRITE_COLUMNS, "raw")
    assert dump_tables(engine, exclude=RUN_TABLES, skip_columns=skip) == dump_tables(
        listed, exclude=RUN_TABLES, skip_columns=skip
    )
    listed.dispose()
    sandbox.store.clock.advance(600)
    again = {o.stream: o for o in build_sync("hubspot", settings, engine, clock=clock).run()}
    assert all(again[name].mode == "incremental" for name in exported)
    assert sandbox.state.paths["POST /crm/exports/2026-09/export/async"] == len(exported)


def test_malformed_values_are_quarantined_and_the_sync_goes_on(sandbox, make_settings, engine, db_url):
    from tests.conftest import FakeClock

    clock = FakeClock(sandbox)
    settings = make_settings(db_url)
    ids = sorted(int(i) for i in truth(sandbox, "contacts"))
    deal_ids = sorted(int(i) for i in truth(sandbox, "deals"))
    bad = {
        ("contacts", ids[0], "createdate"): "31/12/2025",
        ("contacts", ids[1], "lastmodifieddate"): "1727000000000",
        ("contacts", ids[2], "lifecyclestage"): "zombie_stage",
        ("deals", deal_ids[0], "amount"): "12,5k",
        ("deals", deal_ids[1], "closedate"): "next tuesday",
    }
    # HubSpot's "" for a cleared property is no value, never a finding.
    cleared = {
        ("contacts", ids[3], "hs_v2_date_entered_lead"): "",
        ("contacts", ids[3], "lifecyclestage"): "",
        ("deals", deal_ids[2], "closedate"): "",
        ("deals", deal_ids[2], "amount"): "",
        ("deals", deal_ids[2], "hs_is_closed"): "",
    }
    for (object_type, record_id, name), value in {**bad, **cleared}.items():
        sandbox.store.objects[object_type][record_id]["properties"][name] = value
    outcomes = {o.stream: o for o in build_sync("hubspot", settings, engine, clock=clock).run(full=True)}
    assert all(o.status == "succeeded" for o in outcomes.values())
    assert outcomes["contacts"].quarantined == 3 and outcomes["deals"].quarantined == 2
    rows = {
        (r.stream, r.record_id, r.field): (r.raw_value, r.reason)
        for r in stored(engine, Quarantine, "stream", "record_id", "field", "raw_value", "reason")
    }
    assert rows[("contacts", str(ids[0]), "createdate")] == ("31/12/2025", "unparseable date")
    assert (
        rows[("contacts", str(ids[1]), "lastmodifieddate")][1]
        == "epoch milliseconds where ISO-8601 text was expected"
    )
    assert rows[("contacts", str(ids[2]), "lifecyclestage")][1] == "unknown lifecycle stage (stored as-is)"
    assert rows[("deals", str(deal_ids[0]), "amount")] == ("12,5k", "non-numeric amount")
    assert not {(t, str(i)) for t, i, _ in cleared} & {(t, i) for t, i, _ in rows}
    contact = {
        r: (c, s, k)
        for r, c, s, k in stored(
            engine, HubSpotContact, "id", "createdate", "lifecyclestage", "lifecyclestage_known"
        )
    }
    assert contact[str(ids[0])][0] is None
    assert contact[str(ids[2])][1:] == ("zombie_stage", False)
    amounts = dict(stored(engine, HubSpotDeal, "id", "amount"))
    assert amounts[str(deal_ids[0])] is None
    runs = {r.stream: r for r in recent_runs(engine, limit=20)}
    assert runs["contacts"].fields_quarantined == 3
    # Fixing the record in HubSpot clears its quarantine row on the next sync.
    sandbox.admin("PATCH", f"/_sandbox/objects/deals/{deal_ids[0]}", json={"properties": {"amount": "1200"}})
    sandbox.store.clock.advance(600)
    build_sync("hubspot", settings, engine, clock=clock).run(streams=["deals"])
    keys = {
        (r.stream, r.record_id, r.field) for r in stored(engine, Quarantine, "stream", "record_id", "field")
    }
    assert ("deals", str(deal_ids[0]), "amount") not in keys
    assert ("deals", str(deal_ids[1]), "closedate") in keys


def test_daily_limit_defers_the_run_and_keeps_the_checkpoint(sandbox, clock, make_settings, engine, db_url):
    settings = make_settings(db_url)
    sandbox.faults(
        {
            "kind": "rate_limit",
            "policy": "DAILY",
            "skip": 1,
            "path_prefix": "/crm/objects/2026-09/contacts",
            "method": "GET",
        }
    )
    outcomes = build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"])
    assert outcomes[0].status == "deferred" and "daily" in (outcomes[0].error or "").lower()
    assert "(expected 2026-06-02 00:00 UTC)" in (outcomes[0].error or "")
    assert get_state(engine, connection="default", source="hubspot", stream="contacts")["full"]["after"]
    assert (
        build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"])[0].status
        == "succeeded"
    )


def test_a_bad_token_fails_the_run_once_without_leaking_it(
    sandbox, clock, make_settings, engine, db_url, caplog
):
    """One refused credential: the first stream fails with the 401, every other is skipped
    pointing at it (not the same error eight times)."""
    secret = "pat-na1-abcdef-0123456789-topsecret"
    settings = make_settings(db_url, token=secret)
    outcomes = build_sync("hubspot", settings, engine, clock=clock).run()
    assert [o.status for o in outcomes] == ["failed"] + ["skipped"] * 11 and outcomes[0].stops_run
    runs = recent_runs(engine, limit=20)
    assert sum("401" in (run.error or "") for run in runs) == 1
    first = outcomes[0].run_id
    assert all(f"see properties, run {first}" in (run.error or "") for run in runs if run.id != first)
    assert all(secret not in (run.error or "") for run in runs) and secret not in caplog.text


REFUSE_SQL = {
    "sqlite": [
        "CREATE TRIGGER refuse_contact BEFORE INSERT ON hubspot_contacts WHEN NEW.id = '{id}' "
        "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_contact() RETURNS trigger AS $$ BEGIN IF NEW.id = '{id}' THEN "
        "RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_contact BEFORE INSERT ON hubspot_contacts "
        "FOR EACH ROW EXECUTE FUNCTION refuse_contact()",
    ],
}


def test_a_database_failure_in_the_writer_process_fails_the_run_and_the_next_run_resumes(
    sandbox, clock, make_settings, engine, db_url
):
    from sqlalchemy import text

    from service.writer import StorageWriteError
    from storage import migrate

    settings = make_settings(db_url)
    settings.storage_writer = "process"
    ids = sorted(truth(sandbox, "contacts"), key=int)
    refused = ids[250]
    migrate(engine)
    with engine.begin() as conn:
        for statement in REFUSE_SQL[engine.dialect.name]:
            conn.execute(text(statement.format(id=refused)))
    with pytest.raises(StorageWriteError, match="refused by test trigger"):
        build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"], full=True)
    run = recent_runs(engine, limit=1)[0]
    assert run.status == "failed" and "refused by test trigger" in (run.error or "")
    assert "INSERT" not in (run.error or "")  # the message names the error, not the statement
    kept = {r for (r,) in stored(engine, HubSpotContact, "id")}
    # Whole pages up to the failing batch, nothing after it, and the checkpoint right behind them.
    assert kept == set(ids[: len(kept)]) and len(kept) % 50 == 0 and len(kept) <= 250
    assert run.records_written == len(kept)
    with engine.begin() as conn:
        conn.execute(
            text("DROP TRIGGER refuse_contact" + (" ON hubspot_contacts" if "postgres" in db_url else ""))
        )
    resumed = build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"])[0]
    assert resumed.status == "succeeded" and resumed.read == len(ids) - len(kept)
    assert {r for (r,) in stored(engine, HubSpotContact, "id")} == set(ids)


def test_archived_records_are_marked_deleted_restored_ones_come_back(
    sandbox, clock, make_settings, engine, db_url
):
    from storage import row_counts

    settings = make_settings(db_url)
    build_sync("hubspot", settings, engine, clock=clock).run()
    contacts = sorted(truth(sandbox, "contacts"), key=int)
    deals = sorted(truth(sandbox, "deals"), key=int)
    gone = {"contacts": contacts[:3], "deals": deals[:2]}
    for object_type, ids in gone.items():
        for record_id in ids:
            sandbox.admin("DELETE", f"/_sandbox/objects/{object_type}/{record_id}")
    sandbox.store.clock.advance(3600)  # the archived listing runs at most hourly on incremental syncs
    seen_at = clock.now()
    outcomes = {o.stream: o for o in build_sync("hubspot", settings, engine, clock=clock).run()}
    assert all(o.status == "succeeded" for o in outcomes.values())
    assert outcomes["contacts"].mode == outcomes["deals"].mode == "incremental"
    for object_type, model in (("contacts", HubSpotContact), ("deals", HubSpotDeal)):
        flags = {r: (a, s) for r, a, s in stored(engine, model, "id", "archived", "deleted_seen_at")}
        archived = {r for r, (a, _) in flags.items() if a}
        assert archived == set(gone[object_type])
        assert archived and all(flags[r][1] == seen_at for r in archived)
        assert all(flags[r][1] is None for r in set(flags) - archived)
    counts = row_counts(engine, connection="default")
    assert counts["contacts"] == len(contacts) - 3 and counts["deals"] == len(deals) - 2
    # Within the hour, an incremental sync does not list archived records again.
    before = sandbox.stats()["requests"]
    build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"])
    assert sandbox.stats()["requests"] - before <= 5  # discovery (4) + one search page
    # Restored in HubSpot (its last-modified time unchanged, so search cannot see it): back live.
    # Purged for good: stays deleted.
    sandbox.admin("POST", f"/_sandbox/objects/contacts/{contacts[0]}/restore")
    sandbox.admin("DELETE", f"/_sandbox/objects/contacts/{contacts[1]}?purge=true")
    sandbox.store.clock.advance(3600)
    build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"])
    flags = {r: (a, s) for r, a, s in stored(engine, HubSpotContact, "id", "archived", "deleted_seen_at")}
    assert flags[contacts[0]] == (False, None)
    assert flags[contacts[1]] == (True, seen_at) and flags[contacts[2]] == (True, seen_at)
    # A second pass with nothing new changes nothing (the deleted-seen time keeps its first value).
    sandbox.store.clock.advance(3600)
    before_tables = dump_tables(engine)
    build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"])
    assert dump_tables(engine) == before_tables


def test_merged_records_fold_into_their_survivor(sandbox, clock, make_settings, engine, db_url):
    from storage import row_counts

    settings = make_settings(db_url)
    build_sync("hubspot", settings, engine, clock=clock).run()
    contacts = sorted(truth(sandbox, "contacts"), key=int)
    deals = sorted(truth(sandbox, "deals"), key=int)
    survivor, absorbed = contacts[10], contacts[11]
    with sandbox.api() as api:
        for object_type, primary, other in (("contacts", survivor, absorbed), ("deals", deals[0], deals[1])):
            merged = api.post(
                f"/crm/v3/objects/{object_type}/merge",
                json={"primaryObjectId": primary, "objectIdToMerge": other},
            )
            assert merged.status_code == 200 and merged.json()["id"] == primary
        # Reading an absorbed id answers with the survivor, as HubSpot does.
        assert api.get(f"/crm/v3/objects/contacts/{absorbed}").json()["id"] == survivor
    sandbox.store.clock.advance(600)
    build_sync("hubspot", settings, engine, clock=clock).run()
    merged_into = dict(stored(engine, HubSpotContact, "id", "merged_into"))
    assert merged_into[absorbed] == survivor and merged_into[survivor] is None
    assert dict(stored(engine, HubSpotDeal, "id", "merged_into"))[deals[1]] == deals[0]
    counts = row_counts(engine, connection="default")
    assert counts["contacts"] == len(truth(sandbox, "contacts")) == len(contacts) - 1
    assert counts["deals"] == len(deals) - 1
    # The absorbed contact's stage history stays (the KPIs take it for the survivor).
    kept = {c for (c,) in stored(engine, HubSpotContactStageDate, "contact_id")}
    assert absorbed in kept
    # Syncing again changes nothing.
    before = dump_tables(engine)
    sandbox.store.clock.advance(600)
    build_sync("hubspot", settings, engine, clock=clock).run()
    assert dump_tables(engine) == before


def test_stage_history_and_observed_transitions(sandbox, clock, make_settings, engine, db_url):
    from storage.models import HubSpotContactStageTransition, HubSpotDealStageTransition

    settings = make_settings(db_url)
    build_sync("hubspot", settings, engine, clock=clock).run()
    contact = sorted(truth(sandbox, "contacts"), key=int)[5]
    deal = sorted(truth(sandbox, "deals"), key=int)[3]
    old_stage = dict(stored(engine, HubSpotContact, "id", "lifecyclestage"))[contact]
    for stage in ("evangelist", "other"):  # two changes between syncs: only history sees both
        sandbox.store.clock.advance(60)
        sandbox.admin(
            "PATCH", f"/_sandbox/objects/contacts/{contact}", json={"properties": {"lifecyclestage": stage}}
        )
    sandbox.admin(
        "PATCH", f"/_sandbox/objects/deals/{deal}", json={"properties": {"dealstage": "closedlost"}}
    )
    sandbox.store.clock.advance(600)
    build_sync("hubspot", settings, engine, clock=clock).run()
    rows = [
        (origin, src, to, source_type)
        for cid, src, to, origin, source_type in stored(
            engine,
            HubSpotContactStageTransition,
            "contact_id",
            "from_stage",
            "to_stage",
            "origin",
            "source_type",
        )
        if cid == contact
    ]
    history = [(src, to) for origin, src, to, _ in rows if origin == "history"]
    assert history[-2:] == [(old_stage, "evangelist"), ("evangelist", "other")]
    assert [(src, to, st) for origin, src, to, st in rows if origin == "observed"] == [
        (old_stage, "other", "OBSERVED")
    ]
    deal_steps = {
        (origin, to)
        for did, to, origin in stored(engine, HubSpotDealStageTransition, "deal_id", "to_stage", "origin")
        if did == deal
    }
    assert {("history", "closedlost"), ("observed", "closedlost")} <= deal_steps
    # Stage dates gain the history's and the observation's entries; nothing changes on a rerun.
    sources = {
        src for cid, src in stored(engine, HubSpotContactStageDate, "contact_id", "source") if cid == contact
    }
    assert {"history", "observed"} <= sources
    before = dump_tables(engine)
    sandbox.store.clock.advance(600)
    build_sync("hubspot", settings, engine, clock=clock).run()
    assert dump_tables(engine) == before


def test_contact_company_associations_follow_hubspot(sandbox, clock, make_settings, engine, db_url):
    from storage.models import HubSpotContactAssociation

    settings = make_settings(db_url)
    build_sync("hubspot", settings, engine, clock=clock).run()
    store = sandbox.store
    expected = {
        (str(c), str(co))
        for c in store.objects["contacts"]
        for co in store.associated("contacts", c, "companies")
    }
    links = {
        (c, i) for c, t, i in stored(engine, HubSpotContactAssociation, "contact_id", "to_type", "to_id")
    }
    assert links == expected and expected
    # Remove two contacts' company links in HubSpot: one is then modified (an incremental search
    # finds it), the other is only seen by the next full sync, whose list answer simply has no
    # associations block for it.
    (first, company_a), (second, company_b) = sorted(expected)[:2]
    for contact, company in ((first, company_a), (second, company_b)):
        store.assoc[("contacts", "companies")][int(contact)].discard(int(company))
        store.assoc[("companies", "contacts")][int(company)].discard(int(contact))
    store.clock.advance(60)
    sandbox.admin("POST", "/_sandbox/touch", json={"type": "contacts", "ids": [int(first)]})
    store.clock.advance(600)
    build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"])
    links = {
        (c, i) for c, t, i in stored(engine, HubSpotContactAssociation, "contact_id", "to_type", "to_id")
    }
    assert (first, company_a) not in links and (second, company_b) in links
    build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"], full=True)
    links = {
        (c, i) for c, t, i in stored(engine, HubSpotContactAssociation, "contact_id", "to_type", "to_id")
    }
    assert links == expected - {(first, company_a), (second, company_b)}


@pytest.mark.slow
def test_streams_side_by_side_store_what_they_store_one_after_another(
    make_sandbox, make_settings, db_url, tmp_path
):
    """Same portal, same rows, whether the large streams run together or in turn; each run row
    counts its own requests, and together they are every request made."""
    from storage import make_engine, migrate
    from tests.conftest import FakeClock

    contents = []
    for parallel in (1, 4):
        sandbox = make_sandbox(contacts=250, seed=5)
        url = db_url if parallel == 4 else f"sqlite:///{tmp_path / 'sequential.db'}"
        engine = make_engine(url)
        migrate(engine)
        # Side by side through a writer process, in turn through the sync's own: the same rows.
        writer = "process" if parallel == 4 else "inline"
        settings = make_settings(
            url, token=sandbox.token, base_url=sandbox.url, parallel_streams=parallel, storage_writer=writer
        )
        outcomes = build_sync("hubspot", settings, engine, clock=FakeClock(sandbox)).run(full=True)
        assert all(o.status == "succeeded" for o in outcomes)
        with engine.connect() as conn:
            counted = conn.execute(select(func.sum(table_of(SyncRun).c.requests))).scalar()
        discovery = 4  # the properties of three object types and the deal pipelines, before any stream
        assert (counted or 0) + discovery == sandbox.stats()["requests"]
        contents.append(dump_tables(engine, exclude=RUN_TABLES, skip_columns=WRITE_COLUMNS))
        engine.dispose()
    assert contents[0] == contents[1]


def test_a_restored_contact_brings_back_the_deal_links_hidden_while_it_was_deleted(
    sandbox, clock, make_settings, engine, db_url
):
    settings = make_settings(db_url)
    build_sync("hubspot", settings, engine, clock=clock).run()
    store = sandbox.store
    deal_id, contacts = next((d, c) for d, c in store.assoc[("deals", "contacts")].items() if c)
    contact_id = sorted(contacts)[0]
    link = (str(deal_id), "contact", str(contact_id))
    sandbox.admin("DELETE", f"/_sandbox/objects/contacts/{contact_id}")
    # The deal changes while its contact is deleted: read again, it no longer lists the contact.
    store.update("deals", deal_id, {"dealname": "renamed while the contact was away"})
    sandbox.store.clock.advance(3600)
    build_sync("hubspot", settings, engine, clock=clock).run()
    assert link not in set(stored(engine, HubSpotDealAssociation, "deal_id", "to_type", "to_id"))
    # Restored: HubSpot shows the link again, but the deal is not marked modified.
    sandbox.admin("POST", f"/_sandbox/objects/contacts/{contact_id}/restore")
    sandbox.store.clock.advance(3600)
    build_sync("hubspot", settings, engine, clock=clock).run()
    assert link in set(stored(engine, HubSpotDealAssociation, "deal_id", "to_type", "to_id"))
    restored = dict(stored(engine, HubSpotContact, "id", "archived"))
    assert restored[str(contact_id)] is False


def test_an_incremental_sync_with_nothing_changed_costs_a_handful_of_requests(
    sandbox, clock, make_settings, engine, db_url
):
    settings = make_settings(db_url)
    build_sync("hubspot", settings, engine, clock=clock).run()
    sandbox.store.clock.advance(600)  # past the overlap: nothing changed in the window
    before = sandbox.stats()["requests"]
    outcomes = build_sync("hubspot", settings, engine, clock=clock).run()
    assert all(o.status == "succeeded" for o in outcomes)
    # One request for HubSpot's clock, one search per CRM stream, one page of page views; the
    # catalogue, owners, pipelines, archived listings and email statistics are not due yet.
    assert sandbox.stats()["requests"] - before == 7
    # An hour later the catalogue, owners and pipelines are read again (and archived records).
    sandbox.store.clock.advance(3600)
    changed = sandbox.store.pipelines[0]["stages"][0]
    changed["label"] = "Renamed stage"
    build_sync("hubspot", settings, engine, clock=clock).run()
    labels = dict(stored(engine, HubSpotPipelineStage, "stage_id", "label"))
    assert labels[changed["id"]] == "Renamed stage"


@pytest.mark.parametrize("api_version", ["2026-09", "legacy"])
def test_associations_beyond_one_page_are_read_to_the_end(
    make_sandbox, tmp_path, engine, db_url, api_version
):
    """Inline associations stop at 100 and batch reads page (`paging.next.after`): every link is
    read, on full (list) and incremental (search) reads alike, so none is dropped."""
    from tests.conftest import FakeClock, sandbox_settings

    sandbox = make_sandbox(contacts=700)
    clock = FakeClock(sandbox)
    settings = sandbox_settings(sandbox, tmp_path / "data", db_url, api_version=api_version)
    contacts = sandbox.store.ids["contacts"][:150]
    big = sandbox.admin(
        "POST",
        "/_sandbox/objects/deals",
        json={"properties": {"dealname": "Big"}, "associations": {"contacts": contacts}},
    )
    build_sync("hubspot", settings, engine, clock=clock).run(streams=["deals"], full=True)

    def links(deal_id):
        rows = stored(engine, HubSpotDealAssociation, "deal_id", "to_type", "to_id")
        return sorted(int(t) for d, kind, t in rows if d == str(deal_id) and kind == "contact")

    assert links(big["id"]) == sorted(contacts)
    # An incremental read (search, then association batch reads paged at 500) of a deal with more.
    many = sandbox.store.ids["contacts"][:650]
    sandbox.store.clock.advance(600)
    later = sandbox.admin(
        "POST",
        "/_sandbox/objects/deals",
        json={"properties": {"dealname": "Bigger"}, "associations": {"contacts": many}},
    )
    sandbox.store.clock.advance(600)
    outcomes = build_sync("hubspot", settings, engine, clock=clock).run(streams=["deals"])
    assert [o.status for o in outcomes] == ["succeeded"] and outcomes[0].mode == "incremental"
    assert links(later["id"]) == sorted(many)
    assert links(big["id"]) == sorted(contacts)
