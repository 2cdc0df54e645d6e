"""sync_runs.records_expected: how many records a run expects to read

Set when a stream starts: the API's own count where it can say cheaply (HubSpot's search
`total`), else what the stream's last successful run of the same mode read. The terminal, `resync
--follow` and the admin API show percent and time left from it; NULL when nothing is known.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("records_expected", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_column("records_expected")
