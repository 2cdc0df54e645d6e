"""No secret reaches a log line: configured ones and those a run learns, from every logger, in
messages and in attached tracebacks, in readable and JSON logs alike."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from rich.console import Console
from rich.logging import RichHandler

from connector.mailchimp.auth import MailchimpKeyAuth
from service.logging import REDACTED, add_secret_provider, configure_logging

CONFIGURED = "pat-configured-SECRET-1234"
LEARNED = "access-learned-SECRET-5678"


class Run:
    """Stands for a sync: it learns a secret during the run (an OAuth refresh)."""

    def __init__(self) -> None:
        self.known: list[str] = []

    def secrets(self) -> list[str]:
        return list(self.known)


@pytest.fixture(params=[False, True], ids=["readable", "json"])
def written(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """What the configured handler writes (its stream pointed at a buffer)."""
    configure_logging("DEBUG", json_lines=request.param, secrets=[CONFIGURED])
    root = logging.getLogger()
    (handler,) = [h for h in root.handlers if getattr(h, "funnelsync", False)]
    buffer = io.StringIO()
    if isinstance(handler, RichHandler):
        handler.console = Console(file=buffer, width=200)
    else:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
    yield buffer
    root.removeHandler(handler)


@pytest.mark.parametrize(
    "logger", ["funnelsync.sync", "uvicorn.error", "apscheduler.scheduler", "sqlalchemy"]
)
def test_every_logger_is_redacted_in_messages_and_tracebacks(written, logger):
    run = Run()
    add_secret_provider(run.secrets)
    run.known.append(LEARNED)  # learned after the provider was registered: still redacted
    log = logging.getLogger(logger)
    log.warning("token %s and %s", CONFIGURED, LEARNED)
    try:
        raise RuntimeError(f"refused {CONFIGURED} / {LEARNED}")
    except RuntimeError:
        log.exception("failed with %s", LEARNED)
    text = written.getvalue()
    assert "token" in text and "Traceback" in text and "RuntimeError" in text
    assert CONFIGURED not in text and LEARNED not in text
    assert text.count(REDACTED) >= 5


def test_a_provider_stops_counting_when_its_run_is_gone(written):
    run = Run()
    run.known.append(LEARNED)
    add_secret_provider(run.secrets)
    del run  # the run ended: its provider is held weakly
    logging.getLogger("funnelsync").warning("after the run: %s", LEARNED)
    assert LEARNED in written.getvalue()  # no longer a secret of anything alive


def test_mailchimps_encoded_credential_counts_as_a_secret():
    """The Basic header carries the key base64-encoded: a log of the header must not show it."""
    auth = MailchimpKeyAuth(SecretStr("0123456789abcdef0123456789abcdef-us6"))
    (encoded,) = auth.secrets
    assert encoded and "0123456789abcdef" not in encoded and encoded.isascii()
