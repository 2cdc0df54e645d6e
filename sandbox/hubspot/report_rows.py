"""Rows of HubSpot's Reporting API v2 answers: summing a breakdown's days, the derived rates, time
buckets and the parameters' parsing. Pure functions over row dicts, apart from the model of
who visits (sandbox.hubspot.analytics)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sandbox.hubspot.model import SandboxError


def source_name(d1: str) -> str:
    """HubSpot's drill-down names a source by its report value; the docs also write `organic`."""
    value = d1.strip().upper()
    aliases = {
        "ORGANIC": "ORGANIC_SEARCH",
        "SOCIAL": "SOCIAL_MEDIA",
        "PAID": "PAID_SEARCH",
        "EMAIL": "EMAIL_MARKETING",
    }
    return aliases.get(value, value)


def date_param(name: str, raw: str | None) -> date:
    if not raw:
        raise SandboxError(400, "VALIDATION_ERROR", f"Missing required parameter '{name}' (YYYYMMDD)")
    try:
        return datetime.strptime(raw, "%Y%m%d").date()
    except ValueError:
        raise SandboxError(400, "VALIDATION_ERROR", f"Invalid {name}: {raw!r}, expected YYYYMMDD") from None


def buckets(days: list[date], period: str) -> dict[date, list[date]]:
    """Days grouped by the time point they report under (the day, its Monday, its month's 1st)."""
    out: dict[date, list[date]] = {}
    for day in days:
        if period == "weekly":
            key = day - timedelta(days=day.weekday())
        elif period == "monthly":
            key = day.replace(day=1)
        else:
            key = day
        out.setdefault(key, []).append(day)
    return out


RATE_FIELDS = ("pageviewsPerSession", "bounceRate", "timePerSession", "newVisitorSessionRate")


def with_rates(row: dict[str, Any]) -> dict[str, Any]:
    visits, contacts = row.get("visits", 0), row.get("contacts", 0)
    row["sessionToContactRate"] = round(contacts / visits, 6) if visits else 0.0
    row["contactToCustomerRate"] = round(row.get("customers", 0) / contacts, 6) if contacts else 0.0
    return row


def sum_rows(rows: Iterable[dict[str, Any]], key: str) -> dict[str, Any]:
    """Rows of one breakdown summed: counters add, averages are weighted by sessions or views."""
    rows = list(rows)
    out: dict[str, Any] = {"breakdown": key} if key else {}
    if rows and "meta" in rows[0]:
        out["meta"] = rows[0]["meta"]
    for row in rows:
        for name, value in row.items():
            if name in ("breakdown", "meta") or isinstance(value, float):
                continue
            out[name] = out.get(name, 0) + value
    visits = out.get("visits", 0)
    views = out.get("rawViews", 0)
    for name in {n for r in rows for n, v in r.items() if isinstance(v, float)}:
        weight = "visits" if name in RATE_FIELDS else "rawViews"
        total = visits if weight == "visits" else views
        mixed = sum(r.get(name, 0.0) * r.get(weight, 0) for r in rows)
        out[name] = round(mixed / total, 6) if total else 0.0
    if "visits" in out:
        with_rates(out)
    if "exits" in out and views:
        out["exitsPerPageview"] = round(out["exits"] / views, 6)
    return out
