"""Runs a sandbox as a real HTTP server on 127.0.0.1, in a background thread or in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn

from sandbox.clock import SandboxClock
from sandbox.hubspot.data import GeneratorOptions, PortalData, load_fixture
from sandbox.hubspot.exports import ExportTiming
from sandbox.hubspot.generator import generate_portal
from sandbox.hubspot.options import SandboxOptions, SandboxState
from sandbox.hubspot.store import PortalStore
from sandbox.mailchimp.data import generate_account, people_from_contacts
from sandbox.mailchimp.state import MailchimpOptions, MailchimpState


@dataclass
class HubSpotSandboxConfig:
    """Everything needed to stand up one sandbox portal."""

    contacts: int = 1000
    deals: int | None = None
    companies: int | None = None
    seed: int = 1
    now: datetime | None = None
    frozen_clock: bool = False
    fixture: Path | None = None
    rate_limit: int | None = 190
    search_rate: int | None = 5
    daily_limit: int | None = 625_000
    send_retry_after: bool = True
    token: str = "sandbox-token"
    # OAuth 2.0 app credentials the token endpoint accepts.
    oauth_client_id: str = "sandbox-client"
    oauth_client_secret: str = "sandbox-secret"
    oauth_refresh_token: str = "sandbox-refresh"
    legacy_stage_properties: bool = False
    custom_stages: tuple[tuple[str, str], ...] = ()
    malformed: int = 0
    latency_ms: int = 0
    # How the CRM exports take their time and split their files (sandbox/hubspot/exports.py).
    export_timing: ExportTiming = field(default_factory=ExportTiming)


def build_hubspot_state(config: HubSpotSandboxConfig) -> SandboxState:
    clock = SandboxClock(config.now, frozen=config.frozen_clock)
    data: PortalData
    if config.fixture is not None:
        data = load_fixture(config.fixture, now=clock.now())
    else:
        data = generate_portal(
            GeneratorOptions(
                contacts=config.contacts,
                deals=config.deals,
                companies=config.companies,
                seed=config.seed,
                now=clock.now(),
                legacy_stage_properties=config.legacy_stage_properties,
                custom_stages=list(config.custom_stages),
                malformed=config.malformed,
            )
        )
    store = PortalStore(data, clock, seed=config.seed)
    options = SandboxOptions(
        tokens={config.token},
        rate_limit=config.rate_limit,
        search_rate=config.search_rate,
        daily_limit=config.daily_limit,
        send_retry_after=config.send_retry_after,
        oauth_client_id=config.oauth_client_id,
        oauth_client_secret=config.oauth_client_secret,
        oauth_refresh_tokens={config.oauth_refresh_token},
        latency_ms=config.latency_ms,
    )
    return SandboxState(store, options, seed=config.seed, export_timing=config.export_timing)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _PromptServer(uvicorn.Server):
    """uvicorn's server looks for `should_exit` every 0.1 s; this one wakes the moment `stop`
    asks (a test suite starts and stops hundreds of servers)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        await self.on_tick(0)  # the default headers
        if not self.should_exit:
            await self._wake.wait()

    def request_stop(self) -> None:
        # should_exit first: a main_loop that has not made its event yet sees it when it does.
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wake.set)


class SandboxServer:
    """A uvicorn server in a daemon thread; a context manager that starts and stops it."""

    def __init__(self, app: Any, *, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port()
        config = uvicorn.Config(
            app,
            host=host,
            port=self.port,
            log_level="warning",
            # An embedded server logs through its host's logging (funnelsync's redacting handler).
            log_config=None,
            access_log=False,
            lifespan="off",
            date_header=False,
            server_header=False,
            timeout_keep_alive=30,
        )
        self._server = _PromptServer(config)
        self._thread = threading.Thread(target=self._server.run, name=f"sandbox-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.request_stop()
        self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(app: Any, *, port: int, host: str = "127.0.0.1") -> None:
    """Run in the foreground until interrupted (the `funnelsync sandbox` command)."""
    uvicorn.run(
        app, host=host, port=port, log_level="info", lifespan="off", date_header=False, server_header=False
    )


@dataclass
class MailchimpSandboxConfig:
    """A Mailchimp account whose audience overlaps the HubSpot portal generated from the same
    `contacts`, `seed` and `now` (or the given portal's contacts)."""

    contacts: int = 1000
    seed: int = 1
    now: datetime | None = None
    frozen_clock: bool = False
    api_key: str = "0123456789abcdef0123456789abcdef-us6"
    max_connections: int = 10
    latency_ms: int = 0
    campaigns: int | None = None  # sent campaigns in all (default: weekly and monthly sends)


def build_mailchimp_state(
    config: MailchimpSandboxConfig, contacts: list[dict[str, Any]] | None = None
) -> MailchimpState:
    """The account for `contacts` (HubSpot contact records, e.g. a running HubSpot sandbox's),
    or for the portal generated from the same `contacts` count, `seed` and `now`."""
    clock = SandboxClock(config.now, frozen=config.frozen_clock)
    if contacts is None:
        options = GeneratorOptions(contacts=config.contacts, seed=config.seed, now=clock.now())
        contacts = generate_portal(options).contacts
    account = generate_account(
        people_from_contacts(contacts), now=clock.now(), seed=config.seed, campaigns=config.campaigns
    )
    mailchimp = MailchimpOptions(
        api_key=config.api_key, max_connections=config.max_connections, latency_ms=config.latency_ms
    )
    return MailchimpState(account, clock, mailchimp, seed=config.seed)
