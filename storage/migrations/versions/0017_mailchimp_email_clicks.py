"""Mailchimp email clicks, and the touchpoints view with them

`mailchimp_email_clicks` holds each member who clicked a campaign (the per-member email activity:
first and last click, how many, the first link); the attribution models join it to CRM contacts
by address as `mailchimp_click` touches, and the `touchpoints` view gains them (docs/kpis.md,
docs/bi.md).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.db
from storage.views import create_touchpoints, drop_touchpoints

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int | None = None) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _time(name: str) -> sa.Column[object]:
    return sa.Column(name, storage.db.UTCDateTime(timezone=True), nullable=True)


def upgrade() -> None:
    op.create_table(
        "mailchimp_email_clicks",
        sa.Column("connection", _text(100), nullable=False),
        sa.Column("id", _text(80), nullable=False),
        sa.Column("campaign_id", _text(40), nullable=False),
        sa.Column("list_id", _text(40), nullable=True),
        sa.Column("email_id", _text(40), nullable=False),
        sa.Column("email_address", _text(), nullable=True),
        _time("first_click_at"),
        _time("last_click_at"),
        sa.Column("clicks", sa.Integer(), nullable=True),
        sa.Column("first_url", _text(), nullable=True),
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
        "ix_mailchimp_email_clicks_email",
        "mailchimp_email_clicks",
        ["connection", "email_address", "first_click_at", "archived"],
        unique=False,
    )
    bind = op.get_bind()
    drop_touchpoints(bind)
    create_touchpoints(bind, revision=17)


def downgrade() -> None:
    bind = op.get_bind()
    drop_touchpoints(bind)
    create_touchpoints(bind, revision=16)
    op.drop_index("ix_mailchimp_email_clicks_email", table_name="mailchimp_email_clicks")
    op.drop_table("mailchimp_email_clicks")
