"""Mailchimp's email activity parser: one row per member who clicked, bad values quarantined."""

from __future__ import annotations

from datetime import UTC, datetime

from connector.mailchimp.normalize import normalize_email_activity


def row(email_id="h1", **changes):
    base = {
        "campaign_id": "c1",
        "list_id": "l1",
        "email_id": email_id,
        "email_address": " Ada@Example.com ",
        "activity": [
            {"action": "open", "timestamp": "2025-02-03T08:00:00+00:00", "ip": "198.51.100.1"},
            {"action": "click", "timestamp": "2025-02-04T09:00:00+00:00", "url": "https://b.example"},
            {"action": "click", "timestamp": "2025-02-03T09:00:00+00:00", "url": "https://a.example"},
        ],
    }
    return {**base, **changes}


def test_a_member_who_clicked_is_one_row_with_first_and_last_click():
    out = normalize_email_activity([row()])
    assert out.issues == [] and len(out.entities) == 1
    entity = out.entities[0]
    assert entity["id"] == "c1:h1" and entity["email_address"] == "ada@example.com"
    assert entity["first_click_at"] == datetime(2025, 2, 3, 9, tzinfo=UTC)
    assert entity["last_click_at"] == datetime(2025, 2, 4, 9, tzinfo=UTC)
    assert (entity["clicks"], entity["first_url"]) == (2, "https://a.example")


def test_opens_alone_make_no_row_and_bad_records_are_quarantined():
    opened = row("h2", activity=[{"action": "open", "timestamp": "2025-02-03T08:00:00+00:00"}])
    bad_time = row("h3", activity=[{"action": "click", "timestamp": "03/02/2025"}, "junk"])
    no_id = row("")
    out = normalize_email_activity([opened, bad_time, no_id, "junk"])
    assert out.entities == []
    assert out.rejected == 2
    reasons = {(i.record_id, i.field): i.reason for i in out.issues}
    assert ("c1:h3", "timestamp") in reasons
    assert sum(1 for i in out.issues if "without campaign_id or email_id" in i.reason) == 2
