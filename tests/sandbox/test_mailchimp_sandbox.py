"""The Mailchimp sandbox over real loopback HTTP: Mailchimp's paths, paging, fields, errors, auth,
the 10-connection limit, and an audience that overlaps the HubSpot sandbox's contacts."""

from __future__ import annotations

import threading
import time

import pytest

from sandbox.hubspot.data import GeneratorOptions
from sandbox.hubspot.generator import generate_portal
from sandbox.mailchimp.data import MPP_EXCLUSION_START, subscriber_hash
from tests.conftest import PORTAL_NOW


@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_ping_with_either_auth_form(mailchimp, scheme):
    with mailchimp.client(scheme=scheme) as api:
        assert api.get("/ping").json() == {"health_status": "Everything's Chimpy!"}


@pytest.mark.parametrize(
    ("key", "title"),
    [("0123456789abcdef0123456789abcdef-us9", "API Key Invalid"), ("", "API Key Missing")],
)
def test_wrong_data_centre_or_no_key_is_problem_json_401(mailchimp, key, title):
    with mailchimp.client(key=key, scheme="bearer") as api:
        response = api.get("/lists")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "instance"}
    assert body["title"] == title and body["status"] == 401
    assert response.headers["x-request-id"] == body["instance"]


def test_members_page_by_count_and_offset_with_total_items(mailchimp):
    list_id = mailchimp.state.account.lists[0]["id"]
    everyone = [m for m in mailchimp.state.account.members[list_id] if m["status"] != "archived"]
    seen: list[str] = []
    with mailchimp.client() as api:
        offset = 0
        while True:
            body = api.get(f"/lists/{list_id}/members", params={"count": 400, "offset": offset}).json()
            assert body["total_items"] == len(everyone) and body["list_id"] == list_id
            seen.extend(m["id"] for m in body["members"])
            offset += 400
            if offset >= body["total_items"]:
                break
        assert len(api.get(f"/lists/{list_id}/members", params={"count": 5000}).json()["members"]) == min(
            1000, len(everyone)
        )  # larger counts are clamped to 1000
        archived = api.get(f"/lists/{list_id}/members", params={"status": "archived", "count": 1000}).json()
    assert seen == [m["id"] for m in everyone]
    assert archived["members"] and all(m["status"] == "archived" for m in archived["members"])
    member = everyone[0]
    assert member["id"] == subscriber_hash(member["email_address"])


def test_members_since_last_changed_sorted(mailchimp):
    list_id = mailchimp.state.account.lists[0]["id"]
    with mailchimp.client() as api:
        body = api.get(
            f"/lists/{list_id}/members",
            params={
                "since_last_changed": "2026-03-01T00:00:00+00:00",
                "sort_field": "last_changed",
                "sort_dir": "ASC",
                "count": 1000,
            },
        ).json()
        bad = api.get(f"/lists/{list_id}/members", params={"unsubscribed_since": "2026-01-01T00:00:00+00:00"})
    changed = [m["last_changed"] for m in body["members"]]
    assert changed and changed == sorted(changed) and all(c >= "2026-03-01T00:00:00+00:00" for c in changed)
    assert bad.status_code == 400 and bad.json()["title"] == "Invalid Resource"


def test_fields_trim_the_answer(mailchimp):
    list_id = mailchimp.state.account.lists[0]["id"]
    with mailchimp.client() as api:
        body = api.get(
            f"/lists/{list_id}/members",
            params={"fields": "members.id,members.status,total_items", "count": 3},
        ).json()
        rest = api.get(
            "/campaigns", params={"exclude_fields": "campaigns.tracking,_links", "count": 2}
        ).json()
    assert set(body) == {"members", "total_items"}
    assert len(body["members"]) == 3 and all(set(m) == {"id", "status"} for m in body["members"])
    assert "_links" not in rest and rest["campaigns"] and all("tracking" not in c for c in rest["campaigns"])


def test_audience_overlaps_the_hubspot_contacts_by_email(mailchimp):
    portal = generate_portal(GeneratorOptions(contacts=1_500, seed=7, now=PORTAL_NOW))
    crm = {r["properties"]["email"] for r in portal.contacts}
    list_id = mailchimp.state.account.lists[0]["id"]
    members = {m["email_address"] for m in mailchimp.state.account.members[list_id]}
    shared = members & crm
    assert 0.6 * len(crm) < len(shared) < 0.8 * len(crm)
    assert members - crm  # and readers the CRM does not know


def test_reports_are_consistent_with_their_campaigns(mailchimp):
    with mailchimp.client() as api:
        campaigns = api.get("/campaigns", params={"status": "sent", "count": 1000}).json()["campaigns"]
        reports = {r["id"]: r for r in api.get("/reports", params={"count": 1000}).json()["reports"]}
        drafts = api.get("/campaigns", params={"status": "save"}).json()["campaigns"]
    assert campaigns and set(reports) == {c["id"] for c in campaigns}
    assert drafts and all(d["send_time"] == "" and "report_summary" not in d for d in drafts)
    mpp = 0
    for campaign in campaigns:
        report = reports[campaign["id"]]
        bounces = report["bounces"]["hard_bounces"] + report["bounces"]["soft_bounces"]
        delivered = report["emails_sent"] - bounces
        assert report["opens"]["open_rate"] == pytest.approx(report["opens"]["unique_opens"] / delivered)
        clicks = report["clicks"]
        assert clicks["click_rate"] == pytest.approx(clicks["unique_subscriber_clicks"] / delivered)
        assert clicks["unique_subscriber_clicks"] <= report["opens"]["unique_opens"]
        assert campaign["report_summary"]["subscriber_clicks"] == clicks["unique_subscriber_clicks"]
        if report["send_time"] >= MPP_EXCLUSION_START.isoformat():
            mpp += 1
            assert report["opens"]["proxy_excluded_unique_opens"] <= report["opens"]["unique_opens"]
        else:
            assert "proxy_excluded_unique_opens" not in report["opens"]
    assert mpp > 0
    # Unsubscribes per campaign are the members who left through it.
    left = sum(r["unsubscribed"] for r in reports.values())
    with mailchimp.client() as api:
        listed = sum(
            api.get(f"/reports/{cid}/unsubscribed", params={"count": 1000}).json()["total_items"]
            for cid in reports
        )
    assert left == listed > 0


def test_more_than_ten_simultaneous_requests_get_429(mailchimp):
    """Ten requests held in flight: the next ones are refused at once; the ten are then served."""
    mailchimp.admin(
        "POST",
        "/_sandbox/faults",
        json={"faults": [{"kind": "hold", "count": 10, "path_prefix": "/3.0/ping"}]},
    )
    codes: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        with mailchimp.client() as api:
            response = api.get("/ping")
        with lock:
            codes.append(response.status_code)

    held = [threading.Thread(target=call) for _ in range(10)]
    for thread in held:
        thread.start()
    deadline = time.monotonic() + 30
    while mailchimp.stats().get("fault:hold", 0) < 10:
        assert time.monotonic() < deadline, "the ten requests were not all held"
        time.sleep(0.02)
    with mailchimp.client() as api:
        refused = [api.get("/ping") for _ in range(4)]
    assert [r.status_code for r in refused] == [429] * 4
    assert refused[0].json()["detail"] == "You have exceeded the limit of 10 simultaneous connections."
    mailchimp.admin("POST", "/_sandbox/release")
    for thread in held:
        thread.join()
    assert codes == [200] * 10
    with mailchimp.client() as api:
        assert api.get("/ping").status_code == 200  # slots free again


def test_faults_and_an_html_502(mailchimp):
    mailchimp.admin(
        "POST", "/_sandbox/faults", json={"faults": [{"kind": "status", "status": 502, "body": "html"}]}
    )
    with mailchimp.client() as api:
        first = api.get("/lists")
        second = api.get("/lists")
    assert first.status_code == 502 and first.headers["content-type"].startswith("text/html")
    assert second.status_code == 200


def test_time_moves_and_the_audience_changes(mailchimp):
    list_id = mailchimp.state.account.lists[0]["id"]
    before = mailchimp.admin("GET", "/_sandbox/clock")["now"]
    change = mailchimp.admin(
        "POST", "/_sandbox/simulate", json={"days": 1, "new_members": 5, "unsubscribes": 3, "send": True}
    )
    with mailchimp.client() as api:
        fresh = api.get(
            f"/lists/{list_id}/members", params={"since_last_changed": before, "count": 1000}
        ).json()["members"]
        report = api.get(f"/reports/{change['sent']}").json()
    assert len(fresh) == 8
    assert sum(m["status"] == "unsubscribed" for m in fresh) == 3
    assert report["emails_sent"] > 0
