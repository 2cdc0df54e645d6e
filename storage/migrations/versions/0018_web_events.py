"""contacts' page views, and the touchpoints view with website visits

`hubspot_web_events` holds contacts' page views from HubSpot's event analytics API (Enterprise
portals); the attribution models turn them into `site_visit` touches and the `touchpoints` view
lists the visits (docs/kpis.md, docs/bi.md).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 21:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.db
from storage.views import create_touchpoints, drop_touchpoints

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int | None = None) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _time(name: str) -> sa.Column[object]:
    return sa.Column(name, storage.db.UTCDateTime(timezone=True), nullable=True)


def upgrade() -> None:
    op.create_table(
        "hubspot_web_events",
        sa.Column("connection", _text(100), nullable=False),
        sa.Column("id", _text(200), nullable=False),
        sa.Column("contact_id", _text(40), nullable=False),
        sa.Column("event_type", _text(100), nullable=True),
        _time("occurred_at"),
        sa.Column("url", _text(), nullable=True),
        sa.Column("title", _text(), nullable=True),
        sa.Column("source", _text(60), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        _time("synced_at"),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("connection", "id"),
    )
    op.create_index(
        "ix_hubspot_web_events_contact",
        "hubspot_web_events",
        ["connection", "contact_id", "occurred_at"],
        unique=False,
    )
    bind = op.get_bind()
    drop_touchpoints(bind)
    create_touchpoints(bind, revision=18)


def downgrade() -> None:
    bind = op.get_bind()
    drop_touchpoints(bind)
    create_touchpoints(bind, revision=17)
    op.drop_index("ix_hubspot_web_events_contact", table_name="hubspot_web_events")
    op.drop_table("hubspot_web_events")
