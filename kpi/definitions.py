"""The definitions reading and computing KPIs share (docs/kpis.md): the funnel's steps, the MQL
stage, the CLV window, the length of a day."""

from __future__ import annotations

import itertools
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
