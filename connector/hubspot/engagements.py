"""The sales engagement streams: meetings and calls, HubSpot's activity objects read through the
same CRM objects APIs as contacts and deals (list, search, batch read, associations), with the
contacts and deals each is associated with. They are the sales touchpoints of the attribution
models (docs/kpis.md, "Attribution"). Optional: a token without their scope (HubSpot reads both
with `crm.objects.contacts.read`) makes them unavailable, and the rest of the sync goes on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from config import HubSpotSettings
from connector.hubspot.client import HubSpotClient
from connector.hubspot.crm import CrmObjectStream
from connector.hubspot.normalize import add_associations, check_record, common_fields
from connector.hubspot.schema import PortalSchema
from connector.records import Fields, Normalized
from connector.stream import Page

# What funnelsync reads of each kind: when it took place, its title, how it went.
MEETING_PROPERTIES = (
    "hs_timestamp",
    "hs_createdate",
    "hs_lastmodifieddate",
    "hs_meeting_title",
    "hs_meeting_outcome",
    "hs_meeting_start_time",
    "hubspot_owner_id",
)
CALL_PROPERTIES = (
    "hs_timestamp",
    "hs_createdate",
    "hs_lastmodifieddate",
    "hs_call_title",
    "hs_call_status",
    "hs_call_direction",
    "hubspot_owner_id",
)
# Associations an engagement row states (the singular is the stored `to_type`, as for deals).
LINKED = (("contacts", "contact"), ("deals", "deal"))


def normalize_engagements(
    records: Iterable[Any], *, title: str, outcome: str, direction: str | None, stated: tuple[str, ...] = ()
) -> Normalized:
    """Typed meeting or call rows (the property names of its kind) and their contact and deal
    associations. When it took place is `hs_timestamp`, else a meeting's start time."""
    out = Normalized()
    for record in records:
        checked = check_record(record, out)
        if checked is None:
            continue
        record_id, props = checked
        f = Fields(record_id, out.issues)
        row = common_fields(f, record, props)
        occurred = f.timestamp(props, "hs_timestamp")
        if occurred is None and "hs_meeting_start_time" in props:
            occurred = f.timestamp(props, "hs_meeting_start_time")
        row.update(
            {
                # Activities name their creation and change dates hs_createdate / hs_lastmodifieddate.
                "createdate": f.timestamp(props, "hs_createdate"),
                "lastmodifieddate": f.timestamp(props, "hs_lastmodifieddate"),
                "occurred_at": occurred,
                "title": f.text(props, title),
                "outcome": _code(f.text(props, outcome)),
                "direction": _code(f.text(props, direction)) if direction else None,
            }
        )
        out.entities.append(row)
        add_associations(out, record, f, "engagement_id", LINKED, stated)
    return out


def _code(value: str | None) -> str | None:
    """An outcome or direction as HubSpot's upper-case code, cut to the column's width."""
    return value.strip().upper()[:40] if value else None


class EngagementStream(CrmObjectStream):
    """One kind of sales engagement; subclasses name its properties."""

    optional = True
    owner_key = "engagement_id"
    scopes = (("crm.objects.contacts.read",),)
    modified_property = "hs_lastmodifieddate"
    created_property = "hs_createdate"
    associations: ClassVar[tuple[str, ...]] = ("contacts", "deals")
    read: ClassVar[tuple[str, ...]]
    title_property: ClassVar[str]
    outcome_property: ClassVar[str]
    direction_property: ClassVar[str | None] = None

    @classmethod
    def properties_for(cls, schema: PortalSchema, settings: HubSpotSettings) -> list[str]:
        return list(cls.read)

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        if not self.settings.engagements:  # switched off: nothing read, the state kept
            yield Page(self.name, [], dict(state))
            return
        yield from super().pages(client, state, full=full)

    def normalize(self, page: Page) -> Normalized:
        return normalize_engagements(
            page.records,
            title=self.title_property,
            outcome=self.outcome_property,
            direction=self.direction_property,
            stated=page.associations,
        )


class MeetingsStream(EngagementStream):
    name = "meetings"
    read = MEETING_PROPERTIES
    title_property = "hs_meeting_title"
    outcome_property = "hs_meeting_outcome"


class CallsStream(EngagementStream):
    name = "calls"
    read = CALL_PROPERTIES
    title_property = "hs_call_title"
    outcome_property = "hs_call_status"
    direction_property = "hs_call_direction"
