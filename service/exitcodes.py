"""Process exit codes of the `funnelsync` commands (documented in docs/operations.md)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # a stream failed after retries, or the database is unreachable
EXIT_CONFIG = 2  # bad usage or configuration
EXIT_DEFERRED = 3  # the vendor's daily limit is spent; resume later
EXIT_AUTH = 4  # authentication failed
EXIT_SCHEMA = 5  # the schema is missing, older or newer than this funnelsync (`funnelsync migrate`)
EXIT_BUSY = 6  # another process is syncing a selected stream (it was skipped)
EXIT_BIND = 7  # `serve` could not listen on its host and port (in use, or not this host's)
