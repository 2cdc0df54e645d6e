"""Mailchimp streams page through the sandbox over loopback; no database involved."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import SecretStr

from config import MailchimpSettings, RetrySettings
from connector.mailchimp.auth import resolve_base_url
from connector.mailchimp.client import MailchimpClient
from connector.mailchimp.source import MailchimpSource
from sandbox.mailchimp.activity import email_activity
from tests.conftest import MAILCHIMP_KEY, FakeClock


def setup(mailchimp, **options):
    settings = MailchimpSettings(api_key=SecretStr(MAILCHIMP_KEY), base_url=mailchimp.url, **options)
    base_url, auth = resolve_base_url(settings)

    class SandboxTime(FakeClock):
        def now(self) -> datetime:
            moment: datetime = mailchimp.state.clock.now()
            return moment

    client = MailchimpClient(
        settings, base_url=base_url, auth=auth, retry=RetrySettings(), clock=SandboxTime()
    )
    return client, {t.name: t(settings) for t in MailchimpSource.stream_types}


def collect(pages):
    records, checkpoints = [], []
    for page in pages:
        records.extend(page.records)
        checkpoints.append(page.checkpoint)
    return records, checkpoints


def test_members_of_every_audience_archived_included_past_1000(mailchimp):
    client, streams = setup(mailchimp)
    with client:
        records, checkpoints = collect(streams["mailchimp_members"].pages(client, {}, full=True))
    expected = {(m["list_id"], m["id"]) for ms in mailchimp.state.account.members.values() for m in ms}
    assert {(m["list_id"], m["id"]) for m in records} == expected
    assert len(mailchimp.state.account.members[mailchimp.state.account.lists[0]["id"]]) > 1000
    assert any(m["status"] == "archived" for m in records)
    assert set(checkpoints[-1]["lists"]) == {a["id"] for a in mailchimp.state.account.lists}


def test_incremental_members_are_the_ones_that_changed(mailchimp):
    client, streams = setup(mailchimp)
    stream = streams["mailchimp_members"]
    with client:
        _, checkpoints = collect(stream.pages(client, {}, full=True))
        state = checkpoints[-1]
        change = mailchimp.admin(
            "POST", "/_sandbox/simulate", json={"days": 1, "new_members": 6, "unsubscribes": 4}
        )
        records, _ = collect(stream.pages(client, state, full=False))
    start = datetime.fromisoformat(change["from"])
    changed = {
        m["id"] for ms in mailchimp.state.account.members.values() for m in ms if m["last_changed"] > start
    }
    assert len(changed) == 10
    got = {m["id"] for m in records}
    assert changed <= got
    overlap = start - timedelta(minutes=5)
    assert all(datetime.fromisoformat(m["last_changed"]) >= overlap for m in records)


def test_reports_carry_their_unsubscribes_and_later_syncs_read_recent_ones(mailchimp):
    client, streams = setup(mailchimp, report_window_days=30, older_reports_days=7)
    stream = streams["mailchimp_reports"]
    with client:
        records, checkpoints = collect(stream.pages(client, {}, full=True))
        assert len(records) == len(mailchimp.state.account.reports)
        for report in records:
            assert len(report.get("unsubscribes", [])) == report["unsubscribed"]
            assert "timeseries" not in report and "_links" not in report
        mailchimp.admin("POST", "/_sandbox/clock", json={"advance_seconds": 86_400})
        recent, _ = collect(stream.pages(client, checkpoints[-1], full=False))
        now = mailchimp.state.clock.now()
        expected = {
            r["id"]
            for r in mailchimp.state.account.reports.values()
            if r["send_time"] >= now - timedelta(days=30)
        }
        assert {r["id"] for r in recent} == expected and 0 < len(expected) < len(records)
        mailchimp.admin("POST", "/_sandbox/clock", json={"advance_seconds": 7 * 86_400})
        again, _ = collect(stream.pages(client, checkpoints[-1], full=False))
    assert len(again) == len(records)  # a week after the last full read: all of them again


def test_lists_and_campaigns_are_read_whole(mailchimp):
    client, streams = setup(mailchimp)
    with client:
        lists, _ = collect(streams["mailchimp_lists"].pages(client, {}, full=False))
        campaigns, _ = collect(streams["mailchimp_campaigns"].pages(client, {}, full=False))
    assert {a["id"] for a in lists} == {a["id"] for a in mailchimp.state.account.lists}
    assert len(campaigns) == len(mailchimp.state.account.campaigns)
    assert all("_links" not in c for c in campaigns)


def _clicked(account, campaign, since) -> set[tuple[str, str]]:
    return {
        (campaign["id"], row["email_id"])
        for row in email_activity(account, campaign)
        if campaign["send_time"] >= since and any(e["action"] == "click" for e in row["activity"])
    }


@pytest.mark.parametrize("days", [90, 0])
def test_email_activity_brings_who_clicked_recent_campaigns(mailchimp, days):
    """Only members who clicked, of campaigns sent in the last `click_activity_days`; 0: nothing
    is read and the state stays."""
    client, streams = setup(mailchimp, click_activity_days=days)
    account = mailchimp.state.account
    before = sum(n for k, n in mailchimp.state.counts.items() if k.startswith("email-activity:"))
    with client:
        records, checkpoints = collect(streams["mailchimp_email_activity"].pages(client, {"x": 1}, full=True))
    since = mailchimp.state.clock.now() - timedelta(days=days)
    expected = {
        k for c in account.campaigns if c["id"] in account.reports for k in _clicked(account, c, since)
    }
    assert {(r["campaign_id"], r["email_id"]) for r in records} == (expected if days else set())
    assert all(any(e["action"] == "click" for e in r["activity"]) for r in records)
    read = sum(n for k, n in mailchimp.state.counts.items() if k.startswith("email-activity:")) - before
    if days:
        assert set(checkpoints[-1]["campaigns"]) == {cid for cid, _ in expected} and read > 0
    else:
        assert checkpoints == [{"x": 1}] and read == 0
