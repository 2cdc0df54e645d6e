"""The sandbox's CRM exports: the task's life (queued, processing, complete), the CSV or zipped
file and its columns, one export at a time, the 30-a-day quota, expiring links, the scope."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sandbox.hubspot.exports import ExportTiming
from tests.conftest import Sandbox, loopback_client

START = "/crm/exports/2026-09/export/async"


def request(object_type: str = "CONTACT", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "exportType": "VIEW",
        "format": "CSV",
        "exportName": "funnelsync backfill",
        "objectProperties": ["hs_object_id", "email", "lifecyclestage", "hs_v2_date_entered_lead"],
        "objectType": object_type,
        "language": "EN",
        "associatedObjectType": ["COMPANY"],
        "exportInternalValuesOptions": ["NAMES", "VALUES"],
        "includeLabeledAssociations": False,
        "includePrimaryDisplayPropertyForAssociatedObjects": False,
        "overrideAssociatedObjectsPerDefinitionPerRowLimit": True,
    }
    body.update(overrides)
    return body


def wait_complete(sandbox: Sandbox, api: httpx.Client, task_id: str) -> dict[str, Any]:
    """Poll as a client would, moving the frozen clock a minute per poll."""
    for _ in range(100):
        status = api.get(f"{START}/tasks/{task_id}/status").json()
        if status["status"] == "COMPLETE":
            return dict(status)
        sandbox.store.clock.advance(60)
    raise AssertionError("the export never completed")


def csv_rows(content: bytes, media_type: str) -> list[list[list[str]]]:
    """Each CSV file of a download (one, or the members of a zip) as rows."""
    if media_type.startswith("application/zip"):
        with zipfile.ZipFile(io.BytesIO(content)) as zf:
            texts = [zf.read(name).decode() for name in sorted(zf.namelist())]
    else:
        texts = [content.decode()]
    return [list(csv.reader(io.StringIO(text))) for text in texts]


@pytest.mark.parametrize(
    ("timing", "files"),
    [
        pytest.param(ExportTiming(), 1, id="csv"),
        pytest.param(ExportTiming(split_rows=120), 3, id="zip split in parts"),
    ],
)
def test_an_export_runs_to_a_file_with_every_live_record(
    make_sandbox: Callable[..., Sandbox], timing: ExportTiming, files: int
) -> None:
    sandbox = make_sandbox(export_timing=timing)
    with sandbox.api() as api:
        started = api.post(START, json=request())
        assert started.status_code == 202
        task_id = started.json()["id"]
        assert started.json()["links"]["status"].endswith(f"/export/async/tasks/{task_id}/status")
        assert api.get(f"{START}/tasks/{task_id}/status").json()["status"] == "PROCESSING"
        status = wait_complete(sandbox, api, task_id)
        described = api.get(f"/crm/exports/2026-09/export/{task_id}").json()
    assert described["exportState"] == "DONE"
    truth = {
        r["id"]: r for r in sandbox.admin("GET", "/_sandbox/truth/contacts")["results"] if not r["archived"]
    }
    assert described["recordCount"] == len(truth)
    # The link is outside the API: no credentials.
    with loopback_client(status["result"]) as bare:
        download = bare.get(status["result"])
    assert download.status_code == 200
    parts = csv_rows(download.content, download.headers["content-type"])
    assert len(parts) == files
    header = parts[0][0]
    assert header == [
        "hs_object_id",
        "email",
        "lifecyclestage",
        "hs_v2_date_entered_lead",
        "Associated Company IDs",
    ]
    rows = [row for part in parts for row in part[1:]]
    assert len(rows) == len(truth)
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert set(by_id) == set(truth)
    some = next(r for r in by_id.values() if r["Associated Company IDs"])
    stored = truth[some["hs_object_id"]]["properties"]
    assert some["email"] == (stored.get("email") or "")
    assert some["lifecyclestage"] == (stored.get("lifecyclestage") or "")


def test_exports_run_one_at_a_time_and_thirty_a_day(sandbox: Sandbox) -> None:
    with sandbox.api() as api:
        first = api.post(START, json=request()).json()["id"]
        second = api.post(START, json=request("DEAL", objectProperties=["dealname"])).json()["id"]
        assert api.get(f"{START}/tasks/{second}/status").json()["status"] == "PENDING"
        wait_complete(sandbox, api, first)
        wait_complete(sandbox, api, second)
        for _ in range(28):
            assert api.post(START, json=request()).status_code == 202
        refused = api.post(START, json=request())
        assert refused.status_code == 429 and refused.json()["category"] == "RATE_LIMITS"
        sandbox.store.clock.advance(24 * 3600)
        assert api.post(START, json=request()).status_code == 202


def test_a_download_link_expires_after_five_minutes(sandbox: Sandbox) -> None:
    with sandbox.api() as api:
        task_id = api.post(START, json=request()).json()["id"]
        link = wait_complete(sandbox, api, task_id)["result"]
        sandbox.store.clock.advance(301)
        with loopback_client(link) as bare:
            assert bare.get(link).status_code == 403
        fresh = api.get(f"{START}/tasks/{task_id}/status").json()["result"]
        with loopback_client(fresh) as bare:
            assert bare.get(fresh).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(request(objectProperties=["no_such_property"]), 400, id="unknown property"),
        pytest.param({"exportType": "VIEW"}, 400, id="missing fields"),
        pytest.param(request("TICKET"), 400, id="unknown object type"),
    ],
)
def test_malformed_export_requests_are_refused(sandbox: Sandbox, body: dict[str, Any], status: int) -> None:
    with sandbox.api() as api:
        answer = api.post(START, json=body)
    assert answer.status_code == status and answer.json()["category"] == "VALIDATION_ERROR"


def test_exports_need_the_crm_export_scope(sandbox: Sandbox) -> None:
    scopes = [s for s in sandbox.state.options.token_scopes if s != "crm.export"]
    sandbox.admin("POST", "/_sandbox/options", json={"token_scopes": scopes})
    with sandbox.api() as api:
        answer = api.post(START, json=request())
    assert answer.status_code == 403
