"""The one place KPIs read the database.

Contacts can number in the millions, so their funnel is aggregated in SQL: one pass pivots each
contact's first entry per funnel stage into a temporary table, and small GROUP BY queries count
them per reporting period (period boundaries are bound as UTC instants, bucketed with a CASE
search tree). Deals, customers and spend are few enough to read as facts for the pure formulas
in `kpi.engine`. Entries dated after `as_of` are ignored, so an earlier as_of sees less.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
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
)

from config import KpiSettings
from kpi.engine import funnel_steps
from kpi.inputs import ContactAggregates, CustomerFact, DealFact, KpiInputs, PeriodCell, SpendFact, StageCell
from kpi.model import UNKNOWN
from kpi.periods import Period
from storage.db import UTCDateTime
from storage.models import (
    HubSpotContact,
    HubSpotContactStageDate,
    HubSpotDeal,
    HubSpotDealAssociation,
    HubSpotPipelineStage,
    MarketingSpend,
)
from storage.repo import table_of

NO_CURRENCY = "XXX"  # ISO 4217 "no currency": nothing tells us the portal's currency


def read_inputs(
    engine: Engine,
    *,
    connection: str,
    settings: KpiSettings,
    periods: list[Period],
    as_of: datetime,
    tz: ZoneInfo,
) -> KpiInputs:
    """Everything `kpi.engine.compute` needs, read in one connection."""
    stages = list(settings.funnel_stages)
    with engine.connect() as conn:
        contacts = read_contacts(
            conn,
            connection=connection,
            stages=stages,
            periods=periods,
            as_of=as_of,
            strict=settings.conversion_mode == "strict",
        )
        deals = read_deals(conn, connection=connection, as_of=as_of)
        currency = settings.home_currency or infer_currency(conn, connection=connection)
        spend = read_spend(conn, connection=connection)
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
        conversion_mode=settings.conversion_mode,
        velocity_opportunities=settings.velocity_opportunities,
        clv_average_order_value=settings.clv_average_order_value,
        clv_orders_per_year=settings.clv_orders_per_year,
        clv_years_retained=settings.clv_years_retained,
        gross_margin=settings.gross_margin,
    )


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


def _facts_table(stages: Sequence[str]) -> Table:
    """A per-run temporary table: one row per live contact with its first entry per funnel stage."""
    metadata = MetaData()
    return Table(
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


def read_contacts(
    conn: Connection,
    *,
    connection: str,
    stages: list[str],
    periods: list[Period],
    as_of: datetime,
    strict: bool,
) -> ContactAggregates:
    contacts = table_of(HubSpotContact)
    dates = table_of(HubSpotContactStageDate)
    # First entry per stage = earliest date over every property that records it (docs/kpis.md).
    known = case((dates.c.entered_at <= _bound(as_of), dates.c.entered_at))
    pivot = (
        select(
            dates.c.contact_id,
            *(func.min(case((dates.c.stage == s, known))).label(f"e{i}") for i, s in enumerate(stages)),
        )
        .where(dates.c.connection == connection, dates.c.stage.in_(stages))
        .group_by(dates.c.contact_id)
        .subquery("first_entries")
    )
    rank = case({s: i for i, s in enumerate(stages)}, value=contacts.c.lifecyclestage, else_=None)
    facts_select = (
        select(
            contacts.c.id,
            contacts.c.createdate,
            contacts.c.lifecyclestage,
            rank,
            func.coalesce(contacts.c.analytics_source, UNKNOWN),
            func.coalesce(contacts.c.latest_source, contacts.c.analytics_source, UNKNOWN),
            *(pivot.c[f"e{i}"] for i in range(len(stages))),
        )
        .select_from(contacts.outerjoin(pivot, pivot.c.contact_id == contacts.c.id))
        .where(
            contacts.c.connection == connection,
            contacts.c.archived == false(),
            or_(contacts.c.createdate.is_(None), contacts.c.createdate <= _bound(as_of)),
        )
    )
    facts = _facts_table(stages)
    facts.create(conn)
    try:
        conn.execute(insert(facts).from_select([c.name for c in facts.columns], facts_select))
        return _aggregate_contacts(conn, facts, stages=stages, periods=periods, strict=strict)
    finally:
        facts.drop(conn)
        conn.commit()


def _aggregate_contacts(
    conn: Connection, facts: Table, *, stages: list[str], periods: list[Period], strict: bool
) -> ContactAggregates:
    f = facts.c
    e = [f[f"e{i}"] for i in range(len(stages))]
    out = ContactAggregates()
    for row in conn.execute(
        select(f.stage, f.source, f.latest_source, func.count()).group_by(f.stage, f.source, f.latest_source)
    ):
        out.stage_counts.append(StageCell(row[0] or UNKNOWN, row[1], row[2], row[3]))
    for i, stage in enumerate(stages):
        missing = conn.execute(select(func.count()).where(f.stage_rank >= i, e[i].is_(None))).scalar_one()
        out.missing_dates[stage] = int(missing)

    def cells(when: ColumnElement[Any], hit: ColumnElement[Any] | None = None) -> list[PeriodCell]:
        bucket = period_index(when, periods).label("p")
        hits = func.sum(case((hit, 1), else_=0)) if hit is not None else literal(0, Integer)
        query = (
            select(bucket, f.source, f.latest_source, func.count(), hits)
            .where(when.is_not(None))
            .group_by(bucket, f.source, f.latest_source)
        )
        return [
            PeriodCell(int(r[0]), r[1], r[2], int(r[3]), int(r[4] or 0))
            for r in conn.execute(query)
            if r[0] is not None
        ]

    if not periods:
        return out
    for i, stage in enumerate(stages):
        out.entries[stage] = cells(e[i])
    for x, y in funnel_steps(stages):
        ix, iy = stages.index(x), stages.index(y)
        if strict:
            # Every stage from X to Y entered, in order (HubSpot's "all stages in order" funnel).
            converted: ColumnElement[Any] = and_(*(e[k + 1] >= e[k] for k in range(ix, iy)))
        else:
            # Y or any later stage reached at or after the first entry into X.
            converted = or_(*(e[u] >= e[ix] for u in range(iy, len(stages))))
        out.conversions[x, y] = cells(e[ix], converted)
    out.created = cells(f.createdate, e[-1].is_not(None))
    for row in conn.execute(select(f.createdate, e[-1], f.source, f.latest_source).where(e[-1].is_not(None))):
        out.customers.append(CustomerFact(row[0], row[1], row[2], row[3]))
    return out


def read_deals(conn: Connection, *, connection: str, as_of: datetime) -> list[DealFact]:
    deals = table_of(HubSpotDeal)
    stages = table_of(HubSpotPipelineStage)
    links = table_of(HubSpotDealAssociation)
    company_of: dict[str, str] = {}
    for deal_id, company_id in conn.execute(
        select(links.c.deal_id, func.min(links.c.to_id))
        .where(links.c.connection == connection, links.c.to_type == "company")
        .group_by(links.c.deal_id)
    ):
        company_of[deal_id] = company_id
    query = (
        select(
            deals.c.id,
            deals.c.pipeline,
            deals.c.dealstage,
            func.coalesce(deals.c.amount_in_home_currency, deals.c.amount),
            deals.c.createdate,
            deals.c.closedate,
            deals.c.is_closed,
            deals.c.is_closed_won,
            stages.c.probability,
            stages.c.is_closed,
            stages.c.is_won,
            deals.c.analytics_source,
            deals.c.latest_source,
            deals.c.owner_id,
        )
        .select_from(
            deals.outerjoin(
                stages,
                and_(
                    stages.c.connection == deals.c.connection,
                    stages.c.pipeline_id == deals.c.pipeline,
                    stages.c.stage_id == deals.c.dealstage,
                ),
            )
        )
        .where(
            deals.c.connection == connection,
            deals.c.archived == false(),
            or_(deals.c.createdate.is_(None), deals.c.createdate <= _bound(as_of)),
        )
    )
    out: list[DealFact] = []
    for r in conn.execute(query):
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
    rows = conn.execute(
        select(deals.c.currency, deals.c.amount, deals.c.amount_in_home_currency).where(
            deals.c.connection == connection, deals.c.currency.is_not(None)
        )
    ).all()
    unconverted = Counter(c for c, a, h in rows if a is not None and h is not None and abs(a - h) < 0.005)
    counts = unconverted or Counter(c for c, _, _ in rows)
    if not counts:
        return NO_CURRENCY
    return str(counts.most_common(1)[0][0]).upper()


def read_spend(conn: Connection, *, connection: str) -> list[SpendFact]:
    spend = table_of(MarketingSpend)
    rows = conn.execute(
        select(spend.c.period_start, spend.c.period_end, spend.c.channel, spend.c.amount, spend.c.currency)
        .where(spend.c.connection == connection)
        .order_by(spend.c.period_start, spend.c.channel)
    )
    return [SpendFact(r[0], r[1], r[2], r[3], r[4]) for r in rows]
