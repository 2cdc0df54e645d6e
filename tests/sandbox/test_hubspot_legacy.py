"""The sandbox's legacy endpoints (companies v2, deals v1, properties v1/v2, pipelines v1,
associations v3) describe the same portal as the v3 ones, in HubSpot's legacy shapes."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import httpx
import pytest

from sandbox.hubspot.routes.legacy import LEGACY_PAGE_MAX, legacy_text


def walk(api: httpx.Client, path: str, key: str, more: str, **params: Any) -> list[dict[str, Any]]:
    """Every record of a legacy listing, following `offset` while `more` says so."""
    records: list[dict[str, Any]] = []
    offset = None
    for _ in range(1000):
        query = {**params, **({"offset": offset} if offset is not None else {})}
        body = api.get(path, params=query).raise_for_status().json()
        records.extend(body[key])
        if not body[more]:
            return records
        offset = body["offset"]
    raise AssertionError("listing never ended")


@pytest.mark.parametrize(
    ("path", "key", "more", "object_type", "id_key"),
    [
        ("/companies/v2/companies/paged", "companies", "has-more", "companies", "companyId"),
        ("/deals/v1/deal/paged", "deals", "hasMore", "deals", "dealId"),
    ],
)
@pytest.mark.parametrize("limit", [7, 1000])
def test_paging_reads_every_live_record_once(sandbox, path, key, more, object_type, id_key, limit):
    with sandbox.api() as api:
        first = api.get(path, params={"limit": limit}).json()
        records = walk(api, path, key, more, limit=limit)
    assert len(first[key]) == min(limit, LEGACY_PAGE_MAX, len(records))
    ids = Counter(r[id_key] for r in records)
    assert max(ids.values()) == 1
    truth = sandbox.admin("GET", f"/_sandbox/truth/{object_type}")["results"]
    assert set(ids) == {int(r["id"]) for r in truth if not r["archived"]}
    assert all(r["portalId"] and r["isDeleted"] is False for r in records)


def test_property_values_are_legacy_objects(sandbox):
    record = sandbox.store.objects["deals"][sandbox.store.ids["deals"][0]]
    with sandbox.api() as api:
        body = api.get(
            "/deals/v1/deal/paged",
            params=[("limit", "1"), ("properties", "dealname"), ("properties", "createdate")],
        ).json()
    deal = body["deals"][0]
    assert deal["dealId"] == record["id"]
    assert set(deal["properties"]) == {"dealname", "createdate"}
    created = deal["properties"]["createdate"]
    # Dates are epoch milliseconds as text; the value carries when it last changed and its versions.
    expected_ms = int(
        datetime.fromisoformat(record["properties"]["createdate"].replace("Z", "+00:00")).timestamp() * 1000
    )
    assert created["value"] == str(expected_ms)
    assert isinstance(created["timestamp"], int)
    assert set(created) == {"value", "timestamp", "source", "sourceId", "versions"}
    assert (
        created["versions"][0]["name"] == "createdate" and created["versions"][0]["value"] == created["value"]
    )
    assert "associations" not in deal


def test_deals_with_all_properties_and_associations(sandbox):
    store = sandbox.store
    with sandbox.api() as api:
        deals = walk(
            api,
            "/deals/v1/deal/paged",
            "deals",
            "hasMore",
            includeAssociations="true",
            includeAllProperties="true",
            allPropertiesFetchMode="latest_version",
        )
    for deal in deals:
        record = store.objects["deals"][deal["dealId"]]
        given = {k for k, v in record["properties"].items() if v is not None}
        assert set(deal["properties"]) == given
        assert deal["properties"]["dealstage"]["value"] == record["properties"]["dealstage"]
        assert deal["associations"]["associatedVids"] == store.associated("deals", deal["dealId"], "contacts")
        assert deal["associations"]["associatedCompanyIds"] == store.associated(
            "deals", deal["dealId"], "companies"
        )


def test_stage_history_comes_newest_first(sandbox):
    store = sandbox.store
    moved = next(
        d for d in store.objects["deals"].values() if len(store.history("deals", d, "dealstage")) > 1
    )
    with sandbox.api() as api:
        deals = walk(api, "/deals/v1/deal/paged", "deals", "hasMore", propertiesWithHistory="dealstage")
    deal = next(d for d in deals if d["dealId"] == moved["id"])
    versions = deal["properties"]["dealstage"]["versions"]
    expected = store.history("deals", moved, "dealstage")
    assert [v["value"] for v in versions] == [value for value, _at, _src in reversed(expected)]
    assert [v["timestamp"] for v in versions] == sorted((v["timestamp"] for v in versions), reverse=True)


def test_company_detail_has_every_property(sandbox):
    company_id = sandbox.store.ids["companies"][0]
    record = sandbox.store.objects["companies"][company_id]
    with sandbox.api() as api:
        body = api.get(f"/companies/v2/companies/{company_id}").json()
        missing = api.get("/companies/v2/companies/1")
    assert body["companyId"] == company_id
    assert {k: v["value"] for k, v in body["properties"].items()} == {
        k: legacy_text(k, v) for k, v in record["properties"].items() if v is not None
    }
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"


@pytest.mark.parametrize(
    ("path", "object_type"),
    [("/companies/v2/properties", "companies"), ("/properties/v1/deals/properties", "deals")],
)
def test_property_lists_are_bare_arrays(sandbox, path, object_type):
    with sandbox.api() as api:
        body = api.get(path).json()
        v3 = api.get(f"/crm/v3/properties/{object_type}").json()["results"]
    assert isinstance(body, list)
    assert [p["name"] for p in body] == [p["name"] for p in v3]
    assert {"name", "label", "type", "fieldType", "groupName", "options", "readOnlyValue"} <= set(body[0])


def test_pipelines_v1(sandbox):
    with sandbox.api() as api:
        v1 = api.get("/deals/v1/pipelines").json()
        v3 = api.get("/crm/v3/pipelines/deals").json()["results"]
    assert [p["pipelineId"] for p in v1] == [p["id"] for p in v3]
    stages = {s["stageId"]: s for p in v1 for s in p["stages"]}
    assert stages["closedwon"]["closedWon"] is True and stages["closedwon"]["probability"] == 1.0
    assert stages["closedlost"]["closedWon"] is False
    assert all(isinstance(s["probability"], float) for s in stages.values())


def test_associations_v3_batch(sandbox):
    store = sandbox.store
    company = next(i for i in store.ids["companies"] if store.associated("companies", i, "contacts"))
    with sandbox.api() as api:
        answer = api.post(
            "/crm/v3/associations/company/contact/batch/read",
            json={"inputs": [{"id": str(company)}, {"id": "1"}]},
        )
    body = answer.json()
    assert answer.status_code == 207 and body["numErrors"] == 1
    assert body["results"] == [
        {
            "from": {"id": str(company)},
            "to": [
                {"id": str(i), "type": "company_to_contact"}
                for i in store.associated("companies", company, "contacts")
            ],
        }
    ]


@pytest.mark.parametrize("path", ["/crm/v3/properties/tickets", "/crm/v3/objects/tickets", "/crm/v3/schemas"])
def test_scopes_the_portal_lacks_answer_403(sandbox, path):
    """No token of the sandbox portal carries Service Hub or custom-object scopes, so HubSpot's
    403 MISSING_SCOPES answers, which clients treat as "not available here" and skip."""
    with sandbox.api() as api:
        answer = api.get(path)
    assert answer.status_code == 403
    assert answer.json()["category"] == "MISSING_SCOPES"


def test_legacy_routes_are_rate_limited_and_counted(make_sandbox):
    sandbox = make_sandbox(rate_limit=3)
    with sandbox.api() as api:
        codes = [api.get("/deals/v1/pipelines").status_code for _ in range(5)]
    assert codes.count(429) == 2
    assert sandbox.stats()["429"] == 2
