"""kpi values' labels

HubSpot's names of each value's stage and dimension value (lifecycle and deal stages, pipelines,
owners, sources, personas) as synced when the KPIs were computed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kpi_values", schema=None) as batch_op:
        for name in ("stage_label", "dimension_label"):
            text = sqlmodel.sql.sqltypes.AutoString(length=400)
            batch_op.add_column(sa.Column(name, text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("kpi_values", schema=None) as batch_op:
        batch_op.drop_column("dimension_label")
        batch_op.drop_column("stage_label")
