"""Which path funnelsync calls for each HubSpot endpoint, and until when HubSpot supports it.

HubSpot's REST APIs carry a date version in the path since 2026-03-30
(`/crm/objects/2026-09/contacts`); the numbered generations retire: v4 (associations) on
2027-03-30, OAuth v1 on 2027-02-16, v1-v3 in September 2027. One setting,
`hubspot.api_version`, picks the family: a date version (default 2026-09) for every endpoint that
has a dated equivalent, or `legacy` for the v3/v4 paths. The analytics v2 reports have no dated
equivalent and keep their legacy path either way. docs/sync.md lists the table below.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from config.sections import check_api_version

DEFAULT_API_VERSION = "2026-09"
LEGACY = "legacy"

# End of support of the numbered generations. HubSpot gives "September 2027" without a day for
# v1-v3: funnelsync counts from the 1st, so warnings come early rather than late.
V3_END = date(2027, 9, 1)
V4_END = date(2027, 3, 30)
OAUTH_V1_END = date(2027, 2, 16)
# General availability of the date versions (HubSpot's changelogs); a version is unsupported 18
# months after it. A version not listed is taken as released on the 1st of its month.
VERSION_GA = {"2026-03": date(2026, 3, 30), "2026-09": date(2026, 9, 8)}
# HubSpot's newest OAuth token endpoint: its 2026-09 OAuth document is a stub, and its guides
# name 2026-03 as the version to use.
OAUTH_VERSION = "2026-03"


def version_end(version: str) -> date:
    """When a date version becomes unsupported: 18 months after its general availability."""
    ga = VERSION_GA.get(version) or date(int(version[:4]), int(version[5:7]), 1)
    month = ga.month + 18
    year = ga.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, min(ga.day, 28))


@dataclass(frozen=True)
class Endpoint:
    """One endpoint: its legacy path, its dated path (`{version}` in it) and the legacy end."""

    name: str
    legacy: str
    dated: str | None
    legacy_end: date
    # The dated path's version when it does not follow the setting (OAuth).
    version: str | None = None


ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        Endpoint("objects", "/crm/v3/objects/{object_type}", "/crm/objects/{version}/{object_type}", V3_END),
        Endpoint(
            "search",
            "/crm/v3/objects/{object_type}/search",
            "/crm/objects/{version}/{object_type}/search",
            V3_END,
        ),
        Endpoint(
            "batch_read",
            "/crm/v3/objects/{object_type}/batch/read",
            "/crm/objects/{version}/{object_type}/batch/read",
            V3_END,
        ),
        Endpoint(
            "associations_batch",
            "/crm/v4/associations/{from_type}/{to_type}/batch/read",
            "/crm/associations/{version}/{from_type}/{to_type}/batch/read",
            V4_END,
        ),
        Endpoint(
            "properties",
            "/crm/v3/properties/{object_type}",
            "/crm/properties/{version}/{object_type}",
            V3_END,
        ),
        Endpoint(
            "pipelines", "/crm/v3/pipelines/{object_type}", "/crm/pipelines/{version}/{object_type}", V3_END
        ),
        Endpoint("owners", "/crm/v3/owners", "/crm/owners/{version}", V3_END),
        Endpoint("marketing_emails", "/marketing/v3/emails", "/marketing/emails/{version}", V3_END),
        Endpoint(
            "marketing_email",
            "/marketing/v3/emails/{email_id}",
            "/marketing/emails/{version}/{email_id}",
            V3_END,
        ),
        Endpoint("campaigns", "/marketing/v3/campaigns", "/marketing/campaigns/{version}", V3_END),
        Endpoint(
            "campaign_metrics",
            "/marketing/v3/campaigns/{campaign_id}/reports/metrics",
            "/marketing/campaigns/{version}/{campaign_id}/reports/metrics",
            V3_END,
        ),
        Endpoint(
            "campaign_budget",
            "/marketing/v3/campaigns/{campaign_id}/budget/totals",
            "/marketing/campaigns/{version}/{campaign_id}/budget/totals",
            V3_END,
        ),
        Endpoint(
            "export_start", "/crm/v3/exports/export/async", "/crm/exports/{version}/export/async", V3_END
        ),
        Endpoint(
            "export_status",
            "/crm/v3/exports/export/async/tasks/{task_id}/status",
            "/crm/exports/{version}/export/async/tasks/{task_id}/status",
            V3_END,
        ),
        Endpoint("analytics", "/analytics/v2/reports/{breakdown_by}/{time_period}", None, V3_END),
        Endpoint("event_occurrences", "/events/v3/events", "/events/event-occurrences/{version}", V3_END),
        Endpoint(
            "oauth_token", "/oauth/v1/token", "/oauth/{version}/token", OAUTH_V1_END, version=OAUTH_VERSION
        ),
    )
}


@dataclass(frozen=True)
class EndpointUse:
    """An endpoint as a run calls it: the path template and when HubSpot stops supporting it."""

    name: str
    path: str
    end_of_support: date
    dated: bool


class HubSpotPaths:
    """The paths of one API family (`api_version`: a date version or `legacy`)."""

    def __init__(self, api_version: str = DEFAULT_API_VERSION) -> None:
        self.api_version = check_api_version(api_version)

    @property
    def legacy(self) -> bool:
        return self.api_version == LEGACY

    def use(self, name: str) -> EndpointUse:
        endpoint = ENDPOINTS[name]
        if self.legacy or endpoint.dated is None:
            return EndpointUse(name, endpoint.legacy, endpoint.legacy_end, dated=False)
        version = endpoint.version or self.api_version
        return EndpointUse(
            name, endpoint.dated.replace("{version}", version), version_end(version), dated=True
        )

    def path(self, name: str, **params: str) -> str:
        """The path of endpoint `name` with its parameters filled in."""
        return self.use(name).path.format(**params)

    def uses(self) -> list[EndpointUse]:
        return [self.use(name) for name in ENDPOINTS]

    def support_warnings(self, names: Iterable[str], today: date, *, days: int = 90) -> list[str]:
        """One line per endpoint of `names` whose support by HubSpot ends within `days` of
        `today`, or has ended (`funnelsync check`)."""
        lines = []
        for name in dict.fromkeys(names):
            use = self.use(name)
            left = (use.end_of_support - today).days
            if left > days:
                continue
            when = f"ended {-left} days ago" if left < 0 else f"ends in {left} days"
            dated = ENDPOINTS[name].dated
            advice = (
                "no dated equivalent exists yet"
                if dated is None
                else (
                    "set hubspot.api_version to a date version"
                    if not use.dated
                    else "move to a newer date version"
                )
            )
            lines.append(f"{use.path}: HubSpot's support {when} ({use.end_of_support}); {advice}")
        return lines
