"""The BI views' KPI lists (storage/views.py) are kpi/'s families: a KPI added without a revision
that recreates the views would be missing from the wide tables."""

from __future__ import annotations

from collections import defaultdict

from kpi.model import FAMILIES
from storage.views import CURRENT


def test_the_current_views_cover_every_kpi_of_every_family():
    families: dict[str, list[str]] = defaultdict(list)
    for kpi, family in FAMILIES.items():
        families[family].append(kpi)
    assert {f: sorted(k) for f, k in families.items()} == {f: sorted(k) for f, k in CURRENT.items()}
