"""Contacts' page views over the sandbox's event analytics API (loopback), and their parser."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from config import HubSpotSettings
from connector.errors import PermissionDeniedError, unavailable
from connector.hubspot.web_events import WebEventsStream, normalize_page_views
from connector.stream import Page
from sandbox.hubspot.events import all_page_views
from tests.connector.hubspot.test_client import client_for
from tests.connector.hubspot.test_streams import collect


def stream(sandbox, **hub) -> WebEventsStream:
    return WebEventsStream(HubSpotSettings(base_url=sandbox.url, **hub))


def truth(sandbox, since, until) -> dict[str, dict[str, Any]]:
    store = sandbox.store
    contacts = [store.objects["contacts"][i] for i in store.ids["contacts"]]
    views = all_page_views(contacts, store.clock.now())
    return {v["id"]: v for v in views if since < v["occurredAt"] < until}


def test_a_full_read_brings_the_page_views_of_its_window_then_only_new_ones(sandbox, clock):
    s = stream(sandbox, web_events_days=365)
    now = sandbox.store.clock.now()
    with client_for(sandbox, clock) as client:
        records, checkpoints = collect(s.pages(client, {}, full=True))
        expected = truth(sandbox, now - timedelta(days=365), now)
        assert {r["id"] for r in records} == set(expected) and len(expected) > 100
        assert checkpoints[-1] == {"until": now.isoformat().replace("+00:00", "Z"), "resume": None}
        assert all(c["resume"] for c in checkpoints[:-1]) and len(checkpoints) > 2
        parsed = s.parse(Page(s.name, records, {}))
        assert not parsed.issues and len(parsed.entities) == len(expected)
        row = parsed.entities[0]
        props = expected[row["id"]]["properties"]
        assert (row["url"], row["title"], row["source"]) == (
            props["hs_url"],
            props["hs_page_title"],
            props["hs_touchpoint_source"],
        )
        assert row["contact_id"] == expected[row["id"]]["objectId"]
        # A day later: the views of that day (and the 30 minutes before the last read ended).
        sandbox.admin("POST", "/_sandbox/simulate", json={"days": 1, "new_contacts": 5})
        later = sandbox.store.clock.now()
        again, _ = collect(s.pages(client, checkpoints[-1], full=False))
    assert {r["id"] for r in again} == set(truth(sandbox, now - timedelta(minutes=30), later))


def test_an_interrupted_read_resumes_at_its_cursor(sandbox, clock):
    s = stream(sandbox, web_events_days=365)
    with client_for(sandbox, clock) as client:
        pages = s.pages(client, {}, full=True)
        first = [next(pages), next(pages)]  # the run stops there (its generator is dropped)
        state = first[-1].checkpoint
        rest, checkpoints = collect(s.pages(client, state, full=False))
        whole, _ = collect(s.pages(client, {}, full=True))
    assert state["resume"]["after"] and checkpoints[-1]["resume"] is None
    got = [r["id"] for p in first for r in p.records] + [r["id"] for r in rest]
    assert got == [r["id"] for r in whole]


def test_switched_off_reads_nothing(sandbox, clock):
    with client_for(sandbox, clock) as client:
        records, checkpoints = collect(
            stream(sandbox, web_events=False).pages(client, {"until": "x"}, full=True)
        )
    assert records == [] and checkpoints == [{"until": "x"}]
    assert sandbox.stats().get("requests", 0) == 0


def test_a_portal_without_enterprise_makes_the_stream_unavailable(sandbox, clock):
    sandbox.admin("POST", "/_sandbox/options", json={"event_analytics": False})
    with client_for(sandbox, clock) as client, pytest.raises(PermissionDeniedError) as caught:
        collect(stream(sandbox).pages(client, {}, full=True))
    assert unavailable(caught.value)


def test_events_that_are_not_a_contacts_page_views_are_set_aside():
    good = {
        "objectType": "CONTACT",
        "objectId": "101",
        "eventType": "e_visited_page",
        "occurredAt": "2025-02-03T09:00:00.000Z",
        "id": "e1",
        "properties": {
            "hs_url": "https://a.example/",
            "hs_page_title": "Home",
            "hs_touchpoint_source": "DIRECT_TRAFFIC",
        },
    }
    out = normalize_page_views(
        [
            good,
            {**good, "id": ""},
            {**good, "id": "e2", "objectType": "DEAL"},
            {**good, "id": "e3", "occurredAt": "x"},
        ]
    )
    assert [e["id"] for e in out.entities] == ["e1"] and out.rejected == 3
    assert {i.record_id for i in out.issues} >= {"e2", "e3"}
