"""Fixtures of the service tests: a service context with a running scheduler, its HTTP API on
a loopback port, and the sandbox with per-test options."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from config import Settings
from sandbox.server import SandboxServer
from service.api import guarded_app
from service.serve import build_service
from storage.kpis import latest_kpi_run
from storage.runs import FINISHED as RUN_ENDINGS
from tests.conftest import loopback_client

ADMIN = "admin-token-0123456789"
READER = "read-token-0123456789"

# How a run can end (the service's own list, so a new status is never waited on until a timeout).
FINISHED = RUN_ENDINGS


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for(client: httpx.Client, run_ids: list[int], timeout: float = 60) -> list[dict[str, Any]]:
    """The runs once all of them finished (or as they are at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = [client.get(f"/admin/runs/{i}", headers=auth(ADMIN)).json() for i in run_ids]
        if all(r["status"] in FINISHED for r in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(0.1)


def wait_kpis(engine: Engine, timeout: float = 30) -> Any:
    """The latest KPI run of the default connection, once there is one."""
    deadline = time.monotonic() + timeout
    while (run := latest_kpi_run(engine, connection="default")) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return run


def resync(client: httpx.Client, **body: Any) -> Any:
    return client.post("/admin/resync", json=body, headers=auth(ADMIN))


@pytest.fixture
def sandbox(make_sandbox, request):
    """The sandbox, with the options a test's `sandbox_options` marker gives."""
    marker = request.node.get_closest_marker("sandbox_options")
    return make_sandbox(**(marker.kwargs if marker else {}))


SERVICE_DEFAULTS: dict[str, Any] = {
    "admin_token": ADMIN,
    "api_token": READER,
    "sync_interval_minutes": 0,
    "reconcile_cron": "",
}


@contextmanager
def running_service(
    settings: Settings, engine: Engine, *, clock: Any = None, **service_settings: Any
) -> Iterator[Any]:
    """A service context with its scheduler running (no timed jobs: the tests queue them), on
    the system clock unless given one."""
    section = {**settings.service.model_dump(), **SERVICE_DEFAULTS, **service_settings}
    settings = settings.model_copy(update={"service": settings.service.model_validate(section)})
    ctx = build_service(settings, engine, clock=clock)
    assert ctx.scheduler is not None
    ctx.scheduler.start()
    try:
        yield ctx
    finally:
        ctx.jobs.shutdown.set("interrupted", "test over")
        ctx.scheduler.shutdown(wait=True)


@contextmanager
def serving(ctx: Any) -> Iterator[httpx.Client]:
    """The service's app on a loopback port (uvicorn in a thread), and a client for it."""
    with SandboxServer(guarded_app(ctx)) as server, loopback_client(server.url) as http:
        yield http


@pytest.fixture
def service(make_settings, engine, request) -> Iterator[Any]:
    """A service context of this test's sandbox and database (`service_settings` marker: its
    own service settings)."""
    marker = request.node.get_closest_marker("service_settings")
    settings = make_settings(engine.url.render_as_string(hide_password=False))
    with running_service(settings, engine, **(marker.kwargs if marker else {})) as ctx:
        yield ctx


@pytest.fixture
def client(service) -> Iterator[httpx.Client]:
    with serving(service) as http:
        yield http
