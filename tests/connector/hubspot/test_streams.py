"""HubSpot streams page through the sandbox over loopback; no database involved."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config import HubSpotSettings
from connector.errors import FatalAPIError
from connector.hubspot.streams import (
    CrmObjectStream,
    build_streams,
    chunk_properties,
    discover_schema,
)
from connector.sandbox.hubspot.data import iso
from tests.connector.hubspot.test_client import client_for


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


def contacts_stream(sandbox, **hub):
    settings = HubSpotSettings(base_url=sandbox.url, **hub)
    return CrmObjectStream(
        "contacts",
        modified_property="lastmodifieddate",
        properties=["email", "lifecyclestage"],
        settings=settings,
    )


def test_full_sync_pages_every_live_record_in_id_order(sandbox, clock):
    with client_for(sandbox, clock) as client:
        records, checkpoints = collect(contacts_stream(sandbox).full_pages(client, {}))
        requests = client.stats.requests
    ids = [r["id"] for r in records]
    assert ids == live_ids(sandbox, "contacts")
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)
    assert requests == 1 + -(-len(ids) // 100)  # the Date probe plus one request per page of 100
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
    stream = CrmObjectStream(
        "contacts",
        modified_property="lastmodifieddate",
        properties=["email", *extra],
        settings=HubSpotSettings(base_url=sandbox.url, max_properties_chars=3000),
    )
    with client_for(sandbox, clock) as client:
        records, _ = collect(stream.full_pages(client, {}))
    assert [r["id"] for r in records] == live_ids(sandbox, "contacts")
    assert sandbox.stats().get("414", 0) == 0
    unchunked = CrmObjectStream(
        "contacts",
        modified_property="lastmodifieddate",
        properties=["email", *extra],
        settings=HubSpotSettings(base_url=sandbox.url, max_properties_chars=100_000),
    )
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
    streams = build_streams(settings, schema)
    contact_props = streams["contacts"].stream.properties
    assert "hs_v2_date_entered_1234567" in contact_props
    assert "hs_lifecyclestage_customer_date" in contact_props
    assert "hs_v2_date_entered_130845003" in streams["deals"].stream.properties


def test_incremental_deals_carry_associations_from_the_v4_batch_api(sandbox, clock):
    settings = HubSpotSettings(base_url=sandbox.url)
    stream = CrmObjectStream(
        "deals",
        modified_property="hs_lastmodifieddate",
        properties=["dealname"],
        associations=("contacts", "companies"),
        settings=settings,
    )
    with client_for(sandbox, clock) as client:
        records, _ = collect(stream.incremental_pages(client, {"watermark": "2000-01-01T00:00:00+00:00"}))
    assert len(records) == len(live_ids(sandbox, "deals"))
    store = sandbox.store
    for record in records[:50]:
        expected = {str(i) for i in store.associated("deals", int(record["id"]), "contacts")}
        got = {a["id"] for a in record["associations"]["contacts"]["results"]}
        assert got == expected
