"""Commands of the local copy: migrate, sync, runs, check."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from config import ConfigurationError, Settings
from service.cli.common import (
    ConfigOption,
    ConnectionOption,
    StreamOption,
    connections,
    console,
    database,
    err_console,
    load,
    print_error,
    schema_errors,
)
from service.exitcodes import EXIT_CONFIG, EXIT_SCHEMA


def migrate(
    status: Annotated[
        bool, typer.Option("--status", help="Only show the database's revision and the one needed.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Create the database schema, or upgrade it to this funnelsync's revision (safe to re-run)."""
    from storage import make_engine, redact_url
    from storage.schema import migrate as run_migrations
    from storage.schema import schema_status

    settings = load(config)
    engine = make_engine(settings.db_url)
    where = redact_url(settings.db_url)
    try:
        if status:
            state = schema_status(engine)
            current = state.current or ("unversioned" if state.has_tables else "empty")
            verdict = "up to date" if state.up_to_date else "run `funnelsync migrate`"
            if not state.known:
                verdict = "newer than this funnelsync"
            console.print(f"{where}: revision {current}, needed {state.head} ({verdict})", soft_wrap=True)
            raise typer.Exit(0 if state.up_to_date else EXIT_SCHEMA)
        with schema_errors():
            before, after = run_migrations(engine)
    finally:
        engine.dispose()
    if before == after:
        console.print(f"{where}: already at revision {after}", soft_wrap=True)
    else:
        console.print(f"{where}: {before or 'empty'} → revision {after}", soft_wrap=True)


def sync(
    source: Annotated[
        str | None, typer.Option(help="hubspot or mailchimp (default: every source with credentials).")
    ] = None,
    stream: StreamOption = None,
    full: Annotated[
        bool, typer.Option("--full", help="Re-read everything instead of changes since the last sync.")
    ] = False,
    connection: ConnectionOption = None,
    config: ConfigOption = None,
) -> None:
    """Sync the configured sources into the local database (incremental unless --full)."""
    from connector.sources import SOURCES

    settings = load(config)
    if source is not None and source not in SOURCES:
        err_console.print(f"[red]error:[/red] unknown source {source!r}; available: hubspot, mailchimp")
        raise typer.Exit(EXIT_CONFIG)
    raise typer.Exit(sync_here(settings, connection, source, stream, full=full, trigger="cli"))


def sync_here(
    settings: Settings,
    connection: str | None,
    source: str | None,
    stream: list[str] | None,
    *,
    full: bool,
    trigger: str,
) -> int:
    """Sync in this process with live progress, then the KPIs; returns the exit code."""
    from service.jobs import source_of, sources_for
    from service.runbook import StreamOutcome
    from service.runner import exit_code_for, kpis_after_sync, print_outcomes, run_sync_with_progress

    chosen = connections(settings, connection, every=True)
    codes: list[int] = []
    for one in chosen:
        if len(chosen) > 1:
            console.rule(f"connection {one.connection}")
        outcomes: list[StreamOutcome] = []
        for name in sources_for(one, source, stream):
            streams = [s for s in stream or [] if source_of(s) == name]
            try:
                with schema_errors():
                    done = run_sync_with_progress(
                        one, streams=streams or None, full=full, trigger=trigger, console=console, source=name
                    )
            except (ConfigurationError, ValueError) as exc:
                print_error(exc)
                raise typer.Exit(EXIT_CONFIG) from None
            print_outcomes(done, console)
            outcomes += done
        code = exit_code_for(outcomes)
        kpis_after_sync(one, outcomes, console, trigger=trigger)
        codes.append(code)
    return next((c for c in codes if c), 0)


def runs(
    limit: Annotated[int, typer.Option(help="How many runs to show.")] = 20,
    connection: ConnectionOption = None,
    config: ConfigOption = None,
) -> None:
    """Show recent sync runs (one row per stream and run)."""
    from service.runner import STATUS_STYLES
    from storage import recent_runs

    settings = load(config)
    several = connection is None and len(settings.connection_names()) > 1
    if connection is not None:
        connections(settings, connection, every=False)
    only = None if several else (connection or settings.connection_names()[0])
    table = Table(title="Recent sync runs")
    for column in ("id", "stream", "mode", "status", "started (UTC)"):
        table.add_column(column, no_wrap=True)
    for column in ("secs", "read", "written", "rej", "quar", "req", "retry"):
        table.add_column(column, justify="right", no_wrap=True)
    failures = []
    with database(settings) as engine:
        recent = recent_runs(engine, limit=limit, connection=only)
    for run in recent:
        seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
        style = STATUS_STYLES.get(run.status, "cyan")
        table.add_row(
            str(run.id),
            f"{run.connection}/{run.source}/{run.stream}" if several else f"{run.source}/{run.stream}",
            f"{run.mode}/{run.trigger}",
            f"[{style}]{run.status}[/{style}]",
            run.started_at.strftime("%m-%d %H:%M:%S"),
            f"{seconds:.1f}" if seconds is not None else "",
            f"{run.records_read:,}",
            f"{run.records_written:,}",
            f"{run.records_rejected:,}",
            f"{run.fields_quarantined:,}",
            f"{run.requests:,}",
            f"{run.retries:,}",
        )
        if run.error:
            failures.append(f"run {run.id} ({run.stream}): {run.error}")
    console.print(table)
    for line in failures:
        console.print(f"[red]{line}[/red]")
