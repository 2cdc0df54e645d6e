"""The service's HTTP API in-process (FastAPI's test client) over a real scheduler, a real
database (SQLite and PostgreSQL) and the sandbox over loopback."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from storage.db import table_of
from storage.kpis import kpi_values, latest_kpi_run
from storage.models import HubSpotContact, SyncRun
from storage.runs import finish_run, start_run
from tests.service.conftest import ADMIN, READER

FINISHED = ("succeeded", "failed", "deferred", "skipped", "interrupted", "cancelled")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for(client: httpx.Client, run_ids: list[int], timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        runs = [client.get(f"/admin/runs/{i}", headers=auth(ADMIN)).json() for i in run_ids]
        if all(r["status"] in FINISHED for r in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(0.1)


def wait_kpis(engine, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while (run := latest_kpi_run(engine, connection="default")) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return run


def resync(client: httpx.Client, **body: Any) -> Any:
    return client.post("/admin/resync", json=body, headers=auth(ADMIN))


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), (auth("wrong-token-000"), 403), (auth(READER), 403), ({"Authorization": "Basic abc"}, 401)],
)
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/admin/resync"), ("GET", "/admin/runs"), ("GET", "/admin/runs/1")]
)
def test_admin_routes_need_the_admin_token(client, headers, status, method, path):
    response = client.request(method, path, headers=headers, json={})
    assert response.status_code == status
    assert ADMIN not in response.text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/admin/runs", {"status": "fa\x00iled"}),
        ("/admin/runs", {"connection": "\x00"}),
        ("/admin/runs", {"stream": "contacts\x00"}),
        ("/api/kpis", {"kpi": "win\x00rate"}),
        ("/api/kpis", {"dimension_value": "a\x00b"}),
    ],
)
def test_nul_bytes_in_query_parameters_are_refused(client, path, params):
    """PostgreSQL cannot compare text holding a NUL byte: a clear 422, never a 500."""
    response = client.get(path, params=params, headers=auth(ADMIN))
    assert response.status_code == 422 and next(iter(params)) in response.json()["detail"]


@pytest.mark.service_settings(admin_token=None)
def test_admin_routes_are_disabled_without_a_token(client):
    response = client.post("/admin/resync", json={}, headers=auth("anything-at-all"))
    assert response.status_code == 403 and "disabled" in response.json()["detail"]


@pytest.mark.parametrize(
    ("token", "status"), [(READER, 404), (ADMIN, 404), ("nope-nope-nope", 403), (None, 401)]
)
def test_the_read_api_takes_the_read_or_the_admin_token(client, token, status):
    # 404: authorised, but nothing computed yet.
    response = client.get("/api/kpis", headers=auth(token) if token else {})
    assert response.status_code == status


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
        {"kind": "hold", "skip": after, "path_prefix": "/crm/v3/objects/contacts", "method": "GET"}
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


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"connection": "elsewhere"}, "body.connection"),
        ({"streams": ["contacts", "nope"]}, "body.streams.1"),
        ({"full": "maybe"}, "full"),
        ({"streams": "contacts"}, "streams"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_resync_input_gets_422_with_a_clear_message(client, body, needle):
    response = resync(client, **body)
    assert response.status_code == 422
    assert needle in response.json()["detail"]


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


@pytest.fixture
def synced(client, engine, service):
    body = resync(client).json()
    runs = wait_for(client, [r["id"] for r in body["runs"]], timeout=120)
    assert all(r["status"] == "succeeded" for r in runs), runs
    assert wait_kpis(engine) is not None
    manifest = service.settings.exports_path / "manifest.json"
    deadline = time.monotonic() + 30
    while not manifest.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # the exports are written right after the KPIs are stored
    return client


def test_kpis_api_returns_the_stored_values_as_json_and_csv(synced, engine):
    run = latest_kpi_run(engine, connection="default")
    assert run is not None and run.id is not None
    stored = [v for v in kpi_values(engine, run_id=run.id) if v.kpi == "win_rate" and v.dimension == "all"]
    response = synced.get("/api/kpis", params={"kpi": "win_rate", "dimension": "all"}, headers=auth(READER))
    assert response.status_code == 200
    body = response.json()
    assert body["run_id"] == run.id and len(body["values"]) == len(stored) > 0
    assert [v["value"] for v in body["values"]] == [s.value for s in stored]
    as_csv = synced.get(
        "/api/kpis", params={"kpi": "win_rate", "dimension": "all", "format": "csv"}, headers=auth(READER)
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["kpi"] for r in rows] == ["win_rate"] * len(stored)
    # Period bounds: only periods starting in the range, snapshot values always.
    first = body["values"][-1]["period_start"][:10]
    narrowed = synced.get(
        "/api/kpis", params={"kpi": "win_rate", "dimension": "all", "from": first}, headers=auth(READER)
    ).json()
    assert len(narrowed["values"]) == 1
    bad = synced.get("/api/kpis", params={"from": "last tuesday"}, headers=auth(READER))
    assert bad.status_code == 422 and "from" in bad.json()["detail"]
    # The first and last days there are bound nothing (no day before or after them to compute).
    for edge in ({"to": "9999-12-31"}, {"from": "0001-01-01"}):
        every = synced.get(
            "/api/kpis", params={"kpi": "win_rate", "dimension": "all", **edge}, headers=auth(READER)
        )
        assert every.status_code == 200 and len(every.json()["values"]) == len(stored), edge
    assert synced.get("/api/kpis", params={"period": "year"}, headers=auth(READER)).status_code == 404


def test_kpis_api_answers_304_to_a_dashboard_that_has_the_latest(synced):
    first = synced.get("/api/kpis/latest", headers=auth(READER))
    assert first.status_code == 200
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert synced.get("/api/kpis/latest", headers={**auth(READER), "If-None-Match": etag}).status_code == 304
    assert (
        synced.get("/api/kpis/latest", headers={**auth(READER), "If-Modified-Since": modified}).status_code
        == 304
    )
    earlier = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)
    assert (
        synced.get("/api/kpis/latest", headers={**auth(READER), "If-Modified-Since": earlier}).status_code
        == 200
    )
    latest = first.json()["values"]
    keys = [(v["kpi"], v["stage"], v["dimension"], v["dimension_value"]) for v in latest]
    assert len(keys) == len(set(keys))


EXPORT_NAMES = {
    "manifest.json": 200,
    "kpis.csv": 200,
    "nothing.csv": 404,
    "..%2F..%2Fetc%2Fpasswd": 404,
    "%2e%2e": 404,
    "..%5Cmanifest.json": 404,
    ".kpis.csv.pid1.abc.tmp": 404,
}


def test_export_files_are_served_without_path_traversal(synced):
    for name, status in EXPORT_NAMES.items():
        response = synced.get(f"/api/exports/{name}", headers=auth(READER))
        assert response.status_code == status, name
        if status == 200:
            etag = response.headers["etag"]
            again = synced.get(f"/api/exports/{name}", headers={**auth(READER), "If-None-Match": etag})
            assert again.status_code == 304


def test_metrics_match_the_database(synced, engine):
    text = synced.get("/metrics").text
    runs = table_of(SyncRun)
    with engine.connect() as conn:
        read = conn.execute(
            select(func.sum(runs.c.records_read)).where(
                runs.c.stream == "contacts", runs.c.source == "hubspot"
            )
        ).scalar_one()
    labels = 'connection="default",source="hubspot",stream="contacts"'
    assert f"funnelsync_sync_records_read_total{{{labels}}} {float(read)}" in text
    run = latest_kpi_run(engine, connection="default")
    assert run is not None and run.id is not None
    stage_counts = {
        v.stage: v.value
        for v in kpi_values(engine, run_id=run.id)
        if v.kpi == "stage_count" and v.dimension == "all"
    }
    assert f'funnelsync_stage_contacts{{connection="default",stage="lead"}} {stage_counts["lead"]}' in text
    for name in ("funnelsync_open_pipeline", "funnelsync_win_rate_ratio", "funnelsync_days_to_close_mean"):
        assert f'{name}{{connection="default"}}' in text
    assert (
        "funnelsync_stage_conversion_ratio" in text
        and "funnelsync_sync_last_success_timestamp_seconds" in text
    )


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


def test_status_page_shows_runs_and_the_funnel(synced):
    page = synced.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<svg id="funnel"' in html and html.count('class="stage"') == 5
    assert "succeeded" in html and "Resync" in html and ADMIN not in html
