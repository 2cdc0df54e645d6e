"""The service's read API, admin authentication and input checks over one synced service per
database (SQLite and PostgreSQL): these tests only read, so the sandbox, the service and its
sync are made once for the module."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from sqlalchemy import func, select

from sandbox.hubspot.options import ALL_SCOPES
from storage.db import table_of
from storage.kpis import kpi_values, latest_kpi_run
from storage.models import SyncRun
from tests.conftest import sandbox_settings, start_sandbox
from tests.service.conftest import (
    ADMIN,
    READER,
    auth,
    resync,
    running_service,
    serving,
    wait_for,
    wait_kpis,
)

# Its tests share one module-scoped database per dialect: one xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("api_read")


@pytest.fixture(scope="module")
def synced(module_engine, tmp_path_factory) -> Iterator[httpx.Client]:
    """A client of a service whose first sync, KPIs and exports are done; its token lacks the web
    analytics scope, so that stream is unavailable and the rest (KPIs included) goes on."""
    sandbox = start_sandbox()
    try:
        scopes = [s for s in ALL_SCOPES if s != "business-intelligence"]
        sandbox.admin("POST", "/_sandbox/options", json={"token_scopes": scopes})
        url = module_engine.url.render_as_string(hide_password=False)
        settings = sandbox_settings(sandbox, tmp_path_factory.mktemp("api") / "data", url)
        with running_service(settings, module_engine) as service, serving(service) as client:
            body = resync(client).json()
            runs = wait_for(client, [r["id"] for r in body["runs"]], timeout=120)
            statuses = {r["stream"]: r["status"] for r in runs}
            assert statuses.pop("web_analytics") == "unavailable", runs
            assert set(statuses.values()) == {"succeeded"}, runs
            assert wait_kpis(module_engine) is not None
            manifest = service.settings.exports_path / "manifest.json"
            deadline = time.monotonic() + 30
            while not manifest.exists() and time.monotonic() < deadline:
                time.sleep(0.05)  # the exports are written right after the KPIs are stored
            yield client
    finally:
        sandbox.server.stop()


@pytest.fixture
def engine(module_engine):
    """The module's database (the tests compare the API's answers with it)."""
    return module_engine


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), (auth("wrong-token-000"), 403), (auth(READER), 403), ({"Authorization": "Basic abc"}, 401)],
)
@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/admin/resync"), ("GET", "/admin/runs"), ("GET", "/admin/runs/1")]
)
def test_admin_routes_need_the_admin_token(synced, headers, status, method, path):
    response = synced.request(method, path, headers=headers, json={})
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
        ("/api/kpis", {"dimension": "source\n"}),
        ("/api/kpis", {"kpi": "win\x1brate"}),
        ("/admin/runs", {"stream": "contacts\x7f"}),
    ],
)
def test_nul_bytes_and_control_characters_in_query_parameters_are_refused(synced, path, params):
    """PostgreSQL cannot compare text holding a NUL byte, and no filter value has a control
    character: a clear 422, never a 500."""
    response = synced.get(path, params=params, headers=auth(ADMIN))
    assert response.status_code == 422 and next(iter(params)) in response.json()["detail"]


@pytest.mark.parametrize(
    ("token", "status"), [(READER, 200), (ADMIN, 200), ("nope-nope-nope", 403), (None, 401)]
)
def test_the_read_api_takes_the_read_or_the_admin_token(synced, token, status):
    response = synced.get("/api/kpis", headers=auth(token) if token else {})
    assert response.status_code == status


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
def test_bad_resync_input_gets_422_with_a_clear_message(synced, body, needle):
    response = resync(synced, **body)
    assert response.status_code == 422
    assert needle in response.json()["detail"]


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
    web = 'connection="default",source="hubspot",stream="web_analytics"'
    assert f"funnelsync_sync_unavailable{{{web}}} 1.0" in text
    assert f"funnelsync_sync_unavailable{{{labels}}} 0.0" in text


def test_status_page_shows_runs_and_the_labelled_funnel_of_a_period(synced):
    page = synced.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<div id="funnel"' in html and html.count('class="stage"') == 5
    assert "Marketing Qualified Lead" in html and ">marketingqualifiedlead<" not in html
    # The latest complete month is shown; the running one is offered, marked partial.
    stages = synced.get("/api/kpis", params={"kpi": "stage_entries"}, headers=auth(READER)).json()["values"]
    labels = sorted({(v["period_label"], v["complete"]) for v in stages})
    shown, running = [label for label, done in labels if done][-1], labels[-1][0]
    assert f'<span class="period">{shown}</span>' in html and f"{running} (partial)</option>" in html
    assert html.count('<svg class="trend"') >= 8
    # The portal's data ends in May (the sandbox's clock): its sources, by HubSpot's names.
    may = synced.get("/", params={"period": "2026-05"}).text
    assert '<span class="period">2026-05</span>' in may and "Organic Search</td>" in may
    # Won revenue by channel under the attribution models, for a month that had some.
    credited = synced.get(
        "/api/kpis", params={"kpi": "attributed_revenue", "dimension": "source"}, headers=auth(READER)
    ).json()["values"]
    month = next(v["period_label"] for v in credited if v["value"])
    page_of_month = synced.get("/", params={"period": month}).text
    assert 'id="attribution-default"' in page_of_month and "under attribution models" in page_of_month
    assert '<section id="admin">' in html and "Admin token" in html and ADMIN not in html
    assert html.index('id="sync"') < html.index('id="admin"')
    # The unavailable stream, with the scope to grant.
    assert "unavailable" in html and "business-intelligence" in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"grain": "quarter"}, ': quarter <span class="period">'),
        ({"grain": "month", "period": "1999-01"}, "No month 1999-01 in this computation"),
        ({"grain": "week"}, "week is not available on a month grid"),
    ],
)
def test_status_page_period_choices(synced, params, expected):
    page = synced.get("/", params=params)
    assert page.status_code == 200 and expected in page.text


def test_status_page_rejects_a_malformed_choice(synced):
    assert synced.get("/", params={"grain": "decade"}).status_code == 422
    assert synced.get("/", params={"period": "2026-11-01-x"}).status_code == 422


def test_kpi_rows_carry_their_period_label_and_whether_it_had_ended(synced):
    values = synced.get("/api/kpis", params={"kpi": "stage_entries"}, headers=auth(READER)).json()["values"]
    periods = sorted({(v["period_start"], v["period_label"], v["complete"]) for v in values})
    assert len(periods) >= 2 and periods[-1][2] is False and {c for _, _, c in periods[:-1]} == {True}
    assert all(label == start[:7] for start, label, _ in periods)  # monthly grid: YYYY-MM
    snapshot = synced.get("/api/kpis", params={"kpi": "open_pipeline"}, headers=auth(READER)).json()["values"]
    assert snapshot and all(v["period_label"] == "" and v["complete"] is True for v in snapshot)
