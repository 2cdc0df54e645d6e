"""What every `funnelsync` command shares: the Typer apps, the consoles, the common options,
and settings, connections and the database as commands need them (with their exit codes)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from config import ConfigurationError, Settings, load_settings
from service.exitcodes import EXIT_CONFIG, EXIT_SCHEMA
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


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"funnelsync {version('funnelsync')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print funnelsync's version and exit.", is_eager=True, callback=_version
        ),
    ] = False,
) -> None:
    """Sync HubSpot (and Mailchimp) into a local database and compute B2B funnel KPIs."""


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


def print_error(message: object) -> None:
    """One error line on stderr; the message is printed as text (a `[hubspot]` in it stays)."""
    err_console.print(f"[red]error:[/red] {escape(str(message))}")


def load(config: Path | None) -> Settings:
    """The settings, built once here; a readable error and exit 2 when they are wrong."""
    try:
        settings = load_settings(config)
    except ConfigurationError as exc:
        print_error(exc)
        raise typer.Exit(EXIT_CONFIG) from None
    configure_logging(settings.log_level, json_lines=settings.log_json, secrets=settings.secret_values())
    return settings


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    """The engine of the configured database, whose schema must be current (else exit 5)."""
    from storage import make_engine, require_current

    engine = make_engine(settings.db_url)
    try:
        with schema_errors():
            require_current(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def schema_errors() -> Iterator[None]:
    """A database schema that is not current: its one-line error and exit 5."""
    from storage import SchemaError

    try:
        yield
    except SchemaError as exc:
        print_error(exc)
        raise typer.Exit(EXIT_SCHEMA) from None


def connections(settings: Settings, name: str | None, *, every: bool) -> list[Settings]:
    """The per-connection settings a command works on: `name`'s, else every connection's (or,
    for commands about one connection, the only one); exit 2 on an unknown or missing name."""
    try:
        if name is None and every:
            return [settings.for_connection(n) for n in settings.connection_names()]
        return [settings.for_connection(name)]
    except ConfigurationError as exc:
        print_error(exc)
        raise typer.Exit(EXIT_CONFIG) from None


def _stream_names() -> str:
    from connector.sources import SOURCES

    return "; ".join(f"{name}: {', '.join(source.stream_names())}" for name, source in SOURCES.items())


StreamOption = Annotated[
    list[str] | None,
    typer.Option("--stream", "-s", help=f"Only these streams (repeatable). {_stream_names()}."),
]

ConnectionOption = Annotated[
    str | None, typer.Option("--connection", help="Only this named connection (default: every one).")
]
