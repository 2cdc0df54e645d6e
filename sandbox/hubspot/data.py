"""What a sandbox portal is made of: its record shape, the vocabulary the generator draws from
(stages, pipelines, sources, names), the portal's fixed pipelines and owners, and the loader of
portals from fixture files (the generator is in generator.py, marketing emails in emails.py)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

Record = dict[str, Any]

FUNNEL = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"]
LIFECYCLE_OPTIONS = [*FUNNEL, "evangelist", "other"]
LIFECYCLE_LABELS = {
    "subscriber": "Subscriber",
    "lead": "Lead",
    "marketingqualifiedlead": "Marketing Qualified Lead",
    "salesqualifiedlead": "Sales Qualified Lead",
    "opportunity": "Opportunity",
    "customer": "Customer",
    "evangelist": "Evangelist",
    "other": "Other",
}

# (value, share of contacts, conversion quality, drill-down values)
SOURCES: list[tuple[str, float, float, list[str]]] = [
    ("ORGANIC_SEARCH", 0.24, 1.10, ["google", "bing", "duckduckgo"]),
    ("PAID_SEARCH", 0.12, 0.85, ["google ads", "microsoft ads"]),
    ("EMAIL_MARKETING", 0.08, 1.05, ["newsletter", "nurture-q1", "webinar-invite"]),
    ("SOCIAL_MEDIA", 0.08, 0.80, ["LinkedIn", "Facebook", "X", "Instagram"]),
    ("PAID_SOCIAL", 0.07, 0.70, ["LinkedIn", "Facebook"]),
    ("REFERRALS", 0.10, 1.35, ["partner.example.com", "g2.com", "capterra.com"]),
    ("DIRECT_TRAFFIC", 0.14, 1.00, []),
    ("OFFLINE", 0.10, 0.95, ["IMPORT", "CRM_UI", "API"]),
    ("OTHER_CAMPAIGNS", 0.04, 0.90, ["spring-fair", "partner-webinar"]),
    ("AI_REFERRALS", 0.03, 1.20, ["chatgpt.com", "perplexity.ai"]),
]

DEFAULT_PIPELINE = "default"
RENEWAL_PIPELINE = "75894301"
DEFAULT_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled", "0.2", "false"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", "false"),
    ("presentationscheduled", "Presentation Scheduled", "0.6", "false"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", "false"),
    ("contractsent", "Contract Sent", "0.9", "false"),
    ("closedwon", "Closed Won", "1.0", "true"),
    ("closedlost", "Closed Lost", "0.0", "true"),
]
RENEWAL_STAGES = [
    ("130845001", "Renewal Due", "0.5", "false"),
    ("130845002", "Negotiation", "0.75", "false"),
    ("130845003", "Renewed", "1.0", "true"),
    ("130845004", "Churned", "0.0", "true"),
]
CURRENCIES = [("SEK", 0.80, 1.0), ("EUR", 0.12, 11.5), ("NOK", 0.08, 0.98)]
INDUSTRIES = [
    "MANUFACTURING",
    "COMPUTER_SOFTWARE",
    "LOGISTICS",
    "CONSTRUCTION",
    "RETAIL",
    "FINANCIAL_SERVICES",
]
FIRST = ["Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Sofia", "Nils", "Ingrid", "Ola", "Kari", "Mats"]
LAST = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Hansen", "Olsen", "Larsen", "Berg", "Lindqvist"]
PERSONAS = ["persona_1", "persona_2", "persona_3"]
PERSONA_LABELS = {"persona_1": "Operations Olivia", "persona_2": "Technical Tom", "persona_3": "CFO Carl"}


def iso(value: datetime) -> str:
    """HubSpot's datetime format: UTC, milliseconds, `Z` (every rendered record needs several)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


@dataclass
class GeneratorOptions:
    contacts: int = 1000
    deals: int | None = None
    companies: int | None = None
    seed: int = 1
    now: datetime | None = None
    history_days: int = 730
    legacy_stage_properties: bool = False
    custom_stages: list[tuple[str, str]] = field(default_factory=list)
    home_currency: str = "SEK"
    malformed: int = 0


@dataclass
class PortalData:
    """Everything a sandbox portal starts with, in HubSpot's record shape."""

    contacts: list[Record] = field(default_factory=list)
    companies: list[Record] = field(default_factory=list)
    deals: list[Record] = field(default_factory=list)
    # Sales engagements (sandbox/hubspot/engagements.py), associated with contacts and deals.
    meetings: list[Record] = field(default_factory=list)
    calls: list[Record] = field(default_factory=list)
    pipelines: list[Record] = field(default_factory=list)
    owners: list[Record] = field(default_factory=list)
    # (from_type, from_id, to_type, to_id)
    associations: list[tuple[str, int, str, int]] = field(default_factory=list)
    lifecycle_options: list[tuple[str, str]] = field(
        default_factory=lambda: [(s, LIFECYCLE_LABELS[s]) for s in LIFECYCLE_OPTIONS]
    )
    legacy_stage_properties: bool = False
    # Marketing emails in the shape of GET /marketing/v3/emails?includeStats=true.
    marketing_emails: list[dict[str, Any]] = field(default_factory=list)
    # Marketing campaigns with their budget and spend items (sandbox/hubspot/campaigns.py).
    campaigns: list[dict[str, Any]] = field(default_factory=list)


def new_record(record_id: int, props: dict[str, Any], created: datetime, updated: datetime) -> Record:
    clean = {k: v for k, v in props.items() if v is not None}
    clean["hs_object_id"] = str(record_id)
    return {
        "id": record_id,
        "properties": clean,
        "createdAt": created,
        "updatedAt": updated,
        "archived": False,
    }


def build_pipelines() -> list[Record]:
    def stages(spec: list[tuple[str, str, str, str]], rng: random.Random) -> list[Record]:
        items = [
            {
                "id": sid,
                "label": label,
                "displayOrder": order,
                "metadata": {"isClosed": closed, "probability": prob},
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                "archived": False,
                "createdAt": "1970-01-01T00:00:00Z",
                "updatedAt": "1970-01-01T00:00:00Z",
            }
            for order, (sid, label, prob, closed) in enumerate(spec)
        ]
        rng.shuffle(items)  # HubSpot does not promise displayOrder order
        return items

    rng = random.Random(7)
    return [
        {
            "id": DEFAULT_PIPELINE,
            "label": "Sales Pipeline",
            "displayOrder": 0,
            "archived": False,
            "createdAt": "1970-01-01T00:00:00Z",
            "updatedAt": "1970-01-01T00:00:00Z",
            "stages": stages(DEFAULT_STAGES, rng),
        },
        {
            "id": RENEWAL_PIPELINE,
            "label": "Renewals",
            "displayOrder": 1,
            "archived": False,
            "createdAt": "2023-03-01T09:12:44.120Z",
            "updatedAt": "2024-01-15T13:02:10.004Z",
            "stages": stages(RENEWAL_STAGES, rng),
        },
    ]


def build_owners(now: datetime) -> list[Record]:
    owners = []
    for i in range(8):
        created = now - timedelta(days=900 - i * 40)
        owners.append(
            {
                "id": str(40_000_001 + i * 7),
                "email": f"{FIRST[i].lower()}.{LAST[i].lower()}@sandbox-portal.example",
                "firstName": FIRST[i],
                "lastName": LAST[i],
                "type": "PERSON",
                "userId": 9_100_000 + i,
                "userIdIncludingInactive": 9_100_000 + i,
                "createdAt": iso(created),
                "updatedAt": iso(created + timedelta(days=30)),
                "archived": i == 7,
                "teams": [{"id": "178588", "name": "Nordic Sales", "primary": True}],
            }
        )
    return owners


def _parse_time(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return fallback


def load_fixture(path: Path, *, now: datetime | None = None) -> PortalData:
    """A portal from a JSON file of records in HubSpot's own API shape (see docs/sandbox.md)."""
    now = now or datetime.now(UTC)
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the fixture must be a JSON object with contacts, companies, deals, …")
    data = PortalData(pipelines=raw.get("pipelines") or build_pipelines(), owners=raw.get("owners") or [])
    for object_type in ("contacts", "companies", "deals"):
        for item in raw.get(object_type) or []:
            if not isinstance(item, dict) or not str(item.get("id", "")).isdigit():
                raise ValueError(f"{path}: every {object_type} record needs a numeric string id")
            record_id = int(item["id"])
            props = {k: (None if v is None else str(v)) for k, v in (item.get("properties") or {}).items()}
            created = _parse_time(item.get("createdAt") or props.get("createdate"), now)
            modified_key = "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"
            updated = _parse_time(item.get("updatedAt") or props.get(modified_key), created)
            props.setdefault("createdate", iso(created))
            props.setdefault(modified_key, iso(updated))
            record = new_record(record_id, props, created, updated)
            if item.get("archived"):
                record["archived"] = True
                record["archivedAt"] = _parse_time(item.get("archivedAt"), updated)
            getattr(data, object_type).append(record)
            for to_type, block in (item.get("associations") or {}).items():
                for assoc in (block or {}).get("results", []):
                    data.associations.append((object_type, record_id, to_type, int(assoc["id"])))
    options = raw.get("lifecycle_options")
    if isinstance(options, list):
        data.lifecycle_options = [(str(o["value"]), str(o.get("label", o["value"]))) for o in options]
    return data
