"""`funnelsync sandbox hubspot|mailchimp`: a vendor API sandbox on 127.0.0.1."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from service.cli.common import (
    console,
    err_console,
)
from service.exitcodes import EXIT_CONFIG


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
    export_seconds: Annotated[
        float, typer.Option(help="A CRM export's fixed processing time, in seconds.")
    ] = 5.0,
    export_rows_per_second: Annotated[
        float, typer.Option(help="Rows a CRM export processes per second, on top of the fixed time.")
    ] = 20_000.0,
) -> None:
    """Serve a HubSpot API sandbox with a generated (or fixture) portal until interrupted."""
    from sandbox.hubspot.app import create_app
    from sandbox.hubspot.exports import ExportTiming
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
            export_timing=ExportTiming(seconds=export_seconds, rows_per_second=export_rows_per_second),
        )
    )
    counts = {t: len(v) for t, v in state.store.objects.items()}
    console.print(
        f"HubSpot sandbox on http://127.0.0.1:{port} — {counts['contacts']} contacts, {counts['companies']} "
        f"companies, {counts['deals']} deals. Use: FUNNELSYNC_HUBSPOT__BASE_URL=http://127.0.0.1:{port} "
        "FUNNELSYNC_HUBSPOT__TOKEN=<the --token value>"
    )
    serve_forever(create_app(state), port=port)


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
