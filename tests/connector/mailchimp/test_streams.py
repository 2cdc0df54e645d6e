"""Mailchimp streams page through the sandbox over loopback; no database involved."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import SecretStr

from config import MailchimpSettings, RetrySettings
from connector.mailchimp.auth import resolve_base_url
from connector.mailchimp.client import MailchimpClient
from connector.mailchimp.source import MailchimpSource
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
