"""`funnelsync demo`: a sandbox portal on loopback, a full sync, simulated days of activity with
incremental syncs, and a summary, all against real HTTP and a real database file."""

from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from config import DEFAULT_LIFECYCLE_STAGES, load_settings
from connector.sandbox.hubspot.app import create_app
from connector.sandbox.server import HubSpotSandboxConfig, SandboxServer, build_hubspot_state
from service.runner import exit_code_for, print_outcomes, run_sync_with_progress
from storage import make_engine, row_counts
from storage.models import HubSpotContact, HubSpotDeal
from storage.repo import table_of


def run_demo(*, contacts: int, directory: Path, days: int, seed: int, console: Console) -> int:
    started = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    db_path = directory / "funnelsync.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(directory / "exports", ignore_errors=True)
    token = f"pat-demo-{secrets.token_hex(8)}"
    console.rule("[bold]funnelsync demo")
    console.print(f"Generating a HubSpot portal with {contacts:,} contacts (seed {seed}) …")
    state = build_hubspot_state(
        HubSpotSandboxConfig(contacts=contacts, seed=seed, token=token, rate_limit=250, malformed=6)
    )
    with SandboxServer(create_app(state)) as server:
        console.print(
            f"HubSpot sandbox listening on {server.url} (250 requests / 10 s, the top HubSpot tier)"
        )
        settings = load_settings(
            data_dir=directory,
            hubspot={"token": token, "base_url": server.url, "rate_limit_per_10s": 250},
        )
        console.rule("Full sync")
        outcomes = run_sync_with_progress(settings, streams=None, full=True, trigger="demo", console=console)
        print_outcomes(outcomes, console)
        code = exit_code_for(outcomes)
        if code:
            return code
        with httpx.Client(base_url=server.url, timeout=30) as admin:
            for day in range(1, days + 1):
                change = admin.post(
                    "/_sandbox/simulate",
                    json={
                        "days": 1,
                        "new_contacts": max(5, contacts // 200),
                        "stage_changes": max(5, contacts // 100),
                        "deals_created": max(2, contacts // 800),
                        "deals_won": max(1, contacts // 2000),
                        "deals_lost": max(1, contacts // 2500),
                        "archive": 1,
                    },
                ).json()
                console.rule(
                    f"Day {day}: {change['created']} new contacts, {change['stage_changes']} stage changes, "
                    f"{change['deals_created']} new deals, {change['deals_won']} won, "
                    f"{change['deals_lost']} lost"
                )
                outcomes = run_sync_with_progress(
                    settings, streams=None, full=False, trigger="demo", console=console
                )
                print_outcomes(outcomes, console)
                code = exit_code_for(outcomes)
                if code:
                    return code
    _summary(settings.db_url, settings.connection, console)
    console.print(f"\nDatabase: {db_path}   ·   finished in {time.monotonic() - started:.1f} s")
    return 0


def _summary(url: str, connection: str, console: Console) -> None:
    engine = make_engine(url)
    try:
        counts = row_counts(engine, connection=connection)
        contacts = table_of(HubSpotContact)
        deals = table_of(HubSpotDeal)
        with engine.connect() as conn:
            stages = conn.execute(
                select(contacts.c.lifecyclestage, func.count())
                .where(contacts.c.connection == connection, contacts.c.archived.is_(False))
                .group_by(contacts.c.lifecyclestage)
            ).all()
            outcomes = conn.execute(
                select(
                    deals.c.is_closed,
                    deals.c.is_closed_won,
                    func.count(),
                    func.sum(deals.c.amount_in_home_currency),
                )
                .where(deals.c.connection == connection, deals.c.archived.is_(False))
                .group_by(deals.c.is_closed, deals.c.is_closed_won)
            ).all()
    finally:
        engine.dispose()
    table = Table(title="What is in the local copy")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in ("contacts", "companies", "deals", "owners", "pipelines", "quarantine"):
        table.add_row(name, f"{counts[name]:,}")
    console.print(table)
    order = list(DEFAULT_LIFECYCLE_STAGES)
    stage_table = Table(title="Contacts by current lifecycle stage")
    stage_table.add_column("stage")
    stage_table.add_column("contacts", justify="right")
    for stage, count in sorted(stages, key=lambda r: order.index(r[0]) if r[0] in order else 99):
        stage_table.add_row(str(stage), f"{count:,}")
    console.print(stage_table)
    deal_table = Table(title="Deals by outcome")
    deal_table.add_column("outcome")
    deal_table.add_column("deals", justify="right")
    deal_table.add_column("amount (home currency)", justify="right")
    for closed, won, count, amount in outcomes:
        label = "won" if won else ("lost" if closed else "open")
        deal_table.add_row(label, f"{count:,}", f"{amount or 0:,.0f}")
    console.print(deal_table)
