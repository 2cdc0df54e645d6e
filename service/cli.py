"""The `funnelsync` command line: thin commands over the library.

Exit codes: 0 success; 1 a stream failed; 2 bad usage or configuration; 3 deferred by the
vendor's daily rate limit (resume later); 4 authentication failed; 5 the database schema needs
`funnelsync migrate`; 6 another process was already syncing a selected stream.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from config import ConfigurationError, Settings, load_settings
from service.exitcodes import EXIT_CONFIG, EXIT_FAILED, EXIT_SCHEMA
from service.logging import configure_logging

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(
    name="funnelsync",
    help="Sync HubSpot (and Mailchimp) into a local database and compute B2B funnel KPIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
sandbox_app = typer.Typer(
    help="Run a vendor API sandbox on 127.0.0.1 (for demos, tests and trials).", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")
spend_app = typer.Typer(help="Marketing spend for CAC, cost per lead, ROI and ROAS.", no_args_is_help=True)
app.add_typer(spend_app, name="spend")

# Piped output (files, CI logs) gets room for whole tables; a terminal keeps its own width.
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="TOML settings file (default: $FUNNELSYNC_CONFIG or ./funnelsync.toml)."
    ),
]


def _settings(config: Path | None) -> Settings:
    try:
        settings = load_settings(config)
    except ConfigurationError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    configure_logging(settings.log_level, json_lines=settings.log_json, secrets=settings.secret_values())
    return settings


@contextmanager
def _database(settings: Settings) -> Iterator[Engine]:
    """The engine of the configured database, whose schema must be current (else exit 5)."""
    from storage import make_engine, require_current

    engine = make_engine(settings.db_url)
    try:
        with _schema_errors():
            require_current(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _schema_errors() -> Iterator[None]:
    from storage import SchemaError

    try:
        yield
    except SchemaError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_SCHEMA) from None


@app.command()
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

    settings = _settings(config)
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
        with _schema_errors():
            before, after = run_migrations(engine)
    finally:
        engine.dispose()
    if before == after:
        console.print(f"{where}: already at revision {after}", soft_wrap=True)
    else:
        console.print(f"{where}: {before or 'empty'} → revision {after}", soft_wrap=True)


def _connections(settings: Settings, name: str | None, *, every: bool) -> list[Settings]:
    """The per-connection settings a command works on: `name`'s, else every connection's (or,
    for commands about one connection, the only one); exit 2 on an unknown or missing name."""
    try:
        if name is None and every:
            return [settings.for_connection(n) for n in settings.connection_names()]
        return [settings.for_connection(name)]
    except ConfigurationError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_CONFIG) from None


ConnectionOption = Annotated[
    str | None, typer.Option("--connection", help="Only this named connection (default: every one).")
]


@app.command()
def sync(
    source: Annotated[
        str | None, typer.Option(help="hubspot or mailchimp (default: every source with credentials).")
    ] = None,
    stream: Annotated[
        list[str] | None, typer.Option("--stream", "-s", help="Only these streams (repeatable).")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Re-read everything instead of changes since the last sync.")
    ] = False,
    connection: ConnectionOption = None,
    config: ConfigOption = None,
) -> None:
    """Sync the configured sources into the local database (incremental unless --full)."""
    from connector.sources import SOURCES

    settings = _settings(config)
    if source is not None and source not in SOURCES:
        err_console.print(f"[red]error:[/red] unknown source {source!r}; available: hubspot, mailchimp")
        raise typer.Exit(EXIT_CONFIG)
    raise typer.Exit(_sync_here(settings, connection, source, stream, full=full, trigger="cli"))


def _sync_here(
    settings: Settings,
    connection: str | None,
    source: str | None,
    stream: list[str] | None,
    *,
    full: bool,
    trigger: str,
) -> int:
    """Sync in this process with live progress, then the KPIs; returns the exit code."""
    from service.jobs import sources_for
    from service.runbook import StreamOutcome
    from service.runner import exit_code_for, kpis_after_sync, print_outcomes, run_sync_with_progress

    chosen = _connections(settings, connection, every=True)
    codes: list[int] = []
    for one in chosen:
        if len(chosen) > 1:
            console.rule(f"connection {one.connection}")
        outcomes: list[StreamOutcome] = []
        for name in sources_for(one, source, stream):
            streams = [s for s in stream or [] if s.startswith("mailchimp_") == (name == "mailchimp")]
            try:
                if name == "hubspot":
                    one.require_hubspot_auth()
                with _schema_errors():
                    done = run_sync_with_progress(
                        one, streams=streams or None, full=full, trigger=trigger, console=console, source=name
                    )
            except (ConfigurationError, ValueError) as exc:
                err_console.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(EXIT_CONFIG) from None
            print_outcomes(done, console)
            outcomes += done
        code = exit_code_for(outcomes)
        if code == 0:
            kpis_after_sync(one, outcomes, console, trigger=trigger)
        codes.append(code)
    return next((c for c in codes if c), 0)


@app.command()
def runs(
    limit: Annotated[int, typer.Option(help="How many runs to show.")] = 20,
    connection: ConnectionOption = None,
    config: ConfigOption = None,
) -> None:
    """Show recent sync runs (one row per stream and run)."""
    from storage import recent_runs

    settings = _settings(config)
    several = connection is None and len(settings.connection_names()) > 1
    if connection is not None:
        _connections(settings, connection, every=False)
    only = None if several else (connection or settings.connection_names()[0])
    table = Table(title="Recent sync runs")
    for column in ("id", "stream", "mode", "status", "started (UTC)"):
        table.add_column(column, no_wrap=True)
    for column in ("secs", "read", "written", "rej", "quar", "req", "retry"):
        table.add_column(column, justify="right", no_wrap=True)
    failures = []
    with _database(settings) as engine:
        recent = recent_runs(engine, limit=limit, connection=only)
    for run in recent:
        seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
        style = {"succeeded": "green", "failed": "red", "deferred": "yellow", "skipped": "yellow"}.get(
            run.status, "cyan"
        )
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


@app.command()
def check(
    service: Annotated[
        bool,
        typer.Option("--service", help="Only check that the running service answers /healthz (HEALTHCHECK)."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Check the configuration and that the database answers; with --service, that the running
    service answers (the container's HEALTHCHECK)."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from storage import make_engine, redact_url

    settings = _settings(config)
    if service:
        import httpx

        url = settings.service.service_url()
        try:
            with httpx.Client(base_url=url, timeout=5.0) as client:
                answer = client.get("/healthz")
        except httpx.TransportError as exc:
            err_console.print(f"[red]service unreachable:[/red] {url} ({type(exc).__name__})")
            raise typer.Exit(EXIT_FAILED) from None
        if answer.status_code != 200:
            err_console.print(f"[red]service unhealthy:[/red] {url}/healthz answered {answer.status_code}")
            raise typer.Exit(EXIT_FAILED)
        console.print(f"ok: the service at {url} answers")
        return
    engine = make_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        err_console.print(
            f"[red]database unreachable:[/red] {redact_url(settings.db_url)} ({type(exc).__name__})"
        )
        raise typer.Exit(EXIT_FAILED) from None
    finally:
        engine.dispose()
    console.print(f"ok: configuration valid, database {redact_url(settings.db_url)} answers")


@sandbox_app.command("hubspot")
def sandbox_hubspot(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    contacts: Annotated[int, typer.Option(help="Contacts to generate.")] = 1000,
    deals: Annotated[int | None, typer.Option(help="Deals to generate (default: contacts / 5).")] = None,
    companies: Annotated[int | None, typer.Option(help="Companies (default: contacts / 4).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the generated portal.")] = 1,
    fixture: Annotated[Path | None, typer.Option(help="Serve records from a JSON fixture instead.")] = None,
    rate_limit: Annotated[
        int, typer.Option(help="Requests per rolling 10 s (100, 190, 250); 0 = none.")
    ] = 190,
    search_rate: Annotated[int, typer.Option(help="Search requests per second; 0 = none.")] = 5,
    daily_limit: Annotated[int, typer.Option(help="Requests per day; 0 = none.")] = 625_000,
    retry_after: Annotated[bool, typer.Option(help="Send Retry-After on 429 answers.")] = True,
    token: Annotated[str, typer.Option(help="The bearer token the sandbox accepts.")] = "sandbox-token",
    now: Annotated[str | None, typer.Option(help="Portal time at start (ISO-8601); default: now.")] = None,
    legacy_stage_properties: Annotated[
        bool, typer.Option(help="Also serve hs_lifecyclestage_<stage>_date.")
    ] = False,
    malformed: Annotated[int, typer.Option(help="Records to give a malformed value.")] = 0,
    latency_ms: Annotated[
        int, typer.Option(help="Added to every API answer, as HubSpot's 100–500 ms round trips.")
    ] = 0,
) -> None:
    """Serve a HubSpot API sandbox with a generated (or fixture) portal until interrupted."""
    from sandbox.hubspot.app import create_app
    from sandbox.server import HubSpotSandboxConfig, build_hubspot_state, serve_forever

    start = datetime.fromisoformat(now) if now else None
    if fixture is not None and not fixture.is_file():
        err_console.print(f"[red]error:[/red] fixture not found: {fixture}")
        raise typer.Exit(EXIT_CONFIG)
    state = build_hubspot_state(
        HubSpotSandboxConfig(
            contacts=contacts,
            deals=deals,
            companies=companies,
            seed=seed,
            now=start,
            fixture=fixture,
            rate_limit=rate_limit or None,
            search_rate=search_rate or None,
            daily_limit=daily_limit or None,
            send_retry_after=retry_after,
            token=token,
            legacy_stage_properties=legacy_stage_properties,
            malformed=malformed,
            latency_ms=latency_ms,
        )
    )
    counts = {t: len(v) for t, v in state.store.objects.items()}
    console.print(
        f"HubSpot sandbox on http://127.0.0.1:{port} — {counts['contacts']} contacts, {counts['companies']} "
        f"companies, {counts['deals']} deals. Use: FUNNELSYNC_HUBSPOT__BASE_URL=http://127.0.0.1:{port} "
        "FUNNELSYNC_HUBSPOT__TOKEN=<the --token value>"
    )
    serve_forever(create_app(state), port=port)


@sandbox_app.command("mailchimp")
def sandbox_mailchimp(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8766,
    contacts: Annotated[
        int, typer.Option(help="Contacts of the HubSpot portal whose people the audience overlaps.")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Seed (the HubSpot sandbox's, for the same people).")] = 1,
    api_key: Annotated[
        str, typer.Option(help="The API key it accepts; its suffix is the data centre.")
    ] = "0123456789abcdef0123456789abcdef-us6",
    max_connections: Annotated[int, typer.Option(help="Simultaneous requests before 429.")] = 10,
    latency_ms: Annotated[int, typer.Option(help="Added to every API answer.")] = 0,
    now: Annotated[str | None, typer.Option(help="Account time at start (ISO-8601); default: now.")] = None,
    campaigns: Annotated[
        int | None, typer.Option(help="Sent campaigns in all (default: weekly and monthly sends).")
    ] = None,
) -> None:
    """Serve a Mailchimp Marketing API sandbox whose audience overlaps the HubSpot sandbox's contacts."""
    from sandbox.mailchimp.app import create_app
    from sandbox.server import MailchimpSandboxConfig, build_mailchimp_state, serve_forever

    state = build_mailchimp_state(
        MailchimpSandboxConfig(
            contacts=contacts,
            seed=seed,
            now=datetime.fromisoformat(now) if now else None,
            api_key=api_key,
            max_connections=max_connections,
            latency_ms=latency_ms,
            campaigns=campaigns,
        )
    )
    account = state.account
    members = sum(len(m) for m in account.members.values())
    console.print(
        f"Mailchimp sandbox on http://127.0.0.1:{port}/3.0 — {len(account.lists)} audiences, "
        f"{members} members, {len(account.campaigns)} campaigns. API key: the --api-key value "
        f"(data centre {state.dc})."
    )
    serve_forever(create_app(state), port=port)


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


@app.command()
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

    settings = _connections(_settings(config), connection, every=False)[0]
    try:
        with _database(settings) as engine:
            report = compute_kpis(
                settings,
                engine,
                as_of=_parse_as_of(as_of, settings.reporting_timezone),
                period=period,
                first=first,
                last=last,
            )
    except PeriodError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    dim = Dim("source", source) if source else ALL
    if output in ("csv", "json"):
        import csv
        import json

        rows = [
            r
            for r in report.rows()
            if dim == ALL or (r["dimension"], r["dimension_value"]) == (dim.name, dim.value)
        ]
        if output == "json":
            sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        else:
            from service.exports import COLUMNS

            writer = csv.DictWriter(
                sys.stdout, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n"
            )
            writer.writeheader()
            writer.writerows(rows)
        return
    if output != "table":
        err_console.print(f"[red]error:[/red] --output must be table, csv or json, not {output!r}")
        raise typer.Exit(EXIT_CONFIG)
    console.print(kpi_table(report, dim=dim, last=columns))
    console.print(snapshot_table(report, dim=dim))


@app.command()
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

    settings = _settings(config)
    days = settings.raw_versions_days if older_than is None else older_than
    if days < 0:
        err_console.print("[red]error:[/red] --older-than must be 0 or more days")
        raise typer.Exit(EXIT_CONFIG)
    with _database(settings) as engine:
        result = prune_raw_versions(
            engine,
            older_than=timedelta(days=days),
            now=datetime.now(UTC),
            connection=_connections(settings, connection, every=False)[0].connection if connection else None,
            dry_run=dry_run,
        )
    verb = "would delete" if dry_run else "deleted"
    console.print(
        f"{verb} {result.raw_versions:,} raw payload version(s) that ended before "
        f"{result.cutoff:%Y-%m-%d %H:%M} UTC ({days} days); the typed snapshot history is kept"
    )


@app.command()
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

    chosen = _connections(_settings(config), connection, every=True)
    for settings in chosen:
        # Several connections into one --out: a directory each.
        target = (out / settings.connection if len(chosen) > 1 else out) if out else settings.exports_path
        try:
            with _database(settings) as engine:
                report = run_kpis(
                    settings, engine, trigger="cli", out_dir=target, formats=formats or ["csv", "json"]
                )
        except ExportError as exc:
            err_console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(EXIT_CONFIG) from None
        for f in report.files:
            console.print(f"{target / f.name}  {f.rows:,} rows  sha256 {f.sha256[:12]}…")
        console.print(f"{target / 'manifest.json'}  (kpi run {report.run_id})")


@spend_app.command("import")
def spend_import(
    path: Annotated[Path, typer.Argument(help="CSV: period_start, period_end, channel, amount, currency.")],
    connection: ConnectionOption = None,
    config: ConfigOption = None,
) -> None:
    """Import marketing spend; re-importing the same periods and channels replaces them."""
    from service.spend import SpendFileError, import_spend_file

    settings = _connections(_settings(config), connection, every=False)[0]
    try:
        with _database(settings) as engine:
            rows = import_spend_file(engine, path, connection=settings.connection, now=datetime.now(UTC))
    except SpendFileError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    total = sum(r.amount for r in rows)
    console.print(f"Imported {len(rows)} spend row(s) from {path} (total {total:,.2f}).")


@spend_app.command("list")
def spend_list(connection: ConnectionOption = None, config: ConfigOption = None) -> None:
    """Show the stored marketing spend."""
    from storage.kpis import list_spend

    settings = _connections(_settings(config), connection, every=False)[0]
    table = Table(title="Marketing spend")
    for column in ("period_start", "period_end", "channel", "amount", "currency", "file"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    with _database(settings) as engine:
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


@app.command()
def demo(
    contacts: Annotated[int, typer.Option(help="Contacts in the generated portal.")] = 20_000,
    directory: Annotated[Path, typer.Option("--dir", help="Where the demo database and exports go.")] = Path(
        "funnelsync-demo"
    ),
    days: Annotated[int, typer.Option(help="Simulated days of CRM activity after the first sync.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the generated portal.")] = 7,
) -> None:
    """Run everything end to end against a local sandbox: generate, sync, change, sync again, summarise."""
    from service.demo import run_demo

    configure_logging("WARNING", json_lines=False)
    code = run_demo(contacts=contacts, directory=directory, days=days, seed=seed, console=console)
    raise typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: service.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: service.port, 8400).")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the service: scheduled syncs, KPIs and exports, the admin and read API, /metrics, a
    status page. Stops gracefully on SIGTERM/SIGINT."""
    from service.serve import serve as run_service

    settings = _settings(config)
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    if overrides:
        settings = settings.model_copy(update={"service": settings.service.model_copy(update=overrides)})
    with _schema_errors():
        code = run_service(settings)
    raise typer.Exit(code)


@app.command()
def resync(
    connection: ConnectionOption = None,
    stream: Annotated[
        list[str] | None, typer.Option("--stream", "-s", help="Only these streams (repeatable).")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Re-read everything.")] = False,
    local: Annotated[
        bool, typer.Option("--local", help="Run in this process (when no service runs) instead of asking it.")
    ] = False,
    follow: Annotated[bool, typer.Option(help="Follow the runs until they end.")] = True,
    config: ConfigOption = None,
) -> None:
    """Ask the running service to sync now (admin API; URL and token from the settings) and
    follow its progress; --local runs the sync here instead."""
    from service.remote import RemoteError, request_resync

    settings = _settings(config)
    if local:
        raise typer.Exit(_sync_here(settings, connection, None, stream, full=full, trigger="admin"))
    try:
        code = request_resync(
            settings, connection=connection, streams=stream, full=full, follow=follow, console=console
        )
    except RemoteError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(exc.exit_code) from None
    raise typer.Exit(code)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
