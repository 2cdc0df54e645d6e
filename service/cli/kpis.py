"""Commands of the KPIs: kpis, prune, export, spend import and list."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from service.cli.common import (
    ConfigOption,
    ConnectionOption,
    connections,
    console,
    database,
    err_console,
    load,
    print_error,
)
from service.exitcodes import EXIT_CONFIG

PeriodOption = Annotated[
    str | None, typer.Option("--period", "-p", help="week, month, quarter or year (default: config).")
]


def _parse_as_of(value: str | None, timezone: str) -> datetime | None:
    """An ISO timestamp (UTC unless it says otherwise), or a date: the end of that day in the
    reporting time zone ("as of 2025-09-30" includes the 30th)."""
    from datetime import date, time, timedelta
    from zoneinfo import ZoneInfo

    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1)
            return datetime.combine(day, time(), ZoneInfo(timezone)) - timedelta(microseconds=1)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        err_console.print(f"[red]error:[/red] --as-of {value!r} is not an ISO date or timestamp")
        raise typer.Exit(EXIT_CONFIG) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def kpis(
    period: PeriodOption = None,
    first: Annotated[
        str | None, typer.Option("--from", help="First period: 2025, 2025-Q1, 2025-03, 2025-W07.")
    ] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last period (default: the current one).")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Only this original source, e.g. ORGANIC_SEARCH.")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="As of this instant (ISO timestamp) or the end of this day (2025-09-30); default now.",
        ),
    ] = None,
    columns: Annotated[int, typer.Option(help="How many periods to show side by side.")] = 6,
    output: Annotated[
        str, typer.Option("--output", "-o", help="table, csv or json (long format, all values).")
    ] = "table",
    connection: ConnectionOption = None,
    config: ConfigOption = None,
) -> None:
    """Compute the KPIs from the local snapshot and print them (nothing is stored)."""
    from kpi.model import ALL, Dim
    from kpi.periods import PeriodError
    from service.kpis import compute_kpis
    from service.report import kpi_table, snapshot_table

    settings = connections(load(config), connection, every=False)[0]
    try:
        with database(settings) as engine:
            report = compute_kpis(
                settings,
                engine,
                as_of=_parse_as_of(as_of, settings.reporting_timezone),
                period=period,
                first=first,
                last=last,
            )
    except PeriodError as exc:
        print_error(exc)
        raise typer.Exit(EXIT_CONFIG) from None
    dim = Dim("source", source) if source else ALL
    if output in ("csv", "json"):
        rows = [
            r
            for r in report.rows()
            if dim == ALL or (r["dimension"], r["dimension_value"]) == (dim.name, dim.value)
        ]
        _write_rows(rows, output)
        return
    if output != "table":
        err_console.print(f"[red]error:[/red] --output must be table, csv or json, not {output!r}")
        raise typer.Exit(EXIT_CONFIG)
    console.print(kpi_table(report, dim=dim, last=columns))
    console.print(snapshot_table(report, dim=dim))


def _write_rows(rows: list[dict[str, Any]], output: str) -> None:
    """KPI values in the long format, as JSON or CSV on stdout."""
    import csv
    import json

    from service.exports import COLUMNS

    if output == "json":
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


def prune(
    older_than: Annotated[
        int | None,
        typer.Option("--older-than", help="Days (default: raw_versions_days from the settings)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would go.")] = False,
    connection: ConnectionOption = None,
    config: ConfigOption = None,
) -> None:
    """Delete superseded raw payload versions older than the retention; typed history stays."""
    from datetime import timedelta

    from storage.history import prune_raw_versions

    settings = load(config)
    days = settings.raw_versions_days if older_than is None else older_than
    if days < 0:
        err_console.print("[red]error:[/red] --older-than must be 0 or more days")
        raise typer.Exit(EXIT_CONFIG)
    with database(settings) as engine:
        result = prune_raw_versions(
            engine,
            older_than=timedelta(days=days),
            now=datetime.now(UTC),
            connection=connections(settings, connection, every=False)[0].connection if connection else None,
            dry_run=dry_run,
        )
    verb = "would delete" if dry_run else "deleted"
    console.print(
        f"{verb} {result.raw_versions:,} raw payload version(s) that ended before "
        f"{result.cutoff:%Y-%m-%d %H:%M} UTC ({days} days); the typed snapshot history is kept"
    )


def export(
    out: Annotated[Path | None, typer.Option("--out", help="Directory (default: export_dir).")] = None,
    formats: Annotated[
        list[str] | None, typer.Option("--format", "-f", help="csv, json, parquet (repeatable).")
    ] = None,
    connection: ConnectionOption = None,
    config: ConfigOption = None,
) -> None:
    """Recompute the KPIs, store them in the history and write the export files (per connection)."""
    from service.exports import ExportError
    from service.kpis import run_kpis

    chosen = connections(load(config), connection, every=True)
    for settings in chosen:
        # Several connections into one --out: a directory each.
        target = (out / settings.connection if len(chosen) > 1 else out) if out else settings.exports_path
        try:
            with database(settings) as engine:
                report = run_kpis(
                    settings, engine, trigger="cli", out_dir=target, formats=formats or ["csv", "json"]
                )
        except ExportError as exc:
            print_error(exc)
            raise typer.Exit(EXIT_CONFIG) from None
        for f in report.files:
            console.print(f"{target / f.name}  {f.rows:,} rows  sha256 {f.sha256[:12]}…")
        console.print(f"{target / 'manifest.json'}  (kpi run {report.run_id})")


def spend_import(
    path: Annotated[Path, typer.Argument(help="CSV: period_start, period_end, channel, amount, currency.")],
    connection: ConnectionOption = None,
    config: ConfigOption = None,
) -> None:
    """Import marketing spend; re-importing the same periods and channels replaces them."""
    from service.spend import SpendFileError, import_spend_file

    settings = connections(load(config), connection, every=False)[0]
    try:
        with database(settings) as engine:
            rows = import_spend_file(engine, path, connection=settings.connection, now=datetime.now(UTC))
    except SpendFileError as exc:
        print_error(exc)
        raise typer.Exit(EXIT_CONFIG) from None
    total = sum(r.amount for r in rows)
    console.print(f"Imported {len(rows)} spend row(s) from {path} (total {total:,.2f}).")


def spend_list(connection: ConnectionOption = None, config: ConfigOption = None) -> None:
    """Show the stored marketing spend."""
    from storage.kpis import list_spend

    settings = connections(load(config), connection, every=False)[0]
    table = Table(title="Marketing spend")
    for column in ("period_start", "period_end", "channel", "amount", "currency", "file"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    with database(settings) as engine:
        spend = list_spend(engine, connection=settings.connection)
    for row in spend:
        table.add_row(
            str(row.period_start),
            str(row.period_end),
            row.channel,
            f"{row.amount:,.2f}",
            row.currency,
            row.source_file or "",
        )
    console.print(table)
