"""KPI history and marketing spend: writes and reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select

from storage.db import table_of
from storage.models import KpiHistory, KpiRun, MarketingSpend
from storage.sql import upsert


def save_kpi_run(
    engine: Engine,
    *,
    run: dict[str, Any],
    values: Sequence[dict[str, Any]],
    keep: int = 0,
) -> int:
    """Store one computation and its values atomically; prune the oldest beyond `keep` (0 = all)."""
    runs = table_of(KpiRun)
    history = table_of(KpiHistory)
    with engine.begin() as conn:
        run_id = int(conn.execute(runs.insert().values(**run).returning(runs.c.id)).scalar_one())
        if values:
            conn.execute(history.insert(), [{**v, "run_id": run_id} for v in values])
        if keep:
            stale = (
                select(runs.c.id)
                .where(runs.c.connection == run["connection"])
                .order_by(runs.c.id.desc())
                .offset(keep)
            )
            stale_ids = [r[0] for r in conn.execute(stale)]
            if stale_ids:
                conn.execute(delete(history).where(history.c.run_id.in_(stale_ids)))
                conn.execute(delete(runs).where(runs.c.id.in_(stale_ids)))
    return run_id


def latest_kpi_run(engine: Engine, *, connection: str) -> KpiRun | None:
    runs = table_of(KpiRun)
    with engine.connect() as conn:
        row = conn.execute(
            select(runs).where(runs.c.connection == connection).order_by(runs.c.id.desc()).limit(1)
        ).first()
    return KpiRun.model_validate(row._mapping) if row is not None else None


def kpi_values(engine: Engine, *, run_id: int) -> list[KpiHistory]:
    history = table_of(KpiHistory)
    with engine.connect() as conn:
        rows = conn.execute(select(history).where(history.c.run_id == run_id).order_by(history.c.id))
        return [KpiHistory.model_validate(r._mapping) for r in rows]


def kpi_run_count(engine: Engine, *, connection: str) -> int:
    runs = table_of(KpiRun)
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(runs.c.connection == connection)).scalar_one())


def save_spend(engine: Engine, rows: Iterable[dict[str, Any]]) -> int:
    """Insert or update spend rows by (connection, period, channel): re-importing is idempotent."""
    batch = list(rows)
    with engine.begin() as conn:
        upsert(conn, MarketingSpend, batch)
    return len(batch)


def list_spend(engine: Engine, *, connection: str) -> list[MarketingSpend]:
    spend = table_of(MarketingSpend)
    with engine.connect() as conn:
        rows = conn.execute(
            select(spend)
            .where(spend.c.connection == connection)
            .order_by(spend.c.period_start, spend.c.channel)
        )
        return [MarketingSpend.model_validate(r._mapping) for r in rows]


def delete_spend(engine: Engine, *, connection: str) -> int:
    spend = table_of(MarketingSpend)
    with engine.begin() as conn:
        return int(conn.execute(delete(spend).where(spend.c.connection == connection)).rowcount)


__all__ = [
    "delete_spend",
    "kpi_run_count",
    "kpi_values",
    "latest_kpi_run",
    "list_spend",
    "save_kpi_run",
    "save_spend",
]


def kpi_rows(
    engine: Engine,
    *,
    run_id: int,
    kpi: str | None = None,
    kpis: Iterable[str] | None = None,
    dimension: str | None = None,
    dimensions: Iterable[str] | None = None,
    dimension_value: str | None = None,
    start_from: datetime | None = None,
    start_before: datetime | None = None,
) -> list[dict[str, Any]]:
    """One computation's values as plain rows (column → value; thousands per request, so no
    model validation), filtered in the database; period bounds apply to period KPIs (snapshot
    values, which have no period, are kept)."""
    history = table_of(KpiHistory)
    query = select(history).where(history.c.run_id == run_id).order_by(history.c.id)
    if kpi is not None:
        query = query.where(history.c.kpi == kpi)
    if kpis is not None:
        query = query.where(history.c.kpi.in_(sorted(kpis)))
    if dimensions is not None:
        query = query.where(history.c.dimension.in_(sorted(dimensions)))
    if dimension is not None:
        query = query.where(history.c.dimension == dimension)
    if dimension_value is not None:
        query = query.where(history.c.dimension_value == dimension_value)
    if start_from is not None:
        query = query.where(or_(history.c.period_start.is_(None), history.c.period_start >= start_from))
    if start_before is not None:
        query = query.where(or_(history.c.period_start.is_(None), history.c.period_start < start_before))
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
