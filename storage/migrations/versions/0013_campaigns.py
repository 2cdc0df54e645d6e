"""marketing campaigns, their budget and spend items, contacts' converting campaigns

`hubspot_campaigns` and `hubspot_campaign_items` hold HubSpot's marketing campaigns API
(docs/sync.md, "Campaigns"); `hubspot_contacts.first_touch_campaign` / `last_touch_campaign` the
campaigns of a contact's first and latest converting touch, which the campaigns and attribution
families break down by (docs/kpis.md). Contacts synced before this revision get them with their
next change or the next full sync. The BI views are made again with the new `kpi_campaigns`.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 22:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.db
from storage.views import VIEWS_0012, VIEWS_0013, create_views, drop_views

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int | None = None) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "hubspot_campaigns",
        sa.Column("connection", _text(100), nullable=False),
        sa.Column("id", _text(60), nullable=False),
        sa.Column("name", _text(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("status", _text(40), nullable=True),
        sa.Column("currency", _text(3), nullable=True),
        sa.Column("budget_total", sa.Float(), nullable=True),
        sa.Column("spend_total", sa.Float(), nullable=True),
        sa.Column("sessions", sa.Integer(), nullable=True),
        sa.Column("new_contacts_first_touch", sa.Integer(), nullable=True),
        sa.Column("new_contacts_last_touch", sa.Integer(), nullable=True),
        sa.Column("influenced_contacts", sa.Integer(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("synced_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("connection", "id"),
    )
    op.create_table(
        "hubspot_campaign_items",
        sa.Column("connection", _text(100), nullable=False),
        sa.Column("campaign_id", _text(60), nullable=False),
        sa.Column("kind", _text(10), nullable=False),
        sa.Column("item_id", _text(40), nullable=False),
        sa.Column("name", _text(), nullable=True),
        sa.Column("description", _text(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("item_order", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("connection", "campaign_id", "kind", "item_id"),
    )
    with op.batch_alter_table("hubspot_contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_touch_campaign", _text(60), nullable=True))
        batch_op.add_column(sa.Column("last_touch_campaign", _text(60), nullable=True))
    drop_views(op.get_bind(), VIEWS_0012)
    create_views(op.get_bind(), VIEWS_0013, revision="0009")


def downgrade() -> None:
    drop_views(op.get_bind(), VIEWS_0013)
    create_views(op.get_bind(), VIEWS_0012, revision="0009")
    with op.batch_alter_table("hubspot_contacts", schema=None) as batch_op:
        batch_op.drop_column("last_touch_campaign")
        batch_op.drop_column("first_touch_campaign")
    op.drop_table("hubspot_campaign_items")
    op.drop_table("hubspot_campaigns")
