"""The campaigns stream over the sandbox's campaigns API (loopback), and its parser."""

from __future__ import annotations

from typing import Any

import pytest

from config import HubSpotSettings
from connector.errors import PermissionDeniedError, unavailable
from connector.hubspot.campaigns import CampaignsStream, normalize_campaigns
from connector.hubspot.endpoints import HubSpotPaths
from connector.stream import Page
from sandbox.hubspot.options import ALL_SCOPES
from tests.connector.hubspot.test_client import client_for
from tests.connector.hubspot.test_streams import collect

LIST = HubSpotPaths().path("campaigns")


def stream(sandbox, **hub) -> CampaignsStream:
    return CampaignsStream(HubSpotSettings(base_url=sandbox.url, **hub))


def test_a_full_read_brings_every_campaign_with_its_budget_and_metrics(sandbox, clock):
    truth = {c["id"]: c for c in sandbox.store.campaigns}
    with client_for(sandbox, clock) as client:
        records, checkpoints = collect(stream(sandbox).pages(client, {}, full=True))
        requests = client.stats.requests
    assert {r["id"] for r in records} == set(truth) and len(truth) >= 5
    one = records[0]
    assert one["properties"]["hs_name"] == truth[one["id"]]["properties"]["hs_name"]
    assert one["budget"]["spendTotal"] == pytest.approx(
        sum(i["amount"] for i in truth[one["id"]]["spendItems"])
    )
    assert set(one["metrics"]) == {
        "sessions",
        "newContactsFirstTouch",
        "newContactsLastTouch",
        "influencedContacts",
    }
    # The Date probe, one listing page, budget and metrics per campaign.
    assert requests == 2 + 2 * len(truth)
    assert checkpoints[-1] == {"checked_at": sandbox.store.clock.now().isoformat().replace("+00:00", "Z")}
    parsed = normalize_campaigns(records)
    assert not parsed.issues and len(parsed.entities) == len(truth)
    spent = {r["id"]: r["spend_total"] for r in parsed.entities}
    items = [c for c in parsed.children if c["kind"] == "spend"]
    for campaign_id, total in spent.items():
        assert sum(i["amount"] for i in items if i["campaign_id"] == campaign_id) == pytest.approx(total)


def test_incremental_reads_wait_for_the_interval(sandbox, clock):
    s = stream(sandbox, campaigns_minutes=60)
    with client_for(sandbox, clock) as client:
        _, checkpoints = collect(s.pages(client, {}, full=True))
        before = sandbox.stats()["requests"]
        records, _ = collect(s.pages(client, checkpoints[-1], full=False))
        assert records == [] and sandbox.stats()["requests"] == before
        sandbox.store.clock.advance(3600)
        records, _ = collect(s.pages(client, checkpoints[-1], full=False))
    assert len(records) == len(sandbox.store.campaigns)


def test_without_the_campaigns_scope_the_stream_is_unavailable(sandbox, clock):
    scopes = [s for s in ALL_SCOPES if s != "marketing.campaigns.read"]
    sandbox.admin("POST", "/_sandbox/options", json={"token_scopes": scopes})
    with client_for(sandbox, clock) as client, pytest.raises(PermissionDeniedError) as raised:
        collect(stream(sandbox).pages(client, {}, full=True))
    assert unavailable(raised.value)


def test_the_sandbox_speaks_the_campaigns_api(sandbox):
    with sandbox.api() as api:
        bare = api.get(LIST, params={"limit": 2}).json()
        assert bare["total"] == len(sandbox.store.campaigns)
        assert all(r["properties"] == {} for r in bare["results"])  # no properties unless named
        seen, after = [], None
        while True:
            params = {"limit": 2, "properties": "hs_name", **({"after": after} if after else {})}
            body = api.get(LIST, params=params).json()
            seen += [r["id"] for r in body["results"]]
            after = body.get("paging", {}).get("next", {}).get("after")
            if not after:
                break
        assert sorted(seen) == sorted(c["id"] for c in sandbox.store.campaigns)
        campaign = sandbox.store.campaigns[-1]
        whole = api.get(f"{LIST}/{campaign['id']}/reports/metrics").json()
        none = api.get(f"{LIST}/{campaign['id']}/reports/metrics", params={"endDate": "2000-01-01"}).json()
        assert none["newContactsFirstTouch"] == 0 and whole["sessions"] >= none["sessions"]
        assert (
            api.get(f"{LIST}/{campaign['id']}/reports/metrics", params={"startDate": "June"}).status_code
            == 400
        )
        assert api.get(f"{LIST}/no-such-guid/budget/totals").status_code == 404
        assert api.get(LIST, params={"sort": "colour"}).status_code == 400
        named = api.get(LIST, params={"name": campaign["properties"]["hs_name"][:8].upper()}).json()
        assert campaign["id"] in {r["id"] for r in named["results"]}


def test_malformed_campaign_values_are_quarantined_and_the_rest_kept():
    records: list[dict[str, Any]] = [
        {"properties": {"hs_name": "no id"}},
        {
            "id": "guid-1",
            "properties": {"hs_name": "Fair", "hs_start_date": "not a date"},
            "budget": {
                "currencyCode": "sek",
                "budgetTotal": 100,
                "spendTotal": -5,
                "spendItems": [
                    {"name": "no id", "amount": 3},
                    {"id": "7", "amount": "x", "createdAt": 1735689600000},
                ],
            },
            "metrics": {"sessions": 2.5, "newContactsFirstTouch": 3},
        },
    ]
    parsed = CampaignsStream(HubSpotSettings()).parse(Page("campaigns", records, {}))
    assert parsed.rejected == 1
    row = parsed.entities[0]
    assert (row["name"], row["currency"], row["budget_total"]) == ("Fair", "SEK", 100)
    assert row["start_date"] is None and row["spend_total"] is None
    assert (row["sessions"], row["new_contacts_first_touch"]) == (None, 3)
    assert [(c["item_id"], c["amount"], c["created_at"].year) for c in parsed.children] == [("7", None, 2025)]
    fields = {i.field for i in parsed.issues}
    assert {"hs_start_date", "budget.spendTotal", "metrics.sessions", "budget.spendItems"} <= fields
