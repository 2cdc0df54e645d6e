"""The `funnelsync` command line: thin commands over the library, one module per area.

Exit codes: 0 success; 1 a stream failed; 2 bad usage or configuration; 3 deferred by the
vendor's daily rate limit (resume later); 4 authentication failed; 5 the database schema needs
`funnelsync migrate`; 6 another process was already syncing a selected stream.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from service.cli import kpis, sandbox, service, sync
from service.cli.common import app, err_console, sandbox_app, spend_app

__all__ = ["app", "main"]

# The commands in the order `--help` lists them.
COMMANDS: tuple[Callable[..., None], ...] = (
    sync.migrate,
    sync.sync,
    sync.runs,
    sync.check,
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
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
