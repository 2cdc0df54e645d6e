"""KPI computation as a service step: read the snapshot, compute, store the history, export."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from config import Settings
from connector.clock import Clock, SystemClock
from kpi.definitions import FAMILY_INPUTS, stale_families
from kpi.engine import compute
from kpi.labels import Labels
from kpi.model import KpiResult, KpiValue
from kpi.periods import Period, period_grid
from kpi.read_labels import read_labels
from kpi.reader import read_inputs
from service.exports import ExportedFile, export_rows, write_exports
from storage import require_current
from storage.kpis import kpi_rows, latest_kpi_run, save_kpi_run
from storage.runs import last_success, latest_runs

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

    # Families whose inputs were not fresh: their values carried over from the last computation
    # (history rows with `stale_since`), in place of this computation's.
    stale: dict[str, datetime] = field(default_factory=dict)
    carried: list[dict[str, Any]] = field(default_factory=list)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    # HubSpot's names of the stages and dimension values, as synced at this computation.
    labels: Labels = field(default_factory=Labels)

    def labelled(self, v: KpiValue) -> dict[str, str]:
        return {
            "stage_label": self.labels.stage(v.family, v.stage),
            "dimension_label": self.labels.dimension(v.dim.name, v.dim.value),
        }

    def fresh(self) -> list[KpiValue]:
        """This computation's values, less those of stale families."""
        return [v for v in self.result.values if v.family not in self.stale]

    def history(self, connection: str) -> list[dict[str, Any]]:
        """The rows `kpi_values` gets: this computation's fresh values, then the carried ones."""
        fresh = [
            {
                **v.record(as_of=self.result.as_of),
                **self.labelled(v),
                "connection": connection,
                "computed_at": self.computed_at,
                "stale_since": None,  # every row names every column: one executemany statement
            }
            for v in self.fresh()
        ]
        return [*fresh, *self.carried]

    def rows(self) -> list[dict[str, object]]:
        """The export rows (docs/exports.md): the history rows as the exports and the API write
        them (service.exports.export_rows), under this computation's run id."""
        kind, as_of = self.periods[0].kind, self.result.as_of
        rows = export_rows(self.history(""), self.tz, period_kind=kind, as_of=as_of)
        return [{**r, "run_id": self.run_id} for r in rows]


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
    labels = read_labels(engine, connection=settings.connection, dimensions=settings.kpi.dimension_names)
    report = KpiReport(result, periods, computed_at=clock.now(), tz=tz, labels=labels)
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
    """Compute, store in the KPI history (keyed by run id) and write the exports. A family whose
    input streams failed or became unavailable since they last brought data keeps its last
    values, marked `stale_since` the time its inputs were last fresh; the others are recomputed."""
    report = compute_kpis(settings, engine, clock=clock, as_of=as_of)
    result = report.result
    report.stale, report.carried = _stale_families(engine, settings.connection)
    values = report.history(settings.connection)
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
            "values": len(values),
            "seconds": round(report.seconds, 3),
        },
        values=values,
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
        mode=settings.export_file_mode,
    )
    if report.stale:
        log.warning(
            "kpi families kept from the last computation, their inputs not fresh: %s",
            ", ".join(f"{f} (since {t:%Y-%m-%d %H:%M} UTC)" for f, t in sorted(report.stale.items())),
            extra={"connection": settings.connection},
        )
    log.info(
        "kpis computed: %d values in %.2f s (kpi run %d)",
        len(values),
        report.seconds,
        report.run_id,
        extra={"run_id": report.run_id, "connection": settings.connection},
    )
    return report


# Run statuses after which a stream's copy is not known to be current.
NOT_FRESH = ("failed", "unavailable", "deferred", "interrupted", "cancelled")


def stale_streams(engine: Engine, connection: str) -> dict[str, datetime]:
    """Streams whose latest run did not bring them up to date although an earlier run did: the
    time of that last success. (A stream that never succeeded has no data to go stale.)"""
    succeeded = last_success(engine)
    out: dict[str, datetime] = {}
    for run in latest_runs(engine, connection=connection):
        last = succeeded.get((run.connection, run.source, run.stream))
        if run.status in NOT_FRESH and last is not None:
            out[run.stream] = last
    return out


def _stale_families(engine: Engine, connection: str) -> tuple[dict[str, datetime], list[dict[str, Any]]]:
    """(stale family → since when, the last computation's rows of those families to carry over).
    A stale family that has no earlier values is left out rather than computed from a copy
    that stopped moving."""
    streams = stale_streams(engine, connection)
    families = stale_families(streams)
    if not families:
        return {}, []
    since = {f: min(streams[s] for s in FAMILY_INPUTS[f] if s in streams) for f in families}
    previous = latest_kpi_run(engine, connection=connection)
    carried: list[dict[str, Any]] = []
    if previous is not None and previous.id is not None:
        for row in kpi_rows(engine, run_id=previous.id):
            if row["family"] in families:
                kept = {k: v for k, v in row.items() if k not in ("id", "run_id")}
                kept["stale_since"] = row.get("stale_since") or since[row["family"]]
                carried.append(kept)
    return since, carried
