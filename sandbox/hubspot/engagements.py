"""The sandbox portal's sales engagements: the calls and meetings a salesperson logs while a deal
is worked (HubSpot's meetings and calls objects), each associated with the deal and its contact.
A discovery call shortly before the deal is created, a demo meeting after it, follow-up calls
until it closes; some meetings are no-shows or cancelled and some calls go unanswered, as in a
real portal. Drawn from a random stream of their own, so adding them left every other generated
value of a seed as it was."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sandbox.hubspot.data import PortalData, Record, iso, new_record

# Ids of HubSpot's activities share one space, far above the CRM records' ids.
FIRST_ID = 60_000_000_001
MEETING_OUTCOMES = (("COMPLETED", 0.8), ("NO_SHOW", 0.1), ("CANCELED", 0.1))
CALL_STATUSES = (("COMPLETED", 0.8), ("NO_ANSWER", 0.15), ("BUSY", 0.05))
# Meetings are booked this many days ahead at most (a booked future meeting is SCHEDULED).
_BOOKED_AHEAD_DAYS = 14
# Nothing is logged in the last hour before the portal's "now", so a first sync's change window
# starts with a quiet portal, as the CRM records' generator has it.
_QUIET = timedelta(hours=1)


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


class _Writer:
    def __init__(self, data: PortalData, rng: random.Random, now: datetime) -> None:
        self.data, self.rng, self.now = data, rng, now
        self.next_id = FIRST_ID
        self.until = now - _QUIET

    def _new(self, props: dict[str, Any], created: datetime) -> Record:
        self.next_id += self.rng.randint(1, 9)
        props = {**props, "hs_createdate": iso(created), "hs_lastmodifieddate": iso(created)}
        return new_record(self.next_id, props, created, created)

    def _link(self, object_type: str, record: Record, deal_id: int, contact_id: int | None) -> None:
        self.data.associations.append((object_type, record["id"], "deals", deal_id))
        if contact_id is not None:
            self.data.associations.append((object_type, record["id"], "contacts", contact_id))

    def call(self, at: datetime, deal_id: int, contact_id: int | None, title: str, owner: Any) -> None:
        if at > self.until:
            return
        status = _pick(self.rng, CALL_STATUSES)
        props = {
            "hs_timestamp": iso(at),
            "hs_call_title": title,
            "hs_call_direction": "OUTBOUND" if self.rng.random() < 0.85 else "INBOUND",
            "hs_call_status": status,
            "hs_call_duration": str(self.rng.randint(120, 2400) * 1000 if status == "COMPLETED" else 0),
            "hubspot_owner_id": owner,
        }
        record = self._new(props, min(at + timedelta(minutes=self.rng.randint(1, 30)), self.until))
        self.data.calls.append(record)
        self._link("calls", record, deal_id, contact_id)

    def meeting(self, at: datetime, deal_id: int, contact_id: int | None, title: str, owner: Any) -> None:
        booked = at - timedelta(days=self.rng.randint(1, _BOOKED_AHEAD_DAYS), hours=self.rng.randint(0, 8))
        if booked > self.until:
            return
        outcome = "SCHEDULED" if at > self.now else _pick(self.rng, MEETING_OUTCOMES)
        props = {
            "hs_timestamp": iso(at),
            "hs_meeting_title": title,
            "hs_meeting_outcome": outcome,
            "hs_meeting_start_time": iso(at),
            "hs_meeting_end_time": iso(at + timedelta(minutes=self.rng.choice((30, 45, 60)))),
            "hs_activity_type": title.split(":")[0],
            "hubspot_owner_id": owner,
        }
        record = self._new(props, booked)
        self.data.meetings.append(record)
        self._link("meetings", record, deal_id, contact_id)


def add_engagements(data: PortalData, *, seed: int, now: datetime) -> None:
    """Calls and meetings for every deal, between shortly before its creation and its close
    (or now, for an open deal)."""
    rng = random.Random(f"{seed}:engagements")
    writer = _Writer(data, rng, now)
    first_contact: dict[int, int] = {}
    for from_type, from_id, to_type, to_id in data.associations:
        if from_type == "deals" and to_type == "contacts":
            first_contact.setdefault(from_id, to_id)
    for deal in data.deals:
        props = deal["properties"]
        created = _time(props.get("createdate"))
        if created is None:
            continue
        end = min(_time(props.get("closedate")) or now, now)
        contact = first_contact.get(deal["id"])
        owner = props.get("hubspot_owner_id")
        name = props.get("dealname") or f"deal {deal['id']}"
        discovery = created - timedelta(days=rng.randint(0, 6), hours=rng.randint(1, 8))
        writer.call(discovery, deal["id"], contact, f"Discovery call: {name}", owner)
        demo = created + timedelta(days=rng.randint(2, 12), hours=rng.randint(8, 16))
        writer.meeting(demo, deal["id"], contact, f"Demo: {name}", owner)
        span = (end - created).total_seconds()
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            if span <= 0:
                break
            at = created + timedelta(seconds=rng.uniform(0, span))
            if rng.random() < 0.6:
                writer.call(at, deal["id"], contact, f"Follow-up: {name}", owner)
            else:
                writer.meeting(at, deal["id"], contact, f"Proposal review: {name}", owner)
