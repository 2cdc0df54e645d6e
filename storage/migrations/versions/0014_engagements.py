"""sales engagements: meetings and calls with their contacts and deals

`hubspot_meetings` / `hubspot_calls` hold HubSpot's meeting and call activities (the CRM objects
APIs), `hubspot_meeting_associations` / `hubspot_call_associations` the contacts and deals each
is associated with; the attribution models read them as touchpoints (docs/kpis.md).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 17:19:44
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("meeting", "call")


def _text(length: int | None = None) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _time(name: str) -> sa.Column[object]:
    return sa.Column(name, storage.db.UTCDateTime(timezone=True), nullable=True)


def upgrade() -> None:
    for kind in KINDS:
        op.create_table(
            f"hubspot_{kind}s",
            sa.Column("connection", _text(100), nullable=False),
            sa.Column("id", _text(40), nullable=False),
            sa.Column("archived", sa.Boolean(), nullable=False),
            _time("archived_at"),
            _time("deleted_seen_at"),
            _time("created_at"),
            _time("updated_at"),
            _time("createdate"),
            _time("lastmodifieddate"),
            sa.Column("owner_id", _text(), nullable=True),
            sa.Column("merged_object_ids", _text(), nullable=True),
            sa.Column("merged_into", _text(40), nullable=True),
            sa.Column("analytics_source", _text(), nullable=True),
            sa.Column("analytics_source_data_1", _text(), nullable=True),
            sa.Column("analytics_source_data_2", _text(), nullable=True),
            _time("occurred_at"),
            sa.Column("title", _text(), nullable=True),
            sa.Column("outcome", _text(40), nullable=True),
            sa.Column("direction", _text(20), nullable=True),
            sa.Column(
                "raw",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
            ),
            _time("synced_at"),
            sa.Column("run_id", sa.Integer(), nullable=True),
            sa.PrimaryKeyConstraint("connection", "id"),
        )
        op.create_table(
            f"hubspot_{kind}_associations",
            sa.Column("connection", _text(100), nullable=False),
            sa.Column("engagement_id", _text(40), nullable=False),
            sa.Column("to_type", _text(20), nullable=False),
            sa.Column("to_id", _text(40), nullable=False),
            sa.PrimaryKeyConstraint("connection", "engagement_id", "to_type", "to_id"),
            sqlite_with_rowid=False,
        )
        with op.batch_alter_table(f"hubspot_{kind}_associations", schema=None) as batch_op:
            batch_op.create_index(
                f"ix_hubspot_{kind}_associations_to", ["connection", "to_type", "to_id"], unique=False
            )


def downgrade() -> None:
    for kind in KINDS:
        with op.batch_alter_table(f"hubspot_{kind}_associations", schema=None) as batch_op:
            batch_op.drop_index(f"ix_hubspot_{kind}_associations_to")
        op.drop_table(f"hubspot_{kind}_associations")
        op.drop_table(f"hubspot_{kind}s")
