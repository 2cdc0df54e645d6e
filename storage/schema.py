"""The database schema's version, managed by Alembic (revisions in storage/migrations/versions).

`migrate` creates a fresh database or upgrades an old one; `require_current` is what `sync`,
`serve` and the readers call first, so new code never writes into an old schema (or old code
into a newer one).
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlmodel import SQLModel

from storage.views import CURRENT as CURRENT_VIEWS
from storage.views import REVISION as VIEWS_REVISION
from storage.views import create_touchpoints, create_views

MIGRATIONS = Path(__file__).with_name("migrations")
# Databases created by `create_all` before funnelsync used Alembic hold exactly this revision.
BASELINE = "0001"
# Any one of funnelsync's tables tells a database that predates Alembic from an empty one.
_MARKER_TABLE = "sync_runs"
# Two processes migrating one PostgreSQL database at once wait for each other (an arbitrary key).
_PG_LOCK_KEY = 0x66756E6E


class SchemaError(Exception):
    """The database's schema is not the one this funnelsync needs; the message says what to run."""


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None  # None: no alembic_version
    head: str
    has_tables: bool  # funnelsync tables exist (with or without a version)
    known: bool  # `current` is one of this funnelsync's revisions

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def include_object(_obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """What autogenerate compares: funnelsync's own tables only (not other tools' in the database)."""
    if type_ == "table" and reflected and compare_to is None:
        return name in SQLModel.metadata.tables
    return True


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


@functools.cache
def _revisions() -> tuple[str, frozenset[str]]:
    """(head, every revision) of the installed migrations: read once per process (parsing the
    revision files took ~45 ms, and every sync and KPI computation checks the schema)."""
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    assert head is not None
    return head, frozenset(s.revision for s in scripts.walk_revisions())


def head_revision() -> str:
    return _revisions()[0]


def _known_revisions() -> frozenset[str]:
    return _revisions()[1]


def _status(conn: Connection) -> SchemaStatus:
    current = MigrationContext.configure(conn).get_current_revision()
    has_tables = inspect(conn).has_table(_MARKER_TABLE)
    known = current is None or current in _known_revisions()
    return SchemaStatus(current, head_revision(), has_tables, known)


def schema_status(engine: Engine) -> SchemaStatus:
    with engine.connect() as conn:
        return _status(conn)


def require_current(engine: Engine) -> None:
    """Raise SchemaError unless the database is at this funnelsync's head revision."""
    status = schema_status(engine)
    if status.up_to_date:
        return
    if status.current is None and not status.has_tables:
        raise SchemaError("the database has no funnelsync schema yet: run `funnelsync migrate` first")
    if status.current is None:
        raise SchemaError(
            "the database predates schema versioning (unmigrated): run `funnelsync migrate` to upgrade it"
        )
    if not status.known:
        raise SchemaError(
            f"the database schema is at revision {status.current}, newer than this funnelsync knows "
            f"(head {status.head}): upgrade funnelsync, or point it at another database"
        )
    raise SchemaError(
        f"the database schema is at revision {status.current}, this funnelsync needs {status.head}: "
        "run `funnelsync migrate`"
    )


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    yield


def migrate(engine: Engine, *, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to `revision` (default: head); returns (before, after).

    An empty database gets every table at once and is stamped at head (the same schema the
    revisions build, which tests/storage/test_schema.py checks); a database made before
    versioning is stamped at the baseline first; anything else runs the revisions in order.
    """
    with engine.begin() as conn, _migration_lock(conn):
        status = _status(conn)
        if not status.known:
            raise SchemaError(
                f"the database schema is at revision {status.current}, newer than this funnelsync knows "
                f"(head {status.head}); refusing to migrate"
            )
        config = alembic_config(conn)
        if status.current is None and not status.has_tables and revision == "head":
            import storage.models  # noqa: F401  (registers the tables)

            SQLModel.metadata.create_all(conn)
            create_views(conn, CURRENT_VIEWS, revision=VIEWS_REVISION)
            create_touchpoints(conn)
            command.stamp(config, "head")
        else:
            if status.current is None and status.has_tables:
                command.stamp(config, BASELINE)
            command.upgrade(config, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return status.current, after


def drift(engine: Engine) -> list[Any]:
    """What autogenerate would change to make the database match the models ([] = no drift)."""
    import storage.models  # noqa: F401  (registers the tables)

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object}
        )
        return list(compare_metadata(context, SQLModel.metadata))


def new_revision(message: str) -> None:
    """Write a new revision autogenerated from the models' difference to head (for developers)."""
    from storage.db import make_engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'head.db'}")
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
            number = len(_known_revisions()) + 1
            command.revision(alembic_config(conn), message=message, autogenerate=True, rev_id=f"{number:04d}")
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description="funnelsync schema revisions (for developers)")
    parser.add_argument("message", help="what the new revision changes")
    new_revision(parser.parse_args().message)


if __name__ == "__main__":
    main()
