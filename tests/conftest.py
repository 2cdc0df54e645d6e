"""Shared fixtures: the sandbox over real loopback HTTP, an injected clock, real databases."""

from __future__ import annotations

import base64
import os
import ssl
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import Engine, select

from config import Settings, load_settings
from sandbox.hubspot.app import create_app
from sandbox.hubspot.options import SandboxState
from sandbox.mailchimp.app import create_app as create_mailchimp_app
from sandbox.mailchimp.state import MailchimpState
from sandbox.server import (
    HubSpotSandboxConfig,
    MailchimpSandboxConfig,
    SandboxServer,
    build_hubspot_state,
    build_mailchimp_state,
)
from storage import make_engine, migrate

PORTAL_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PG_ADMIN_URL = os.environ.get("FUNNELSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


# One TLS context for every helper client: httpx makes one per client by default (about 40 ms
# each, loading the CA bundle), and these clients only speak plain HTTP to loopback.
_TLS = ssl.create_default_context()


def loopback_client(base_url: str, *, timeout: float = 30, **kwargs: Any) -> httpx.Client:
    """An httpx client for a sandbox or service on 127.0.0.1."""
    return httpx.Client(base_url=base_url, timeout=timeout, verify=_TLS, **kwargs)


@dataclass
class Sandbox:
    """A running HubSpot sandbox plus a client for its admin routes."""

    server: SandboxServer
    state: SandboxState
    token: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def store(self) -> Any:
        return self.state.store

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        with loopback_client(self.url) as client:
            response = client.request(method, path, **kwargs)
            response.raise_for_status()
            return response.json()

    def faults(self, *faults: dict[str, Any]) -> None:
        self.admin("POST", "/_sandbox/faults", json={"faults": list(faults)})

    def stats(self) -> dict[str, int]:
        return dict(self.admin("GET", "/_sandbox/stats"))

    def api(self) -> httpx.Client:
        return loopback_client(self.url, headers={"Authorization": f"Bearer {self.token}"})


def start_sandbox(**overrides: Any) -> Sandbox:
    """A sandbox portal on a free loopback port (300 contacts, a frozen clock, no rate limits
    unless `overrides` say otherwise); the caller stops its server."""
    options: dict[str, Any] = {
        "contacts": 300,
        "seed": 11,
        "now": PORTAL_NOW,
        "frozen_clock": True,
        "rate_limit": None,
        "search_rate": None,
        "token": "test-token-" + uuid.uuid4().hex[:8],
    }
    options.update(overrides)
    state = build_hubspot_state(HubSpotSandboxConfig(**options))
    server = SandboxServer(create_app(state)).start()
    return Sandbox(server, state, options["token"])


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes on free loopback ports; each is stopped after the test."""
    started: list[Sandbox] = []

    def start(**overrides: Any) -> Sandbox:
        started.append(start_sandbox(**overrides))
        return started[-1]

    yield start
    for sandbox in started:
        sandbox.server.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox()


MAILCHIMP_KEY = "0123456789abcdef0123456789abcdef-us6"


class Mailchimp:
    """A running Mailchimp sandbox, clients for its API and its admin routes."""

    def __init__(self, state: MailchimpState, server: SandboxServer) -> None:
        self.state, self.server = state, server

    @property
    def url(self) -> str:
        return f"{self.server.url}/3.0"

    def client(self, key: str = MAILCHIMP_KEY, scheme: str = "basic") -> httpx.Client:
        if scheme == "basic":
            auth = "Basic " + base64.b64encode(f"anystring:{key}".encode()).decode()
        else:
            auth = f"Bearer {key}"
        headers = {"Authorization": auth} if key else {}
        return loopback_client(self.url, headers=headers)

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        with loopback_client(self.server.url) as client:
            response = client.request(method, path, **kwargs)
            response.raise_for_status()
            return response.json()

    def stats(self) -> dict[str, int]:
        return dict(self.admin("GET", "/_sandbox/stats"))


@pytest.fixture
def mailchimp() -> Iterator[Mailchimp]:
    """A Mailchimp sandbox whose audience overlaps a 1,500-contact HubSpot portal (seed 7)."""
    config = MailchimpSandboxConfig(contacts=1_500, seed=7, now=PORTAL_NOW, frozen_clock=True)
    server = SandboxServer(create_mailchimp_app(state := build_mailchimp_state(config))).start()
    try:
        yield Mailchimp(state, server)
    finally:
        server.stop()


@dataclass
class FakeClock:
    """The injected clock: reads the sandbox's (frozen) time; sleeping advances it and is recorded."""

    sandbox: Sandbox | None = None
    sleeps: list[float] = field(default_factory=list)
    _offset: float = 0.0

    def now(self) -> datetime:
        if self.sandbox is not None:
            return self.sandbox.store.clock.now()  # type: ignore[no-any-return]
        return PORTAL_NOW

    def monotonic(self) -> float:
        if self.sandbox is not None:
            return self.sandbox.store.clock.monotonic()  # type: ignore[no-any-return]
        return self._offset

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.sandbox is not None:
            self.sandbox.store.clock.advance(max(seconds, 0.0))
        else:
            self._offset += seconds


@pytest.fixture
def clock(sandbox: Sandbox) -> FakeClock:
    return FakeClock(sandbox)


# -- databases ----------------------------------------------------------------------------------


def _postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def strict() -> bool:
    """Whether a missing PostgreSQL or Chromium fails the suite instead of skipping its tests:
    in CI (`.ci/run` sets CI=true itself). `CI=false`, `0`, `no` or empty mean a user's machine."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


# The system catalogs every throwaway schema adds rows to and drops them from again.
_CATALOGS = ("pg_attribute", "pg_class", "pg_type", "pg_depend", "pg_index", "pg_constraint", "pg_attrdef")


def _tidy_catalogs() -> None:
    """The suite creates and drops about a thousand schemas (`fresh_database`). On a server with
    autovacuum off (this machine's) their dead catalog rows pile up run after run and every DDL
    and catalog look-up slows down (pg_attribute reached 838 MB after a day): vacuum them once
    per session. Cheap when there is little to do; a non-superuser's VACUUM skips them."""
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") != "gw0":
        return  # one worker is enough
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute("VACUUM " + ", ".join(f"pg_catalog.{name}" for name in _CATALOGS))


@pytest.fixture(scope="session")
def postgres_ok() -> bool:
    available = _postgres_available()
    if not available and strict():
        pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_ADMIN_URL}")
    if available:
        _tidy_catalogs()
    return available


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (in their collected order): with `-n 2` the long ones start early and the
    short ones fill the gaps, instead of two long ones ending the run on one worker."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


DIALECTS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def fresh_database(
    request: pytest.FixtureRequest, kind: str, directory: Path, name: str = "funnelsync.db"
) -> Iterator[str]:
    """A fresh, isolated database: a SQLite file in `directory`, or a throwaway PostgreSQL schema
    (skipped when PostgreSQL is unreachable, except in CI where that fails)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / name}"
        return
    if not request.getfixturevalue("postgres_ok"):
        pytest.skip("PostgreSQL not reachable")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    base = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    """Which database a test runs on (every database test runs on both)."""
    return str(request.param)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, dialect: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, isolated database of the test's dialect."""
    with fresh_database(request, dialect, tmp_path) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module", params=DIALECTS)
def module_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated database of each dialect shared by one module's tests: for modules whose tests
    only read what one module fixture wrote (computing it once instead of once per test)."""
    with fresh_database(request, str(request.param), tmp_path_factory.mktemp("module-db")) as url:
        engine = make_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


def sandbox_settings(
    sandbox: Sandbox,
    data_dir: Path,
    db_url: str | None = None,
    *,
    max_attempts: int = 4,
    storage_writer: str = "inline",
    **hubspot: Any,
) -> Settings:
    """Settings pointed at `sandbox` (and the database `db_url` when given); see `make_settings`."""
    hub = {"token": sandbox.token, "base_url": sandbox.url, "analytics_days": 90, **hubspot}
    overrides: dict[str, Any] = {
        "data_dir": data_dir,
        "hubspot": hub,
        "retry": {"max_attempts": max_attempts, "jitter_seconds": 0.0},
        "storage_writer": storage_writer,
    }
    if db_url is not None:
        overrides["database_url"] = db_url
    return load_settings(**overrides)


@pytest.fixture
def make_settings(tmp_path: Path, sandbox: Sandbox) -> Callable[..., Settings]:
    """Settings pointed at the sandbox (and the test database when given).

    In-process syncs commit in this process and read 90 days of web analytics (one window of the
    Reporting API): a writer process starts in about a second and two years of analytics are nine
    of every ten rows a sandbox portal has, while neither is what these tests are about. The writer
    process has tests of its own (tests/service/test_writer.py, the process-writer tests of
    test_sync.py, every test that runs `funnelsync` as a process), analytics too
    (tests/connector/hubspot/test_analytics.py).
    """

    def build(db_url: str | None = None, **options: Any) -> Settings:
        return sandbox_settings(sandbox, tmp_path / "data", db_url, **options)

    return build


# Columns that say when and by which run a row was written, not what the data is.
WRITE_COLUMNS = ("synced_at", "run_id", "deleted_seen_at", "seen_at", "detected_at")
# Tables about the runs themselves.
RUN_TABLES = ("sync_runs", "sync_state", "sync_leases", "kpi_runs", "kpi_values")


def dump_tables(
    engine: Engine,
    *,
    exclude: tuple[str, ...] = ("sync_runs", "sync_state"),
    skip_columns: tuple[str, ...] = (),
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every funnelsync table (but `exclude`), sorted, for exact comparisons;
    `skip_columns` leaves those columns out (e.g. WRITE_COLUMNS to compare two syncs' data)."""
    from sqlmodel import SQLModel

    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name, table in SQLModel.metadata.tables.items():
            if name in exclude:
                continue
            rows = conn.execute(select(*(c for c in table.c if c.name not in skip_columns))).all()
            out[name] = sorted((tuple(r) for r in rows), key=repr)
    return out
