"""kpi values' stale_since; empty-date quarantine rows cleared

A KPI family whose input streams failed or became unavailable keeps its last values, marked with
the time its inputs were last fresh (`kpi_values.stale_since`). HubSpot's "" for a cleared date is
no longer a quarantine finding: the rows earlier versions wrote for it are removed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMPTY_DATE_REASON = "empty string where a date was expected"


def upgrade() -> None:
    with op.batch_alter_table("kpi_values", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stale_since", storage.db.UTCDateTime(timezone=True), nullable=True))
    quarantine = sa.table("quarantine", sa.column("reason", sa.String))
    op.execute(quarantine.delete().where(quarantine.c.reason == EMPTY_DATE_REASON))


def downgrade() -> None:
    with op.batch_alter_table("kpi_values", schema=None) as batch_op:
        batch_op.drop_column("stale_since")
