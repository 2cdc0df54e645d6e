"""Reading the contacts: the funnel's cells, aggregated in SQL (contacts can number in the
millions). One pass pivots each contact's first entry per funnel stage into a temporary table,
and small GROUP BY queries count them per reporting period (period boundaries are bound as UTC
instants, bucketed with a CASE search tree). Entries dated after `as_of` are ignored. The
current stage counts come from the history when `as_of` is in the past."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    FromClause,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    false,
    func,
    insert,
    literal,
    or_,
    select,
)

from kpi.definitions import funnel_steps, open_stages
from kpi.inputs import (
    ContactAggregates,
    CustomerFact,
    DimCell,
    DimStageCell,
    PeriodCell,
    ReportedCell,
    StageCell,
)
from kpi.model import UNKNOWN
from kpi.periods import Period
from kpi.sql import as_of_view, bound, history_applies, id_range, instant, least, local_day, period_index, raw
from storage.db import UTCDateTime, table_of, upsert_insert
from storage.models import (
    HubSpotContact,
    HubSpotContactProperty,
    HubSpotContactStageDate,
    HubSpotContactVersion,
)


def middle_contact_id(conn: Connection, *, connection: str, split_above: int) -> str | None:
    """The contact id that splits the contacts in two halves (None at `split_above` or fewer)."""
    c = table_of(HubSpotContact).c
    total = conn.execute(select(func.count()).where(c.connection == connection)).scalar_one()
    if total <= split_above:
        return None
    query = select(c.id).where(c.connection == connection).order_by(c.id).offset(total // 2).limit(1)
    return conn.execute(query).scalar_one_or_none()


def read_stage_counts(
    conn: Connection, *, connection: str, as_of: datetime, dims: Sequence[str] = ()
) -> tuple[list[StageCell], list[DimStageCell]]:
    """Live contacts per lifecycle stage, original source and latest source, as of `as_of`; then
    per stage and value of each custom dimension (its current value: custom properties keep no
    history).

    Grouped on the bare columns (missing values are named here), read from the covering index;
    through the history when `as_of` is in the past.
    """
    contacts = table_of(HubSpotContact)
    c = contacts.c
    columns: list[ColumnElement[Any]] = [c.lifecyclestage, c.analytics_source, c.latest_source]
    source: FromClause = contacts
    live: ColumnElement[bool] = c.archived == false()
    if history_applies(conn, "contacts", connection=connection, as_of=as_of):
        view = as_of_view(contacts, table_of(HubSpotContactVersion), as_of)
        columns = [view.pick(name) for name in ("lifecyclestage", "analytics_source", "latest_source")]
        source, live = view.source, view.live
    where = (
        c.connection == connection,
        live,
        c.merged_into.is_(None),
        or_(c.createdate.is_(None), c.createdate <= bound(as_of)),
    )
    query = select(*columns, func.count()).select_from(source).where(*where).group_by(*columns)
    cells = [
        StageCell(row[0] or UNKNOWN, row[1] or UNKNOWN, row[2] or row[1] or UNKNOWN, int(row[3]))
        for row in conn.execute(query)
    ]
    by_dim: list[DimStageCell] = []
    values = table_of(HubSpotContactProperty)
    for name in dims:
        joined = source.outerjoin(
            values,
            and_(values.c.connection == c.connection, values.c.contact_id == c.id, values.c.property == name),
        )
        value = func.coalesce(values.c.value, UNKNOWN)
        query = (
            select(columns[0], value, func.count())
            .select_from(joined)
            .where(*where)
            .group_by(columns[0], value)
        )
        by_dim.extend(
            DimStageCell(row[0] or UNKNOWN, name, str(row[1]), int(row[2])) for row in conn.execute(query)
        )
    return cells, by_dim


def _temp_tables(stages: Sequence[str], dims: Sequence[str] = ()) -> tuple[Table, Table]:
    """Per-run temporary tables: first entries per contact (keyed), then one row per live contact."""
    metadata = MetaData()
    first_entries = Table(
        "kpi_first_entries",
        metadata,
        Column("contact_id", String, primary_key=True),
        *(Column(f"e{i}", UTCDateTime) for i in range(len(stages))),
        prefixes=["TEMPORARY"],
        sqlite_with_rowid=False,  # one B-tree lookup per contact in the join below
    )
    facts = Table(
        "kpi_contact_facts",
        metadata,
        Column("id", String),
        Column("createdate", UTCDateTime),
        Column("stage", String),
        Column("stage_rank", Integer),
        Column("source", String),
        Column("latest_source", String),
        *(Column(f"e{i}", UTCDateTime) for i in range(len(stages))),
        *(Column(f"d{k}", String) for k in range(len(dims))),
        prefixes=["TEMPORARY"],
    )
    return first_entries, facts


def read_contacts(
    conn: Connection,
    *,
    connection: str,
    stages: list[str],
    periods: list[Period],
    as_of: datetime,
    strict: bool,
    since: datetime,
    ids: tuple[str | None, str | None] = (None, None),
    dims: Sequence[str] = (),
    reported: str | None = None,
    forecast_since: datetime | None = None,
    day_offset: int = 0,
) -> ContactAggregates:
    """The funnel cells of the contacts with ids in [ids[0], ids[1]) (None: unbounded), also by
    each custom contact dimension in `dims` (kpi.dimensions), and the self-reported answers
    (`reported`, one of `dims`) against the tracked source; with `forecast_since`, the paths
    through the open funnel the forecast reads (`_paths`)."""
    first_entries, facts = _temp_tables(stages, dims)
    pivot = _first_entries_query(connection, stages, as_of, ids)
    facts_select = _facts_query(first_entries, connection, stages, as_of, ids, dims)
    first_entries.create(conn)
    facts.create(conn)
    try:
        conn.execute(insert(first_entries).from_select([c.name for c in first_entries.columns], pivot))
        _fold_merged_entries(conn, first_entries, connection=connection, stages=stages, as_of=as_of, ids=ids)
        conn.execute(insert(facts).from_select([c.name for c in facts.columns], facts_select))
        out = _aggregate_contacts(
            conn, facts, stages=stages, periods=periods, strict=strict, since=since, dims=dims
        )
        _aggregate_custom(conn, facts, out, stages=stages, periods=periods, strict=strict, dims=dims)
        if reported is not None and reported in dims and periods:
            out.reported = _reported(conn, facts, periods, facts.c[f"d{list(dims).index(reported)}"])
        if forecast_since is not None:
            _paths(conn, facts, out, stages=stages, since=forecast_since, offset=day_offset)
        return out
    finally:
        facts.drop(conn)
        first_entries.drop(conn)
        conn.commit()


def _first_entries_query(
    connection: str, stages: list[str], as_of: datetime, ids: tuple[str | None, str | None]
) -> Any:
    """First entry per stage = earliest date over every property that records it (docs/kpis.md).
    Grouped in the stage-date key's order, so SQLite streams it without sorting."""
    dates = table_of(HubSpotContactStageDate)
    return (
        select(
            dates.c.contact_id,
            *(
                func.min(case((dates.c.stage == s, dates.c.entered_at))).label(f"e{i}")
                for i, s in enumerate(stages)
            ),
        )
        .where(
            dates.c.connection == connection,
            dates.c.entered_at <= bound(as_of),
            *id_range(dates.c.contact_id, ids),
        )
        .group_by(dates.c.contact_id)
    )


def _facts_query(
    first_entries: Table,
    connection: str,
    stages: list[str],
    as_of: datetime,
    ids: tuple[str | None, str | None],
    dims: Sequence[str] = (),
) -> Any:
    """One row per live contact: created, stage and its rank in the funnel, sources, first
    entries, then its value of each custom dimension."""
    contacts = table_of(HubSpotContact)
    e = [first_entries.c[f"e{i}"] for i in range(len(stages))]
    rank = case({s: i for i, s in enumerate(stages)}, value=contacts.c.lifecyclestage, else_=None)
    values = [table_of(HubSpotContactProperty).alias(f"d{k}") for k in range(len(dims))]
    joined: FromClause = contacts.outerjoin(first_entries, first_entries.c.contact_id == contacts.c.id)
    for value, name in zip(values, dims, strict=True):
        joined = joined.outerjoin(
            value,
            and_(
                value.c.connection == contacts.c.connection,
                value.c.contact_id == contacts.c.id,
                value.c.property == name,
            ),
        )
    return (
        select(
            contacts.c.id,
            contacts.c.createdate,
            contacts.c.lifecyclestage,
            rank,
            func.coalesce(contacts.c.analytics_source, UNKNOWN),
            func.coalesce(contacts.c.latest_source, contacts.c.analytics_source, UNKNOWN),
            *e,
            *(func.coalesce(value.c.value, UNKNOWN) for value in values),
        )
        .select_from(joined)
        .where(
            contacts.c.connection == connection,
            contacts.c.archived == false(),
            contacts.c.merged_into.is_(None),
            or_(contacts.c.createdate.is_(None), contacts.c.createdate <= bound(as_of)),
            *id_range(contacts.c.id, ids),
        )
    )


def _fold_merged_entries(
    conn: Connection,
    first_entries: Table,
    *,
    connection: str,
    stages: list[str],
    as_of: datetime,
    ids: tuple[str | None, str | None],
) -> None:
    """Give each survivor of a merge the earlier of its own and its absorbed contacts' entries.

    Merged-away contacts are rare; their stage dates are pivoted under the survivor's id and
    folded into the survivor's first entries (earliest wins, a missing date never does).
    """
    contacts = table_of(HubSpotContact)
    dates = table_of(HubSpotContactStageDate)
    survivor = contacts.c.merged_into
    absorbed = (
        select(
            survivor.label("contact_id"),
            *(
                func.min(case((dates.c.stage == s, dates.c.entered_at))).label(f"e{i}")
                for i, s in enumerate(stages)
            ),
        )
        .select_from(
            contacts.join(
                dates, and_(dates.c.connection == contacts.c.connection, dates.c.contact_id == contacts.c.id)
            )
        )
        .where(
            contacts.c.connection == connection,
            survivor.is_not(None),
            dates.c.entered_at <= bound(as_of),
            *id_range(survivor, ids),
        )
        .group_by(survivor)
    )
    columns = [c.name for c in first_entries.columns]
    statement = upsert_insert(conn.dialect.name, first_entries)
    upsert = statement.from_select(columns, absorbed)
    earliest = {
        f"e{i}": case(
            (first_entries.c[f"e{i}"].is_(None), upsert.excluded[f"e{i}"]),
            (upsert.excluded[f"e{i}"] < first_entries.c[f"e{i}"], upsert.excluded[f"e{i}"]),
            else_=first_entries.c[f"e{i}"],
        )
        for i in range(len(stages))
    }
    conn.execute(upsert.on_conflict_do_update(index_elements=["contact_id"], set_=earliest))


def _aggregate_contacts(
    conn: Connection,
    facts: Table,
    *,
    stages: list[str],
    periods: list[Period],
    strict: bool,
    since: datetime,
    dims: Sequence[str] = (),
) -> ContactAggregates:
    f = facts.c
    e = [f[f"e{i}"] for i in range(len(stages))]
    out = ContactAggregates()
    missing = conn.execute(
        select(
            *(func.sum(case((and_(f.stage_rank >= i, e[i].is_(None)), 1), else_=0)) for i in range(len(e)))
        )
    ).one()
    for i, stage in enumerate(stages):
        out.missing_dates[stage] = int(missing[i] or 0)
    if not periods:
        return out
    for i, stage, anchored, conditions in _anchors(e, stages, strict):
        per_condition = _cells(conn, facts, periods, e[i], conditions)
        out.entries[stage] = per_condition[0]
        for (x, y), found in zip(anchored, per_condition, strict=False):
            out.conversions[x, y] = found
    out.created = _cells(conn, facts, periods, f.createdate, [e[-1].is_not(None)])[0]
    custom = [f[f"d{k}"] for k in range(len(dims))]
    customers = select(raw(f.createdate), raw(e[-1]), f.source, f.latest_source, *custom).where(
        e[-1] >= bound(since)
    )
    for row in conn.execute(customers):
        became = instant(row[1])
        assert became is not None
        values = tuple(zip(dims, (str(v) for v in row[4:]), strict=True))
        out.customers.append(CustomerFact(instant(row[0]), became, row[2], row[3], values))
    return out


def _anchors(
    e: Sequence[ColumnElement[Any]], stages: list[str], strict: bool
) -> Iterator[tuple[int, str, list[tuple[str, str]], list[ColumnElement[bool]]]]:
    """Per stage (its first-entry column's index): the funnel steps anchored at it and, for each,
    whether a contact that entered it went on (the scan of its entries counts them all)."""
    steps = funnel_steps(stages)
    for i, stage in enumerate(stages):
        anchored = [(x, y) for x, y in steps if x == stage]
        yield (
            i,
            stage,
            anchored,
            [_converted(e, stages.index(x), stages.index(y), strict) for x, y in anchored],
        )


def _converted(e: Sequence[ColumnElement[Any]], ix: int, iy: int, strict: bool) -> ColumnElement[bool]:
    """Whether a contact that entered stage X went on to stage Y."""
    if strict:
        # Every stage from X to Y entered, in order (HubSpot's "all stages in order" funnel).
        return and_(*(e[k + 1] >= e[k] for k in range(ix, iy)))
    # Y or any later stage reached at or after the first entry into X.
    return or_(*(e[u] >= e[ix] for u in range(iy, len(e))))


def _cells(
    conn: Connection,
    facts: Table,
    periods: list[Period],
    when: ColumnElement[Any],
    hits: list[ColumnElement[Any]],
) -> list[list[PeriodCell]]:
    """One scan per anchor date: rows inside the grid counted per period and source, with one
    hit count per condition (a stage's entries and its conversions share the scan)."""
    f = facts.c
    rows = _counted(conn, periods, when, hits, [f.source, f.latest_source])
    return [
        [PeriodCell(r[0], r[1], r[2], int(r[3]), int(r[4 + k] or 0)) for r in rows]
        for k in range(max(len(hits), 1))
    ]


def _counted(
    conn: Connection,
    periods: list[Period],
    when: ColumnElement[Any],
    hits: list[ColumnElement[Any]],
    by: list[ColumnElement[Any]],
) -> list[Any]:
    """The facts whose `when` falls in the grid, counted per period and the `by` columns, with a
    count of each of `hits` (rows: period index, *by, count, *hit counts; no hits: one zero)."""
    bucket = period_index(when, periods).label("p")
    sums: list[ColumnElement[Any]] = [func.sum(case((hit, 1), else_=0)) for hit in hits]
    sums = sums or [literal(0, Integer)]
    query = (
        select(bucket, *by, func.count(), *sums)
        .where(when >= bound(periods[0].start_utc), when < bound(periods[-1].end_utc))
        .group_by(bucket, *by)
    )
    return [(int(r[0]), *r[1:]) for r in conn.execute(query) if r[0] is not None]


def _aggregate_custom(
    conn: Connection,
    facts: Table,
    out: ContactAggregates,
    *,
    stages: list[str],
    periods: list[Period],
    strict: bool,
    dims: Sequence[str],
) -> None:
    """The entries, conversions and contacts created by each custom dimension: one scan per
    anchor date and dimension, grouped by its value alone (not crossed with the sources)."""
    if not periods:
        return
    f = facts.c
    e = [f[f"e{i}"] for i in range(len(stages))]
    for k, name in enumerate(dims):
        column = f[f"d{k}"]
        for i, stage, anchored, conditions in _anchors(e, stages, strict):
            per_condition = _dim_cells(conn, periods, e[i], conditions, column, name)
            out.custom_entries.setdefault(stage, []).extend(per_condition[0])
            for (x, y), found in zip(anchored, per_condition, strict=False):
                out.custom_conversions.setdefault((x, y), []).extend(found)
        out.custom_created.extend(
            _dim_cells(conn, periods, f.createdate, [e[-1].is_not(None)], column, name)[0]
        )


def _dim_cells(
    conn: Connection,
    periods: list[Period],
    when: ColumnElement[Any],
    hits: list[ColumnElement[Any]],
    column: ColumnElement[Any],
    name: str,
) -> list[list[DimCell]]:
    """Like `_cells`, grouped by one custom dimension's value."""
    rows = _counted(conn, periods, when, hits, [column])
    return [
        [DimCell(r[0], name, str(r[1]), int(r[2]), int(r[3 + k] or 0)) for r in rows]
        for k in range(max(len(hits), 1))
    ]


def _reported(
    conn: Connection, facts: Table, periods: list[Period], answer: ColumnElement[Any]
) -> list[ReportedCell]:
    """Contacts created per period by their answer and their tracked original source."""
    f = facts.c
    rows = _counted(conn, periods, f.createdate, [], [answer, f.source])
    return [ReportedCell(r[0], str(r[1]), str(r[2]), int(r[3])) for r in rows]


def _paths(
    conn: Connection, facts: Table, out: ContactAggregates, *, stages: list[str], since: datetime, offset: int
) -> None:
    """Per open stage (the MQL stage to the one before the last), its entries since `since`
    grouped by local day entered, day moved on to any later stage and day of the first customer
    entry; and the customer entries per day. Days, not contacts: the rows stay few at any size."""
    dialect = conn.dialect.name
    e = [facts.c[f"e{i}"] for i in range(len(stages))]
    days = [local_day(column, offset, dialect) for column in e]
    missing = 10**7  # a day number after the year 29,000
    indexes = [stages.index(stage) for stage in open_stages(stages)]
    for i in indexes:
        moved = least(days[i + 1 :], dialect, missing=missing)
        keys = (days[i].label("entered"), moved.label("moved"), days[-1].label("became"))
        query = select(*keys, func.count()).where(e[i] >= bound(since)).group_by(*keys)
        for entered, moved_on, became, n in conn.execute(query):
            out.paths[stages[i], int(entered), _day(moved_on), _day(became)] += int(n)
    first = least([days[i] for i in indexes], dialect, missing=missing).label("first")
    pair = (first, days[-1].label("became"))
    query = select(*pair, func.count()).where(e[-1] >= bound(since)).group_by(*pair)
    for first_day, became, n in conn.execute(query):
        out.customer_days[_day(first_day), int(became)] += int(n)


def _day(value: Any) -> int | None:
    return None if value is None else int(value)
