"""The sandbox serves HubSpot's numbered (v3/v4) and date-versioned (2026-03, 2026-09) paths from one
store: the same data through either, the dated shape where HubSpot's differs."""

from __future__ import annotations

import pytest

from connector.hubspot.endpoints import HubSpotPaths

LEGACY, DATED = HubSpotPaths("legacy"), HubSpotPaths("2026-09")


def both(name: str, **params: str) -> tuple[str, str]:
    return LEGACY.path(name, **params), DATED.path(name, **params)


def without_volatile(body: object) -> object:
    """An answer less what differs between two reads of the same data (paging links)."""
    if isinstance(body, dict):
        return {
            k: without_volatile(v) for k, v in body.items() if k not in ("link", "startedAt", "completedAt")
        }
    if isinstance(body, list):
        return [without_volatile(v) for v in body]
    return body


@pytest.mark.parametrize(
    ("name", "params", "query"),
    [
        ("objects", {"object_type": "contacts"}, {"limit": 50, "associations": "companies"}),
        ("objects", {"object_type": "deals"}, {"limit": 20, "propertiesWithHistory": "dealstage"}),
        ("objects", {"object_type": "0-2"}, {"limit": 5}),
        ("owners", {}, {"limit": 3}),
        ("properties", {"object_type": "contacts"}, {}),
        ("pipelines", {"object_type": "deals"}, {}),
        ("marketing_emails", {}, {"includeStats": "true", "limit": 5}),
    ],
)
def test_every_read_answers_the_same_data_through_both_families(sandbox, name, params, query):
    legacy, dated = both(name, **params)
    with sandbox.api() as api:
        a, b = api.get(legacy, params=query), api.get(dated, params=query)
    assert a.status_code == b.status_code == 200
    assert without_volatile(a.json()) == without_volatile(b.json()) and a.json()["results"]


def test_search_and_batch_read_answer_the_same_through_both_families(sandbox):
    ids = sorted(sandbox.store.ids["contacts"])[:7]
    search = {
        "filterGroups": [],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "limit": 5,
    }
    batch = {"inputs": [{"id": str(i)} for i in ids], "properties": ["email", "lifecyclestage"]}
    with sandbox.api() as api:
        found = [api.post(p, json=search).json() for p in both("search", object_type="contacts")]
        read = [api.post(p, json=batch).json() for p in both("batch_read", object_type="contacts")]
    assert found[0] == found[1] and len(found[0]["results"]) == 5
    assert without_volatile(read[0]) == without_volatile(read[1]) and len(read[0]["results"]) == 7


def test_dated_association_reads_give_string_ids_and_v4_numbers(sandbox):
    deal = sandbox.store.ids["deals"][0]
    body = {"inputs": [{"id": str(deal)}]}
    with sandbox.api() as api:
        v4, dated = (
            api.post(p, json=body).json()
            for p in both("associations_batch", from_type="deals", to_type="contacts")
        )
    v4_ids = [t["toObjectId"] for r in v4["results"] for t in r["to"]]
    dated_ids = [t["toObjectId"] for r in dated["results"] for t in r["to"]]
    assert v4_ids and all(isinstance(i, int) for i in v4_ids)
    assert dated_ids == [str(i) for i in v4_ids]


def test_dated_pipeline_stages_carry_write_permissions(sandbox):
    with sandbox.api() as api:
        pipelines = api.get(DATED.path("pipelines", object_type="deals")).json()["results"]
    stages = [s for p in pipelines for s in p["stages"]]
    assert stages and {s["writePermissions"] for s in stages} == {"CRM_PERMISSIONS_ENFORCEMENT"}


@pytest.mark.parametrize(
    "path", ["/crm/objects/2019-01/contacts", "/crm/objects/v3/contacts", "/crm/owners/2031-03"]
)
def test_a_version_hubspot_does_not_serve_is_not_found(sandbox, path):
    with sandbox.api() as api:
        answer = api.get(path)
    assert answer.status_code == 404 and answer.json()["category"] == "OBJECT_NOT_FOUND"


@pytest.mark.parametrize("family", [LEGACY, DATED], ids=["legacy", "dated"])
def test_a_missing_scope_is_named_where_real_answers_put_it(sandbox, family):
    sandbox.admin("POST", "/_sandbox/options", json={"token_scopes": ["crm.objects.contacts.read"]})
    with sandbox.api() as api:
        deals = api.get(family.path("objects", object_type="deals")).json()
        pipelines = api.get(family.path("pipelines", object_type="deals")).json()
        schemas = api.get("/crm/v3/schemas").json()
    assert deals["category"] == "MISSING_SCOPES" and "context" not in deals
    assert deals["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.deals.read"]
    # Either of two scopes reads the pipelines.
    assert pipelines["errors"][0]["context"]["requiredGranularScopes"] == [
        "crm.objects.deals.read",
        "crm.schemas.deals.read",
    ]
    # The custom-object schemas answer in the other recorded shape: a top-level context.
    assert schemas["context"]["requiredGranularScopes"] == ["crm.schemas.custom.read"]


def test_inline_associations_are_paged_after_100_and_batch_reads_page_on(make_sandbox):
    sandbox = make_sandbox(contacts=800)
    contacts = sandbox.store.ids["contacts"][:620]
    deal = sandbox.admin(
        "POST",
        "/_sandbox/objects/deals",
        json={"properties": {"dealname": "Big"}, "associations": {"contacts": contacts}},
    )
    with sandbox.api() as api:
        read = api.get(
            LEGACY.path("objects", object_type="deals") + f"/{deal['id']}",
            params={"associations": "contacts"},
        ).json()
        block = read["associations"]["contacts"]
        path = DATED.path("associations_batch", from_type="deals", to_type="contacts")
        first = api.post(path, json={"inputs": [{"id": str(deal["id"])}]}).json()["results"][0]
        after = first["paging"]["next"]["after"]
        rest = api.post(path, json={"inputs": [{"id": str(deal["id"]), "after": after}]}).json()["results"][0]
        bad = api.post(path, json={"inputs": [{"id": str(deal["id"]), "after": "not-a-token"}]})
    assert len(block["results"]) == 100 and block["paging"]["next"]["after"]
    assert len(first["to"]) == 500 and "paging" not in rest
    assert [int(t["toObjectId"]) for t in first["to"] + rest["to"]] == sorted(contacts)
    assert bad.status_code == 400


def test_the_request_log_names_each_endpoint_called(sandbox):
    sandbox.admin("DELETE", "/_sandbox/requests")
    with sandbox.api() as api:
        api.get(DATED.path("owners"))
        api.get(LEGACY.path("owners"))
    assert sandbox.admin("GET", "/_sandbox/requests")["paths"] == {
        "GET /crm/owners/2026-09": 1,
        "GET /crm/v3/owners": 1,
    }
