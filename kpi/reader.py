"""The one place KPIs read the database.

Contacts can number in the millions, so their funnel is aggregated in SQL: one pass pivots each
contact's first entry per funnel stage into a temporary table, and small GROUP BY queries count
them per reporting period (period boundaries are bound as UTC instants, bucketed with a CASE
search tree). Deals, customers and spend are few enough to read as facts for the pure formulas
in `kpi.engine`. Entries dated after `as_of` are ignored, so an earlier as_of sees less.

Snapshots (contacts per current stage, open pipeline) need the values records had at `as_of`:
when a sync of the stream ended after `as_of`, they come from the type-2 history
(storage.history): the version valid at `as_of`, else (no version reaches back that far) the
current values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    FromClause,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.types import NullType

from config import KpiSettings
from kpi.engine import CLV_WINDOW, funnel_steps, mql_stage
from kpi.inputs import (
    AudienceLink,
    ContactAggregates,
    CustomerFact,
    DealFact,
    DealStageEntry,
    EmailFact,
    KpiInputs,
    MemberFact,
    PeriodCell,
    PersonaCell,
    PipelineStage,
    SpendFact,
    StageCell,
    TrafficRow,
)
from kpi.model import UNKNOWN
from kpi.periods import Period
from storage.db import UTCDateTime, table_of, upsert_insert
from storage.models import (
    HubSpotAnalyticsRow,
    HubSpotCompany,
    HubSpotContact,
    HubSpotContactStageDate,
    HubSpotContactVersion,
    HubSpotDeal,
    HubSpotDealAssociation,
    HubSpotDealStageDate,
    HubSpotDealVersion,
    HubSpotMarketingEmail,
    HubSpotPipelineStage,
    HubSpotProperty,
    MailchimpList,
    MailchimpMember,
    MailchimpReport,
    MarketingSpend,
    SyncRun,
)

NO_CURRENCY = "XXX"  # ISO 4217 "no currency": nothing tells us the portal's currency


def read_inputs(
    engine: Engine,
    *,
    connection: str,
    settings: KpiSettings,
    periods: list[Period],
    as_of: datetime,
    tz: ZoneInfo,
    split_above: int = 10_000,
) -> KpiInputs:
    """Everything `kpi.engine.compute` needs.

    Independent reads run side by side on their own connections (SQLite and PostgreSQL do the
    work outside Python's GIL): the contact funnel in two halves of the contact ids (its cells add
    up), the current stage counts, and deals with spend. Each sees a consistent snapshot of its
    own; KPIs run after a sync, not during one.
    """
    stages = list(settings.funnel_stages)
    strict = settings.conversion_mode == "strict"
    since = relevant_since(periods, as_of)

    def funnel(ids: tuple[str | None, str | None]) -> Callable[[Connection], ContactAggregates]:
        def work(conn: Connection) -> ContactAggregates:
            return read_contacts(
                conn,
                connection=connection,
                stages=stages,
                periods=periods,
                as_of=as_of,
                strict=strict,
                since=since,
                ids=ids,
            )

        return work

    def counts(conn: Connection) -> list[StageCell]:
        return read_stage_counts(conn, connection=connection, as_of=as_of)

    def money(conn: Connection) -> tuple[list[DealFact], str, list[SpendFact]]:
        deals = read_deals(conn, connection=connection, as_of=as_of, since=since)
        currency = settings.home_currency or infer_currency(conn, connection=connection)
        return deals, currency, read_spend(conn, connection=connection)

    def deal_stages(conn: Connection) -> tuple[list[PipelineStage], list[DealStageEntry]]:
        return (
            read_pipeline_stages(conn, connection=connection),
            read_deal_stage_entries(conn, connection=connection, as_of=as_of, since=since),
        )

    def deals_then_stages(
        conn: Connection,
    ) -> tuple[
        tuple[list[DealFact], str, list[SpendFact]],
        tuple[list[PipelineStage], list[DealStageEntry]],
        list[EmailFact],
        tuple[list[MemberFact], AudienceLink | None],
    ]:
        # One job: the funnel halves dominate, and a fifth parallel reader only adds contention.
        emails = read_email_sends(conn, connection=connection, since=since)
        emails += read_mailchimp_sends(
            conn, connection=connection, since=since, open_basis=settings.email_open_basis
        )
        audience = (
            read_members(conn, connection=connection),
            read_audience_link(conn, connection=connection, stages=stages, mql=mql_stage(stages)),
        )
        return money(conn), deal_stages(conn), emails, audience

    def web(conn: Connection) -> tuple[list[TrafficRow], list[PersonaCell], list[str]]:
        first = periods[0].start.date() if periods else as_of.date()
        return (
            read_traffic(conn, connection=connection, since=first, until=as_of.astimezone(tz).date()),
            read_persona_created(conn, connection=connection, periods=periods, as_of=as_of),
            read_personas(conn, connection=connection),
        )

    middle = _on_connection(
        engine, lambda conn: middle_contact_id(conn, connection=connection, split_above=split_above)
    )
    halves = [(None, middle), (middle, None)] if middle is not None else [(None, None)]
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="kpi-read") as pool:
        funnel_jobs = [pool.submit(_on_connection, engine, funnel(half)) for half in halves]
        counts_job = pool.submit(_on_connection, engine, counts)
        money_job = pool.submit(_on_connection, engine, deals_then_stages)
        web_job = pool.submit(_on_connection, engine, web)
        contacts = ContactAggregates()
        for job in funnel_jobs:
            contacts.add(job.result())
        contacts.stage_counts = counts_job.result()
        (deals, currency, spend), (pipeline_stages, deal_stage_entries), emails, audience = money_job.result()
        traffic, persona_created, personas = web_job.result()
    spend += [
        SpendFact(s.period_start, s.period_end, s.channel, s.amount, s.currency) for s in settings.spend
    ]
    return KpiInputs(
        as_of=as_of,
        tz=tz,
        periods=periods,
        stages=stages,
        currency=currency,
        contacts=contacts,
        deals=deals,
        spend=spend,
        pipeline_stages=pipeline_stages,
        deal_stage_entries=deal_stage_entries,
        emails=emails,
        members=audience[0],
        audience_link=audience[1],
        velocity_opportunities=settings.velocity_opportunities,
        clv_average_order_value=settings.clv_average_order_value,
        clv_orders_per_year=settings.clv_orders_per_year,
        clv_years_retained=settings.clv_years_retained,
        gross_margin=settings.gross_margin,
        traffic=traffic,
        persona_created=persona_created,
        personas=personas,
        priority_personas=list(settings.priority_personas),
        landing_page_min_views=settings.landing_page_min_views,
    )


T = TypeVar("T")


def relevant_since(periods: Sequence[Period], as_of: datetime) -> datetime:
    """The earliest instant any KPI can look at: the grid's start or the CLV window's."""
    start = as_of - CLV_WINDOW
    return min(start, periods[0].start_utc) if periods else start


def _on_connection(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            return work(conn)
        # Temporary tables and GROUP BY sorters in memory, with room for the hot pages; the pooled
        # connection gets SQLite's defaults back afterwards so a long-running service keeps no
        # 64 MiB cache per idle connection.
        conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        conn.exec_driver_sql("PRAGMA cache_size=-65536")
        try:
            return work(conn)
        finally:
            conn.exec_driver_sql("PRAGMA cache_size=-2000")
            conn.exec_driver_sql("PRAGMA temp_store=DEFAULT")


def middle_contact_id(conn: Connection, *, connection: str, split_above: int) -> str | None:
    """The contact id that splits the contacts in two halves (None at `split_above` or fewer)."""
    c = table_of(HubSpotContact).c
    total = conn.execute(select(func.count()).where(c.connection == connection)).scalar_one()
    if total <= split_above:
        return None
    query = select(c.id).where(c.connection == connection).order_by(c.id).offset(total // 2).limit(1)
    return conn.execute(query).scalar_one_or_none()


@dataclass(frozen=True)
class _AsOf:
    """A record table seen as of an instant through its version table (see the module doc)."""

    source: FromClause
    pick: Callable[[str], ColumnElement[Any]]
    live: ColumnElement[bool]


def _as_of_view(records: Table, versions: Table, as_of: datetime) -> _AsOf:
    bound = _bound(as_of)
    covering = and_(
        versions.c.connection == records.c.connection,
        versions.c.record_id == records.c.id,
        versions.c.valid_from <= bound,
        or_(versions.c.valid_to.is_(None), versions.c.valid_to > bound),
    )
    has = versions.c.record_id.is_not(None)

    def pick(name: str) -> ColumnElement[Any]:
        return case((has, versions.c[name]), else_=records.c[name])

    # Deleted after as_of: still live then.
    live = case(
        (has, versions.c.archived == false()),
        else_=or_(records.c.archived == false(), records.c.archived_at > bound),
    )
    return _AsOf(records.outerjoin(versions, covering), pick, live == true())


def history_applies(conn: Connection, stream: str, *, connection: str, as_of: datetime) -> bool:
    """Whether a sync of `stream` may have stored a version after `as_of`: one that ended after
    it or has not ended (if none did, the current values are the values at `as_of`). Asked of
    the runs table, by its index, not of the versions (millions of rows)."""
    runs = table_of(SyncRun)
    later = select(runs.c.id).where(
        runs.c.connection == connection,
        runs.c.source == "hubspot",
        runs.c.stream == stream,
        or_(runs.c.finished_at.is_(None), runs.c.finished_at > _bound(as_of)),
    )
    return conn.execute(later.limit(1)).first() is not None


def read_stage_counts(conn: Connection, *, connection: str, as_of: datetime) -> list[StageCell]:
    """Live contacts per lifecycle stage, original source and latest source, as of `as_of`.

    Grouped on the bare columns (missing values are named here), read from the covering index;
    through the history when `as_of` is in the past.
    """
    contacts = table_of(HubSpotContact)
    c = contacts.c
    columns: list[ColumnElement[Any]] = [c.lifecyclestage, c.analytics_source, c.latest_source]
    source: FromClause = contacts
    live: ColumnElement[bool] = c.archived == false()
    if history_applies(conn, "contacts", connection=connection, as_of=as_of):
        view = _as_of_view(contacts, table_of(HubSpotContactVersion), as_of)
        columns = [view.pick(name) for name in ("lifecyclestage", "analytics_source", "latest_source")]
        source, live = view.source, view.live
    query = (
        select(*columns, func.count())
        .select_from(source)
        .where(
            c.connection == connection,
            live,
            c.merged_into.is_(None),
            or_(c.createdate.is_(None), c.createdate <= _bound(as_of)),
        )
        .group_by(*columns)
    )
    return [
        StageCell(row[0] or UNKNOWN, row[1] or UNKNOWN, row[2] or row[1] or UNKNOWN, int(row[3]))
        for row in conn.execute(query)
    ]


def _id_range(column: ColumnElement[Any], ids: tuple[str | None, str | None]) -> list[ColumnElement[bool]]:
    low, high = ids
    return ([column >= low] if low is not None else []) + ([column < high] if high is not None else [])


def _raw(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A timestamp column without per-row type processing (hundreds of thousands of rows); `_instant`
    reads what the driver returns instead."""
    return type_coerce(column, NullType())


def _instant(value: Any) -> datetime | None:
    """SQLite's stored UTC text or the driver's datetime, as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bound(value: datetime) -> ColumnElement[Any]:
    return bindparam(None, value, type_=UTCDateTime())


def period_index(column: ColumnElement[Any], periods: Sequence[Period]) -> ColumnElement[Any]:
    """The grid index of the period `column` falls in (NULL outside), as a binary CASE tree."""
    bounds = [p.start_utc for p in periods] + [periods[-1].end_utc]

    def tree(lo: int, hi: int) -> ColumnElement[Any]:
        # Index in [lo, hi) for a value known to lie in [bounds[lo], bounds[hi]).
        if hi - lo == 1:
            return literal(lo, Integer)
        mid = (lo + hi) // 2
        return case((column < _bound(bounds[mid]), tree(lo, mid)), else_=tree(mid, hi))

    inside = and_(column >= _bound(bounds[0]), column < _bound(bounds[-1]))
    return case((inside, tree(0, len(periods))), else_=None)


def _temp_tables(stages: Sequence[str]) -> tuple[Table, Table]:
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
) -> ContactAggregates:
    """The funnel cells of the contacts with ids in [ids[0], ids[1]) (None: unbounded)."""
    contacts = table_of(HubSpotContact)
    dates = table_of(HubSpotContactStageDate)
    first_entries, facts = _temp_tables(stages)
    # First entry per stage = earliest date over every property that records it (docs/kpis.md).
    # Grouped in the stage-date key's order, so SQLite streams it without sorting.
    pivot = (
        select(
            dates.c.contact_id,
            *(
                func.min(case((dates.c.stage == s, dates.c.entered_at))).label(f"e{i}")
                for i, s in enumerate(stages)
            ),
        )
        .where(
            dates.c.connection == connection,
            dates.c.entered_at <= _bound(as_of),
            *_id_range(dates.c.contact_id, ids),
        )
        .group_by(dates.c.contact_id)
    )
    e = [first_entries.c[f"e{i}"] for i in range(len(stages))]
    rank = case({s: i for i, s in enumerate(stages)}, value=contacts.c.lifecyclestage, else_=None)
    facts_select = (
        select(
            contacts.c.id,
            contacts.c.createdate,
            contacts.c.lifecyclestage,
            rank,
            func.coalesce(contacts.c.analytics_source, UNKNOWN),
            func.coalesce(contacts.c.latest_source, contacts.c.analytics_source, UNKNOWN),
            *e,
        )
        .select_from(contacts.outerjoin(first_entries, first_entries.c.contact_id == contacts.c.id))
        .where(
            contacts.c.connection == connection,
            contacts.c.archived == false(),
            contacts.c.merged_into.is_(None),
            or_(contacts.c.createdate.is_(None), contacts.c.createdate <= _bound(as_of)),
            *_id_range(contacts.c.id, ids),
        )
    )
    first_entries.create(conn)
    facts.create(conn)
    try:
        conn.execute(insert(first_entries).from_select([c.name for c in first_entries.columns], pivot))
        _fold_merged_entries(conn, first_entries, connection=connection, stages=stages, as_of=as_of, ids=ids)
        conn.execute(insert(facts).from_select([c.name for c in facts.columns], facts_select))
        return _aggregate_contacts(conn, facts, stages=stages, periods=periods, strict=strict, since=since)
    finally:
        facts.drop(conn)
        first_entries.drop(conn)
        conn.commit()


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
            dates.c.entered_at <= _bound(as_of),
            *_id_range(survivor, ids),
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
    first, last = periods[0].start_utc, periods[-1].end_utc

    def cells(when: ColumnElement[Any], hits: list[ColumnElement[Any]]) -> list[list[PeriodCell]]:
        """One scan per anchor date: rows inside the grid counted per period and source, with one
        hit count per condition (a stage's entries and its conversions share the scan)."""
        bucket = period_index(when, periods).label("p")
        sums: list[ColumnElement[Any]] = [func.sum(case((hit, 1), else_=0)) for hit in hits]
        sums = sums or [literal(0, Integer)]
        query = (
            select(bucket, f.source, f.latest_source, func.count(), *sums)
            .where(when >= _bound(first), when < _bound(last))
            .group_by(bucket, f.source, f.latest_source)
        )
        rows = conn.execute(query).all()
        return [
            [
                PeriodCell(int(r[0]), r[1], r[2], int(r[3]), int(r[4 + k] or 0))
                for r in rows
                if r[0] is not None
            ]
            for k in range(len(sums))
        ]

    steps = funnel_steps(stages)
    for i, stage in enumerate(stages):
        anchored = [(x, y) for x, y in steps if x == stage]
        conditions: list[ColumnElement[Any]] = []
        for x, y in anchored:
            ix, iy = stages.index(x), stages.index(y)
            if strict:
                # Every stage from X to Y entered, in order (HubSpot's "all stages in order" funnel).
                conditions.append(and_(*(e[k + 1] >= e[k] for k in range(ix, iy))))
            else:
                # Y or any later stage reached at or after the first entry into X.
                conditions.append(or_(*(e[u] >= e[ix] for u in range(iy, len(stages)))))
        per_condition = cells(e[i], conditions)
        out.entries[stage] = per_condition[0]
        for (x, y), found in zip(anchored, per_condition, strict=False):
            out.conversions[x, y] = found
    out.created = cells(f.createdate, [e[-1].is_not(None)])[0]
    customers = select(_raw(f.createdate), _raw(e[-1]), f.source, f.latest_source).where(
        e[-1] >= _bound(since)
    )
    for row in conn.execute(customers):
        became = _instant(row[1])
        assert became is not None
        out.customers.append(CustomerFact(_instant(row[0]), became, row[2], row[3]))
    return out


def _relevant_deals(deals: Table, stages: Table, since: datetime | None) -> list[ColumnElement[bool]]:
    if since is None:
        return []
    return [
        or_(
            deals.c.createdate >= _bound(since),
            deals.c.closedate >= _bound(since),
            deals.c.closedate.is_(None),
            func.coalesce(deals.c.is_closed, stages.c.is_closed, False) == false(),
        )
    ]


def read_pipeline_stages(conn: Connection, *, connection: str) -> list[PipelineStage]:
    t = table_of(HubSpotPipelineStage).c
    query = select(t.pipeline_id, t.stage_id, t.display_order, t.is_closed, t.is_won).where(
        t.connection == connection
    )
    return [
        PipelineStage(pipeline, stage, int(order or 0), bool(closed), bool(won))
        for pipeline, stage, order, closed, won in conn.execute(query)
    ]


def read_deal_stage_entries(
    conn: Connection, *, connection: str, as_of: datetime, since: datetime
) -> list[DealStageEntry]:
    """First entry per deal and stage, for deals with any stage entry since `since`.

    No join: the engine keeps the entries of the deals it has facts for (live ones) and takes
    their pipeline from there. Grouped in the table's key order, so SQLite streams it.
    """
    dates = table_of(HubSpotDealStageDate)
    active = (
        select(dates.c.deal_id)
        .where(dates.c.connection == connection, dates.c.entered_at >= _bound(since))
        .distinct()
    )
    query = (
        select(dates.c.deal_id, dates.c.stage, func.min(_raw(dates.c.entered_at)))
        .where(
            dates.c.connection == connection,
            dates.c.entered_at <= _bound(as_of),
            dates.c.deal_id.in_(active),
        )
        .group_by(dates.c.deal_id, dates.c.stage)
    )
    rows = conn.execute(query)
    return [
        DealStageEntry(deal, stage, when) for deal, stage, at in rows if (when := _instant(at)) is not None
    ]


def read_email_sends(conn: Connection, *, connection: str, since: datetime | None = None) -> list[EmailFact]:
    """Sent emails of every email platform as facts (deleted ones left out). HubSpot counts opens
    with bot filtering on (Apple MPP and scanner opens excluded)."""
    emails = table_of(HubSpotMarketingEmail)
    query = select(
        emails.c.id,
        _raw(emails.c.sent_at),
        emails.c.email_type,
        emails.c.sent,
        emails.c.delivered,
        emails.c.unique_opens,
        emails.c.unique_clicks,
        emails.c.bounces,
        emails.c.hard_bounces,
        emails.c.soft_bounces,
        emails.c.unsubscribes,
        emails.c.spam_reports,
    ).where(
        emails.c.connection == connection,
        emails.c.archived == false(),
        emails.c.sent_at.is_not(None),
        emails.c.sent > 0,
    )
    if since is not None:
        query = query.where(emails.c.sent_at >= _bound(since))
    out = []
    for row in conn.execute(query):
        sent_at = _instant(row[1])
        if sent_at is None:
            continue
        hard, soft = row[8], row[9]
        bounces = row[7] if row[7] is not None else (hard or 0) + (soft or 0)
        out.append(
            EmailFact(
                platform="hubspot",
                email_id=row[0],
                sent_at=sent_at,
                email_type=row[2] or "unknown",
                sent=row[3],
                delivered=row[4],
                unique_opens=row[5] or 0,
                unique_clicks=row[6] or 0,
                bounces=bounces,
                unsubscribes=row[10] or 0,
                spam_reports=row[11] or 0,
                open_basis="bot_filtered",
            )
        )
    return out


def read_mailchimp_sends(
    conn: Connection, *, connection: str, since: datetime | None = None, open_basis: str = "raw"
) -> list[EmailFact]:
    """Mailchimp campaign reports as email facts. Deliveries are sends minus hard and soft
    bounces; clicks are people who clicked (`unique_subscriber_clicks`, Mailchimp's click rate
    numerator); with `open_basis="proxy_excluded"`, opens leave out Apple MPP machine opens where
    Mailchimp reports them (sends from 2024-06-22), and are raw elsewhere (the fact says which)."""
    reports = table_of(MailchimpReport)
    query = select(
        reports.c.id,
        _raw(reports.c.send_time),
        reports.c.type,
        reports.c.emails_sent,
        reports.c.hard_bounces,
        reports.c.soft_bounces,
        reports.c.unique_opens,
        reports.c.proxy_excluded_unique_opens,
        reports.c.unique_subscriber_clicks,
        reports.c.unsubscribed,
        reports.c.abuse_reports,
    ).where(
        reports.c.connection == connection,
        reports.c.archived == false(),
        reports.c.send_time.is_not(None),
        reports.c.emails_sent > 0,
    )
    if since is not None:
        query = query.where(reports.c.send_time >= _bound(since))
    out = []
    for row in conn.execute(query):
        sent_at = _instant(row[1])
        if sent_at is None:
            continue
        bounces = (row[4] or 0) + (row[5] or 0)
        excluded = open_basis == "proxy_excluded" and row[7] is not None
        out.append(
            EmailFact(
                platform="mailchimp",
                email_id=row[0],
                sent_at=sent_at,
                email_type=row[2] or "unknown",
                sent=row[3],
                delivered=max(0, row[3] - bounces),
                unique_opens=(row[7] if excluded else row[6]) or 0,
                unique_clicks=row[8] or 0,
                bounces=bounces,
                unsubscribes=row[9] or 0,
                spam_reports=row[10] or 0,
                open_basis="proxy_excluded" if excluded else "raw",
            )
        )
    return out


def read_members(conn: Connection, *, connection: str) -> list[MemberFact]:
    """Every audience member (all statuses), named by its audience."""
    members, lists = table_of(MailchimpMember), table_of(MailchimpList)
    query = (
        select(
            func.coalesce(lists.c.name, members.c.list_id),
            members.c.status,
            _raw(members.c.timestamp_opt),
            _raw(members.c.last_changed),
        )
        .select_from(
            members.outerjoin(
                lists, and_(lists.c.connection == members.c.connection, lists.c.id == members.c.list_id)
            )
        )
        .where(members.c.connection == connection)
    )
    return [
        MemberFact(str(audience), status or UNKNOWN, _instant(opted), _instant(changed))
        for audience, status, opted, changed in conn.execute(query)
    ]


def read_audience_link(
    conn: Connection, *, connection: str, stages: Sequence[str], mql: str
) -> AudienceLink | None:
    """Live contacts split by audience membership (a subscribed member with the same address,
    case-insensitive) and how many of each are at `mql` or beyond now; None without members."""
    members, contacts = table_of(MailchimpMember), table_of(HubSpotContact)
    subscribed: set[str] = set()
    engaged: set[str] = set()
    for email, opens, clicks in conn.execute(
        select(members.c.email_address, members.c.avg_open_rate, members.c.avg_click_rate).where(
            members.c.connection == connection, members.c.status == "subscribed"
        )
    ):
        if email:
            subscribed.add(str(email).strip().lower())
            if (opens or 0) > 0 or (clicks or 0) > 0:
                engaged.add(str(email).strip().lower())
    if not subscribed:
        return None
    beyond = set(stages[stages.index(mql) :]) if mql in stages else set()
    counts = [0, 0, 0, 0, 0, 0]  # subscribed (at MQL+), others (at MQL+), engaged (at MQL+)
    for email, stage in conn.execute(
        select(contacts.c.email, contacts.c.lifecyclestage).where(
            contacts.c.connection == connection,
            contacts.c.archived == false(),
            contacts.c.merged_into.is_(None),
        )
    ):
        address = str(email).strip().lower() if email else ""
        slot = 0 if address in subscribed else 2
        counts[slot] += 1
        counts[slot + 1] += stage in beyond
        if address in engaged:
            counts[4] += 1
            counts[5] += stage in beyond
    return AudienceLink(*counts)


def read_deals(
    conn: Connection, *, connection: str, as_of: datetime, since: datetime | None = None
) -> list[DealFact]:
    """Deals as facts. With `since`, deals closed before it (and created before it) are left out:
    no KPI of the grid or the CLV window can count them."""
    deals = table_of(HubSpotDeal)
    stages = table_of(HubSpotPipelineStage)
    links = table_of(HubSpotDealAssociation)
    companies = table_of(HubSpotCompany)
    company_of: dict[str, str] = {}
    # Links to deleted or merged-away companies are kept (a restore brings them back), not used.
    for deal_id, company_id in conn.execute(
        select(links.c.deal_id, func.min(links.c.to_id))
        .select_from(
            links.outerjoin(
                companies, and_(companies.c.connection == links.c.connection, companies.c.id == links.c.to_id)
            )
        )
        .where(
            links.c.connection == connection,
            links.c.to_type == "company",
            or_(
                companies.c.id.is_(None),
                and_(companies.c.archived == false(), companies.c.merged_into.is_(None)),
            ),
        )
        .group_by(links.c.deal_id)
    ):
        company_of[deal_id] = company_id
    # In the past: pipeline, stage, money, close date and flags as the history has them then.
    source: FromClause = deals
    live: ColumnElement[bool] = deals.c.archived == false()
    relevant = _relevant_deals(deals, stages, since)
    pick: Callable[[str], ColumnElement[Any]] = deals.c.__getitem__
    if history_applies(conn, "deals", connection=connection, as_of=as_of):
        view = _as_of_view(deals, table_of(HubSpotDealVersion), as_of)
        source, live, pick, relevant = view.source, view.live, view.pick, []
    query = (
        select(
            deals.c.id,
            pick("pipeline"),
            pick("dealstage"),
            func.coalesce(pick("amount_in_home_currency"), pick("amount")),
            _raw(deals.c.createdate),
            _raw(pick("closedate")),
            pick("is_closed"),
            pick("is_closed_won"),
            stages.c.probability,
            stages.c.is_closed,
            stages.c.is_won,
            pick("analytics_source"),
            pick("latest_source"),
            pick("owner_id"),
        )
        .select_from(
            source.outerjoin(
                stages,
                and_(
                    stages.c.connection == deals.c.connection,
                    stages.c.pipeline_id == pick("pipeline"),
                    stages.c.stage_id == pick("dealstage"),
                ),
            )
        )
        .where(
            deals.c.connection == connection,
            live,
            deals.c.merged_into.is_(None),
            *relevant,
            or_(deals.c.createdate.is_(None), deals.c.createdate <= _bound(as_of)),
        )
    )
    out: list[DealFact] = []
    for row in conn.execute(query):
        r = (*row[:4], _instant(row[4]), _instant(row[5]), *row[6:])
        # HubSpot's own flags first; the stage's metadata when a flag is missing (docs/kpis.md).
        is_closed = bool(r[6]) if r[6] is not None else bool(r[9])
        is_won = bool(r[7]) if r[7] is not None else bool(r[10])
        closed = r[5] if is_closed and r[5] is not None and r[5] <= as_of else None
        if is_closed and closed is None and r[5] is not None:
            is_closed = is_won = False  # closed after as_of: it was still open then
        out.append(
            DealFact(
                id=r[0],
                pipeline=r[1] or UNKNOWN,
                stage=r[2] or UNKNOWN,
                amount=r[3],
                created=r[4],
                closed=closed,
                is_closed=is_closed,
                is_won=is_won and is_closed,
                probability=r[8],
                source=r[11] or UNKNOWN,
                latest_source=r[12] or r[11] or UNKNOWN,
                owner=r[13] or UNKNOWN,
                company=company_of.get(r[0]),
            )
        )
    return out


def infer_currency(conn: Connection, *, connection: str) -> str:
    """The portal's home currency: the deal currency whose amounts need no conversion, else the commonest."""
    deals = table_of(HubSpotDeal)
    unconverted = func.sum(
        case((func.abs(deals.c.amount - deals.c.amount_in_home_currency) < 0.005, 1), else_=0)
    )
    rows = conn.execute(
        select(deals.c.currency, unconverted, func.count())
        .where(deals.c.connection == connection, deals.c.currency.is_not(None))
        .group_by(deals.c.currency)
    ).all()
    if not rows:
        return NO_CURRENCY
    best = max(rows, key=lambda r: (r[1] or 0, r[2], r[0]))
    return str(best[0]).upper()


def read_spend(conn: Connection, *, connection: str) -> list[SpendFact]:
    spend = table_of(MarketingSpend)
    rows = conn.execute(
        select(spend.c.period_start, spend.c.period_end, spend.c.channel, spend.c.amount, spend.c.currency)
        .where(spend.c.connection == connection)
        .order_by(spend.c.period_start, spend.c.channel)
    )
    return [SpendFact(r[0], r[1], r[2], r[3], r[4]) for r in rows]


# -- web analytics and personas --------------------------------------------------------------


def read_traffic(conn: Connection, *, connection: str, since: date, until: date) -> list[TrafficRow]:
    """Web-analytics rows of the days in [since, until] (counters HubSpot did not send as 0)."""
    rows = table_of(HubSpotAnalyticsRow)
    c = rows.c
    counters = (
        c.visits,
        c.visitors,
        c.contacts,
        c.leads,
        c.customers,
        c.raw_views,
        c.submissions,
        c.entrances,
    )
    query = select(c.report, c.day, c.breakdown, c.meta, *counters).where(
        c.connection == connection, c.day >= since, c.day <= until
    )
    return [
        TrafficRow(
            report=r[0],
            day=r[1] if isinstance(r[1], date) else date.fromisoformat(str(r[1])),
            breakdown=r[2],
            meta=r[3],
            visits=r[4] or 0,
            visitors=r[5] or 0,
            contacts=r[6] or 0,
            leads=r[7] or 0,
            customers=r[8] or 0,
            raw_views=r[9] or 0,
            submissions=r[10] or 0,
            entrances=r[11] or 0,
        )
        for r in conn.execute(query)
    ]


def read_persona_created(
    conn: Connection, *, connection: str, periods: Sequence[Period], as_of: datetime
) -> list[PersonaCell]:
    """Live contacts created in each grid period, by their current persona (`unknown`: none)."""
    if not periods:
        return []
    contacts = table_of(HubSpotContact)
    c = contacts.c
    bucket = period_index(c.createdate, periods).label("p")
    persona = func.coalesce(func.nullif(c.persona, ""), UNKNOWN).label("persona")
    query = (
        select(bucket, persona, func.count())
        .where(
            c.connection == connection,
            c.archived == false(),
            c.merged_into.is_(None),
            c.createdate <= _bound(as_of),
        )
        .group_by(bucket, persona)
    )
    return [PersonaCell(int(r[0]), str(r[1]), int(r[2])) for r in conn.execute(query) if r[0] is not None]


def read_personas(conn: Connection, *, connection: str) -> list[str]:
    """The persona values the portal defines (`hs_persona` options from the properties API, in
    display order; hidden options left out)."""
    props = table_of(HubSpotProperty)
    raw = conn.execute(
        select(props.c.raw).where(props.c.connection == connection, props.c.id == "contacts/hs_persona")
    ).scalar()
    if isinstance(raw, str):
        raw = json.loads(raw)
    options = raw.get("options") if isinstance(raw, dict) else None
    if not isinstance(options, list):
        return []
    shown = [o for o in options if isinstance(o, dict) and o.get("value") and not o.get("hidden")]
    shown.sort(key=lambda o: (o.get("displayOrder") is None, o.get("displayOrder") or 0))
    return [str(o["value"]) for o in shown]
