"""The catalogue streams: the property definitions, deal pipelines with their stages, and owners.
They change rarely, so incremental syncs read them again at most every `catalogue_minutes`; each
is small and read whole. Their parsers sit beside them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from config import HubSpotSettings
from connector.hubspot.client import HubSpotClient
from connector.hubspot.schema import PortalSchema, catalogue_due
from connector.hubspot.wire import iso, results
from connector.pagination import CursorPaginator
from connector.records import Fields, Issue, Normalized, raw_text, record_key
from connector.stream import Page, Stream


class PropertiesStream(Stream[HubSpotClient]):
    """The property catalogue (names, labels, types, field types, enumeration options such as
    lifecycle-stage labels) of contacts, companies and deals, as schema discovery read it at the
    start of the run: no request of its own. Object types the token may not read are left out."""

    name = "properties"
    metadata = True
    scopes = (
        ("crm.schemas.contacts.read", "crm.objects.contacts.read"),
        ("crm.schemas.companies.read", "crm.objects.companies.read"),
        ("crm.schemas.deals.read", "crm.objects.deals.read"),
    )
    endpoints = ("properties",)

    def __init__(self, schema: PortalSchema) -> None:
        self.schema = schema

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        if not self.schema.definitions:
            # The schema came from the last read's state (or the API refused every type): no news.
            yield Page(self.name, [], dict(state))
            return
        records = [
            {**definition, "objectType": object_type}
            for object_type, definitions in sorted(self.schema.definitions.items())
            for definition in definitions
        ]
        checkpoint = {"synced_at": iso(client.server_now()), "schema": self.schema.to_state()}
        yield Page(self.name, records, checkpoint)

    def parse(self, page: Page) -> Normalized:
        return normalize_properties(page.records)


class PipelinesStream(Stream[HubSpotClient]):
    """Deal pipelines with their stages (one small request; always read whole)."""

    name = "pipelines"
    metadata = True
    scopes = (("crm.objects.deals.read", "crm.schemas.deals.read"),)
    endpoints = ("pipelines",)

    def __init__(self, settings: HubSpotSettings) -> None:
        self.settings = settings

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        if not catalogue_due(client, self.settings, state.get("synced_at"), full=full):
            yield Page(self.name, [], dict(state))
            return
        path = client.paths.path("pipelines", object_type="deals")
        records = results(client.get(path), path)
        yield Page(self.name, records, {"synced_at": iso(client.server_now())})

    def parse(self, page: Page) -> Normalized:
        return normalize_pipelines(page.records)


class OwnersStream(Stream[HubSpotClient]):
    """CRM owners, active and archived (deactivated users still own old deals)."""

    name = "owners"
    metadata = True
    scopes = (("crm.objects.owners.read",),)
    endpoints = ("owners",)

    def __init__(self, settings: HubSpotSettings) -> None:
        self.settings = settings

    def pages(self, client: HubSpotClient, state: dict[str, Any], *, full: bool) -> Iterator[Page]:
        if not catalogue_due(client, self.settings, state.get("synced_at"), full=full):
            yield Page(self.name, [], dict(state))
            return
        for archived in ("false", "true"):
            paginator = CursorPaginator()
            while not paginator.finished:
                params: dict[str, Any] = {"limit": 100, "archived": archived}
                if paginator.token:
                    params["after"] = paginator.token
                path = client.paths.path("owners")
                body = client.get(path, params=params)
                records = results(body, path)
                paginator.advance(body)
                # Only the last page marks the owners read: a run stopped before it leaves them
                # due, so the next run reads them all again (not just later than the catalogue's
                # interval, with the archived ones missing meanwhile).
                last = archived == "true" and paginator.finished
                yield Page(
                    self.name, records, {"synced_at": iso(client.server_now())} if last else dict(state)
                )

    def parse(self, page: Page) -> Normalized:
        return normalize_owners(page.records)


def normalize_owners(records: Iterable[Any]) -> Normalized:
    out = Normalized()
    for record in records:
        if not isinstance(record, dict) or not str(record.get("id", "")).strip().isdigit():
            key = record_key(record)
            out.issues.append(Issue(key, "*", raw_text(record), "owner id missing or not numeric"))
            out.rejected += 1
            continue
        f = Fields(str(record["id"]), out.issues)
        user_id = record.get("userId")
        out.entities.append(
            {
                "id": f.record_id,
                "email": f.text(record, "email"),
                "first_name": f.text(record, "firstName"),
                "last_name": f.text(record, "lastName"),
                "user_id": int(user_id) if isinstance(user_id, int) else None,
                "type": f.text(record, "type"),
                "archived": bool(record.get("archived", False)),
                "created_at": f.timestamp(record, "createdAt"),
                "updated_at": f.timestamp(record, "updatedAt"),
                "raw": record,
            }
        )
    return out


def normalize_pipelines(records: Iterable[Any], object_type: str = "deals") -> Normalized:
    """Pipelines become entities; their stages become children (probability and flags as numbers)."""
    out = Normalized()
    for record in records:
        if not isinstance(record, dict) or not record.get("id") or not isinstance(record.get("stages"), list):
            out.issues.append(
                Issue(record_key(record), "*", raw_text(record), "pipeline without id or stages")
            )
            out.rejected += 1
            continue
        f = Fields(str(record["id"]), out.issues)
        out.entities.append(
            {
                "id": f.record_id,
                "object_type": object_type,
                "label": f.text(record, "label"),
                "display_order": f.integer(record, "displayOrder"),
                "archived": bool(record.get("archived", False)),
                "raw": record,
            }
        )
        for stage in record["stages"]:
            if not isinstance(stage, dict) or not stage.get("id"):
                f.flag("stages", raw_text(stage), "stage without id")
                continue
            meta: dict[str, Any] = stage["metadata"] if isinstance(stage.get("metadata"), dict) else {}
            sf = Fields(f"{f.record_id}/{stage['id']}", out.issues)
            probability = sf.number(meta, "probability", label="probability")
            if probability is not None and probability > 1:
                probability = probability / 100  # a percentage slipped in; HubSpot uses 0..1
            is_closed = sf.boolean(meta, "isClosed")
            out.children.append(
                {
                    "pipeline_id": f.record_id,
                    "stage_id": str(stage["id"]),
                    "label": sf.text(stage, "label"),
                    "display_order": sf.integer(stage, "displayOrder"),
                    "probability": probability,
                    "is_closed": bool(is_closed),
                    "is_won": bool(is_closed) and probability is not None and probability >= 1.0,
                    "archived": bool(stage.get("archived", False)),
                }
            )
    return out


# Statistics counters of a marketing email → columns (HubSpot's `open` and `click` count


def _flag(record: dict[str, Any], name: str) -> bool | None:
    value = record.get(name)
    return value if isinstance(value, bool) else None


def normalize_properties(records: Iterable[Any]) -> Normalized:
    """Property definitions, keyed `<object type>/<name>`."""
    out = Normalized()
    for record in records:
        name = record.get("name") if isinstance(record, dict) else None
        object_type = record.get("objectType") if isinstance(record, dict) else None
        if not isinstance(name, str) or not name or not isinstance(object_type, str):
            out.issues.append(
                Issue(record_key(record), "*", raw_text(record), "property without a name or object type")
            )
            out.rejected += 1
            continue
        assert isinstance(record, dict)
        f = Fields(f"{object_type}/{name}", out.issues)
        raw = {k: v for k, v in record.items() if k != "objectType"}
        out.entities.append(
            {
                "id": f.record_id,
                "object_type": object_type,
                "name": name,
                "label": f.text(record, "label"),
                "type": f.text(record, "type"),
                "field_type": f.text(record, "fieldType"),
                "group_name": f.text(record, "groupName"),
                "calculated": _flag(record, "calculated"),
                "hubspot_defined": _flag(record, "hubspotDefined"),
                "archived": bool(record.get("archived", False)),
                "raw": raw,
            }
        )
    return out
