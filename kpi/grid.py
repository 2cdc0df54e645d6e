"""What every KPI family's grid shares: breakdown objects, contact cells rolled up into
(period, dimension), and the keys a family emits (every period for `all`, each seen breakdown)."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable

from kpi.inputs import CustomerFact, DimCell, KpiInputs, PeriodCell, StageCell
from kpi.model import ALL, Dim


@functools.lru_cache(maxsize=4096)
def dim(name: str, value: str) -> Dim:
    """Shared Dim objects: hundreds of thousands of records name a few dozen breakdowns."""
    return Dim(name, value)


def contact_dims(item: PeriodCell | StageCell | CustomerFact) -> tuple[Dim, ...]:
    """`all`, the original source and the latest source of contact cells and facts."""
    return (ALL, dim("source", item.source), dim("latest_source", item.latest_source))


def rollup(cells: Iterable[PeriodCell]) -> dict[tuple[int, Dim], tuple[int, int]]:
    """(period, dimension) → (n, hits), summing cells into `all`, per source and per latest source."""
    out: dict[tuple[int, Dim], list[int]] = defaultdict(lambda: [0, 0])
    for cell in cells:
        for d in contact_dims(cell):
            acc = out[cell.period, d]
            acc[0] += cell.n
            acc[1] += cell.hits
    return {k: (v[0], v[1]) for k, v in out.items()}


def dim_rollup(cells: Iterable[DimCell]) -> dict[tuple[int, Dim], tuple[int, int]]:
    """(period, custom dimension) → (n, hits), the cells of the two contact halves summed."""
    out: dict[tuple[int, Dim], list[int]] = defaultdict(lambda: [0, 0])
    for cell in cells:
        acc = out[cell.period, dim(cell.dimension, cell.value)]
        acc[0] += cell.n
        acc[1] += cell.hits
    return {k: (v[0], v[1]) for k, v in out.items()}


def dim_order(d: Dim) -> tuple[bool, str, str]:
    return (d != ALL, d.name, d.value)


def grid_keys(inputs: KpiInputs, found: Iterable[tuple[int, Dim]]) -> list[tuple[int, Dim]]:
    """Every period for `all` (zeros included, so charts have no gaps) plus each seen breakdown."""
    keys = {(i, ALL) for i in range(len(inputs.periods))} | set(found)
    return sorted(keys, key=lambda k: (k[0], *dim_order(k[1])))
