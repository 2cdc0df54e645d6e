"""the touchpoints view

`touchpoints`: every touch the attribution models see, one row per contact (or deal) and touch,
with its time, type, channel, campaign and content (docs/bi.md; storage/views.py).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 18:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from storage.views import create_touchpoints, drop_touchpoints

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_touchpoints(op.get_bind(), revision=16)


def downgrade() -> None:
    drop_touchpoints(op.get_bind())
