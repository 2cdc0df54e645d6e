"""HubSpot streams page through the sandbox over loopback; no database involved."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config import HubSpotSettings
from connector.errors import FatalAPIError, PermissionDeniedError, unavailable
from connector.hubspot.catalogue import OwnersStream
from connector.hubspot.crm import ContactsStream, DealsStream, chunk_properties
from connector.hubspot.emails import MarketingEmailsStream
from connector.hubspot.endpoints import HubSpotPaths
from connector.hubspot.schema import PortalSchema, discover_schema
from sandbox.hubspot.data import iso
from tests.connector.hubspot.test_client import client_for

# Where the default API family (2026-09) lists contacts.
CONTACTS_PATH = HubSpotPaths().path("objects", object_type="contacts")


def live_ids(sandbox, object_type):
    return [
        r["id"]
        for r in sandbox.admin("GET", f"/_sandbox/truth/{object_type}")["results"]
        if not r["archived"]
    ]


def collect(pages):
    records, checkpoints = [], []
    for page in pages:
        records.extend(page.records)
        checkpoints.append(page.checkpoint)
    return records, checkpoints


class BareContacts(ContactsStream):
    """Contacts without their company links, so these tests count listing and search requests
    alone (links and stage history are tested by the sync's tests)."""

    associations = ()


def contacts_stream(sandbox, **hub):
    settings = HubSpotSettings(base_url=sandbox.url, **{"stage_history": False, **hub})
    return BareContacts(settings, PortalSchema())


def test_full_sync_pages_every_live_record_in_id_order(sandbox, clock):
    with client_for(sandbox, clock) as client:
        pages = list(contacts_stream(sandbox).full_pages(client, {}))
        requests = client.stats.requests
    records, checkpoints = [r for p in pages for r in p.records], [p.checkpoint for p in pages]
    ids = [r["id"] for r in records]
    assert ids == live_ids(sandbox, "contacts")
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)
    # The Date probe, search's count (on the first page, for the progress display), a request per page of 100.
    assert requests == 2 + -(-len(ids) // 100)
    assert [p.expected for p in pages] == [len(ids)] + [None] * (len(pages) - 1)
    assert checkpoints[-1]["full"] is None and checkpoints[-1]["watermark"]
    assert all(c["full"]["after"] for c in checkpoints[:-1])


def test_list_limit_is_clamped_to_100_and_the_last_page_has_no_paging(sandbox):
    with sandbox.api() as api:
        body = api.get("/crm/v3/objects/contacts", params={"limit": 500}).json()
        assert len(body["results"]) == 100
        assert body["paging"]["next"]["after"] and "link" in body["paging"]["next"]
        last = api.get(
            "/crm/v3/objects/contacts", params={"limit": 100, "after": live_ids(sandbox, "contacts")[-5]}
        )
        assert len(last.json()["results"]) == 5 and "paging" not in last.json()


def test_full_sync_resumes_from_a_checkpoint(sandbox, clock):
    stream = contacts_stream(sandbox)
    with client_for(sandbox, clock) as client:
        pages = stream.full_pages(client, {})
        first = next(pages)
        rest, _ = collect(stream.full_pages(client, first.checkpoint))
    assert [r["id"] for r in first.records + rest] == live_ids(sandbox, "contacts")


def test_incremental_sees_only_changes_in_the_window(sandbox, clock):
    stream = contacts_stream(sandbox)
    with client_for(sandbox, clock) as client:
        _, checkpoints = collect(stream.full_pages(client, {}))
        sandbox.store.clock.advance(3600)
        changed = live_ids(sandbox, "contacts")[10:15]
        for record_id in changed:
            sandbox.admin(
                "PATCH", f"/_sandbox/objects/contacts/{record_id}", json={"properties": {"firstname": "X"}}
            )
        sandbox.store.clock.advance(60)
        records, inc = collect(stream.incremental_pages(client, checkpoints[-1]))
    assert {r["id"] for r in records} == set(changed)
    assert inc[-1]["watermark"] > checkpoints[-1]["watermark"]


def test_incremental_is_correct_past_the_10000_result_cap(make_sandbox):
    from tests.conftest import FakeClock

    sandbox = make_sandbox(contacts=10_450, deals=0, companies=10)
    clock = FakeClock(sandbox)
    stream = contacts_stream(sandbox)
    ids = live_ids(sandbox, "contacts")
    watermark = sandbox.store.clock.now()
    sandbox.store.clock.advance(600)
    # Every contact changes inside the window, spread over time.
    for n, record_id in enumerate(ids):
        sandbox.store.touch("contacts", [int(record_id)], at=watermark + timedelta(seconds=n % 500))
    with client_for(sandbox, clock) as client:
        records, checkpoints = collect(stream.incremental_pages(client, {"watermark": iso(watermark)}))
    got = [r["id"] for r in records]
    assert len(got) == len(set(got)) == len(ids) > 10_000
    assert set(got) == set(ids)
    assert checkpoints[-1]["window"] is None
    assert sandbox.stats().get("400", 0) == 0


def test_thousands_of_records_on_one_timestamp_neither_loop_nor_skip(make_sandbox):
    from tests.conftest import FakeClock

    sandbox = make_sandbox(contacts=1_500, deals=0, companies=5)
    clock = FakeClock(sandbox)
    ids = live_ids(sandbox, "contacts")
    stamp = sandbox.store.clock.now() + timedelta(seconds=5)
    sandbox.admin("POST", "/_sandbox/touch", json={"type": "contacts", "ids": ids, "at": stamp.isoformat()})
    sandbox.store.clock.advance(60)
    stream = contacts_stream(sandbox)
    with client_for(sandbox, clock) as client:
        records, checkpoints = collect(
            stream.incremental_pages(client, {"watermark": iso(stamp - timedelta(seconds=1))})
        )
        requests = client.stats.requests
    assert sorted(r["id"] for r in records) == sorted(ids)
    assert len(checkpoints) == -(-len(ids) // 200)  # pages of 200, no repeats
    assert requests <= len(checkpoints) + 2


def test_search_refuses_to_page_past_10000(sandbox):
    with sandbox.api() as api:
        response = api.post("/crm/v3/objects/contacts/search", json={"limit": 100, "after": "9950"})
    assert response.status_code == 400
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR" and "10,000" in body["message"]


@pytest.mark.parametrize(("limit", "status"), [(200, 200), (201, 400), (0, 400)])
def test_search_limit_cap(sandbox, limit, status):
    with sandbox.api() as api:
        assert api.post("/crm/v3/objects/contacts/search", json={"limit": limit}).status_code == status


def test_long_property_lists_are_chunked_instead_of_414(sandbox, clock):
    extra = [f"custom_property_with_a_rather_long_name_{i:04d}" for i in range(400)]
    stream = contacts_stream(sandbox, max_properties_chars=3000, extra_contact_properties=extra)
    with client_for(sandbox, clock) as client:
        records, _ = collect(stream.full_pages(client, {}))
    assert [r["id"] for r in records] == live_ids(sandbox, "contacts")
    assert sandbox.stats().get("414", 0) == 0
    unchunked = contacts_stream(sandbox, max_properties_chars=100_000, extra_contact_properties=extra)
    with client_for(sandbox, clock) as client, pytest.raises(FatalAPIError) as info:
        collect(unchunked.full_pages(client, {}))
    assert info.value.status == 414


@pytest.mark.parametrize(
    ("names", "limit", "expected"),
    [
        (["a", "b", "c"], 100, ["a,b,c"]),
        (["aaaa", "bbbb", "cccc"], 9, ["aaaa,bbbb", "cccc"]),
        (["aaaaaaaaaa", "b"], 5, ["aaaaaaaaaa", "b"]),
        ([], 10, []),
    ],
)
def test_chunk_properties(names, limit, expected):
    assert chunk_properties(names, limit) == expected


def test_discovery_finds_custom_stages_and_deal_stages(make_sandbox):
    from tests.conftest import FakeClock

    sandbox = make_sandbox(
        custom_stages=(("1234567", "Product Qualified Lead"),), legacy_stage_properties=True
    )
    clock = FakeClock(sandbox)
    settings = HubSpotSettings(base_url=sandbox.url, custom_lifecycle_stages=["from_config"])
    with client_for(sandbox, clock) as client:
        schema = discover_schema(client, settings)
    assert "1234567" in schema.lifecycle_stages and "from_config" in schema.lifecycle_stages
    assert {"closedwon", "closedlost", "130845003"} <= set(schema.deal_stage_ids)
    contact_props = ContactsStream(settings, schema).properties
    assert "hs_v2_date_entered_1234567" in contact_props
    assert "hs_lifecyclestage_customer_date" in contact_props
    assert "hs_v2_date_entered_130845003" in DealsStream(settings, schema).properties


def test_incremental_deals_carry_associations_from_the_v4_batch_api(sandbox, clock):
    stream = DealsStream(HubSpotSettings(base_url=sandbox.url, stage_history=False), PortalSchema())
    with client_for(sandbox, clock) as client:
        records, _ = collect(stream.incremental_pages(client, {"watermark": "2000-01-01T00:00:00+00:00"}))
    assert records and len(records) == len(live_ids(sandbox, "deals"))
    store = sandbox.store
    for record in records[:50]:
        expected = {str(i) for i in store.associated("deals", int(record["id"]), "contacts")}
        got = {a["id"] for a in record["associations"]["contacts"]["results"]}
        assert got == expected


def _touch_all_then_search(sandbox, clock, **hub):
    """Stamp every contact inside one window and read the window back by search."""
    ids = live_ids(sandbox, "contacts")
    watermark = sandbox.store.clock.now()
    for n, record_id in enumerate(ids):
        sandbox.store.touch("contacts", [int(record_id)], at=watermark + timedelta(seconds=1 + n % 50))
    sandbox.store.clock.advance(600)
    with client_for(sandbox, clock) as client:
        records, checkpoints = collect(
            contacts_stream(sandbox, **hub).incremental_pages(client, {"watermark": iso(watermark)})
        )
    return ids, records, checkpoints


def test_search_sorting_ids_as_text_is_detected_and_read_by_digit_band(make_sandbox, caplog):
    from tests.conftest import FakeClock

    sandbox = make_sandbox(contacts=450, deals=0, companies=5)
    sandbox.admin("POST", "/_sandbox/options", json={"search_id_order": "lexicographic"})
    ids, records, checkpoints = _touch_all_then_search(sandbox, FakeClock(sandbox), search_page_size=100)
    got = [r["id"] for r in records]
    assert sorted(got, key=int) == sorted(ids, key=int)
    assert len(got) == len(set(got))
    assert checkpoints[-1]["window"] is None and checkpoints[-1]["watermark"]
    assert "sorted ids as text" in caplog.text


def test_text_sorted_ids_that_look_ordered_are_caught_by_the_total(make_sandbox, caplog):
    """Ids 104 … 999, 1000, 1001 sort as text to 1000, 1001, 104, …: a first page of two looks
    ordered, and keyset paging after 1001 would find nothing more."""
    from tests.conftest import FakeClock

    sandbox = make_sandbox(contacts=450, deals=0, companies=5)
    assert sandbox.store.ids["contacts"][-2:] == [1000, 1001]
    sandbox.admin("POST", "/_sandbox/options", json={"search_id_order": "lexicographic"})
    ids, records, _ = _touch_all_then_search(sandbox, FakeClock(sandbox), search_page_size=2)
    assert sorted({r["id"] for r in records}, key=int) == sorted(ids, key=int)
    assert "gave 2 of 450 records" in caplog.text


def test_repeated_records_from_the_previous_page_are_dropped(make_sandbox):
    from tests.conftest import FakeClock

    sandbox = make_sandbox(contacts=450, deals=0, companies=5)
    sandbox.faults({"kind": "duplicate", "count": 3, "skip": 1, "records": 4, "path_prefix": CONTACTS_PATH})
    ids, records, _ = _touch_all_then_search(sandbox, FakeClock(sandbox), search_page_size=100)
    got = [r["id"] for r in records]
    assert sandbox.stats()["fault:duplicate"] == 3
    assert len(got) == len(set(got)) and set(got) == set(ids)


def test_changes_hidden_by_search_index_lag_are_caught_by_the_next_window(make_sandbox):
    from tests.conftest import FakeClock

    sandbox = make_sandbox(contacts=120, deals=0, companies=5)
    clock = FakeClock(sandbox)
    sandbox.admin("POST", "/_sandbox/options", json={"search_lag_seconds": 90})
    stream = contacts_stream(sandbox)
    with client_for(sandbox, clock) as client:
        _, checkpoints = collect(stream.full_pages(client, {}))
        sandbox.store.clock.advance(3600)
        late = live_ids(sandbox, "contacts")[7]
        sandbox.store.update("contacts", int(late), {"firstname": "Late"})
        sandbox.store.clock.advance(30)  # changed 30 s ago: not in the index yet
        first, after_first = collect(stream.incremental_pages(client, checkpoints[-1]))
        sandbox.store.clock.advance(600)
        second, _ = collect(stream.incremental_pages(client, after_first[-1]))
    assert late not in {r["id"] for r in first}
    assert late in {r["id"] for r in second}  # the overlap (300 s) covers the index lag


@pytest.mark.parametrize("kind", ["truncate", "modify"])
def test_truncated_answers_are_retried_and_edits_between_pages_are_seen_next_time(make_sandbox, kind):
    from tests.conftest import FakeClock

    sandbox = make_sandbox(contacts=450, deals=0, companies=5)
    clock = FakeClock(sandbox)
    sandbox.faults({"kind": kind, "count": 2, "skip": 1, "records": 5, "path_prefix": CONTACTS_PATH})
    stream = contacts_stream(sandbox)
    with client_for(sandbox, clock) as client:
        records, checkpoints = collect(stream.full_pages(client, {}))
        sandbox.store.clock.advance(600)
        changed, _ = collect(stream.incremental_pages(client, checkpoints[-1]))
    assert sandbox.stats()[f"fault:{kind}"] == 2
    assert {r["id"] for r in records} == set(live_ids(sandbox, "contacts"))
    current = {r["id"]: r["properties"] for r in sandbox.admin("GET", "/_sandbox/truth/contacts")["results"]}
    latest = {r["id"]: r["properties"] for r in records} | {r["id"]: r["properties"] for r in changed}
    assert latest and all(latest[i]["lifecyclestage"] == current[i].get("lifecyclestage") for i in latest)
    if kind == "modify":
        assert len(changed) == 10


def _emails_stream(sandbox, **hub):
    return MarketingEmailsStream(HubSpotSettings(base_url=sandbox.url, **hub))


def test_marketing_emails_come_with_statistics_even_when_the_listing_drops_some(sandbox, clock):
    sandbox.admin("POST", "/_sandbox/options", json={"email_stats_omit_every": 7})
    truth = {e["id"]: e for e in sandbox.store.emails}
    with client_for(sandbox, clock) as client:
        records, checkpoints = collect(_emails_stream(sandbox).pages(client, {}, full=True))
    got = {r["id"]: r for r in records}
    assert set(got) == set(truth) and len(records) == len(truth)
    sent = [r for r in records if r.get("state") != "DRAFT"]
    assert sent and all(r["stats"]["counters"]["sent"] > 0 for r in sent)
    assert checkpoints[-1] == {"checked_at": sandbox.store.clock.now().isoformat().replace("+00:00", "Z")}


def test_incremental_email_reads_wait_and_then_cover_only_recent_sends(sandbox, clock):
    stream = _emails_stream(sandbox, email_stats_minutes=60, email_stats_days=30)
    with client_for(sandbox, clock) as client:
        _, checkpoints = collect(stream.pages(client, {}, full=True))
        state = checkpoints[-1]
        before = sandbox.stats()["requests"]
        records, _ = collect(stream.pages(client, state, full=False))
        assert records == [] and sandbox.stats()["requests"] == before  # not due: no request at all
        sandbox.store.clock.advance(3600)
        new = sandbox.store.send_email(recipients=120)
        records, _ = collect(stream.pages(client, state, full=False))
    now = sandbox.store.clock.now()
    recent = {
        e["id"]
        for e in sandbox.store.emails
        if e.get("publishDate") and e["publishDate"] > now - timedelta(days=30)
    }
    assert {r["id"] for r in records} == recent and new["id"] in recent


def test_a_token_without_the_content_scope_makes_the_email_stream_unavailable(sandbox, clock):
    from sandbox.hubspot.options import ALL_SCOPES
    from tests.connector.hubspot.test_oauth import oauth_client

    scopes = [s for s in ALL_SCOPES if s != "content"]
    sandbox.admin("POST", "/_sandbox/options", json={"oauth_scopes": scopes})

    _, client = oauth_client(sandbox, clock)
    with client, pytest.raises(PermissionDeniedError) as info:
        collect(_emails_stream(sandbox).pages(client, {}, full=True))
    # Either scope would do; the service records the stream as unavailable, naming them.
    assert info.value.missing_scopes == ["content", "marketing.email.read"] and unavailable(info.value)
    assert "Missing scope, one of: content, marketing.email.read." in str(info.value)


def test_owners_are_marked_read_only_by_their_last_page(sandbox, clock):
    """Active owners, then archived ones: a run stopped between them must leave the owners due,
    or the archived owners would be missing until the catalogue's next interval."""
    before = {"synced_at": "2026-01-01T00:00:00Z"}
    with client_for(sandbox, clock) as client:
        pages = list(OwnersStream(HubSpotSettings(base_url=sandbox.url)).pages(client, before, full=False))
    assert len(pages) >= 2
    assert [p.checkpoint for p in pages[:-1]] == [before] * (len(pages) - 1)
    assert pages[-1].checkpoint == {"synced_at": "2026-06-01T12:00:00Z"}  # the portal's frozen now
    archived = [r["archived"] for p in pages for r in p.records]
    assert archived == sorted(archived) and True in archived and False in archived
