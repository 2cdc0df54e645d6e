"""Reading web analytics rows and personas."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Connection, false, func, select

from kpi.inputs import PersonaCell, TrafficRow
from kpi.model import UNKNOWN
from kpi.periods import Period
from kpi.sql import bound, period_index
from storage.db import table_of
from storage.models import HubSpotAnalyticsRow, HubSpotContact, HubSpotProperty


def read_traffic(conn: Connection, *, connection: str, since: date, until: date) -> list[TrafficRow]:
    """Web-analytics rows of the days in [since, until] (counters HubSpot did not send as 0)."""
    rows = table_of(HubSpotAnalyticsRow)
    c = rows.c
    counters = (
        c.visits,
        c.visitors,
        c.contacts,
        c.leads,
        c.customers,
        c.raw_views,
        c.submissions,
        c.entrances,
    )
    query = select(c.report, c.day, c.breakdown, c.meta, *counters).where(
        c.connection == connection, c.day >= since, c.day <= until
    )
    return [
        TrafficRow(
            report=r[0],
            day=r[1] if isinstance(r[1], date) else date.fromisoformat(str(r[1])),
            breakdown=r[2],
            meta=r[3],
            visits=r[4] or 0,
            visitors=r[5] or 0,
            contacts=r[6] or 0,
            leads=r[7] or 0,
            customers=r[8] or 0,
            raw_views=r[9] or 0,
            submissions=r[10] or 0,
            entrances=r[11] or 0,
        )
        for r in conn.execute(query)
    ]


def read_persona_created(
    conn: Connection, *, connection: str, periods: Sequence[Period], as_of: datetime
) -> list[PersonaCell]:
    """Live contacts created in each grid period, by their current persona (`unknown`: none)."""
    if not periods:
        return []
    contacts = table_of(HubSpotContact)
    c = contacts.c
    bucket = period_index(c.createdate, periods).label("p")
    persona = func.coalesce(func.nullif(c.persona, ""), UNKNOWN).label("persona")
    query = (
        select(bucket, persona, func.count())
        .where(
            c.connection == connection,
            c.archived == false(),
            c.merged_into.is_(None),
            c.createdate <= bound(as_of),
        )
        .group_by(bucket, persona)
    )
    return [PersonaCell(int(r[0]), str(r[1]), int(r[2])) for r in conn.execute(query) if r[0] is not None]


def read_personas(conn: Connection, *, connection: str) -> list[str]:
    """The persona values the portal defines (`hs_persona` options from the properties API, in
    display order; hidden options left out)."""
    props = table_of(HubSpotProperty)
    raw = conn.execute(
        select(props.c.raw).where(props.c.connection == connection, props.c.id == "contacts/hs_persona")
    ).scalar()
    if isinstance(raw, str):
        raw = json.loads(raw)
    options = raw.get("options") if isinstance(raw, dict) else None
    if not isinstance(options, list):
        return []
    shown = [o for o in options if isinstance(o, dict) and o.get("value") and not o.get("hidden")]
    shown.sort(key=lambda o: (o.get("displayOrder") is None, o.get("displayOrder") or 0))
    return [str(o["value"]) for o in shown]
