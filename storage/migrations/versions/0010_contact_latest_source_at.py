"""contacts' latest source time; the attribution family's view

`hubspot_contacts.latest_source_at` (HubSpot's `hs_latest_source_timestamp`): when the session of
the contact's latest source was, the last touch of the attribution models (docs/kpis.md,
"Attribution"). Contacts synced before this revision get it with their next change or the next
full sync. The views are made again with the new `kpi_attribution` (storage/views.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 17:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.db
from storage.views import VIEWS_0007, VIEWS_0010, create_views, drop_views

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hubspot_contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("latest_source_at", storage.db.UTCDateTime(timezone=True), nullable=True)
        )
    drop_views(op.get_bind(), VIEWS_0007)
    create_views(op.get_bind(), VIEWS_0010, revision="0009")


def downgrade() -> None:
    drop_views(op.get_bind(), VIEWS_0010)
    create_views(op.get_bind(), VIEWS_0007, revision="0009")
    with op.batch_alter_table("hubspot_contacts", schema=None) as batch_op:
        batch_op.drop_column("latest_source_at")
