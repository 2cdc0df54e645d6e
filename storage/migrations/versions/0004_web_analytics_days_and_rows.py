"""web analytics days and rows

HubSpot's Reporting API v2 rows: one row per (report, day) stating its breakdowns completely,
and the breakdowns' counters (sources, drill-downs, UTM campaigns, pages).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 13:37:09.025361
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hubspot_analytics_days",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("report", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("breakdowns", sa.Integer(), nullable=False),
        sa.Column("synced_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("connection", "id"),
    )
    op.create_table(
        "hubspot_analytics_rows",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("day_id", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("breakdown", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("report", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("meta", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("visits", sa.Integer(), nullable=True),
        sa.Column("visitors", sa.Integer(), nullable=True),
        sa.Column("raw_views", sa.Integer(), nullable=True),
        sa.Column("contacts", sa.Integer(), nullable=True),
        sa.Column("subscribers", sa.Integer(), nullable=True),
        sa.Column("leads", sa.Integer(), nullable=True),
        sa.Column("marketing_qualified_leads", sa.Integer(), nullable=True),
        sa.Column("sales_qualified_leads", sa.Integer(), nullable=True),
        sa.Column("opportunities", sa.Integer(), nullable=True),
        sa.Column("customers", sa.Integer(), nullable=True),
        sa.Column("submissions", sa.Integer(), nullable=True),
        sa.Column("entrances", sa.Integer(), nullable=True),
        sa.Column("exits", sa.Integer(), nullable=True),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("connection", "day_id", "breakdown"),
    )
    with op.batch_alter_table("hubspot_analytics_rows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hubspot_analytics_rows_report_day", ["connection", "report", "day"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("hubspot_analytics_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_hubspot_analytics_rows_report_day")

    op.drop_table("hubspot_analytics_rows")
    op.drop_table("hubspot_analytics_days")
