"""KPI computation as a service step: read the snapshot, compute, store the history, export."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from config import Settings
from connector.clock import Clock, SystemClock
from kpi.engine import compute
from kpi.model import KpiResult
from kpi.periods import Period, period_grid
from kpi.reader import read_inputs
from service.exports import ExportedFile, write_exports
from storage import require_current
from storage.kpis import save_kpi_run

log = logging.getLogger("funnelsync.kpi")


@dataclass
class KpiReport:
    """One computation: its values, where they were stored and written."""

    result: KpiResult
    periods: list[Period]
    computed_at: datetime
    run_id: int | None = None
    seconds: float = 0.0
    files: list[ExportedFile] = field(default_factory=list)

    def rows(self) -> list[dict[str, object]]:
        return [
            v.as_row(run_id=self.run_id, computed_at=self.computed_at, as_of=self.result.as_of)
            for v in self.result.values
        ]


def compute_kpis(
    settings: Settings,
    engine: Engine,
    *,
    clock: Clock | None = None,
    as_of: datetime | None = None,
    period: str | None = None,
    first: str | None = None,
    last: str | None = None,
) -> KpiReport:
    """Compute every KPI from the stored snapshot (nothing is written)."""
    clock = clock or SystemClock()
    tz = ZoneInfo(settings.reporting_timezone)
    as_of = as_of or clock.now()
    kpi = settings.kpi
    periods = period_grid(
        period or kpi.period, tz, as_of=as_of, periods_back=kpi.periods_back, first=first, last=last
    )
    started = time.perf_counter()
    require_current(engine)
    inputs = read_inputs(
        engine, connection=settings.connection, settings=kpi, periods=periods, as_of=as_of, tz=tz
    )
    result = compute(inputs)
    report = KpiReport(result, periods, computed_at=clock.now())
    report.seconds = time.perf_counter() - started
    return report


def run_kpis(
    settings: Settings,
    engine: Engine,
    *,
    trigger: str,
    clock: Clock | None = None,
    sync_run_ids: Sequence[int] = (),
    as_of: datetime | None = None,
    out_dir: Path | None = None,
    formats: Sequence[str] = ("csv", "json"),
) -> KpiReport:
    """Compute, store in the KPI history (keyed by run id) and write the exports."""
    report = compute_kpis(settings, engine, clock=clock, as_of=as_of)
    result = report.result
    history_rows = [
        {
            **v.record(as_of=result.as_of),
            "connection": settings.connection,
            "computed_at": report.computed_at,
        }
        for v in result.values
    ]
    report.run_id = save_kpi_run(
        engine,
        run={
            "connection": settings.connection,
            "computed_at": report.computed_at,
            "as_of": result.as_of,
            "period": report.periods[0].kind,
            "timezone": settings.reporting_timezone,
            "currency": result.currency,
            "trigger": trigger,
            "sync_run_ids": list(sync_run_ids),
            "values": len(result.values),
            "seconds": round(report.seconds, 3),
        },
        values=history_rows,
        keep=settings.kpi.history_keep,
    )
    report.files = write_exports(
        out_dir or settings.exports_path,
        report.rows(),
        run_id=report.run_id,
        as_of=result.as_of,
        generated_at=report.computed_at,
        currency=result.currency,
        timezone=settings.reporting_timezone,
        formats=formats,
    )
    log.info(
        "kpis computed: %d values in %.2f s (kpi run %d)",
        len(result.values),
        report.seconds,
        report.run_id,
        extra={"run_id": report.run_id, "connection": settings.connection},
    )
    return report
