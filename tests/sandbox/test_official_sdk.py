"""Wire compatibility: HubSpot's own Python SDK (a client nobody here wrote) against the sandbox.

It pages through contacts and deals, reads one by id and searches, and must see exactly the
records funnelsync stores.
"""

from __future__ import annotations

import hubspot
import pytest

from service.sync import build_sync
from storage.models import HubSpotContact, HubSpotDeal
from tests.service.test_sync import stored


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_official_sdk_reads_what_funnelsync_stores(sandbox, clock, make_settings, engine, db_url):
    client = hubspot.Client.create(access_token=sandbox.token, host=sandbox.url)
    build_sync("hubspot", make_settings(db_url), engine, clock=clock).run(full=True)
    for api, model in ((client.crm.contacts, HubSpotContact), (client.crm.deals, HubSpotDeal)):
        # get_all pages with `after` until HubSpot's last page (no `paging`), 100 at a time.
        everything = api.get_all(properties=["createdate", "lifecyclestage", "dealstage"])
        theirs = {record.id: record for record in everything}
        ours = dict(stored(engine, model, "id", "createdate"))
        assert set(theirs) == set(ours) and len(theirs) == len(everything)
        assert all(theirs[i].properties["createdate"] is not None for i in ours)
        first = sorted(ours, key=int)[0]
        assert api.basic_api.get_by_id(first).id == first
    # Search, the way the SDK builds it, agrees with the stored lifecycle stages.
    from hubspot.crm.contacts import PublicObjectSearchRequest

    request = PublicObjectSearchRequest(
        filter_groups=[
            {"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "customer"}]}
        ],
        properties=["lifecyclestage"],
        limit=100,
    )
    found = client.crm.contacts.search_api.do_search(public_object_search_request=request)
    customers = {
        i for i, stage in stored(engine, HubSpotContact, "id", "lifecyclestage") if stage == "customer"
    }
    assert found.total == len(customers)
    assert {r.id for r in found.results} <= customers
