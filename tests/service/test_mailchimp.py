"""Mailchimp end to end: sandbox over loopback → connector → storage (SQLite and PostgreSQL) →
email KPIs beside HubSpot's."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from config import load_settings
from sandbox.mailchimp.activity import email_activity
from service.kpis import compute_kpis
from service.sync import build_sync
from storage.db import table_of
from storage.models import (
    MailchimpCampaign,
    MailchimpEmailClick,
    MailchimpMember,
    MailchimpReport,
    MailchimpUnsubscribe,
    Quarantine,
)
from storage.state import get_state
from tests.conftest import MAILCHIMP_KEY, FakeClock


class SandboxTime(FakeClock):
    def __init__(self, mailchimp) -> None:
        super().__init__()
        self.mailchimp = mailchimp

    def now(self) -> datetime:
        moment: datetime = self.mailchimp.state.clock.now()
        return moment


def settings_for(mailchimp, db_url, tmp_path, key=MAILCHIMP_KEY, click_days=30):
    """Settings of the Mailchimp sandbox; pages commit in this process (see `make_settings`).
    Email activity of the last month's campaigns only (the default year's are read in the tests
    of that stream: every recipient of 60 campaigns costs a second per full sync)."""
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        mailchimp={"api_key": key, "base_url": mailchimp.url, "click_activity_days": click_days},
        retry={"max_attempts": 4, "jitter_seconds": 0.0},
        storage_writer="inline",
    )


def rows(engine, model, *columns):
    table = table_of(model)
    with engine.connect() as conn:
        return conn.execute(select(*(table.c[c] for c in columns))).all()


def test_full_then_incremental_sync_copies_the_account(mailchimp, engine, db_url, tmp_path):
    settings = settings_for(mailchimp, db_url, tmp_path, click_days=365)
    clock = SandboxTime(mailchimp)
    first_sync = clock.now()
    outcomes = build_sync("mailchimp", settings, engine, clock=clock).run()
    assert [(o.stream, o.status) for o in outcomes] == [
        ("mailchimp_lists", "succeeded"),
        ("mailchimp_members", "succeeded"),
        ("mailchimp_campaigns", "succeeded"),
        ("mailchimp_reports", "succeeded"),
        ("mailchimp_email_activity", "succeeded"),
    ]
    account = mailchimp.state.account
    members = {(m["list_id"], m["id"]): m["status"] for ms in account.members.values() for m in ms}
    stored = {
        (lst, h): status
        for lst, h, status in rows(engine, MailchimpMember, "list_id", "subscriber_hash", "status")
    }
    assert stored == members
    assert len(rows(engine, MailchimpCampaign, "id")) == len(account.campaigns)
    reports = dict(rows(engine, MailchimpReport, "id", "unsubscribed"))
    assert set(reports) == set(account.reports)
    assert len(rows(engine, MailchimpUnsubscribe, "email_id")) == sum(reports.values()) > 0
    assert set(rows(engine, MailchimpEmailClick, "campaign_id", "email_id")) == clickers(mailchimp) != set()

    change = mailchimp.admin(
        "POST", "/_sandbox/simulate", json={"days": 1, "new_members": 5, "unsubscribes": 3, "send": True}
    )
    read_before = dict(mailchimp.state.counts)
    again = {o.stream: o for o in build_sync("mailchimp", settings, engine, clock=clock).run()}
    assert again["mailchimp_members"].mode == "incremental"
    assert again["mailchimp_members"].read < len(members) / 10  # only what changed (and the overlap)
    stored = {
        (lst, h): status
        for lst, h, status in rows(engine, MailchimpMember, "list_id", "subscriber_hash", "status")
    }
    assert stored == {(m["list_id"], m["id"]): m["status"] for ms in account.members.values() for m in ms}
    assert change["sent"] in dict(rows(engine, MailchimpReport, "id", "unsubscribed"))
    # Email activity: only the campaigns whose report shows a newer click are read again.
    assert again["mailchimp_email_activity"].mode == "incremental"
    # Those are the day's late clicks, the new newsletter's and those at most 5 minutes before the
    # first sync began (the frozen clock's `first_sync`): a click in that second may not have been seen.
    due = {
        cid
        for cid, r in account.reports.items()
        if r["clicks"]["unique_subscriber_clicks"]
        and r["clicks"]["last_click"] >= first_sync - timedelta(minutes=5)
    }
    assert {*account.late_clicks, change["sent"]} <= due
    read = {
        k
        for k, n in mailchimp.state.counts.items()
        if k.startswith("email-activity:") and n > read_before.get(k, 0)
    }
    assert read == {f"email-activity:{cid}" for cid in due}
    assert set(rows(engine, MailchimpEmailClick, "campaign_id", "email_id")) == clickers(mailchimp)


def clickers(mailchimp, days: int = 365) -> set[tuple[str, str]]:
    """(campaign, member) of every click in the sandbox's campaigns sent in the last `days`."""
    account, now = mailchimp.state.account, mailchimp.state.clock.now()
    return {
        (c["id"], row["email_id"])
        for c in account.campaigns
        if c["id"] in account.reports and (now - c["send_time"]).days < days
        for row in email_activity(account, c)
        if any(e["action"] == "click" for e in row["activity"])
    }


def test_a_wrong_data_centre_fails_every_stream_with_one_clear_message(mailchimp, engine, db_url, tmp_path):
    wrong = "0123456789abcdef0123456789abcdef-us9"
    outcomes = build_sync("mailchimp", settings_for(mailchimp, db_url, tmp_path, key=wrong), engine).run()
    assert {o.status for o in outcomes} == {"failed"}
    assert all("wrong datacenter" in (o.error or "") and wrong not in (o.error or "") for o in outcomes)


@pytest.mark.parametrize("basis", ["proxy_excluded", "raw"])
def test_mailchimp_reports_feed_the_email_kpis(mailchimp, engine, db_url, tmp_path, basis):
    settings = settings_for(mailchimp, db_url, tmp_path).model_copy(
        update={"kpi": load_settings(kpi={"email_open_basis": basis, "periods_back": 24}).kpi}
    )
    build_sync("mailchimp", settings, engine, clock=SandboxTime(mailchimp)).run()
    as_of = mailchimp.state.clock.now()
    result = compute_kpis(settings, engine, as_of=as_of).result
    values = [
        v
        for v in result.values
        if v.kpi == "email_open_rate" and v.dim.name == "platform" and v.dim.value == "mailchimp"
    ]
    assert values
    opens = sum(v.numerator or 0 for v in values)
    delivered = sum(v.denominator or 0 for v in values)
    periods = [v.period for v in values if v.period is not None]
    assert len(periods) == len(values)
    in_grid = [
        r
        for r in mailchimp.state.account.reports.values()
        if r["emails_sent"] > 0 and any(p.start_utc <= r["send_time"] < p.end_utc for p in periods)
    ]
    expected_delivered = sum(
        r["emails_sent"] - r["bounces"]["hard_bounces"] - r["bounces"]["soft_bounces"] for r in in_grid
    )
    key = "proxy_excluded_unique_opens" if basis == "proxy_excluded" else "unique_opens"
    expected_opens = sum(r["opens"].get(key, r["opens"]["unique_opens"]) for r in in_grid)
    assert (opens, delivered) == (expected_opens, expected_delivered)


@pytest.mark.slow
def test_audience_and_funnel_meet_by_email(mailchimp, make_sandbox, engine, db_url, tmp_path):
    """The HubSpot portal of the same people (1,500 contacts, seed 7) and its Mailchimp audience,
    both synced: the KPIs see which contacts are subscribers."""
    from tests.conftest import PORTAL_NOW

    hubspot = make_sandbox(contacts=1_500, seed=7, now=PORTAL_NOW)
    settings = settings_for(mailchimp, db_url, tmp_path).model_copy(
        update={
            "hubspot": load_settings(
                hubspot={"token": hubspot.token, "base_url": hubspot.url, "analytics_days": 90}
            ).hubspot
        }
    )
    assert all(
        o.status == "succeeded"
        for o in build_sync("hubspot", settings, engine, clock=FakeClock(hubspot)).run()
    )
    assert all(
        o.status == "succeeded"
        for o in build_sync("mailchimp", settings, engine, clock=SandboxTime(mailchimp)).run()
    )
    result = compute_kpis(settings, engine, as_of=PORTAL_NOW).result
    subscribed = {
        m["email_address"].lower()
        for ms in mailchimp.state.account.members.values()
        for m in ms
        if m["status"] == "subscribed"
    }
    live = [r["properties"] for r in hubspot.store.objects["contacts"].values() if not r["archived"]]
    crm = {p["email"].lower() for p in live}
    found = result.find("contacts_in_audience")
    assert found is not None and found.value == len(crm & subscribed) > 0
    # Of the contacts in the audience, the share at MQL or beyond now (counted by hand).
    beyond = {"marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"}
    in_audience = [p for p in live if p["email"].lower() in subscribed]
    at_mql = sum(1 for p in in_audience if p.get("lifecyclestage") in beyond)
    share = result.find("mql_share_subscribed")
    assert share is not None and (share.numerator, share.denominator) == (at_mql, len(in_audience))
    assert share.value == pytest.approx(at_mql / len(in_audience)) and 0 < at_mql < len(in_audience)
    growth = [v for v in result.values if v.kpi == "list_new_subscribers" and v.dim.name == "audience"]
    assert {v.dim.value for v in growth} >= {"Newsletter"}
    # List growth per period, counted by hand from the sandbox's members: a member joins in the
    # period of its opt-in (not while pending), leaves in the period of its last change.
    everyone = [m for ms in mailchimp.state.account.members.values() for m in ms]

    def when(member: dict[str, Any], field: str) -> datetime | None:
        value = member.get(field)
        return datetime.fromisoformat(value) if isinstance(value, str) and value else value or None

    rules: dict[str, tuple[str | None, str]] = {  # KPI → (status, date), None: any but pending
        "list_new_subscribers": (None, "timestamp_opt"),
        "list_unsubscribes": ("unsubscribed", "last_changed"),
        "list_cleaned": ("cleaned", "last_changed"),
    }
    for kpi, (status, field) in rules.items():
        rows = [v for v in result.values if v.kpi == kpi and v.dim.name == "all" and v.period]
        assert rows and sum(v.value or 0 for v in rows) > 0
        dates = [
            at
            for m in everyone
            if (m["status"] == status if status else m["status"] != "pending")
            and (at := when(m, field)) is not None
            and at <= PORTAL_NOW  # up to as_of
        ]
        for v in rows:
            assert v.period is not None
            expected = sum(1 for at in dates if v.period.start_utc <= at < v.period.end_utc)
            assert v.value == expected, (kpi, v.period)
    engaged = {
        m["email_address"].lower()
        for m in everyone
        if m["status"] == "subscribed"
        and (m["stats"].get("avg_open_rate", 0) > 0 or m["stats"].get("avg_click_rate", 0) > 0)
    }
    share = result.find("mql_share_engaged")
    at_mql = sum(1 for p in live if p["email"].lower() in engaged and p.get("lifecyclestage") in beyond)
    assert share is not None and (share.numerator, share.denominator) == (at_mql, len(crm & engaged))


def test_member_windows_follow_mailchimps_clock_not_ours(mailchimp, engine, db_url, tmp_path):
    """Here the local clock is months ahead of the sandbox's: windows on `last_changed` still end
    at Mailchimp's "now" (its Date header), so the next sync finds what changed."""
    settings = settings_for(mailchimp, db_url, tmp_path)
    build_sync("mailchimp", settings, engine).run()  # the system clock
    mailchimp.admin("POST", "/_sandbox/simulate", json={"days": 1, "new_members": 4, "unsubscribes": 2})
    again = {o.stream: o for o in build_sync("mailchimp", settings, engine).run()}
    assert again["mailchimp_members"].read >= 6
    stored = {
        (lst, h): status
        for lst, h, status in rows(engine, MailchimpMember, "list_id", "subscriber_hash", "status")
    }
    account = mailchimp.state.account
    assert stored == {(m["list_id"], m["id"]): m["status"] for ms in account.members.values() for m in ms}


def test_malformed_members_and_reports_are_quarantined_and_the_sync_goes_on(
    mailchimp, engine, db_url, tmp_path
):
    account = mailchimp.state.account
    newsletter = account.lists[0]["id"]
    first, second, third = account.members[newsletter][:3]
    first["timestamp_opt"] = "31/12/2024"  # not ISO 8601
    second["stats"] = {"avg_open_rate": 1.7, "avg_click_rate": 0.1}
    third["id"] = ""  # no id: the whole record is set aside
    report = next(iter(account.reports.values()))
    report["opens"] = {**report["opens"], "unique_opens": -3}
    outcomes = {
        o.stream: o for o in build_sync("mailchimp", settings_for(mailchimp, db_url, tmp_path), engine).run()
    }
    assert {o.status for o in outcomes.values()} == {"succeeded"}
    assert outcomes["mailchimp_members"].quarantined == 3 and outcomes["mailchimp_reports"].quarantined == 1
    found = {
        (stream, record_id, name): reason
        for stream, record_id, name, reason in rows(
            engine, Quarantine, "stream", "record_id", "field", "reason"
        )
    }
    assert found[("mailchimp_members", f"{newsletter}:{first['id']}", "timestamp_opt")]
    assert (
        "between 0 and 1"
        in found[("mailchimp_members", f"{newsletter}:{second['id']}", "stats.avg_open_rate")]
    )
    assert any(k[0] == "mailchimp_members" and k[2] == "*" for k in found)
    assert "whole number" in found[("mailchimp_reports", report["id"], "opens.unique_opens")]
    # The rest of each record is kept.
    kept = {
        i: (opt, rate)
        for i, opt, rate in rows(engine, MailchimpMember, "id", "timestamp_opt", "avg_open_rate")
    }
    assert kept[f"{newsletter}:{first['id']}"][0] is None
    assert kept[f"{newsletter}:{second['id']}"][1] is None
    assert len(kept) == sum(len(ms) for ms in account.members.values()) - 1


def test_a_failed_members_page_fails_the_run_and_the_next_run_resumes_there(
    mailchimp, engine, db_url, tmp_path
):
    settings = settings_for(mailchimp, db_url, tmp_path)
    settings = settings.model_copy(
        update={"mailchimp": settings.mailchimp.model_copy(update={"page_size": 100})}
    )
    account = mailchimp.state.account
    newsletter = account.lists[0]["id"]
    total = sum(len(ms) for ms in account.members.values())
    # The sixth page of the newsletter's members fails on every attempt (4).
    mailchimp.admin(
        "POST",
        "/_sandbox/faults",
        json={
            "faults": [
                {
                    "kind": "status",
                    "status": 503,
                    "count": 4,
                    "skip": 5,
                    "path_prefix": f"/3.0/lists/{newsletter}/members",
                }
            ]
        },
    )
    clock = SandboxTime(mailchimp)
    first = {o.stream: o for o in build_sync("mailchimp", settings, engine, clock=clock).run()}
    assert first["mailchimp_members"].status == "failed"
    assert "503" in (first["mailchimp_members"].error or "")
    assert {first[s].status for s in first if s != "mailchimp_members"} == {"succeeded"}
    state = get_state(engine, connection="default", source="mailchimp", stream="mailchimp_members")
    assert state["resume"]["lists"][newsletter]["all"]  # how far the first window got
    assert len(rows(engine, MailchimpMember, "id")) == 500

    again = {
        o.stream: o
        for o in build_sync("mailchimp", settings, engine, clock=clock).run(streams=["mailchimp_members"])
    }
    assert again["mailchimp_members"].status == "succeeded"
    # Only what the failed run had not committed (plus the second it resumed from) is read again.
    assert again["mailchimp_members"].read <= total - 500 + 10
    stored = {
        (lst, h): status
        for lst, h, status in rows(engine, MailchimpMember, "list_id", "subscriber_hash", "status")
    }
    assert stored == {(m["list_id"], m["id"]): m["status"] for ms in account.members.values() for m in ms}
    state = get_state(engine, connection="default", source="mailchimp", stream="mailchimp_members")
    assert state["resume"] is None and set(state["lists"]) == {a["id"] for a in account.lists}


@pytest.mark.parametrize("token", ["sandbox-mailchimp-oauth", "revoked-token"])
def test_an_oauth_token_finds_its_account_and_syncs(mailchimp, engine, db_url, tmp_path, token):
    """No base URL configured: the metadata endpoint says where the token's account lives."""
    settings = load_settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        mailchimp={"access_token": token, "metadata_url": f"{mailchimp.server.url}/oauth2/metadata"},
        storage_writer="inline",
    )
    outcomes = build_sync("mailchimp", settings, engine, clock=SandboxTime(mailchimp)).run()
    if token == "revoked-token":
        # Reported once: the first stream fails naming the setting, the others point at it.
        assert [o.status for o in outcomes] == ["failed"] + ["skipped"] * (len(outcomes) - 1)
        assert "ACCESS_TOKEN" in (outcomes[0].error or "")
        assert all(token not in (o.error or "") for o in outcomes)
        return
    assert {o.status for o in outcomes} == {"succeeded"}
    members = sum(len(ms) for ms in mailchimp.state.account.members.values())
    assert len(rows(engine, MailchimpMember, "id")) == members


def _first_clicked_campaign(mailchimp, days: int = 30) -> dict[str, Any]:
    """The first campaign (in the stream's order) with clicks, and its recipients."""
    wanted = {cid for cid, _ in clickers(mailchimp, days)}
    account = mailchimp.state.account
    campaign = next(c for c in account.campaigns if c["id"] in wanted)
    return {"id": campaign["id"], "recipients": len(email_activity(account, campaign))}


def test_email_activity_unavailable_degrades_and_the_rest_syncs(mailchimp, engine, db_url, tmp_path):
    """A key that may not read email activity (403): the stream is unavailable, the run succeeds."""
    campaign = _first_clicked_campaign(mailchimp)
    fault = {
        "kind": "status",
        "status": 403,
        "count": 1_000,
        "path_prefix": f"/3.0/reports/{campaign['id']}/email-activity",
    }
    mailchimp.admin("POST", "/_sandbox/faults", json={"faults": [fault]})
    outcomes = build_sync(
        "mailchimp", settings_for(mailchimp, db_url, tmp_path, click_days=365), engine
    ).run()
    status = {o.stream: o.status for o in outcomes}
    assert status.pop("mailchimp_email_activity") == "unavailable"
    assert set(status.values()) == {"succeeded"}
    assert not any(o.fails_run for o in outcomes)


def test_a_failed_email_activity_page_resumes_at_its_offset(mailchimp, engine, db_url, tmp_path):
    settings = settings_for(mailchimp, db_url, tmp_path)
    settings = settings.model_copy(
        update={"mailchimp": settings.mailchimp.model_copy(update={"page_size": 100})}
    )
    campaign = _first_clicked_campaign(mailchimp)
    assert campaign["recipients"] > 300
    path = f"/3.0/reports/{campaign['id']}/email-activity"
    # The campaign's third page fails on every attempt (4).
    fault = {"kind": "status", "status": 503, "count": 4, "skip": 2, "path_prefix": path}
    mailchimp.admin("POST", "/_sandbox/faults", json={"faults": [fault]})
    clock = SandboxTime(mailchimp)
    first = {o.stream: o for o in build_sync("mailchimp", settings, engine, clock=clock).run()}
    assert first["mailchimp_email_activity"].status == "failed"
    state = get_state(engine, connection="default", source="mailchimp", stream="mailchimp_email_activity")
    assert state["resume"] == {"campaign": campaign["id"], "offset": 200}
    key = f"email-activity:{campaign['id']}"
    before = mailchimp.state.counts[key]
    again = build_sync("mailchimp", settings, engine, clock=clock).run(streams=["mailchimp_email_activity"])
    assert [o.status for o in again] == ["succeeded"]
    # The campaign is read on from the third page, the others whole.
    assert mailchimp.state.counts[key] - before == -(-(campaign["recipients"] - 200) // 100)
    assert set(rows(engine, MailchimpEmailClick, "campaign_id", "email_id")) == clickers(mailchimp, 30)
    state = get_state(engine, connection="default", source="mailchimp", stream="mailchimp_email_activity")
    assert state["resume"] is None and campaign["id"] in state["campaigns"]
