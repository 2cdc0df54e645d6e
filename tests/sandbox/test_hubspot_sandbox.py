"""The sandbox speaks HubSpot: shapes, errors, limits, determinism, fixtures, moving data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sandbox.hubspot.data import GeneratorOptions, iso
from sandbox.hubspot.generator import generate_portal
from tests.conftest import PORTAL_NOW, loopback_client


def test_generation_is_deterministic():
    a = generate_portal(GeneratorOptions(contacts=200, seed=5, now=PORTAL_NOW))
    b = generate_portal(GeneratorOptions(contacts=200, seed=5, now=PORTAL_NOW))
    c = generate_portal(GeneratorOptions(contacts=200, seed=6, now=PORTAL_NOW))
    assert [r["properties"] for r in a.contacts] == [r["properties"] for r in b.contacts]
    assert a.associations == b.associations
    assert [r["properties"] for r in a.contacts] != [r["properties"] for r in c.contacts]


def test_generated_funnel_is_plausible():
    data = generate_portal(GeneratorOptions(contacts=4000, seed=2, now=PORTAL_NOW))
    stages = [r["properties"]["lifecyclestage"] for r in data.contacts]
    assert stages.count("lead") > len(stages) * 0.5  # most stay leads
    assert 0.02 < stages.count("customer") / len(stages) < 0.15
    skipped = [
        r
        for r in data.contacts
        if "hs_v2_date_entered_customer" in r["properties"]
        and "hs_v2_date_entered_lead" in r["properties"]
        and "hs_v2_date_entered_opportunity" not in r["properties"]
    ]
    assert skipped, "some contacts skip stages"
    backwards = [
        r
        for r in data.contacts
        if r["properties"]["lifecyclestage"] == "lead"
        and "hs_v2_date_exited_salesqualifiedlead" in r["properties"]
    ]
    assert backwards, "a few move backwards"
    imported = [
        r
        for r in data.contacts
        if r["properties"]["lifecyclestage"] == "customer"
        and "hs_v2_date_entered_lead" not in r["properties"]
    ]
    assert imported and all(r["properties"]["hs_analytics_source"] == "OFFLINE" for r in imported)
    assert len(data.deals) == 800
    assert any("amount" not in d["properties"] for d in data.deals), "a few amounts are missing"
    assert {d["properties"]["pipeline"] for d in data.deals} == {"default", "75894301"}
    for record in data.contacts + data.deals:
        props = record["properties"]
        assert all(isinstance(v, str) for v in props.values())
        assert record["createdAt"] <= record["updatedAt"] <= PORTAL_NOW


def test_auth_errors_have_hubspots_body(sandbox):
    with loopback_client(sandbox.url) as client:
        missing = client.get("/crm/v3/objects/contacts")
        legacy = client.get("/crm/v3/objects/contacts", params={"hapikey": "x"})
    for response in (missing, legacy):
        assert response.status_code == 401
        body = response.json()
        assert (
            body["category"] == "INVALID_AUTHENTICATION"
            and body["status"] == "error"
            and body["correlationId"]
        )
        assert response.headers["x-hubspot-auth-failure"] == "401 Unauthorized"


def test_not_found_and_bad_input_bodies(sandbox):
    with sandbox.api() as api:
        missing = api.get("/crm/v3/objects/contacts/999999999")
        bad_type = api.get("/crm/v3/objects/butterflies")
        bad_limit = api.get("/crm/v3/objects/contacts", params={"limit": "many"})
    assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"
    assert bad_type.status_code == 400 and "butterflies" in bad_type.json()["message"]
    assert bad_limit.status_code == 400 and bad_limit.json()["category"] == "VALIDATION_ERROR"


def test_pipelines_use_strings_for_metadata_and_are_not_sorted(sandbox):
    with sandbox.api() as api:
        pipelines = api.get("/crm/v3/pipelines/deals").json()["results"]
    default = next(p for p in pipelines if p["id"] == "default")
    won = next(s for s in default["stages"] if s["id"] == "closedwon")
    assert won["metadata"] == {"isClosed": "true", "probability": "1.0"}
    orders = [s["displayOrder"] for s in default["stages"]]
    assert sorted(orders) == list(range(7)) and orders != sorted(orders)


def test_rate_limit_headers_and_429_body(make_sandbox):
    sandbox = make_sandbox(rate_limit=3, send_retry_after=True)
    with sandbox.api() as api:
        answers = [api.get("/crm/v3/objects/contacts", params={"limit": 1}) for _ in range(4)]
        search = api.post("/crm/v3/objects/contacts/search", json={"limit": 1})
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["X-HubSpot-RateLimit-Max"] == "3"
    assert answers[2].headers["X-HubSpot-RateLimit-Remaining"] == "0"
    body = answers[3].json()
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert int(answers[3].headers["Retry-After"]) <= 10
    assert search.status_code == 429  # the burst window counts search too
    sandbox.store.clock.advance(10)
    with sandbox.api() as api:
        ok = api.post("/crm/v3/objects/contacts/search", json={"limit": 1})
    assert ok.status_code == 200 and "X-HubSpot-RateLimit-Max" not in ok.headers


def test_search_secondly_limit(make_sandbox):
    sandbox = make_sandbox(search_rate=5)
    with sandbox.api() as api:
        codes = [api.post("/crm/v3/objects/contacts/search", json={"limit": 1}).status_code for _ in range(6)]
        last = api.post("/crm/v3/objects/contacts/search", json={"limit": 1})
    assert codes == [200] * 5 + [429]
    assert last.json()["policyName"] == "SECONDLY"


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        (
            [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"}],
            lambda p: p["lifecyclestage"] == "customer",
        ),
        (
            [{"propertyName": "lifecyclestage", "operator": "IN", "values": ["lead", "subscriber"]}],
            lambda p: p["lifecyclestage"] in ("lead", "subscriber"),
        ),
        (
            [{"propertyName": "lifecyclestage", "operator": "NEQ", "value": "lead"}],
            lambda p: p["lifecyclestage"] != "lead",
        ),
        (
            [
                {
                    "propertyName": "createdate",
                    "operator": "BETWEEN",
                    "value": "2025-01-01T00:00:00Z",
                    "highValue": str(int(datetime(2025, 6, 1, tzinfo=UTC).timestamp() * 1000)),
                }
            ],
            lambda p: "2025-01-01" <= p["createdate"] < "2025-06-01",
        ),
        ([{"propertyName": "hs_persona", "operator": "HAS_PROPERTY"}], lambda p: bool(p.get("hs_persona"))),
        ([{"propertyName": "hs_persona", "operator": "NOT_HAS_PROPERTY"}], lambda p: not p.get("hs_persona")),
        (
            [{"propertyName": "hs_object_id", "operator": "LTE", "value": "200"}],
            lambda p: int(p["hs_object_id"]) <= 200,
        ),
    ],
    ids=["EQ", "IN", "NEQ", "BETWEEN", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "LTE-number"],
)
def test_search_operators(sandbox, filters, check):
    props = ["lifecyclestage", "createdate", "hs_persona"]
    with sandbox.api() as api:
        body = api.post(
            "/crm/v3/objects/contacts/search",
            json={"filterGroups": [{"filters": filters}], "properties": props, "limit": 200},
        ).json()
        flat = api.post(
            "/crm/v3/objects/contacts/search", json={"filters": filters, "properties": props, "limit": 200}
        ).json()
    assert body["total"] > 0 and all(check(r["properties"]) for r in body["results"])
    assert flat["total"] == body["total"]
    everything = [r["properties"] for r in sandbox.admin("GET", "/_sandbox/truth/contacts")["results"]]
    assert body["total"] == sum(1 for p in everything if check({**p, "hs_object_id": p["hs_object_id"]}))


def test_search_filter_limits(sandbox):
    flt = {"propertyName": "email", "operator": "HAS_PROPERTY"}
    with sandbox.api() as api:
        too_many_groups = api.post(
            "/crm/v3/objects/contacts/search", json={"filterGroups": [{"filters": [flt]}] * 6}
        )
        too_many_filters = api.post(
            "/crm/v3/objects/contacts/search", json={"filterGroups": [{"filters": [flt] * 11}]}
        )
    assert too_many_groups.status_code == 400 and too_many_filters.status_code == 400


def test_search_sorts_by_timestamp_and_pages_by_offset(sandbox):
    with sandbox.api() as api:
        first = api.post(
            "/crm/v3/objects/contacts/search",
            json={
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
                "properties": ["lastmodifieddate"],
                "limit": 50,
            },
        ).json()
        second = api.post(
            "/crm/v3/objects/contacts/search",
            json={
                "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}],
                "properties": ["lastmodifieddate"],
                "limit": 50,
                "after": first["paging"]["next"]["after"],
            },
        ).json()
    stamps = [r["properties"]["lastmodifieddate"] for r in first["results"] + second["results"]]
    assert stamps == sorted(stamps, reverse=True)
    assert first["paging"]["next"] == {"after": "50"}  # search paging has no link


def test_archived_records_leave_list_and_search(sandbox):
    victim = sandbox.admin("GET", "/_sandbox/truth/contacts")["results"][3]["id"]
    sandbox.admin("DELETE", f"/_sandbox/objects/contacts/{victim}")
    with sandbox.api() as api:
        live = api.get("/crm/v3/objects/contacts", params={"limit": 100}).json()["results"]
        archived = api.get("/crm/v3/objects/contacts", params={"archived": "true"}).json()["results"]
        found = api.post(
            "/crm/v3/objects/contacts/search",
            json={"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": victim}]},
        ).json()
    assert victim not in {r["id"] for r in live}
    assert (
        [r["id"] for r in archived] == [victim]
        and archived[0]["archived"] is True
        and archived[0]["archivedAt"]
    )
    assert found["total"] == 0


def test_v4_association_batch_reports_unassociated_inputs_as_207_errors(sandbox):
    deal = next(iter(sandbox.store.objects["deals"]))
    with sandbox.api() as api:
        response = api.post(
            "/crm/v4/associations/deals/contacts/batch/read",
            json={"inputs": [{"id": str(deal)}, {"id": "1"}]},
        )
    assert response.status_code == 207
    body = response.json()
    assert body["results"][0]["from"] == {"id": str(deal)}
    assert isinstance(body["results"][0]["to"][0]["toObjectId"], int)
    assert body["results"][0]["to"][0]["associationTypes"][0]["typeId"] == 3
    assert (
        body["errors"][0]["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
        and body["numErrors"] == 1
    )


def test_simulated_activity_moves_time_and_data(sandbox):
    before = sandbox.admin("GET", "/_sandbox/clock")["now"]
    change = sandbox.admin(
        "POST",
        "/_sandbox/simulate",
        json={"days": 2, "new_contacts": 4, "stage_changes": 6, "deals_won": 2, "same_timestamp": True},
    )
    after = sandbox.admin("GET", "/_sandbox/clock")["now"]
    assert after > before and change["created"] == 4 and change["stage_changes"] == 6
    contacts = {r["id"]: r for r in sandbox.admin("GET", "/_sandbox/truth/contacts")["results"]}
    stamps = {contacts[i]["updatedAt"] for i in change["changes"]["created"]}
    assert len(stamps) == 1  # same_timestamp: all share one lastmodifieddate
    won_contacts = [
        c
        for d in change["changes"]["deals_won"]
        for c in sandbox.store.associated("deals", int(d), "contacts")
    ]
    assert won_contacts
    assert all(contacts[str(c)]["properties"]["lifecyclestage"] == "customer" for c in won_contacts)


def test_fixture_file_in_hubspots_shape(make_sandbox, tmp_path):
    fixture = {
        "contacts": [
            {
                "id": "1",
                "properties": {
                    "email": "a@x.example",
                    "lifecyclestage": "lead",
                    "createdate": "2025-01-02T03:04:05.000Z",
                },
                "createdAt": "2025-01-02T03:04:05.000Z",
                "updatedAt": "2025-02-02T03:04:05.000Z",
                "archived": False,
            },
            {
                "id": "2",
                "properties": {"email": "b@x.example", "lifecyclestage": "customer"},
                "createdAt": "2025-01-03T00:00:00.000Z",
                "updatedAt": "2025-01-04T00:00:00.000Z",
                "archived": True,
            },
        ],
        "companies": [],
        "deals": [
            {
                "id": "10",
                "properties": {
                    "dealname": "D",
                    "amount": "100",
                    "dealstage": "closedwon",
                    "pipeline": "default",
                },
                "createdAt": "2025-01-05T00:00:00.000Z",
                "updatedAt": "2025-01-06T00:00:00.000Z",
                "archived": False,
                "associations": {"contacts": {"results": [{"id": "1", "type": "deal_to_contact"}]}},
            }
        ],
        "owners": [
            {
                "id": "7",
                "email": "o@x.example",
                "firstName": "O",
                "lastName": "W",
                "type": "PERSON",
                "userId": 1,
                "archived": False,
            }
        ],
    }
    path = tmp_path / "portal.json"
    path.write_text(json.dumps(fixture))
    sandbox = make_sandbox(fixture=path)
    with sandbox.api() as api:
        contacts = api.get("/crm/v3/objects/contacts", params={"properties": "email,lifecyclestage"}).json()[
            "results"
        ]
        deals = api.get("/crm/v3/objects/deals", params={"associations": "contacts"}).json()["results"]
        owners = api.get("/crm/v3/owners").json()["results"]
    assert [c["id"] for c in contacts] == ["1"]
    assert contacts[0]["properties"]["lastmodifieddate"] == "2025-02-02T03:04:05.000Z"
    assert deals[0]["associations"]["contacts"]["results"] == [{"id": "1", "type": "deal_to_contact"}]
    assert owners[0]["id"] == "7"


def test_marketing_emails_listing_pages_with_total_and_optional_statistics(sandbox):
    emails = sandbox.store.emails
    with sandbox.api() as api:
        first = api.get("/marketing/v3/emails", params={"limit": 10, "includeStats": "true"}).json()
        assert first["total"] == len(emails) and len(first["results"]) == 10
        assert first["paging"]["next"]["after"] == "10" and "link" in first["paging"]["next"]
        published = [r for r in first["results"] if r["state"] != "DRAFT"]
        counters = published[0]["stats"]["counters"]
        assert counters["delivered"] == counters["sent"] - counters["bounce"]
        assert set(published[0]["stats"]) == {"counters", "deviceBreakdown", "qualifierStats", "ratios"}
        plain = api.get("/marketing/v3/emails", params={"limit": 10}).json()
        assert plain["results"] and all("stats" not in r for r in plain["results"])
        # Time bounds are exclusive.
        edge = published[0]["publishDate"]
        after = api.get("/marketing/v3/emails", params={"publishedAfter": edge, "limit": 300}).json()
        assert edge not in {r.get("publishDate") for r in after["results"]}
        assert after["total"] == sum(
            1 for e in emails if e.get("publishDate") and iso(e["publishDate"]) > edge
        )
        one = api.get(f"/marketing/v3/emails/{published[0]['id']}", params={"includeStats": "true"})
        assert one.status_code == 200 and one.json()["stats"] == published[0]["stats"]
        missing = api.get("/marketing/v3/emails/1")
        assert missing.status_code == 404 and missing.json()["category"] == "OBJECT_NOT_FOUND"


def test_malformed_mode_values_never_break_an_answer(make_sandbox):
    """Planted bad values (stage-entry dates like "next tuesday" included) are served as they are;
    the history derived from stage-entry dates skips what is no date."""
    sandbox = make_sandbox(contacts=200, malformed=40)
    planted = [
        r
        for r in sandbox.store.objects["contacts"].values()
        if r["properties"].get("hs_v2_date_entered_lead") == "next tuesday"
    ]
    assert planted
    with sandbox.api() as api:
        after, seen = "0", []
        while after is not None:
            page = api.get(
                "/crm/v3/objects/contacts",
                params={
                    "limit": 50,
                    "after": after,
                    "propertiesWithHistory": "lifecyclestage",
                    "properties": "hs_v2_date_entered_lead",
                },
            )
            assert page.status_code == 200
            body = page.json()
            seen += body["results"]
            after = body.get("paging", {}).get("next", {}).get("after")
    served = {r["id"]: r for r in seen}
    assert planted
    for record in planted:
        assert served[str(record["id"])]["properties"]["hs_v2_date_entered_lead"] == "next tuesday"
