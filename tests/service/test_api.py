"""The service's HTTP API in-process (FastAPI's test client) over a real scheduler, a real
database (SQLite and PostgreSQL) and the sandbox over loopback."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from storage.db import table_of
from storage.models import HubSpotContact
from storage.runs import finish_run, start_run
from tests.service.conftest import ADMIN, READER, auth, resync, wait_for, wait_kpis


@pytest.mark.service_settings(admin_token=None)
def test_admin_routes_are_disabled_without_a_token(client):
    response = client.post("/admin/resync", json={}, headers=auth("anything-at-all"))
    assert response.status_code == 403 and "disabled" in response.json()["detail"]


def test_the_read_api_answers_404_before_any_kpis_are_computed(client):
    response = client.get("/api/kpis", headers=auth(READER))
    assert response.status_code == 404 and response.json()["detail"]


def test_resync_is_queued_runs_in_the_scheduler_and_shows_in_runs(client, engine):
    response = resync(client, streams=["owners", "contacts"])
    assert response.status_code == 202, response.text
    body = response.json()
    assert [r["stream"] for r in body["runs"]] == ["owners", "contacts"]
    assert all(r["status"] in ("queued", "running") and r["trigger"] == "admin" for r in body["runs"])
    assert body["run_id"] == min(r["id"] for r in body["runs"])
    runs = wait_for(client, [r["id"] for r in body["runs"]])
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[1]["records_read"] == 300 and runs[1]["seconds"] is not None
    listed = client.get("/admin/runs", params={"stream": "contacts"}, headers=auth(ADMIN)).json()
    assert [r["id"] for r in listed] == [runs[1]["id"]]
    # The KPIs follow the sync, in the same job.
    assert wait_kpis(engine) is not None


def hold_contacts(sandbox: Any, after: int) -> None:
    """The contacts listing's request after `after` more waits until the test releases it."""
    sandbox.faults(
        {"kind": "hold", "skip": after, "path_prefix": "/crm/objects/2026-09/contacts", "method": "GET"}
    )


def wait_held(sandbox: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not sandbox.stats().get("fault:hold"):
        assert time.monotonic() < deadline, "no request was held"
        time.sleep(0.02)


def test_a_second_resync_of_a_running_stream_conflicts(client, sandbox):
    hold_contacts(sandbox, 0)
    first = resync(client, streams=["contacts"])
    assert first.status_code == 202
    wait_held(sandbox)
    second = resync(client, streams=["contacts", "deals"])
    assert second.status_code == 409
    assert second.json()["run_id"] == first.json()["run_id"] and second.json()["stream"] == "contacts"
    sandbox.admin("POST", "/_sandbox/release")
    assert [r["status"] for r in wait_for(client, [first.json()["run_id"]])] == ["succeeded"]
    # Once it ended, the stream can be synced again.
    third = resync(client, streams=["contacts"])
    assert third.status_code == 202


def test_cancel_a_running_sync_keeps_what_it_committed(client, engine, sandbox):
    hold_contacts(sandbox, 3)
    run_id = resync(client, streams=["contacts"], full=True).json()["run_id"]
    wait_held(sandbox)
    deadline = time.monotonic() + 30
    while client.get(f"/admin/runs/{run_id}", headers=auth(ADMIN)).json()["pages"] < 2:
        assert time.monotonic() < deadline, "the sync never committed a page"
        time.sleep(0.05)
    cancelled = client.post(f"/admin/runs/{run_id}/cancel", headers=auth(ADMIN))
    assert cancelled.status_code == 202 and cancelled.json()["status"] in ("cancelling", "cancelled")
    # Stopped while its next page is still on the way: the cancel does not wait for it.
    (run,) = wait_for(client, [run_id])
    sandbox.admin("POST", "/_sandbox/release")
    assert run["status"] == "cancelled" and run["error"] == "cancelled by an admin"
    assert 0 < run["records_written"] < 300
    # Its row said what the whole read would bring (search's count): resync --follow's percent.
    assert run["records_expected"] is not None and run["records_written"] < run["records_expected"] <= 300
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(table_of(HubSpotContact))).scalar_one()
    assert stored == run["records_written"]
    assert client.post(f"/admin/runs/{run_id}/cancel", headers=auth(ADMIN)).status_code == 409
    assert client.post("/admin/runs/999999/cancel", headers=auth(ADMIN)).status_code == 404


def test_cancel_a_queued_run_before_it_starts(client, service, engine):
    queued = service.jobs.queue("default", ["owners"], full=False, trigger="admin")
    response = client.post(f"/admin/runs/{queued['owners']}/cancel", headers=auth(ADMIN))
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    # The job that would have run it finds nothing queued and syncs nothing.
    result = service.jobs.sync("default", queued=queued, trigger="admin")
    assert result.outcomes == []


@pytest.mark.service_settings(metrics_open=False)
def test_metrics_can_require_the_read_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth(READER)).status_code == 200


def test_readyz_fails_while_a_stream_keeps_failing(client, service, engine):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"]
    long_ago = datetime.now(UTC) - timedelta(days=2)
    run_id = start_run(
        engine,
        connection="default",
        source="hubspot",
        stream="deals",
        mode="incremental",
        trigger="schedule",
        now=long_ago,
    )
    finish_run(engine, run_id=run_id, status="failed", now=long_ago, error="boom")
    service.started_at = long_ago
    failing = client.get("/readyz")
    assert failing.status_code == 503
    assert "default/hubspot/deals" in failing.json()["checks"][-1]["detail"]


def test_readyz_fails_while_the_database_is_down(client, service, engine, tmp_path, monkeypatch):
    down = {
        "sqlite": f"sqlite:///{tmp_path}/no-such-directory/funnelsync.db",
        "postgresql": "postgresql+psycopg://postgres:pg-secret@127.0.0.1:1/funnelsync",  # nothing listens
    }[engine.dialect.name]
    monkeypatch.setattr(service.jobs, "engine", create_engine(down))
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json() == {
        "ready": False,
        "checks": [{"name": "database", "ok": False, "detail": "unreachable (OperationalError)"}],
    }
    assert "pg-secret" not in answer.text
    assert client.get("/healthz").status_code == 200  # the process itself still answers


def test_formula_text_from_the_crm_is_neutralised_in_csv_answers_and_raw_in_json(client, sandbox, engine):
    """A contact source such as =HYPERLINK(...) would run in Excel or Google Sheets: the CSV
    answer starts it with a quote; the JSON answer keeps the value as HubSpot sent it."""
    evil = '=HYPERLINK("http://x","click")'
    for record_id in sandbox.store.ids["contacts"][-3:]:  # recent ones, inside the KPI grid
        sandbox.store.objects["contacts"][record_id]["properties"]["hs_analytics_source"] = evil
    body = resync(client, streams=["contacts"], full=True).json()
    assert [r["status"] for r in wait_for(client, [r["id"] for r in body["runs"]])] == ["succeeded"]
    assert wait_kpis(engine) is not None
    params = {"kpi": "contacts_created", "dimension": "source", "dimension_value": evil}
    as_json = client.get("/api/kpis", params=params, headers=auth(READER)).json()["values"]
    as_csv = client.get("/api/kpis", params={**params, "format": "csv"}, headers=auth(READER)).text
    assert as_json and {v["dimension_value"] for v in as_json} == {evil}
    lines = as_csv.splitlines()[1:]
    quoted = "\"'" + evil.replace('"', '""') + '"'  # the CSV cell: a leading quote, quotes doubled
    assert len(lines) == len(as_json) and all(quoted in line for line in lines)


def test_stopping_closes_queued_runs_that_never_started_as_cancelled(service, engine):
    """SIGTERM's path (service.serve.stop_jobs): no queued run is left for a replica to wait on."""
    from service.serve import stop_jobs
    from storage.runs import get_run

    queued = service.jobs.queue("default", ["owners", "deals"], full=False, trigger="admin")
    assert stop_jobs(service.scheduler, engine) == 2
    for run_id in queued.values():
        run = get_run(engine, run_id)
        assert run is not None and run.status == "cancelled" and run.finished_at is not None
        assert "shut down before the queued sync started" in (run.error or "")
