"""views for BI tools

`kpi_latest` and one wide `kpi_<family>` view per KPI family (storage/views.py, docs/bi.md),
built from this revision's frozen KPI lists.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 16:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from storage.views import VIEWS_0007, create_views, drop_views

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_views(op.get_bind(), VIEWS_0007)


def downgrade() -> None:
    drop_views(op.get_bind(), VIEWS_0007)
