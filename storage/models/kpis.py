"""KPI computations, their values, and marketing spend."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from storage.db import JSONType, UTCDateTime


class KpiRun(SQLModel, table=True):
    """One KPI computation: when, as of when, on which grid, after which sync runs."""

    __tablename__ = "kpi_runs"

    id: int | None = Field(default=None, primary_key=True)
    connection: str = Field(max_length=100, index=True)
    computed_at: datetime = Field(sa_type=UTCDateTime)
    as_of: datetime = Field(sa_type=UTCDateTime)
    period: str = Field(max_length=20)
    timezone: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    trigger: str = Field(max_length=20)
    sync_run_ids: list[int] = Field(default_factory=list, sa_type=JSONType)
    values: int = 0
    seconds: float = 0.0


class KpiHistory(SQLModel, table=True):
    """Every KPI value of every computation (the long format of docs/exports.md)."""

    __tablename__ = "kpi_values"
    __table_args__ = (Index("ix_kpi_values_kpi", "connection", "kpi", "dimension", "dimension_value"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(index=True)
    connection: str = Field(max_length=100)
    kpi: str = Field(max_length=60)
    family: str = Field(max_length=20)
    stage: str = Field(default="", max_length=210)
    # HubSpot's names of the stage and the dimension value when the KPIs were computed.
    stage_label: str = Field(default="", max_length=400)
    period_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    period_end: datetime = Field(sa_type=UTCDateTime)
    # `2026-11`, `2026-Q4`, `2026-W48` in the computation's time zone; "" for snapshot values.
    period_label: str = Field(default="", max_length=10)
    dimension: str = Field(max_length=100)  # built-in names, or a custom property (kpi.dimensions)
    dimension_value: str = Field(max_length=200)
    dimension_label: str = Field(default="", max_length=400)
    value: float | None = None
    numerator: float | None = None
    denominator: float | None = None
    unit: str = Field(max_length=40)
    reason: str | None = Field(default=None, max_length=40)
    basis: str = Field(default="", max_length=60)
    computed_at: datetime = Field(sa_type=UTCDateTime)
    # Set when the value was carried over from an earlier computation because an input stream of
    # its family failed or became unavailable: when those inputs were last fresh.
    stale_since: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MarketingSpend(SQLModel, table=True):
    """Marketing spend per interval (dates inclusive) and channel, from `funnelsync spend import`."""

    __tablename__ = "marketing_spend"

    connection: str = Field(primary_key=True, max_length=100)
    period_start: date = Field(primary_key=True)
    period_end: date = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=100)
    amount: float
    currency: str = Field(max_length=3)
    source_file: str | None = None
    imported_at: datetime = Field(sa_type=UTCDateTime)
