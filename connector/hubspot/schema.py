"""What a HubSpot portal says about itself (lifecycle stages, deal stages, property names and
definitions), read once per run from the properties and pipelines APIs, or taken from the last
read's state while that is fresh enough."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from config import DEFAULT_LIFECYCLE_STAGES, HubSpotSettings
from connector.errors import FatalAPIError, unavailable
from connector.hubspot.client import HubSpotClient
from connector.hubspot.wire import due, results

log = logging.getLogger("funnelsync.connector.hubspot")


@dataclass
class PortalSchema:
    """What the portal says about itself: lifecycle stages, deal stages, property names."""

    lifecycle_stages: list[str] = field(default_factory=lambda: list(DEFAULT_LIFECYCLE_STAGES))
    deal_stage_ids: list[str] = field(default_factory=list)
    property_names: dict[str, set[str]] = field(default_factory=dict)
    # The full definitions the properties API gave, per object type (name, label, type, options…).
    definitions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Object type → property name → HubSpot type (`string`, `number`, `enumeration`, `date`,
    # `datetime`, `bool`): how a custom dimension's values are stored (kpi.dimensions).
    property_types: dict[str, dict[str, str]] = field(default_factory=dict)

    def dimensions(self, candidates: Iterable[tuple[str, str]]) -> dict[str, dict[str, str]]:
        """Object type → the configured dimension properties it defines, with their types, of
        the (object type, property) candidates (`KpiSettings.dimension_candidates`)."""
        out: dict[str, dict[str, str]] = {}
        for object_type, name in candidates:
            if name in self.property_names.get(object_type, set()):
                types = self.property_types.get(object_type, {})
                out.setdefault(object_type, {})[name] = types.get(name, "string")
        return out

    def has_property(self, object_type: str, name: str) -> bool:
        names = self.property_names.get(object_type)
        return True if names is None else name in names

    def to_state(self) -> dict[str, Any]:
        """What later runs need to page without reading the catalogue again (no definitions)."""
        return {
            "lifecycle_stages": list(self.lifecycle_stages),
            "deal_stage_ids": list(self.deal_stage_ids),
            "property_names": {k: sorted(v) for k, v in self.property_names.items()},
            "property_types": {k: dict(sorted(v.items())) for k, v in self.property_types.items()},
        }

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> PortalSchema:
        return cls(
            lifecycle_stages=[str(s) for s in data.get("lifecycle_stages") or DEFAULT_LIFECYCLE_STAGES],
            deal_stage_ids=[str(s) for s in data.get("deal_stage_ids") or []],
            property_names={
                str(k): {str(n) for n in v} for k, v in (data.get("property_names") or {}).items()
            },
            property_types={
                str(k): {str(n): str(t) for n, t in v.items()}
                for k, v in (data.get("property_types") or {}).items()
                if isinstance(v, dict)
            },
        )


def catalogue_due(
    client: HubSpotClient, settings: HubSpotSettings, synced_at: str | None, *, full: bool
) -> bool:
    """Whether the property catalogue, owners and pipelines are read again this run: on every full
    sync, otherwise at most every `catalogue_minutes` (they change rarely; each read costs requests)."""
    return due(client, synced_at, settings.catalogue_minutes, full=full)


def cached_schema(
    client: HubSpotClient, settings: HubSpotSettings, state: dict[str, Any], *, full: bool
) -> PortalSchema | None:
    """The schema the last catalogue read left in the `properties` stream's state, while it is
    fresh enough (see `catalogue_due`); None when it has to be read again."""
    data = state.get("schema")
    if not isinstance(data, dict) or catalogue_due(client, settings, state.get("synced_at"), full=full):
        return None
    schema = PortalSchema.from_state(data)
    _add_stages(schema.lifecycle_stages, settings.custom_lifecycle_stages)
    return schema


def _add_stages(stages: list[str], more: Iterable[str]) -> None:
    """Append the stages not listed yet, in their order."""
    for stage in more:
        if stage not in stages:
            stages.append(stage)


def discover_schema(client: HubSpotClient, settings: HubSpotSettings) -> PortalSchema:
    """Read lifecycle stages and property names from the properties API, deal stages from pipelines."""
    schema = PortalSchema()
    stages: list[str] = list(DEFAULT_LIFECYCLE_STAGES)
    for object_type in ("contacts", "deals", "companies"):
        path = client.paths.path("properties", object_type=object_type)
        try:
            props = results(client.get(path), path)
        except FatalAPIError as exc:
            if not unavailable(exc):
                raise  # a refused credential is not a missing scope
            continue  # no properties scope: fall back to defaults and config
        schema.property_names[object_type] = {str(p.get("name")) for p in props if isinstance(p, dict)}
        schema.definitions[object_type] = [p for p in props if isinstance(p, dict)]
        schema.property_types[object_type] = {
            str(p.get("name")): str(p.get("type") or "string") for p in props if isinstance(p, dict)
        }
        if object_type == "contacts":
            for prop in props:
                if isinstance(prop, dict) and prop.get("name") == "lifecyclestage":
                    options = sorted(
                        (o for o in prop.get("options") or [] if isinstance(o, dict) and o.get("value")),
                        key=lambda o: (o.get("displayOrder") is None, o.get("displayOrder") or 0),
                    )
                    _add_stages(stages, (str(option["value"]) for option in options))
    _add_stages(stages, settings.custom_lifecycle_stages)
    schema.lifecycle_stages = stages
    path = client.paths.path("pipelines", object_type="deals")
    try:
        pipelines = results(client.get(path), path)
    except FatalAPIError as exc:
        if not unavailable(exc):
            raise
        # No pipelines scope: deals are read without per-stage entry dates, and the pipelines
        # stream reports itself unavailable; nothing else is lost.
        log.warning("deal pipelines unreadable, deals sync without stage-entry dates: %s", exc.detail)
        pipelines = []
    for pipeline in pipelines:
        for stage in pipeline.get("stages") or []:
            if isinstance(stage, dict) and stage.get("id"):
                schema.deal_stage_ids.append(str(stage["id"]))
    return schema
