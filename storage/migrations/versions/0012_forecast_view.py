"""the forecast family's view

`kpi_forecast`: the forecast's latest values one row per period, horizon (`stage`) and component
or method, with one column per forecast KPI (docs/kpis.md, "Forecast"; storage/views.py).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 21:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from storage.views import VIEWS_0011, VIEWS_0012, create_views, drop_views

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    drop_views(op.get_bind(), VIEWS_0011)
    create_views(op.get_bind(), VIEWS_0012, revision="0009")


def downgrade() -> None:
    drop_views(op.get_bind(), VIEWS_0012)
    create_views(op.get_bind(), VIEWS_0011, revision="0009")
