"""The meetings and calls streams over the sandbox's CRM objects API (loopback), and their parser."""

from __future__ import annotations

from typing import Any

import pytest

from config import HubSpotSettings
from connector.errors import PermissionDeniedError, unavailable
from connector.hubspot.engagements import CallsStream, EngagementStream, MeetingsStream, normalize_engagements
from connector.hubspot.schema import PortalSchema
from connector.stream import Page
from sandbox.hubspot.options import ALL_SCOPES
from tests.connector.hubspot.test_client import client_for
from tests.connector.hubspot.test_streams import collect


def stream(kind: type[EngagementStream], sandbox, **hub) -> EngagementStream:
    return kind(HubSpotSettings(base_url=sandbox.url, **hub), PortalSchema())


@pytest.mark.parametrize(("kind", "object_type"), [(MeetingsStream, "meetings"), (CallsStream, "calls")])
def test_a_full_read_brings_every_engagement_with_its_contacts_and_deals(sandbox, clock, kind, object_type):
    truth = {r["id"]: r for r in sandbox.store.truth(object_type)}
    s = stream(kind, sandbox)
    with client_for(sandbox, clock) as client:
        records, checkpoints = collect(s.pages(client, {}, full=True))
    assert {r["id"] for r in records} == set(truth) and len(truth) > 10
    assert checkpoints[-1]["watermark"] and checkpoints[-1]["full"] is None
    parsed = s.parse(Page(s.name, records, {}, s.associations))
    assert not parsed.issues and len(parsed.entities) == len(truth)
    row = parsed.entities[0]
    props = truth[row["id"]]["properties"]
    assert row["occurred_at"].isoformat().startswith(props["hs_timestamp"][:19])
    assert row["title"] == props[s.title_property] and row["outcome"] == props[s.outcome_property]
    # Every engagement names its deal and its contact, as the sandbox associated them.
    for linked_type, singular in (("deals", "deal"), ("contacts", "contact")):
        expected = {
            (str(r), str(i))
            for r in map(int, truth)
            for i in sandbox.store.associated(object_type, r, linked_type)
        }
        found = {(a["engagement_id"], a["to_id"]) for a in parsed.associations if a["to_type"] == singular}
        assert found == expected and expected


def test_an_incremental_read_finds_a_changed_meeting_with_its_links(sandbox, clock):
    s = stream(MeetingsStream, sandbox)
    with client_for(sandbox, clock) as client:
        _, checkpoints = collect(s.pages(client, {}, full=True))
        sandbox.store.clock.advance(600)
        changed = int(sandbox.store.truth("meetings")[3]["id"])
        sandbox.store.update("meetings", changed, {"hs_meeting_outcome": "NO_SHOW"})
        sandbox.store.clock.advance(600)
        records, _ = collect(s.pages(client, checkpoints[-1], full=False))
    assert [r["id"] for r in records] == [str(changed)]
    parsed = s.parse(Page(s.name, records, {}, s.associations))
    assert parsed.entities[0]["outcome"] == "NO_SHOW"
    assert {a["to_type"] for a in parsed.associations} == {"contact", "deal"}


def test_switched_off_reads_nothing(sandbox, clock):
    s = stream(CallsStream, sandbox, engagements=False)
    with client_for(sandbox, clock) as client:
        records, checkpoints = collect(s.pages(client, {"watermark": "x"}, full=True))
    assert records == [] and checkpoints == [{"watermark": "x"}]
    assert sandbox.stats().get("requests", 0) == 0


def test_without_the_contacts_scope_the_stream_is_unavailable(sandbox, clock):
    sandbox.admin(
        "POST",
        "/_sandbox/options",
        json={"token_scopes": [s for s in ALL_SCOPES if s != "crm.objects.contacts.read"]},
    )
    with client_for(sandbox, clock) as client, pytest.raises(PermissionDeniedError) as caught:
        collect(stream(MeetingsStream, sandbox).pages(client, {}, full=True))
    assert unavailable(caught.value) and "crm.objects.contacts.read" in str(caught.value)


def test_malformed_engagements_are_quarantined_field_by_field():
    records: list[dict[str, Any]] = [
        {
            "id": "61",
            "properties": {
                "hs_timestamp": "yesterday",
                "hs_call_title": "Intro",
                "hs_call_status": "completed",
            },
            "associations": {"deals": {"results": [{"id": "9"}]}},
        },
        {"id": "62", "properties": {"hs_meeting_start_time": "2025-03-01T10:00:00Z"}},
        {"id": "not-a-number", "properties": {}},
    ]
    parsed = normalize_engagements(
        records, title="hs_call_title", outcome="hs_call_status", direction="hs_call_direction"
    )
    assert parsed.rejected == 1 and [i.field for i in parsed.issues if i.record_id == "61"] == [
        "hs_timestamp"
    ]
    first, second = parsed.entities
    assert (first["occurred_at"], first["title"], first["outcome"]) == (None, "Intro", "COMPLETED")
    # A meeting without hs_timestamp took place at its start time.
    assert second["occurred_at"] is not None and second["occurred_at"].day == 1
    assert parsed.associations == [{"engagement_id": "61", "to_type": "deal", "to_id": "9"}]
    assert parsed.association_owner_ids == ["61"]


def test_simulated_activity_logs_calls_and_meetings_an_incremental_read_brings(sandbox, clock):
    """The sandbox's simulated days open deals with a discovery call and close won ones with a
    meeting (the demo's incremental syncs read them)."""
    calls, meetings = stream(CallsStream, sandbox), stream(MeetingsStream, sandbox)
    with client_for(sandbox, clock) as client:
        states = {s.name: collect(s.pages(client, {}, full=True))[1][-1] for s in (calls, meetings)}
        done = sandbox.admin(
            "POST", "/_sandbox/simulate", json={"days": 1, "deals_created": 3, "deals_won": 2}
        )
        sandbox.store.clock.advance(600)
        new_calls, _ = collect(calls.pages(client, states["calls"], full=False))
        new_meetings, _ = collect(meetings.pages(client, states["meetings"], full=False))
    parsed = calls.parse(Page(calls.name, new_calls, {}, calls.associations))
    assert {a["to_id"] for a in parsed.associations if a["to_type"] == "deal"} == set(
        done["changes"]["deals_created"]
    )
    assert len(new_meetings) == done["deals_won"] == 2
    assert all(r["properties"]["hs_meeting_outcome"] == "COMPLETED" for r in new_meetings)
