"""HubSpot's two path families over one portal: the numbered APIs (`/crm/v3/objects/contacts`,
`/crm/v4/associations/...`) and the date-versioned ones HubSpot serves since 2026-03-30
(`/crm/objects/2026-09/contacts`). Each route is registered under both; the handlers are the same
and answer the dated shape where it differs (docs/sandbox.md lists the contract of each route).
"""

from __future__ import annotations

import re

from starlette.requests import Request

from sandbox.hubspot.model import SandboxError

# The date versions the sandbox speaks (HubSpot's 2026-03 and 2026-09 releases).
DATED_VERSIONS = ("2026-03", "2026-09")

# Dated path prefix → the numbered prefix of the same API (the version follows the API name).
_DATED_PREFIXES = (
    (re.compile(r"^/crm/objects/([^/]+)"), "/crm/v3/objects"),
    (re.compile(r"^/crm/associations/([^/]+)"), "/crm/v4/associations"),
    (re.compile(r"^/crm/properties/([^/]+)"), "/crm/v3/properties"),
    (re.compile(r"^/crm/pipelines/([^/]+)"), "/crm/v3/pipelines"),
    (re.compile(r"^/crm/owners/([^/]+)"), "/crm/v3/owners"),
    (re.compile(r"^/crm-object-schemas/([^/]+)"), "/crm/v3"),
    (re.compile(r"^/marketing/emails/([^/]+)"), "/marketing/v3/emails"),
    (re.compile(r"^/marketing/campaigns/([^/]+)"), "/marketing/v3/campaigns"),
    (re.compile(r"^/crm/exports/([^/]+)"), "/crm/v3/exports"),
)


def numbered_path(path: str) -> str:
    """The numbered path a dated path stands for (itself when it is not dated)."""
    for pattern, legacy in _DATED_PREFIXES:
        match = pattern.match(path)
        if match and match.group(1) in DATED_VERSIONS:
            return legacy + path[match.end() :]
    return path


def dated(request: Request) -> bool:
    """Whether the request came through a dated path (the route names a `version`); an unknown
    version answers 404 as HubSpot does for a path it does not serve."""
    version = request.path_params.get("version")
    if version is None:
        return False
    if version not in DATED_VERSIONS:
        raise SandboxError(
            404, "OBJECT_NOT_FOUND", f"Resource not found: {request.method} {request.url.path}"
        )
    return True
