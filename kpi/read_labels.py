"""The synced metadata the KPI labels come from (kpi/labels.py): the properties API's options,
pipelines and their stages, owners, marketing email and campaign names and Mailchimp campaign
titles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select

from kpi.labels import OPTION_DIMENSIONS, Labels
from storage.db import table_of
from storage.models import (
    HubSpotCampaign,
    HubSpotMarketingEmail,
    HubSpotOwner,
    HubSpotPipeline,
    HubSpotPipelineStage,
    HubSpotProperty,
    MailchimpCampaign,
)


def read_labels(engine: Engine, *, connection: str, dimensions: Sequence[str] = ()) -> Labels:
    """Every label the connection's synced metadata holds now; `dimensions`: the custom
    dimension properties (kpi.dimensions) whose option labels are wanted too."""
    props, pipes, stages, owners = (
        table_of(m) for m in (HubSpotProperty, HubSpotPipeline, HubSpotPipelineStage, HubSpotOwner)
    )
    labels = Labels()
    wanted = (
        {"contacts/lifecyclestage": "lifecyclestage"}
        | {f"contacts/{p}": p for p in OPTION_DIMENSIONS.values()}
        | {f"{o}/{p}": p for p in dimensions for o in ("contacts", "companies", "deals")}
    )
    with engine.connect() as conn:
        for record_id, raw in conn.execute(
            select(props.c.id, props.c.raw).where(
                props.c.connection == connection, props.c.id.in_(list(wanted))
            )
        ):
            options = _options(raw)
            if wanted[record_id] == "lifecyclestage":
                labels.lifecycle = options
            else:
                labels.options.setdefault(wanted[record_id], {}).update(options)
        labels.pipelines = {
            str(i): str(label)
            for i, label in conn.execute(
                select(pipes.c.id, pipes.c.label).where(pipes.c.connection == connection)
            )
            if label
        }
        labels.deal_stages = {
            str(i): str(label)
            for i, label in conn.execute(
                select(stages.c.stage_id, stages.c.label).where(stages.c.connection == connection)
            )
            if label
        }
        for i, first, last, email in conn.execute(
            select(owners.c.id, owners.c.first_name, owners.c.last_name, owners.c.email).where(
                owners.c.connection == connection
            )
        ):
            name = " ".join(part for part in (first, last) if part)
            labels.owners[str(i)] = name or email or str(i)
        hs_emails, campaigns = table_of(HubSpotMarketingEmail), table_of(MailchimpCampaign)
        named = (
            ("hubspot", select(hs_emails.c.id, hs_emails.c.name, hs_emails.c.subject), hs_emails),
            ("mailchimp", select(campaigns.c.id, campaigns.c.title, campaigns.c.subject_line), campaigns),
        )
        for platform, query, table in named:
            for i, name, subject in conn.execute(query.where(table.c.connection == connection)):
                if name or subject:
                    labels.emails[f"{platform}:{i}"] = str(name or subject)
        hs_campaigns = table_of(HubSpotCampaign)
        labels.campaigns = {
            str(i): str(name)
            for i, name in conn.execute(
                select(hs_campaigns.c.id, hs_campaigns.c.name).where(hs_campaigns.c.connection == connection)
            )
            if name
        }
    return labels


def _options(raw: Any) -> dict[str, str]:
    """An enumeration property's options, value → label."""
    options = raw.get("options") if isinstance(raw, dict) else None
    return {
        str(o["value"]): str(o.get("label") or o["value"])
        for o in options or []
        if isinstance(o, dict) and o.get("value") not in (None, "")
    }


def dimension_objects(
    conn: Connection, *, connection: str, candidates: Sequence[tuple[str, str]]
) -> dict[str, list[str]]:
    """Object type → the configured custom dimensions it has, of the (object type, property)
    candidates (`KpiSettings.dimension_candidates`) its synced property catalogue defines."""
    props = table_of(HubSpotProperty)
    defined = {
        str(record_id)
        for (record_id,) in conn.execute(select(props.c.id).where(props.c.connection == connection))
    }
    out: dict[str, list[str]] = {}
    for object_type, name in candidates:
        if f"{object_type}/{name}" in defined:
            out.setdefault(object_type, []).append(name)
    return out
