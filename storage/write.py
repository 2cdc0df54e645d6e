"""The write path: `commit_pages` writes a batch of prepared pages, their quarantine findings,
the run's counters and the stream's checkpoint in one transaction. A crash loses at most the batch
in flight, and the next run resumes from the checkpoint."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    delete,
    null,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from connector.records import Issue, Normalized
from storage.bulk import insert_rows
from storage.db import describe_error, id_in, table_of
from storage.history import (
    write_versions,
)
from storage.layout import (
    ASSOCIATION_TYPE,
    HELD_ASSOCIATIONS,
    OBSERVED,
    Observed,
    stream_tables,
)
from storage.models import (
    Quarantine,
    SyncRun,
)
from storage.prepare import Children, PageInput, PageWrite, PreparedBatch, PreparedPage, prepare_pages
from storage.sql import (
    execute_upsert,
    insert_missing_sql,
    named,
    upsert,
)
from storage.state import save_state

log = logging.getLogger("funnelsync.storage")


def commit_pages(engine: Engine, batch: PreparedBatch) -> list[PageWrite]:
    """Persist prepared pages in one transaction, with the last page's checkpoint.

    Each page is written exactly as on its own (in order, so a record on two pages ends as the
    later one says); only the commit, the checkpoint and the run counters are shared, so the
    checkpoint never runs ahead of the committed rows. A bulk batch (storage.bulk) is tried as
    new records first; when one of them is stored already, the transaction is void and the batch
    is written again the ordinary way.
    """
    if not batch.pages:
        return []
    writes: list[PageWrite] | None = None
    if batch.bulk:
        try:
            writes = _commit(engine, batch, bulk=True)
        except IntegrityError as exc:
            log.info(
                "%s: a page of the first load holds stored records (%s); writing the ordinary way",
                batch.stream,
                describe_error(exc),
            )
    if writes is None:
        writes = _commit(engine, batch, bulk=False)
    if engine.dialect.name == "postgresql":
        _refresh_statistics(engine, batch.stream)
    return writes


def _commit(engine: Engine, batch: PreparedBatch, *, bulk: bool) -> list[PageWrite]:
    quarantine_empty = batch.quarantine_empty
    with engine.begin() as conn:
        for page in batch.pages:
            if bulk:
                _write_new_page(conn, batch, page)
            else:
                _write_page(conn, batch, page)
            if page.issues or not quarantine_empty:
                _sync_quarantine(
                    conn,
                    connection=batch.connection,
                    source=batch.source,
                    stream=batch.stream,
                    record_ids=page.record_ids,
                    issues=page.issues,
                    run_id=batch.run_id,
                    now=batch.now,
                )
            quarantine_empty = quarantine_empty and not page.issues
        save_state(
            conn,
            connection=batch.connection,
            source=batch.source,
            stream=batch.stream,
            state=batch.pages[-1].checkpoint,
            run_id=batch.run_id,
            now=batch.now,
        )
        _count_run(conn, batch)
    return [dataclasses.replace(page.write, bulk=bulk) for page in batch.pages]


def _write_page(conn: Connection, batch: PreparedBatch, page: PreparedPage) -> None:
    connection = batch.connection
    observed = OBSERVED.get(batch.stream)
    # What is stored already for the page's records: stage changes are observed against it,
    # records seen for the first time have no child rows to replace and no version.
    needs_stored = page.children or observed or page.versions
    stored = _stored_records(conn, page, observed, connection) if needs_stored else {}
    if observed is not None and page.observations:
        _observe_changes(conn, observed, page, stored, connection=connection)
    if page.versions:
        write_versions(
            conn,
            batch.stream,
            page.versions,
            stored=stored.keys(),
            connection=connection,
            run_id=batch.run_id,
            now=batch.now,
        )
    execute_upsert(conn, named(page.entities))
    _fold_merges(conn, batch, page)
    for children in page.children:
        _replace_children(conn, children, connection=connection, existing=stored.keys())
    _add_missing(conn, page)


def _write_new_page(conn: Connection, batch: PreparedBatch, page: PreparedPage) -> None:
    """`_write_page` for records that are not stored (storage.bulk): nothing to observe against,
    no version to end, no child rows to replace. A stored one raises IntegrityError."""
    insert_rows(conn, page.entities)
    if page.first_versions is not None:
        insert_rows(conn, page.first_versions)
    _fold_merges(conn, batch, page)
    for children in page.children:
        insert_rows(conn, children.rows)
    _add_missing(conn, page)


def _fold_merges(conn: Connection, batch: PreparedBatch, page: PreparedPage) -> None:
    for survivor, absorbed in page.merges:
        _fold_merged(
            conn, page.entities.model, connection=batch.connection, survivor=survivor, absorbed=absorbed
        )


def _add_missing(conn: Connection, page: PreparedPage) -> None:
    for added in page.additions:
        conn.exec_driver_sql(insert_missing_sql(conn.dialect, added.model, added.columns), added.params)


def _count_run(conn: Connection, batch: PreparedBatch) -> None:
    """Add the batch's pages, records and requests to its run's counters."""
    delta = batch.request_delta
    runs = table_of(SyncRun)
    pages = batch.pages
    conn.execute(
        update(runs)
        .where(runs.c.id == batch.run_id)
        .values(
            pages=runs.c.pages + len(pages),
            records_read=runs.c.records_read + sum(p.write.read for p in pages),
            records_written=runs.c.records_written + sum(p.write.written for p in pages),
            records_rejected=runs.c.records_rejected + sum(p.write.rejected for p in pages),
            fields_quarantined=runs.c.fields_quarantined + sum(p.fields_quarantined for p in pages),
            requests=runs.c.requests + int(delta.get("requests", 0)),
            retries=runs.c.retries + int(delta.get("retries", 0)),
            rate_limited=runs.c.rate_limited + int(delta.get("rate_limited", 0)),
        )
    )


def _replace_children(
    conn: Connection, children: Children, *, connection: str, existing: Collection[str] | None = None
) -> None:
    """Make the child rows of the owners exactly the given rows.

    Delete-then-insert inside the page's transaction: the rows have no surrogate keys, so the
    table ends up identical when nothing changed, and it is cheaper than diffing. `existing`:
    the owners already stored (only they can have rows to delete; None: assume all).
    """
    owners = children.owner_ids if existing is None else [i for i in children.owner_ids if i in existing]
    if owners:
        _delete_children(conn, children, owners, connection=connection)
    execute_upsert(conn, named(children.rows))


def _delete_children(conn: Connection, children: Children, owners: list[str], *, connection: str) -> None:
    table = table_of(children.rows.model)
    owner = table.c[children.owner_column]
    where = [table.c.connection == connection, owner.in_(owners)]
    if children.scope is not None:
        column = table.c[children.scope.column]
        values = list(children.scope.values)
        where.append(column.in_(values) if children.scope.inside else column.not_in(values))
    conn.execute(delete(table).where(*where))


def _stored_records(
    conn: Connection, page: PreparedPage, observed: Observed | None, connection: str
) -> dict[str, Any]:
    """The page's records that are stored already, with their stage when the stream has one."""
    entity = table_of(page.entities.model)
    if not page.record_ids:
        return {}
    stage = entity.c[observed.stage_column] if observed is not None else null()
    query = select(entity.c.id, stage).where(
        entity.c.connection == connection, id_in(conn, entity.c.id, page.record_ids)
    )
    return dict(conn.execute(query).all())


def _observe_changes(
    conn: Connection, observed: Observed, page: PreparedPage, stored: dict[str, Any], *, connection: str
) -> None:
    """Record stage changes between the stored rows and the page's (before the page overwrites
    them): a transition and a stage date, both with origin `observed`, dated by the record's
    last-modified time. They are only ever added; a stage entered again keeps its first date."""
    changes = [
        (record_id, stored[record_id], stage, at)
        for record_id, stage, at in page.observations
        if stage and record_id in stored and stored[record_id] is not None and stored[record_id] != stage
    ]
    if not changes:
        return
    owner = observed.owner_column
    transitions = [
        {
            "connection": connection,
            owner: record_id,
            "at": at,
            "to_stage": stage,
            "origin": "observed",
            "from_stage": old,
            "source_type": "OBSERVED",
        }
        for record_id, old, stage, at in changes
    ]
    dates = [
        {"connection": connection, owner: record_id, "stage": stage, "source": "observed", "entered_at": at}
        for record_id, _, stage, at in changes
    ]
    for model, rows in ((observed.transitions, transitions), (observed.stage_dates, dates)):
        conn.exec_driver_sql(insert_missing_sql(conn.dialect, model, tuple(rows[0])), rows)


def _fold_merged(
    conn: Connection, model: type[SQLModel], connection: str, survivor: str, absorbed: list[str]
) -> None:
    """Mark the records `survivor` absorbed as merged into it (rows for ids never stored: none).

    Their own rows and stage dates stay as they were: KPIs count the survivor only and take its
    stage history from both. Associations other records hold to an absorbed id now point at the
    survivor, as they do in HubSpot (whose merge does not mark those records modified, so no
    incremental read would tell).
    """
    table = table_of(model)
    conn.execute(
        update(table)
        .where(
            table.c.connection == connection,
            table.c.id.in_(absorbed),
            or_(table.c.merged_into.is_(None), table.c.merged_into != survivor),
        )
        .values(merged_into=survivor)
    )
    to_type = ASSOCIATION_TYPE.get(model)
    for holder, owner in HELD_ASSOCIATIONS.get(to_type or "", ()):
        links = table_of(holder)
        pointing = and_(
            links.c.connection == connection, links.c.to_type == to_type, links.c.to_id.in_(absorbed)
        )
        owners = dict.fromkeys(r[0] for r in conn.execute(select(links.c[owner]).where(pointing)))
        if not owners:
            continue
        moved = [{"connection": connection, owner: o, "to_type": to_type, "to_id": survivor} for o in owners]
        conn.exec_driver_sql(insert_missing_sql(conn.dialect, holder, tuple(moved[0])), moved)
        conn.execute(delete(links).where(pointing))


def _sync_quarantine(
    conn: Connection,
    *,
    connection: str,
    source: str,
    stream: str,
    record_ids: Iterable[str],
    issues: Sequence[Issue],
    run_id: int | None,
    now: datetime,
) -> None:
    """Quarantine exactly the current findings for these records; identical findings stay untouched."""
    table = table_of(Quarantine)
    scope = and_(table.c.connection == connection, table.c.source == source, table.c.stream == stream)
    ids = sorted({*record_ids, *(i.record_id for i in issues)})
    if not ids:
        return
    current = {(i.record_id, i.field): i for i in issues}
    existing = {
        (r.record_id, r.field): (r.raw_value, r.reason)
        for r in conn.execute(
            select(table.c.record_id, table.c.field, table.c.raw_value, table.c.reason).where(
                scope, table.c.record_id.in_(ids)
            )
        )
    }
    gone = [key for key in existing if key not in current]
    if gone:
        conn.execute(delete(table).where(scope, tuple_(table.c.record_id, table.c.field).in_(gone)))
    fresh = [
        {
            "connection": connection,
            "source": source,
            "stream": stream,
            "record_id": issue.record_id,
            "field": issue.field,
            "raw_value": issue.raw_value,
            "reason": issue.reason,
            "run_id": run_id,
            "detected_at": now,
        }
        for key, issue in current.items()
        if existing.get(key) != (issue.raw_value, issue.reason)
    ]
    upsert(conn, Quarantine, fresh)


def _refresh_statistics(engine: Engine, stream: str) -> None:
    """ANALYZE a stream's tables on PostgreSQL once they have grown past what the planner last saw.

    A large first sync fills empty tables faster than autovacuum looks at them; planned with the
    empty table's statistics, each page's lookup by id becomes a scan of every row stored so far
    (quadratic in the sync). Re-analysing whenever the changes since the last ANALYZE outnumber
    the rows it saw keeps the plans right at a logarithmic number of ANALYZEs per load.
    """
    with engine.begin() as conn:
        stale = [
            name
            for name, changed, live in conn.execute(
                text(
                    "SELECT relname, n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables "
                    "WHERE schemaname = current_schema() AND relname = ANY(:names)"
                ),
                {"names": stream_tables(stream)},
            )
            if changed >= 2_000 and changed > max(live - changed, 0)
        ]
        for name in stale:
            conn.exec_driver_sql(f'ANALYZE "{name}"')


def store_pages(
    engine: Engine,
    *,
    connection: str,
    source: str,
    stream: str,
    pages: Sequence[PageInput],
    run_id: int,
    now: datetime,
    request_delta: dict[str, float] | None = None,
    quarantine_empty: bool = False,
    bulk: bool = False,
) -> list[PageWrite]:
    """Persist consecutive pages of one stream in one transaction (`prepare_pages` + `commit_pages`)."""
    batch = prepare_pages(
        engine.dialect.name,
        connection=connection,
        source=source,
        stream=stream,
        pages=pages,
        run_id=run_id,
        now=now,
        request_delta=request_delta,
        quarantine_empty=quarantine_empty,
        bulk=bulk,
    )
    return commit_pages(engine, batch)


def store_page(
    engine: Engine,
    *,
    connection: str,
    source: str,
    stream: str,
    normalized: Normalized,
    records_read: int,
    checkpoint: dict[str, Any],
    run_id: int,
    now: datetime,
    request_delta: dict[str, float] | None = None,
    quarantine_empty: bool = False,
) -> PageWrite:
    """Persist one page, its quarantine findings, the run counters and the checkpoint atomically."""
    return store_pages(
        engine,
        connection=connection,
        source=source,
        stream=stream,
        pages=[PageInput(normalized, records_read, checkpoint)],
        run_id=run_id,
        now=now,
        request_delta=request_delta,
        quarantine_empty=quarantine_empty,
    )[0]
