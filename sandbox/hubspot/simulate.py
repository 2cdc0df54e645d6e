"""Simulated CRM activity: the clock moves on by some days and that much happens inside the
elapsed window (new leads, stage moves, deals created, won and lost, deletions), through the
same write operations the API uses. A new deal comes with the discovery call that opened it, a
won one with the meeting that closed it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sandbox.hubspot.data import DEFAULT_PIPELINE, DEFAULT_STAGES, FIRST, LAST, SOURCES, iso
from sandbox.hubspot.writes import WritableStore

When = Callable[[], datetime]


def simulate(
    store: WritableStore,
    *,
    days: float = 1.0,
    new_contacts: int = 0,
    stage_changes: int = 0,
    deals_created: int = 0,
    deals_won: int = 0,
    deals_lost: int = 0,
    archive: int = 0,
    same_timestamp: bool = False,
) -> dict[str, Any]:
    """Advance the clock by `days` and apply that much CRM activity inside the elapsed window."""
    with store.lock:
        start = store.clock.now()
        end = store.clock.advance(days * 86400)
        span = max((end - start).total_seconds(), 1.0)
        rng = store.rng

        def when() -> datetime:
            if same_timestamp:
                return end - timedelta(seconds=1)
            return start + timedelta(seconds=rng.uniform(0, span * 0.98))

        changes: dict[str, list[str]] = {
            "created": _new_contacts(store, new_contacts, when),
            "stage_changes": _stage_changes(store, stage_changes, when),
            "deals_created": _new_deals(store, deals_created, when),
            "deals_won": _close_deals(store, "won", deals_won, when),
            "deals_lost": _close_deals(store, "lost", deals_lost, when),
            "archived": [],
        }
        live = [r for r in store.objects["contacts"].values() if not r["archived"]]
        for record in rng.sample(live, min(archive, len(live))):
            store.archive("contacts", record["id"], at=when())
            changes["archived"].append(str(record["id"]))
        return {
            "from": iso(start),
            "to": iso(end),
            **{k: len(v) for k, v in changes.items()},
            "changes": changes,
        }


def _new_contacts(store: WritableStore, count: int, when: When) -> list[str]:
    """New leads, each from a source drawn by the portal's source weights."""
    rng = store.rng
    source_names = [s[0] for s in SOURCES]
    source_weights = [s[1] for s in SOURCES]
    created = []
    for _ in range(count):
        at = when()
        first, last = rng.choice(FIRST), rng.choice(LAST)
        source = rng.choices(source_names, weights=source_weights, k=1)[0]
        record = store.create(
            "contacts",
            {
                "email": f"{first.lower()}.{last.lower()}.{store.next_ids['contacts']}@new.example",
                "firstname": first,
                "lastname": last,
                "lifecyclestage": "lead",
                "hs_analytics_source": source,
                "hs_latest_source": source,
                "hs_latest_source_timestamp": iso(at),
                "hs_v2_date_entered_lead": iso(at),
            },
            at=at,
        )
        created.append(str(record["id"]))
    return created


def _stage_changes(store: WritableStore, count: int, when: When) -> list[str]:
    """Contacts moving one stage down the funnel (customers get their close date)."""
    funnel = store.funnel()
    live_contacts = [
        r
        for r in store.objects["contacts"].values()
        if not r["archived"] and r["properties"].get("lifecyclestage") in funnel[:-1]
    ]
    moved = []
    for record in store.rng.sample(live_contacts, min(count, len(live_contacts))):
        current = record["properties"]["lifecyclestage"]
        nxt = funnel[funnel.index(current) + 1]
        at = max(when(), record["updatedAt"])
        store.update("contacts", record["id"], {"lifecyclestage": nxt}, at=at)
        record["properties"][f"hs_v2_date_exited_{current}"] = iso(at)
        if nxt == "customer":
            record["properties"]["closedate"] = iso(at)
        moved.append(f"{record['id']}:{current}->{nxt}")
    return moved


def _new_deals(store: WritableStore, count: int, when: When) -> list[str]:
    """Deals opened for sales-qualified contacts and opportunities, in the default pipeline."""
    rng = store.rng
    candidates = [
        r
        for r in store.objects["contacts"].values()
        if not r["archived"]
        and r["properties"].get("lifecyclestage") in ("salesqualifiedlead", "opportunity")
    ]
    created = []
    for record in rng.sample(candidates, min(count, len(candidates))):
        at = max(when(), record["updatedAt"])
        amount = round(rng.lognormvariate(11.7, 0.7), -2)
        deal = store.create(
            "deals",
            {
                "dealname": f"{record['properties'].get('lastname', 'New')} – new business",
                "pipeline": DEFAULT_PIPELINE,
                "dealstage": DEFAULT_STAGES[0][0],
                "amount": f"{amount:.0f}",
                "amount_in_home_currency": f"{amount:.2f}",
                "deal_currency_code": "SEK",
                "hs_is_closed": "false",
                "hs_is_closed_won": "false",
                "closedate": iso(at + timedelta(days=45)),
                "hs_analytics_source": record["properties"].get("hs_analytics_source"),
                f"hs_v2_date_entered_{DEFAULT_STAGES[0][0]}": iso(at),
            },
            at=at,
            associations={"contacts": [record["id"]]},
        )
        _log(store, "calls", at, deal["id"], [record["id"]], {
            "hs_call_title": f"Discovery call: {deal['properties']['dealname']}",
            "hs_call_direction": "OUTBOUND",
            "hs_call_status": "COMPLETED",
        })  # fmt: skip
        created.append(str(deal["id"]))
    return created


def _log(
    store: WritableStore, kind: str, at: datetime, deal_id: int, contact_ids: list[int], props: dict[str, str]
) -> None:
    """A call or meeting held at `at` on the deal and its contacts, logged at once."""
    store.create(
        kind,
        {"hs_timestamp": iso(at), **props},
        at=at,
        associations={"deals": [deal_id], "contacts": contact_ids},
    )


def _close_deals(store: WritableStore, outcome: str, count: int, when: When) -> list[str]:
    """Open deals of the default pipeline won or lost; a won deal makes its contacts customers
    (HubSpot's default automation)."""
    open_deals = [
        r
        for r in store.objects["deals"].values()
        if not r["archived"]
        and r["properties"].get("hs_is_closed") == "false"
        and r["properties"].get("pipeline") == DEFAULT_PIPELINE
    ]
    closed = []
    for deal in store.rng.sample(open_deals, min(count, len(open_deals))):
        at = max(when(), deal["updatedAt"])
        stage = "closedwon" if outcome == "won" else "closedlost"
        won = "true" if outcome == "won" else "false"
        change = {"dealstage": stage, "hs_is_closed": "true", "hs_is_closed_won": won, "closedate": iso(at)}
        store.update("deals", deal["id"], change, at=at)
        closed.append(str(deal["id"]))
        if outcome != "won":
            continue
        contacts = store.associated("deals", deal["id"], "contacts")
        _log(store, "meetings", at, deal["id"], contacts, {
            "hs_meeting_title": f"Contract signing: {deal['properties'].get('dealname', '')}",
            "hs_meeting_outcome": "COMPLETED",
            "hs_meeting_start_time": iso(at),
        })  # fmt: skip
        for contact_id in contacts:
            contact = store.objects["contacts"][contact_id]
            if contact["properties"].get("lifecyclestage") != "customer":
                store.update(
                    "contacts", contact_id, {"lifecyclestage": "customer", "closedate": iso(at)}, at=at
                )
    return closed
