"""Commands of the pipeline as a whole: demo, serve, resync."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.cli.common import (
    ConfigOption,
    ConnectionOption,
    StreamOption,
    console,
    load,
    print_error,
    schema_errors,
)
from service.cli.sync import sync_here
from service.logging import configure_logging


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


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: service.host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: service.port, 8400).")] = None,
    config: ConfigOption = None,
) -> None:
    """Run the service: scheduled syncs, KPIs and exports, the admin and read API, /metrics, a
    status page. Stops gracefully on SIGTERM/SIGINT."""
    from service.serve import serve as run_service

    settings = load(config)
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    if overrides:
        settings = settings.model_copy(update={"service": settings.service.model_copy(update=overrides)})
    with schema_errors():
        code = run_service(settings)
    raise typer.Exit(code)


def resync(
    connection: ConnectionOption = None,
    stream: StreamOption = None,
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

    settings = load(config)
    if local:
        raise typer.Exit(sync_here(settings, connection, None, stream, full=full, trigger="admin"))
    try:
        code = request_resync(
            settings, connection=connection, streams=stream, full=full, follow=follow, console=console
        )
    except RemoteError as exc:
        print_error(exc)
        raise typer.Exit(exc.exit_code) from None
    raise typer.Exit(code)
