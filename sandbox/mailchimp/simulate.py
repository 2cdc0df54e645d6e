"""Simulated audience activity: time passes, people join, leave through the latest campaign,
edit their details, are archived or cleaned, reports keep counting, a newsletter may go out."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sandbox.mailchimp.activity import late_click
from sandbox.mailchimp.data import (
    HexIds,
    Person,
    attribute_unsubscribe,
    campaign_report,
    grow_report,
    last_campaign_before,
    list_stats,
    mc_time,
    new_member,
)
from sandbox.mailchimp.state import MailchimpState


def touch_members(state: MailchimpState, list_id: str, count: int) -> None:
    """Someone edits members of the list right now (the `modify` fault, after a page is served):
    their `last_changed` moves past the reader's window and the offsets of later pages shift."""
    members = [m for m in state.account.members.get(list_id, []) if m["status"] != "archived"]
    now = state.clock.now()
    for member in state.rng.sample(members, min(count, len(members))):
        member["merge_fields"] = {**member["merge_fields"], "LNAME": f"Touched{state.rng.randrange(10_000)}"}
        member["last_changed"] = now
    state.version += 1


def simulate(
    state: MailchimpState,
    *,
    days: float = 1.0,
    new_members: int = 0,
    unsubscribes: int = 0,
    edits: int = 0,
    archive: int = 0,
    clean: int = 0,
    send: bool = False,
) -> dict[str, Any]:
    """Advance the clock by `days`; people join, some leave (through the list's latest campaign,
    which its report counts), some edit their details, are archived or bounce for good (every
    such change moves `last_changed`), recent reports gain opens and clicks, and optionally the
    newsletter goes out with a fresh report."""
    account, rng = state.account, state.rng
    state.version += 1
    start = state.clock.now()
    end = state.clock.advance(days * 86_400)
    span = (end - start).total_seconds()

    def during() -> datetime:
        return start + timedelta(seconds=rng.uniform(0, span * 0.98))

    newsletter = account.lists[0]["id"]
    members = account.members[newsletter]
    ids = HexIds(rng)
    for n in range(new_members):
        joined = during()
        person = Person(f"new{len(members)}.{n}@inbox.example", "New", "Reader", joined)
        member = new_member(person, newsletter, end, rng, ids)
        member.update(status="subscribed", last_changed=joined, unsubscribe_reason=None)
        members.append(member)
    for campaign_id, report in account.reports.items():
        if end - report["send_time"] <= timedelta(days=30):
            # Their times come from a stream of their own, so the day's other draws stay as they were.
            times = random.Random(f"late:{campaign_id}:{mc_time(end)}")
            for at in sorted(
                start + timedelta(seconds=times.uniform(0, span * 0.98))
                for _ in range(grow_report(report, rng))
            ):
                late_click(account, campaign_id, at)
    leaving = rng.sample([m for m in members if m["status"] == "subscribed"], unsubscribes)
    for member in leaving:
        member.update(status="unsubscribed", last_changed=during(), unsubscribe_reason=None)
        via = last_campaign_before(account, newsletter, member["last_changed"])
        if via is not None:
            attribute_unsubscribe(account, member, via, rng)
    _edit_and_remove(state, during, edits=edits, archive=archive, clean=clean)
    sent_id = _send_newsletter(state, newsletter, end, ids) if send else None
    for listing in account.lists:
        list_stats(listing, account)
    return {
        "from": mc_time(start),
        "to": mc_time(end),
        "joined": new_members,
        "left": len(leaving),
        "sent": sent_id,
    }


def _edit_and_remove(
    state: MailchimpState, during: Callable[[], datetime], *, edits: int, archive: int, clean: int
) -> None:
    """Members of any audience edit their details; others are archived or cleaned."""
    rng = state.rng
    everyone = [m for ms in state.account.members.values() for m in ms]
    for member in rng.sample(everyone, min(edits, len(everyone))):
        member["merge_fields"] = {**member["merge_fields"], "LNAME": f"Edited{rng.randrange(10_000)}"}
        member["last_changed"] = during()
    live = [m for m in everyone if m["status"] != "archived"]
    for status, count in (("archived", archive), ("cleaned", clean)):
        for member in rng.sample(live, min(count, len(live))):
            member.update(status=status, last_changed=during())
            live.remove(member)


def _send_newsletter(state: MailchimpState, newsletter: str, end: datetime, ids: HexIds) -> str:
    """The newsletter goes out an hour before `end` to its subscribers, with a fresh report."""
    account, rng = state.account, state.rng
    recipients = sum(1 for m in account.members[newsletter] if m["status"] == "subscribed")
    campaign: dict[str, Any] = {
        "id": ids.hex(10),
        "web_id": rng.randint(1_000_000, 9_999_999),
        "type": "regular",
        "create_time": end - timedelta(hours=2),
        "status": "sent",
        "emails_sent": recipients,
        "send_time": end - timedelta(hours=1),
        "content_type": "template",
        "recipients": {"list_id": newsletter, "list_is_active": True, "recipient_count": recipients},
        "settings": {"subject_line": "News", "title": f"Newsletter {end:%Y-%m-%d}"},
        "tracking": {"opens": True, "html_clicks": True, "text_clicks": False},
    }
    account.campaigns.append(campaign)
    account.reports[campaign["id"]] = campaign_report(campaign, rng, end)
    return str(campaign["id"])
