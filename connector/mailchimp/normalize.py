"""Pure parsers for Mailchimp records: raw JSON in, typed rows and data-quality issues out.

Mailchimp sends `""` for a time that was never set; that is "no value", not a bad one. Counters
are kept as Mailchimp reports them (never recomputed); one that is not a whole number >= 0 is
quarantined and the rest of the record kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from connector.records import Fields, Issue, Normalized, raw_text, record_key


def _time(f: Fields, record: dict[str, Any], name: str) -> datetime | None:
    return None if record.get(name) == "" else f.timestamp(record, name)


def _count(f: Fields, block: Any, name: str, label: str) -> int | None:
    value = block.get(name) if isinstance(block, dict) else None
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    f.flag(label, value, "counter is not a whole number >= 0")
    return None


def _rate(f: Fields, block: Any, name: str) -> float | None:
    value = block.get(name) if isinstance(block, dict) else None
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    f.flag(f"stats.{name}", value, "rate is not a number between 0 and 1")
    return None


def _checked(record: Any, out: Normalized, what: str) -> str | None:
    """The record's id, or None after rejecting it whole."""
    if isinstance(record, dict) and isinstance(record.get("id"), str) and record["id"].strip():
        return str(record["id"]).strip()
    out.issues.append(Issue(record_key(record), "*", raw_text(record), f"{what} without an id"))
    out.rejected += 1
    return None


def normalize_lists(records: Iterable[Any]) -> Normalized:
    out = Normalized()
    for record in records:
        if (record_id := _checked(record, out, "audience")) is None:
            continue
        f = Fields(record_id, out.issues)
        stats = record.get("stats")
        out.entities.append(
            {
                "id": record_id,
                "name": f.text(record, "name"),
                "date_created": _time(f, record, "date_created"),
                "member_count": _count(f, stats, "member_count", "stats.member_count"),
                "unsubscribe_count": _count(f, stats, "unsubscribe_count", "stats.unsubscribe_count"),
                "cleaned_count": _count(f, stats, "cleaned_count", "stats.cleaned_count"),
                "archived": False,
                "raw": record,
            }
        )
    return out


def normalize_members(records: Iterable[Any]) -> Normalized:
    out = Normalized()
    for record in records:
        if (subscriber := _checked(record, out, "member")) is None:
            continue
        list_id = str(record.get("list_id") or "")
        f = Fields(f"{list_id}:{subscriber}", out.issues)
        if not list_id:
            f.flag("list_id", None, "member without list_id")
        tags = record.get("tags") if isinstance(record.get("tags"), list) else []
        names = [str(t.get("name")) for t in tags if isinstance(t, dict) and t.get("name")]
        out.entities.append(
            {
                "id": f.record_id,
                "list_id": list_id,
                "subscriber_hash": subscriber,
                "email_address": f.text(record, "email_address"),
                "status": f.text(record, "status"),
                "source": f.text(record, "source"),
                "timestamp_signup": _time(f, record, "timestamp_signup"),
                "timestamp_opt": _time(f, record, "timestamp_opt"),
                "last_changed": _time(f, record, "last_changed"),
                "member_rating": _count(f, record, "member_rating", "member_rating"),
                "avg_open_rate": _rate(f, record.get("stats"), "avg_open_rate"),
                "avg_click_rate": _rate(f, record.get("stats"), "avg_click_rate"),
                "tags": ";".join(names) or None,
                "archived": record.get("status") == "archived",
                "raw": record,
            }
        )
    return out


def normalize_campaigns(records: Iterable[Any]) -> Normalized:
    out = Normalized()
    for record in records:
        if (record_id := _checked(record, out, "campaign")) is None:
            continue
        f = Fields(record_id, out.issues)
        recipients = record.get("recipients") if isinstance(record.get("recipients"), dict) else {}
        settings = record.get("settings") if isinstance(record.get("settings"), dict) else {}
        out.entities.append(
            {
                "id": record_id,
                "list_id": f.text(recipients, "list_id"),
                "type": f.text(record, "type"),
                "status": f.text(record, "status"),
                "title": f.text(settings, "title"),
                "subject_line": f.text(settings, "subject_line"),
                "create_time": _time(f, record, "create_time"),
                "send_time": _time(f, record, "send_time"),
                "emails_sent": _count(f, record, "emails_sent", "emails_sent"),
                "archived": False,
                "raw": record,
            }
        )
    return out


def normalize_reports(records: Iterable[Any]) -> Normalized:
    """Reports; the unsubscribes the stream attached become child rows of their campaign."""
    out = Normalized()
    for record in records:
        if (record_id := _checked(record, out, "report")) is None:
            continue
        f = Fields(record_id, out.issues)
        bounces, opens, clicks = (record.get(k) for k in ("bounces", "opens", "clicks"))
        unsubscribes = record.get("unsubscribes")
        raw = {k: v for k, v in record.items() if k != "unsubscribes"}
        out.entities.append(
            {
                "id": record_id,
                "list_id": f.text(record, "list_id"),
                "type": f.text(record, "type"),
                "send_time": _time(f, record, "send_time"),
                "emails_sent": _count(f, record, "emails_sent", "emails_sent"),
                "hard_bounces": _count(f, bounces, "hard_bounces", "bounces.hard_bounces"),
                "soft_bounces": _count(f, bounces, "soft_bounces", "bounces.soft_bounces"),
                "syntax_errors": _count(f, bounces, "syntax_errors", "bounces.syntax_errors"),
                "opens_total": _count(f, opens, "opens_total", "opens.opens_total"),
                "unique_opens": _count(f, opens, "unique_opens", "opens.unique_opens"),
                "proxy_excluded_unique_opens": _count(
                    f, opens, "proxy_excluded_unique_opens", "opens.proxy_excluded_unique_opens"
                ),
                "clicks_total": _count(f, clicks, "clicks_total", "clicks.clicks_total"),
                "unique_subscriber_clicks": _count(
                    f, clicks, "unique_subscriber_clicks", "clicks.unique_subscriber_clicks"
                ),
                "unsubscribed": _count(f, record, "unsubscribed", "unsubscribed"),
                "abuse_reports": _count(f, record, "abuse_reports", "abuse_reports"),
                "archived": False,
                "raw": raw,
            }
        )
        for row in unsubscribes if isinstance(unsubscribes, list) else []:
            if not isinstance(row, dict) or not row.get("email_id"):
                f.flag("unsubscribes", raw_text(row), "unsubscribe without email_id")
                continue
            out.children.append(
                {
                    "campaign_id": record_id,
                    "email_id": str(row["email_id"]),
                    "email_address": f.text(row, "email_address"),
                    "timestamp": _time(f, row, "timestamp"),
                    "reason": f.text(row, "reason"),
                }
            )
    return out


def normalize_email_activity(records: Iterable[Any]) -> Normalized:
    """One row per member who clicked a campaign: the first and last click, how many, the first
    link. A record states all of the member's activity in that campaign (read without `since`),
    so its row replaces the stored one; opens and bounces are not kept."""
    out = Normalized()
    for record in records:
        campaign_id = record.get("campaign_id") if isinstance(record, dict) else None
        email_id = record.get("email_id") if isinstance(record, dict) else None
        if not (isinstance(campaign_id, str) and campaign_id and isinstance(email_id, str) and email_id):
            out.issues.append(
                Issue(
                    record_key(record),
                    "*",
                    raw_text(record),
                    "email activity without campaign_id or email_id",
                )
            )
            out.rejected += 1
            continue
        f = Fields(f"{campaign_id}:{email_id}", out.issues)
        clicks: list[tuple[datetime, str | None]] = []
        activity = record.get("activity")
        for event in activity if isinstance(activity, list) else []:
            if not isinstance(event, dict) or event.get("action") != "click":
                continue
            at = f.timestamp(event, "timestamp")
            if at is not None:
                clicks.append((at, f.text(event, "url")))
        if not clicks:
            continue
        clicks.sort(key=lambda c: c[0])
        address = f.text(record, "email_address")
        out.entities.append(
            {
                "id": f.record_id,
                "campaign_id": campaign_id,
                "list_id": f.text(record, "list_id"),
                "email_id": email_id,
                "email_address": address.strip().lower() if address else None,
                "first_click_at": clicks[0][0],
                "last_click_at": clicks[-1][0],
                "clicks": len(clicks),
                "first_url": clicks[0][1],
                "archived": False,
                "raw": record,
            }
        )
    return out
