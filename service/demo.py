"""`funnelsync demo`: a sandbox portal on loopback, a full sync, simulated days of activity with
incremental syncs, and a summary, all against real HTTP and a real database file."""

from __future__ import annotations

import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from config import Settings, load_settings
from connector.sources import SOURCES
from sandbox.hubspot.answers import HEARD_PROPERTY
from sandbox.hubspot.app import create_app
from sandbox.hubspot.options import SandboxState
from sandbox.mailchimp.app import create_app as create_mailchimp_app
from sandbox.mailchimp.simulate import simulate as simulate_mailchimp
from sandbox.mailchimp.state import MailchimpState
from sandbox.server import (
    HubSpotSandboxConfig,
    MailchimpSandboxConfig,
    SandboxServer,
    build_hubspot_state,
    build_mailchimp_state,
)
from service.exitcodes import EXIT_FAILED
from service.kpis import KpiReport
from service.runbook import StreamOutcome
from service.runner import exit_code_for, kpis_after_sync, print_outcomes, run_sync_with_progress
from service.spend import import_spend_file
from service.summary import print_summary
from storage import make_engine, migrate, row_counts


def run_demo(*, contacts: int, directory: Path, days: int, seed: int, console: Console) -> int:
    started = time.monotonic()
    db_path = _fresh(directory)
    console.rule("[bold]funnelsync demo")
    console.print(f"Generating a HubSpot portal with {contacts:,} contacts (seed {seed}) …")
    token, mailchimp_key = f"pat-demo-{secrets.token_hex(8)}", f"{secrets.token_hex(16)}-us6"
    state = build_hubspot_state(
        HubSpotSandboxConfig(contacts=contacts, seed=seed, token=token, rate_limit=250, malformed=6)
    )
    # The email platform's audience is drawn from the portal's own contacts (by email).
    mailchimp = build_mailchimp_state(
        MailchimpSandboxConfig(seed=seed, now=state.store.clock.now(), api_key=mailchimp_key),
        contacts=list(state.store.objects["contacts"].values()),
    )
    with SandboxServer(create_app(state)) as server, SandboxServer(create_mailchimp_app(mailchimp)) as email:
        members = sum(len(m) for m in mailchimp.account.members.values())
        console.print(
            f"HubSpot sandbox listening on {server.url} (250 requests / 10 s, the top HubSpot tier); "
            f"Mailchimp sandbox on {email.url}/3.0 ({members:,} members, "
            f"{len(mailchimp.account.campaigns)} campaigns)"
        )
        settings = load_settings(
            data_dir=directory,
            hubspot={"token": token, "base_url": server.url, "rate_limit_per_10s": 250},
            mailchimp={"api_key": mailchimp_key, "base_url": f"{email.url}/3.0"},
            # The sandbox's self-reported source, its industries and deal types as breakdowns.
            kpi={
                "self_reported_source": HEARD_PROPERTY,
                "dimensions": [HEARD_PROPERTY, "companies.industry", "deals.dealtype"],
            },
        )
        demo = _Demo(settings, state, mailchimp, console)
        report = demo.first_sync(directory)
        with httpx.Client(base_url=server.url, timeout=30) as admin:
            for day in range(1, days + 1):
                if isinstance(report, int):
                    break  # a sync failed: its exit code ends the demo
                report = demo.next_day(admin, day, contacts)
    if isinstance(report, int):
        return report
    console.rule("Summary")
    _counts(settings, console)
    print_summary(report, console)
    console.print(f"\nDatabase: {db_path}")
    console.print(
        f"Exports:  {settings.exports_path} ({', '.join(f.name for f in report.files)}, manifest.json)"
    )
    console.print(f"Finished in {time.monotonic() - started:.1f} s")
    return 0


def _fresh(directory: Path) -> Path:
    """The demo's directory without an earlier demo's database and exports; the database path."""
    directory.mkdir(parents=True, exist_ok=True)
    db_path = directory / "funnelsync.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(directory / "exports", ignore_errors=True)
    return db_path


@dataclass
class _Demo:
    """The demo's running parts: its settings, the two sandboxes, the console."""

    settings: Settings
    state: SandboxState
    mailchimp: MailchimpState
    console: Console

    def first_sync(self, directory: Path) -> KpiReport | int:
        """Schema, full sync, KPIs, a spend file imported; the report or an exit code."""
        _migrate(self.settings, self.console)
        self.console.rule("Full sync")
        report = self.sync(full=True)
        if isinstance(report, int):
            return report
        as_of = self.state.store.clock.now()
        months = self.settings.kpi.periods_back
        won = [
            v.value
            for v in report.result.values
            if v.kpi == "closed_won_revenue" and v.dim.name == "all" and v.period and v.value is not None
        ]
        monthly = sum(won) / len(won) if won else 0.0
        spend_file = _write_demo_spend(
            directory, as_of=as_of, currency=report.result.currency, months=months, monthly_revenue=monthly
        )
        _import_spend(self.settings, spend_file, self.console)
        return report

    def next_day(self, admin: httpx.Client, day: int, contacts: int) -> KpiReport | int:
        """A simulated day of CRM and audience activity, then an incremental sync and KPIs."""
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
        audience = simulate_mailchimp(
            self.mailchimp,
            days=1,
            new_members=max(3, contacts // 300),
            unsubscribes=max(1, contacts // 2000),
            send=day % 7 == 0,
        )
        self.console.rule(
            f"Day {day}: {change['created']} new contacts, {change['stage_changes']} stage changes, "
            f"{change['deals_created']} new deals, {change['deals_won']} won, "
            f"{change['deals_lost']} lost; {audience['joined']} new subscribers, "
            f"{audience['left']} unsubscribed"
        )
        return self.sync(full=False)

    def sync(self, *, full: bool) -> KpiReport | int:
        """Every source, then the KPIs as of the portal's time; the report or an exit code."""
        outcomes = _sync_both(self.settings, full=full, console=self.console)
        if code := exit_code_for(outcomes):
            return code
        as_of = self.state.store.clock.now()
        report = kpis_after_sync(self.settings, outcomes, self.console, trigger="demo", as_of=as_of)
        return EXIT_FAILED if report is None else report


def _sync_both(settings: Settings, *, full: bool, console: Console) -> list[StreamOutcome]:
    """The CRM, then the email platform; their outcomes together (KPIs need both)."""
    outcomes: list[StreamOutcome] = []
    for source in SOURCES:
        done = run_sync_with_progress(
            settings, streams=None, full=full, trigger="demo", console=console, source=source
        )
        print_outcomes(done, console)
        outcomes += done
    return outcomes


# The demo's marketing spend: a fifth of the won revenue a month brings (ROI about 4×, 400 %;
# CAC about a fifth of the average deal), split over paid search and paid social in the imported
# file; the sandbox's HubSpot campaigns (content, events, webinars, …) spend about the third that
# is left. docs/sandbox.md says why these ranges.
SPEND_SHARE_OF_REVENUE = 0.2
SPEND_MIX = (("PAID_SEARCH", 0.40), ("PAID_SOCIAL", 0.25))


def _write_demo_spend(
    directory: Path, *, as_of: datetime, currency: str, months: int, monthly_revenue: float
) -> Path:
    """A plausible monthly spend file, in proportion to the portal's won revenue."""
    lines = ["period_start,period_end,channel,amount,currency"]
    budget = max(round(monthly_revenue * SPEND_SHARE_OF_REVENUE, -3), 10_000.0)
    year, month = as_of.year, as_of.month
    for _ in range(months):
        first = date(year, month, 1)
        nxt = date(year + month // 12, month % 12 + 1, 1)
        last = nxt - timedelta(days=1)
        for channel, share in SPEND_MIX:
            lines.append(f"{first},{last},{channel},{round(budget * share, -2):.0f},{currency}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    path = directory / "spend.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _migrate(settings: Settings, console: Console) -> None:
    engine = make_engine(settings.db_url)
    try:
        _, revision = migrate(engine)
    finally:
        engine.dispose()
    console.print(f"Created the database schema at revision {revision} (funnelsync migrate).")


def _import_spend(settings: Settings, path: Path, console: Console) -> None:
    engine = make_engine(settings.db_url)
    try:
        rows = import_spend_file(engine, path, connection=settings.connection, now=datetime.now(UTC))
    finally:
        engine.dispose()
    console.print(f"Imported {len(rows)} rows of marketing spend from {path} (funnelsync spend import).")


def _counts(settings: Settings, console: Console) -> None:
    engine = make_engine(settings.db_url)
    try:
        counts = row_counts(engine, connection=settings.connection)
    finally:
        engine.dispose()
    table = Table(title="What is in the local copy")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in (
        "contacts",
        "companies",
        "deals",
        "owners",
        "pipelines",
        "marketing_emails",
        "campaigns",
        "web_analytics",
        "mailchimp_members",
        "mailchimp_campaigns",
        "quarantine",
    ):
        table.add_row(name, f"{counts[name]:,}")
    console.print(table)
