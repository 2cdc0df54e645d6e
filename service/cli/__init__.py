"""The `funnelsync` command line: thin commands over the library, one module per area.

Exit codes: 0 success; 1 a stream failed; 2 bad usage or configuration; 3 deferred by the
vendor's daily rate limit (resume later); 4 authentication failed; 5 the database schema needs
`funnelsync migrate`; 6 another process was already syncing a selected stream; 7 `serve` could not
listen on its port.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from service.cli import checks, kpis, sandbox, service, sync
from service.cli.common import app, err_console, print_error, sandbox_app, spend_app
from service.exitcodes import EXIT_FAILED

__all__ = ["app", "main"]

# The commands in the order `--help` lists them.
COMMANDS: tuple[Callable[..., None], ...] = (
    sync.migrate,
    sync.sync,
    sync.runs,
    checks.check,
    kpis.kpis,
    kpis.prune,
    kpis.export,
    service.demo,
    service.serve,
    service.resync,
)
for command in COMMANDS:
    app.command()(command)
sandbox_app.command("hubspot")(sandbox.sandbox_hubspot)
sandbox_app.command("mailchimp")(sandbox.sandbox_mailchimp)
spend_app.command("import")(kpis.spend_import)
spend_app.command("list")(kpis.spend_list)


def main() -> None:
    """Console-script entry point: every failure the commands do not handle themselves ends in
    one line and its documented exit code, never a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from service.writer import StorageWriteError
    from storage.db import describe_error

    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except StorageWriteError as exc:
        # Storing failed (a full disk, say): every page committed before it is kept.
        print_error(f"storing failed: {exc}; what was committed is kept and the next run resumes from it")
        sys.exit(EXIT_FAILED)
    except SQLAlchemyError as exc:
        text = describe_error(exc)
        if any(word in text.lower() for word in ("disk", "full", "no space")):
            print_error(
                f"writing to the database failed: {text}; what was committed is kept, the next run resumes"
            )
        else:
            print_error(f"the database cannot be used: {text}")
        sys.exit(EXIT_FAILED)
    except OSError as exc:
        # A data directory that cannot be written, a file that cannot be read.
        where = f": {exc.filename}" if exc.filename else ""
        print_error(f"{exc.strerror or exc}{where}")
        sys.exit(EXIT_FAILED)
