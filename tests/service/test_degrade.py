"""Syncs that degrade instead of failing: a missing scope or an API the account lacks costs only the
streams that need it, an unavailable stream rests until it is due again, and KPI families whose
inputs stopped being fresh keep their last values, marked stale, while the rest are recomputed."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest

from sandbox.hubspot.options import ALL_SCOPES
from service.exitcodes import EXIT_OK
from service.kpis import run_kpis
from service.runner import exit_code_for
from service.sync import RESTING, build_sync
from storage.kpis import kpi_rows, latest_kpi_run

EVERY_STREAM = (
    "properties",
    "owners",
    "pipelines",
    "companies",
    "contacts",
    "deals",
    "meetings",
    "calls",
    "marketing_emails",
    "campaigns",
    "web_analytics",
    "web_events",
)


def statuses(outcomes):
    return {o.stream: o.status for o in outcomes}


def grant(sandbox, *missing):
    """The sandbox's token holds every scope but `missing`."""
    sandbox.admin(
        "POST", "/_sandbox/options", json={"token_scopes": [s for s in ALL_SCOPES if s not in missing]}
    )


@pytest.mark.parametrize(
    ("missing", "unavailable", "exit_code"),
    [
        (("content",), {"marketing_emails"}, 0),
        (("business-intelligence",), {"web_analytics"}, 0),
        (("marketing.campaigns.read",), {"campaigns"}, 0),
        (("crm.objects.owners.read",), {"owners"}, 0),
        (("crm.objects.deals.read", "crm.schemas.deals.read"), {"deals", "pipelines"}, 1),
        (("crm.objects.contacts.read",), {"contacts", "meetings", "calls"}, 1),
        (("crm.objects.companies.read",), {"companies"}, 1),
    ],
)
def test_a_missing_scope_costs_only_the_streams_that_need_it(
    sandbox, clock, make_settings, engine, db_url, missing, unavailable, exit_code
):
    grant(sandbox, *missing)
    outcomes = build_sync("hubspot", make_settings(db_url), engine, clock=clock).run(full=True)
    expected = {s: "unavailable" if s in unavailable else "succeeded" for s in EVERY_STREAM}
    assert statuses(outcomes) == expected
    for outcome in outcomes:
        if outcome.status == "unavailable":
            # The run's error names the scope HubSpot asked for.
            error = outcome.error or ""
            assert "Missing scope" in error and any(m in error for m in missing)
    assert exit_code_for(outcomes) == exit_code


def test_a_portal_without_enterprise_loses_only_the_page_views(sandbox, clock, make_settings, engine, db_url):
    """The event analytics API answers 403 below Enterprise: `web_events` is unavailable, saying
    why, and the run succeeds with everything else."""
    sandbox.admin("POST", "/_sandbox/options", json={"event_analytics": False})
    outcomes = build_sync("hubspot", make_settings(db_url), engine, clock=clock).run(full=True)
    assert statuses(outcomes) == {
        s: "unavailable" if s == "web_events" else "succeeded" for s in EVERY_STREAM
    }
    error = next(o.error for o in outcomes if o.stream == "web_events") or ""
    assert "Enterprise" in error
    assert exit_code_for(outcomes) == 0


def test_an_unavailable_stream_rests_until_the_catalogue_interval_then_is_asked_again(
    sandbox, clock, make_settings, engine, db_url
):
    settings = make_settings(db_url, catalogue_minutes=60, email_stats_minutes=0)
    grant(sandbox, "content")
    first = build_sync("hubspot", settings, engine, clock=clock).run(full=True)
    assert statuses(first)["marketing_emails"] == "unavailable"
    grant(sandbox)  # the scope is added meanwhile
    sandbox.admin("DELETE", "/_sandbox/requests")
    sandbox.store.clock.advance(600)
    resting = {o.stream: o for o in build_sync("hubspot", settings, engine, clock=clock).run()}
    emails = resting["marketing_emails"]
    assert emails.status == "unavailable" and RESTING in (emails.error or "")
    assert (emails.error or "").count(RESTING) == 1 and "Missing scope" in (emails.error or "")
    assert not any("/marketing/" in path for path in sandbox.admin("GET", "/_sandbox/requests")["paths"])
    assert exit_code_for(list(resting.values())) == 0
    sandbox.store.clock.advance(3600)
    again = build_sync("hubspot", settings, engine, clock=clock).run()
    assert statuses(again)["marketing_emails"] == "succeeded"


def test_a_full_sync_asks_an_unavailable_stream_again_at_once(sandbox, clock, make_settings, engine, db_url):
    settings = make_settings(db_url)
    grant(sandbox, "business-intelligence")
    assert statuses(build_sync("hubspot", settings, engine, clock=clock).run(full=True))["web_analytics"] == (
        "unavailable"
    )
    grant(sandbox)
    assert statuses(build_sync("hubspot", settings, engine, clock=clock).run(full=True))["web_analytics"] == (
        "succeeded"
    )


def test_pipelines_unreadable_leave_the_deals_readable(sandbox, clock, make_settings, engine, db_url):
    """Deal stages come from the pipelines API: without it deals still sync, with no per-stage dates."""
    sandbox.faults(
        {"kind": "status", "status": 404, "count": 10, "path_prefix": "/crm/pipelines/", "body": "json"}
    )
    outcomes = build_sync("hubspot", make_settings(db_url), engine, clock=clock).run(full=True)
    assert statuses(outcomes) == {s: "unavailable" if s == "pipelines" else "succeeded" for s in EVERY_STREAM}
    assert exit_code_for(outcomes) == 0


def test_kpi_families_whose_inputs_stopped_keep_their_last_values_marked_stale(
    sandbox, clock, make_settings, engine, db_url, tmp_path
):
    settings = make_settings(db_url, analytics_minutes=0)
    build_sync("hubspot", settings, engine, clock=clock).run(full=True)
    before = run_kpis(settings, engine, trigger="test", clock=clock)
    assert before.stale == {} and not before.carried
    web_before = {_key(r): r["value"] for r in rows_of(engine, before) if r["family"] == "web"}
    last_fresh = sandbox.store.clock.now()
    assert web_before

    # Analytics becomes unreadable; a new contact arrives meanwhile.
    sandbox.store.clock.advance(7200)
    grant(sandbox, "business-intelligence")
    sandbox.admin("POST", "/_sandbox/objects/contacts", json={"properties": {"email": "new@example.com"}})
    outcomes = build_sync("hubspot", settings, engine, clock=clock).run()
    assert (
        statuses(outcomes)["web_analytics"] == "unavailable" and statuses(outcomes)["contacts"] == "succeeded"
    )
    after = run_kpis(settings, engine, trigger="test", clock=clock, out_dir=tmp_path / "exports")

    assert set(after.stale) == {"web"} and abs(after.stale["web"] - last_fresh) < timedelta(seconds=5)
    rows = rows_of(engine, after)
    web = [r for r in rows if r["family"] == "web"]
    # The web family's values are the last computation's, carried over and marked.
    assert {_key(r): r["value"] for r in web} == web_before
    assert {r["stale_since"] for r in web} == {after.stale["web"]}
    assert {r["computed_at"] for r in web} == {before.computed_at}
    # Every other family was recomputed now.
    others = [r for r in rows if r["family"] != "web"]
    assert others and all(r["stale_since"] is None and r["computed_at"] == after.computed_at for r in others)
    with (tmp_path / "exports" / "kpis_web.csv").open() as handle:
        exported = list(csv.DictReader(handle))
    assert exported and {r["stale_since"] for r in exported} == {after.stale["web"].isoformat()}
    assert {r["run_id"] for r in exported} == {str(after.run_id)}

    # The next computation carries them again with the same stale_since; once analytics is
    # back, the family is recomputed and fresh.
    again = run_kpis(settings, engine, trigger="test", clock=clock)
    assert {r["stale_since"] for r in rows_of(engine, again) if r["family"] == "web"} == {after.stale["web"]}
    grant(sandbox)
    build_sync("hubspot", settings, engine, clock=clock).run(streams=["web_analytics"], full=True)
    fresh = run_kpis(settings, engine, trigger="test", clock=clock)
    assert fresh.stale == {}
    assert all(r["stale_since"] is None for r in rows_of(engine, fresh))
    latest = latest_kpi_run(engine, connection=settings.connection)
    assert latest is not None and latest.id == fresh.run_id


def rows_of(engine, report):
    assert report.run_id is not None
    return kpi_rows(engine, run_id=report.run_id)


def _key(row):
    return (row["kpi"], row["stage"], row["period_start"], row["dimension"], row["dimension_value"])


@pytest.mark.parametrize("status", [404, 410])
def test_analytics_v2_retired_leaves_the_rest_of_the_sync_fresh(
    sandbox, clock, make_settings, engine, db_url, status
):
    """After September 2027 HubSpot's Reporting API v2 may answer 404 or 410: web analytics is
    unavailable, not failed, and nothing else notices (docs/sync.md, "When analytics v2 stops")."""
    settings = make_settings(db_url)
    sandbox.faults(
        {"kind": "status", "status": status, "count": 1000, "path_prefix": "/analytics/v2/", "body": "json"}
    )
    outcomes = build_sync("hubspot", settings, engine, clock=clock).run(full=True)
    found = statuses(outcomes)
    assert found.pop("web_analytics") == "unavailable" and set(found.values()) == {"succeeded"}
    web = next(o for o in outcomes if o.stream == "web_analytics")
    assert f"HTTP {status} GET /analytics/v2/" in (web.error or "") and web.degradable
    assert exit_code_for(outcomes) == EXIT_OK
