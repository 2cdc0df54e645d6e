"""`funnelsync check`: the configuration, the database, each configured credential (one cheap
request), HubSpot endpoints near their end of support, streams found unavailable; or, with
--service, that the running service answers (the container's HEALTHCHECK)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from config import ConfigurationError, Settings
from service.cli.common import ConfigOption, console, err_console, load, print_error
from service.exitcodes import EXIT_AUTH, EXIT_CONFIG, EXIT_FAILED

if TYPE_CHECKING:
    from sqlalchemy import Engine


def check(
    service: Annotated[
        bool,
        typer.Option("--service", help="Only check that the running service answers /healthz (HEALTHCHECK)."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Check the configuration, the database and each credential (one cheap request each); with
    --service, that the running service answers (the container's HEALTHCHECK)."""
    settings = load(config)
    if service:
        _check_service(settings)
        return
    from sqlalchemy import text

    from storage import make_engine, redact_url

    configured = _configured_sources(settings)
    if not configured:
        print_error(
            "no source has credentials: set FUNNELSYNC_HUBSPOT__TOKEN (a Service Key) or "
            "FUNNELSYNC_MAILCHIMP__API_KEY (docs/configuration.md)"
        )
        raise typer.Exit(EXIT_CONFIG)
    engine = make_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        console.print(f"ok: configuration valid, database {redact_url(settings.db_url)} answers")
        code, warnings = _verify_credentials(configured, engine)
        warnings += _api_warnings(settings, engine)
    except SQLAlchemyError as exc:
        err_console.print(
            f"[red]database unreachable:[/red] {redact_url(settings.db_url)} ({type(exc).__name__})"
        )
        raise typer.Exit(EXIT_FAILED) from None
    finally:
        engine.dispose()
    for line in warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(line)}")
    if code:
        raise typer.Exit(code)


def _check_service(settings: Settings) -> None:
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


def _configured_sources(settings: Settings) -> list[tuple[Settings, str]]:
    """(connection settings, source name) of every source with credentials, every connection."""
    from connector.sources import SOURCES

    every = [settings.for_connection(name) for name in settings.connection_names()]
    return [(one, source) for one in every for source in SOURCES if one.has_source(source)]


def _verify_credentials(configured: list[tuple[Settings, str]], engine: Engine) -> tuple[int, list[str]]:
    """One cheap request per credential: (exit code, warnings). A refused credential is an error
    (exit 4); a missing scope or an unreachable API a warning saying why it could not tell."""
    from connector.errors import AuthenticationError, ConnectorError, PermissionDeniedError
    from service.sync import build_sync

    code, warnings = 0, []
    for one, name in configured:
        label = f"{one.connection}/{name}"
        sync = build_sync(name, one, engine)
        try:
            with sync.source.connect() as client:
                done = sync.source.verify(client)
        except AuthenticationError as exc:
            print_error(f"{label}: the credential was refused: {sync.book.safe(exc)}")
            code = EXIT_AUTH
            continue
        except PermissionDeniedError as exc:
            warnings.append(f"{label}: the credential works but lacks a scope: {sync.book.safe(exc)}")
            continue
        except (ConnectorError, ConfigurationError) as exc:
            warnings.append(f"{label}: could not verify the credential: {sync.book.safe(exc)}")
            continue
        console.print(f"ok: {label} credential accepted ({done})")
    return code, warnings


def _api_warnings(settings: Settings, engine: Engine) -> list[str]:
    """HubSpot endpoints in use near or past their end of support, and streams whose last run
    found them unavailable (with the reason, naming missing scopes)."""
    from datetime import UTC, datetime

    from connector.hubspot.endpoints import HubSpotPaths
    from connector.hubspot.source import HubSpotSource
    from storage.runs import latest_runs

    lines: list[str] = []
    if settings.has_source("hubspot"):
        paths = HubSpotPaths(settings.hubspot.api_version)
        today = datetime.now(UTC).date()
        lines += paths.support_warnings(HubSpotSource.endpoints_in_use(settings), today)
    with contextlib.suppress(SQLAlchemyError):  # a database not migrated yet has no runs
        for run in latest_runs(engine, connection=settings.connection):
            if run.status == "unavailable":
                lines.append(f"{run.source}/{run.stream} unavailable: {run.error or 'no reason recorded'}")
    return lines
