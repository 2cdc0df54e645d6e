"""A full read through HubSpot's CRM exports (connector/hubspot/exports.py) against the sandbox over
loopback: the records the list endpoint gives, in a handful of requests; resumable without a
second export; the list endpoint when the scope, the quota or the export is missing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from config import HubSpotSettings
from connector.hubspot.crm import ContactsStream, DealsStream
from connector.hubspot.exports import EXPORT_PAGE_ROWS
from connector.hubspot.schema import discover_schema
from connector.stream import Page
from sandbox.hubspot.exports import EXPORTS_PER_DAY, ExportTiming
from tests.conftest import FakeClock, Sandbox
from tests.connector.hubspot.test_client import client_for

START = "POST /crm/exports/2026-09/export/async"


def stream_of(sandbox: Sandbox, clock: FakeClock, kind: type[Any] = ContactsStream, **hub: Any) -> Any:
    settings = HubSpotSettings(base_url=sandbox.url, **{"stage_history": False, **hub})
    with client_for(sandbox, clock) as client:
        schema = discover_schema(client, settings)
    return kind(settings, schema)


def read(sandbox: Sandbox, clock: FakeClock, stream: Any, state: dict[str, Any]) -> tuple[list[Page], int]:
    """Every page of a full read from `state`, and the API requests it made."""
    with client_for(sandbox, clock) as client:
        pages = list(stream.full_pages(client, state))
        return pages, client.stats.requests


def live(sandbox: Sandbox) -> list[str]:
    """The ids of the portal's live contacts, in id order."""
    truth = sandbox.admin("GET", "/_sandbox/truth/contacts")["results"]
    return sorted((r["id"] for r in truth if not r["archived"]), key=int)


def by_id(pages: list[Page]) -> dict[str, dict[str, Any]]:
    return {str(r["id"]): r for page in pages for r in page.records}


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    """What a record says, whichever way it was read: properties with values, and its links."""
    links = {
        to_type: sorted(str(i["id"]) for i in block.get("results", []))
        for to_type, block in (record.get("associations") or {}).items()
    }
    return {
        "properties": {k: v for k, v in record["properties"].items() if v not in (None, "")},
        "links": {k: v for k, v in links.items() if v},
    }


@pytest.mark.parametrize("kind", [ContactsStream, DealsStream])
def test_an_export_brings_what_the_list_endpoint_brings_in_a_handful_of_requests(
    sandbox: Sandbox, clock: FakeClock, kind: type[Any]
) -> None:
    listed, list_requests = read(sandbox, clock, stream_of(sandbox, clock, kind, export_backfill="off"), {})
    exported, requests = read(sandbox, clock, stream_of(sandbox, clock, kind, export_backfill="always"), {})
    assert sandbox.state.paths[START] == 1
    assert {i: comparable(r) for i, r in by_id(exported).items()} == {
        i: comparable(r) for i, r in by_id(listed).items()
    }
    # The clock probe, the count, the start and three polls (0, 2 and 6 s), whatever the size.
    assert requests == 6 and list_requests == 2 + -(-len(by_id(listed)) // 100)
    assert exported[0].records == [] and exported[0].checkpoint["full"]["export"]["rows"] == 0
    assert exported[-1].checkpoint["full"] is None and exported[-1].checkpoint["watermark"]
    assert exported[0].expected == len(by_id(listed))


def test_an_interrupted_export_read_resumes_without_a_second_export(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    sandbox = make_sandbox(contacts=2300, export_timing=ExportTiming(split_rows=1000))
    clock = FakeClock(sandbox)
    stream = stream_of(sandbox, clock, export_backfill="always")
    with client_for(sandbox, clock) as client:
        pages = stream.full_pages(client, {})
        first = [next(pages), next(pages)]  # the start, then the first page of rows
        pages.close()  # the run dies here
    assert len(first[1].records) == EXPORT_PAGE_ROWS
    sandbox.store.clock.advance(3600)  # the first download link has long expired
    rest, _ = read(sandbox, clock, stream, first[-1].checkpoint)
    assert sandbox.state.paths[START] == 1
    ids = [str(r["id"]) for page in [*first, *rest] for r in page.records]
    truth = [
        r["id"] for r in sandbox.admin("GET", "/_sandbox/truth/contacts")["results"] if not r["archived"]
    ]
    assert sorted(ids, key=int) == sorted(truth, key=int)  # every record once


@pytest.mark.parametrize("obstacle", ["scope", "quota", "small portal"])
def test_without_an_export_the_list_endpoint_is_read(
    sandbox: Sandbox, clock: FakeClock, obstacle: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings: dict[str, Any] = {"export_backfill": "always"}
    if obstacle == "scope":
        scopes = [s for s in sandbox.state.options.token_scopes if s != "crm.export"]
        sandbox.admin("POST", "/_sandbox/options", json={"token_scopes": scopes})
    elif obstacle == "quota":
        now = sandbox.store.clock.now()
        sandbox.state.exports.started.extend([now] * EXPORTS_PER_DAY)
    else:
        settings = {"export_backfill": "auto", "export_min_records": 100_000}
    pages, requests = read(sandbox, clock, stream_of(sandbox, clock, **settings), {})
    truth = [
        r["id"] for r in sandbox.admin("GET", "/_sandbox/truth/contacts")["results"] if not r["archived"]
    ]
    assert sorted(by_id(pages), key=int) == sorted(truth, key=int)
    assert requests > len(truth) // 100  # paged
    assert not any("export" in (p.checkpoint.get("full") or {}) for p in pages)
    if obstacle != "small portal":
        assert "reading the list endpoint instead of an export" in caplog.text
