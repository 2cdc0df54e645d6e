"""Logging set-up: readable (rich) or JSON lines, and a filter that blanks secrets everywhere."""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

REDACTED = "**********"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced; secrets shorter than 4 characters are ignored."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites every record so no secret reaches a handler: the configured ones, and those a
    run learns on the way (OAuth access tokens, Mailchimp's Basic credential), which the sync
    registers with `add_secret_provider` for as long as it lives."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]
        self.providers: list[weakref.WeakMethod[Callable[[], list[str]]]] = []

    def current(self) -> list[str]:
        """The configured secrets and every live provider's."""
        found = list(self.secrets)
        live = []
        for ref in self.providers:
            provider = ref()
            if provider is not None:
                live.append(ref)
                found += [s for s in provider() if s]
        self.providers = live
        return found

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self.current()
        if secrets:
            record.msg = redact(record.getMessage(), secrets)
            record.args = None
            if record.exc_text:
                record.exc_text = redact(record.exc_text, secrets)
        return True


class RedactingFormatter(logging.Formatter):
    """Redacts what another formatter wrote: the whole line, with a traceback formatted after the
    filter ran (the filter alone sees `exc_text` before it is filled)."""

    def __init__(self, inner: logging.Formatter, secrets: RedactingFilter) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record), self.secrets.current())


def add_secret_provider(provider: Callable[[], list[str]]) -> None:
    """Make the log filters of the root logger's handlers redact what `provider` returns (a bound
    method, held weakly: it stops counting when its object is gone)."""
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, RedactingFilter):
                found.providers.append(weakref.WeakMethod(provider))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the run context fields when present."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("run_id", "connection", "stream"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload)


def configure_logging(level: str, *, json_lines: bool, secrets: Iterable[str] = ()) -> None:
    """Configure logging once, at the entry point: one handler on the root logger, so every
    logger (funnelsync's, uvicorn's, APScheduler's, httpx's) passes the redaction; funnelsync's
    at `level`, the libraries' at WARNING unless funnelsync's is more verbose."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "funnelsync", False)]:
        root.removeHandler(old)  # an earlier configuration of ours (others' handlers stay)
    handler: logging.Handler
    if json_lines:
        handler = logging.StreamHandler()
        inner: logging.Formatter = JsonFormatter()
    else:
        from rich.logging import RichHandler

        handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
        inner = logging.Formatter("%(message)s")
    redacting = RedactingFilter(secrets)
    setattr(handler, "funnelsync", True)  # noqa: B010 (marks our handler for the next configuration)
    handler.addFilter(redacting)
    handler.setFormatter(RedactingFormatter(inner, redacting))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    ours = logging.getLogger("funnelsync")
    ours.handlers.clear()
    ours.setLevel(level)
    ours.propagate = True
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "apscheduler"):
        # A library that configured its own handlers (uvicorn's default dictConfig) would write
        # past the redaction: its records go through ours.
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
