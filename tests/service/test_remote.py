"""`funnelsync resync` against a running service's admin API (real HTTP on loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rich.console import Console

from sandbox.server import SandboxServer, free_port
from service.api import guarded_app
from service.exitcodes import EXIT_AUTH, EXIT_BUSY, EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from service.remote import RemoteError, request_resync


@pytest.fixture
def running(service) -> Iterator[str]:
    with SandboxServer(guarded_app(service)) as server:
        yield server.url


def settings_for(service, url: str, **changes):
    updated = service.settings.service.model_copy(update={"url": url, **changes})
    return service.settings.model_copy(update={"service": updated})


def ask(settings, **options):
    console = Console(record=True, width=200)
    defaults = {"connection": None, "streams": ["owners"], "full": False, "follow": True}
    code = request_resync(settings, console=console, sleep=lambda _: None, **{**defaults, **options})
    return code, console.export_text()


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_resync_asks_the_service_and_follows_the_runs_to_their_end(service, running):
    code, out = ask(settings_for(service, running))
    assert code == EXIT_OK
    assert "queued on" in out and "owners" in out and "succeeded" in out
    # Following prints a short line per stream when its status changes, not one long line a poll.
    followed = [line for line in out.splitlines() if line.startswith("owners:")]
    assert followed and followed[-1].startswith("owners: succeeded") and max(map(len, followed)) < 80


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_resync_follow_shows_what_the_run_expects(service, running):
    """The same display as a local sync: the count the run expects and its end, one line each."""
    code, out = ask(settings_for(service, running), streams=["contacts"], full=True)
    assert code == EXIT_OK
    lines = [line for line in out.splitlines() if line.startswith("contacts:")]
    assert lines[0].startswith("contacts: full sync started")
    assert lines[-1].startswith("contacts: succeeded, ")


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_resync_says_why_it_could_not_ask(service, running):
    from pydantic import SecretStr

    with pytest.raises(RemoteError) as no_token:
        ask(settings_for(service, running, admin_token=None))
    assert no_token.value.exit_code == EXIT_CONFIG and "--local" in str(no_token.value)
    with pytest.raises(RemoteError) as refused:
        ask(settings_for(service, running, admin_token=SecretStr("not-the-admin-token")))
    assert refused.value.exit_code == EXIT_AUTH
    with pytest.raises(RemoteError) as nobody:
        ask(settings_for(service, f"http://127.0.0.1:{free_port()}"))
    assert nobody.value.exit_code == EXIT_FAILED and "no service answers" in str(nobody.value)
    with pytest.raises(RemoteError) as bad:
        ask(settings_for(service, running), streams=["no_such_stream"])
    assert bad.value.exit_code == EXIT_CONFIG
    # A stream already queued: 409, exit 6.
    service.jobs.queue("default", ["owners"], full=False, trigger="admin")
    with pytest.raises(RemoteError) as busy:
        ask(settings_for(service, running))
    assert busy.value.exit_code == EXIT_BUSY and "already running" in str(busy.value)
