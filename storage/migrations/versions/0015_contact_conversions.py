"""contacts' first and latest conversion and marketing email click

`hubspot_contacts` gains `first_conversion_at` / `first_conversion`, `recent_conversion_at` /
`recent_conversion` (a form submission's time and event name) and `email_first_click_at` /
`email_last_click_at` (marketing email clicks): touches of the attribution models (docs/kpis.md).
A partial index on the contacts a campaign brought serves the campaigns family's counts.
Contacts synced before this revision get them with their next change or the next full sync.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 18:12:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (column, is a time)
COLUMNS = (
    ("first_conversion_at", True),
    ("first_conversion", False),
    ("recent_conversion_at", True),
    ("recent_conversion", False),
    ("email_first_click_at", True),
    ("email_last_click_at", True),
)


def upgrade() -> None:
    with op.batch_alter_table("hubspot_contacts", schema=None) as batch_op:
        for name, is_time in COLUMNS:
            kind = storage.db.UTCDateTime(timezone=True) if is_time else sqlmodel.sql.sqltypes.AutoString()
            batch_op.add_column(sa.Column(name, kind, nullable=True))
        batch_op.create_index(
            "ix_hubspot_contacts_campaign",
            ["connection", "first_touch_campaign", "createdate", "archived", "merged_into", "id"],
            unique=False,
            sqlite_where=sa.text("first_touch_campaign IS NOT NULL"),
            postgresql_where=sa.text("first_touch_campaign IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("hubspot_contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_hubspot_contacts_campaign")
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
