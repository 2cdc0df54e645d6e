"""The weekly reconcile: records the vendor deleted for good (gone from every listing) are marked
deleted after a complete full listing, with a version in the history; nothing else changes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.jobs import Jobs
from storage.db import table_of
from storage.models import (
    HubSpotCampaign,
    HubSpotContact,
    HubSpotContactVersion,
    HubSpotDeal,
    MailchimpCampaign,
    SyncRun,
)
from storage.reconcile import Census, missing_ids
from tests.conftest import dump_tables
from tests.service.test_mailchimp import settings_for

# Real processes or many syncs: left out of the quick tier (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow


def live(engine, model) -> set[str]:
    table = table_of(model)
    with engine.connect() as conn:
        return {r.id for r in conn.execute(select(table.c.id).where(table.c.archived.is_(False)))}


def test_records_purged_at_the_vendor_are_marked_deleted(sandbox, make_settings, engine, db_url, clock):
    jobs = Jobs(make_settings(db_url), engine, clock=clock)
    assert jobs.sync("default", full=True).succeeded
    contacts, deals = sorted(live(engine, HubSpotContact)), sorted(live(engine, HubSpotDeal))
    purged = contacts[:3]
    for record_id in purged:
        sandbox.admin("DELETE", f"/_sandbox/objects/contacts/{record_id}", params={"purge": "true"})
    sandbox.admin("DELETE", f"/_sandbox/objects/deals/{deals[0]}", params={"purge": "true"})
    campaigns = sorted(live(engine, HubSpotCampaign))
    with sandbox.store.lock:  # a campaign deleted in HubSpot's campaigns tool
        sandbox.store.campaigns = [c for c in sandbox.store.campaigns if c["id"] != campaigns[0]]
    # An incremental sync cannot see them: they are in no listing any more.
    assert jobs.sync("default", trigger="cli").succeeded
    assert set(purged) <= live(engine, HubSpotContact)
    before = dump_tables(engine)

    result = jobs.reconcile("default")
    assert result.succeeded and result.kpi_run_id is not None
    assert live(engine, HubSpotContact) == set(contacts) - set(purged)
    assert live(engine, HubSpotDeal) == set(deals) - {deals[0]}
    assert live(engine, HubSpotCampaign) == set(campaigns) - {campaigns[0]}
    versions = table_of(HubSpotContactVersion)
    with engine.connect() as conn:
        current = conn.execute(
            select(versions.c.record_id, versions.c.archived).where(
                versions.c.record_id.in_(purged), versions.c.valid_to.is_(None)
            )
        ).all()
        runs = table_of(SyncRun)
        marked = conn.execute(select(runs).where(runs.c.mode == "reconcile").order_by(runs.c.stream)).all()
    assert sorted(current) == [(i, True) for i in purged]
    assert [(r.stream, r.status, r.records_written, r.trigger) for r in marked] == [
        ("campaigns", "succeeded", 1, "reconcile"),
        ("contacts", "succeeded", 3, "reconcile"),
        ("deals", "succeeded", 1, "reconcile"),
    ]
    # Nothing but the deleted records changed (and web analytics, which a full sync reads again:
    # the sandbox derives them from the live contacts, so the purged ones left them; and the
    # meetings and calls, which lost their links to the purged records).
    after = dump_tables(engine)
    changed = {name for name in before if before[name] != after[name]}
    assert changed <= {
        "hubspot_analytics_days",
        "hubspot_analytics_rows",
        "hubspot_campaigns",
        "hubspot_contacts",
        "hubspot_deals",
        "hubspot_contact_versions",
        "hubspot_deal_versions",
        "hubspot_meetings",
        "hubspot_meeting_associations",
        "hubspot_calls",
        "hubspot_call_associations",
        "raw_versions",
        "sync_leases",
        "kpi_runs",
        "kpi_values",
    }
    # A second reconcile finds nothing more to mark.
    assert jobs.reconcile("default").succeeded
    with engine.connect() as conn:
        assert len(conn.execute(select(runs).where(runs.c.mode == "reconcile")).all()) == len(marked)


def test_deleted_campaigns_and_reports_are_marked(mailchimp, engine, db_url, tmp_path):
    jobs = Jobs(settings_for(mailchimp, db_url, tmp_path), engine)
    assert jobs.sync("default").succeeded
    account = mailchimp.state.account
    gone = account.campaigns.pop(0)
    account.reports.pop(gone["id"], None)
    assert jobs.reconcile("default").succeeded
    assert gone["id"] not in live(engine, MailchimpCampaign)
    assert {c["id"] for c in account.campaigns} <= live(engine, MailchimpCampaign)


def test_only_complete_listings_of_reconciled_streams_count(sandbox, make_settings, engine, db_url, clock):
    jobs = Jobs(make_settings(db_url), engine, clock=clock)
    assert jobs.sync("default", full=True).succeeded
    census = Census()
    census.add("contacts", sorted(live(engine, HubSpotContact))[:2])
    # Not finished (a failed or resumed listing): never consulted.
    assert "contacts" not in census.complete
    census.finish("contacts")
    assert len(missing_ids(engine, connection="default", stream="contacts", census=census)) == 298
    census.drop("contacts")
    assert census.seen("contacts").tolist() == []
    # A listing of a stream the reconcile does not cover is ignored.
    census.add("owners", ["x"])
    census.finish("owners")
    assert "owners" not in census.complete
