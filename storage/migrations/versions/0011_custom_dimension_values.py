"""custom dimension values: contact, deal and company properties named in kpi.dimensions

One row per record and configured property (`hubspot_contact_properties`,
`hubspot_deal_properties`, `hubspot_company_properties`): the value as text, and as a number or
a time where the portal types the property so. Each page of the record's stream states them
completely (a cleared value is removed). `kpi_values.dimension` widens to 100 characters, the
length of a property name (the views are made again around it). docs/kpis.md, "Custom
dimensions". The `kpi_sources` view gains `reported_vs_tracked_contacts`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.db
from storage.views import VIEWS_0010, VIEWS_0011, create_views, drop_views

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    ("hubspot_contact_properties", "contact_id"),
    ("hubspot_deal_properties", "deal_id"),
    ("hubspot_company_properties", "company_id"),
)


def upgrade() -> None:
    for table, owner in TABLES:
        op.create_table(
            table,
            sa.Column("connection", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
            sa.Column(owner, sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
            sa.Column("property", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
            sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
            sa.Column("number", sa.Float(), nullable=True),
            sa.Column("at", storage.db.UTCDateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("connection", owner, "property"),
            sqlite_with_rowid=False,
        )
    _dimension_length(100, 20, views=(VIEWS_0010, VIEWS_0011))


def downgrade() -> None:
    _dimension_length(20, 100, views=(VIEWS_0011, VIEWS_0010))
    for table, _ in reversed(TABLES):
        op.drop_table(table)


def _dimension_length(new: int, old: int, *, views: tuple[dict[str, tuple[str, ...]], ...]) -> None:
    """Widen or narrow `kpi_values.dimension`, the views dropped (`views[0]`) and made again
    (`views[1]`) around it."""
    bind = op.get_bind()
    drop_views(bind, views[0])
    with op.batch_alter_table("kpi_values", schema=None) as batch_op:
        batch_op.alter_column(
            "dimension",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=old),
            type_=sqlmodel.sql.sqltypes.AutoString(length=new),
            existing_nullable=False,
        )
    create_views(bind, views[1], revision="0009")
