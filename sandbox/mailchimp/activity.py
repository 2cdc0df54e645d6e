"""Per-recipient email activity of a sent campaign (`GET /reports/{id}/email-activity`),
consistent with its report: one row per recipient (Mailchimp lists those without activity too),
`unique_opens` members who opened, `unique_subscriber_clicks` of them who clicked (a click or
two, none after the report's `last_click`), the report's hard and soft bounces.

Rows are derived, not stored: each campaign's own random stream (seeded by its id) orders its
recipients, so the same members open and click on every request, and a simulated day's new
clickers (`late_click`) are the next ones in that order, clicking at the time the day gave them.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sandbox.mailchimp.data import Account

LINKS = (
    "https://sandbox.example/guide",
    "https://sandbox.example/webinar",
    "https://sandbox.example/pricing",
    "https://sandbox.example/blog/funnel-metrics",
)


def late_click(account: Account, campaign_id: str, at: datetime) -> None:
    """A member who had not clicked clicks the campaign at `at` (its report has counted them)."""
    report = account.reports[campaign_id]
    account.first_last_click.setdefault(campaign_id, report["clicks"]["last_click"])
    account.late_clicks.setdefault(campaign_id, []).append(at)
    report["clicks"]["last_click"] = max(report["clicks"]["last_click"], at)


def email_activity(account: Account, campaign: dict[str, Any]) -> list[dict[str, Any]]:
    """Every recipient of a sent campaign with its activity, in Mailchimp's shape."""
    report = account.reports[campaign["id"]]
    send: datetime = campaign["send_time"]
    list_id = campaign["recipients"]["list_id"]
    rng = random.Random(f"activity:{campaign['id']}")
    joined = [
        m
        for m in account.members.get(list_id, [])
        if isinstance(m["timestamp_opt"], datetime) and m["timestamp_opt"] <= send and m["id"]
    ]
    recipients = rng.sample(joined, min(len(joined), int(report["emails_sent"])))
    clicks, opens, bounces = report["clicks"], report["opens"], report["bounces"]
    late = account.late_clicks.get(campaign["id"], [])
    first_clickers = max(clicks["unique_subscriber_clicks"] - len(late), 0)
    last_click: datetime = account.first_last_click.get(campaign["id"], clicks["last_click"])
    hard, soft = bounces["hard_bounces"], bounces["soft_bounces"]
    rows = []
    for i, member in enumerate(recipients):
        activity: list[dict[str, Any]] = []
        ip = f"198.51.100.{rng.randint(1, 254)}"
        if i >= len(recipients) - hard - soft:
            kind = "hard" if i >= len(recipients) - hard else "soft"
            activity.append(_event("bounce", send + timedelta(minutes=rng.uniform(1, 30)), ip, type=kind))
        elif i < opens["unique_opens"]:
            opened = send + (last_click - send) * rng.uniform(0.0, 0.5)
            activity.append(_event("open", opened, ip))
            if i < first_clickers:
                times = [opened + (last_click - opened) * rng.uniform(0.01, 1.0)]
                if i == 0:
                    times = [last_click]
                elif rng.random() < 0.3:
                    times.append(opened + (last_click - opened) * rng.uniform(0.01, 1.0))
                activity += [_event("click", t, ip, url=rng.choice(LINKS)) for t in sorted(times)]
            elif i < first_clickers + len(late):
                activity.append(_event("click", late[i - first_clickers], ip, url=LINKS[0]))
        rows.append(
            {
                "campaign_id": campaign["id"],
                "list_id": list_id,
                "list_is_active": True,
                "email_id": member["id"],
                "email_address": member["email_address"],
                "activity": sorted(activity, key=lambda e: e["timestamp"]),
                "_links": [],
            }
        )
    return rows


def _event(action: str, at: datetime, ip: str, **extra: str) -> dict[str, Any]:
    return {"action": action, **extra, "timestamp": at, "ip": ip}
