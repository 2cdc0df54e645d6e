"""The sandbox portal's vocabulary: object types as paths name them, the properties each type
always returns and changes by, HubSpot's association type ids, and the error the API answers with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.hubspot.data import Record

OBJECT_TYPES = {
    "contacts": "contacts",
    "0-1": "contacts",
    "companies": "companies",
    "0-2": "companies",
    "deals": "deals",
    "0-3": "deals",
    "calls": "calls",
    "0-48": "calls",
    "meetings": "meetings",
    "0-47": "meetings",
}

# Sales engagements: CRM objects read with the contacts scope (HubSpot's activity APIs).
ENGAGEMENT_TYPES = ("meetings", "calls")

SINGULAR = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "meetings": "meeting",
    "calls": "call",
}
# How an inline association's `type` names an object when it differs from the singular.
LABEL_NAMES = {"meetings": "meeting_event"}

MODIFIED = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
    "meetings": "hs_lastmodifieddate",
    "calls": "hs_lastmodifieddate",
}

ALWAYS = {
    "contacts": ("hs_object_id", "createdate", "lastmodifieddate"),
    "companies": ("hs_object_id", "createdate", "hs_lastmodifieddate"),
    "deals": ("hs_object_id", "createdate", "hs_lastmodifieddate"),
    "meetings": ("hs_object_id", "hs_createdate", "hs_lastmodifieddate"),
    "calls": ("hs_object_id", "hs_createdate", "hs_lastmodifieddate"),
}

# Properties whose change history the sandbox keeps and serves (`propertiesWithHistory`).
HISTORY_PROPERTIES = {"contacts": "lifecyclestage", "deals": "dealstage"}

# v4 association type ids (HubSpot-defined), by (from, to).
ASSOCIATION_TYPE_IDS = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    ("contacts", "calls"): 193,
    ("calls", "contacts"): 194,
    ("deals", "calls"): 205,
    ("calls", "deals"): 206,
    ("contacts", "meetings"): 199,
    ("meetings", "contacts"): 200,
    ("deals", "meetings"): 211,
    ("meetings", "deals"): 212,
}


class SandboxError(Exception):
    """A request the real API would refuse; carries HubSpot's status, category and message."""

    def __init__(
        self, status: int, category: str, message: str, context: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.context = context


@dataclass
class ListResult:
    records: list[Record]
    next_after: str | None


_PLURAL = {singular: plural for plural, singular in SINGULAR.items()}


def association_type(name: str) -> str | None:
    """Associations v3 names object types in the singular (`company`) or by id; v4 in the plural."""
    return OBJECT_TYPES.get(name) or _PLURAL.get(name)
