"""Running a sync from a terminal: live progress per stream, a result table, an exit code."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from config import Settings
from connector.clock import Clock
from service.exitcodes import EXIT_AUTH, EXIT_BUSY, EXIT_DEFERRED, EXIT_FAILED, EXIT_OK
from service.kpis import KpiReport, run_kpis
from service.progress import SyncDisplay
from service.runbook import StreamOutcome, refreshes_kpis
from service.sync import build_sync
from storage import make_engine


def run_sync_with_progress(
    settings: Settings,
    *,
    streams: Sequence[str] | None,
    full: bool,
    trigger: str,
    console: Console,
    clock: Clock | None = None,
    source: str = "hubspot",
) -> list[StreamOutcome]:
    """One sync run of `source` with a live display per stream: records against what it expects
    to read, percent and time left; done marks as streams end (service/progress.py)."""
    engine = make_engine(settings.db_url)
    try:
        with SyncDisplay(console) as display:
            return build_sync(source, settings, engine, clock=clock, progress=display).run(
                streams=streams, full=full, trigger=trigger
            )
    finally:
        engine.dispose()


# How a run status is shown in terminal tables.
STATUS_STYLES = {
    "succeeded": "green",
    "failed": "red",
    "unavailable": "yellow",
    "deferred": "yellow",
    "skipped": "yellow",
}


def exit_code_for(outcomes: Sequence[StreamOutcome]) -> int:
    """Auth 4, a failure (or a core stream unavailable) 1, deferred 3, busy 6, else 0: optional
    data or metadata unavailable is a warning, not a failure."""
    if any(o.stops_run for o in outcomes):
        return EXIT_AUTH
    if any(o.fails_run for o in outcomes):
        return EXIT_FAILED
    if any(o.status == "deferred" for o in outcomes):
        return EXIT_DEFERRED
    if any(o.status == "skipped" for o in outcomes):
        return EXIT_BUSY
    return EXIT_OK


def print_outcomes(outcomes: Sequence[StreamOutcome], console: Console) -> None:
    table = Table(title="Sync result")
    for column in ("stream", "mode", "status"):
        table.add_column(column, no_wrap=True)
    for column in ("pages", "read", "written", "rejected", "quarantined", "run"):
        table.add_column(column, justify="right")
    for o in outcomes:
        style = STATUS_STYLES.get(o.status, "white")
        table.add_row(
            o.stream,
            o.mode,
            f"[{style}]{o.status}[/{style}]",
            f"{o.pages:,}",
            f"{o.read:,}",
            f"{o.written:,}",
            f"{o.rejected:,}",
            f"{o.quarantined:,}",
            str(o.run_id),
        )
    console.print(table)
    for o in outcomes:
        if o.error and not o.error.startswith("not run:"):  # a stream passed over says why in the table
            colour = "yellow" if o.status == "unavailable" and o.degradable else "red"
            console.print(f"[{colour}]{o.stream}:[/{colour}] {escape(o.error)}")


def kpis_after_sync(
    settings: Settings,
    outcomes: Sequence[StreamOutcome],
    console: Console,
    *,
    trigger: str,
    clock: Clock | None = None,
    as_of: datetime | None = None,
) -> KpiReport | None:
    """Recompute, store and export the KPIs after a sync that brought fresh data; families whose
    inputs failed or are unavailable keep their last values, marked stale (service/kpis.py)."""
    if not refreshes_kpis(outcomes):
        console.print("[yellow]KPIs not recomputed: no stream brought fresh data.[/yellow]")
        return None
    engine = make_engine(settings.db_url)
    try:
        report = run_kpis(
            settings,
            engine,
            trigger=trigger,
            clock=clock,
            as_of=as_of,
            sync_run_ids=[o.run_id for o in outcomes],
        )
    finally:
        engine.dispose()
    console.print(
        f"KPIs: {len(report.result.values):,} values computed in {report.seconds:.2f} s "
        f"(kpi run {report.run_id}); exports in {settings.exports_path}"
    )
    return report
