"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 08:01:45.030957
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

import storage.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "hubspot_companies",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("archived_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_seen_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("createdate", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lastmodifieddate", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("merged_object_ids", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("merged_into", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("analytics_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("analytics_source_data_1", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("analytics_source_data_2", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("domain", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("industry", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("lifecyclestage", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("numberofemployees", sa.Integer(), nullable=True),
        sa.Column("annualrevenue", sa.Float(), nullable=True),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
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
        "hubspot_contact_associations",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("contact_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("to_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("to_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.PrimaryKeyConstraint("connection", "contact_id", "to_type", "to_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "hubspot_contact_stage_dates",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("contact_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("entered_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connection", "contact_id", "stage", "source"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "hubspot_contact_stage_transitions",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("contact_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("to_stage", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("from_stage", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("source_type", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.PrimaryKeyConstraint("connection", "contact_id", "at", "to_stage", "origin"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "hubspot_contacts",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("archived_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_seen_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("createdate", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lastmodifieddate", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("merged_object_ids", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("merged_into", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("analytics_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("analytics_source_data_1", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("analytics_source_data_2", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("firstname", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("lastname", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("lifecyclestage", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("lifecyclestage_known", sa.Boolean(), nullable=False),
        sa.Column("became_customer_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("company_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("persona", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("latest_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("latest_source_data_1", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("latest_source_data_2", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("synced_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("connection", "id"),
    )
    with op.batch_alter_table("hubspot_contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hubspot_contacts_kpi",
            [
                "connection",
                "id",
                "archived",
                "merged_into",
                "createdate",
                "lifecyclestage",
                "analytics_source",
                "latest_source",
            ],
            unique=False,
        )
        batch_op.create_index(
            "ix_hubspot_contacts_merged",
            ["connection", "merged_into"],
            unique=False,
            sqlite_where=sa.text("merged_into IS NOT NULL"),
            postgresql_where=sa.text("merged_into IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_hubspot_contacts_stage",
            [
                "connection",
                "lifecyclestage",
                "analytics_source",
                "latest_source",
                "archived",
                "merged_into",
                "createdate",
            ],
            unique=False,
        )

    op.create_table(
        "hubspot_deal_associations",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("deal_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("to_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("to_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.PrimaryKeyConstraint("connection", "deal_id", "to_type", "to_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "hubspot_deal_stage_dates",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("deal_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("entered_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connection", "deal_id", "stage", "source"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "hubspot_deal_stage_transitions",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("deal_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("to_stage", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("from_stage", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("source_type", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True),
        sa.PrimaryKeyConstraint("connection", "deal_id", "at", "to_stage", "origin"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "hubspot_deals",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("archived_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_seen_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("createdate", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lastmodifieddate", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("owner_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("merged_object_ids", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("merged_into", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("analytics_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("analytics_source_data_1", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("analytics_source_data_2", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("dealname", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("pipeline", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("dealstage", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("amount_in_home_currency", sa.Float(), nullable=True),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("closedate", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("is_closed", sa.Boolean(), nullable=True),
        sa.Column("is_closed_won", sa.Boolean(), nullable=True),
        sa.Column("latest_source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("synced_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("connection", "id"),
    )
    with op.batch_alter_table("hubspot_deals", schema=None) as batch_op:
        batch_op.create_index("ix_hubspot_deals_closedate", ["connection", "closedate"], unique=False)

    op.create_table(
        "hubspot_marketing_emails",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("email_type", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("campaign_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("sent_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent", sa.Integer(), nullable=True),
        sa.Column("delivered", sa.Integer(), nullable=True),
        sa.Column("unique_opens", sa.Integer(), nullable=True),
        sa.Column("unique_clicks", sa.Integer(), nullable=True),
        sa.Column("bounces", sa.Integer(), nullable=True),
        sa.Column("hard_bounces", sa.Integer(), nullable=True),
        sa.Column("soft_bounces", sa.Integer(), nullable=True),
        sa.Column("unsubscribes", sa.Integer(), nullable=True),
        sa.Column("spam_reports", sa.Integer(), nullable=True),
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
        "hubspot_owners",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("first_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("last_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
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
        "hubspot_pipeline_stages",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("pipeline_id", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("stage_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("display_order", sa.Integer(), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("is_closed", sa.Boolean(), nullable=False),
        sa.Column("is_won", sa.Boolean(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("connection", "pipeline_id", "stage_id"),
    )
    op.create_table(
        "hubspot_pipelines",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("object_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("display_order", sa.Integer(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
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
        "hubspot_properties",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("object_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=150), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("field_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("group_name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("calculated", sa.Boolean(), nullable=True),
        sa.Column("hubspot_defined", sa.Boolean(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
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
        "kpi_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("computed_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("as_of", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column(
            "sync_run_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("values", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kpi_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kpi_runs_connection"), ["connection"], unique=False)

    op.create_table(
        "kpi_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kpi", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("family", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=210), nullable=False),
        sa.Column("period_start", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_end", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("dimension_value", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("numerator", sa.Float(), nullable=True),
        sa.Column("denominator", sa.Float(), nullable=True),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("basis", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("computed_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("kpi_values", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kpi_values_kpi", ["connection", "kpi", "dimension", "dimension_value"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_kpi_values_run_id"), ["run_id"], unique=False)

    op.create_table(
        "mailchimp_campaigns",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("list_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("subject_line", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("create_time", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("send_time", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("emails_sent", sa.Integer(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
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
        "mailchimp_lists",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("date_created", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("member_count", sa.Integer(), nullable=True),
        sa.Column("unsubscribe_count", sa.Integer(), nullable=True),
        sa.Column("cleaned_count", sa.Integer(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
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
        "mailchimp_members",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("list_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("subscriber_hash", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("email_address", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("timestamp_signup", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("timestamp_opt", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_changed", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("member_rating", sa.Integer(), nullable=True),
        sa.Column("avg_open_rate", sa.Float(), nullable=True),
        sa.Column("avg_click_rate", sa.Float(), nullable=True),
        sa.Column("tags", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("synced_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("connection", "id"),
    )
    with op.batch_alter_table("mailchimp_members", schema=None) as batch_op:
        batch_op.create_index("ix_mailchimp_members_email", ["connection", "email_address"], unique=False)

    op.create_table(
        "mailchimp_reports",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("list_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("send_time", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("emails_sent", sa.Integer(), nullable=True),
        sa.Column("hard_bounces", sa.Integer(), nullable=True),
        sa.Column("soft_bounces", sa.Integer(), nullable=True),
        sa.Column("syntax_errors", sa.Integer(), nullable=True),
        sa.Column("opens_total", sa.Integer(), nullable=True),
        sa.Column("unique_opens", sa.Integer(), nullable=True),
        sa.Column("proxy_excluded_unique_opens", sa.Integer(), nullable=True),
        sa.Column("clicks_total", sa.Integer(), nullable=True),
        sa.Column("unique_subscriber_clicks", sa.Integer(), nullable=True),
        sa.Column("unsubscribed", sa.Integer(), nullable=True),
        sa.Column("abuse_reports", sa.Integer(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
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
        "mailchimp_unsubscribes",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("campaign_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("email_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("email_address", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("timestamp", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("connection", "campaign_id", "email_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "marketing_spend",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("source_file", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("imported_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connection", "period_start", "period_end", "channel"),
    )
    op.create_table(
        "quarantine",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("record_id", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("raw_value", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("detected_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("connection", "source", "stream", "record_id", "field"),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("started_at", storage.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("records_read", sa.Integer(), nullable=False),
        sa.Column("records_written", sa.Integer(), nullable=False),
        sa.Column("records_rejected", sa.Integer(), nullable=False),
        sa.Column("fields_quarantined", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("rate_limited", sa.Integer(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sync_runs_stream", ["connection", "source", "stream", "started_at"], unique=False
        )

    op.create_table(
        "sync_state",
        sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("stream", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column(
            "state",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", storage.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("connection", "source", "stream"),
    )


def downgrade() -> None:

    op.drop_table("sync_state")
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_sync_runs_stream")

    op.drop_table("sync_runs")
    op.drop_table("quarantine")
    op.drop_table("marketing_spend")
    op.drop_table("mailchimp_unsubscribes")
    op.drop_table("mailchimp_reports")
    with op.batch_alter_table("mailchimp_members", schema=None) as batch_op:
        batch_op.drop_index("ix_mailchimp_members_email")

    op.drop_table("mailchimp_members")
    op.drop_table("mailchimp_lists")
    op.drop_table("mailchimp_campaigns")
    with op.batch_alter_table("kpi_values", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kpi_values_run_id"))
        batch_op.drop_index("ix_kpi_values_kpi")

    op.drop_table("kpi_values")
    with op.batch_alter_table("kpi_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kpi_runs_connection"))

    op.drop_table("kpi_runs")
    op.drop_table("hubspot_properties")
    op.drop_table("hubspot_pipelines")
    op.drop_table("hubspot_pipeline_stages")
    op.drop_table("hubspot_owners")
    op.drop_table("hubspot_marketing_emails")
    with op.batch_alter_table("hubspot_deals", schema=None) as batch_op:
        batch_op.drop_index("ix_hubspot_deals_closedate")

    op.drop_table("hubspot_deals")
    op.drop_table("hubspot_deal_stage_transitions")
    op.drop_table("hubspot_deal_stage_dates")
    op.drop_table("hubspot_deal_associations")
    with op.batch_alter_table("hubspot_contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_hubspot_contacts_stage")
        batch_op.drop_index(
            "ix_hubspot_contacts_merged",
            sqlite_where=sa.text("merged_into IS NOT NULL"),
            postgresql_where=sa.text("merged_into IS NOT NULL"),
        )
        batch_op.drop_index("ix_hubspot_contacts_kpi")

    op.drop_table("hubspot_contacts")
    op.drop_table("hubspot_contact_stage_transitions")
    op.drop_table("hubspot_contact_stage_dates")
    op.drop_table("hubspot_contact_associations")
    op.drop_table("hubspot_companies")
