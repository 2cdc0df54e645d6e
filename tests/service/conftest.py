"""Fixtures of the service tests: a service context with a running scheduler, its HTTP API on
a loopback port, and the sandbox with per-test options."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.server import SandboxServer
from service.api import create_app
from service.serve import build_service

ADMIN = "admin-token-0123456789"
READER = "read-token-0123456789"


@pytest.fixture
def sandbox(make_sandbox, request):
    """The sandbox, with the options a test's `sandbox_options` marker gives."""
    marker = request.node.get_closest_marker("sandbox_options")
    return make_sandbox(**(marker.kwargs if marker else {}))


@pytest.fixture
def service(make_settings, engine, request) -> Iterator[Any]:
    """A service context with its scheduler running (no timed jobs: the tests queue them)."""
    marker = request.node.get_closest_marker("service_settings")
    extra = marker.kwargs if marker else {}
    settings = make_settings(engine.url.render_as_string(hide_password=False))
    service_settings = {
        "admin_token": ADMIN,
        "api_token": READER,
        "sync_interval_minutes": 0,
        "reconcile_cron": "",
        **extra,
    }
    settings = settings.model_copy(
        update={
            "service": settings.service.model_validate({**settings.service.model_dump(), **service_settings})
        }
    )
    ctx = build_service(settings, engine)
    assert ctx.scheduler is not None
    ctx.scheduler.start()
    yield ctx
    ctx.jobs.shutdown.set("interrupted", "test over")
    ctx.scheduler.shutdown(wait=True)


@pytest.fixture
def client(service) -> Iterator[httpx.Client]:
    """The service's app on a loopback port (uvicorn in a thread), and a client for it."""
    with SandboxServer(create_app(service)) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
