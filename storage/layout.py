"""What each stream's pages write besides their records: the child tables a page states
completely (stage dates, transitions, associations, pipeline stages, analytics rows, campaign
items, unsubscribes), rows added to other records' tables, the stage changes observed between
snapshots, and the association tables a merge re-points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Engine,
    select,
)
from sqlmodel import SQLModel

from storage.db import table_of
from storage.models import (
    ENTITY_TABLES,
    VERSION_TABLES,
    HubSpotAnalyticsRow,
    HubSpotCallAssociation,
    HubSpotCampaignItem,
    HubSpotCompany,
    HubSpotCompanyProperty,
    HubSpotContact,
    HubSpotContactAssociation,
    HubSpotContactProperty,
    HubSpotContactStageDate,
    HubSpotContactStageTransition,
    HubSpotDealAssociation,
    HubSpotDealProperty,
    HubSpotDealStageDate,
    HubSpotDealStageTransition,
    HubSpotMeetingAssociation,
    HubSpotPipelineStage,
    MailchimpUnsubscribe,
)


@dataclass(frozen=True)
class Scope:
    """Which of an owner's child rows a page states: those whose `column` is (or, with
    `inside=False`, is not) one of `values`. Rows outside the scope are left alone."""

    column: str
    values: tuple[str, ...]
    inside: bool = True


@dataclass(frozen=True)
class ChildSpec:
    model: type[SQLModel]
    owner_column: str
    rows_of: str  # Normalized attribute with the rows
    owners_of: str  # Normalized attribute with the owners whose rows the page states
    scope: Scope | None = None


# Stage dates from history and from our own observations are not in the stage-date properties,
# so a page's properties replace only the property-sourced rows; history replaces history rows
# of records that came with history; observed rows are only ever added.
_DERIVED_SOURCES = ("history", "observed")


def _stage_children(model: type[SQLModel], transitions: type[SQLModel], owner: str) -> tuple[ChildSpec, ...]:
    return (
        ChildSpec(model, owner, "stage_dates", "entity_ids", Scope("source", _DERIVED_SOURCES, inside=False)),
        ChildSpec(model, owner, "history_stage_dates", "history_owner_ids", Scope("source", ("history",))),
        ChildSpec(transitions, owner, "transitions", "history_owner_ids", Scope("origin", ("history",))),
    )


# Child tables whose rows a page states completely, per stream.
CHILD_TABLES: dict[str, tuple[ChildSpec, ...]] = {
    "contacts": (
        *_stage_children(HubSpotContactStageDate, HubSpotContactStageTransition, "contact_id"),
        ChildSpec(HubSpotContactAssociation, "contact_id", "associations", "association_owner_ids"),
        ChildSpec(HubSpotContactProperty, "contact_id", "dimension_values", "dimension_owner_ids"),
    ),
    "companies": (
        ChildSpec(HubSpotCompanyProperty, "company_id", "dimension_values", "dimension_owner_ids"),
    ),
    "deals": (
        *_stage_children(HubSpotDealStageDate, HubSpotDealStageTransition, "deal_id"),
        ChildSpec(HubSpotDealAssociation, "deal_id", "associations", "association_owner_ids"),
        ChildSpec(HubSpotDealProperty, "deal_id", "dimension_values", "dimension_owner_ids"),
    ),
    "pipelines": (ChildSpec(HubSpotPipelineStage, "pipeline_id", "children", "entity_ids"),),
    "web_analytics": (ChildSpec(HubSpotAnalyticsRow, "day_id", "children", "entity_ids"),),
    "campaigns": (ChildSpec(HubSpotCampaignItem, "campaign_id", "children", "entity_ids"),),
    "meetings": (
        ChildSpec(HubSpotMeetingAssociation, "engagement_id", "associations", "association_owner_ids"),
    ),
    "calls": (ChildSpec(HubSpotCallAssociation, "engagement_id", "associations", "association_owner_ids"),),
    "mailchimp_reports": (ChildSpec(MailchimpUnsubscribe, "campaign_id", "children", "entity_ids"),),
}


def stored_children(
    engine: Engine, *, stream: str, connection: str, owner_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """The child rows a page of `stream` would state for these records, as stored (Normalized
    attribute → rows): a page that rewrites records without their children carries these."""
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for spec in CHILD_TABLES.get(stream, ()):
            if spec.owners_of != "entity_ids":
                continue
            table = table_of(spec.model)
            query = select(table).where(
                table.c.connection == connection, table.c[spec.owner_column].in_(owner_ids)
            )
            if spec.scope is not None:
                inside = table.c[spec.scope.column].in_(spec.scope.values)
                query = query.where(inside if spec.scope.inside else ~inside)
            rows = [dict(r._mapping) for r in conn.execute(query)]
            for row in rows:
                row.pop("connection", None)
            out.setdefault(spec.rows_of, []).extend(rows)
    return out


# Rows a stream's pages add to other records' tables (insert if missing, never replace): deal
# links to contacts read back after a restore (the deals themselves do not change).
ADDITIONS: dict[str, tuple[tuple[type[SQLModel], str], ...]] = {
    "contacts": ((HubSpotDealAssociation, "held_links"),),
}


@dataclass(frozen=True)
class Observed:
    """How a stream's stage changes between our own snapshots are recorded."""

    stage_column: str
    owner_column: str
    transitions: type[SQLModel]
    stage_dates: type[SQLModel]


OBSERVED: dict[str, Observed] = {
    "contacts": Observed(
        "lifecyclestage", "contact_id", HubSpotContactStageTransition, HubSpotContactStageDate
    ),
    "deals": Observed("dealstage", "deal_id", HubSpotDealStageTransition, HubSpotDealStageDate),
}


# The association type name of an object, and the association tables that can point at it.
ASSOCIATION_TYPE: dict[type[SQLModel], str] = {HubSpotContact: "contact", HubSpotCompany: "company"}
HELD_ASSOCIATIONS: dict[str, tuple[tuple[type[SQLModel], str], ...]] = {
    "contact": ((HubSpotDealAssociation, "deal_id"),),
    "company": ((HubSpotDealAssociation, "deal_id"), (HubSpotContactAssociation, "contact_id")),
}


def stream_tables(stream: str) -> list[str]:
    models: list[type[SQLModel]] = [ENTITY_TABLES[stream]]
    models += [spec.model for spec in CHILD_TABLES.get(stream, ())]
    if stream in VERSION_TABLES:
        models.append(VERSION_TABLES[stream])
    return sorted({table_of(m).name for m in models})
