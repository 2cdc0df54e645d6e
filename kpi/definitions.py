"""The definitions reading and computing KPIs share (docs/kpis.md): the funnel's steps, the MQL
stage, the CLV window, the length of a day."""

from __future__ import annotations

import itertools
from collections.abc import Collection
from datetime import timedelta

DAY_SECONDS = 86_400.0
# CLV (and the CAC beside it) look back this far from as_of, whatever the grid.
CLV_WINDOW = timedelta(days=365)


def step(x: str, y: str) -> str:
    """The `stage` label of a conversion step."""
    return f"{x}>{y}"


def funnel_steps(stages: list[str]) -> list[tuple[str, str]]:
    """Each adjacent pair, then first → last (computed directly, never as a product of steps)."""
    pairs = list(itertools.pairwise(stages))
    if len(stages) > 2:
        pairs.append((stages[0], stages[-1]))
    return pairs


def mql_stage(stages: list[str]) -> str:
    """The stage that counts as marketing-qualified: HubSpot's own, else the funnel's second."""
    return "marketingqualifiedlead" if "marketingqualifiedlead" in stages else stages[1]


def open_stages(stages: list[str]) -> list[str]:
    """The open funnel the forecast follows: the MQL stage up to the one before the last."""
    return stages[stages.index(mql_stage(stages)) : -1]


# The streams each KPI family reads (docs/kpis.md, "Freshness"). When one of them failed or is
# unavailable after having brought data before, the family keeps its last values, marked stale,
# instead of being recomputed from a copy that stopped moving.
FAMILY_INPUTS: dict[str, tuple[str, ...]] = {
    "funnel": ("contacts",),
    "sources": ("contacts", "deals"),
    "web": ("web_analytics", "contacts", "deals"),
    "pipeline": ("deals", "pipelines"),
    "deal_stages": ("deals", "pipelines"),
    "cycle": ("deals", "contacts"),
    "spend": ("deals", "contacts"),
    "clv": ("deals",),
    "attribution": ("deals", "contacts"),
    "campaigns": ("campaigns", "contacts", "deals"),
    "forecast": ("deals", "contacts", "pipelines"),
    "email": ("marketing_emails", "mailchimp_campaigns", "mailchimp_reports"),
    "audience": ("mailchimp_lists", "mailchimp_members", "contacts"),
}


def stale_families(stale_streams: Collection[str]) -> set[str]:
    """The families that read any of `stale_streams`."""
    return {family for family, streams in FAMILY_INPUTS.items() if any(s in stale_streams for s in streams)}
