"""kpi values' period label; the BI views say which periods are complete

`kpi_values.period_label` (`2026-11`, `2026-Q4`, `2026-W48`; empty for snapshot values) is written
with every computation from this revision on (earlier computations keep an empty label: the next
sync's computation has them). The views are made again with `period_label` and `complete`
(the period had ended when the KPIs were computed), so a dashboard over them needs no
partial-period filter of its own (storage/views.py, docs/bi.md).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 17:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from storage.views import VIEWS_0007, create_views, drop_views

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    drop_views(bind, VIEWS_0007)
    with op.batch_alter_table("kpi_values", schema=None) as batch_op:
        label = sqlmodel.sql.sqltypes.AutoString(length=10)
        batch_op.add_column(sa.Column("period_label", label, nullable=False, server_default=""))
    create_views(bind, VIEWS_0007, revision="0009")


def downgrade() -> None:
    bind = op.get_bind()
    drop_views(bind, VIEWS_0007)
    with op.batch_alter_table("kpi_values", schema=None) as batch_op:
        batch_op.drop_column("period_label")
    create_views(bind, VIEWS_0007, revision="0007")
