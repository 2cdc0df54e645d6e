"""snapshot history and sync leases

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:06:42.491470
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hubspot_company_versions",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("valid_from", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_to", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("seen_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("lifecyclestage", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("industry", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("numberofemployees", sa.Integer(), nullable=True),
        sa.Column("annualrevenue", sa.Float(), nullable=True),
        sa.Column("analytics_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("connection", "record_id", "valid_from"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "hubspot_contact_versions",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("valid_from", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_to", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("seen_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("lifecyclestage", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("analytics_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("latest_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("company_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("persona", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("connection", "record_id", "valid_from"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "hubspot_deal_versions",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("valid_from", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_to", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("seen_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("pipeline", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("dealstage", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("amount_in_home_currency", sa.Float(), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("closedate", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("is_closed", sa.Boolean(), nullable=True),
        sa.Column("is_closed_won", sa.Boolean(), nullable=True),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("analytics_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("latest_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("connection", "record_id", "valid_from"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "mailchimp_member_versions",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("valid_from", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_to", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("seen_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("email_address", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("tags", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("connection", "record_id", "valid_from"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "raw_versions",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("valid_from", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_to", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("connection", "stream", "record_id", "valid_from"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("raw_versions", schema=None) as batch_op:
        batch_op.create_index("ix_raw_versions_valid_to", ["valid_to"], unique=False)

    op.create_table(
        "sync_leases",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("acquired_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connection", "source", "stream"),
    )
    _backfill()


# Every stored record gets its current values as a first version, valid since its last change
# (what history would hold had it been on when the record was last synced).
_BACKFILL = {
    "hubspot_contact_versions": (
        "hubspot_contacts",
        "lastmodifieddate",
        (
            "lifecyclestage",
            "analytics_source",
            "latest_source",
            "owner_id",
            "company_id",
            "persona",
            "archived",
        ),
    ),
    "hubspot_company_versions": (
        "hubspot_companies",
        "lastmodifieddate",
        (
            "lifecyclestage",
            "owner_id",
            "industry",
            "numberofemployees",
            "annualrevenue",
            "analytics_source",
            "archived",
        ),
    ),
    "hubspot_deal_versions": (
        "hubspot_deals",
        "lastmodifieddate",
        (
            "pipeline",
            "dealstage",
            "amount",
            "amount_in_home_currency",
            "currency",
            "closedate",
            "is_closed",
            "is_closed_won",
            "owner_id",
            "analytics_source",
            "latest_source",
            "archived",
        ),
    ),
    "mailchimp_member_versions": (
        "mailchimp_members",
        "last_changed",
        ("status", "email_address", "tags", "archived"),
    ),
}


def _backfill() -> None:
    for target, (source, changed, fields) in _BACKFILL.items():
        columns = ", ".join(fields)
        op.execute(
            f"INSERT INTO {target} (connection, record_id, valid_from, valid_to, seen_at, run_id, {columns}) "
            f"SELECT connection, id, COALESCE({changed}, synced_at, CURRENT_TIMESTAMP), NULL, "
            f"COALESCE(synced_at, CURRENT_TIMESTAMP), run_id, {columns} FROM {source}"
        )


def downgrade() -> None:
    op.drop_table("sync_leases")
    with op.batch_alter_table("raw_versions", schema=None) as batch_op:
        batch_op.drop_index("ix_raw_versions_valid_to")

    op.drop_table("raw_versions")
    op.drop_table("mailchimp_member_versions")
    op.drop_table("hubspot_deal_versions")
    op.drop_table("hubspot_contact_versions")
    op.drop_table("hubspot_company_versions")
