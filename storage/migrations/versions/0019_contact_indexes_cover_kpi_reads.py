"""two contact indexes cover more KPI reads

`ix_hubspot_contacts_kpi` gains `persona` (the persona family counts contacts created per period
and persona) and `ix_hubspot_contacts_stage` gains `email` (the audience link matches a million
contacts against a Mailchimp audience, kpi.read_email): both read the index instead of the wide
contact rows.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SOURCES = ["lifecyclestage", "analytics_source", "latest_source"]
_KPI = ["connection", "id", "archived", "merged_into", "createdate", *_SOURCES]
_STAGE = ["connection", *_SOURCES, "archived", "merged_into", "createdate"]


def _replace(name: str, columns: list[str]) -> None:
    op.drop_index(name, table_name="hubspot_contacts")
    op.create_index(name, "hubspot_contacts", columns, unique=False)


def upgrade() -> None:
    _replace("ix_hubspot_contacts_kpi", [*_KPI, "persona"])
    _replace("ix_hubspot_contacts_stage", [*_STAGE, "email"])


def downgrade() -> None:
    _replace("ix_hubspot_contacts_kpi", _KPI)
    _replace("ix_hubspot_contacts_stage", _STAGE)
