"""First loads: pages of records that are not stored yet, written without look-ups or conflict
handling. On PostgreSQL the rows go in by COPY (the upsert path costs the server about 75 µs per
row in executor start-up and conflict checks; COPY a fraction of it); on SQLite by plain INSERT.

Nothing is stored for a first load's records, so there is nothing to look up: no stage changes to
observe against stored rows, no current versions to end (every record starts its first version,
planned while the page is prepared), no child rows to delete. Whether that holds is not assumed:
a record stored already (a repeat across pages, a resumed read of a stream that was loaded
before) breaks a primary key, the whole batch is rolled back and written again by the ordinary
path (storage.write), and the sync stops asking for bulk writes for that run.
"""

from __future__ import annotations

import functools

from sqlalchemy import Connection, Engine, exists, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from storage.db import table_of
from storage.models import ENTITY_TABLES, VERSION_TABLES, SyncRun
from storage.sql import Rows, RowValues


def insert_rows(conn: Connection, rows: Rows | RowValues) -> None:
    """Insert bound rows that must all be new: COPY on PostgreSQL, INSERT elsewhere. A row whose
    key is taken raises IntegrityError (on every dialect), and the caller's transaction is void."""
    if isinstance(rows, Rows):
        rows = rows.positional()
    if not rows.values:
        return
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(_insert_sql(rows.model, rows.names), rows.values)
        return
    import psycopg  # the PostgreSQL driver; SQLite users never get here

    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    try:
        with raw.cursor() as cursor, cursor.copy(_copy_sql(rows.model, rows.names)) as copy:
            for row in rows.values:
                copy.write_row(row)
    except psycopg.errors.IntegrityError as exc:
        # As SQLAlchemy reports the same violation from an INSERT (the statement and its rows
        # are left out: they hold customer data).
        raise IntegrityError(f"COPY {table_of(rows.model).name}", None, exc) from None


@functools.lru_cache(maxsize=64)
def _insert_sql(model: type[SQLModel], columns: tuple[str, ...]) -> str:
    """A plain INSERT with positional (`?`) parameters, SQLite's."""
    table = table_of(model)
    names = ", ".join(f'"{table.c[c].name}"' for c in columns)
    return f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" for _ in columns)})'


@functools.lru_cache(maxsize=64)
def _copy_sql(model: type[SQLModel], columns: tuple[str, ...]) -> str:
    table = table_of(model)
    names = ", ".join(f'"{table.c[c].name}"' for c in columns)
    return f'COPY "{table.name}" ({names}) FROM STDIN'


def first_load(engine: Engine, *, connection: str, source: str, stream: str) -> bool:
    """Whether a full read of the stream is expected to bring only new records: none is stored
    for the connection, or no read of the stream has succeeded yet (a first load that resumes
    after an interruption: the pages after its checkpoint were never stored)."""
    runs = table_of(SyncRun)
    succeeded = exists().where(
        runs.c.connection == connection,
        runs.c.source == source,
        runs.c.stream == stream,
        runs.c.status == "succeeded",
    )
    models: list[type[SQLModel]] = [ENTITY_TABLES[stream]]
    if stream in VERSION_TABLES:
        models.append(VERSION_TABLES[stream])
    with engine.connect() as conn:
        if not conn.execute(select(succeeded)).scalar():
            return True
        return not any(
            conn.execute(select(exists().where(table_of(m).c.connection == connection))).scalar()
            for m in models
        )
